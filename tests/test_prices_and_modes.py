"""Issue 16 items 5 and 6: prices that are paid (pack purchase prices and gate fees, payable factors
on recovered material and black mass) and transport modes (rail and sea legs between ports, the
damaged-pack premium). Every micro instance is solved by hand in its docstring or comment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import lanes, site, write_instance

import network_opt as no
from network_opt.common.geo import haversine_km
from network_opt.results.write import write_results


def _solve(folder: Path) -> Any:
    sol = no.solve(folder)
    assert sol.status == "optimal", sol.status
    return sol


def _term(sol: Any, term: str) -> float:
    costs = sol["costs"]
    return float(costs.loc[costs["term"] == term, "value"].sum())


def _tonnes(sol: Any, **where: str) -> float:
    f = sol["flows"]
    for col, value in where.items():
        f = f.loc[f[col] == value]
    return float(f["tonnes"].sum())


# --- pack purchase price / gate fee ------------------------------------------------------------

def lfp_instance(folder: Path, pack_prices: list[dict[str, Any]], periods: tuple[int, ...] = (2025,)) -> Path:
    """100 t/yr of LFP packs at C1 (jurisdiction XX), an existing recycler P (1,200/t) on a free lane.

    P recovers all of the 10 kg Li/t (at 80,000/t: 800 per t of packs) and the 100 kg Cu/t (at
    9,000/t: 900 per t of packs): 1,700/t of revenue against 1,200/t of processing, a margin of
    500/t before the pack price. The owner may keep packs (uncollected allowed, at no cost), so the
    network buys them only while the margin covers the price.
    """
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility")],
        "chemistries": [{"id": "LFP", "energy_kwh_per_t": 150}],
        "materials": [{"id": "Li"}, {"id": "Cu"}],
        "chemistry_materials": [{"chemistry": "LFP", "material": "Li", "kg_per_t": 10},
                                {"chemistry": "LFP", "material": "Cu", "kg_per_t": 100}],
        "material_prices": [{"material": mu, "period": p, "price_per_t": v}
                            for p in periods for mu, v in (("Li", 80000), ("Cu", 9000))],
        "supply": [{"site": "C1", "period": p, "chemistry": "LFP", "tonnes": 100} for p in periods],
        "technologies": [{"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 1.0},
                              {"technology": "HYDRO", "material": "Cu", "recovery_yield": 1.0}],
        "facilities": [{"id": "P", "site": "S1", "kind": "recycler", "technology": "HYDRO", "status": "existing",
                        "variable_cost_per_t": 1200}],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "S1", 0)),
    }
    if pack_prices:
        tables["pack_prices"] = pack_prices
    return write_instance(folder, tables, periods=list(periods), uncollected={"allowed": True})


def test_lfp_recycling_is_profitable_without_a_pack_price(tmp_path: Path) -> None:
    # 100 t x (1,200 - 1,700) = -50,000
    sol = _solve(lfp_instance(tmp_path, []))
    assert sol.objective == pytest.approx(-50_000.0)
    assert _tonnes(sol, destination="P") == pytest.approx(100.0)
    assert _term(sol, "pack_purchase") == 0.0


def test_a_purchase_price_below_the_margin_is_paid(tmp_path: Path) -> None:
    # 400/t < the 500/t margin: bought and recycled, 100 x (1,200 + 400 - 1,700) = -10,000
    sol = _solve(lfp_instance(tmp_path, [{"chemistry": "LFP", "price_per_t": 400}]))
    assert sol.objective == pytest.approx(-10_000.0)
    assert _tonnes(sol, destination="P") == pytest.approx(100.0)
    assert _term(sol, "pack_purchase") == pytest.approx(40_000.0)
    assert sol.summary["cost_terms"]["pack_purchase"] == pytest.approx(40_000.0)


def test_a_purchase_price_above_the_margin_makes_lfp_recycling_unprofitable(tmp_path: Path) -> None:
    # 600/t > the 500/t margin: each tonne bought would lose 100, so none is bought (objective 0)
    sol = _solve(lfp_instance(tmp_path, [{"chemistry": "LFP", "price_per_t": 600}]))
    assert sol.objective == pytest.approx(0.0, abs=1e-6)
    assert _tonnes(sol, destination="P") == 0.0
    assert float(sol["collection"]["uncollected_t"].sum()) == pytest.approx(100.0)
    assert _term(sol, "pack_purchase") == pytest.approx(0.0, abs=1e-6)


def test_a_gate_fee_is_revenue(tmp_path: Path) -> None:
    # the owner pays 200/t: 100 x (1,200 - 200 - 1,700) = -70,000, the pack_purchase term -20,000
    sol = _solve(lfp_instance(tmp_path, [{"chemistry": "LFP", "price_per_t": -200}]))
    assert sol.objective == pytest.approx(-70_000.0)
    assert _term(sol, "pack_purchase") == pytest.approx(-20_000.0)


def test_pack_price_by_period_and_jurisdiction(tmp_path: Path) -> None:
    """A generic row (300/t from the start) and a row for XX from 2026 (600/t): in 2025 the generic
    one applies (bought, 100 x (1,200 + 300 - 1,700) = -20,000), in 2026 XX's (not bought: 0).
    The periods are one year each, undiscounted: objective -20,000."""
    rows = [{"chemistry": "LFP", "jurisdiction": "", "from_period": 0, "price_per_t": 300},
            {"chemistry": "LFP", "jurisdiction": "XX", "from_period": 2026, "price_per_t": 600}]
    sol = _solve(lfp_instance(tmp_path, rows, periods=(2025, 2026)))
    assert sol.objective == pytest.approx(-20_000.0)
    assert _tonnes(sol, destination="P", period=2025) == pytest.approx(100.0)  # type: ignore[arg-type]
    flows = sol["flows"]
    assert flows.loc[flows["period"] == 2026, "tonnes"].sum() == 0.0


# --- payable factors ------------------------------------------------------------------------------

def black_mass_instance(folder: Path, payables: list[dict[str, Any]], refiner_cost: float | None = None) -> Path:
    """100 t/yr of NCM (200 kg Ni/t, 100 kg Cu/t) go to the existing pre-processor B (100/t), which
    makes 0.5 t of black mass per t (400 kg Ni per t of black mass: all the Ni) and recovers 90 % of
    the Cu directly (9 t/yr, sold as scrap at the Cu price 10,000/t). The black mass (50 t/yr, 20 t
    Ni) goes to the external refiner E (someone else's plant: it pays the black-mass payable on the Ni,
    price 16,000/t), or, when ``refiner_cost`` is given, to the network's own existing refiner D
    (``refiner_cost`` per t of black mass, Ni yield 0.95). Lanes are free.
    """
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point"), site("S1", "facility"), site("S2", "facility"),
                  site("S3", "facility")],
        "chemistries": [{"id": "NCM", "energy_kwh_per_t": 150}],
        "materials": [{"id": "Ni"}, {"id": "Cu"}],
        "chemistry_materials": [{"chemistry": "NCM", "material": "Ni", "kg_per_t": 200, "black_mass_kg_per_t": 400},
                                {"chemistry": "NCM", "material": "Cu", "kg_per_t": 100, "black_mass_kg_per_t": 0}],
        "material_prices": [{"material": "Ni", "period": 2025, "price_per_t": 16000},
                            {"material": "Cu", "period": 2025, "price_per_t": 10000}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "NCM", "tonnes": 100}],
        "technologies": [{"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.1,
                          "black_mass_yield": 0.5},
                         {"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "MECH", "material": "Cu", "recovery_yield": 0.9},
                              {"technology": "HYDRO", "material": "Ni", "recovery_yield": 0.95}],
        "facilities": [
            {"id": "B", "site": "S1", "kind": "preprocessor", "technology": "MECH", "status": "existing",
             "variable_cost_per_t": 100, "external": "false"},
            {"id": "E", "site": "S2", "kind": "refiner", "technology": "HYDRO", "status": "existing",
             "variable_cost_per_t": 0, "external": "true"},
        ],
        "facility_levels": [{"facility": "B", "level": "a", "capacity_t": 1000},
                            {"facility": "E", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "S1", 0), ("S1", "S2", 0), ("S1", "S3", 0)),
    }
    if refiner_cost is not None:
        tables["facilities"].append({"id": "D", "site": "S3", "kind": "refiner", "technology": "HYDRO",
                                     "status": "existing", "variable_cost_per_t": refiner_cost, "external": "false"})
        tables["facility_levels"].append({"facility": "D", "level": "a", "capacity_t": 1000})
    if payables:
        tables["payables"] = payables
    return write_instance(folder, tables)


BLACK_MASS_NI = {"product": "black_mass", "material": "Ni", "buyer": "E", "payable": 0.75}
CU_SCRAP = {"product": "material", "material": "Cu", "seller": "preprocessor", "payable": 0.85}


def test_black_mass_is_paid_its_payable_share_of_the_contained_metal(tmp_path: Path) -> None:
    """Processing 100 t x 100 = 10,000; black mass 50 t x 0.4 t Ni/t x 16,000 x 0.75 = 240,000 (the
    refiner's own 0.95 yield is its business); Cu scrap 9 t x 10,000 x 0.85 = 76,500.
    Objective 10,000 - 240,000 - 76,500 = -306,500."""
    sol = _solve(black_mass_instance(tmp_path, [BLACK_MASS_NI, CU_SCRAP]))
    assert sol.objective == pytest.approx(-306_500.0)
    assert _term(sol, "black_mass_revenue") == pytest.approx(-240_000.0)
    assert _term(sol, "material_revenue") == pytest.approx(-76_500.0)
    assert _term(sol, "processing") == pytest.approx(10_000.0)  # none at the external refiner
    assert _tonnes(sol, commodity="black_mass", destination="E") == pytest.approx(50.0)
    mats = sol["materials"].set_index(["facility", "material"])
    assert mats.loc[("E", "Ni"), "input_t"] == pytest.approx(20.0)
    assert mats.loc[("E", "Ni"), "recovered_t"] == pytest.approx(19.0)  # still counts towards targets
    assert mats.loc[("E", "Ni"), "revenue"] == pytest.approx(240_000.0)
    assert mats.loc[("B", "Cu"), "revenue"] == pytest.approx(76_500.0)
    assert sum(sol.summary["cost_terms"].values()) == pytest.approx(sol.objective)


def test_without_payables_everything_is_paid_at_the_benchmark(tmp_path: Path) -> None:
    # 10,000 - 50 x 0.4 x 16,000 - 9 x 10,000 = -400,000
    sol = _solve(black_mass_instance(tmp_path, []))
    assert sol.objective == pytest.approx(-400_000.0)


def test_an_external_refiner_without_a_payable_for_a_metal_it_buys_is_warned_of(tmp_path: Path) -> None:
    """Without a black_mass row for Ni (the only metal in this black mass) E pays 100 % of Ni's
    benchmark, the default of payables.csv: a warning naming the row, the refiner and the metal;
    with a row for Ni none (Cu is not in the black mass)."""
    warned = no.load(black_mass_instance(tmp_path / "none", [])).warnings
    texts = [str(w) for w in warned if "no black_mass row" in str(w)]
    assert len(texts) == 1 and "facilities.csv:3:external" in texts[0] and "'E'" in texts[0] and "Ni" in texts[0]
    priced = no.load(black_mass_instance(tmp_path / "ni", [BLACK_MASS_NI])).warnings
    assert not [w for w in priced if "no black_mass row" in str(w)]


@pytest.mark.parametrize(("payable", "to"), [(0.75, "D"), (0.85, "E")])
def test_the_black_mass_payable_decides_where_black_mass_goes(tmp_path: Path, payable: float, to: str) -> None:
    """Own refiner D: 50 t x (0.4 x 0.95 x 16,000 - 1,000) = 254,000 net; external E pays
    320,000 x payable: 240,000 at 0.75 (D wins), 272,000 at 0.85 (E wins).
    Objective: 10,000 - 76,500 (Cu scrap) - max(254,000, 320,000 x payable)."""
    sol = _solve(black_mass_instance(tmp_path, [{**BLACK_MASS_NI, "payable": payable}, CU_SCRAP],
                                     refiner_cost=1000))
    assert _tonnes(sol, commodity="black_mass", destination=to) == pytest.approx(50.0)
    assert sol.objective == pytest.approx(10_000 - 76_500 - max(254_000, 320_000 * payable))


def test_a_later_payable_row_replaces_the_earlier_and_the_seller_row_wins(tmp_path: Path) -> None:
    """Cu rows: any seller 0.5 from the start, pre-processors 0.85 from the start, any seller 0.6
    from 2025: the pre-processor's own row wins (0.85), as in the first test: -306,500."""
    rows = [BLACK_MASS_NI, CU_SCRAP,
            {"product": "material", "material": "Cu", "payable": 0.5, "from_period": 0},
            {"product": "material", "material": "Cu", "payable": 0.6, "from_period": 2025}]
    sol = _solve(black_mass_instance(tmp_path, rows))
    assert sol.objective == pytest.approx(-306_500.0)


# --- transport modes ----------------------------------------------------------------------------

ROAD_RATE = 0.1  # currency / (t km) of eol_packs by road
ROAD_CO2 = 0.0001  # t CO2e / (t km) by road
SEA = {"cost_per_tkm": 0.02, "handling_cost_per_t": 5.0, "co2e_per_tkm": 0.000015}


def sea_instance(folder: Path, lane_mode: str = "", carbon_price: float = 0.0,
                 lane: dict[str, Any] | None = None, leg: dict[str, Any] | None = None) -> Path:
    """C1 at (0, 0), the recycler P at S1 (1, 20): about 2,230 km apart (x detour 1.3: ~2,900 km of
    road, 290/t). Port PA at C1's spot, PB at (0, 20); a sea leg PA-PB of 2,500 km (its own distance,
    longer than the great circle): 0.02 x 2,500 + 5 handling = 55/t, plus road PB -> S1 of
    1 degree of latitude x 1.3 (~144.6 km, 14.5/t). P processes at 10/t."""
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility", lat=1.0, lon=20.0),
                  site("PA", "port"), site("PB", "port", lon=20.0)],
        "chemistries": [{"id": "X", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.0}],
        "facilities": [{"id": "P", "site": "S1", "kind": "recycler", "technology": "T", "status": "existing",
                        "variable_cost_per_t": 10}],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 1000}],
        "lanes": [{"origin": "C1", "destination": "S1", "commodity": "", "mode": lane_mode, **(lane or {})}],
        "legs": [{"origin": "PA", "destination": "PB", "mode": "sea", "distance_km": 2500, **(leg or {})}],
    }
    return write_instance(folder, tables, transport={"explicit_lanes_only": True, "detour_factor": 1.3,
                                                     "cost_per_tkm": {"eol_packs": ROAD_RATE}, "sea": SEA},
                          emissions={"co2e_per_tkm": {"eol_packs": ROAD_CO2}, "carbon_price": carbon_price})


