"""Build ``instances/north-america-2025-2032`` from the raw tables in
``instances/build/raw/north-america-2025-2032``.

Run from the repository root::

    python instances/build/north_america_2025_2032.py

End-of-life supply comes from the Weibull first-life retirement model
(:func:`network_opt.datasets.retirement.retired_tonnes`) applied to BEV and PHEV sales in the
United States, Canada and Mexico; it is split between collection points by the AFDC BEV
registration share of each state (interpolated between the 2021 and 2023 stock tables) and by
documented provincial / regional shares in Canada and Mexico. Every number comes from a raw
table with a ``source`` column (see the raw folder's SOURCES.md and the instance README).

The script needs only Python, pandas and network_opt. It uses no randomness, sorts every
table, rounds every number explicitly and allocates rounded tonnes with the largest-remainder
method, so running it twice writes byte-identical files and the end-of-life rows of supply.csv
add up exactly to :func:`eol_supply`. Each sale year's kWh converts to tonnes at its own pack mass
(:func:`pack_mass_by_vintage`); the cell plants' production scrap (:func:`production_scrap`) is
supply of grade S, recycling only; stock may wait at collection points (storage.csv). The horizon
is four two-year investment periods, each operated yearly (``INVESTMENT_PERIODS``).
"""

from __future__ import annotations

import functools
import math
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

REPO = HERE.parent.parent
NAME = "north-america-2025-2032"
RAW = HERE / "raw" / NAME
INSTANCE: Path = REPO / "instances" / NAME

CURRENCY = "USD"
SUB_CHEMISTRIES = ["NCA", "NMC", "LFP", "LMO"]  # chemistries of the retirement model (sales shares)
CHEMISTRIES = ["NCX", "LFP", "LMO"]  # modelled chemistry groups (chemistry_groups.csv)
#: investment periods (first year, length): two-year periods, each operated yearly (its own supply,
#: demand and prices every calendar year): a plant decided for 2027-28 must cover 2028's supply.
#: New Jersey's landfill ban starts in 2027, the first year of a period.
INVESTMENT_PERIODS = [(2025, 2), (2027, 2), (2029, 2), (2031, 2)]
COUNTRY_OF = {"US": "US", "US-CA": "US", "US-NJ": "US", "CA": "CA", "MX": "MX", "KR": "KR"}
JURISDICTIONS = [
    ("US", "United States (all states but California and New Jersey)", "USMCA;OECD"),
    ("US-CA", "California (US state: batteries are universal waste, banned from solid-waste landfills)",
     "US;USMCA;OECD"),
    ("US-NJ", "New Jersey (US state with an EV-battery landfill ban)", "US;USMCA;OECD"),
    ("CA", "Canada", "USMCA;OECD"),
    ("MX", "Mexico", "USMCA;OECD"),
    ("KR", "Republic of Korea (export outlet for black mass)", "OECD"),
]
POLICIES = {"US": ["us-federal"], "US-CA": ["us-ca-universal-waste"], "US-NJ": ["us-nj-2024"]}


# ---------------------------------------------------------------- helpers
read_raw = functools.partial(_shared.read_raw, RAW)


def params() -> dict[str, float]:
    """Numeric parameters of parameters.csv (text-valued rows are read by :func:`text_params`)."""
    return _shared.parameter_numbers(RAW)


def text_params() -> dict[str, str]:
    return _shared.parameter_text(RAW)


def years() -> list[int]:
    p = params()
    return list(range(int(p["first_period"]), int(p["last_period"]) + 1))


def weibull_shape_scale(p: dict[str, float]) -> tuple[float, float]:
    """Weibull (shape, scale) whose distribution function passes through the two life anchors:
    F(t) = 1 - exp(-(t / scale)^shape) = q at (life_low_years, life_low_quantile) and
    (life_high_years, life_high_quantile)."""
    t1, q1, t2, q2 = p["life_low_years"], p["life_low_quantile"], p["life_high_years"], p["life_high_quantile"]
    h1, h2 = -math.log(1.0 - q1), -math.log(1.0 - q2)
    shape = math.log(h2 / h1) / math.log(t2 / t1)
    scale = t1 / h1 ** (1.0 / shape)
    return shape, scale


# ---------------------------------------------------------------- supply
def kg_per_kwh() -> dict[str, float]:
    return read_raw("chemistries.csv").set_index("chemistry")["kg_pack_per_kwh"].astype(float).to_dict()


def pack_mass_by_vintage() -> dict[int, dict[str, float]]:
    """Pack mass (kg per kWh) per sale year (vintage) and sub-chemistry, from
    pack_mass_by_vintage.csv: older packs are heavier per kWh, so each vintage's kWh converts to
    tonnes at its own mass. Every sale year of ev_sales.csv must be covered exactly once."""
    vintages = sorted(set(read_raw("ev_sales.csv")["sale_year"].astype(int)))
    return _shared.vintage_masses(read_raw("pack_mass_by_vintage.csv"), vintages, list(SUB_CHEMISTRIES))


def group_of() -> dict[str, str]:
    return read_raw("chemistries.csv").set_index("chemistry")["group"].to_dict()


