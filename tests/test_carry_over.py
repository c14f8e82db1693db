"""Carrying another model's plan over to a MIP (network_opt.solver.carry_over): the plan's levels
raised only where this model finds them short, where raising costs least, and never shrinking."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from builders import lanes, one_material_tables, site, write_instance
from test_start import levels_model

import network_opt as no
from network_opt.inputs.load import load
from network_opt.model import build_model
from network_opt.model.data import prepare
from network_opt.solver.carry_over import (
    FULL_FACTOR,
    over_capacity_price,
    plan_columns,
    plan_start,
    raise_prices,
    raised_levels,
    repaired_plan_start,
    shortfalls,
)
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions


def two_plants(folder: Path) -> Path:
    """C0 (4 t) reaches P0 only, C1 (4 t) P1 only, C2 (5 t) both; every lane free, no revenue.
    P0: "a" 8 t (fixed 80), "b" 12 t (84). P1: "z" 2 t (30), "a" 4 t (40), "b" 8 t (60). One year.
    Optimum by hand: P1 must hold C1's 4 t (at least "a", 40), P0 C0's 4 t; 13 t in all. P0 "a" +
    P1 "a" hold 12 t (too little); P0 "b" + P1 "a" = 84 + 40 = **124**; P0 "a" + P1 "b" = 140."""
    supply = {"C0": 4.0, "C1": 4.0, "C2": 5.0}
    levels = {"P0": [("a", 8.0, 80.0), ("b", 12.0, 84.0)], "P1": [("z", 2.0, 30.0), ("a", 4.0, 40.0), ("b", 8.0, 60.0)]}
    tables = {
        "sites": [site(c, "collection_point") for c in supply] + [site("S0", "facility"), site("S1", "facility")],
        **one_material_tables(),
        "supply": [{"site": c, "period": 2025, "chemistry": "X", "tonnes": t} for c, t in supply.items()],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [{"id": p, "site": f"S{p[1]}", "kind": "recycler", "technology": "T", "status": "candidate"}
                       for p in levels],
        "facility_levels": [{"facility": p, "level": name, "capacity_t": cap, "fixed_cost_per_year": fixed}
                            for p, rows in levels.items() for name, cap, fixed in rows],
        "lanes": lanes(("C0", "S0", 0.0), ("C1", "S1", 0.0), ("C2", "S0", 0.0), ("C2", "S1", 0.0)),
    }
    path = write_instance(folder, tables)
    (path / "instance.yaml").write_text((path / "instance.yaml").read_text() + "model:\n  strong_linking: false\n")
    return path


def a_plan(levels: dict[str, str]) -> pd.DataFrame:
    """A ``facilities`` table opening each facility at its level in 2025."""
    return pd.DataFrame({"facility": list(levels), "investment_period": 2025, "period": 2025, "open": True,
                         "level": list(levels.values()), "modules": 0})


def test_the_plan_is_raised_where_it_is_short_and_where_raising_costs_least(tmp_path: Path) -> None:
    """The plan P0 "a" (8 t) + P1 "z" (2 t) of two_plants holds 10 of 13 t. The elastic LP must go
    3 t over: P1 at least 2 t (C1 reaches it alone); the last tonne of C2 at P0 (raising P0 costs
    (84 - 80) / (12 - 8) = 1 per t) or at P1 (raising it costs (40 - 30) / (4 - 2) = 5 per t): P0.
    So P0 is raised to its smallest level holding 8 + 1 t, "b", and P1 to one holding 2 + 2 t,
    "a": 84 + 40 = 124 ("plan_repaired"), the optimum (the MIP solved from scratch agrees).
    Raising all 3 t at P1 would give P0 "a" + P1 "b" = 140. A plan that fits stays as it is
    ("plan")."""
    path = two_plants(tmp_path / "a")
    d = prepare(load(path))
    m = build_model(d)
    hm = HighsModel(m)
    plan = a_plan({"P0": "a", "P1": "z"})
    values = plan_columns(m, d, hm, plan)
    flow_cost = max(abs(float(hm.matrix.cost[hm.cols[id(v)]])) for v in m.flow.values())
    base = 100.0 * max(flow_cost, 1.0)
    assert over_capacity_price(m, hm) == pytest.approx(base)
    prices = raise_prices(m, d, hm, values, base)
    assert prices[("P0", 2025)] == pytest.approx(base + 1.0)
    assert prices[("P1", 2025)] == pytest.approx(base + 5.0)
    elastic = shortfalls(m, d, hm, values, base)
    assert elastic is not None
    assert elastic[1] == pytest.approx({("P0", 2025): 1.0, ("P1", 2025): 2.0})
    assert hm.h.getNumCol() == len(hm.columns)  # the elastic columns are gone again

    assert plan_start(m, d, hm, plan, SolveOptions()) == "plan_repaired"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(124.0)
    levels = d.levels.reset_index(drop=True)
    opened = {(levels.at[j, "facility"], levels.at[j, "level"]) for (j, _q), v in m.level_open.items()
              if hm.start_values[hm.cols[id(v)]] > 0.5}
    assert opened == {("P0", "b"), ("P1", "a")}
    assert no.solve(path).objective == pytest.approx(124.0)

    hm = HighsModel(m)
    assert plan_start(m, d, hm, a_plan({"P0": "b", "P1": "a"}), SolveOptions()) == "plan"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(124.0)


def test_a_facility_the_plan_closes_stays_closed(tmp_path: Path) -> None:
    """The plan P1 "b" alone (P0 closed). C0 reaches P0 only, so the plan cannot route its 4 t at
    any level of P1; P0's capacity row is not made elastic (its flows would stay in the LP: see
    repaired_plan_start), so the elastic LP is infeasible and the repair gives up (None). P1 is
    priced at the top tier (FULL_FACTOR times the base): "b" is its largest level. plan_start goes
    on to the sizing (P0 closed there too: infeasible), the upgrades (likewise), and every facility
    open: P0 "b" + P1 "b" = 84 + 60 = 144 ("open_all")."""
    path = two_plants(tmp_path / "a")
    d = prepare(load(path))
    m = build_model(d)
    hm = HighsModel(m)
    plan = a_plan({"P1": "b"})
    values = plan_columns(m, d, hm, plan)
    flow_cost = max(abs(float(hm.matrix.cost[hm.cols[id(v)]])) for v in m.flow.values())
    base = 100.0 * max(flow_cost, 1.0)
    assert over_capacity_price(m, hm) == pytest.approx(base)
    prices = raise_prices(m, d, hm, values, base)
    assert prices == pytest.approx({("P1", 2025): FULL_FACTOR * base})
    assert shortfalls(m, d, hm, values, base) is None
    assert repaired_plan_start(m, d, hm, plan) is None
    assert plan_start(m, d, hm, plan, SolveOptions()) == "open_all"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(144.0)


def two_periods() -> tuple:
    """levels_model (F: 50, 100, 200 t; G: 30 t; 2025 and 2030) with its facilities (no modules)."""
    m, d, hm = levels_model()
    d.facilities = pd.DataFrame({"id": ["F", "G"], "module_capacity_t": [0.0, 0.0], "max_modules": [0, 0]})
    return m, d, hm


def chosen(m: object, hm: SimpleNamespace, values: dict[int, float]) -> dict[tuple[str, int], float]:
    """(facility, period) -> capacity of the level ``values`` open (levels_model's rows)."""
    capacity = {0: ("F", 50.0), 1: ("F", 100.0), 2: ("F", 200.0), 3: ("G", 30.0)}
    out: dict[tuple[str, int], float] = {}
    for (j, q), v in m.level_open.items():  # type: ignore[attr-defined]
        if values.get(hm.cols[id(v)], 0.0) > 0.5:
            out[(capacity[j][0], q)] = capacity[j][1]
    return out


def held(m: object, hm: SimpleNamespace, opened: dict[tuple[int, int], float]) -> dict[int, float]:
    """Column -> value of every level column, 1 for the (level row, period) pairs in ``opened``."""
    return {hm.cols[id(v)]: opened.get(key, 0.0) for key, v in m.level_open.items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("plan, short, expected", [
    # F 50 t in both periods, 30 t short in 2025: 100 t in 2025, and in 2030 (levels only grow)
    ({(0, 2025): 1, (0, 2030): 1}, {("F", 2025): 30.0}, {("F", 2025): 100.0, ("F", 2030): 100.0}),
    # F 50 then 100 t, 60 t short in 2025: 200 t from 2025 on
    ({(0, 2025): 1, (1, 2030): 1}, {("F", 2025): 60.0}, {("F", 2025): 200.0, ("F", 2030): 200.0}),
    # short in 2030 only: 2025 untouched
    ({(0, 2025): 1, (0, 2030): 1}, {("F", 2030): 10.0}, {("F", 2025): 50.0, ("F", 2030): 100.0}),
    # F closed by the plan in 2030 (open 50 t in 2025): raised in 2025, still closed in 2030
    ({(0, 2025): 1}, {("F", 2025): 1.0}, {("F", 2025): 100.0}),
    # G at its one level (30 t) in 2030, short there: nothing to raise; F untouched
    ({(0, 2025): 1, (3, 2030): 1}, {("G", 2030): 5.0}, {("F", 2025): 50.0, ("G", 2030): 30.0}),
    # F closed by the plan in 2025 and short there (no elastic row makes it so): stays closed
    ({(0, 2030): 1}, {("F", 2025): 5.0}, {("F", 2030): 50.0}),
    # short beyond the largest level: the largest
    ({(1, 2025): 1, (1, 2030): 1}, {("F", 2025): 500.0}, {("F", 2025): 200.0, ("F", 2030): 200.0}),
])
def test_raised_levels_cover_the_shortfall_and_never_shrink(plan: dict, short: dict, expected: dict) -> None:
    m, d, hm = two_periods()
    raised = raised_levels(m, d, hm, held(m, hm, plan), short)
    assert chosen(m, hm, raised) == expected


def test_nothing_left_to_raise_gives_the_values_back() -> None:
    """F at its largest level (200 t) and short: the raise changes nothing (repaired_plan_start then
    gives up), and its price is the top tier, FULL_FACTOR times the base; G, closed, has none."""
    m, d, hm = two_periods()
    values = held(m, hm, {(2, 2025): 1, (2, 2030): 1})
    assert raised_levels(m, d, hm, values, {("F", 2025): 10.0}) == values
    hm.matrix = SimpleNamespace(cost=[0.0] * len(hm.cols))
    prices = raise_prices(m, d, hm, values, 1.0)
    assert prices == pytest.approx({("F", 2025): FULL_FACTOR, ("F", 2030): FULL_FACTOR})


@pytest.mark.parametrize("modules, short, expected", [
    # F at its largest level (200 t), no modules, 30 t short in 2025: 2 modules of 20 t, kept in 2030
    ({}, {("F", 2025): 30.0}, {2025: 2.0, 2030: 2.0}),
    # 1 module held in 2030 and 2 raised to in 2025: 2 in 2030 (never fewer)
    ({2030: 1.0}, {("F", 2025): 30.0}, {2025: 2.0, 2030: 2.0}),
    # 1 module held in 2030, 30 t short there: 1 + 2 = 3 (at most 3)
    ({2030: 1.0}, {("F", 2030): 30.0}, {2025: 0.0, 2030: 3.0}),
    # 30 t short in 2025 (2 modules) and 10 t in 2030 over the 0 held there: 2 hold 210 t, still 2
    ({}, {("F", 2025): 30.0, ("F", 2030): 10.0}, {2025: 2.0, 2030: 2.0}),
    # 100 t short: as many as there may be, 3
    ({}, {("F", 2025): 100.0}, {2025: 3.0, 2030: 3.0}),
])
def test_at_the_largest_level_modules_are_added(modules: dict[int, float], short: dict,
                                                 expected: dict[int, float]) -> None:
    """F (levels 50, 100, 200 t) at 200 t in both periods, with modules of 20 t (at most 3): a
    shortfall at the largest level adds the fewest modules covering it, never fewer later."""
    import pyomo.environ as pyo

    m, d, hm = two_periods()
    d.facilities = pd.DataFrame({"id": ["F", "G"], "module_capacity_t": [20.0, 0.0], "max_modules": [3, 0]})
    m.MODULAR = pyo.Set(initialize=["F"])
    m.modules = pyo.Var(m.MODULAR, m.INVESTMENT_PERIODS, domain=pyo.NonNegativeIntegers, bounds=(0, 3))
    for v in m.modules.values():
        hm.cols[id(v)] = len(hm.cols)
    values = held(m, hm, {(2, 2025): 1, (2, 2030): 1})
    values.update({hm.cols[id(m.modules["F", q])]: modules.get(q, 0.0) for q in (2025, 2030)})
    raised = raised_levels(m, d, hm, values, short)
    assert {q: raised[hm.cols[id(m.modules["F", q])]] for q in (2025, 2030)} == expected
    assert chosen(m, hm, raised) == {("F", 2025): 200.0, ("F", 2030): 200.0}
