"""Target scope (``targets.scope``: jurisdiction or facility) and recovery yields per chemistry
(``technology_yields.chemistry``), on micro instances solved by hand (issue 15 items 1, 2, 6).

The blend instance: 150 t/yr of LFP at C1 and 50 t/yr of NMC at C2, both 10 kg Li/t, free lanes,
no revenue. Two existing integrated recyclers, both with capacity 1000:

- A (technology TA, 10/t): Li yield 0.9, but 0.5 for LFP (a chemistry-specific row);
- B (technology TB, 30/t): Li yield 0.9 for every chemistry.

Li recovery target rho = 0.7. Per tonne entering, an LFP tonne at A counts
0.01 x (0.5 - 0.7) = -0.002 in the target row, an NMC tonne at A or any tonne at B +0.002.
The cost is 10 x 200 + 20 x (tonnes sent to B), so the plan sends as much as it may to A.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import as_number, existing_recyclers, lanes, objective_of, of_type, site, write_instance
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.solver.diagnose import diagnose

runner = CliRunner()


def blend_instance(folder: Path, scope: str = "facility", rho: float = 0.7,
                   lfp_yield_at_a: float = 0.5) -> Path:
    return existing_recyclers(
        folder, supply=[("C1", "LFP", 150), ("C2", "NMC", 50)], li_kg_per_t={"LFP": 10, "NMC": 10},
        technologies=[{"id": "TA", "process": "hydrometallurgical", "recycling_efficiency": 0.7},
                      {"id": "TB", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        yields=[{"technology": "TA", "material": "Li", "recovery_yield": 0.9, "chemistry": ""},
                {"technology": "TA", "material": "Li", "recovery_yield": lfp_yield_at_a, "chemistry": "LFP"},
                {"technology": "TB", "material": "Li", "recovery_yield": 0.9, "chemistry": ""}],
        plants=[("A", "TA", 10), ("B", "TB", 30)],
        targets=[{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": rho,
                  "from_period": 2025, "scope": scope}])


def _tonnes(sol: Any, origin: str, destination: str) -> float:
    f = sol["flows"]
    return float(f.loc[(f["origin"] == origin) & (f["destination"] == destination), "tonnes"].sum())


def _target(sol: Any, facility: str) -> pd.Series:
    t = sol["targets"]
    return t.loc[t["facility"] == facility].iloc[0]


def test_facility_scope_forces_the_cheap_plant_to_blend(tmp_path: Path) -> None:
    """Scope facility: one row per plant. A's row -0.002 L_A + 0.002 N_A >= 0 asks for at least as
    much NMC as LFP at A; B's row 0.002 (L_B + N_B) >= 0 never binds. Minimise 2000 + 20 (L_B + N_B)
    = 2000 + 20 (200 - L_A - N_A) with L_A <= N_A <= 50: L_A = N_A = 50, L_B = 100, N_B = 0, cost
    2000 + 20 x 100 = 4000. A recovers 0.01 x (0.5 x 50 + 0.9 x 50) = 0.7 t of 1.0 t entering
    (rate 0.7), B 0.9 t of 1.0 t (0.9).

    Shadow price of A's row: raising its right-hand side by delta gives L_A <= 50 - 500 delta,
    cost + 20 x 500 delta, so its dual is 10,000 per tonne of Li; a raise of rho by 1 moves the
    row by the Li entering A, 0.01 x 100 = 1.0 t, so the shadow price is 10,000 per unit of rate
    (100 per percentage point). Directly: L_A(rho) = 50 (0.9 - rho) / (rho - 0.5), dL_A/drho =
    -20 / (rho - 0.5)^2 = -500 at 0.7, d cost / d rho = 20 x 500 = 10,000."""
    sol = no.solve(blend_instance(tmp_path))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(4000.0)
    assert _tonnes(sol, "C1", "A") == pytest.approx(50.0)
    assert _tonnes(sol, "C2", "A") == pytest.approx(50.0)
    assert _tonnes(sol, "C1", "B") == pytest.approx(100.0)
    assert _tonnes(sol, "C2", "B") == pytest.approx(0.0, abs=1e-6)
    t = sol["targets"]
    assert t["facility"].tolist() == ["A", "B"]
    assert set(t["scope"]) == {"facility"}
    a, b = _target(sol, "A"), _target(sol, "B")
    assert a["achieved"] == pytest.approx(0.7)
    assert bool(a["met"])
    assert a["shadow_price"] == pytest.approx(10_000.0, rel=1e-6)
    assert b["achieved"] == pytest.approx(0.9)
    assert b["shadow_price"] == pytest.approx(0.0, abs=1e-6)
    m = sol["materials"].set_index("facility")
    assert m.loc["A", "input_t"] == pytest.approx(1.0)
    assert m.loc["A", "recovered_t"] == pytest.approx(0.7)
    assert m.loc["B", "recovered_t"] == pytest.approx(0.9)


def test_jurisdiction_scope_pools_and_lets_a_non_compliant_plant_run(tmp_path: Path) -> None:
    """Scope jurisdiction: one pooled row, 0.009 x 200 - 0.004 L_A >= 0.007 x 200 = 1.4, so
    L_A <= 100: A takes 100 t LFP and the 50 t NMC, B the other 50 t LFP; cost 2000 + 20 x 50 =
    3000 <= 4000 (facility scope). A's own rate is 0.01 x (0.5 x 100 + 0.9 x 50) / 1.5 = 0.633, below
    0.7, while the pool reaches exactly 0.7 (1.4 t of 2.0 t). Shadow price: L_A(rho) = (1.8 - 2 rho)
    / 0.004, d cost / d rho = 20 x 500 = 10,000."""
    sol = no.solve(blend_instance(tmp_path / "pooled", scope="jurisdiction"))
    facility = no.solve(blend_instance(tmp_path / "facility", scope="facility"))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(3000.0)
    assert facility.objective == pytest.approx(4000.0)
    assert objective_of(sol) <= objective_of(facility)
    assert _tonnes(sol, "C1", "A") == pytest.approx(100.0)
    assert _tonnes(sol, "C2", "A") == pytest.approx(50.0)
    t = sol["targets"]
    assert len(t) == 1
    row = t.iloc[0]
    assert row["scope"] == "jurisdiction"
    assert row["facility"] == ""
    assert row["achieved"] == pytest.approx(0.7)
    assert row["shadow_price"] == pytest.approx(10_000.0, rel=1e-6)
    m = sol["materials"].set_index("facility")
    rate_a = as_number(m.loc["A", "recovered_t"]) / as_number(m.loc["A", "input_t"])
    assert rate_a == pytest.approx(0.95 / 1.5)
    assert rate_a < 0.7  # A runs below the rate: the pooled target lets it


def test_soft_facility_target_prices_each_row_shortfall(tmp_path: Path) -> None:
    """Soft targets, penalty 1000 per t of Li short: meeting A's row by moving 1 t of LFP from A to
    B costs 20 and gains 0.002 t, i.e. 10,000 per t, dearer than the penalty, so the plan keeps the
    cheap 2000 (all at A) and pays A's shortfall: 0.002 x (150 - 50) = 0.2 t of Li, 200. Total
    2200; B's row has no flow and no shortfall."""
    folder = blend_instance(tmp_path)
    text = (folder / "instance.yaml").read_text() + "targets:\n  soft: true\n  soft_penalty_per_t: 1000\n"
    (folder / "instance.yaml").write_text(text)
    sol = no.solve(folder)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(2200.0)
    a = _target(sol, "A")
    assert a["shortfall_t"] == pytest.approx(0.2)
    assert not bool(a["met"])
    assert _target(sol, "B")["shortfall_t"] == pytest.approx(0.0, abs=1e-9)


