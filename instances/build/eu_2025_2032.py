"""Build the ``instances/eu-2025-2032`` instance from the raw tables in ``instances/build/raw/eu-2025-2032``.

Run from the repository root::

    python instances/build/eu_2025_2032.py

End-of-life EV packs in the EU27, EFTA (Liechtenstein's packs collected at Zurich) and the UK,
2025-2032 in six investment periods (2025, 2026, 2027, 2028-30, 2031, 2032), each operated yearly
(supply, demand and prices per calendar year), in EUR; production scrap of six cell plants as grade
S (recycling only); stock at collection points. Supply comes from the Weibull first-life model
(:func:`network_opt.datasets.retirement.retired_tonnes`) applied to European BEV and PHEV
registrations; the EU Batteries Regulation is applied with the ``eu-2023-1542`` preset.

The script uses no randomness, sorts every table and formats every number explicitly, so running
it twice writes byte-identical files. Every number comes from a raw table with a ``source``
column (see ``instances/build/raw/eu-2025-2032/SOURCES.md`` and ``instances/eu-2025-2032/README.md``).

Contract used by the tests: ``INSTANCE``, ``eol_supply()``, ``existing_plants()``, ``build(out)``,
``production_scrap()``, ``pack_mass_by_vintage()``, ``read_raw``.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from network_opt.common.geo import haversine_km
from network_opt.datasets.retirement import retired_tonnes

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by file path (tests/test_real_instances.py): find _shared
    sys.path.insert(0, str(HERE))
import _shared  # noqa: E402
from _shared import largest_remainder, level_name  # noqa: E402

RAW = HERE / "raw" / "eu-2025-2032"
INSTANCE = HERE.parent / "eu-2025-2032"

NAME = "eu-2025-2032"
CURRENCY = "EUR"
YEARS = list(range(2025, 2033))  # every year of the horizon (retirement model)
#: investment periods (first year, length in years): each change of an EU rule starts a period (2026
#: recycling efficiency, 2027 export bans (List-of-Waste amendment applicable from 9 Nov 2026), 2028
#: material recovery, 2031 efficiency, 2032 recovery). Every period is operated yearly
#: (``operations: yearly``): one operating year per calendar year with its own supply, demand and
#: prices, so the plant opened for 2028-30 must cover 2030's supply, not the period's mean.
PERIODS = [(2025, 1), (2026, 1), (2027, 1), (2028, 3), (2031, 1), (2032, 1)]
#: operating years: every calendar year of the horizon
OPERATING_YEARS = [y for start, length in PERIODS for y in range(start, start + length)]
CHEMISTRIES = ["NMC", "LFP", "LMO"]
PRE_TECH = "MECH"  # the one pre-processing technology (its black-mass yield sets black_mass_kg_per_t)
TSCALE = 1000  # supply is rounded to 1/TSCALE t with totals preserved (largest remainder)


# ---------------------------------------------------------------- helpers
read_raw = functools.partial(_shared.read_raw, RAW)


def params() -> dict[str, object]:
    """Scalar parameters: floats where the value parses as a number, else the string."""
    return {**_shared.parameter_text(RAW), **_shared.parameter_numbers(RAW)}


def num(p: dict[str, object], key: str) -> float:
    value = p[key]
    if not isinstance(value, float):
        raise ValueError(f"parameter {key} is not a number: {value!r}")
    return value


def split_exact(total: float, weights: list[float]) -> list[float]:
    """Split ``total`` by ``weights`` in units of 1/TSCALE so that the parts add up exactly to
    ``round(total * TSCALE) / TSCALE`` (largest remainder; ties go to the earlier item)."""
    return [units / TSCALE for units in largest_remainder(round(total * TSCALE), weights)]


# ---------------------------------------------------------------- retirement model
def _series() -> dict[str, object]:
    sales = read_raw("vehicle_sales.csv")
    kwh = read_raw("pack_kwh.csv")
    shares = read_raw("chemistry_shares.csv")
    chem = read_raw("chemistries.csv").set_index("chemistry")
    return {
        "bev": dict(zip(sales["year"].astype(int), sales["bev"].astype(float), strict=True)),
        "phev": dict(zip(sales["year"].astype(int), sales["phev"].astype(float), strict=True)),
        "bev_kwh": dict(zip(kwh["year"].astype(int), kwh["bev_kwh"].astype(float), strict=True)),
        "phev_kwh": dict(zip(kwh["year"].astype(int), kwh["phev_kwh"].astype(float), strict=True)),
        "shares": {int(r["year"]): {c: float(r[c]) for c in CHEMISTRIES} for _, r in shares.iterrows()},
        "kg_per_kwh": {c: float(chem.loc[c, "kg_pack_per_kwh"]) for c in CHEMISTRIES},
    }


def pack_mass_by_vintage() -> dict[int, dict[str, float]]:
    """Pack mass (kg per kWh) per sale year (vintage) and chemistry, from pack_mass_by_vintage.csv:
    older packs are heavier per kWh (modules, casings), so the retirement model converts each
    vintage's kWh to tonnes at its own mass. Every vintage of vehicle_sales.csv must be covered."""
    years = read_raw("vehicle_sales.csv")["year"].astype(int).tolist()
    return _shared.vintage_masses(read_raw("pack_mass_by_vintage.csv"), years, list(CHEMISTRIES))


