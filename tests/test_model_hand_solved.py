"""Micro instances whose optimum was worked out by hand (the arithmetic is in each docstring)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import lanes, one_material_tables, site, two_technology_tables, write_instance

import network_opt as no


def _solve(folder: Path) -> no.api.Solution:
    sol = no.solve(folder)
    assert sol.status == "optimal", sol.status
    return sol


def _open(sol: object, facility: str) -> bool:
    fac = sol["facilities"]  # type: ignore[index]
    return bool(fac.loc[fac["facility"] == facility, "open"].iloc[0])


def _level(sol: object, facility: str) -> str:
    fac = sol["facilities"]  # type: ignore[index]
    return str(fac.loc[fac["facility"] == facility, "level"].iloc[0])


# --- second life against recycling -------------------------------------------------------

def second_life_instance(folder: Path, price_per_kwh: float, test_yield: float = 1.0) -> Path:
    """100 t of chemistry X, all fit for second life, at C1.

    Second life: refurbisher F (candidate, fixed 1000/yr, 10/t) sells 100 t x 100 kWh/t x 0.8
    SoH = 8000 kWh to market M at ``price_per_kwh``. Recycling: existing plant P (20/t) earns
    10 kg Li/t x yield 1 x 1000/t = 10/t, so it costs a net 10/t = 1000 in all.
    Second life nets 8000 p - 1000 (fixed) - 1000 (processing): it wins iff p > 0.125.
    """
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility"), site("S2", "facility"),
                  site("MK", "market")],
        **one_material_tables(li_kg_per_t=10, li_price=1000),
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100, "fit_share": 1.0}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 1.0}],
        "facilities": [
            {"id": "F", "site": "S1", "kind": "refurbisher", "technology": "", "status": "candidate",
             "variable_cost_per_t": 10, "test_yield": test_yield},
            {"id": "P", "site": "S2", "kind": "recycler", "technology": "T", "status": "existing",
             "variable_cost_per_t": 20},
        ],
        "facility_levels": [
            {"facility": "F", "level": "one", "capacity_t": 200, "fixed_cost_per_year": 1000},
            {"facility": "P", "level": "one", "capacity_t": 200, "fixed_cost_per_year": 0},
        ],
        "markets": [{"id": "M", "site": "MK", "application": "energy_storage", "chemistries": "X"}],
        "market_demand": [{"market": "M", "period": 2025, "demand_kwh": 1e6, "price_per_kwh": price_per_kwh}],
        "lanes": lanes(("C1", "S1", 0), ("C1", "S2", 0), ("S1", "MK", 0), ("S1", "S2", 0)),
    }
    return write_instance(folder, tables)


def test_second_life_wins_when_its_price_is_high(tmp_path: Path) -> None:
    sol = _solve(second_life_instance(tmp_path, price_per_kwh=1.0))
    # 1000 fixed + 100 t x 10 processing - 8000 kWh x 1.0 = -6000
    assert sol.objective == pytest.approx(-6000.0)
    assert _open(sol, "F")
    sold = sol["flows"].query("commodity == 'second_life_packs'")["tonnes"].sum()
    assert sold == pytest.approx(100.0)


def test_recycling_wins_when_second_life_price_is_low(tmp_path: Path) -> None:
    sol = _solve(second_life_instance(tmp_path, price_per_kwh=0.05))
    # second life would net 8000 x 0.05 - 2000 = -1600 (a cost of 1600) > recycling's 1000
    assert sol.objective == pytest.approx(1000.0)
    assert not _open(sol, "F")
    assert sol["flows"].query("commodity == 'second_life_packs'").empty


def test_refurbisher_rejects_go_to_recycling(tmp_path: Path) -> None:
    """Test yield 0.8: of 100 t fit packs received, 80 t are sold and 20 t recycled.

    Objective: 1000 fixed + 100 t x 10 + 20 t x (20 - 10) - 80 t x 80 kWh x 1.0 = -4200.
    """
    sol = _solve(second_life_instance(tmp_path, price_per_kwh=1.0, test_yield=0.8))
    flows = sol["flows"].groupby("commodity")["tonnes"].sum()
    assert flows["second_life_packs"] == pytest.approx(80.0)
    assert flows["rejects"] == pytest.approx(20.0)
    assert sol.objective == pytest.approx(-4200.0)


# --- capacity levels ---------------------------------------------------------------------

def levels_instance(folder: Path, tonnes: float) -> Path:
    """One candidate recycler with levels S (100 t, 50/yr) and L (300 t, 120/yr); cost 1/t."""
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility")],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": tonnes}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": "P", "site": "S1", "kind": "recycler", "technology": "T", "status": "candidate",
                        "variable_cost_per_t": 1}],
        "facility_levels": [
            {"facility": "P", "level": "S", "capacity_t": 100, "fixed_cost_per_year": 50, "opening_cost": 5},
            {"facility": "P", "level": "L", "capacity_t": 300, "fixed_cost_per_year": 120, "opening_cost": 7},
        ],
        "lanes": lanes(("C1", "S1", 2)),
    }
    return write_instance(folder, tables)


def test_cheaper_level_is_chosen_when_enough(tmp_path: Path) -> None:
    sol = _solve(levels_instance(tmp_path, tonnes=80))
    assert _level(sol, "P") == "S"
    assert sol.objective == pytest.approx(5 + 50 + 80 * (1 + 2))  # 295


def test_larger_level_is_chosen_when_needed(tmp_path: Path) -> None:
    sol = _solve(levels_instance(tmp_path, tonnes=150))
    assert _level(sol, "P") == "L"
    assert sol.objective == pytest.approx(7 + 120 + 150 * 3)  # 577
    fac = sol["facilities"].iloc[0]
    assert fac["utilisation"] == pytest.approx(0.5)


# --- targets -----------------------------------------------------------------------------

def two_technology_instance(folder: Path, targets: list[dict] | None = None, jurisdiction: str = "XX",
                            groups: str = "") -> Path:
    """100 t of X (10 kg Li/t) must be recycled at PYRO (10/t, Li yield 0, efficiency 0.5) or
    HYDRO (30/t, Li yield 0.9, efficiency 0.8); both exist, no revenue."""
    tables = two_technology_tables(jurisdiction=jurisdiction, groups=groups)
    if targets:
        tables["targets"] = targets
    return write_instance(folder, tables)


def _sent(sol: object, facility: str) -> float:
    flows = sol["flows"]  # type: ignore[index]
    return float(flows.loc[flows["destination"] == facility, "tonnes"].sum())


def test_without_target_the_cheap_technology_takes_all(tmp_path: Path) -> None:
    sol = _solve(two_technology_instance(tmp_path))
    assert sol.objective == pytest.approx(1000.0)
    assert _sent(sol, "P") == pytest.approx(100.0)


def test_binding_lithium_target_forces_the_costlier_technology(tmp_path: Path) -> None:
    """Li recovery >= 0.5: -0.5 x_P + 0.4 x_H >= 0 and x_P + x_H = 100, so x_H = 500/9,
    x_P = 400/9 and the cost is (10 x 400 + 30 x 500) / 9 = 19000/9."""
    target = [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.5,
               "from_period": 2025}]
    sol = _solve(two_technology_instance(tmp_path, target))
    assert sol.objective == pytest.approx(19000 / 9)
    assert _sent(sol, "H") == pytest.approx(500 / 9)
    row = sol["targets"].iloc[0]
    assert row["achieved"] == pytest.approx(0.5)
    assert bool(row["met"])


def test_recycling_efficiency_target(tmp_path: Path) -> None:
    """Efficiency >= 0.65: 0.15 x_H >= 0.15 x_P, so 50 t each: 10 x 50 + 30 x 50 = 2000."""
    target = [{"jurisdiction": "XX", "metric": "recycling_efficiency", "material": "", "value": 0.65,
               "from_period": 2025}]
    sol = _solve(two_technology_instance(tmp_path, target))
    assert sol.objective == pytest.approx(2000.0)
    assert sol["targets"].iloc[0]["achieved"] == pytest.approx(0.65)


def test_target_on_a_group_covers_its_members_only(tmp_path: Path) -> None:
    """A Li target on EU27 binds a site in DE (member); one on US does not."""
    eu = [{"jurisdiction": "EU27", "metric": "material_recovery", "material": "Li", "value": 0.5,
           "from_period": 2025}]
    sol = _solve(two_technology_instance(tmp_path / "eu", eu, jurisdiction="DE", groups="EU27;OECD"))
    assert sol.objective == pytest.approx(19000 / 9)
    other = [{"jurisdiction": "OTHER", "metric": "material_recovery", "material": "Li", "value": 0.5,
              "from_period": 2025}]
    folder = two_technology_instance(tmp_path / "us", other, jurisdiction="DE", groups="EU27;OECD")
    with open(folder / "jurisdictions.csv", "a") as fh:
        fh.write("OTHER,,\n")
    assert _solve(folder).objective == pytest.approx(1000.0)


def test_target_not_yet_in_force_does_not_bind(tmp_path: Path) -> None:
    target = [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.5,
               "from_period": 2030}]
    folder = two_technology_instance(tmp_path, target)
    text = (folder / "instance.yaml").read_text().replace("- 2025", "- 2025\n- 2030")
    (folder / "instance.yaml").write_text(text)
    # 2030 has no supply: the target is in force there but has nothing to cover
    sol = _solve(folder)
    assert sol.objective == pytest.approx(1000.0)


def test_unreachable_target_is_infeasible(tmp_path: Path) -> None:
    target = [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.95,
               "from_period": 2025}]
    sol = no.solve(two_technology_instance(tmp_path, target))
    assert sol.status == "infeasible"
    assert sol.tables == {}


def test_collection_rate_target(tmp_path: Path) -> None:
    """Packs may stay uncollected for free, and recycling costs 10/t, so nothing is collected
    unless a collection rate of 0.6 forces 60 t: cost 600."""
    target = [{"jurisdiction": "XX", "metric": "collection_rate", "material": "", "value": 0.6,
               "from_period": 2025}]
    folder = two_technology_instance(tmp_path, target)
    text = (folder / "instance.yaml").read_text() + "uncollected:\n  allowed: true\n"
    (folder / "instance.yaml").write_text(text)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(600.0)
    col = sol["collection"].iloc[0]
    assert col["uncollected_t"] == pytest.approx(40.0)
    assert sol["targets"].iloc[0]["achieved"] == pytest.approx(0.6)


def test_disposal_when_allowed_and_cheaper(tmp_path: Path) -> None:
    """Disposal at 4/t beats recycling at 10/t: all 100 t disposed, cost 400."""
    folder = two_technology_instance(tmp_path)
    text = (folder / "instance.yaml").read_text() + "disposal:\n  allowed: true\n  cost_per_t: 4\n"
    (folder / "instance.yaml").write_text(text)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(400.0)
    assert sol["collection"].iloc[0]["disposed_t"] == pytest.approx(100.0)


# --- degenerate and boundary cases -------------------------------------------------------

def test_zero_supply_costs_only_existing_fixed_costs(tmp_path: Path) -> None:
    folder = levels_instance(tmp_path, tonnes=0)
    fac = (folder / "facilities.csv").read_text().replace("candidate", "existing")
    (folder / "facilities.csv").write_text(fac)
    sol = _solve(folder)
    # an existing facility stands at its smallest level, already built: only its fixed cost
    assert sol.objective == pytest.approx(50)
    assert sol["flows"].empty


def test_tied_facilities_give_the_same_objective(tmp_path: Path) -> None:
    """Two identical plants: either may take the supply; the optimum is unique (cost 300)."""
    folder = two_technology_instance(tmp_path)
    for name in ("technology_yields.csv", "technologies.csv"):
        text = (folder / name).read_text().replace("0.9", "0.0").replace("0.8", "0.5")
        (folder / name).write_text(text)
    text = (folder / "facilities.csv").read_text().replace(",30", ",10")
    (folder / "facilities.csv").write_text(text)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(1000.0)
    assert _sent(sol, "P") + _sent(sol, "H") == pytest.approx(100.0)


def test_huge_revenues_stay_bounded(tmp_path: Path) -> None:
    """Revenue per tonne is finite and flows are bounded by supply: never unbounded.
    100 t x (10 kg/t x 0.9 x 1e9 /t / 1000) = 9e8 revenue at H, minus 100 x 30 processing."""
    folder = two_technology_instance(tmp_path)
    text = (folder / "material_prices.csv").read_text().replace(",0.0", ",1000000000.0")
    (folder / "material_prices.csv").write_text(text)
    sol = _solve(folder)
    assert sol.objective == pytest.approx(-9e8 + 3000, rel=1e-9)
