"""Build the ``instances/china-east`` instance from the raw tables in ``instances/build/raw``.

Run from the repository root::

    python instances/build/china_east.py

The script only needs Python and pandas. It uses no randomness, sorts every table and
formats every number explicitly, so running it twice writes byte-identical files.
Every number it uses comes from a raw table with a ``source`` column (see
``instances/build/raw/SOURCES.md`` and ``instances/china-east/README.md``).

Contract shared with the other instance builders (a test imports this file by path):

- ``INSTANCE``: the folder the instance is written to by default;
- ``build(out)``: write ``instance.yaml`` and every CSV into ``out`` (the README is hand-written);
- ``eol_supply()``: end-of-life tonnes per year and chemistry of the whole instance. china-east
  is a single-year instance scaled from MIIT's national 2025 figure by population (not from
  the Weibull retirement model), so this is simply its per-chemistry 2025 total as written to
  ``supply.csv``;
- ``existing_plants()``: every existing facility and its capacity (t/yr) at its smallest level.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by file path (tests/test_real_instances.py): find _shared
    sys.path.insert(0, str(HERE))
import _shared  # noqa: E402
from _shared import crf, level_name  # noqa: E402

ROOT = HERE.parents[1]
RAW = HERE / "raw"
INSTANCE = ROOT / "instances" / "china-east"

PERIOD = 2025
JURISDICTION = "CN"
CURRENCY = "CNY"


# ---------------------------------------------------------------- helpers
read_raw = functools.partial(_shared.read_raw, RAW)


def params() -> dict[str, float]:
    # descriptive (non-numeric) rows such as existing_fixed_cost are skipped
    return _shared.parameter_numbers(RAW)


# ---------------------------------------------------------------- tables
def build_sites(cities: pd.DataFrame, plants: pd.DataFrame) -> pd.DataFrame:
    plan = read_raw("sites_plan.csv", dtype=str)
    city = cities.set_index("geonameid")
    plant = plants.set_index("facility_id")
    rows = []
    for _, s in plan.iterrows():
        if s["geonameid"]:
            c = city.loc[s["geonameid"]]
            if c["region_code"] != s["region"]:
                raise ValueError(f"{s['id']}: region {s['region']} != GeoNames join {c['region_code']}")
            lat, lon, base = float(c["latitude"]), float(c["longitude"]), c["name"]
            name = {
                "collection_point": base,
                "facility": f"{base} candidate site",
                "market": f"{base} second-life market",
            }[s["kind"]]
        else:
            f = plant.loc[s["facility_id"]]
            lat, lon, name = float(f["lat"]), float(f["lon"]), f["name"]
        rows.append({"id": s["id"], "name": name, "kind": s["kind"], "latitude": round(lat, 5),
                     "longitude": round(lon, 5), "region": s["region"], "jurisdiction": JURISDICTION})
    return pd.DataFrame(rows)


def build_regions(p: dict[str, float], pop: pd.DataFrame) -> pd.DataFrame:
    det = read_raw("detour_factors.csv").set_index("region")["detour_factor"]
    rows = [{"id": r, "detour_factor": float(det.get(r, p["detour_factor_default"]))}
            for r in sorted(pop["region"])]
    return pd.DataFrame(rows)


def build_chemistry_tables(p: dict[str, float]):
    chem, chemistries, materials, content = _shared.pack_tables(RAW)
    mats = read_raw("materials.csv")
    chem_mat = content[["chemistry", "material", "kg_per_t"]]
    # Prices: convert to CNY per tonne of contained element / recovered material.
    def to_cny(row) -> float:
        if row["price_unit"] == "USD/t":
            return row["price"] * p["usd_cny"]
        if row["price_unit"] == "CNY/t Li2CO3":
            return row["price"] / p["li_mass_fraction_li2co3"]
        if row["price_unit"] == "CNY/t":
            return row["price"]
        raise ValueError(f"unknown price unit {row['price_unit']!r}")
    prices = pd.DataFrame({"material": mats["material"], "period": PERIOD,
                           "price_per_t": [round(to_cny(r), -1) for _, r in mats.iterrows()]})
    return chem, chemistries, materials, chem_mat, prices


def build_supply(p: dict[str, float], pop: pd.DataFrame, cities: pd.DataFrame,
                 chem: pd.DataFrame) -> pd.DataFrame:
    """National 2025 volume x province population share x city share x chemistry share."""
    plan = read_raw("sites_plan.csv", dtype=str)
    cps = plan[plan["kind"] == "collection_point"].merge(
        cities[["geonameid", "population"]], on="geonameid", how="left")
    cps["population"] = cps["population"].astype(float)
    prov_t = pop.set_index("region")["population_10k"] / p["population_cn_2023_10k"] \
        * p["supply_cn_total_2025_t"]
    cps["city_share"] = cps["population"] / cps.groupby("region")["population"].transform("sum")
    rows = []
    for _, cp in cps.iterrows():
        for _, c in chem.iterrows():
            rows.append({"site": cp["id"], "period": PERIOD, "chemistry": c["chemistry"],
                         "tonnes": round(prov_t[cp["region"]] * cp["city_share"] * c["supply_share"], 1),
                         "fit_share": c["fit_share"]})
    return pd.DataFrame(rows)


def build_technologies():
    tech = read_raw("technologies.csv")
    technologies = pd.DataFrame({"id": tech["technology"], "name": tech["name"], "process": tech["process"],
                                 "recycling_efficiency": tech["recycling_efficiency"]})
    yields = read_raw("technology_yields.csv")[["technology", "material", "recovery_yield"]]
    return tech, technologies, yields


def build_facilities(p: dict[str, float], tech: pd.DataFrame, chem: pd.DataFrame):
    plan = read_raw("facilities_plan.csv", dtype=str)
    var_cost = tech.set_index("technology")["variable_cost_cny_per_t"]
    # Refurbishing cost per tonne of input: EUR/kWh x rate x China factor x usable kWh per t
    # of an LFP pack (the chemistry that dominates second life).
    lfp = chem.set_index("chemistry").loc["LFP"]
    usable_lfp = 1000.0 / lfp["kg_pack_per_kwh"] * p["second_life_soh"]
    refurb_cost = round(p["refurb_cost_eur_per_kwh"] * p["eur_cny"] * p["refurb_cost_china_factor"]
                        * usable_lfp, -1)
    annual = crf(p["discount_rate"], p["plant_life_years"]) + p["fixed_om_share_of_capex"]
    fac_rows, lvl_rows = [], []
    for _, f in plan.iterrows():
        recycler = f["kind"] == "recycler"
        fac_rows.append({
            "id": f["id"], "site": f["site"], "kind": f["kind"], "technology": f["technology"],
            "status": f["status"],
            "variable_cost_per_t": float(var_cost[f["technology"]]) if recycler else refurb_cost,
            "test_yield": "" if recycler else p["refurb_test_yield"],
        })
        if recycler:
            ref_cap = p["capex_recycler_reference_t"]
            ref_capex = p["capex_recycler_usd_per_tpa"] * p["usd_cny"] * ref_cap
        else:
            ref_cap = p["capex_refurbisher_reference_t"]
            ref_capex = p["capex_refurbisher_cny"]
        for cap in (float(x) for x in f["levels_t"].split(";")):
            capex = ref_capex * (cap / ref_cap) ** p["capex_scale_exponent"]
            if f["status"] == "existing":
                fixed, opening = capex * p["fixed_om_share_of_capex"], 0.0
            else:
                fixed, opening = capex * annual, capex * p["opening_cost_share_of_capex"]
            lvl_rows.append({"facility": f["id"], "level": level_name(cap), "capacity_t": cap,
                             "fixed_cost_per_year": round(fixed, -3), "opening_cost": round(opening, -3)})
    return pd.DataFrame(fac_rows), pd.DataFrame(lvl_rows)


def build_markets(p: dict[str, float], pop: pd.DataFrame):
    plan = read_raw("markets_plan.csv", dtype=str)
    macro_pop = pop.groupby("macro_region")["population_10k"].sum()
    region_pop = pop["population_10k"].sum()
    markets = plan[["id", "site", "application", "chemistries"]]
    # Pool each demand parameter over the instance, then split it by population served.
    pools = {
        "telecom_cascade_demand_cn_kwh": p["telecom_cascade_demand_cn_kwh"] * region_pop
        / p["population_cn_2023_10k"],
        "ess_second_life_demand_kwh": p["ess_second_life_demand_kwh"],
        "ups_second_life_demand_kwh": p["ups_second_life_demand_kwh"],
    }
    rows = []
    for _, m in plan.iterrows():
        served = sum(macro_pop[r] for r in m["serves"].split(";"))
        rows.append({"market": m["id"], "period": PERIOD,
                     "demand_kwh": round(pools[m["demand_parameter"]] * served / region_pop, -3),
                     "price_per_kwh": p[m["price_parameter"]]})
    return markets, pd.DataFrame(rows)


def manifest_text(p: dict[str, float], tables: list[str]) -> str:
    lines = [
        "# Generated by instances/build/china_east.py -- edit the raw tables, then re-run the script.",
        "name: china-east",
        "description: >-",
        "  End-of-life EV battery reverse logistics in East and Central China (11 provinces), 2025.",
        "  Supply scaled from MIIT's >400 kt national figure by population; real existing recyclers",
        "  and the China Tower Xinxiang second-life centre; candidate sites in large cities.",
        "  Sources and assumptions: README.md.",
        f"currency: {CURRENCY}",
        "units:",
        "  mass: t",
        "  energy: kWh",
        "  distance: km",
        f"periods: [{PERIOD}]",
        "tables:",
    ]
    lines += [f"  {t}: {t}.csv" for t in tables]
    lines += [
        "defaults:",
        f"  collection_cost_per_t: {p['collection_cost_cny_per_t']:g}",
        f"  second_life_soh: {p['second_life_soh']:g}",
        "transport:",
        f"  detour_factor: {p['detour_factor_default']:g}",
        f"  max_lane_km: {p['max_lane_km']:g}",
        "  cost_per_tkm:",
        f"    eol_packs: {p['transport_eol_cny_per_tkm']:g}",
        f"    second_life_packs: {p['transport_second_life_cny_per_tkm']:g}",
        f"    rejects: {p['transport_rejects_cny_per_tkm']:g}",
        "# China's 2024 Standard Conditions as the preset writes them: per enterprise, Li >= 90 % and",
        "# Ni / Co / Mn >= 98 % on the input of each hydro / pyro plant's smelting step (scope step),",
        "# the material-repair (direct) route >= 99 % of the packs' Li+Ni+Co+Mn, one rate on the sum",
        "# (scope chain); see README.md.",
        "# The 2026 Interim Measures take effect on 1 Apr 2026, after this instance's single year.",
        "policies:",
        "  CN: [cn-2024-standard-conditions]",
        "uncollected:",
        "  allowed: false",
        "disposal:",
        "  allowed: false",
    ]
    return "\n".join(lines) + "\n"


def _inputs() -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parameters, GeoNames cities, plant rows and province population (the raw inputs)."""
    p = params()
    cities = read_raw("geonames_cities_china_east.csv", dtype=str)
    plants = read_raw("battery_facilities_china_east.csv", dtype=str)
    pop = read_raw("province_population.csv")
    return p, cities, plants, pop