def eol_by_vintage_group() -> pd.DataFrame:
    """End-of-life tonnes per (group, year, chemistry); group ``early`` = vehicles sold before
    ``recent_vintage_from``, ``recent`` = from then on (they are split by country differently).
    Columns group, year, chemistry, tonnes, vehicles."""
    p = params()
    s = _series()
    cut = int(num(p, "recent_vintage_from"))
    shape, scale = num(p, "weibull_shape"), num(p, "weibull_scale_years")
    phev_chem = str(p["phev_chemistry"])
    mass = pack_mass_by_vintage()
    parts = []
    for group, keep in (("early", lambda v: v < cut), ("recent", lambda v: v >= cut)):
        for v in sorted(s["bev"]):  # one vintage at a time: each converts kWh to t at its own mass
            if not keep(v):
                continue
            bev = {v: s["bev"][v]}
            phev = {v: s["phev"][v]} if s["phev"].get(v, 0) > 0 else {}
            for sales, kwh, shares in ((bev, s["bev_kwh"], s["shares"]),
                                       (phev, s["phev_kwh"], {v: {phev_chem: 1.0}})):
                if sales:
                    t = retired_tonnes(sales, kwh, shares, mass[v], YEARS, shape, scale)
                    parts.append(t.assign(group=group))
    out = pd.concat(parts, ignore_index=True)
    out = out.groupby(["group", "year", "chemistry"], as_index=False)[["tonnes", "vehicles"]].sum()
    full = pd.MultiIndex.from_product([["early", "recent"], YEARS, CHEMISTRIES], names=["group", "year", "chemistry"])
    out = out.set_index(["group", "year", "chemistry"]).reindex(full, fill_value=0.0).reset_index()
    return out


def eol_supply() -> pd.DataFrame:
    """Total end-of-life tonnes per operating year (every calendar year: the periods are operated
    yearly) and chemistry of the whole instance, from the Weibull retirement model. The
    end-of-life rows of supply.csv (those without a grade) add up to these."""
    g = eol_by_vintage_group().groupby(["year", "chemistry"], as_index=False)["tonnes"].sum()
    g["chemistry"] = pd.Categorical(g["chemistry"], CHEMISTRIES, ordered=True)
    g = g.sort_values(["year", "chemistry"]).reset_index(drop=True)
    g["chemistry"] = g["chemistry"].astype(str)
    return g[["year", "chemistry", "tonnes"]]


# ---------------------------------------------------------------- geography
def _cities() -> pd.DataFrame:
    return read_raw("geonames_cities_europe.csv", dtype=str).set_index("geonameid")


def _plants() -> pd.DataFrame:
    return read_raw("battery_facilities_europe.csv", dtype=str).set_index("facility_id")


def build_sites() -> pd.DataFrame:
    plan = read_raw("sites_plan.csv", dtype=str)
    city, plant = _cities(), _plants()
    rows = []
    for _, s in plan.iterrows():
        if s["geonameid"]:
            c = city.loc[s["geonameid"]]
            if c["country_code"] != s["country"]:
                raise ValueError(f"{s['id']}: country {s['country']} != GeoNames {c['country_code']}")
            lat, lon, base = float(c["latitude"]), float(c["longitude"]), c["name"]
            name = {"collection_point": base, "facility": f"{base} candidate site",
                    "market": f"{base} second-life market"}[s["kind"]]
        else:
            f = plant.loc[s["facility_id"]]
            if f["country_code"] != s["country"]:
                raise ValueError(f"{s['id']}: country {s['country']} != facility {f['country_code']}")
            lat, lon, name = float(f["lat"]), float(f["lon"]), f["name"]
        rows.append({"id": s["id"], "name": name, "kind": s["kind"], "latitude": round(lat, 5),
                     "longitude": round(lon, 5), "region": s["country"], "jurisdiction": s["country"]})
    for _, c in _cell_plant_sites().iterrows():  # production scrap arises at the cell plants
        rows.append({"id": c["id"], "name": f"{c['name']} (production scrap)", "kind": "collection_point",
                     "latitude": round(float(c["latitude"]), 5), "longitude": round(float(c["longitude"]), 5),
                     "region": c["country"], "jurisdiction": c["country"]})
    return pd.DataFrame(rows)


def _cell_plant_sites() -> pd.DataFrame:
    """One row per cell plant of cell_plants.csv (a plant may have several capacity rows)."""
    return read_raw("cell_plants.csv", dtype=str).drop_duplicates("id")[
        ["id", "name", "country", "landmass", "latitude", "longitude"]]


def _road_km(p: dict[str, object], lat1, lon1, lat2, lon2) -> np.ndarray:
    return haversine_km(np.asarray(lat1, float), np.asarray(lon1, float), np.asarray(lat2, float),
                        np.asarray(lon2, float)) * num(p, "detour_factor")