def retired_sub_chemistries() -> pd.DataFrame:
    """End-of-life tonnes per (country, powertrain, year, sub-chemistry): one call of the
    retirement model per country and powertrain."""
    p = params()
    shape, scale = weibull_shape_scale(p)
    sales = read_raw("ev_sales.csv")
    kwh = read_raw("pack_kwh.csv")
    shares = read_raw("chemistry_shares.csv")
    mass = pack_mass_by_vintage()
    frames = []
    for (country, powertrain), s in sales.groupby(["country", "powertrain"], sort=True):
        k = kwh[(kwh["country"] == country) & (kwh["powertrain"] == powertrain)]
        sh = shares[shares["powertrain"] == powertrain].set_index("sale_year")
        sale_years = sorted(int(y) for y in s["sale_year"])
        missing = set(sale_years) - set(int(y) for y in k["sale_year"])
        if missing:
            raise ValueError(f"{country} {powertrain}: no pack kWh for sale years {sorted(missing)}")
        pack_kwh = {int(r.sale_year): float(r.kwh_per_vehicle) for r in k.itertuples()}
        for r in s.itertuples():  # one vintage at a time: each converts kWh to t at its own mass
            v = int(r.sale_year)
            out = retired_tonnes(
                sales={v: float(r.vehicles)}, pack_kwh=pack_kwh,
                chemistry_shares={v: {c: float(sh.loc[v, c]) for c in SUB_CHEMISTRIES}},
                kg_per_kwh=mass[v], years=years(), shape=shape, scale=scale)
            frames.append(out.assign(country=country, powertrain=powertrain))
    return pd.concat(frames, ignore_index=True)


def retired_by_country() -> pd.DataFrame:
    """End-of-life tonnes per (country, year, chemistry group), summed over powertrains and the
    group's sub-chemistries, rounded to 0.01 t (``cents``). Columns country, year, chemistry,
    tonnes, cents."""
    allr = retired_sub_chemistries()
    allr["chemistry"] = allr["chemistry"].map(group_of())
    out = allr.groupby(["country", "year", "chemistry"], as_index=False)["tonnes"].sum()
    grid = pd.MultiIndex.from_product([sorted(out["country"].unique()), years(), CHEMISTRIES],
                                      names=["country", "year", "chemistry"]).to_frame(index=False)
    out = grid.merge(out, how="left").fillna({"tonnes": 0.0})
    out["cents"] = (out["tonnes"] * 100.0).round().astype(int)
    return out


def eol_supply() -> pd.DataFrame:
    """Total end-of-life tonnes per year and chemistry of the whole instance (US, Canada,
    Mexico), from :func:`network_opt.datasets.retirement.retired_tonnes`. Tonnes are rounded
    to 0.01 t per country; supply.csv adds up to these values exactly."""
    r = retired_by_country()
    tot = r.groupby(["year", "chemistry"], as_index=False)["cents"].sum()
    tot["tonnes"] = tot["cents"] / 100.0
    tot["chemistry"] = pd.Categorical(tot["chemistry"], CHEMISTRIES, ordered=True)
    tot = tot.sort_values(["year", "chemistry"])
    tot["chemistry"] = tot["chemistry"].astype(str)
    return tot[["year", "chemistry", "tonnes"]].reset_index(drop=True)


def cities() -> pd.DataFrame:
    return read_raw("geonames_cities_north_america.csv", dtype=str).set_index("geonameid")


def state_shares() -> pd.DataFrame:
    """AFDC BEV registration shares by state: 2021 (complete) and 2023 (28 states published;
    the other 23 filled by scaling their 2021 stock to the published national 3.56 M)."""
    reg = read_raw("us_bev_registrations_afdc.csv", dtype=str)
    anchors = read_raw("ev_supply_anchors_us.csv", dtype=str)
    nat23 = float(anchors.loc[(anchors["metric"].str.startswith("BEV registrations"))
                              & (anchors["year"] == "2023"), "value"].iloc[0])
    r21 = reg["bev_registrations_2021"].astype(float)
    r23 = pd.to_numeric(reg["bev_registrations_2023"], errors="coerce")
    known = r23.notna()
    growth_rest = (nat23 - r23[known].sum()) / r21[~known].sum()
    filled = r23.where(known, r21 * growth_rest)
    return pd.DataFrame({"state": reg["iso_3166_2"], "share_2021": r21 / r21.sum(),
                         "share_2023": filled / filled.sum(), "filled_2023": ~known,
                         "growth_rest": growth_rest})


