"""Multi-period build-out, cascade, two-echelon recycling and regulation: hand-solved cases.

Each docstring holds the arithmetic of the expected optimum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import lanes, one_material_tables, site, two_technology_tables, write_instance

import network_opt as no


def _solve(folder: Path, **kw: Any) -> Any:
    sol = no.solve(folder, **kw)
    assert sol.status == "optimal", sol.status
    return sol


def _fac(sol: Any, facility: str, period: int) -> Any:
    f = sol["facilities"]
    return f.loc[(f["facility"] == facility) & (f["period"] == period)].iloc[0]


def _with_table(folder: Path, name: str, text: str) -> Path:
    """``folder`` with ``name``.csv written from ``text`` and listed under ``tables:`` of instance.yaml."""
    (folder / f"{name}.csv").write_text(text)
    manifest = (folder / "instance.yaml").read_text().replace("tables:\n", f"tables:\n  {name}: {name}.csv\n")
    (folder / "instance.yaml").write_text(manifest)
    return folder


def growth_instance(folder: Path, supply: dict[int, float], levels: list[dict[str, Any]],
                    closing_cost: float | None = None, periods: list[Any] | None = None, **settings: Any) -> Path:
    """Existing plant P (100 t, 10/t, no fixed cost) and candidate H (levels given, 10/t)."""
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point"), site("S1", "facility"), site("S2", "facility")],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": p, "chemistry": "X", "tonnes": t} for p, t in supply.items()],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "P", "site": "S1", "kind": "recycler", "technology": "T", "status": "existing",
             "variable_cost_per_t": 10},
            {"id": "H", "site": "S2", "kind": "recycler", "technology": "T", "status": "candidate",
             "variable_cost_per_t": 10, "closing_cost": "" if closing_cost is None else closing_cost},
        ],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 100}]
        + [{"facility": "H", **lv} for lv in levels],
        "lanes": lanes(("C1", "S1", 0), ("C1", "S2", 0)),
    }
    return write_instance(folder, tables, periods=periods or sorted(supply), **settings)


H_ONE_LEVEL = [{"level": "a", "capacity_t": 100, "fixed_cost_per_year": 50, "opening_cost": 100}]


def test_facility_opened_in_year_two_stays_open(tmp_path: Path) -> None:
    """2025: 80 t fit P alone (800). 2026: 150 t needs H: opening 100 + fixed 50 + 1500 = 1650.
    2027: 50 t, but H stays open: fixed 50 + 500 = 550. Total 3000."""
    sol = _solve(growth_instance(tmp_path, {2025: 80, 2026: 150, 2027: 50}, H_ONE_LEVEL))
    assert sol.objective == pytest.approx(3000.0)
    assert [bool(_fac(sol, "H", p)["open"]) for p in (2025, 2026, 2027)] == [False, True, True]
    assert _fac(sol, "H", 2026)["investment"] == pytest.approx(100.0)


def test_facility_may_close_at_its_cost(tmp_path: Path) -> None:
    """As above, but H may close for 10: closing in 2027 saves its fixed 50, so 3000 - 50 + 10."""
    sol = _solve(growth_instance(tmp_path, {2025: 80, 2026: 150, 2027: 50}, H_ONE_LEVEL, closing_cost=10))
    assert sol.objective == pytest.approx(2960.0)
    assert bool(_fac(sol, "H", 2027)["closed"])
    assert not bool(_fac(sol, "H", 2027)["open"])


def test_expansion_by_level(tmp_path: Path) -> None:
    """H alone can take the supply beyond P's 100 t: 2025 needs 90 t more (S: 100 t), 2026 needs
    180 t more (L: 200 t). S then L costs 100 + 50 + (150 - 100) + 80 = 280; L from the start
    150 + 80 + 80 = 310. Processing (190 + 280) x 10 = 4700. Total 4980."""
    levels = [{"level": "S", "capacity_t": 100, "fixed_cost_per_year": 50, "opening_cost": 100},
              {"level": "L", "capacity_t": 200, "fixed_cost_per_year": 80, "opening_cost": 150}]
    sol = _solve(growth_instance(tmp_path, {2025: 190, 2026: 280}, levels))
    assert sol.objective == pytest.approx(4980.0)
    assert _fac(sol, "H", 2025)["level"] == "S"
    assert _fac(sol, "H", 2026)["level"] == "L"
    assert _fac(sol, "H", 2026)["investment"] == pytest.approx(50.0)


def test_capacity_never_shrinks_while_open(tmp_path: Path) -> None:
    """With L bought in 2025 for 190 t, H cannot go back to the cheaper S level in 2026."""
    levels = [{"level": "S", "capacity_t": 100, "fixed_cost_per_year": 10, "opening_cost": 0},
              {"level": "L", "capacity_t": 200, "fixed_cost_per_year": 80, "opening_cost": 0}]
    sol = _solve(growth_instance(tmp_path, {2025: 290, 2026: 150}, levels))
    assert _fac(sol, "H", 2026)["level"] == "L"
    # 2025: 80 + 2900; 2026: 80 + 1500
    assert sol.objective == pytest.approx(4560.0)


def test_modules_add_capacity(tmp_path: Path) -> None:
    """P (100 t) plus up to 2 modules of 50 t at 30 each (fixed 5/yr per module): 180 t needs two
    modules: 60 + 10 + 1800 = 1870."""
    folder = growth_instance(tmp_path, {2025: 180}, H_ONE_LEVEL)
    text = (folder / "facilities.csv").read_text()
    header, p_row, h_row = text.strip().splitlines()
    (folder / "facilities.csv").write_text(
        f"{header},module_capacity_t,module_opening_cost,module_fixed_cost_per_year,max_modules\n"
        f"{p_row},50,30,5,2\n{h_row},0,0,0,0\n")
    sol = _solve(folder)
    assert sol.objective == pytest.approx(1870.0)
    p = _fac(sol, "P", 2025)
    assert p["modules"] == 2
    assert p["capacity_t"] == pytest.approx(200.0)


def test_discounting(tmp_path: Path) -> None:
    """Rate 10%; periods 2025 (1 year) and 2026 (2 years, weight 1/1.1 + 1/1.21). 2025: 100 t at
    10 = 1000. 2026: 150 t needs H, opening 110 paid at the start of 2026 (110/1.1 = 100), no
    fixed cost; 1500/yr for 2 discounted years = 1500 x 1.7355372 = 2603.3058. Total 3703.3058."""
    levels = [{"level": "a", "capacity_t": 100, "fixed_cost_per_year": 0, "opening_cost": 110}]
    periods = [{"year": 2025, "length": 1}, {"year": 2026, "length": 2}]
    sol = _solve(growth_instance(tmp_path, {2025: 100, 2026: 150}, levels, periods=periods, discount_rate=0.1))
    assert sol.objective == pytest.approx(1000 + 100 + 1500 * (1 / 1.1 + 1 / 1.21))


def test_annualised_opening_cost(tmp_path: Path) -> None:
    """Same, but the 110 opening cost is an annuity (rate 10%, 10 years: crf 0.16274539) paid in
    each year of 2026's period: 110 x 0.16274539 x 1.7355372 instead of 100."""
    levels = [{"level": "a", "capacity_t": 100, "fixed_cost_per_year": 0, "opening_cost": 110}]
    periods = [{"year": 2025, "length": 1}, {"year": 2026, "length": 2}]
    folder = growth_instance(tmp_path, {2025: 100, 2026: 150}, levels, periods=periods, discount_rate=0.1,
                             investment={"opening_cost": "annualised", "interest_rate": 0.1, "lifetime_years": 10})
    sol = _solve(folder)
    crf = 0.1 * 1.1**10 / (1.1**10 - 1)
    weight = 1 / 1.1 + 1 / 1.21
    assert sol.objective == pytest.approx(1000 + 110 * crf * weight + 1500 * weight)
    costs = sol["costs"].set_index(["term", "period"])["value"]
    assert costs[("opening", 2026)] == pytest.approx(110 * crf * weight)