def _road_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(haversine_km(np.array(lat1), np.array(lon1), np.array(lat2), np.array(lon2))) * 1.3


def test_a_sea_leg_with_its_own_distance_and_emissions(tmp_path: Path) -> None:
    """Direct road: ~2,900 km x 0.1 = ~290/t. By sea: 0 km of road to PA, 2,500 km by sea
    (55/t), ~144.6 km of road PB -> S1 (~14.5/t): ~69.5/t, so the lane goes by sea.
    Objective: 100 t x (69.5 + 10 processing) = ~7,946. Emissions: sea 100 x 2,500 x 0.000015
    = 3.75 t, road 100 x 144.6 x 0.0001 = ~1.45 t."""
    sol = _solve(sea_instance(tmp_path))
    last_mile = _road_km(0.0, 20.0, 1.0, 20.0)
    assert last_mile == pytest.approx(144.55, abs=0.05)
    assert _road_km(0.0, 0.0, 1.0, 20.0) * ROAD_RATE > 280  # the direct road, for comparison
    flow = sol["flows"].iloc[0]
    assert flow["mode"] == "road+sea+road"
    assert flow["via"] == "PA>PB"
    assert flow["sea_km"] == pytest.approx(2500.0)
    assert flow["road_km"] == pytest.approx(last_mile)
    assert flow["distance_km"] == pytest.approx(2500.0 + last_mile)
    per_t = 0.02 * 2500 + 5.0 + ROAD_RATE * last_mile
    assert flow["cost"] == pytest.approx(100 * per_t)
    assert sol.objective == pytest.approx(100 * (per_t + 10.0))
    em = sol["emissions"].iloc[0]
    assert em["sea_co2e_t"] == pytest.approx(100 * 2500 * 0.000015)
    assert em["road_co2e_t"] == pytest.approx(100 * last_mile * ROAD_CO2)
    assert em["rail_co2e_t"] == 0.0
    assert em["co2e_t"] == pytest.approx(em["sea_co2e_t"] + em["road_co2e_t"])
    assert flow["co2e_t"] == pytest.approx(em["co2e_t"])