def test_no_blend_reaches_the_rate_is_infeasible_and_named(tmp_path: Path) -> None:
    """rho = 0.95 is above every yield (0.9): neither plant can meet its own row whatever it
    takes, so the model is infeasible. The diagnosis relaxes target rows: every tonne must go
    somewhere, and the least shortfall is 0.05 x 0.01 x 50 (NMC, 0.9) + 0.05 x 0.01 x 150 (LFP at
    B, 0.9) = 0.1 t of Li, all on facility rows, named with their facility."""
    folder = blend_instance(tmp_path, rho=0.95)
    sol = no.solve(folder)
    assert sol.status == "infeasible"
    diag = diagnose(folder)
    assert set(diag["constraint"]) == {"target_material_recovery"}
    assert diag["shortfall"].sum() == pytest.approx(0.1)
    assert diag["what"].str.contains(r"material_recovery Li at facility [AB] in XX \(required 0.95\)").all()


BLEND_KEY = "targets[XX,material_recovery,Li,2025].value"
KPI_A = "target:XX/material_recovery/Li/2025/scope=facility/facility=A"
KPI_B = "target:XX/material_recovery/Li/2025/scope=facility/facility=B"


def test_each_facility_row_keeps_its_own_key_figures(tmp_path: Path) -> None:
    """The blend instance with scope facility has two rows of one target (A and B). Each keeps its
    own key figures (they used to share ``target:XX/material_recovery/Li/2025`` and B's row
    overwrote A's): A required 0.7, achieved 0.7 (0.7 t of 1.0 t of Li), shadow price 10,000 per
    unit of rate (test_facility_scope_forces_the_cheap_plant_to_blend); B achieved 0.9, price 0.
    A pooled row keeps the short key."""
    from network_opt.results.kpis import scenario_kpis

    k = scenario_kpis(no.solve(blend_instance(tmp_path)))
    assert k[f"{KPI_A}:required"] == pytest.approx(0.7)
    assert k[f"{KPI_A}:achieved"] == pytest.approx(0.7)
    assert k[f"{KPI_A}:shadow_price"] == pytest.approx(10_000.0, rel=1e-6)
    assert k[f"{KPI_B}:required"] == pytest.approx(0.7)
    assert k[f"{KPI_B}:achieved"] == pytest.approx(0.9)
    assert k[f"{KPI_B}:shadow_price"] == pytest.approx(0.0, abs=1e-6)
    assert not [n for n in k if n.startswith("target:XX/material_recovery/Li/2025:")]
    pooled = scenario_kpis(no.solve(blend_instance(tmp_path / "pooled", scope="jurisdiction")))
    assert [n for n in pooled if n.startswith("target:")] == [
        f"target:XX/material_recovery/Li/2025:{v}" for v in ("required", "achieved", "shadow_price")]