def build_lanes(p: dict[str, object], sites: pd.DataFrame) -> pd.DataFrame:
    """Explicit lanes.

    1. Road lanes between land masses (GB, IE, IS, CY, MT, Sardinia, continent) get a crossing
       penalty in km; crossings longer than max_lane_km with the penalty are forbidden.
    2. A collection point with fewer than ``min_receivers_per_cp`` recyclers/pre-processors within
       max_lane_km keeps lanes to its nearest ones (up to ``fallback_lane_max_km``).
    3. Refurbishers reach markets up to ``second_life_lane_max_km`` (these lanes also serve any
       other commodity between the two sites, but no other commodity runs from a refurbisher's
       site to a market's).
    4. Black mass runs from every European pre-processor to every European refiner up to
       ``black_mass_lane_max_km`` of road (with the crossing penalty), beyond max_lane_km: black mass is
       shipped across Europe in full loads (Fortum: Kirchardt to Harjavalta, about 2,400 km).
    5. Sea lanes for black mass from every European pre-processor to the Asian refiners.
    """
    plan = read_raw("sites_plan.csv", dtype=str).set_index("id")
    landmass = pd.concat([plan["landmass"], _cell_plant_sites().set_index("id")["landmass"]])
    s = sites.set_index("id").join(landmass)
    europe = s.loc[s["landmass"] != "asia"]
    pairs_kinds = {("collection_point", "facility"), ("facility", "facility"), ("facility", "market"),
                   ("market", "facility")}
    o = europe.add_prefix("o_").reset_index().rename(columns={"id": "origin"})
    d = europe.add_prefix("d_").reset_index().rename(columns={"id": "destination"})
    x = o.merge(d, how="cross")
    x = x.loc[(x["origin"] != x["destination"])
              & np.array([(a, b) in pairs_kinds for a, b in zip(x["o_kind"], x["d_kind"], strict=True)], dtype=bool)]
    road = _road_km(p, x["o_latitude"], x["o_longitude"], x["d_latitude"], x["d_longitude"])
    crossing = (x["o_landmass"] != x["d_landmass"]).to_numpy()
    x = x.assign(road_km=road, crossing=crossing,
                 distance_km=road + np.where(crossing, num(p, "crossing_penalty_km"), 0.0))
    limit = num(p, "max_lane_km")
    keep = x["crossing"] & (x["distance_km"] <= limit)
    forbid = x["crossing"] & (x["distance_km"] > limit) & (x["road_km"] <= limit)

    fac = read_raw("facilities_plan.csv", dtype=str)
    receiver_sites = set(fac.loc[fac["kind"].isin(["preprocessor", "recycler"]), "site"])
    to_receiver = (x["o_kind"] == "collection_point") & x["destination"].isin(receiver_sites)
    n_min = int(num(p, "min_receivers_per_cp"))
    cand = x.loc[to_receiver].sort_values(["origin", "distance_km", "destination"])
    within = cand.loc[cand["distance_km"] <= limit].groupby("origin").size()
    short = [cp for cp in sorted(set(cand["origin"])) if within.get(cp, 0) < n_min]
    fallback = cand.loc[cand["origin"].isin(short) & (cand["distance_km"] <= num(p, "fallback_lane_max_km"))]
    fallback = fallback.groupby("origin").head(n_min)
    fallback_idx = fallback.index[fallback["distance_km"] > limit]
    # repurposed packs (products, cheap to ship) reach markets beyond max_lane_km
    refurb_sites = set(fac.loc[fac["kind"] == "refurbisher", "site"])
    sl_idx = x.index[x["origin"].isin(refurb_sites) & (x["d_kind"] == "market") & (x["distance_km"] > limit)
                     & (x["distance_km"] <= num(p, "second_life_lane_max_km"))]
    keep = keep | x.index.isin(fallback_idx) | x.index.isin(sl_idx)
    forbid = forbid & ~x.index.isin(fallback_idx) & ~x.index.isin(sl_idx)
    # black mass between European pre-processors and refiners beyond max_lane_km (a black_mass row wins
    # over a forbidden crossing for all commodities)
    pre_sites = sorted(set(fac.loc[fac["kind"] == "preprocessor", "site"]))
    refiner_sites = set(fac.loc[fac["kind"] == "refiner", "site"])
    bm = x["origin"].isin(pre_sites) & x["destination"].isin(refiner_sites) & (x["distance_km"] > limit) \
        & (x["distance_km"] <= num(p, "black_mass_lane_max_km"))
    road_rows = pd.concat([
        pd.DataFrame({"origin": x.loc[keep, "origin"], "destination": x.loc[keep, "destination"], "commodity": "",
                      "distance_km": x.loc[keep, "distance_km"].round(1), "cost_per_t": np.nan, "allowed": True}),
        pd.DataFrame({"origin": x.loc[forbid, "origin"], "destination": x.loc[forbid, "destination"],
                      "commodity": "", "distance_km": np.nan, "cost_per_t": np.nan, "allowed": False}),
        pd.DataFrame({"origin": x.loc[bm, "origin"], "destination": x.loc[bm, "destination"],
                      "commodity": "black_mass", "distance_km": x.loc[bm, "distance_km"].round(1),
                      "cost_per_t": np.nan, "allowed": True}),
    ])

    # sea lanes for black mass
    asia = {"F-GUNSAN": "gunsan", "F-QUZHOU": "ningbo"}
    ports = read_raw("ports.csv", dtype=str)
    city = _cities()
    ports["lat"] = ports["geonameid"].map(city["latitude"]).astype(float)
    ports["lon"] = ports["geonameid"].map(city["longitude"]).astype(float)
    rows = []
    for site in pre_sites:
        so = s.loc[site]
        road = _road_km(p, so["latitude"], so["longitude"], ports["lat"], ports["lon"]) \
            + np.where(ports["landmass"] != so["landmass"], num(p, "crossing_penalty_km"), 0.0)
        best = int(np.argmin(road))  # first port on ties (stable)
        route, road_km = ports.loc[best, "sea_route"], float(road[best])
        for dest, key in asia.items():
            sea = num(p, f"sea_km_{route}_{key}")
            cost = road_km * num(p, "transport_black_mass_eur_per_tkm") + num(p, "sea_freight_black_mass_eur_per_t")
            rows.append({"origin": site, "destination": dest, "commodity": "black_mass",
                         "distance_km": round(road_km + sea, 1), "cost_per_t": round(cost, 2), "allowed": True})
    lanes = pd.concat([road_rows, pd.DataFrame(rows)], ignore_index=True)
    return lanes.sort_values(["origin", "destination", "commodity"]).reset_index(drop=True)