def test_a_lane_fixed_to_road_ignores_the_legs(tmp_path: Path) -> None:
    # mode road: the direct ~2,900 km at 0.1/t km, ~290/t
    sol = _solve(sea_instance(tmp_path, lane_mode="road"))
    road = _road_km(0.0, 0.0, 1.0, 20.0)
    flow = sol["flows"].iloc[0]
    assert flow["mode"] == "road" and flow["sea_km"] == 0.0 and flow["via"] == ""
    assert flow["distance_km"] == pytest.approx(road)
    assert sol.objective == pytest.approx(100 * (ROAD_RATE * road + 10.0))
    assert sol["emissions"].iloc[0]["road_co2e_t"] == pytest.approx(100 * road * ROAD_CO2)


def test_a_lane_with_its_road_distance_stays_on_the_road(tmp_path: Path) -> None:
    # mode empty but distance_km given (lanes.csv as before modes existed): road, 400 km x 0.1 = 40/t
    sol = _solve(sea_instance(tmp_path, lane={"distance_km": 400}))
    flow = sol["flows"].iloc[0]
    assert flow["mode"] == "road" and flow["road_km"] == pytest.approx(400.0)
    assert sol.objective == pytest.approx(100 * (40.0 + 10.0))


def test_a_legs_own_cost_replaces_rate_and_handling(tmp_path: Path) -> None:
    # the sea leg at 30/t instead of 0.02 x 2,500 + 5 = 55/t: 100 x (30 + 0.1 x 144.6 + 10)
    sol = _solve(sea_instance(tmp_path, leg={"cost_per_t": 30}))
    last_mile = _road_km(0.0, 20.0, 1.0, 20.0)
    assert sol["flows"].iloc[0]["sea_km"] == pytest.approx(2500.0)
    assert sol.objective == pytest.approx(100 * (30.0 + ROAD_RATE * last_mile + 10.0))