# --- the cascade ----------------------------------------------------------------------------

def cascade_instance(folder: Path, supply: dict[int, float], after_years: int = 2,
                     grades: bool = False) -> Path:
    """Fit packs at C1 go to an existing refurbisher R (free) and sell at 1/kWh (100 kWh/t x 0.8 =
    80/t) to a telecom market; they return after ``after_years`` to the existing recycler P (10/t)."""
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point"), site("S1", "facility"), site("S2", "facility"),
                  site("MK", "market")],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": p, "chemistry": "X", "tonnes": t, "fit_share": 1.0}
                   for p, t in supply.items()],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "R", "site": "S1", "kind": "refurbisher", "technology": "", "status": "existing"},
            {"id": "P", "site": "S2", "kind": "recycler", "technology": "T", "status": "existing",
             "variable_cost_per_t": 10},
        ],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 1000},
                            {"facility": "P", "level": "a", "capacity_t": 1000}],
        "markets": [{"id": "M", "site": "MK", "application": "telecom_backup", "chemistries": "X"}],
        "market_demand": [{"market": "M", "period": p, "demand_kwh": 1e6, "price_per_kwh": 1.0}
                          for p in sorted(supply)],
        "second_life_returns": [{"application": "telecom_backup", "after_years": after_years, "share": 1.0}],
        "lanes": lanes(("C1", "S1", 0), ("C1", "S2", 0), ("S1", "MK", 0), ("MK", "S2", 0)),
    }
    return write_instance(folder, tables, periods=sorted(supply))