# ---------------------------------------------------------------- targets
#: refiners outside the EU that take EU black mass, and their jurisdiction
EXPORT_REFINER_JURISDICTIONS = ["CN", "KR"]
EXPORT_CHAIN_SOURCE = (
    "Reg. (EU) 2023/1542 Art. 71(2) and Annex XII (value and date: preset {preset}, rule {metric}{material} from "
    "{year}) applied to the chain into a refiner in {jur}: Art. 72(3) counts waste batteries or fractions exported "
    "from the Union towards the Art. 71 targets only if the treatment took place under conditions equivalent to the "
    "Regulation [L, German text, haufe.de Art. 72], and the first recycler (the EU pre-processor) documents the whole "
    "process (Delegated Regulation (EU) 2025/606 [S]; BattDG s. 29(2) [L]); every tonne this instance sends to "
    "{jur} is European black mass (docs/legal-review.md, open question 13)")


def build_targets() -> pd.DataFrame:
    """Chain-scope rows for the refiners outside the EU that take European black mass (Gunsan, KR;
    Huayou Quzhou, CN):
    the EU preset's recycling-efficiency and material-recovery rows, repeated for their jurisdiction.
    The preset itself gives rows only to refiners located in the EU27."""
    from network_opt.inputs.policies import get_preset

    preset = "eu-2023-1542"
    t = get_preset(preset).targets
    t = t.loc[t["scope"] == "chain"]
    rows = []
    for jur in EXPORT_REFINER_JURISDICTIONS:
        for r in t.itertuples(index=False):
            rows.append({"jurisdiction": jur, "metric": r.metric, "material": r.material, "value": r.value,
                         "from_period": int(r.from_period), "scope": "chain",
                         "source": EXPORT_CHAIN_SOURCE.format(preset=preset, metric=r.metric,
                                                              material=f" {r.material}" if r.material else "",
                                                              year=int(r.from_period), jur=jur)})
    return pd.DataFrame(rows).sort_values(["jurisdiction", "metric", "material", "from_period"]).reset_index(drop=True)


# ---------------------------------------------------------------- supply
def country_shares(p: dict[str, object]) -> pd.DataFrame:
    """Share of each country in end-of-life supply, for early and recent vintages."""
    reg = read_raw("bev_registrations_by_country.csv")
    pop = read_raw("country_population.csv").set_index("country")["population"].astype(float)
    reg["q1"] = pd.to_numeric(reg["q1_2019"], errors="coerce") + pd.to_numeric(reg["q1_2020"], errors="coerce")
    reg = reg.set_index("country")
    low = str(p["cp_low_adoption_countries"]).split(";")
    rate = reg.loc[low, "q1"].sum() / pop.loc[low].sum()
    missing = reg["q1"].isna()
    reg.loc[missing, "q1"] = pop.reindex(reg.index[missing]) * rate
    early = reg["q1"] / reg["q1"].sum()
    known = pd.to_numeric(reg["reg_2024"], errors="coerce")
    total_2024 = float(read_raw("vehicle_sales.csv").set_index("year").loc[2024, "bev"])
    rest = total_2024 - known.sum()
    others = known.isna()
    recent = known.copy()
    recent[others] = rest * early[others] / early[others].sum()
    recent = recent / recent.sum()
    return pd.DataFrame({"early": early, "recent": recent}).sort_index()


def production_scrap(p: dict[str, object] | None = None) -> pd.DataFrame:
    """Production scrap of the European cell plants (cell_plants.csv) per operating year, grade
    ``S`` (recycling only), at a collection point on the plant's site: nameplate GWh x
    utilisation x scrap rate x cell kg per kWh. Columns site, period, chemistry, tonnes, grade."""
    p = params() if p is None else p
    plants = read_raw("cell_plants.csv")
    per_gwh = (1e6 * num(p, "cell_plant_utilisation") * num(p, "cell_scrap_rate")
               * num(p, "cell_scrap_kg_per_kwh") / 1000)  # t per GWh of nameplate
    rows = []
    for y in OPERATING_YEARS:
        live = plants.loc[(plants["from_year"] <= y) & (plants["to_year"] >= y)]
        for r in live.itertuples(index=False):
            rows.append({"site": r.id, "period": y, "chemistry": r.chemistry,
                         "tonnes": round(float(r.capacity_gwh) * per_gwh, 3), "grade": "S"})
    return pd.DataFrame(rows)


def build_supply(p: dict[str, object], sites: pd.DataFrame) -> pd.DataFrame:
    """Country tonnes (vintage-group shares) split between the country's collection points by
    GeoNames population, rounded with the totals per (period, chemistry) preserved."""
    shares = country_shares(p)
    plan = read_raw("sites_plan.csv", dtype=str)
    cps = plan.loc[plan["kind"] == "collection_point", ["id", "geonameid", "country"]].copy()
    cps["population"] = cps["geonameid"].map(_cities()["population"]).astype(float)
    cps["city_share"] = cps["population"] / cps.groupby("country")["population"].transform("sum")
    cps = cps.sort_values("id").reset_index(drop=True)
    groups = eol_by_vintage_group().set_index(["group", "year", "chemistry"])["tonnes"]
    totals = eol_supply().set_index(["year", "chemistry"])["tonnes"]
    rows = []
    for y in OPERATING_YEARS:
        for c in CHEMISTRIES:
            weights = [(groups[("early", y, c)] * shares.loc[cp["country"], "early"]
                        + groups[("recent", y, c)] * shares.loc[cp["country"], "recent"]) * cp["city_share"]
                       for _, cp in cps.iterrows()]
            parts = split_exact(float(totals[(y, c)]), weights)
            rows += [{"site": cp, "period": y, "chemistry": c, "tonnes": t, "grade": "", "collection_cost_per_t": ""}
                     for cp, t in zip(cps["id"], parts, strict=True)]
    scrap = production_scrap(p)
    out = pd.concat([pd.DataFrame(rows), scrap.assign(collection_cost_per_t=num(p, "scrap_collection_cost_eur_per_t"))],
                    ignore_index=True)
    return out.sort_values(["site", "period", "chemistry"], key=lambda col: col.map(
        {k: i for i, k in enumerate(CHEMISTRIES)}) if col.name == "chemistry" else col).reset_index(drop=True)