def test_the_carbon_price_weighs_in_the_choice_of_route(tmp_path: Path) -> None:
    """Per tonne the sea route emits 2,500 x 0.000015 + 144.6 x 0.0001 = 0.0520 t and the direct
    road ~2,900 x 0.0001 = 0.290 t; at a carbon price the sea route stays cheaper (it is cheaper and
    cleaner): objective = 100 x (69.5 + 10 + price x 0.052)."""
    price = 100.0
    sol = _solve(sea_instance(tmp_path, carbon_price=price))
    last_mile = _road_km(0.0, 20.0, 1.0, 20.0)
    per_t = 0.02 * 2500 + 5.0 + ROAD_RATE * last_mile
    co2 = 2500 * 0.000015 + last_mile * ROAD_CO2
    assert sol["flows"].iloc[0]["mode"] == "road+sea+road"
    assert sol.objective == pytest.approx(100 * (per_t + 10.0 + price * co2))


def test_flows_csv_and_summary_carry_modes_and_cost_terms(tmp_path: Path) -> None:
    sol = _solve(sea_instance(tmp_path / "i"))
    out = tmp_path / "out"
    write_results(sol, out)
    header = (out / "flows.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"mode", "via", "road_km", "rail_km", "sea_km"} <= set(header)
    em = (out / "emissions.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert em == ["period", "co2e_t", "road_co2e_t", "rail_co2e_t", "sea_co2e_t", "process_co2e_t"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective_label"].startswith("net cost to the recycling network")
    assert sum(summary["cost_terms"].values()) == pytest.approx(summary["objective"])


def rail_choice_instance(folder: Path, rail_rate: float, carbon_price: float = 0.0) -> Path:
    """Two ports at C1's and S1's spots (0 km of road at each end), joined by a rail leg and a sea
    leg of 1,000 km each: sea 0.02 x 1,000 + 5 = 25/t; rail ``rail_rate`` x 1,000 + 2 handling.
    The direct road is ~1,445 km x 0.1 = ~144.6/t (10 degrees of longitude x 1.3)."""
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility", lon=10.0),
                  site("PA", "port"), site("PB", "port", lon=10.0)],
        "chemistries": [{"id": "X", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 10}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.0}],
        "facilities": [{"id": "P", "site": "S1", "kind": "recycler", "technology": "T", "status": "existing"}],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 1000}],
        "lanes": [{"origin": "C1", "destination": "S1", "commodity": "", "mode": ""}],
        "legs": [{"origin": "PA", "destination": "PB", "mode": "sea", "distance_km": 1000},
                 {"origin": "PB", "destination": "PA", "mode": "rail", "distance_km": 1000}],
    }
    return write_instance(folder, tables, transport={
        "explicit_lanes_only": True, "cost_per_tkm": {"eol_packs": ROAD_RATE}, "sea": SEA,
        "rail": {"cost_per_tkm": rail_rate, "handling_cost_per_t": 2.0, "co2e_per_tkm": 0.00002}},
        emissions={"carbon_price": carbon_price})