def state_to_cps() -> pd.DataFrame:
    """Which collection point(s) serve each US state, and with which within-state fraction."""
    cps = read_raw("collection_points.csv", dtype=str)
    city = cities()
    us_cps = cps[cps["jurisdiction"].isin(["US", "US-CA"])]  # New Jersey's point serves New Jersey only
    rows = []
    for _, s in read_raw("state_assignment.csv", dtype=str).iterrows():
        if s["rule"] == "own":
            own = cps[cps["region"] == s["state"]]
            w = [sum(float(city.loc[g, "population"]) for g in x.split(";")) for x in own["weight_geonameids"]]
            for cp, wi in zip(own["id"], w, strict=True):
                rows.append((s["state"], cp, wi / sum(w)))
        elif s["rule"] == "override":
            rows.append((s["state"], s["override_cp"], 1.0))
        else:
            ref = city.loc[s["reference_geonameid"]]
            lat = np.array([float(city.loc[g, "latitude"]) for g in us_cps["geonameid"]])
            lon = np.array([float(city.loc[g, "longitude"]) for g in us_cps["geonameid"]])
            d = haversine_km(float(ref["latitude"]), float(ref["longitude"]), lat, lon)
            rows.append((s["state"], us_cps["id"].iloc[int(np.argmin(d))], 1.0))
    return pd.DataFrame(rows, columns=["state", "cp", "fraction"])


def cp_shares() -> pd.DataFrame:
    """Share of its country's end-of-life tonnes at each collection point in each year.

    US: the state share moves linearly from the 2021 registration share (first period) to the
    2023 share (last period), because packs retiring later come from later sales."""
    ys = years()
    st = state_shares().set_index("state")
    m = state_to_cps()
    rows = []
    for y in ys:
        w = (y - ys[0]) / (ys[-1] - ys[0])
        share = (1.0 - w) * st["share_2021"] + w * st["share_2023"]
        per_cp = (m.assign(s=m["state"].map(share) * m["fraction"]).groupby("cp")["s"].sum())
        rows += [("US", y, cp, float(v)) for cp, v in per_cp.items()]
    cm = read_raw("canada_mexico_shares.csv")
    for y in ys:
        rows += [(r.country, y, r.collection_point, float(r.share)) for r in cm.itertuples()]
    out = pd.DataFrame(rows, columns=["country", "year", "cp", "share"])
    return out.sort_values(["country", "year", "cp"]).reset_index(drop=True)


def production_scrap(p: dict[str, float] | None = None) -> pd.DataFrame:
    """Production scrap of the North American cell plants (cell_plants.csv) per year, grade ``S``
    (recycling only), at a collection point on the plant's site: nameplate GWh x utilisation x
    scrap rate x cell kg per kWh. Columns site, period, chemistry, tonnes, grade."""
    p = params() if p is None else p
    plants = read_raw("cell_plants.csv")
    per_gwh = 1e6 * p["cell_plant_utilisation"] * p["cell_scrap_rate"] * p["cell_scrap_kg_per_kwh"] / 1000
    rows = []
    for y in years():
        live = plants.loc[(plants["from_year"] <= y) & (plants["to_year"] >= y)]
        rows += [{"site": r.id, "period": y, "chemistry": r.chemistry,
                  "tonnes": round(float(r.capacity_gwh) * per_gwh, 3), "grade": "S"}
                 for r in live.itertuples(index=False)]
    return pd.DataFrame(rows)


def build_supply() -> pd.DataFrame:
    r = retired_by_country()
    shares = cp_shares()
    rows = []
    for (country, y, chem), cents in r.set_index(["country", "year", "chemistry"])["cents"].items():
        sh = shares[(shares["country"] == country) & (shares["year"] == y)]
        parts = largest_remainder(int(cents), sh["share"].tolist())
        rows += [(cp, y, chem, c / 100.0) for cp, c in zip(sh["cp"], parts, strict=True) if c > 0]
    sup = pd.DataFrame(rows, columns=["site", "period", "chemistry", "tonnes"])
    sup = sup.assign(grade="", collection_cost_per_t="")
    scrap = production_scrap().assign(collection_cost_per_t=params()["scrap_collection_cost_usd_per_t"])
    sup = pd.concat([sup, scrap], ignore_index=True)
    sup["chemistry"] = pd.Categorical(sup["chemistry"], CHEMISTRIES, ordered=True)
    sup = sup.sort_values(["site", "period", "chemistry"]).reset_index(drop=True)
    sup["chemistry"] = sup["chemistry"].astype(str)
    return sup


# ---------------------------------------------------------------- geography
def build_sites() -> pd.DataFrame:
    city = cities()
    plants = read_raw("battery_facilities_north_america.csv", dtype=str).set_index("facility_id")
    rows = []
    for _, c in read_raw("collection_points.csv", dtype=str).iterrows():
        g = city.loc[c["geonameid"]]
        rows.append((c["id"], g["name"], "collection_point", float(g["latitude"]), float(g["longitude"]),
                     c["region"], c["jurisdiction"]))
    for _, s in read_raw("sites_plan.csv", dtype=str).iterrows():
        if s["geonameid"]:
            g = city.loc[s["geonameid"]]
            lat, lon = float(g["latitude"]), float(g["longitude"])
            name = f"{g['name']} candidate site" if s["kind"] == "facility" else f"{g['name']} second-life market"
        else:
            f = plants.loc[s["facility_id"]]
            lat, lon, name = float(f["lat"]), float(f["lon"]), f["name"]
        rows.append((s["id"], name, s["kind"], lat, lon, s["region"], s["jurisdiction"]))
    for _, c in read_raw("cell_plants.csv", dtype=str).drop_duplicates("id").iterrows():  # production scrap
        rows.append((c["id"], f"{c['name']} (production scrap)", "collection_point", float(c["latitude"]),
                     float(c["longitude"]), c["region"], c["jurisdiction"]))
    sites = pd.DataFrame(rows, columns=["id", "name", "kind", "latitude", "longitude", "region", "jurisdiction"])
    sites["latitude"] = sites["latitude"].round(5)
    sites["longitude"] = sites["longitude"].round(5)
    return sites