# ---------------------------------------------------------------- chemistry, materials, technologies
def build_chemistry_tables(p: dict[str, object]):
    chem, chemistries, materials, content = _shared.pack_tables(RAW)
    mats = read_raw("materials.csv")
    transfer = read_raw("black_mass_transfer.csv").set_index("material")["share_to_black_mass"]
    bm_yield = float(read_raw("technologies.csv").set_index("technology").loc[PRE_TECH, "black_mass_yield"])
    content["black_mass_kg_per_t"] = (content["kg_per_t"] * content["material"].map(transfer) / bm_yield).round(2)
    chem_mat = content[["chemistry", "material", "kg_per_t", "black_mass_kg_per_t"]]

    def to_eur(row) -> float:
        unit = row["price_unit"]
        if unit == "USD/t":
            return row["price"] / num(p, "eur_usd")
        if unit == "CNY/t":
            return row["price"] / num(p, "eur_cny")
        if unit == "CNY/t Li2CO3":
            return row["price"] / num(p, "eur_cny") / num(p, "li_mass_fraction_li2co3")
        if unit == "EUR/t":
            return row["price"]
        raise ValueError(f"unknown price unit {unit!r}")

    prices = pd.DataFrame([{"material": r["material"], "period": y, "price_per_t": round(to_eur(r), -1)}
                           for _, r in mats.iterrows() for y in OPERATING_YEARS])
    return chem, chemistries, materials, chem_mat, prices


def build_technologies():
    tech = read_raw("technologies.csv")
    technologies = pd.DataFrame({"id": tech["technology"], "name": tech["name"], "process": tech["process"],
                                 "recycling_efficiency": tech["recycling_efficiency"],
                                 "black_mass_yield": tech["black_mass_yield"], "co2e_per_t": tech["co2e_per_t"]})
    yields = read_raw("technology_yields.csv")[["technology", "material", "recovery_yield"]]
    return tech, technologies, yields


# ---------------------------------------------------------------- facilities
def _levels(p: dict[str, object], spec: str) -> list[float]:
    return [num(p, x) if x in p else float(x) for x in spec.split(";")]


def _capex(p: dict[str, object], kind: str, cap: float) -> float:
    e = num(p, "capex_scale_exponent")
    if kind == "preprocessor":
        return num(p, "capex_preprocessor_eur") * (cap / num(p, "capex_preprocessor_reference_t")) ** e
    if kind in ("refiner", "refiner_adv"):
        base = num(p, "capex_refiner_eur") * (cap / num(p, "capex_refiner_reference_t")) ** e
        return base * (num(p, "capex_refiner_adv_factor") if kind == "refiner_adv" else 1.0)
    if kind == "refurbisher":
        return num(p, "capex_refurbisher_eur") * (cap / num(p, "capex_refurbisher_reference_t")) ** e
    if kind == "toll":
        return 0.0
    raise ValueError(f"unknown capex kind {kind!r}")


def build_facilities(p: dict[str, object], tech: pd.DataFrame):
    plan = read_raw("facilities_plan.csv", dtype=str)
    var_cost = tech.set_index("technology")["variable_cost_eur_per_t"]
    refurb_cost = round(num(p, "refurb_cost_eur_per_kwh") * num(p, "refurb_reference_kwh_per_t"), -1)
    om = num(p, "fixed_om_share_of_capex")
    fac_rows, lvl_rows = [], []
    for _, f in plan.iterrows():
        refurb = f["kind"] == "refurbisher"
        levels = _levels(p, f["levels_t"])
        # add-on modules: capex of the largest size (base + all modules) less the base, shared
        # evenly between the modules (the marginal capex of the power law between the two sizes)
        n_mod = int(f["max_modules"] or 0)
        mod_t = float(f["module_t"]) if n_mod else 0.0
        mod_capex = 0.0
        if n_mod:
            base = max(levels)
            mod_capex = (_capex(p, f["capex_kind"], base + n_mod * mod_t) - _capex(p, f["capex_kind"], base)) / n_mod
        fac_rows.append({
            "id": f["id"], "site": f["site"], "kind": f["kind"], "technology": f["technology"],
            "status": f["status"],
            "variable_cost_per_t": refurb_cost if refurb else float(var_cost[f["technology"]]),
            "test_yield": num(p, "refurb_test_yield") if refurb else "",
            "closing_cost": "",  # existing plants never close (a closing option slows the solve a lot)
            "module_capacity_t": int(mod_t) if n_mod else "",
            "module_opening_cost": int(round(mod_capex, -3)) if n_mod else "",
            "module_fixed_cost_per_year": int(round(mod_capex * om, -3)) if n_mod else "",
            "max_modules": n_mod if n_mod else "",
        })
        for cap in levels:
            capex = _capex(p, f["capex_kind"], cap)
            lvl_rows.append({"facility": f["id"], "level": level_name(cap), "capacity_t": cap,
                             "fixed_cost_per_year": round(capex * om, -3), "opening_cost": round(capex, -3)})
    return pd.DataFrame(fac_rows), pd.DataFrame(lvl_rows)


def build_storage(p: dict[str, object], sites: pd.DataFrame) -> pd.DataFrame:
    """Every collection point (end-of-life packs and production scrap) may hold stock between
    operating years: cap and holding cost from parameters.csv (4. BImSchV threshold; assumption)."""
    cps = sites.loc[sites["kind"] == "collection_point", "id"].sort_values()
    return pd.DataFrame({"site": cps, "cap_t": num(p, "storage_cap_t"),
                         "holding_cost_per_t_year": num(p, "storage_holding_cost_eur_per_t_year"),
                         "source": "parameters.csv storage_cap_t (4. BImSchV Annex 1 No. 8.12.1 simplified-permit "
                                   "threshold) and storage_holding_cost_eur_per_t_year (assumption, range 50-300)"})


