"""Time structure (issue 16): investment periods with yearly operations, stock between years,
ramp-up of new capacity, the end of the horizon. Hand-solved micro instances; each docstring
holds the arithmetic of the expected optimum.

The common network (:func:`plant_instance`): one collection point C with chemistry X, an existing
recycler P (technology T) and candidate recyclers, explicit lanes with given costs per tonne, no
material revenue, discount rate 0 unless stated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import lanes, one_material_tables, site, write_instance

import network_opt as no
from network_opt.common.errors import InputError
from network_opt.results.tables import mass_balance_errors


def _solve(folder: Path, **kw: Any) -> Any:
    sol = no.solve(folder, **kw)
    assert sol.status == "optimal", sol.status
    return sol


def _fac(sol: Any, facility: str, period: int) -> Any:
    f = sol["facilities"]
    return f.loc[(f["facility"] == facility) & (f["period"] == period)].iloc[0]


def _into(sol: Any, destination: str) -> pd.Series:
    """Tonnes per year (t/yr) into ``destination`` by operating year."""
    f = sol["flows"]
    return f.loc[f["destination"] == destination].groupby("period")["tonnes"].sum()


def plant_instance(folder: Path, supply: dict[int, float], candidates: list[dict[str, Any]],
                   periods: list[Any], *, p_capacity: float = 100, p_lane: float = 0, p_cost: float = 0,
                   tables: dict[str, Any] | None = None, **settings: Any) -> Path:
    """Existing P (site SP, ``p_capacity`` t/yr, lane C->SP at ``p_lane``/t, processing ``p_cost``/t)
    and candidates, each a dict with id, capacity_t, opening_cost, fixed_cost_per_year and lane
    (cost per t from C) at its own site. Technology T for every recycler."""
    sites = [site("C", "collection_point"), site("SP", "facility")] + [site(f"S{c['id']}", "facility")
                                                                        for c in candidates]
    data = {
        "sites": sites,
        **one_material_tables(periods=tuple(sorted(supply))),
        "supply": [{"site": "C", "period": p, "chemistry": "X", "tonnes": t} for p, t in supply.items()],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": "P", "site": "SP", "kind": "recycler", "technology": "T", "status": "existing",
                        "variable_cost_per_t": p_cost}]
        + [{"id": c["id"], "site": f"S{c['id']}", "kind": "recycler", "technology": "T", "status": "candidate"}
           for c in candidates],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": p_capacity}]
        + [{"facility": c["id"], "level": "a", "capacity_t": c["capacity_t"], "opening_cost": c["opening_cost"],
            "fixed_cost_per_year": c.get("fixed_cost_per_year", 0)} for c in candidates],
        "lanes": lanes(("C", "SP", p_lane), *[("C", f"S{c['id']}", c["lane"]) for c in candidates]),
        **(tables or {}),
    }
    return write_instance(folder, data, periods=periods, **settings)


YEARLY_2025_2026 = [{"year": 2025, "length": 2, "operations": "yearly"}]


# --- 1. investment periods and operating years -----------------------------------------------

def test_second_year_of_an_investment_period_needs_more_than_the_mean(tmp_path: Path) -> None:
    """One investment period 2025-2026 operated yearly: 60 t in 2025, 140 t in 2026 (mean 100).
    P holds 100 t/yr, so 2026 needs H (100 t/yr, opening 100, fixed 50/yr). H is decided once for
    the period: open in both years, fixed 50 x 2; opening 100 in 2025. No other cost: 200.
    The same supply as one mean operating year (100 t/yr for 2 years) fits P alone: 0. The mean
    plan would be infeasible in 2026."""
    h = [{"id": "H", "capacity_t": 100, "opening_cost": 100, "fixed_cost_per_year": 50, "lane": 0}]
    sol = _solve(plant_instance(tmp_path / "yearly", {2025: 60, 2026: 140}, h, YEARLY_2025_2026))
    assert sol.objective == pytest.approx(200.0)
    for year in (2025, 2026):
        row = _fac(sol, "H", year)
        assert bool(row["open"]) and row["investment_period"] == 2025
    assert _fac(sol, "H", 2025)["investment"] == pytest.approx(100.0)
    assert _fac(sol, "H", 2026)["investment"] == pytest.approx(0.0)
    assert _into(sol, "H").sum() + _into(sol, "P").sum() == pytest.approx(200.0)
    assert _into(sol, "P")[2026] + _into(sol, "H")[2026] == pytest.approx(140.0)
    costs = sol["costs"].pivot_table(index="term", columns="period", values="value")
    assert costs.loc["opening", 2025] == pytest.approx(100.0) and costs.loc["opening", 2026] == 0.0
    assert costs.loc["fixed"].tolist() == pytest.approx([50.0, 50.0])

    mean = _solve(plant_instance(tmp_path / "mean", {2025: 100}, h, [{"year": 2025, "length": 2}]))
    assert mean.objective == pytest.approx(0.0)
    assert not bool(_fac(mean, "H", 2025)["open"])


def test_yearly_operations_discount_each_year(tmp_path: Path) -> None:
    """Rate 10 %, one investment period 2025-2027 operated yearly, 100 t/yr to P at 10/t each year:
    1000 (1 + 1/1.1 + 1/1.21) = 2735.54, the same as one mean operating year of 3 years."""
    folder = plant_instance(tmp_path / "yearly", {2025: 100, 2026: 100, 2027: 100}, [],
                            [{"year": 2025, "length": 3, "operations": "yearly"}], p_lane=10, discount_rate=0.1)
    mean = plant_instance(tmp_path / "mean", {2025: 100}, [], [{"year": 2025, "length": 3}], p_lane=10,
                          discount_rate=0.1)
    expected = 1000 * (1 + 1 / 1.1 + 1 / 1.21)
    assert _solve(folder).objective == pytest.approx(expected)
    assert _solve(mean).objective == pytest.approx(expected)


def test_operating_year_outside_an_investment_period_is_refused(tmp_path: Path) -> None:
    """Supply in 2026 when the only period is 2025 (mean): 2026 is no operating year."""
    folder = plant_instance(tmp_path, {2025: 10, 2026: 10}, [], [{"year": 2025, "length": 2}])
    with pytest.raises(InputError) as err:
        no.load(folder)
    assert "supply.csv" in str(err.value) and "2026" in str(err.value)


def test_yearly_period_running_into_the_next_is_refused(tmp_path: Path) -> None:
    folder = plant_instance(tmp_path, {2025: 10}, [], [{"year": 2025, "length": 3, "operations": "yearly"}, 2026])
    with pytest.raises(InputError) as err:
        no.load(folder)
    assert "periods[0].length" in str(err.value) and "2027" in str(err.value)


def test_unknown_operations_are_refused(tmp_path: Path) -> None:
    folder = plant_instance(tmp_path, {2025: 10}, [], [{"year": 2025, "operations": "monthly"}])
    with pytest.raises(InputError) as err:
        no.load(folder)
    assert "periods[0].operations" in str(err.value) and "mean, yearly" in str(err.value)


# --- 2. stock between years -------------------------------------------------------------------

def _storage(cap: float, cost: float, site_id: str = "C") -> dict[str, Any]:
    return {"storage": [{"site": site_id, "cap_t": cap, "holding_cost_per_t_year": cost, "source": "test"}]}


H_LATER = [{"id": "H", "capacity_t": 100, "opening_cost": 1000, "fixed_cost_per_year": 2000, "lane": 0}]


@pytest.mark.parametrize(("holding", "objective", "waits"), [(30.0, 4500.0, True), (50.0, 5000.0, False)])
def test_stock_waits_a_year_for_a_plant_that_opens_later(tmp_path: Path, holding: float, objective: float,
                                                         waits: bool) -> None:
    """50 t/yr in 2025 and 2026 (investment periods of one year each). P is far (100/t). H is near
    (free lane) but costs 1000 to open and 2000 per year open. Options:
    H from 2025: 1000 + 2 x 2000 = 5000; H from 2026 with 2025's 50 t sent to P: 1000 + 2000 + 5000 =
    8000; H from 2026 with 2025's 50 t kept at C for a year: 1000 + 2000 + 50 c; never H: 10000.
    Holding c = 30/(t yr): 4500, the packs wait; c = 50: 5500 > 5000, H opens in 2025."""
    folder = plant_instance(tmp_path, {2025: 50, 2026: 50}, H_LATER, [2025, 2026], p_capacity=1000, p_lane=100,
                            tables=_storage(1000, holding), stock={"allowed": True})
    sol = _solve(folder)
    assert sol.objective == pytest.approx(objective)
    assert bool(_fac(sol, "H", 2025)["open"]) is not waits
    stock = sol["stock"].set_index(["site", "period"])["stock_t"]
    assert stock[("C", 2025)] == pytest.approx(50.0 if waits else 0.0)
    assert stock[("C", 2026)] == pytest.approx(0.0)
    assert mass_balance_errors(sol.tables) == []
    col = sol["collection"].groupby("period")[["supply_t", "shipped_t", "stock_t", "stock_in_t"]].sum()
    assert col.loc[2026, "stock_in_t"] == pytest.approx(col.loc[2025, "stock_t"])
    if waits:
        assert _into(sol, "H")[2026] == pytest.approx(100.0)
        costs = sol["costs"].set_index(["term", "period"])["value"]
        assert costs[("holding", 2025)] == pytest.approx(50 * holding)


def test_stock_needs_enabling(tmp_path: Path) -> None:
    """The same instance with storage.csv but stock.allowed false (the default): no stock, H from 2025."""
    folder = plant_instance(tmp_path, {2025: 50, 2026: 50}, H_LATER, [2025, 2026], p_capacity=1000, p_lane=100,
                            tables=_storage(1000, 30.0))
    sol = _solve(folder)
    assert sol.objective == pytest.approx(5000.0)
    assert sol["stock"].empty


@pytest.mark.parametrize(("age", "objective", "opens"), [(1, 5000.0, None), (2, 3100.0, 2027)])
def test_stock_age_limit(tmp_path: Path, age: int, objective: float, opens: int | None) -> None:
    """50 t in 2025 only; operating years 2025, 2026, 2027 (one investment period each). P is far
    (100/t: 5000 for the 50 t). H (free lane) costs 1000 to open and 2000 per year open (it never
    closes): opened in 2025 7000, in 2026 5000, in 2027 3000. Holding at C 1/(t yr).
    max_age_years 1: stock at the end of 2026 is at most 2026's supply (0), so 2025's packs leave
    by 2026: P in 2025 (5000) beats H from 2026 (1000 + 2 x 2000 + 50 = 5050): 5000.
    max_age_years 2: they may wait to 2027: H in 2027 only, 1000 + 2000 + 2 years x 50 t x 1 = 3100."""
    folder = plant_instance(tmp_path, {2025: 50}, H_LATER, [2025, 2026, 2027], p_capacity=1000, p_lane=100,
                            tables=_storage(1000, 1.0), stock={"allowed": True, "max_age_years": age})
    sol = _solve(folder)
    assert sol.objective == pytest.approx(objective)
    opened = [p for p in (2025, 2026, 2027) if bool(_fac(sol, "H", p)["open"])]
    assert opened == ([] if opens is None else [opens])
    stock = sol["stock"].set_index("period")["stock_t"]
    if opens:
        assert stock.tolist() == pytest.approx([50.0, 50.0, 0.0])
    else:
        assert stock.sum() == pytest.approx(0.0)
        assert _into(sol, "P")[2025] == pytest.approx(50.0)


def test_stock_cap_forces_a_second_site(tmp_path: Path) -> None:
    """150 t in 2025, 50 t in 2026; P holds 100 t/yr. With room at C (cap 1000, holding 1/(t yr)) the
    50 t excess of 2025 waits a year: objective 50. With a cap of 20 t at C, 30 t still exceed
    P in 2025: the second plant H2 (100 t/yr, opening 500) must open in 2025, and then nothing need
    wait: 500."""
    h2 = [{"id": "H2", "capacity_t": 100, "opening_cost": 500, "lane": 0}]
    roomy = _solve(plant_instance(tmp_path / "roomy", {2025: 150, 2026: 50}, h2, [2025, 2026],
                                  tables=_storage(1000, 1.0), stock={"allowed": True}))
    assert roomy.objective == pytest.approx(50.0)
    assert not bool(_fac(roomy, "H2", 2025)["open"])
    assert roomy["stock"].set_index("period")["stock_t"][2025] == pytest.approx(50.0)

    capped = _solve(plant_instance(tmp_path / "capped", {2025: 150, 2026: 50}, h2, [2025, 2026],
                                   tables=_storage(20, 1.0), stock={"allowed": True}))
    assert capped.objective == pytest.approx(500.0)
    assert bool(_fac(capped, "H2", 2025)["open"])
    assert capped["stock"]["stock_t"].sum() == pytest.approx(0.0)
    assert capped["stock"]["cap_t"].tolist() == [20.0, 20.0]


def test_stock_cap_without_a_second_site_is_infeasible(tmp_path: Path) -> None:
    """As above without H2: 150 t in 2025 against 100 t/yr of P and 20 t of room: infeasible."""
    folder = plant_instance(tmp_path, {2025: 150, 2026: 50}, [], [2025, 2026], tables=_storage(20, 1.0),
                            stock={"allowed": True})
    assert no.solve(folder).status == "infeasible"


def test_stock_needs_one_year_operating_years(tmp_path: Path) -> None:
    folder = plant_instance(tmp_path, {2025: 10}, [], [{"year": 2025, "length": 2}], tables=_storage(10, 1.0),
                            stock={"allowed": True})
    with pytest.raises(InputError) as err:
        no.load(folder)
    assert "stock.allowed" in str(err.value) and "2025 stands for 2 years" in str(err.value)


def test_black_mass_waits_at_the_preprocessor(tmp_path: Path) -> None:
    """Packs go to the existing pre-processor B (black-mass yield 0.5, 100 t/yr) in the year they
    arise: 100 t in 2025 and 2026, so 50 t/yr of black mass. The existing refiner D takes at most
    25 t/yr at 8/t; the candidate refiner E (75 t/yr, free lane, fixed 300/yr) costs 600 from 2025,
    300 from 2026. Black mass may wait at B (2/(t yr); none may be left at the horizon's end: no end
    value). E from 2025: 600. E from 2026 with x t of 2025's black mass waiting: 2025 D takes 50 - x;
    2026 E takes min(75, 50 + x), D the rest: for x <= 25, 300 + 8 (50 - x) + 2 x = 700 - 6 x; for
    x > 25, 500 + 2 x: best x = 25, 550. Without E the 2026 excess has nowhere to go."""
    data = {
        "sites": [site("C", "collection_point"), site("SB", "facility"), site("SD", "facility"),
                  site("SE", "facility")],
        **one_material_tables(periods=(2025, 2026)),
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10, "black_mass_kg_per_t": 20}],
        "supply": [{"site": "C", "period": p, "chemistry": "X", "tonnes": 100} for p in (2025, 2026)],
        "technologies": [{"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.2, "black_mass_yield": 0.5},
                         {"id": "HYD", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "HYD", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "B", "site": "SB", "kind": "preprocessor", "technology": "MECH", "status": "existing"},
            {"id": "D", "site": "SD", "kind": "refiner", "technology": "HYD", "status": "existing"},
            {"id": "E", "site": "SE", "kind": "refiner", "technology": "HYD", "status": "candidate"},
        ],
        "facility_levels": [{"facility": "B", "level": "a", "capacity_t": 100},
                            {"facility": "D", "level": "a", "capacity_t": 25},
                            {"facility": "E", "level": "a", "capacity_t": 75, "fixed_cost_per_year": 300}],
        "lanes": lanes(("C", "SB", 0), ("SB", "SD", 8), ("SB", "SE", 0)),
        "storage": [{"site": "SB", "cap_t": 100, "holding_cost_per_t_year": 2}],
    }
    sol = _solve(write_instance(tmp_path, data, periods=[2025, 2026], stock={"allowed": True}))
    assert sol.objective == pytest.approx(550.0)
    assert not bool(_fac(sol, "E", 2025)["open"]) and bool(_fac(sol, "E", 2026)["open"])
    st = sol["stock"].set_index(["kind", "holder", "period"])["stock_t"]
    assert st[("black_mass", "B", 2025)] == pytest.approx(25.0)
    assert _into(sol, "E")[2026] == pytest.approx(75.0)


# --- 3. ramp-up -------------------------------------------------------------------------------

RAMP = {"ramp_up": [{"technology": "T", "year": 1, "usable_share": 0.5, "source": "test"},
                    {"technology": "T", "year": 2, "usable_share": 0.8, "source": "test"}]}
H_NEAR = [{"id": "H", "capacity_t": 100, "opening_cost": 100, "lane": 0}]


def test_ramp_up_in_the_first_years(tmp_path: Path) -> None:
    """100 t/yr in 2025-2027, one investment period operated yearly. P (existing, same technology,
    not ramped) is far: 10/t, 1000 t/yr. H (100 t/yr, opening 100) is near but usable at 50 % in
    its first year and 80 % in its second: P takes 50 t, 20 t, 0 t: 100 + 700 = 800 (without
    ramp-up: 100)."""
    folder = plant_instance(tmp_path / "ramp", {2025: 100, 2026: 100, 2027: 100}, H_NEAR,
                            [{"year": 2025, "length": 3, "operations": "yearly"}], p_capacity=1000, p_lane=10,
                            tables=RAMP)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(800.0)
    assert [_fac(sol, "H", y)["usable_capacity_t"] for y in (2025, 2026, 2027)] == pytest.approx([50, 80, 100])
    assert [_fac(sol, "H", y)["capacity_t"] for y in (2025, 2026, 2027)] == pytest.approx([100, 100, 100])
    assert _into(sol, "P").tolist() == pytest.approx([50.0, 20.0])
    assert _fac(sol, "P", 2025)["usable_capacity_t"] == pytest.approx(1000.0)
    plain = _solve(plant_instance(tmp_path / "plain", {2025: 100, 2026: 100, 2027: 100}, H_NEAR,
                                  [{"year": 2025, "length": 3, "operations": "yearly"}], p_capacity=1000,
                                  p_lane=10))
    assert plain.objective == pytest.approx(100.0)


def test_ramp_up_counts_from_the_period_of_opening(tmp_path: Path) -> None:
    """Investment periods 2025 and 2026 (one year each), supply 50 t in 2025 and 100 t in 2026; P
    (50 t/yr) takes 2025's. H (opening 100, fixed 10/yr) opened in 2026 is in its first year there:
    usable 50 t, with P's 50 t just enough: 100 + 10 = 110 (opening it in 2025 would cost 120)."""
    h = [{**H_NEAR[0], "fixed_cost_per_year": 10}]
    folder = plant_instance(tmp_path, {2025: 50, 2026: 100}, h, [2025, 2026], p_capacity=50, tables=RAMP)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(110.0)
    assert not bool(_fac(sol, "H", 2025)["open"])
    assert _fac(sol, "H", 2026)["usable_capacity_t"] == pytest.approx(50.0)