def test_compare_and_sweep_keep_each_facility_row(tmp_path: Path) -> None:
    """rho = 0.75 in A's row: L_A <= N_A (0.9 - 0.75) / (0.75 - 0.5) = 0.6 x 50 = 30, so L_A = 30,
    N_A = 50, L_B = 120: cost 2000 + 20 x 120 = 4400; A achieves 0.01 (0.5 x 30 + 0.9 x 50) / 0.8
    = 0.75. d cost / d rho = 20 x 20 / (rho - 0.5)^2 = 6,400 (10,000 at 0.7). Both rows keep their
    own line in comparison.csv and their own columns in sweep.csv, and the charts are drawn."""
    folder = blend_instance(tmp_path / "inst")
    text = (folder / "instance.yaml").read_text()
    text += f"scenarios:\n  rho-75:\n    overrides:\n      - set: {BLEND_KEY}\n        value: 0.75\n"
    (folder / "instance.yaml").write_text(text)

    res = no.compare(folder, tmp_path / "cmp", ["base", "rho-75"])
    table = res.table
    assert table.at["objective", "base"] == pytest.approx(4000.0)
    assert table.at["objective", "rho-75"] == pytest.approx(4400.0)
    assert table.at[f"{KPI_A}:achieved", "rho-75"] == pytest.approx(0.75)
    assert table.at[f"{KPI_B}:achieved", "rho-75"] == pytest.approx(0.9)
    assert table.at[f"{KPI_A}:shadow_price", "rho-75"] == pytest.approx(6_400.0, rel=1e-6)
    assert table.at[f"{KPI_A}:shadow_price", "unit"] == "EUR"
    written = pd.read_csv(tmp_path / "cmp" / "comparison.csv", index_col="kpi")
    assert float(of_type(str, written.at[f"{KPI_B}:shadow_price", "base"])) == pytest.approx(0.0, abs=1e-6)
    for chart in ("objective.png", "costs.png", "capacity.png"):
        assert (tmp_path / "cmp" / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    sw = no.sweep(folder, tmp_path / "sw", vary=[f"{BLEND_KEY}=0.7,0.75"])
    t = sw.table
    assert t["objective"].astype(float).tolist() == pytest.approx([4000.0, 4400.0])
    assert t[f"shadow_price[{BLEND_KEY}]"].astype(float).tolist() == pytest.approx([10_000.0, 6_400.0], rel=1e-6)
    assert t[f"{KPI_A}:achieved"].astype(float).tolist() == pytest.approx([0.7, 0.75])
    assert t[f"{KPI_B}:achieved"].astype(float).tolist() == pytest.approx([0.9, 0.9])
    written = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    assert written[f"{KPI_A}:shadow_price"].tolist() == pytest.approx([10_000.0, 6_400.0], rel=1e-6)
    assert (tmp_path / "sw" / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def refiner_instance(folder: Path, lfp_yield: float | None, rho: float = 0.5) -> Path:
    """100 t/yr of LFP (10 kg Li/t) at C1 -> pre-processor PP (black mass yield 0.4; the black mass
    holds 25 kg Li/t, so 40 t carry 1.0 t Li) -> refiner R (technology REF, Li yield 0.9; with
    ``lfp_yield`` a chemistry-specific row for LFP)."""
    yields = [{"technology": "REF", "material": "Li", "recovery_yield": 0.9, "chemistry": ""}]
    if lfp_yield is not None:
        yields.append({"technology": "REF", "material": "Li", "recovery_yield": lfp_yield, "chemistry": "LFP"})
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point"), site("S1", "facility"), site("S2", "facility")],
        "jurisdictions": [{"id": "XX", "name": "", "groups": ""}],
        "chemistries": [{"id": "LFP", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "LFP", "material": "Li", "kg_per_t": 10,
                                 "black_mass_kg_per_t": 25}],
        "material_prices": [{"material": "Li", "period": 2025, "price_per_t": 0}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "LFP", "tonnes": 100}],
        "technologies": [{"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.1,
                          "black_mass_yield": 0.4},
                         {"id": "REF", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": yields,
        "facilities": [
            {"id": "PP", "site": "S1", "kind": "preprocessor", "technology": "MECH", "status": "existing",
             "variable_cost_per_t": 10},
            {"id": "R", "site": "S2", "kind": "refiner", "technology": "REF", "status": "existing",
             "variable_cost_per_t": 20},
        ],
        "facility_levels": [{"facility": "PP", "level": "a", "capacity_t": 1000},
                            {"facility": "R", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "S1", 0), ("S1", "S2", 0)),
        "targets": [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": rho,
                     "from_period": 2025, "scope": "facility"}],
    }
    return write_instance(folder, tables)


def test_chemistry_specific_yield_overrides_the_generic_one(tmp_path: Path) -> None:
    """40 t of black mass carry 40 x 0.025 = 1.0 t of Li into R. Generic yield 0.9: 0.9 t
    recovered; an LFP row at 0.6 overrides it: 0.6 t. Cost 100 x 10 + 40 x 20 = 1800 either way.
    The facility-scope target measures R on the Li in the black mass it takes (1.0 t, not 0 as
    the pooled base counts it): achieved 0.6 >= 0.5. PP, a pre-processor, gets no facility row."""
    generic = no.solve(refiner_instance(tmp_path / "generic", lfp_yield=None))
    specific = no.solve(refiner_instance(tmp_path / "lfp", lfp_yield=0.6))
    for sol in (generic, specific):
        assert sol.status == "optimal"
        assert sol.objective == pytest.approx(1800.0)
    m_gen = generic["materials"].set_index("facility")
    m_lfp = specific["materials"].set_index("facility")
    assert m_gen.loc["R", "input_t"] == pytest.approx(1.0)
    assert m_lfp.loc["R", "input_t"] == pytest.approx(1.0)
    assert m_gen.loc["PP", "input_t"] == pytest.approx(1.0)  # packs: 100 t x 10 kg/t
    assert m_gen.loc["R", "recovered_t"] == pytest.approx(0.9)
    assert m_lfp.loc["R", "recovered_t"] == pytest.approx(0.6)
    t = specific["targets"]
    assert t["facility"].tolist() == ["R"]
    assert t.iloc[0]["achieved"] == pytest.approx(0.6)
    assert generic["targets"].iloc[0]["achieved"] == pytest.approx(0.9)


def test_the_override_can_make_a_facility_target_infeasible(tmp_path: Path) -> None:
    """With the LFP yield at 0.6 a facility Li rate of 0.7 at R cannot be met (only LFP arrives)."""
    assert no.solve(refiner_instance(tmp_path, lfp_yield=0.6, rho=0.7)).status == "infeasible"
    assert no.solve(refiner_instance(tmp_path / "g", lfp_yield=None, rho=0.7)).status == "optimal"


def _validate(folder: Path) -> str:
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    return result.stderr


def test_yield_rows_are_validated(tmp_path: Path) -> None:
    folder = blend_instance(tmp_path / "unknown")
    text = (folder / "technology_yields.csv").read_text().replace("0.5,LFP", "0.5,LMO")
    (folder / "technology_yields.csv").write_text(text)
    assert "technology_yields.csv:3:chemistry: unknown reference 'LMO'" in _validate(folder)

    folder = blend_instance(tmp_path / "dup")
    with open(folder / "technology_yields.csv", "a") as fh:
        fh.write("TA,Li,0.6,LFP\n")
    assert "technology_yields.csv:5:chemistry: duplicate key" in _validate(folder)


def test_facility_scope_is_only_for_facility_metrics(tmp_path: Path) -> None:
    folder = blend_instance(tmp_path)
    text = (folder / "targets.csv").read_text().replace("material_recovery,Li,0.7", "domestic_recovery,Li,0.7")
    (folder / "targets.csv").write_text(text)
    assert "targets.csv:2:scope: scope facility applies to" in _validate(folder)


def test_a_preset_rule_carries_its_scope_into_the_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same facility-scope Li rate as test_facility_scope_forces_the_cheap_plant_to_blend, given by a
    preset rule (`scope: facility`) instead of the instance's own targets row: same optimum, 4000."""
    from network_opt.inputs import policies

    rule = {"metric": "material_recovery", "material": "Li", "value": 0.7, "scope": "facility",
            "from_period": 2025, "legal_date": "2025-01-01", "source": "Art. 1", "confidence": "V",
            "needs_confirmation": False, "base": "lithium entering the recycler's own process"}
    preset = policies.parse_preset({"id": "xx-scope", "name": "Test", "applies_to": "XX", "legal_source": "Act",
                                    "url": "", "notes": "", "targets": [rule]}, "xx-scope.yaml")
    assert preset.targets["scope"].tolist() == ["facility"]
    shipped = policies.available_presets()
    monkeypatch.setattr(policies, "available_presets", lambda: {**shipped, "xx-scope": preset})
    folder = blend_instance(tmp_path / "i")
    (folder / "targets.csv").unlink()
    text = (folder / "instance.yaml").read_text(encoding="utf-8").replace("  targets: targets.csv\n", "")
    (folder / "instance.yaml").write_text(text + "policies:\n  XX: [xx-scope]\n", encoding="utf-8")
    sol = no.solve(folder)
    assert sol.objective == pytest.approx(4000.0)
    assert sol["targets"]["facility"].tolist() == ["A", "B"]
    with pytest.raises(policies.PresetError, match=r"targets\[0\]\.scope"):
        policies.parse_preset({"id": "xx-bad", "name": "Test", "applies_to": "XX", "legal_source": "Act", "url": "",
                               "notes": "", "targets": [{**rule, "metric": "collection_rate", "material": ""}]},
                              "xx-bad.yaml")


def chain_instance(folder: Path, scope: str = "chain", rho: float = 0.72) -> Path:
    """100 t/yr of LFP (10 kg Li/t) at C1, free lanes, no revenue. Two pre-processors: PA
    (technology MA, black-mass yield 0.35, 12/t) and PB (MB, 0.45, 30/t); the black mass holds
    20 kg Li/t, so PA captures 0.35 x 20 / 10 = 0.7 of the pack's Li into black mass and PB
    0.45 x 20 / 10 = 0.9. Both ship to one refiner R (REF, Li yield 0.9, no cost). Li recovery
    target rho = 0.72."""
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point"), site("SA", "facility"), site("SB", "facility"),
                  site("SR", "facility")],
        "jurisdictions": [{"id": "XX", "name": "", "groups": ""}],
        "chemistries": [{"id": "LFP", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "LFP", "material": "Li", "kg_per_t": 10,
                                 "black_mass_kg_per_t": 20}],
        "material_prices": [{"material": "Li", "period": 2025, "price_per_t": 0}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "LFP", "tonnes": 100}],
        "technologies": [{"id": "MA", "process": "mechanical", "recycling_efficiency": 0.1, "black_mass_yield": 0.35},
                         {"id": "MB", "process": "mechanical", "recycling_efficiency": 0.1, "black_mass_yield": 0.45},
                         {"id": "REF", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "REF", "material": "Li", "recovery_yield": 0.9, "chemistry": ""}],
        "facilities": [
            {"id": "PA", "site": "SA", "kind": "preprocessor", "technology": "MA", "status": "existing",
             "variable_cost_per_t": 12},
            {"id": "PB", "site": "SB", "kind": "preprocessor", "technology": "MB", "status": "existing",
             "variable_cost_per_t": 30},
            {"id": "R", "site": "SR", "kind": "refiner", "technology": "REF", "status": "existing",
             "variable_cost_per_t": 0},
        ],
        "facility_levels": [{"facility": f, "level": "a", "capacity_t": 1000} for f in ("PA", "PB", "R")],
        "lanes": lanes(("C1", "SA", 0), ("C1", "SB", 0), ("SA", "SR", 0), ("SB", "SR", 0)),
        "targets": [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": rho,
                     "from_period": 2025, "scope": scope}],
    }
    return write_instance(folder, tables)