def existing_plants() -> pd.DataFrame:
    """Every existing facility and its capacity (t/yr) at its smallest level, as written in
    facility_levels.csv."""
    p = params()
    plan = read_raw("facilities_plan.csv", dtype=str)
    plan = plan.loc[plan["status"] == "existing"]
    rows = [{"facility": f["id"], "capacity_t": min(_levels(p, f["levels_t"]))} for _, f in plan.iterrows()]
    return pd.DataFrame(rows).sort_values("facility").reset_index(drop=True)


# ---------------------------------------------------------------- markets
def build_markets(p: dict[str, object]):
    plan = read_raw("markets_plan.csv", dtype=str)
    pop = read_raw("country_population.csv").set_index("country")["population"].astype(float)
    pop = pop.drop("LI")  # Liechtenstein's population counts with CH's market through Zurich
    total = pop.sum()
    markets = plan[["id", "site", "application", "chemistries", "grades"]]
    pools = {"energy_storage": "ess", "ups": "ups", "telecom_backup": "telecom"}
    rows = []
    for _, m in plan.iterrows():
        key = pools[m["application"]]
        served = pop.loc[m["serves"].split(";")].sum() / total
        growth = 1.0 + num(p, f"demand_{key}_growth")
        for y in OPERATING_YEARS:  # each operating year its own demand
            demand = num(p, f"demand_{key}_2025_kwh") * growth ** (y - 2025)
            rows.append({"market": m["id"], "period": y, "demand_kwh": round(demand * served, -2),
                         "price_per_kwh": num(p, f"price_{key}_eur_per_kwh")})
    return markets, pd.DataFrame(rows)


# ---------------------------------------------------------------- manifest
def manifest_text(p: dict[str, object], tables: list[str]) -> str:
    lines = [
        "# Generated by instances/build/eu_2025_2032.py -- edit the raw tables, then re-run the script.",
        f"name: {NAME}",
        "description: >-",
        "  End-of-life EV battery reverse logistics in the EU27, EFTA and the UK, 2025-2032 (investment",
        "  periods 2025, 2026, 2027, 2028-30, 2031, 2032, each operated yearly), with production scrap",
        "  of six cell plants as a recycling-only grade and stock at collection points.",
        "  Supply from a Weibull first-life model of European BEV and PHEV registrations; real existing",
        "  pre-processors and refiners; candidate plants in industrial cities; EU Batteries Regulation",
        "  (preset eu-2023-1542, recovery targets per recycling chain) with the export ban on black mass",
        "  and waste packs outside Basel Annex VII from 2027 (sea lanes to a Korean and a Chinese refiner);",
        "  China admits no waste packs, and black mass only from 2026 (preset cn-solid-waste-imports).",
        "  Sources and assumptions: README.md.",
        f"currency: {CURRENCY}",
        "units:",
        "  mass: t",
        "  energy: kWh",
        "  distance: km",
        "periods: [" + ", ".join(f"{{year: {y}, length: {n}, operations: yearly}}" for y, n in PERIODS) + "]",
        "tables:",
    ]
    lines += [f"  {t}: {t}.csv" for t in tables]
    lines += [
        "defaults:",
        f"  collection_cost_per_t: {num(p, 'collection_cost_eur_per_t'):g}",
        "transport:",
        f"  detour_factor: {num(p, 'detour_factor'):g}",
        f"  max_lane_km: {num(p, 'max_lane_km'):g}",
        "  cost_per_tkm:",
        f"    eol_packs: {num(p, 'transport_eol_eur_per_tkm'):g}",
        f"    second_life_packs: {num(p, 'transport_second_life_eur_per_tkm'):g}",
        f"    rejects: {num(p, 'transport_rejects_eur_per_tkm'):g}",
        f"    returns: {num(p, 'transport_returns_eur_per_tkm'):g}",
        f"    black_mass: {num(p, 'transport_black_mass_eur_per_tkm'):g}",
        f"discount_rate: {num(p, 'discount_rate'):g}",
        "investment:",
        "  opening_cost: annualised",
        f"  interest_rate: {num(p, 'interest_rate'):g}",
        f"  lifetime_years: {num(p, 'plant_life_years'):g}",
        "emissions:",
        "  co2e_per_tkm:",
        f"    eol_packs: {num(p, 'co2e_road_pack_t_per_tkm'):.6f}",
        f"    second_life_packs: {num(p, 'co2e_road_pack_t_per_tkm'):.6f}",
        f"    rejects: {num(p, 'co2e_road_pack_t_per_tkm'):.6f}",
        f"    returns: {num(p, 'co2e_road_pack_t_per_tkm'):.6f}",
        f"    black_mass: {num(p, 'co2e_road_black_mass_t_per_tkm'):.6f}",
        f"  refurbishing_co2e_per_t: {num(p, 'refurbishing_co2e_per_t'):g}",
        "  carbon_price: 0",
        "policies:",
        "  EU27: [eu-2023-1542]",
        "  # the import side: China bans solid-waste imports from 2021 and admits black mass meeting",
        "  # Announcement 2025 No. 14's Annex 1 from 1 Aug 2025 (2025 counts as banned: 7 of 12 months)",
        "  CN: [cn-solid-waste-imports]",
        "uncollected:",
        "  allowed: false",
        "# collected waste batteries may not be disposed of: Regulation (EU) 2023/1542 Art. 70(1) (the",
        "# preset's landfill ban; before 18 Aug 2025 Directive 2006/66/EC Art. 14), so no disposal option",
        "disposal:",
        "  allowed: false",
        "stock:",
        "  allowed: true",
        f"  max_age_years: {num(p, 'stock_max_age_years'):g}",
        "scenarios:",
        *_asia_buys_black_mass(),
        "  adv-premium-300:",
        "    description: >-",
        "      Advanced hydromet (Li and graphite recovery) costs EUR 300/t of black mass more than basic",
        "      hydromet instead of EUR 600 (low end of the stated range, parameters.csv)",
        "    overrides:",
        *_adv_overrides(p, "adv_premium_low_eur_per_t"),
        "  adv-premium-1200:",
        "    description: >-",
        "      Advanced hydromet costs EUR 1,200/t of black mass more than basic hydromet instead of",
        "      EUR 600 (high end of the stated range, parameters.csv)",
        "    overrides:",
        *_adv_overrides(p, "adv_premium_high_eur_per_t"),
        "  ban-from-2025:",
        "    description: >-",
        "      Export bans on black mass and waste packs outside Basel Annex VII from 2025 (as if black mass",
        "      were hazardous before the List-of-Waste amendment applies on 9 Nov 2026, e.g. by Member-State",
        "      classification under the mirror entries) instead of 2027",
        "    overrides:",
        "      - set: bans[export,EU27].from_period",
        "        value: 2025",
        "      - set: bans[export,NO].from_period",
        "        value: 2025",
        "      - set: bans[export,IS].from_period",
        "        value: 2025",
        "  china-admits-2025:",
        "    description: >-",
        "      China admits black mass for the whole of 2025 (its import ban ended on 1 Aug 2025; the base",
        "      counts 2025, 7 of 12 months banned, as banned): the other end of the yearly approximation",
        "    overrides:",
        "      - set: bans[import,CN,black_mass].until_period",
        "        value: 2024",
        "  harjavalta-advanced:",
        "    description: >-",
        "      Fortum Harjavalta refines with Li and graphite recovery (technology HYDRO-ADV and its variable",
        "      cost) instead of basic hydromet: Fortum reports 95 % of the valuable and critical metals of black",
        "      mass and 80 % of a battery recycled with its mechanical step, and a Li step planned for 2025 [S]",
        "    overrides:",
        "      - set: facilities[D-FORTUM-HARJAVALTA].technology",
        "        value: HYDRO-ADV",
        "      - set: facilities[D-FORTUM-HARJAVALTA].variable_cost_per_t",
        f"        value: {_tech_cost('HYDRO-ADV'):g}",
        "  no-recovery-targets:",
        "    description: >-",
        "      Every recycling-efficiency and material-recovery target set to 0 (bans kept): what the Annex XII",
        "      rules cost together (--cost-of-compliance removes one family at a time)",
        "    overrides:",
        "      - set: targets[EU27].value",
        "        value: 0",
        "      - set: targets[KR].value",
        "        value: 0",
        "  pooled-targets:",
        "    description: >-",
        "      The recovery and efficiency targets pooled over the EU27 (scope jurisdiction, the reading",
        "      before issue 15) instead of per recycling chain",
        "    overrides:",
        "      - set: targets[EU27].scope",
        "        value: jurisdiction",
        "      - set: targets[KR].scope",
        "        value: jurisdiction",
    ]
    return "\n".join(lines) + "\n"