def test_returns_arrive_after_the_second_life_and_are_recycled(tmp_path: Path) -> None:
    """100 t sold in 2025 return in 2027 (recycled at 10/t: 1000); 50 t sold in 2027 return in
    2029, beyond the horizon. Revenue 150 t x 80 = 12000. Objective -11000."""
    sol = _solve(cascade_instance(tmp_path, {2025: 100, 2026: 0, 2027: 50}))
    assert sol.objective == pytest.approx(-11000.0)
    returns = sol["flows"].query("commodity == 'returns'")
    assert returns["period"].tolist() == [2027]
    assert returns["tonnes"].sum() == pytest.approx(100.0)
    cascade = sol["cascade"]
    back = cascade.set_index(["period_sold", "return_period"])["tonnes_returning"]
    assert back[(2025, "2027")] == pytest.approx(100.0)
    assert back[(2027, "beyond")] == pytest.approx(50.0)


def test_returns_into_multi_year_periods(tmp_path: Path) -> None:
    """Periods 2025 (5 years) and 2030 (5 years); packs return after 3 years. A sale of 10 t/yr in
    2025-2029 returns in 2028-2032: 2 years' worth (20 t) within 2025's period (8 t/yr... here
    2028 and 2029, i.e. 20 t over 5 years = 4 t/yr) and 30 t in 2030-2032 (6 t/yr)."""
    folder = cascade_instance(tmp_path, {2025: 10, 2030: 0})
    text = (folder / "instance.yaml").read_text().replace(
        "- 2025\n- 2030", "- {year: 2025, length: 5}\n- {year: 2030, length: 5}")
    (folder / "instance.yaml").write_text(text)
    (folder / "second_life_returns.csv").write_text("application,after_years,share\ntelecom_backup,3,1.0\n")
    sol = _solve(folder)
    rt = sol["flows"].query("commodity == 'returns'").set_index("period")["tonnes"]
    assert rt[2025] == pytest.approx(4.0)
    assert rt[2030] == pytest.approx(6.0)
    # cascade.csv: 10 t/yr sold in 2025-2029 is 50 t; 20 t return in 2025's period, 30 t in 2030's
    cascade = sol["cascade"].set_index("return_period")
    assert cascade["tonnes_sold"].tolist() == pytest.approx([10.0, 10.0])
    assert cascade["tonnes_sold_total"].tolist() == pytest.approx([50.0, 50.0])
    assert cascade.at["2025", "tonnes_returning"] == pytest.approx(20.0)
    assert cascade.at["2030", "tonnes_returning"] == pytest.approx(30.0)


def graded_instance(folder: Path) -> Path:
    """Grades A (>80%, usable 0.9), B (60-80%), C (<60%, recycling only). The market accepts A
    only. 50 t of A and 50 t of B at C1."""
    folder = cascade_instance(folder, {2025: 0})
    (folder / "grades.csv").write_text("id,name,soh_min,soh_max,usable_soh,second_life\n"
                                       "A,>80%,0.8,1.0,0.9,true\nB,60-80%,0.6,0.8,0.7,true\nC,<60%,0,0.6,,false\n")
    (folder / "supply.csv").write_text("site,period,chemistry,grade,tonnes\nC1,2025,X,A,50\nC1,2025,X,B,50\n")
    (folder / "markets.csv").write_text("id,site,application,chemistries,grades\nM,MK,telecom_backup,X,A\n")
    text = (folder / "instance.yaml").read_text().replace("tables:\n", "tables:\n  grades: grades.csv\n")
    (folder / "instance.yaml").write_text(text)
    return folder


def test_grade_no_application_accepts_goes_to_recycling(tmp_path: Path) -> None:
    """A: 50 t x 100 kWh/t x 0.9 = 4500 revenue. B has no buyer: recycled at 10/t = 500. -4000."""
    sol = _solve(graded_instance(tmp_path))
    flows = sol["flows"]
    to_recycler = flows.query("commodity == 'eol_packs' and destination == 'P'")
    assert to_recycler.set_index("grade")["tonnes"].to_dict() == pytest.approx({"B": 50.0})
    assert sol.objective == pytest.approx(-4000.0)


# --- targets over time, bans, soft targets, shadow prices ------------------------------------