def tables() -> dict[str, pd.DataFrame]:
    """Every output table, in the order they are listed in instance.yaml."""
    p, cities, plants, pop = _inputs()
    chem, chemistries, materials, chem_mat, prices = build_chemistry_tables(p)
    tech, technologies, yields = build_technologies()
    facilities, levels = build_facilities(p, tech, chem)
    markets, demand = build_markets(p, pop)
    return {
        "sites": build_sites(cities, plants),
        "jurisdictions": pd.DataFrame([{"id": JURISDICTION, "name": "China", "groups": ""}]),
        "regions": build_regions(p, pop),
        "chemistries": chemistries,
        "materials": materials,
        "chemistry_materials": chem_mat,
        "material_prices": prices,
        "supply": build_supply(p, pop, cities, chem),
        "technologies": technologies,
        "technology_yields": yields,
        "facilities": facilities,
        "facility_levels": levels,
        "markets": markets,
        "market_demand": demand,
    }


def eol_supply() -> pd.DataFrame:
    """End-of-life tonnes per year and chemistry: the 2025 totals of ``supply.csv``.

    china-east is not built from the retirement model: its single year is MIIT's national 2025
    figure scaled by population (see ``build_supply``), so this returns those totals, summed
    from the rounded rows exactly as written.
    """
    p, cities, _plants, pop = _inputs()
    chem = build_chemistry_tables(p)[0]
    sup = build_supply(p, pop, cities, chem)
    out = sup.groupby(["period", "chemistry"], as_index=False)["tonnes"].sum()
    out = out.rename(columns={"period": "year"})
    out["tonnes"] = out["tonnes"].round(6)
    return out[["year", "chemistry", "tonnes"]].sort_values(["year", "chemistry"]).reset_index(drop=True)