def test_ramp_up_infeasible_when_the_first_year_needs_full_capacity(tmp_path: Path) -> None:
    """P holds 50 t/yr; 100 t in 2025; H's first year gives 50 t: 100 t fit exactly. With 101 t:
    infeasible, though H's nominal 100 t/yr plus P's 50 would suffice."""
    ok = plant_instance(tmp_path / "ok", {2025: 100}, H_NEAR, [2025], p_capacity=50, tables=RAMP)
    assert _solve(ok).objective == pytest.approx(100.0)
    tight = plant_instance(tmp_path / "tight", {2025: 101}, H_NEAR, [2025], p_capacity=50, tables=RAMP)
    assert no.solve(tight).status == "infeasible"


def test_ramp_up_of_a_mean_operating_year(tmp_path: Path) -> None:
    """One mean operating year 2025 standing for 2 years: H is usable at the mean of 50 % and 80 %,
    65 t/yr; P (far, 10/t) takes 35 t/yr for 2 years: 100 + 700 = 800."""
    folder = plant_instance(tmp_path, {2025: 100}, H_NEAR, [{"year": 2025, "length": 2}], p_capacity=1000,
                            p_lane=10, tables=RAMP)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(800.0)
    assert _fac(sol, "H", 2025)["usable_capacity_t"] == pytest.approx(65.0)