def build_regions(p: dict[str, float], sites: pd.DataFrame) -> pd.DataFrame:
    det = read_raw("detour_factors.csv").set_index("region")["detour_factor"]
    regs = sorted(sites["region"].unique())
    return pd.DataFrame({"id": regs, "detour_factor": [float(det.get(r, p["detour_factor_default"])) for r in regs]})


# ---------------------------------------------------------------- chemistry and materials
def black_mass_yield() -> float:
    t = read_raw("technologies.csv")
    return float(t.loc[t["process"] == "mechanical", "black_mass_yield"].iloc[0])


def group_weights() -> pd.Series:
    """Tonnage weight of each sub-chemistry inside its group: its share of the group's
    end-of-life tonnes over the whole horizon (all countries)."""
    r = retired_sub_chemistries().groupby("chemistry")["tonnes"].sum()
    grp = pd.Series(group_of())
    return (r / r.groupby(grp[r.index].to_numpy()).transform("sum")).reindex(SUB_CHEMISTRIES)


def build_chemistry_tables(p: dict[str, float]):
    chem = read_raw("chemistries.csv")
    sub_energy = 1000.0 / chem.set_index("chemistry")["kg_pack_per_kwh"].astype(float)
    w = group_weights()
    grp = pd.Series(group_of())
    # group energy = group kWh / group tonnes; content per t = tonnage-weighted mean
    energy = (w * sub_energy).groupby(grp.to_numpy()).sum()
    names = read_raw("chemistry_groups.csv").set_index("group")["name"]
    chemistries = pd.DataFrame({"id": CHEMISTRIES, "name": [names[c] for c in CHEMISTRIES],
                                "energy_kwh_per_t": [round(float(energy[c]), 1) for c in CHEMISTRIES]})
    content = read_raw("chemistry_content.csv")
    capture = read_raw("black_mass_capture.csv").set_index("material")["capture"]
    content["sub_kg_per_t"] = content["kg_per_kwh"] * content["chemistry"].map(sub_energy) \
        * content["chemistry"].map(w)
    content["group"] = content["chemistry"].map(grp)
    content = content.groupby(["group", "material"], as_index=False)["sub_kg_per_t"].sum()
    content["kg_per_t"] = content["sub_kg_per_t"].round(2)
    content["black_mass_kg_per_t"] = (content["sub_kg_per_t"] * content["material"].map(capture)
                                      / black_mass_yield()).round(2)
    order = {m: i for i, m in enumerate(read_raw("materials.csv")["material"])}
    content["chemistry"] = pd.Categorical(content["group"], CHEMISTRIES, ordered=True)
    content = content.sort_values(["chemistry", "material"], key=lambda c: c.map(order) if c.name == "material" else c)
    content["chemistry"] = content["chemistry"].astype(str)
    chem_mat = content[["chemistry", "material", "kg_per_t", "black_mass_kg_per_t"]].reset_index(drop=True)
    materials = read_raw("materials.csv")[["material", "name"]].rename(columns={"material": "id"})
    prices = read_raw("material_prices.csv")

    def to_usd(row) -> float:
        if row["price_unit"] == "USD/t":
            return float(row["price"])
        if row["price_unit"] == "CNY/t":
            return float(row["price"]) / p["usd_cny"]
        if row["price_unit"] == "CNY/t Li2CO3":
            return float(row["price"]) / p["usd_cny"] / p["li_mass_fraction_li2co3"]
        raise ValueError(f"unknown price unit {row['price_unit']!r}")

    realisation = read_raw("materials.csv").set_index("material")["realisation"].astype(float)
    prices["usd"] = prices.apply(to_usd, axis=1) * prices["material"].map(realisation)
    rows = []
    for mat in materials["id"]:
        mp = prices[prices["material"] == mat].sort_values("from_year")
        for y in years():
            valid = mp[mp["from_year"] <= y]
            rows.append((mat, y, round(float(valid["usd"].iloc[-1]), -1)))
    price_table = pd.DataFrame(rows, columns=["material", "period", "price_per_t"])
    return chemistries, materials, chem_mat, price_table, energy


def build_grades():
    g = read_raw("grades.csv")
    grades = pd.DataFrame({"id": g["grade"], "name": g["name"], "soh_min": g["soh_min"], "soh_max": g["soh_max"],
                           "usable_soh": g["usable_soh"], "second_life": g["second_life"].map(
                               {True: "true", False: "false", "true": "true", "false": "false"})})
    gs = read_raw("grade_shares.csv")[["chemistry", "grade", "share"]]
    for chem, s in gs.groupby("chemistry"):
        if abs(s["share"].sum() - 1.0) > 1e-9:
            raise ValueError(f"grade shares of {chem} add up to {s['share'].sum()}")
    return grades, gs