def two_tech(folder: Path, periods: list[int], targets: list[dict[str, Any]] | None = None,
             **settings: Any) -> Path:
    """100 t of X (10 kg Li/t) per period: PYRO (10/t, Li 0, efficiency 0.5) or HYDRO (30/t,
    Li 0.9, efficiency 0.8), both existing."""
    tables = two_technology_tables(tuple(periods))
    if targets:
        tables["targets"] = targets
    return write_instance(folder, tables, periods=periods, **settings)


def _li(value: float, year: int) -> dict[str, Any]:
    return {"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": value,
            "from_period": year}


def _sent(sol: Any, facility: str, period: int) -> float:
    f = sol["flows"]
    return float(f.loc[(f["destination"] == facility) & (f["period"] == period), "tonnes"].sum())


def test_tightening_lithium_target_switches_technology_in_its_first_year(tmp_path: Path) -> None:
    """No Li target in 2027 (all PYRO, 1000); Li >= 0.5 from 2028: HYDRO takes 500/9 t (19000/9)."""
    sol = _solve(two_tech(tmp_path, [2027, 2028], [_li(0.5, 2028)]))
    assert _sent(sol, "H", 2027) == pytest.approx(0.0)
    assert _sent(sol, "H", 2028) == pytest.approx(500 / 9)
    assert sol.objective == pytest.approx(1000 + 19000 / 9)
    t = sol["targets"]
    assert t["period"].tolist() == [2028]


def test_later_target_row_replaces_the_earlier(tmp_path: Path) -> None:
    """Li 0.5 from 2028 and 0.8 from 2032: 2032 needs x_H = 80/0.9 t: 1000 + 2000 x 0.8/0.9."""
    sol = _solve(two_tech(tmp_path, [2028, 2032], [_li(0.5, 2028), _li(0.8, 2032)]))
    assert _sent(sol, "H", 2032) == pytest.approx(100 * 0.8 / 0.9)
    assert sol["targets"].set_index("period")["required"].to_dict() == {2028: 0.5, 2032: 0.8}


def test_soft_target_reports_the_exact_shortfall(tmp_path: Path) -> None:
    """Li 0.95 cannot be met (best yield 0.9): all 100 t go to HYDRO (3000); the shortfall is
    0.05 of the rate = 100 t x 10 kg/t x 0.05 = 0.05 t Li, penalised at 1e6/t: 53000."""
    sol = _solve(two_tech(tmp_path, [2025], [_li(0.95, 2025)]), soft_targets=True)
    row = sol["targets"].iloc[0]
    assert row["achieved"] == pytest.approx(0.9)
    assert row["shortfall"] == pytest.approx(0.05)
    assert row["shortfall_t"] == pytest.approx(0.05)
    assert not bool(row["met"])
    assert sol.objective == pytest.approx(3000 + 1e6 * 0.05)


def test_hard_target_that_cannot_be_met_is_infeasible(tmp_path: Path) -> None:
    assert no.solve(two_tech(tmp_path, [2025], [_li(0.95, 2025)])).status == "infeasible"


def test_shadow_price_equals_the_hand_computed_marginal_cost(tmp_path: Path) -> None:
    """x_H = 100 rho / 0.9, cost = 1000 + 20 x_H, so d cost / d rho = 2000 / 0.9 = 2222.2."""
    sol = _solve(two_tech(tmp_path, [2025], [_li(0.5, 2025)]))
    assert sol["targets"].iloc[0]["shadow_price"] == pytest.approx(2000 / 0.9)


def test_slack_target_has_zero_shadow_price(tmp_path: Path) -> None:
    sol = _solve(two_tech(tmp_path, [2025], [{"jurisdiction": "XX", "metric": "recycling_efficiency",
                                              "material": "", "value": 0.4, "from_period": 2025}]))
    assert sol["targets"].iloc[0]["shadow_price"] == pytest.approx(0.0)


def test_a_plan_within_the_integrality_tolerance_is_priced(tmp_path: Path) -> None:
    """HiGHS 1.16's optimum of this generated instance holds F0002's 30 kt level at 1 - 8.5e-7 and its
    100 kt level at 8.5e-7 in 2027, filling the 21,160 t level with 21,160.018 t; fixed exactly at the
    rounded levels, the shadow-price LP is infeasible (the prices were NaN before 2026-12-07). Priced
    again within HiGHS's integrality tolerance, each target gets a price: here 0, both not binding."""
    from network_opt.datasets.generate import GeneratorSpec, generate

    folder = generate(tmp_path / "gen", GeneratorSpec(seed=1, collection_points=16, candidates=4, periods=2,
                                                      chemistries=2, markets=2, max_lane_km=6000))
    sol = no.solve(folder, no.SolveOptions(mip_gap=0.0))
    fac = sol["facilities"]
    row = fac.loc[(fac["facility"] == "F0002") & (fac["period"] == 2027)]
    # the case: a level filled past its rounded capacity (if HiGHS's plan changes, pick another case)
    assert float(row["throughput_t"].iloc[0]) > float(row["capacity_t"].iloc[0]) + 0.01
    targets = sol["targets"]
    assert len(targets) == 2 and targets["shadow_price"].notna().all(), targets["shadow_price_note"].tolist()
    assert (targets["shadow_price"] == 0.0).all()