def test_chain_scope_counts_the_pre_processor_capture(tmp_path: Path) -> None:
    """Scope facility measures R on the Li in the black mass it takes: 0.9 >= 0.72 whatever it
    takes, so all packs go to the cheap PA: cost 12 x 100 = 1200, 35 t of black mass carrying
    0.7 t of Li, 0.63 t recovered. Scope chain measures R from the packs: a tonne of black mass
    from PA counts 0.9 x 0.02 - 0.72 x 0.01 / 0.35 (the Li in the packs it was made from), i.e.
    per tonne of packs 0.01 x (0.7 x 0.9 - 0.72) = -0.0009, from PB 0.01 x (0.9 x 0.9 - 0.72) =
    +0.0009: the row asks for at least as many packs at PB as at PA. Under facility scope R's
    chain rate is 0.63 < 0.72: the chain scope finds it non-compliant. Minimise 12 a + 30 (100 - a)
    with a <= 50: a = 50, cost 600 + 1500 = 2100; black mass 17.5 t from PA and 22.5 t from PB
    carry 0.35 + 0.45 = 0.8 t of Li (R's facility rate 0.9), 0.72 t recovered of the 1.0 t of Li
    in the packs: chain rate exactly 0.72.

    Shadow price: raising the row's right-hand side by delta gives a <= 50 - delta / 0.0018 and
    cost + 18 delta / 0.0018, a dual of 10,000 per t of Li; the base is the 1.0 t of pack Li, so
    10,000 per unit of rate. Directly: a(rho) = 100 (0.81 - rho) / 0.18, d cost / d rho = 18 x
    100 / 0.18 = 10,000."""
    facility = no.solve(chain_instance(tmp_path / "facility", scope="facility"))
    chain = no.solve(chain_instance(tmp_path / "chain"))
    assert facility.status == "optimal" and chain.status == "optimal"
    assert facility.objective == pytest.approx(1200.0)
    assert chain.objective == pytest.approx(2100.0)
    assert _tonnes(facility, "C1", "PA") == pytest.approx(100.0)
    assert _tonnes(facility, "PA", "R") == pytest.approx(35.0)
    f_row = _target(facility, "R")
    assert f_row["achieved"] == pytest.approx(0.9)
    assert f_row["shadow_price"] == pytest.approx(0.0, abs=1e-6)

    assert _tonnes(chain, "C1", "PA") == pytest.approx(50.0)
    assert _tonnes(chain, "C1", "PB") == pytest.approx(50.0)
    assert _tonnes(chain, "PA", "R") == pytest.approx(17.5)
    assert _tonnes(chain, "PB", "R") == pytest.approx(22.5)
    t = chain["targets"]
    assert t["facility"].tolist() == ["R"]  # pre-processors get no row
    assert t["scope"].tolist() == ["chain"]
    row = _target(chain, "R")
    assert row["achieved"] == pytest.approx(0.72)
    assert bool(row["met"])
    assert row["shadow_price"] == pytest.approx(10_000.0, rel=1e-6)
    m = chain["materials"].set_index("facility")
    assert m.loc["R", "input_t"] == pytest.approx(0.8)  # materials.csv: the Li in the black mass
    assert m.loc["R", "recovered_t"] == pytest.approx(0.72)

    # the facility-scope plan, measured on the chain: 0.63 t of the 1.0 t of pack Li
    facility_plan = no.solve(chain_instance(tmp_path / "chain_low", rho=0.63))
    assert facility_plan.objective == pytest.approx(1200.0)
    assert _target(facility_plan, "R")["achieved"] == pytest.approx(0.63)