def build_technologies():
    t = read_raw("technologies.csv")
    tech = pd.DataFrame({"id": t["technology"], "name": t["name"], "process": t["process"],
                         "recycling_efficiency": t["recycling_efficiency"],
                         "black_mass_yield": t["black_mass_yield"], "co2e_per_t": t["co2e_per_t"]})
    yields = read_raw("technology_yields.csv")[["technology", "material", "recovery_yield"]]
    return t, tech, yields


def build_end_values(chem_mat: pd.DataFrame, prices: pd.DataFrame, tech_raw: pd.DataFrame,
                     yields: pd.DataFrame) -> pd.DataFrame:
    """Value of a t of packs returning from second life after 2032 (or left in stock): the net
    value of recycling it in an integrated HYDRO-INT plant at 2032 prices, i.e. what a recycler
    could pay for it (China's instance uses its 2032 pack price, the same reasoning): each metal
    recovered at its ``technology_yields`` row, less the HYDRO-INT variable cost and the
    collection cost. USD per t, rounded to 10."""
    price = prices.loc[prices["period"] == prices["period"].max()].set_index("material")["price_per_t"].astype(float)
    y = yields.loc[yields["technology"] == "HYDRO-INT"].set_index("material")["recovery_yield"].astype(float)
    cm = chem_mat.assign(revenue=chem_mat["kg_per_t"].astype(float) / 1000.0
                         * chem_mat["material"].map(y).fillna(0.0) * chem_mat["material"].map(price))
    cost = float(tech_raw.set_index("technology").at["HYDRO-INT", "variable_cost_usd_per_t"]) \
        + params()["collection_cost_usd_per_t"]
    value = (cm.groupby("chemistry", sort=False)["revenue"].sum() - cost).round(-1)
    return pd.DataFrame({"chemistry": value.index, "commodity": "eol_packs", "value_per_t": value.to_numpy(),
                         "source": "[D] net value of recycling it in HYDRO-INT at 2032 prices, less its variable "
                                   "and the collection costs (README)"})


# ---------------------------------------------------------------- facilities
def capex_usd(p: dict[str, float], basis: str, capacity_t: float) -> float:
    if basis == "refurbisher":
        ref_t = p["capex_refurbisher_reference_t"]
        ref = p["capex_refurbisher_cny"] / p["usd_cny"] * p["refurbisher_us_cost_factor"]
    else:
        ref_t = p[f"capex_{basis}_reference_t"]
        ref = p[f"capex_{basis}_usd_per_tpa"] * ref_t
    return ref * (capacity_t / ref_t) ** p["capex_scale_exponent"]


def refurbishing_cost_per_t(p: dict[str, float], energy: pd.Series) -> float:
    """Repurposing cost per kWh x usable kWh per t of the reference chemistry group."""
    ref_chem = text_params()["refurb_reference_chemistry"]
    usable = energy[ref_chem] * p["refurb_reference_soh"]
    return round(p["refurb_cost_eur_per_kwh"] * p["usd_per_eur"] * usable, -1)


def build_facilities(p: dict[str, float], tech_raw: pd.DataFrame, energy: pd.Series):
    plan = read_raw("facilities_plan.csv", dtype=str)
    var_cost = tech_raw.set_index("technology")["variable_cost_usd_per_t"].astype(float)
    refurb_cost = refurbishing_cost_per_t(p, energy)
    fac_rows, lvl_rows = [], []
    for _, f in plan.iterrows():
        refurb = f["kind"] == "refurbisher"
        vc = refurb_cost if refurb else var_cost[f["technology"]] * float(f["variable_cost_factor"])
        levels = [float(x) for x in f["levels_t"].split(";")]
        mod_cap, max_mod = float(f["module_capacity_t"]), int(f["max_modules"])
        mod_cost = mod_fixed = 0.0
        if max_mod > 0:
            # average marginal capex between the largest level and the full size on the scaling curve
            base, full = levels[-1], levels[-1] + max_mod * mod_cap
            per_module = (capex_usd(p, f["capex_basis"], full) - capex_usd(p, f["capex_basis"], base)) / max_mod
            mod_cost = round(per_module * float(f["opening_share"]), -3)
            mod_fixed = round(per_module * p["fixed_om_share_of_capex"] * float(f["fixed_cost_factor"]), -3)
        fac_rows.append({
            "id": f["id"], "site": f["site"], "kind": f["kind"], "technology": f["technology"],
            "status": f["status"], "variable_cost_per_t": round(vc, 2),
            "test_yield": p["refurb_test_yield"] if refurb else "",
            "closing_cost": f["closing_cost_usd"], "module_capacity_t": mod_cap if max_mod else "",
            "module_opening_cost": mod_cost if max_mod else "",
            "module_fixed_cost_per_year": mod_fixed if max_mod else "", "max_modules": max_mod if max_mod else "",
        })
        for cap in levels:
            capex = capex_usd(p, f["capex_basis"], cap)
            lvl_rows.append({
                "facility": f["id"], "level": level_name(cap), "capacity_t": cap,
                "fixed_cost_per_year": round(capex * p["fixed_om_share_of_capex"] * float(f["fixed_cost_factor"]), -3),
                "opening_cost": round(capex * float(f["opening_share"]), -3),
            })
    return pd.DataFrame(fac_rows), pd.DataFrame(lvl_rows)