def test_cost_of_compliance(tmp_path: Path) -> None:
    sol = _solve(two_tech(tmp_path, [2025], [_li(0.5, 2025)]), compliance=True)
    row = sol["compliance"].iloc[0]
    assert row["objective_without"] == pytest.approx(1000.0)
    assert row["cost_of_compliance"] == pytest.approx(19000 / 9 - 1000)
    # the reported plan is still the one with the target
    assert _sent(sol, "H", 2025) == pytest.approx(500 / 9)


def test_domestic_recovery_target(tmp_path: Path) -> None:
    """0.45 t of Li recovered in XX: HYDRO recovers 0.009 t per t, so 50 t: 500 + 1500 = 2000."""
    target = [{"jurisdiction": "XX", "metric": "domestic_recovery", "material": "Li", "value": 0.45,
               "from_period": 2025}]
    sol = _solve(two_tech(tmp_path, [2025], target))
    assert sol.objective == pytest.approx(2000.0)
    assert sol["targets"].iloc[0]["achieved"] == pytest.approx(0.45)


def test_carbon_price_and_emissions_cap(tmp_path: Path) -> None:
    """Process emissions PYRO 1.0, HYDRO 0.2 t CO2e/t. At 50/t CO2e, PYRO costs 60/t and HYDRO
    40/t: all HYDRO, 3000 + 20 t x 50 = 4000. With a 60 t cap and no price: 0.8 x_P <= 40, so
    50 t each: 500 + 1500 = 2000."""
    sol = _solve(two_tech(tmp_path / "price", [2025], emissions={"carbon_price": 50}))
    assert sol.objective == pytest.approx(4000.0)
    assert sol["emissions"].iloc[0]["co2e_t"] == pytest.approx(20.0)
    sol = _solve(two_tech(tmp_path / "cap", [2025], emissions={"cap_t": 60}))
    assert sol.objective == pytest.approx(2000.0)
    assert sol["emissions"].iloc[0]["co2e_t"] == pytest.approx(60.0)


def test_landfill_ban_from_its_year(tmp_path: Path) -> None:
    """Disposal at 4/t beats recycling at 10/t until a landfill ban starts in 2026:
    2025 400, 2026 1000."""
    folder = _with_table(two_tech(tmp_path, [2025, 2026], disposal={"allowed": True, "cost_per_t": 4}), "bans",
                         "kind,jurisdiction,from_period\nlandfill,XX,2026\n")
    sol = _solve(folder)
    assert sol.objective == pytest.approx(1400.0)


def test_second_life_priority_target(tmp_path: Path) -> None:
    """Low second-life price (0.05/kWh): recycling (net 10/t, 1000 in all) beats opening the
    refurbisher F (fixed 1000). A 0.5 second-life priority forces F open; once it is open, a tonne
    refurbished nets -10 + 80 x 0.05 = -6 against recycling's -10, so all 100 t go to second
    life: 1000 + 100 x 10 - 100 x 4 = 1600."""
    from test_model_hand_solved import second_life_instance

    folder = second_life_instance(tmp_path, price_per_kwh=0.05)
    _with_table(folder, "targets",
                "jurisdiction,metric,material,value,from_period\nXX,second_life_priority,,0.5,2025\n")
    sol = _solve(folder)
    assert sol.objective == pytest.approx(1600.0)
    assert sol["targets"].iloc[0]["achieved"] == pytest.approx(1.0)


def test_application_ban_blocks_sales(tmp_path: Path) -> None:
    """An e-bike market banned in XX (as China's 2026 measures): the packs are recycled (1000)."""
    from test_model_hand_solved import second_life_instance

    folder = second_life_instance(tmp_path, price_per_kwh=1.0)
    (folder / "markets.csv").write_text("id,site,application,chemistries\nM,MK,e_bike,X\n")
    _with_table(folder, "bans", "kind,jurisdiction,application,from_period\napplication,XX,e_bike,2025\n")
    assert _solve(folder).objective == pytest.approx(1000.0)


# --- two echelons and export bans -------------------------------------------------------------