def test_chain_recycling_efficiency_counts_both_steps(tmp_path: Path) -> None:
    """Mass over the chain, all packs at PA (rho 0.3 binds nothing): per tonne of packs PA recycles
    0.1 directly and R 0.8 x 0.35 = 0.28 of it, 0.38; per tonne of black mass (1 / 0.35 t of packs)
    0.8 + 0.1 / 0.35. Facility scope would report R's own 0.8."""
    folder = chain_instance(tmp_path, rho=0.0)
    text = (folder / "targets.csv").read_text().replace("material_recovery,Li,0.0", "recycling_efficiency,,0.3")
    (folder / "targets.csv").write_text(text)
    sol = no.solve(folder)
    assert sol.objective == pytest.approx(1200.0)
    assert _target(sol, "R")["achieved"] == pytest.approx(0.38)


def test_chain_scope_is_only_for_facility_metrics(tmp_path: Path) -> None:
    folder = chain_instance(tmp_path)
    text = (folder / "targets.csv").read_text().replace("material_recovery,Li,0.72", "domestic_recovery,Li,0.72")
    (folder / "targets.csv").write_text(text)
    assert "targets.csv:2:scope: scope chain applies to" in _validate(folder)


@pytest.mark.parametrize("which", ["micro", "eu-2025-2032"])
def test_chain_scope_size_projection_equals_the_built_model(which: str, tmp_path: Path) -> None:
    """project_size counts the chain rows and their nonzeros exactly (the micro instance with soft
    targets; the EU instance with every target row switched to scope chain: one row per refiner
    and period, on lanes from seven pre-processors)."""
    from network_opt.model import build_model, prepare
    from network_opt.model.size import project_size
    from network_opt.runs.pipeline import model_size
    from network_opt.solver.handoff import compile_model

    if which == "micro":
        inst = no.load(chain_instance(tmp_path)).with_settings({"targets.soft": True})
    else:
        inst = no.load(Path(__file__).resolve().parents[1] / "instances" / which)
        inst.tables["targets"] = inst["targets"].assign(scope="chain")
    d = prepare(inst)
    assert (d.targets["scope"] == "chain").all() and (d.targets["facility"] != "").all()
    projected = project_size(d)
    m = build_model(d)
    mm, _, _ = compile_model(m)
    assert projected.rows == mm.shape[0]
    assert projected.nonzeros == len(mm.index)
    assert projected.columns == model_size(m)["variables"]


def test_an_unreachable_chain_rate_is_named_with_its_refiner(tmp_path: Path) -> None:
    """rho = 0.85: PB's chain (0.9 x 0.9 = 0.81) is the best there is, so R's chain row cannot be
    met (facility scope would pass: 0.9 >= 0.85). Least shortfall: all packs through PB,
    (0.85 - 0.81) x 1.0 t of pack Li = 0.04 t."""
    folder = chain_instance(tmp_path, rho=0.85)
    assert no.solve(folder).status == "infeasible"
    assert no.solve(chain_instance(tmp_path / "f", scope="facility", rho=0.85)).status == "optimal"
    diag = diagnose(folder)
    assert set(diag["constraint"]) == {"target_material_recovery"}
    assert diag["shortfall"].sum() == pytest.approx(0.04)
    assert diag["what"].str.contains(r"material_recovery Li on the chain into facility R in XX").all()
