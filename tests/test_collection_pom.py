"""Collection targets as the law measures them: collected tonnes against the tonnes placed on the
market (``targets.scope: placed_on_market`` and the ``placed_on_market`` table), on micro instances
solved by hand (issue 15 item 4).

The instance: 100 t/yr of packs at C1 (collection cost 10/t), one existing recycler H (30/t, free
lane, no revenue). Packs may stay uncollected at 5/t, so without a target none is collected (500);
each tonne collected costs 10 + 30 - 5 = 35 more than leaving it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import lanes, site, write_instance
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app

runner = CliRunner()


def pom_instance(folder: Path, rho: float | None = 0.5, pom: float | None = 80.0, scope: str = "placed_on_market",
                 jurisdiction: str = "XX", period: int = 2025, uncollected: bool = True, **settings: Any) -> Path:
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point", jurisdiction), site("S1", "facility", jurisdiction)],
        "jurisdictions": [{"id": jurisdiction, "name": "", "groups": ""}],
        "chemistries": [{"id": "X", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10}],
        "supply": [{"site": "C1", "period": period, "chemistry": "X", "tonnes": 100, "collection_cost_per_t": 10}],
        "technologies": [{"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.95}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": "H", "site": "S1", "kind": "recycler", "technology": "HYDRO", "status": "existing",
                        "variable_cost_per_t": 30}],
        "facility_levels": [{"facility": "H", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "S1", 0)),
    }
    if rho is not None:
        tables["targets"] = [{"jurisdiction": jurisdiction, "metric": "collection_rate", "material": "",
                              "value": rho, "from_period": period, "scope": scope}]
    if pom is not None:
        tables["placed_on_market"] = [{"jurisdiction": jurisdiction, "period": period, "tonnes": pom,
                                       "source": "test: batteries placed on the market in the base year"}]
    escape = {"allowed": uncollected, "cost_per_t": 5} if uncollected else {"allowed": False}
    return write_instance(folder, tables, periods=[period], uncollected=escape, **settings)


def _collected(sol: Any) -> float:
    c = sol["collection"]
    return float((c["supply_t"] - c["uncollected_t"]).sum())


def test_placed_on_market_target_forces_collecting_at_a_cost(tmp_path: Path) -> None:
    """Without a target nothing is collected: 100 x 5 = 500. With collection_rate 0.5 of the 80 t
    placed on the market: collected = 100 - u >= 0.5 x 80 = 40, so 40 t are collected at 40/t and
    60 t left at 5/t: 1600 + 300 = 1900. Dual of the row: 35 per t collected; a raise of rho by 1
    moves the right-hand side by the 80 t placed on the market: shadow price 35 x 80 = 2800 per unit of
    rate (28 per percentage point). Achieved 40 / 80 = 0.5, base_t 80.

    The same rate on packs generated (scope jurisdiction, the old base): 50 t collected, 2000 + 250 =
    2250, shadow price 35 x 100 = 3500."""
    none = no.solve(pom_instance(tmp_path / "none", rho=None, pom=None))
    assert none.objective == pytest.approx(500.0)
    assert _collected(none) == pytest.approx(0.0, abs=1e-6)

    sol = no.solve(pom_instance(tmp_path / "pom"))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(1900.0)
    assert _collected(sol) == pytest.approx(40.0)
    f = sol["flows"]
    assert f.loc[f["destination"] == "H", "tonnes"].sum() == pytest.approx(40.0)
    row = sol["targets"].iloc[0]
    assert (row["scope"], row["metric"]) == ("placed_on_market", "collection_rate")
    assert row["achieved"] == pytest.approx(0.5)
    assert row["base_t"] == pytest.approx(80.0)
    assert bool(row["met"])
    assert row["shadow_price"] == pytest.approx(2800.0, rel=1e-6)
    costs = sol["costs"].set_index("term")["value"]
    assert costs["uncollected"] == pytest.approx(300.0)
    assert costs["collection"] == pytest.approx(400.0)

    generated = no.solve(pom_instance(tmp_path / "generated", scope="jurisdiction", pom=None))
    assert generated.objective == pytest.approx(2250.0)
    assert _collected(generated) == pytest.approx(50.0)
    g = generated["targets"].iloc[0]
    assert g["base_t"] == pytest.approx(100.0)
    assert g["shadow_price"] == pytest.approx(3500.0, rel=1e-6)


def test_cost_of_compliance_of_the_collection_target(tmp_path: Path) -> None:
    """Without the collection rows the plan collects nothing (500): the rule costs 1900 - 500 = 1400."""
    sol = no.solve(pom_instance(tmp_path), compliance=True)
    comp = sol["compliance"].set_index("target_family")
    assert comp.loc["collection_rate", "objective_without"] == pytest.approx(500.0)
    assert comp.loc["collection_rate", "cost_of_compliance"] == pytest.approx(1400.0)


def test_all_collected_already_meets_it_without_a_constraint(tmp_path: Path) -> None:
    """Without uncollected packs all 100 t are collected (100 x 40 = 4000): 100 / 80 = 1.25 >= 0.5,
    no constraint (shadow price NaN, said so in the note)."""
    sol = no.solve(pom_instance(tmp_path, uncollected=False))
    assert sol.objective == pytest.approx(4000.0)
    row = sol["targets"].iloc[0]
    assert row["achieved"] == pytest.approx(1.25)
    assert bool(row["met"])
    assert "no constraint" in row["shadow_price_note"]


def _validate(folder: Path) -> str:
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    return result.stderr


def test_missing_placed_on_market_row_is_an_error(tmp_path: Path) -> None:
    absent = _validate(pom_instance(tmp_path / "absent", pom=None))
    assert ("targets.csv:2:scope: collection_rate 0.5 from 2025 is measured against the tonnes placed on the market "
            "(scope placed_on_market), but placed_on_market.csv has no row for jurisdiction XX and period 2025; "
            "add the table") in absent
    folder = pom_instance(tmp_path / "other", pom=80.0)
    (folder / "placed_on_market.csv").write_text("jurisdiction,period,tonnes,source\n")
    assert "no row for jurisdiction XX and period 2025; add the row(s)" in _validate(folder)


def test_a_target_above_the_packs_generated_is_infeasible_and_diagnosed(tmp_path: Path) -> None:
    """0.5 x 250 = 125 t/yr to collect, 100 t/yr generated: no plan can meet it. Validation warns
    (naming the placed_on_market row). With uncollected packs the model is infeasible and the
    elastic re-solve finds the collection row 25 t/yr short; without them there is no row that
    could say it, and the build stops with an error naming the placed_on_market row. With soft
    targets (penalty 1000 per t) the plan collects all 100 t (each tonne left would cost 1000 - 35
    more) and pays the 25 t short: 4000 + 25,000 = 29,000."""
    from network_opt.common.errors import InputError
    from network_opt.solver.diagnose import diagnose

    folder = pom_instance(tmp_path / "u", pom=250.0)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert ("placed_on_market.csv:2:tonnes: period 2025: collection_rate 0.5 of the 250 t placed on the market in "
            "XX needs 125 t/yr collected, but only 100 t/yr of packs are generated") in result.stderr
    assert no.solve(folder).status == "infeasible"
    diag = diagnose(folder)
    assert diag["constraint"].tolist() == ["target_collection_rate"]
    assert diag["shortfall"].sum() == pytest.approx(25.0)
    assert "of the tonnes placed on the market" in diag.iloc[0]["what"]

    with pytest.raises(InputError, match=r"placed_on_market.csv:2:tonnes: period 2025: .* needs 25 t/yr more"):
        no.solve(pom_instance(tmp_path / "all", pom=250.0, uncollected=False))

    soft = no.solve(pom_instance(tmp_path / "soft", pom=250.0, targets={"soft": True, "soft_penalty_per_t": 1000}))
    assert soft.objective == pytest.approx(29_000.0)
    row = soft["targets"].iloc[0]
    assert row["shortfall_t"] == pytest.approx(25.0)
    assert row["achieved"] == pytest.approx(0.4)
    assert not bool(row["met"])
    forced = no.solve(pom_instance(tmp_path / "forced", pom=250.0, uncollected=False), soft_targets=True)
    assert forced.objective == pytest.approx(4000.0 + 25 * 1e6)  # --soft-targets: the default penalty


def test_a_target_where_no_packs_are_generated_says_so(tmp_path: Path) -> None:
    """Degenerate: the packs are generated in YY, the collection target is on XX's 80 t placed on
    the market (0.5: 40 t/yr to collect) and XX generates none. Packs may stay uncollected, yet no
    row can hold the 40 t: the build stops with an error naming the placed_on_market row that says
    no packs are generated there (not that every pack must be collected)."""
    from network_opt.common.errors import InputError

    folder = pom_instance(tmp_path)
    sites = (folder / "sites.csv").read_text()
    (folder / "sites.csv").write_text(sites.replace("C1,C1,collection_point,0.0,0.0,,XX",
                                                    "C1,C1,collection_point,0.0,0.0,,YY"))
    (folder / "jurisdictions.csv").write_text((folder / "jurisdictions.csv").read_text() + "YY,,\n")
    with pytest.raises(InputError, match=r"placed_on_market.csv:2:tonnes: period 2025: .* needs 40 t/yr; no packs "
                                         r"are generated there") as err:
        no.solve(folder)
    assert "uncollected.allowed" not in str(err.value)


def test_scope_placed_on_market_is_for_collection_only(tmp_path: Path) -> None:
    folder = pom_instance(tmp_path)
    text = (folder / "targets.csv").read_text().replace("collection_rate,,0.5", "recycling_efficiency,,0.5")
    (folder / "targets.csv").write_text(text)
    assert "targets.csv:2:scope: scope placed_on_market applies to collection_rate only" in _validate(folder)


def test_india_preset_collection_row_uses_placed_on_market(tmp_path: Path) -> None:
    """in-bwmr-2022 in FY2027-28: collection 0.7 of EV batteries placed on the market (recycling
    efficiency 0.9 per recycler, scope facility: met by H's 0.95). Without a placed_on_market row the
    error names the policies entry; with 120 t: 0.7 x 120 = 84 t collected, 84 x 40 + 16 x 5 = 3440, shadow price
    35 x 120 = 4200."""
    folder = pom_instance(tmp_path / "in", rho=None, pom=None, jurisdiction="IN", period=2027,
                          policies={"IN": ["in-bwmr-2022"]})
    err = _validate(folder)
    assert "instance.yaml:" in err and ":policies.IN: preset in-bwmr-2022: collection_rate 0.7 from 2027" in err
    (folder / "placed_on_market.csv").write_text("jurisdiction,period,tonnes,source\nIN,2027,120,test\n")
    manifest = yaml.safe_load((folder / "instance.yaml").read_text())
    manifest["tables"]["placed_on_market"] = "placed_on_market.csv"
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    sol = no.solve(folder)
    assert sol.objective == pytest.approx(3440.0)
    assert _collected(sol) == pytest.approx(84.0)
    t = sol["targets"].set_index("metric")
    assert t.loc["collection_rate", "scope"] == "placed_on_market"
    assert t.loc["collection_rate", "achieved"] == pytest.approx(0.7)
    assert t.loc["collection_rate", "shadow_price"] == pytest.approx(4200.0, rel=1e-6)
    assert (t.loc["recycling_efficiency", "scope"], t.loc["recycling_efficiency", "facility"]) == ("facility", "H")
    assert t.loc["recycling_efficiency", "achieved"] == pytest.approx(0.95)


@pytest.mark.parametrize(("uncollected", "soft", "pom"), [(True, False, 80.0), (True, True, 80.0),
                                                         (False, True, 250.0), (False, False, 80.0)])
def test_collection_size_projection_equals_the_built_model(tmp_path: Path, uncollected: bool, soft: bool,
                                                            pom: float) -> None:
    """project_size counts the placed-on-market rows exactly: with uncollected packs one u term (and a
    shortfall when soft); without, a row only when the target exceeds the supply (soft: the shortfall
    alone) and none when it holds."""
    from network_opt.model import build_model, prepare
    from network_opt.model.size import project_size
    from network_opt.runs.pipeline import model_size
    from network_opt.solver.handoff import compile_model

    settings: dict[str, Any] = {"targets": {"soft": True}} if soft else {}
    d = prepare(no.load(pom_instance(tmp_path, pom=pom, uncollected=uncollected, **settings)))
    projected = project_size(d)
    m = build_model(d)
    expected = 1 if uncollected or pom > 200 else 0
    assert len(m.target_collection_rate) == expected
    assert projected.rows_by_family["target_collection_rate"] == expected
    mm, _, _ = compile_model(m)
    assert projected.rows == mm.shape[0]
    assert projected.nonzeros == len(mm.index)
    assert projected.columns == model_size(m)["variables"]