# --- 4. the end of the horizon ----------------------------------------------------------------

def _end_effect(folder: Path, years: list[int], opening: str) -> Any:
    """50 t in 2025, 100 t/yr from 2026. P (existing, 50 t/yr, free) and a far existing plant F
    (12/t, 1000 t/yr); candidate H (50 t/yr, free lane, opening 1000). ``opening``: upfront or
    annualised (rate 0, lifetime 10: 100 per year from opening)."""
    supply = {y: (50.0 if y == 2025 else 100.0) for y in years}
    data_h = [{"id": "H", "capacity_t": 50, "opening_cost": 1000, "lane": 0},
              {"id": "F", "capacity_t": 1000, "opening_cost": 0, "lane": 12}]
    folder = plant_instance(folder, supply, data_h, years, p_capacity=50,
                            investment={"opening_cost": opening, "interest_rate": 0.0, "lifetime_years": 10})
    fac = (folder / "facilities.csv").read_text().replace("F,SF,recycler,T,candidate", "F,SF,recycler,T,existing")
    (folder / "facilities.csv").write_text(fac)
    return _solve(folder)


def test_horizon_extended_by_a_year_that_changes_nothing(tmp_path: Path) -> None:
    """Annualised opening costs: H costs 100 per year from its opening against 600 per year of
    shipping the 50 t excess to F, so it opens in 2026 whatever the horizon. 2025-2026: 100;
    2025-2027 (2027 repeats 2026): 100 + 100. The plan of 2025-2026 is the same.

    Upfront (the default): over 2025-2026 H would cost 1000 for one year of use against 600: F
    takes the excess; over 2025-2027, 1000 < 1200: H opens. The plan of 2026 depends on the
    horizon -- the end effect the annuity removes."""
    short = _end_effect(tmp_path / "a2", [2025, 2026], "annualised")
    long = _end_effect(tmp_path / "a3", [2025, 2026, 2027], "annualised")
    assert short.objective == pytest.approx(100.0)
    assert long.objective == pytest.approx(200.0)
    plan = ["facility", "period", "open", "level", "capacity_t", "throughput_t"]
    first = long["facilities"].loc[long["facilities"]["period"] <= 2026, plan].reset_index(drop=True)
    pd.testing.assert_frame_equal(short["facilities"][plan], first)
    assert bool(_fac(short, "H", 2026)["open"]) and not bool(_fac(short, "H", 2025)["open"])

    short_up = _end_effect(tmp_path / "u2", [2025, 2026], "upfront")
    long_up = _end_effect(tmp_path / "u3", [2025, 2026, 2027], "upfront")
    assert short_up.objective == pytest.approx(600.0)
    assert not bool(_fac(short_up, "H", 2026)["open"])
    assert long_up.objective == pytest.approx(1000.0)
    assert bool(_fac(long_up, "H", 2026)["open"])