def build_storage(p: dict[str, float], sites: pd.DataFrame) -> pd.DataFrame:
    """Every collection point (end-of-life packs and production scrap) may hold stock between
    operating years, within a cap and at a holding cost (parameters.csv: assumptions with ranges)."""
    cps = sites.loc[sites["kind"] == "collection_point", "id"].sort_values()
    return pd.DataFrame({"site": cps, "cap_t": p["storage_cap_t"],
                         "holding_cost_per_t_year": p["storage_holding_cost_usd_per_t_year"],
                         "source": "parameters.csv storage_cap_t (assumption, range 5-500; 40 CFR 273.9 small-quantity "
                                   "handler < 5 t) and storage_holding_cost_usd_per_t_year (assumption, range 55-340)"})


def existing_plants() -> pd.DataFrame:
    """Every existing facility and its capacity (t/yr) at its smallest level."""
    plan = read_raw("facilities_plan.csv", dtype=str)
    ex = plan[plan["status"] == "existing"]
    cap = [min(float(x) for x in levels.split(";")) for levels in ex["levels_t"]]
    return pd.DataFrame({"facility": ex["id"].tolist(), "capacity_t": cap})


# ---------------------------------------------------------------- markets
def build_markets(p: dict[str, float]):
    plan = read_raw("markets_plan.csv", dtype=str)
    markets = pd.DataFrame({"id": plan["id"], "site": plan["site"], "application": plan["application"],
                            "chemistries": plan["chemistries"], "grades": plan["grades"]})
    ys = years()
    rows = []
    for _, m in plan.iterrows():
        for y in ys:
            kwh = float(m["demand_2025_mwh"]) * 1000.0 * (1.0 + p["second_life_demand_growth"]) ** (y - ys[0])
            rows.append((m["id"], y, round(kwh, -3), float(m["price_usd_per_kwh"])))
    demand = pd.DataFrame(rows, columns=["market", "period", "demand_kwh", "price_per_kwh"])
    returns = read_raw("second_life_returns.csv")[["application", "after_years", "share"]]
    return markets, demand, returns


# ---------------------------------------------------------------- lanes
def border_cost(p: dict[str, float], a: str, b: str) -> float:
    pair = tuple(sorted((COUNTRY_OF[a], COUNTRY_OF[b])))
    if pair[0] == pair[1]:
        return 0.0
    return {("CA", "US"): p["border_us_ca_usd_per_t"], ("MX", "US"): p["border_us_mx_usd_per_t"],
            ("CA", "MX"): p["border_ca_mx_usd_per_t"]}[pair]