def two_echelon_instance(folder: Path, ban: bool, periods: tuple[int, ...] = (2025,),
                         bans: list[dict[str, Any]] | None = None) -> Path:
    """100 t of X in DE each period go to pre-processor B in DE (black mass yield 0.5, free). The 50 t
    of black mass are refined in CN (10/t, 500) or in DE (30/t, 1500). An EU black-mass export ban to
    non-OECD countries forces DE; ``bans`` are further rows of bans.csv."""
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point", "DE"), site("SB", "facility", "DE"),
                  site("SD", "facility", "DE"), site("SC", "facility", "CN")],
        "jurisdictions": [{"id": "DE", "groups": "EU27;OECD"}, {"id": "CN", "groups": ""}],
        **one_material_tables(periods=periods),
        "supply": [{"site": "C1", "period": p, "chemistry": "X", "tonnes": 100} for p in periods],
        "technologies": [{"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.3, "black_mass_yield": 0.5},
                         {"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "B", "site": "SB", "kind": "preprocessor", "technology": "MECH", "status": "existing"},
            {"id": "RDE", "site": "SD", "kind": "refiner", "technology": "HYDRO", "status": "existing",
             "variable_cost_per_t": 30},
            {"id": "RCN", "site": "SC", "kind": "refiner", "technology": "HYDRO", "status": "existing",
             "variable_cost_per_t": 10},
        ],
        "facility_levels": [{"facility": f, "level": "a", "capacity_t": 1000} for f in ("B", "RDE", "RCN")],
        "lanes": lanes(("C1", "SB", 0), ("SB", "SD", 0), ("SB", "SC", 0)),
    }
    rows = list(bans or [])
    if ban:
        rows.append({"kind": "export", "jurisdiction": "EU27", "commodity": "black_mass", "to": "not:OECD",
                     "from_period": 2025})
    if rows:
        tables["bans"] = rows
    return write_instance(folder, tables, periods=list(periods))


def test_black_mass_goes_to_the_cheapest_refiner(tmp_path: Path) -> None:
    sol = _solve(two_echelon_instance(tmp_path, ban=False))
    bm = sol["flows"].query("commodity == 'black_mass'")
    assert bm.set_index("destination")["tonnes"].to_dict() == pytest.approx({"RCN": 50.0})
    assert sol.objective == pytest.approx(500.0)


def test_export_ban_changes_the_route(tmp_path: Path) -> None:
    sol = _solve(two_echelon_instance(tmp_path, ban=True))
    bm = sol["flows"].query("commodity == 'black_mass'")
    assert bm.set_index("destination")["tonnes"].to_dict() == pytest.approx({"RDE": 50.0})
    assert sol.objective == pytest.approx(1500.0)


def test_import_ban_holds_in_its_window_only(tmp_path: Path) -> None:
    """China's import ban on black mass (in force 2021 to 2026 here): in 2025 and 2026 the 50 t are
    refined in DE (1500 each), in 2027 in CN (500): 3500. Without the ban: 3 x 500 = 1500."""
    ban = {"kind": "import", "jurisdiction": "CN", "commodity": "black_mass", "from_period": 2021,
           "until_period": 2026}
    periods = (2025, 2026, 2027)
    sol = _solve(two_echelon_instance(tmp_path / "ban", ban=False, periods=periods, bans=[ban]))
    bm = sol["flows"].query("commodity == 'black_mass'")
    assert bm.groupby(["period", "destination"])["tonnes"].sum().to_dict() == pytest.approx(
        {(2025, "RDE"): 50.0, (2026, "RDE"): 50.0, (2027, "RCN"): 50.0})
    assert sol.objective == pytest.approx(3500.0)
    assert _solve(two_echelon_instance(tmp_path / "free", ban=False, periods=periods)).objective == pytest.approx(
        1500.0)


def test_import_ban_spares_flows_inside_the_jurisdiction(tmp_path: Path) -> None:
    """An import ban of DE's group EU27 forbids nothing here (every flow starts in DE), and one on the
    eol_packs entering CN forbids nothing either (only black mass goes there): 500, as without bans."""
    bans = [{"kind": "import", "jurisdiction": "EU27", "commodity": "black_mass", "from_period": 2025},
            {"kind": "import", "jurisdiction": "CN", "commodity": "eol_packs", "from_period": 2025}]
    assert _solve(two_echelon_instance(tmp_path, ban=False, bans=bans)).objective == pytest.approx(500.0)


def test_ban_windows_checked_against_the_modelled_years(tmp_path: Path) -> None:
    """A ban in force only in 2026 with mean-operated periods 2025 and 2027 (two years each) bans
    nothing: a warning says so. A preset's ban changed into an empty window by a scenario is named
    by the policies entry of instance.yaml, not by a row 0 of bans.csv."""
    from network_opt.inputs.overrides import Origin, Override, apply_overrides
    from network_opt.inputs.validate import check_instance

    periods = [{"year": 2025, "length": 2}, {"year": 2027, "length": 2}]
    folder = two_echelon_instance(tmp_path, ban=False, periods=(2025, 2027), bans=[
        {"kind": "import", "jurisdiction": "CN", "commodity": "black_mass", "from_period": 2026, "until_period": 2026}])
    text = (folder / "instance.yaml").read_text()
    (folder / "instance.yaml").write_text(text.replace("periods:\n- 2025\n- 2027\n",
                                                       f"periods: {periods}\n".replace("'", "")))
    inst = no.load(folder)
    idle = [p for p in check_instance(inst) if p.column == "until_period"]
    assert [(p.file, p.row, p.severity) for p in idle] == [("bans.csv", 2, "warning")]
    assert "holds no modelled year (2025, 2027): the ban forbids nothing" in idle[0].message
    assert _solve(folder).objective == pytest.approx(2 * 2 * 500.0)  # refined in CN: 2 periods of 2 years
    text = (folder / "instance.yaml").read_text()
    (folder / "instance.yaml").write_text(text + "policies:\n  CN: [cn-solid-waste-imports]\n")
    (folder / "bans.csv").write_text("kind,jurisdiction,from_period\n")
    inst = no.load(folder)
    with pytest.raises(no.InputError) as info:
        apply_overrides(inst, [Override("set", "bans[import,CN,eol_packs].until_period", 2020,
                                        Origin("instance.yaml", 0, "scenario"))])
    text = str(info.value)
    assert "instance.yaml:" in text and "policies.CN" in text and "preset cn-solid-waste-imports, bans until_period" \
        in text and "bans.csv:0" not in text


def test_diagnosis_of_supply_an_export_ban_leaves_without_a_route(tmp_path: Path) -> None:
    """100 t (2025) and 40 t (2026) in DE whose only recycler is in CN, with eol_packs banned from DE to
    outside the OECD: infeasible, and the diagnosis names each supply row short by all its tonnes in
    its year (it said "short by 1 t/yr" for a row no flow could take)."""
    from network_opt.solver.diagnose import diagnose

    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point", "DE"), site("SC", "facility", "CN")],
        "jurisdictions": [{"id": "DE", "groups": "EU27;OECD"}, {"id": "CN", "groups": ""}],
        **one_material_tables(periods=(2025, 2026)),
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100},
                   {"site": "C1", "period": 2026, "chemistry": "X", "tonnes": 40}],
        "technologies": [{"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": "R", "site": "SC", "kind": "recycler", "technology": "HYDRO", "status": "existing"}],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "SC", 0)),
        "bans": [{"kind": "export", "jurisdiction": "DE", "commodity": "eol_packs", "to": "not:OECD",
                  "from_period": 2025}],
    }
    folder = write_instance(tmp_path, tables, periods=[2025, 2026])
    assert no.solve(folder).status == "infeasible"
    found = diagnose(folder)
    assert list(zip(found["period"], found["shortfall"], strict=True)) == [(2025, pytest.approx(100.0)),
                                                                          (2026, pytest.approx(40.0))]
    assert found["explanation"].iloc[0] == ("collection point C1 (X, grade unfit) has supply that no open route can "
                                            "take in 2025: short by 100 t/yr")