def cascade_end(folder: Path, years: list[int], value: float | None, rate: float = 0.0) -> Any:
    """10 t of fit packs at C in 2025 only. Refurbisher R (existing, 60/t) sells them at 30/t (a
    market paying 0.375/kWh for 80 kWh/t); they return a year later and are recycled at the existing
    P (50/t), or are recycled at P at once. With ``value``, packs after the horizon are valued at
    that per tonne (-50: recycling at P, their expected net recycling value)."""
    tables = {
        "sites": [site("C", "collection_point"), site("SR", "facility"), site("SP", "facility"), site("MK", "market")],
        **one_material_tables(periods=tuple(years)),
        "supply": [{"site": "C", "period": 2025, "chemistry": "X", "tonnes": 10, "fit_share": 1.0}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "R", "site": "SR", "kind": "refurbisher", "technology": "", "status": "existing",
             "variable_cost_per_t": 60},
            {"id": "P", "site": "SP", "kind": "recycler", "technology": "T", "status": "existing",
             "variable_cost_per_t": 50},
        ],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 100},
                            {"facility": "P", "level": "a", "capacity_t": 100}],
        "markets": [{"id": "M", "site": "MK", "application": "telecom_backup", "chemistries": "X"}],
        "market_demand": [{"market": "M", "period": y, "demand_kwh": 1e6, "price_per_kwh": 0.375} for y in years],
        "second_life_returns": [{"application": "telecom_backup", "after_years": 1, "share": 1.0}],
        "lanes": lanes(("C", "SR", 0), ("C", "SP", 0), ("SR", "MK", 0), ("MK", "SP", 0)),
    }
    if value is not None:
        tables["end_values"] = [{"chemistry": "X", "commodity": "eol_packs", "value_per_t": value, "source": "test"}]
    return _solve(write_instance(folder, tables, periods=years, discount_rate=rate))