def build_lanes(p: dict[str, float], sites: pd.DataFrame, regions: pd.DataFrame, facilities: pd.DataFrame,
                markets: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    """Explicit lanes: (1) every cross-border lane within max_lane_km between the North American
    countries costs distance x rate + a border surcharge per tonne; (2) black mass from each
    pre-processor to the Korean refiner via the cheapest port (road leg + ocean freight)."""
    site = sites.set_index("id")
    detour = regions.set_index("id")["detour_factor"]
    rate = {c: p[f"transport_{k}_usd_per_tkm"] for c, k in (
        ("eol_packs", "eol"), ("second_life_packs", "second_life"), ("rejects", "rejects"),
        ("returns", "returns"), ("black_mass", "black_mass"))}
    kind_sites = {k: sorted(set(facilities.loc[facilities["kind"] == k, "site"]))
                  for k in ("refurbisher", "recycler", "preprocessor", "refiner")}
    receivers = sorted(set(kind_sites["recycler"]) | set(kind_sites["preprocessor"]))
    cps = sorted(sites.loc[sites["kind"] == "collection_point", "id"])
    returning_apps = set(returns.loc[returns["share"] > 0, "application"])
    market_sites = sorted(set(markets["site"]))
    returning_sites = sorted(set(markets.loc[markets["application"].isin(returning_apps), "site"]))
    na_refiners = [s for s in kind_sites["refiner"] if COUNTRY_OF[site.loc[s, "jurisdiction"]] != "KR"]
    pairs = {
        "eol_packs": (cps, sorted(set(receivers) | set(kind_sites["refurbisher"]))),
        "second_life_packs": (kind_sites["refurbisher"], market_sites),
        "rejects": (kind_sites["refurbisher"], receivers),
        "returns": (returning_sites, receivers),
        "black_mass": (kind_sites["preprocessor"], na_refiners),
    }

    def road_km(o: str, d_lat: float, d_lon: float) -> float:
        so = site.loc[o]
        gc = float(haversine_km(so["latitude"], so["longitude"], d_lat, d_lon))
        return gc * float(detour[so["region"]])

    rows = []
    for commodity, (origins, dests) in pairs.items():
        for o in origins:
            for d in dests:
                jo, jd = site.loc[o, "jurisdiction"], site.loc[d, "jurisdiction"]
                if o == d or COUNTRY_OF[jo] == COUNTRY_OF[jd]:
                    continue
                km = road_km(o, site.loc[d, "latitude"], site.loc[d, "longitude"])
                if km > p["max_lane_km"]:
                    continue
                cost = km * rate[commodity] + border_cost(p, jo, jd)
                rows.append((o, d, commodity, "", round(cost, 2), "true"))
    # black mass to Korea through the cheapest port
    ports = read_raw("ports.csv", dtype=str)
    city = cities()
    kr = [s for s in kind_sites["refiner"] if COUNTRY_OF[site.loc[s, "jurisdiction"]] == "KR"]
    for o in kind_sites["preprocessor"]:
        best = None
        for _, port in ports.iterrows():
            g = city.loc[port["geonameid"]]
            km = road_km(o, float(g["latitude"]), float(g["longitude"]))
            port_j = "CA" if port["region"].startswith("CA-") else "US"
            cost = km * rate["black_mass"] + float(port["ocean_cost_usd_per_t"]) + border_cost(
                p, site.loc[o, "jurisdiction"], port_j)
            if best is None or cost < best[1]:
                best = (km, cost)
        for d in kr:
            rows.append((o, d, "black_mass", round(best[0], 1), round(best[1], 2), "true"))
    lanes = pd.DataFrame(rows, columns=["origin", "destination", "commodity", "distance_km", "cost_per_t", "allowed"])
    return lanes.sort_values(["commodity", "origin", "destination"]).reset_index(drop=True)


def check_reachable(p: dict[str, float], sites: pd.DataFrame, regions: pd.DataFrame,
                    facilities: pd.DataFrame) -> None:
    """Every collection point must reach a recycler or pre-processor within max_lane_km."""
    site = sites.set_index("id")
    detour = regions.set_index("id")["detour_factor"]
    rec = sorted(set(facilities.loc[facilities["kind"].isin(["recycler", "preprocessor"]), "site"]))
    for cp in sites.loc[sites["kind"] == "collection_point", "id"]:
        o = site.loc[cp]
        km = haversine_km(o["latitude"], o["longitude"], site.loc[rec, "latitude"].to_numpy(),
                          site.loc[rec, "longitude"].to_numpy()) * float(detour[o["region"]])
        if km.min() > p["max_lane_km"]:
            raise ValueError(f"{cp} reaches no recycler or pre-processor within {p['max_lane_km']} km")


# ---------------------------------------------------------------- manifest
def manifest_text(p: dict[str, float], tables: list[str], shape: float, scale: float) -> str:
    covered = [start + k for start, n in INVESTMENT_PERIODS for k in range(n)]
    if covered != years():
        raise ValueError(f"INVESTMENT_PERIODS cover {covered}, not the horizon {years()}")
    g = lambda k: f"{p[k]:g}"  # noqa: E731
    lines = [
        "# Generated by instances/build/north_america_2025_2032.py -- edit the raw tables, then re-run it.",
        f"name: {NAME}",
        "description: >-",
        "  End-of-life EV battery reverse logistics in North America (US states, Canada, Mexico),",
        "  2025-2032 in two-year investment periods operated yearly; production scrap of six cell plants",
        "  as a recycling-only grade. Supply from a Weibull first-life retirement model",
        f"  (shape {shape:.3f}, scale {scale:.2f} yr) applied to BEV and PHEV sales, split by AFDC",
        "  registrations by state; real existing recyclers, pre-processors and second-life sites;",
        "  candidate plants and a Korean export outlet for black mass. Sources: README.md.",
        f"currency: {CURRENCY}",
        "units:",
        "  mass: t",
        "  energy: kWh",
        "  distance: km",
        "periods: ["
        + ", ".join(f"{{year: {y}, length: {n}, operations: yearly}}" for y, n in INVESTMENT_PERIODS) + "]",
        "tables:",
    ]
    lines += [f"  {t}: {t}.csv" for t in tables]
    lines += [
        "defaults:",
        f"  collection_cost_per_t: {g('collection_cost_usd_per_t')}",
        "transport:",
        f"  detour_factor: {g('detour_factor_default')}",
        f"  max_lane_km: {g('max_lane_km')}",
        "  cost_per_tkm:",
        f"    eol_packs: {g('transport_eol_usd_per_tkm')}",
        f"    second_life_packs: {g('transport_second_life_usd_per_tkm')}",
        f"    rejects: {g('transport_rejects_usd_per_tkm')}",
        f"    returns: {g('transport_returns_usd_per_tkm')}",
        f"    black_mass: {g('transport_black_mass_usd_per_tkm')}",
        f"discount_rate: {g('discount_rate')}",
        "investment:",
        "  opening_cost: annualised",
        f"  interest_rate: {g('interest_rate')}",
        f"  lifetime_years: {g('plant_life_years')}",
        "emissions:",
        "  co2e_per_tkm:",
    ]
    lines += [f"    {c}: {g('co2e_truck_t_per_tkm')}"
              for c in ("eol_packs", "second_life_packs", "rejects", "returns", "black_mass")]
    lines += [
        f"  refurbishing_co2e_per_t: {g('refurbishing_co2e_per_t')}",
        f"  carbon_price: {g('carbon_price_usd_per_t')}",
        "uncollected:",
        "  allowed: false",
        "disposal:",
        "  allowed: true",
        f"  cost_per_t: {g('disposal_cost_usd_per_t')}",
        "stock:",
        "  allowed: true",
        f"  max_age_years: {g('stock_max_age_years')}",
        "policies:",
    ]
    lines += [f"  {j}: [{', '.join(ids)}]" for j, ids in POLICIES.items()]
    lines += [
        "model:",
        "  # Strong linking (flow <= bound x open on every lane) makes each LP ~10x slower here",
        "  # for a ~1% tighter root bound; without it HiGHS reaches a 1% gap much sooner (README).",
        "  strong_linking: false",
        "scenarios:",
        "  landfill-at-450:",
        "    description: >-",
        "      Disposal priced as before this check: USD 450/t, a landfill's price without the hazardous-waste",
        "      treatment a Li-ion pack needs (an unsourced assumption, kept for comparison)",
        "    overrides:",
        "      - set: disposal.cost_per_t",
        "        value: 450",
        "  no-state-landfill-bans:",
        "    description: California's and New Jersey's landfill bans removed (disposal allowed everywhere)",
        "    overrides:",
        "      - policies: {US-CA: [], US-NJ: []}",
        "  li-chain-target:",
        "    description: >-",
        "      Hypothetical: an EU-style lithium recovery target on every recycling chain (scope chain) located in",
        "      the USMCA countries, 50 % from 2025 (value swept in the README); no such rule exists in North America",
        "    overrides:",
        "      - add: targets",
        "        rows: [{jurisdiction: USMCA, metric: material_recovery, material: Li, value: 0.5, from_period: 2025,",
        "                scope: chain, source: 'hypothetical, for a sweep; EU 2023/1542 Annex XII Part C(1) level'}]",
    ]
    return "\n".join(lines) + "\n"


def build(out: Path) -> None:
    """Write instance.yaml and every CSV of the instance into ``out`` (README.md is hand-written)."""
    p = params()
    shape, scale = weibull_shape_scale(p)
    sites = build_sites()
    regions = build_regions(p, sites)
    chemistries, materials, chem_mat, prices, energy = build_chemistry_tables(p)
    grades, grade_shares = build_grades()
    tech_raw, technologies, yields = build_technologies()
    facilities, levels = build_facilities(p, tech_raw, energy)
    markets, demand, returns = build_markets(p)
    check_reachable(p, sites, regions, facilities)
    supply = build_supply()

    tables = {
        "sites": sites,
        "jurisdictions": pd.DataFrame(JURISDICTIONS, columns=["id", "name", "groups"]),
        "regions": regions,
        "chemistries": chemistries,
        "materials": materials,
        "chemistry_materials": chem_mat,
        "material_prices": prices,
        "grades": grades,
        "grade_shares": grade_shares,
        "supply": supply,
        "technologies": technologies,
        "technology_yields": yields,
        "facilities": facilities,
        "facility_levels": levels,
        "markets": markets,
        "market_demand": demand,
        "second_life_returns": returns,
        "lanes": build_lanes(p, sites, regions, facilities, markets, returns),
        "storage": build_storage(p, sites),
        "end_values": build_end_values(chem_mat, prices, tech_raw, yields),
        "ramp_up": _shared.ramp_up(RAW),
    }
    _shared.write_instance(out, tables, manifest_text(p, list(tables), shape, scale))


def summary() -> str:
    """Totals for the person running the script (not written to disk)."""
    p = params()
    shape, scale = weibull_shape_scale(p)
    eol = eol_supply().pivot(index="year", columns="chemistry", values="tonnes")[CHEMISTRIES]
    eol["total"] = eol.sum(axis=1)
    lines = [f"Weibull first life: shape {shape:.3f}, scale {scale:.2f} yr, "
             f"median {scale * math.log(2) ** (1 / shape):.2f} yr, "
             f"mean {scale * math.gamma(1 + 1 / shape):.2f} yr",
             "end-of-life supply (t/yr):", eol.round(0).to_string()]
    plan = read_raw("facilities_plan.csv", dtype=str)
    plan["min_t"] = [min(float(x) for x in v.split(";")) for v in plan["levels_t"]]
    plan["max_t"] = [max(float(x) for x in v.split(";")) + float(c) * int(n) for v, c, n in
                     zip(plan["levels_t"], plan["module_capacity_t"], plan["max_modules"], strict=True)]
    lines.append("capacity (t/yr of input; refiners: t/yr of black mass): now = existing level, "
                 "max = largest level + all modules")
    for (kind, status), g in plan.groupby(["kind", "status"]):
        now = g["min_t"].sum() if status == "existing" else 0.0
        most = g["max_t"].sum()
        lines.append(f"  {kind:12s} {status:9s} {len(g):2d} facilities, now {now:>9,.0f}, max {most:>9,.0f}")
    return "\n".join(lines)


if __name__ == "__main__":
    build(INSTANCE)
    print(summary())
    print(f"wrote {INSTANCE}")
