"""Recycled-content obligations (``recycled_content`` table, issue 15 item 3), solved by hand.

Two jurisdictions, EU (origin ``any``, as EU 2023/1542 Art. 8) and IN (origin ``domestic``, as
India BWMR 2022). 1000 t/yr of packs X (20 kg Li/t) at C, in IN; free lanes. Two existing
integrated recyclers, capacity 1000, Li yield 0.5, so each tonne of packs recycled gives
0.02 x 0.5 = 0.01 t of Li:

- E in the EU, 10/t;
- I in IN, 30/t.

Without an obligation every tonne goes to E: cost 10 x 1000 = 10,000, 10 t of Li recovered at E.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import lanes, objective_of, site, write_instance

import network_opt as no
from network_opt.model.data import prepare
from network_opt.model.size import project_size
from network_opt.solver.diagnose import diagnose


def _obligation(jurisdiction: str, origin: str, demand: float, share: float = 0.2) -> dict[str, Any]:
    return {"jurisdiction": jurisdiction, "period": 2025, "material": "Li", "new_battery_demand_t": demand,
            "required_share": share, "origin": origin, "source": "test"}


def instance(folder: Path, obligations: list[dict[str, Any]], **settings: Any) -> Path:
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C", "collection_point", "IN"), site("SE", "facility", "EU"), site("SI", "facility", "IN")],
        "jurisdictions": [{"id": "EU", "name": "", "groups": ""}, {"id": "IN", "name": "", "groups": ""}],
        "chemistries": [{"id": "X", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 20}],
        "material_prices": [{"material": "Li", "period": 2025, "price_per_t": 0}],
        "supply": [{"site": "C", "period": 2025, "chemistry": "X", "tonnes": 1000}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [
            {"id": "E", "site": "SE", "kind": "recycler", "technology": "T", "status": "existing",
             "variable_cost_per_t": 10},
            {"id": "I", "site": "SI", "kind": "recycler", "technology": "T", "status": "existing",
             "variable_cost_per_t": 30},
        ],
        "facility_levels": [{"facility": "E", "level": "a", "capacity_t": 1000},
                            {"facility": "I", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C", "SE", 0), ("C", "SI", 0)),
    }
    if obligations:
        tables["recycled_content"] = obligations
    return write_instance(folder, tables, **settings)


def _tonnes(sol: Any, destination: str) -> float:
    f = sol["flows"]
    return float(f.loc[f["destination"] == destination, "tonnes"].sum())


def _rows(sol: Any) -> Any:
    t = sol["targets"]
    return t.loc[t["metric"] == "recycled_content"].set_index("jurisdiction")


def test_without_obligation_everything_goes_to_the_cheap_foreign_recycler(tmp_path: Path) -> None:
    sol = no.solve(instance(tmp_path, []))
    assert sol.objective == pytest.approx(10_000.0)
    assert _tonnes(sol, "E") == pytest.approx(1000.0)


def test_domestic_obligation_forces_the_domestic_recycler(tmp_path: Path) -> None:
    """IN, domestic, 0.2 x 20 t = 4 t of Li. Only I's recovery counts: 0.01 y >= 4, y >= 400 t at I.
    Cost 10 x (1000 - y) + 30 y = 10,000 + 20 y = 18,000 at y = 400. Shadow price: one more t of Li
    needs 100 t more at I, 20 x 100 = 2,000 per t of Li."""
    sol = no.solve(instance(tmp_path, [_obligation("IN", "domestic", 20.0)]), compliance=True)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(18_000.0)
    assert _tonnes(sol, "I") == pytest.approx(400.0)
    assert _tonnes(sol, "E") == pytest.approx(600.0)
    row = _rows(sol).loc["IN"]
    assert row["scope"] == "origin:domestic"
    assert row["required"] == pytest.approx(4.0)
    assert row["achieved"] == pytest.approx(4.0)
    assert bool(row["met"])
    assert row["shadow_price"] == pytest.approx(2_000.0, rel=1e-6)
    cc = sol["compliance"].set_index("target_family")
    assert cc.loc["recycled_content", "cost_of_compliance"] == pytest.approx(8_000.0)


def test_any_origin_obligation_is_met_by_the_cheaper_foreign_recycler(tmp_path: Path) -> None:
    """The same 4 t with origin any: E's 10 t count, the plan stays at 10,000 (< 18,000) and the
    obligation does not bind (shadow price 0)."""
    sol = no.solve(instance(tmp_path / "any", [_obligation("IN", "any", 20.0)]))
    dom = no.solve(instance(tmp_path / "dom", [_obligation("IN", "domestic", 20.0)]))
    assert sol.objective == pytest.approx(10_000.0)
    assert objective_of(sol) < objective_of(dom)
    assert _tonnes(sol, "E") == pytest.approx(1000.0)
    row = _rows(sol).loc["IN"]
    assert row["scope"] == "origin:any"
    assert row["achieved"] == pytest.approx(4.0)
    assert row["shadow_price"] == pytest.approx(0.0, abs=1e-6)


def test_obligation_above_all_recovery_is_infeasible_and_diagnosed(tmp_path: Path) -> None:
    """Share 1.0 of 20 t = 20 t of Li, but at most 0.01 x 1000 = 10 t can be recovered: infeasible,
    and the diagnosis names the obligation, short by 10 t of Li."""
    folder = instance(tmp_path, [_obligation("IN", "domestic", 20.0, share=1.0)])
    sol = no.solve(folder)
    assert sol.status == "infeasible"
    diag = diagnose(folder)
    assert diag["constraint"].tolist() == ["recycled_content"]
    assert "recycled_content Li in IN" in diag["what"].iloc[0]
    assert diag["shortfall"].iloc[0] == pytest.approx(10.0)
    assert diag["unit"].iloc[0] == "t/yr of Li"


def test_a_tonne_is_credited_to_one_obligation_only(tmp_path: Path) -> None:
    """EU any 0.3 x 20 = 6 t and IN any 6 t: each alone is met by E's 10 t, both together need
    12 t > 10 t recoverable: infeasible (short by 2 t). EU 6 t + IN 4 t = 10 t: feasible at
    10,000, all recovery credited (6 + 4)."""
    both = instance(tmp_path / "both", [_obligation("EU", "any", 20.0, share=0.3),
                                        _obligation("IN", "any", 20.0, share=0.3)])
    assert no.solve(both).status == "infeasible"
    diag = diagnose(both)
    assert diag["shortfall"].sum() == pytest.approx(2.0)
    assert set(diag["constraint"]) == {"recycled_content"}
    fits = no.solve(instance(tmp_path / "fits", [_obligation("EU", "any", 20.0, share=0.3),
                                                 _obligation("IN", "any", 20.0, share=0.2)]))
    assert fits.objective == pytest.approx(10_000.0)
    rows = _rows(fits)
    assert rows.loc["EU", "achieved"] == pytest.approx(6.0)
    assert rows.loc["IN", "achieved"] == pytest.approx(4.0)


def test_soft_obligation_pays_the_penalty_when_cheaper(tmp_path: Path) -> None:
    """Soft targets at 1,000 per t of Li short (< 2,000 per t to comply): the plan keeps all at E and
    pays 4 t x 1,000: 14,000."""
    folder = instance(tmp_path, [_obligation("IN", "domestic", 20.0)],
                      targets={"soft": True, "soft_penalty_per_t": 1000})
    sol = no.solve(folder)
    assert sol.objective == pytest.approx(14_000.0)
    row = _rows(sol).loc["IN"]
    assert row["shortfall_t"] == pytest.approx(4.0)
    assert not bool(row["met"])


@pytest.mark.parametrize("soft", [False, True])
def test_projected_size_equals_built(tmp_path: Path, soft: bool) -> None:
    import pyomo.environ as pyo

    from network_opt.model.build import build_model

    folder = instance(tmp_path, [_obligation("EU", "any", 20.0, share=0.3), _obligation("IN", "domestic", 20.0)],
                      targets={"soft": soft, "soft_penalty_per_t": 1000})
    d = prepare(no.load(folder))
    size = project_size(d)
    m = build_model(d)
    assert size.rows_by_family["recycled_content"] == len(m.recycled_content) == 2
    assert size.rows_by_family["recycled_content_allocation"] == len(m.recycled_content_allocation) == 2
    assert size.columns == sum(len(v) for v in m.component_objects(pyo.Var))


@pytest.mark.parametrize(("column", "value"), [("jurisdiction", "ZZ"), ("material", "Co"), ("period", 2030)])
def test_unknown_references_are_file_row_column_errors(tmp_path: Path, column: str, value: Any) -> None:
    bad = {**_obligation("IN", "domestic", 20.0), column: value}
    folder = instance(tmp_path, [bad])
    problems = no.validate(folder)
    text = "\n".join(str(p) for p in problems)
    assert f"recycled_content.csv:2:{column}" in text, text