def test_returns_after_the_horizon_are_valued(tmp_path: Path) -> None:
    """Horizon 2025. Recycling at once: 10 x 50 = 500. Second life: 10 x 60 - 10 x 30 = 300, and the
    packs come back in 2026, after the horizon. Without end values (the default) second life looks
    cheaper (300). Valued at -50/t they cost 500 more: 800 > 500, so they are recycled at once --
    as the horizon 2025-2026 (where the returns are recycled in 2026 for 500) decides: 500 there
    too, the plan of 2025 unchanged."""
    plain = cascade_end(tmp_path / "plain", [2025], None)
    assert plain.objective == pytest.approx(300.0)
    assert _into(plain, "M").sum() == pytest.approx(10.0)
    valued = cascade_end(tmp_path / "valued", [2025], -50.0)
    assert valued.objective == pytest.approx(500.0)
    assert _into(valued, "P")[2025] == pytest.approx(10.0)
    assert _into(valued, "M").sum() == pytest.approx(0.0)
    longer = cascade_end(tmp_path / "longer", [2025, 2026], -50.0)
    assert longer.objective == pytest.approx(500.0)
    assert _into(longer, "P")[2025] == pytest.approx(10.0)


def test_end_value_of_returns_is_discounted_to_their_arrival(tmp_path: Path) -> None:
    """Rate 10 %, end value +40/t (packs worth recycling): second life now earns 30 - 60 = -30/t
    and the returns 40/1.1 = 36.36/t in 2026: 10 x (60 - 30 - 36.36) = -63.64 < 500 for recycling:
    second life. costs.csv: end_of_horizon in 2025 = -363.64."""
    sol = cascade_end(tmp_path, [2025], 40.0, rate=0.1)
    assert sol.objective == pytest.approx(10 * (60 - 30 - 40 / 1.1))
    costs = sol["costs"].set_index(["term", "period"])["value"]
    assert costs[("end_of_horizon", 2025)] == pytest.approx(-400 / 1.1)