def test_landfill_ban_that_ends(tmp_path: Path) -> None:
    """A landfill ban in force in 2025 only (until_period 2025): recycling at 10/t in 2025 (1000),
    disposal at 4/t in 2026 (400): 1400."""
    folder = _with_table(two_tech(tmp_path, [2025, 2026], disposal={"allowed": True, "cost_per_t": 4}), "bans",
                         "kind,jurisdiction,from_period,until_period\nlandfill,XX,2020,2025\n")
    sol = _solve(folder)
    assert sol.objective == pytest.approx(1400.0)
    assert sol["collection"].groupby("period")["disposed_t"].sum().to_dict() == pytest.approx({2025: 0.0, 2026: 100.0})


def test_two_echelon_recovery_counts_for_the_collecting_jurisdiction(tmp_path: Path) -> None:
    """Black mass keeps DE attribution wherever it is refined. Li entering recycling: 100 t x 10
    kg/t = 1 t; black mass holds 18 kg Li/t x 50 t = 0.9 t, recovered at 0.9: 0.81 t, rate 0.81.
    Recycling efficiency: (0.3 x 100 + 0.8 x 50) / 100 = 0.7."""
    folder = two_echelon_instance(tmp_path, ban=False)
    (folder / "chemistry_materials.csv").write_text("chemistry,material,kg_per_t,black_mass_kg_per_t\nX,Li,10,18\n")
    (folder / "targets.csv").write_text("jurisdiction,metric,material,value,from_period\n"
                                        "DE,material_recovery,Li,0.5,2025\nDE,recycling_efficiency,,0.6,2025\n")
    text = (folder / "instance.yaml").read_text().replace("tables:\n", "tables:\n  targets: targets.csv\n")
    (folder / "instance.yaml").write_text(text)
    sol = _solve(folder)
    achieved = sol["targets"].set_index("metric")["achieved"]
    assert achieved["material_recovery"] == pytest.approx(0.81)
    assert achieved["recycling_efficiency"] == pytest.approx(0.7)