@pytest.mark.parametrize(("rail_rate", "mode", "per_t"), [(0.03, "road+sea+road", 25.0),
                                                         (0.01, "road+rail+road", 12.0)])
def test_the_cheapest_mode_is_taken_and_legs_run_both_ways(tmp_path: Path, rail_rate: float, mode: str,
                                                          per_t: float) -> None:
    # rail 0.03: 32/t > sea 25/t; rail 0.01: 12/t < 25/t (the rail leg is listed PB -> PA: legs run both ways)
    sol = _solve(rail_choice_instance(tmp_path, rail_rate))
    flow = sol["flows"].iloc[0]
    assert flow["mode"] == mode
    assert flow["road_km"] == pytest.approx(0.0, abs=1e-9)
    assert sol.objective == pytest.approx(10 * per_t)


# --- damaged packs ------------------------------------------------------------------------------

def damaged_instance(folder: Path, premium: float, disposal_cost: float | None = None) -> Path:
    """100 t/yr of X at C1, 60 % grade OK and 40 % grade DMG (damaged); recycler P at 20/t, lane 10/t.
    Without disposal every tonne is recycled: 100 x 30 + 40 x premium."""
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility")],
        "chemistries": [{"id": "X", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10}],
        "grades": [{"id": "OK", "soh_min": 0.5, "soh_max": 1.0, "second_life": "false", "damaged": "false"},
                   {"id": "DMG", "soh_min": 0.0, "soh_max": 0.5, "second_life": "false", "damaged": "true"}],
        "grade_shares": [{"chemistry": "X", "grade": "OK", "share": 0.6},
                         {"chemistry": "X", "grade": "DMG", "share": 0.4}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.0}],
        "facilities": [{"id": "P", "site": "S1", "kind": "recycler", "technology": "T", "status": "existing",
                        "variable_cost_per_t": 20}],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "S1", 10)),
    }
    settings: dict[str, Any] = {"transport": {"explicit_lanes_only": True, "damaged_premium_per_t": premium}}
    if disposal_cost is not None:
        settings["disposal"] = {"allowed": True, "cost_per_t": disposal_cost}
    return write_instance(folder, tables, **settings)