@pytest.mark.parametrize(("value", "objective", "held"), [(-50.0, 500.0, 0.0), (-40.0, 450.0, 10.0)])
def test_stock_left_at_the_end_is_valued(tmp_path: Path, value: float, objective: float, held: float) -> None:
    """One year, 10 t at C; P recycles at 50/t (the lane is free). The packs may also stay at C to
    the horizon's end (holding 5/(t yr)), valued there at ``value`` per tonne: kept, they cost
    10 x 5 - 10 x value. Value -50: 550 > 500, recycled. Value -40: 450 < 500, kept."""
    folder = plant_instance(tmp_path, {2025: 10}, [], [2025], tables={
        **_storage(100, 5.0), "end_values": [{"chemistry": "X", "commodity": "eol_packs", "value_per_t": value}]},
        stock={"allowed": True}, p_cost=50)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(objective)
    assert sol["stock"]["stock_t"].sum() == pytest.approx(held)
    assert sol["stock"]["end_value"].sum() == pytest.approx(held * value)


def test_written_results_carry_stock_and_investment_period(tmp_path: Path) -> None:
    folder = plant_instance(tmp_path / "inst", {2025: 50, 2026: 50}, H_LATER, [2025, 2026], p_capacity=1000,
                            p_lane=100, tables=_storage(1000, 30.0), stock={"allowed": True})
    sol = _solve(folder)
    no.write_results(sol, tmp_path / "out")
    stock = pd.read_csv(tmp_path / "out" / "stock.csv")
    assert {"site", "period", "stock_t", "cap_t", "holding_cost"} <= set(stock.columns)
    fac = pd.read_csv(tmp_path / "out" / "facilities.csv")
    assert "investment_period" in fac.columns