def _asia_buys_black_mass() -> list[str]:
    """Scenario ``asia-buys-black-mass``: the two Asian refiners buy European black mass at the
    payables of black_mass_payables.csv (external refiners, no toll) instead of toll-refining it."""
    pay = read_raw("black_mass_payables.csv")
    lines = [
        "  asia-buys-black-mass:",
        "    description: >-",
        "      SungEel Gunsan and Huayou Quzhou buy European black mass at market payables (external",
        "      refiners: the network is paid the payable share of the Ni, Co and Li it contains, CIF South",
        "      Korea and DDP China) instead of toll-refining it for the network, which in the base keeps the",
        "      refined metal and pays the toll",
        "    overrides:",
    ]
    for fid in sorted(pay["buyer"].unique()):
        lines += [f"      - set: facilities[{fid}].external", "        value: true",
                  f"      - set: facilities[{fid}].variable_cost_per_t", "        value: 0"]
    lines += ["      - add: payables", "        rows:"]
    for r in pay.itertuples(index=False):
        row = {"product": "black_mass", "material": r.material, "buyer": r.buyer, "payable": float(r.payable),
               "source": r.source}
        lines.append(f"          - {json.dumps(row)}")  # JSON is YAML: the sources' commas and colons stay text
    return lines


def _adv_overrides(p: dict[str, object], premium: str) -> list[str]:
    """Scenario overrides giving every HYDRO-ADV facility the basic-hydromet variable cost plus the
    premium ``premium`` (a parameters.csv key)."""
    plan = read_raw("facilities_plan.csv", dtype=str)
    cost = _tech_cost("HYDRO") + num(p, premium)
    lines = []
    for fid in plan.loc[plan["technology"] == "HYDRO-ADV", "id"]:
        lines += [f"      - set: facilities[{fid}].variable_cost_per_t", f"        value: {cost:g}"]
    return lines