def existing_plants() -> pd.DataFrame:
    """Every existing facility and its capacity (t/yr) at its smallest level."""
    p = params()
    chem = build_chemistry_tables(p)[0]
    tech = build_technologies()[0]
    facilities, levels = build_facilities(p, tech, chem)
    existing = facilities.loc[facilities["status"] == "existing", "id"]
    cap = levels.loc[levels["facility"].isin(existing)].groupby("facility")["capacity_t"].min()
    return pd.DataFrame({"facility": cap.index, "capacity_t": cap.to_numpy()}).reset_index(drop=True)


def build(out: Path) -> None:
    """Write instance.yaml and every CSV of the instance into ``out`` (created if needed)."""
    p = params()
    built = tables()
    _shared.write_instance(out, built, manifest_text(p, list(built)))

    # Summary for the person running the script (not written to disk).
    sup, facilities, levels, demand = built["supply"], built["facilities"], built["facility_levels"], \
        built["market_demand"]
    lv = levels.merge(facilities[["id", "kind", "status"]], left_on="facility", right_on="id")
    print(f"supply: {sup['tonnes'].sum():,.0f} t/yr "
          f"(fit for second life {(sup['tonnes'] * sup['fit_share']).sum():,.0f} t/yr)")
    for (kind, status), g in lv.groupby(["kind", "status"]):
        cap = g.groupby("facility")["capacity_t"].max().sum()
        print(f"{kind:11s} {status:9s} {g['facility'].nunique():2d} facilities, "
              f"max capacity {cap:,.0f} t/yr")
    print(f"second-life demand: {demand['demand_kwh'].sum() / 1e3:,.0f} MWh/yr")
    print(f"wrote {len(built)} tables + instance.yaml to {out}")


if __name__ == "__main__":
    build(INSTANCE)