def test_damaged_packs_pay_the_packaging_premium(tmp_path: Path) -> None:
    # 100 t x (10 + 20) + 40 t x 200 = 3,000 + 8,000 = 11,000
    sol = _solve(damaged_instance(tmp_path, premium=200))
    assert sol.objective == pytest.approx(11_000.0)
    assert _term(sol, "damaged_packaging") == pytest.approx(8_000.0)
    assert _term(sol, "transport") == pytest.approx(1_000.0)
    flows = sol["flows"].set_index("grade")
    assert flows.loc["DMG", "cost"] == pytest.approx(40 * (10 + 200))
    assert flows.loc["OK", "cost"] == pytest.approx(60 * 10)


def test_the_premium_can_make_disposal_cheaper_for_damaged_packs(tmp_path: Path) -> None:
    """Disposal at 150/t: OK packs are recycled at 30/t; DMG packs would cost 10 + 200 + 20 = 230/t
    recycled, so they are disposed of: 60 x 30 + 40 x 150 = 7,800. Without the premium they are
    recycled (30 < 150): 100 x 30 = 3,000."""
    sol = _solve(damaged_instance(tmp_path / "a", premium=200, disposal_cost=150))
    assert sol.objective == pytest.approx(7_800.0)
    col = sol["collection"].set_index("grade")
    assert col.loc["DMG", "disposed_t"] == pytest.approx(40.0)
    assert col.loc["OK", "disposed_t"] == 0.0
    sol = _solve(damaged_instance(tmp_path / "b", premium=0, disposal_cost=150))
    assert sol.objective == pytest.approx(3_000.0)


# --- bad input ----------------------------------------------------------------------------------

TOY = Path(__file__).parents[1] / "instances" / "toy"
TOY_LANES = "origin,destination,commodity,distance_km,cost_per_t,allowed\n"