def test_policy_preset_rows_apply_and_can_be_overridden(tmp_path: Path) -> None:
    """The CN 2024 preset sets Li >= 0.9 on the smelting step of each hydro/pyro plant and 0.99 on
    direct ones (Ni/Co/Mn are left out: not modelled here, with a warning). An own targets.csv row
    with the same key (jurisdiction, metric, material, from_period, process) replaces the preset's:
    at 0 the plants' rows no longer bind and all packs go to the cheaper PYRO plant. A pooled own
    row (process empty) is another target: it adds to the preset's step rows instead."""
    folder = two_tech(tmp_path, [2025], policies={"XX": "cn-2024-standard-conditions"})
    inst = no.load(folder)
    t = inst["targets"]
    assert sorted(t.loc[t["material"] == "Li", "value"].tolist()) == [0.9, 0.99]
    assert any("left out" in str(w) for w in inst.warnings)
    sol = _solve(folder)
    assert _sent(sol, "H", 2025) == pytest.approx(100.0)  # Li 0.9 at P's step (yield 0): all at HYDRO
    (folder / "targets.csv").write_text("jurisdiction,metric,material,value,from_period,scope,process\n"
                                        "XX,material_recovery,Li,0.0,2025,step,hydrometallurgical|pyrometallurgical\n")
    text = (folder / "instance.yaml").read_text().replace("tables:\n", "tables:\n  targets: targets.csv\n")
    (folder / "instance.yaml").write_text(text)
    t = no.load(folder)["targets"]
    assert sorted(t.loc[t["material"] == "Li", "value"].tolist()) == [0.0, 0.99]
    sol = _solve(folder)
    assert _sent(sol, "H", 2025) == pytest.approx(0.0, abs=1e-6)
    (folder / "targets.csv").write_text("jurisdiction,metric,material,value,from_period\n"
                                        "XX,material_recovery,Li,0.5,2025\n")
    sol = _solve(folder)
    assert _sent(sol, "H", 2025) == pytest.approx(100.0)  # the preset's step row on P still holds


def test_diagnosis_of_missing_capacity(tmp_path: Path) -> None:
    """150 t at C1, whose only lane goes to P (100 t); H is out of reach. Validation passes (there
    is a route and enough capacity in all), the model is infeasible, and the elastic re-solve
    finds P 50 t/yr short."""
    from network_opt.solver.diagnose import diagnose

    folder = growth_instance(tmp_path, {2025: 150}, H_ONE_LEVEL)
    (folder / "lanes.csv").write_text("origin,destination,commodity,cost_per_t\nC1,S1,,0\n")
    findings = diagnose(folder)
    assert findings["constraint"].tolist() == ["facility_capacity"]
    assert findings.loc[0, "what"] == "facility P"
    assert findings.loc[0, "shortfall"] == pytest.approx(50.0)
    assert findings.loc[0, "period"] == 2025


def test_diagnosis_blames_the_smallest_violation(tmp_path: Path) -> None:
    """Li >= 0.5 needs 55.6 t at HYDRO, which holds 40 t. Raising the capacity would take 15.6 t;
    the target is short by 0.5 x 1 t - 0.9 x 0.4 t = 0.14 t of Li, the smaller violation."""
    from network_opt.solver.diagnose import diagnose

    folder = two_tech(tmp_path, [2025], [_li(0.5, 2025)])
    text = (folder / "facility_levels.csv").read_text().replace("H,a,1000", "H,a,40")
    (folder / "facility_levels.csv").write_text(text)
    findings = diagnose(folder)
    assert findings["constraint"].tolist() == ["target_material_recovery"]
    assert findings.loc[0, "shortfall"] == pytest.approx(0.14)


def test_diagnosis_of_a_feasible_instance_is_empty(tmp_path: Path) -> None:
    from network_opt.solver.diagnose import diagnose

    assert diagnose(growth_instance(tmp_path, {2025: 150}, H_ONE_LEVEL)).empty