def test_aggregation_pools_the_storage_of_a_cluster(tmp_path: Path) -> None:
    """Two collection points C and C2 at the same spot, 75 t each in 2025 and 0 in 2026 (so 150 t
    against P's 100 t/yr); each may hold 30 t at 1/(t yr) and 3/(t yr). Unaggregated: 30 t wait at C
    (cheaper) and 20 t at C2: 30 + 60 = 90. Clustered into one point the caps add up (60 t) at the
    cap-weighted mean cost 2/(t yr): 50 t wait, 100."""
    folder = plant_instance(tmp_path / "inst", {2025: 75, 2026: 0}, [], [2025, 2026], stock={"allowed": True},
                            transport={"max_lane_km": 100},  # lanes from coordinates too (all at one spot, free)
                            tables={"storage": [{"site": "C", "cap_t": 30, "holding_cost_per_t_year": 1},
                                                {"site": "C2", "cap_t": 30, "holding_cost_per_t_year": 3}]})
    sites = (folder / "sites.csv").read_text()
    (folder / "sites.csv").write_text(sites + sites.splitlines()[1].replace("C,C,", "C2,C2,", 1) + "\n")
    supply = (folder / "supply.csv").read_text()
    (folder / "supply.csv").write_text(supply + "".join(line.replace("C,", "C2,", 1) + "\n"
                                                        for line in supply.splitlines()[1:]))
    (folder / "lanes.csv").write_text((folder / "lanes.csv").read_text() + "C2,SP,,0\n")
    plain = _solve(folder)
    assert plain.objective == pytest.approx(90.0)
    assert mass_balance_errors(plain.tables) == []
    sol = no.solve(folder, aggregate=1)
    # the plan split back costs what the clustered one does (both points at one spot), but with stock
    # pooled B does not hold: no bound of the instance's optimum, so not proven optimal
    assert sol.status == "feasible" and sol.outcome.bound is None
    assert sol.objective == pytest.approx(100.0) == sol.summary["aggregation"]["objective_aggregated"]
    assert mass_balance_errors(sol.tables) == []  # the 2026 release stays at the cluster, 2025 split by supply
    stock = sol["stock"].set_index(["site", "period"])
    assert stock.loc[("agg-XX-1", 2025), "stock_t"] == pytest.approx(50.0)
    assert stock.loc[("agg-XX-1", 2025), "cap_t"] == pytest.approx(60.0)