def _table(name: str, text: str) -> Any:
    """Write ``name``.csv (naming it in instance.yaml when it is new)."""
    def edit(folder: Path) -> None:
        manifest = (folder / "instance.yaml").read_text(encoding="utf-8")
        if f"  {name}: " not in manifest:
            manifest = manifest.replace("tables:\n", f"tables:\n  {name}: {name}.csv\n")
            (folder / "instance.yaml").write_text(manifest, encoding="utf-8")
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return edit


def _edits(*edits: Any) -> Any:
    def edit(folder: Path) -> None:
        for e in edits:
            e(folder)
    return edit


PORTS = _table("sites", (TOY / "sites.csv").read_text(encoding="utf-8")
               + "PORT-N,North port,port,50.0,10.0,NORTH,TOY\nPORT-E,East port,port,49.0,12.0,EAST,TOY\n")
SEA_LEG = _table("legs", "origin,destination,mode,distance_km\nPORT-N,PORT-E,sea,400\n")
BAD_INPUT = [
    ("unknown leg mode", _edits(PORTS, _table("legs", "origin,destination,mode,distance_km\nPORT-N,PORT-E,air,40\n")),
     "legs.csv:2:mode", "unknown value 'air'; expected one of rail, sea"),
    ("unknown lane mode", _table("lanes", TOY_LANES.replace("allowed", "allowed,mode")
                                 + "CP-NORTH,FS-WEST,eol_packs,200,30,true,truck\n"
                                 + "CP-SOUTH,FS-EAST,eol_packs,200,30,true,road\n"),
     "lanes.csv:2:mode", "unknown value 'truck'; expected one of road, rail, sea"),
    ("port not a site", _edits(PORTS, _table("legs", "origin,destination,mode,distance_km\nPORT-X,PORT-E,sea,40\n")),
     "legs.csv:2:origin", "unknown reference 'PORT-X'; expected a sites.id"),
    ("leg end not a port", _edits(PORTS, _table("legs", "origin,destination,mode,distance_km\nPORT-N,FS-EAST,sea,9\n")),
     "legs.csv:2:destination", "site 'FS-EAST' is not a port"),
    ("lane of mode sea without a sea leg", _edits(PORTS, _table("legs", "origin,destination,mode,distance_km\n"
                                                                "PORT-N,PORT-E,rail,300\n"),
                                                  _table("lanes", TOY_LANES.replace("allowed", "allowed,mode")
                                                         + "CP-NORTH,FS-EAST,eol_packs,,,true,sea\n"
                                                         + "CP-SOUTH,FS-EAST,eol_packs,200,30,true,road\n")),
     "lanes.csv:2:mode", "there is no sea leg"),
    ("road distance on a sea lane", _edits(PORTS, SEA_LEG, _table("lanes", TOY_LANES.replace("allowed", "allowed,mode")
                                                                  + "CP-NORTH,FS-EAST,eol_packs,250,,true,sea\n"
                                                                  + "CP-SOUTH,FS-EAST,eol_packs,200,30,true,\n")),
     "lanes.csv:2:distance_km", "distance_km is a road distance"),
    ("payable above one", _table("payables", "product,material,payable\nmaterial,Li,1.2\n"),
     "payables.csv:2:payable", "must be <= 1, got 1.2"),
    ("seller of black mass", _table("payables", "product,material,seller,payable\nblack_mass,Ni,recycler,0.7\n"),
     "payables.csv:2:seller", "seller applies to product material"),
    ("black-mass buyer not external", _table("payables", "product,material,buyer,payable\n"
                                                         "black_mass,Ni,REC-EAST,0.7\n"),
     "payables.csv:2:buyer", "'REC-EAST' is not an external refiner"),
    ("external recycler", _table("facilities", "id,site,kind,technology,status,variable_cost_per_t,test_yield,"
                                 "external\nREC-WEST,FS-WEST,recycler,PYRO,existing,300,,true\n"
                                 "REC-EAST,FS-EAST,recycler,HYDRO,candidate,400,,\n"
                                 "REF-EAST,FS-EAST,refurbisher,,candidate,800,0.8,\n"),
     "facilities.csv:2:external", "only a refiner may be external"),
    ("unknown pack-price grade", _table("pack_prices", "chemistry,grade,price_per_t\nLFP,B,100\n"),
     "pack_prices.csv:2:grade", "unknown grade 'B'; expected one of fit, unfit"),
    ("ambiguous pack prices", _edits(_table("jurisdictions", "id,name,groups\nTOY,Toyland,G1;G2\n"),
                                     _table("pack_prices", "chemistry,jurisdiction,price_per_t\nLFP,G1,100\n"
                                                           "LFP,G2,150\n")),
     "pack_prices.csv:3:jurisdiction", "this row (G2) and row 2 (G1) both price LFP packs"),
]