def build_end_values(p: dict[str, object]) -> pd.DataFrame:
    """Value of a t of packs returning from second life after 2032 (or left in stock): the net
    value of recycling it on the instance's standard new route at 2032 prices, i.e. what a
    recycler could pay for it (China's instance uses its 2032 pack price, the same reasoning).
    MECH sends ``black_mass_yield`` t of black mass per t of packs to HYDRO, which recovers each
    metal at its ``technology_yields`` row; MECH recovers the Cu and Al not in the black mass;
    less the MECH cost, the HYDRO cost per t of black mass and the collection cost. EUR per t,
    rounded to 10."""
    _chem, _chemistries, _materials, chem_mat, prices = build_chemistry_tables(p)
    price = prices.loc[prices["period"] == prices["period"].max()].set_index("material")["price_per_t"].astype(float)
    tech = read_raw("technologies.csv").set_index("technology")
    beta = float(tech.at["MECH", "black_mass_yield"])
    y = read_raw("technology_yields.csv")
    hydro = y.loc[y["technology"] == "HYDRO"].set_index("material")["recovery_yield"].astype(float)
    mech = y.loc[y["technology"] == "MECH"].set_index("material")["recovery_yield"].astype(float)
    cm = chem_mat.assign(pack_t=chem_mat["kg_per_t"].astype(float) / 1000.0,
                         bm_t=beta * chem_mat["black_mass_kg_per_t"].astype(float) / 1000.0)
    cm["revenue"] = (cm["bm_t"] * cm["material"].map(hydro).fillna(0.0)
                     + (cm["pack_t"] - cm["bm_t"]).clip(lower=0.0) * cm["material"].map(mech).fillna(0.0)
                     ) * cm["material"].map(price)
    cost = _tech_cost("MECH") + beta * _tech_cost("HYDRO") + num(p, "collection_cost_eur_per_t")
    value = (cm.groupby("chemistry", sort=False)["revenue"].sum() - cost).round(-1)
    return pd.DataFrame({"chemistry": value.index, "commodity": "eol_packs", "value_per_t": value.to_numpy(),
                         "source": "[D] net value of recycling it by MECH + HYDRO at 2032 prices, less their "
                                   "variable and the collection costs (README)"})


def _tech_cost(technology: str) -> float:
    """Variable cost (EUR/t of input) of a technology in the raw table."""
    tech = read_raw("technologies.csv").set_index("technology")
    return float(tech.loc[technology, "variable_cost_eur_per_t"])


def build(out: Path) -> None:
    """Write instance.yaml and every CSV of the instance into ``out`` (README.md is hand-written)."""
    p = params()
    sites = build_sites()
    _chem, chemistries, materials, chem_mat, prices = build_chemistry_tables(p)
    tech, technologies, yields = build_technologies()
    facilities, levels = build_facilities(p, tech)
    markets, demand = build_markets(p)
    grades = read_raw("grades.csv")[["id", "name", "soh_min", "soh_max", "usable_soh", "second_life"]]
    bans = read_raw("bans.csv")[["kind", "jurisdiction", "commodity", "to", "application", "from_period", "source"]]
    jurisdictions = read_raw("jurisdictions.csv")[["id", "name", "groups"]]

    tables = {
        "sites": sites,
        "jurisdictions": jurisdictions,
        "chemistries": chemistries,
        "materials": materials,
        "chemistry_materials": chem_mat,
        "material_prices": prices,
        "grades": grades,
        "grade_shares": read_raw("grade_shares.csv")[["chemistry", "grade", "share"]],
        "supply": build_supply(p, sites),
        "technologies": technologies,
        "technology_yields": yields,
        "facilities": facilities,
        "facility_levels": levels,
        "markets": markets,
        "market_demand": demand,
        "second_life_returns": read_raw("second_life_returns.csv")[["application", "after_years", "share"]],
        "targets": build_targets()[["jurisdiction", "metric", "material", "value", "from_period", "scope", "source"]],
        "bans": bans,
        "lanes": build_lanes(p, sites),
        "storage": build_storage(p, sites),
        "end_values": build_end_values(p),
        "ramp_up": _shared.ramp_up(RAW),
    }
    _shared.write_instance(out, tables, manifest_text(p, list(tables)))


def summary() -> None:
    """Print totals for the person running the script (nothing written)."""
    yearly = eol_by_vintage_group().groupby(["year", "chemistry"])["tonnes"].sum().unstack()[CHEMISTRIES]
    yearly["total"] = yearly.sum(axis=1)
    print("end-of-life tonnes by calendar year (retirement model), t/yr:")
    print(yearly.round(0).to_string())
    scrap = production_scrap().groupby("period")["tonnes"].sum()
    print("production scrap (grade S), t/yr:", ", ".join(f"{y}: {t:,.0f}" for y, t in scrap.items()))
    veh = eol_by_vintage_group().groupby("year")["vehicles"].sum()
    print("packs retired per year:", ", ".join(f"{y}: {v / 1e6:.2f} M" for y, v in veh.items()))
    p = params()
    tech = read_raw("technologies.csv")
    facilities, levels = build_facilities(p, tech)
    fac = facilities.set_index("id")
    mods = (pd.to_numeric(fac["module_capacity_t"], errors="coerce").fillna(0.0)
            * pd.to_numeric(fac["max_modules"], errors="coerce").fillna(0.0))
    lv = levels.groupby("facility")["capacity_t"].agg(["min", "max"])
    lv["largest"] = lv["max"] + mods.reindex(lv.index)
    lv = lv.join(fac[["kind", "status"]])
    for (kind, status), g in lv.groupby(["kind", "status"]):
        print(f"{kind:12s} {status:9s} {len(g):2d} facilities, capacity at the smallest level "
              f"{g['min'].sum():,.0f} t/yr, with every module {g['largest'].sum():,.0f} t/yr")
    _, demand = build_markets(p)
    print("second-life demand, MWh/yr:", ", ".join(
        f"{y}: {v / 1e3:,.0f}" for y, v in demand.groupby("period")["demand_kwh"].sum().items()))


if __name__ == "__main__":
    build(INSTANCE)
    summary()
    print(f"wrote {INSTANCE}")