@pytest.mark.parametrize(("case", "edit", "where", "words"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_prices_and_modes_are_reported_with_their_location(tmp_path: Path, case: str, edit: Any, where: str,
                                                               words: str) -> None:
    import shutil

    from network_opt.common.errors import InputError

    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    edit(folder)
    with pytest.raises(InputError) as err:
        no.load(folder)
    lines = [str(p) for p in err.value.problems if str(p).startswith(where)]
    assert any(words in line for line in lines), "\n".join(str(p) for p in err.value.problems)


def test_ports_and_legs_that_are_right_load(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    _edits(PORTS, SEA_LEG)(folder)
    assert len(no.load(folder)["legs"]) == 1


def test_a_carbon_price_can_move_a_lane_to_the_cleaner_mode(tmp_path: Path) -> None:
    """Rail at 0.01: 12/t and 1,000 x 0.00002 = 0.020 t CO2e/t; sea: 25/t and 0.015 t CO2e/t. At a
    carbon price of 3,000: rail 12 + 60 = 72, sea 25 + 45 = 70 per tonne, so sea; the objective is
    10 t x 70 = 700 (transport 250, carbon 450)."""
    sol = _solve(rail_choice_instance(tmp_path, 0.01, carbon_price=3000))
    assert sol["flows"].iloc[0]["mode"] == "road+sea+road"
    assert sol.objective == pytest.approx(700.0)
    assert _term(sol, "carbon") == pytest.approx(450.0)
    assert sol["emissions"].iloc[0]["sea_co2e_t"] == pytest.approx(0.15)


def test_eu_scenario_asia_buys_black_mass_pays_the_payables_on_every_material() -> None:
    """eu-2025-2032 scenario ``asia-buys-black-mass``: Gunsan and Quzhou buy black mass. A material
    without a payables row would be paid at 100 % of its benchmark, so each buyer has a row for every
    material. A t of NMC black mass into Gunsan in 2025 earns 0.71 x (180.83 kg Ni x 15,490 EUR/t +
    72.72 kg Co x 29,200 EUR/t) = 3,496.38 EUR (Li rolled into the Ni and Co payable, CIF South
    Korea), LFP black mass nothing; into Quzhou (in 2026: China admits no black mass in 2025), at the
    same prices, 0.735 on Ni and Co and 0.725 on 41.47 kg Li x 49,290."""
    from network_opt.inputs.load import load
    from network_opt.inputs.scenarios import apply_scenario
    from network_opt.model.data import prepare

    inst = apply_scenario(load(Path(__file__).parents[1] / "instances" / "eu-2025-2032"), "asia-buys-black-mass")
    pay = inst["payables"]
    materials = set(inst["materials"]["id"])
    for buyer in ("D-SUNGEEL-GUNSAN", "D-HUAYOU-QUZHOU"):
        assert set(pay.loc[pay["buyer"] == buyer, "material"]) == materials
        assert inst["facilities"].set_index("id").loc[buyer, "external"]
    f = prepare(inst).flows
    into = f.loc[f["external_buyer"] & f["period"].isin([2025, 2026])].drop_duplicates(["destination", "chemistry",
                                                                                         "period"])
    paid = into.set_index(["destination", "chemistry", "period"])["black_mass_revenue_per_t"]
    ni_co = 180.83 * 15490 / 1000 + 72.72 * 29200 / 1000
    assert paid[("D-SUNGEEL-GUNSAN", "NMC", 2025)] == pytest.approx(0.71 * ni_co, rel=1e-6)
    assert paid[("D-SUNGEEL-GUNSAN", "LFP", 2025)] == 0.0
    assert ("D-HUAYOU-QUZHOU", "NMC", 2025) not in paid.index  # China's import ban in 2025
    li = 41.47 * 49290 / 1000
    assert paid[("D-HUAYOU-QUZHOU", "NMC", 2026)] == pytest.approx(0.735 * ni_co + 0.725 * li, rel=1e-6)
    assert (into["material_revenue_per_t"] == 0.0).all()
