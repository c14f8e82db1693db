"""Build the ``instances/china-2025-2032`` instance from ``instances/build/raw/china-2025-2032``.

Run from the repository root::

    python instances/build/china_2025_2032.py

Mainland China (31 provinces), 2025-2032 (investment periods 2025, 2026, then two-year periods,
each operated year by year), money in CNY. End-of-life supply comes from the Weibull retirement
model (:func:`network_opt.datasets.retirement.retired_tonnes`) fed with China's NEV sales /
registrations per sale year, mean pack kWh per vehicle, chemistry shares per sale year and pack
kg per kWh by chemistry and sale year. The Weibull scale is calibrated so that 2025 matches
MIIT's > 400,000 t (see :func:`calibrate_scale` and the README). Production scrap of the cell
makers is added at their plants (:func:`production_scrap`); the MIIT whitelist's recycling
capacity is in as existing plants that may close (:func:`whitelist_plan`).

The script needs Python, pandas and the ``network_opt`` package. It uses no randomness, sorts
every table and formats every number explicitly, so running it twice writes byte-identical
files. Every number comes from a raw table with a ``source`` column (see
``instances/build/raw/china-2025-2032/SOURCES.md`` and ``instances/china-2025-2032/README.md``).

Contract shared with the other instance builders (a test imports this file by path):
``INSTANCE``, ``eol_supply()``, ``existing_plants()``, ``build(out)``; here also
``production_scrap()``. ``eol_supply()`` has one row per operating year and chemistry (a period
operated at its mean year carries the mean annual tonnes of its years), exactly what
``supply.csv`` splits over the collection points; ``production_scrap()`` likewise for the
cell-plant sites.

Options: ``--out DIR`` writes the instance into DIR instead of ``instances/china-2025-2032``;
``--calibration`` prints the registration series, pack kWh per vehicle and the Weibull
calibration table used in the README (nothing is written).
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

import pandas as pd

from network_opt.datasets.retirement import retired_tonnes, weibull_retirement_probabilities

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by file path (tests/test_real_instances.py): find _shared
    sys.path.insert(0, str(HERE))
import _shared  # noqa: E402
from _shared import largest_remainder, level_name  # noqa: E402

ROOT = HERE.parents[1]
RAW = HERE / "raw" / "china-2025-2032"
INSTANCE = ROOT / "instances" / "china-2025-2032"

NAME = "china-2025-2032"
JURISDICTION = "CN"
CURRENCY = "CNY"
CHEMISTRIES = ("LFP", "NCM", "other")
FIRST_SALE_YEAR = 2011  # first year of the CAAM NEV sales series in nev_sales.csv
SALES_HORIZON = 2031  # last sale year that can retire (at age 1) within the horizon


# ---------------------------------------------------------------- helpers
read_raw = functools.partial(_shared.read_raw, RAW)


@lru_cache(maxsize=1)
def _params() -> dict[str, str]:
    return _shared.parameter_text(RAW)


def num(key: str) -> float:
    return float(_params()[key])


def periods() -> list[tuple[int, int]]:
    """Modelled periods as (first year, length in years), from ``periods`` in parameters.csv
    ("2025;2026;2027:2" = 2025 and 2026 alone, then 2027-2028 as one period)."""
    out = []
    for item in _params()["periods"].split(";"):
        year, _, length = item.partition(":")
        out.append((int(year), int(length or 1)))
    for (y, n), (y_next, _) in itertools.pairwise(out):
        if y + n != y_next:
            raise ValueError(f"periods must be contiguous: {y}+{n} != {y_next}")
    return out


def years() -> list[int]:
    """Every calendar year the periods cover."""
    return [y for start, n in periods() for y in range(start, start + n)]


def yearly() -> bool:
    """Are the investment periods operated year by year (``operations`` in parameters.csv)?"""
    mode = _params()["operations"]
    if mode not in ("yearly", "mean"):
        raise ValueError(f"parameters.csv operations: {mode!r}, expected yearly or mean")
    return mode == "yearly"


def period_of() -> dict[int, int]:
    """Calendar year -> the year its table rows are keyed by: the year itself when the periods
    are operated yearly, else the first year of the period covering it."""
    return {y: (y if yearly() else start) for start, n in periods() for y in range(start, start + n)}


def per_period(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Annual ``value`` (column ``year``) keyed by operating year (column ``period``): each year
    itself when the periods are operated yearly, else the mean over each period's years keyed by
    its first year (supply, demand and prices are annual rates, so a mean-year period carries
    their average)."""
    f = frame.assign(period=frame["year"].map(period_of()))
    return f.groupby(["period", *keys], as_index=False)[value].mean()


def slug(text: str) -> str:
    """ASCII upper-case identifier part: 'Xi’an' -> 'XIAN', 'Ürümqi' -> 'URUMQI'."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_.upper() if ch.isalnum())


# ---------------------------------------------------------------- retirement model inputs
def sales_table() -> pd.DataFrame:
    return read_raw("nev_sales.csv").set_index("year")


def _anchor(metric: str, year: int) -> float:
    a = read_raw("ev_supply_anchors_cn.csv")
    row = a.loc[(a["metric"] == metric) & (a["year"] == year), "value"]
    if len(row) != 1:
        raise ValueError(f"anchor {metric!r} {year} not found once in ev_supply_anchors_cn.csv")
    return float(row.iloc[0])


def registrations() -> pd.DataFrame:
    """Domestic NEV registrations (vehicles entering China's fleet) per sale year, with the
    method used for each year. Exports never retire in China, so CAAM sales (which include
    exports) are scaled to the Ministry of Public Security stock and registration anchors.

    - 2011-2014: CAAM sales (exports negligible; they sum to about the 0.12 M stock of 2014);
    - 2015-2020: CAAM sales scaled so they add up to the stock increase 2014 -> 2020;
    - 2021-2022: CAAM sales scaled to the stock increase 2020 -> 2023 less 2023 registrations;
    - 2023, 2024: MPS new registrations;
    - 2025: CAAM sales x the mean registrations / sales ratio of the ``domestic_share_years``;
    - 2026 onwards: 2025 x (1 + growth) per year.
    """
    s = sales_table()["caam_sales"].astype(float)
    stock = {y: _anchor(m, y) for y, m in ((2014, "NEV stock (in use), end of year"),
                                           (2020, "NEV stock, end of 13th Five-Year Plan"),
                                           (2023, "NEV stock (in use), end of year"))}
    reg = {y: _anchor("NEV newly registered", y) for y in (2023, 2024)}
    rows = []
    for y in range(FIRST_SALE_YEAR, 2015):
        rows.append((y, s[y], "CAAM sales (exports negligible)"))
    early = range(2015, 2021)
    k = (stock[2020] - stock[2014]) / sum(s[y] for y in early)
    rows += [(y, s[y] * k, f"CAAM sales x {k:.4f} (sum = MPS stock increase 2014-2020)") for y in early]
    mid = (2021, 2022)
    k = (stock[2023] - stock[2020] - reg[2023]) / sum(s[y] for y in mid)
    rows += [(y, s[y] * k, f"CAAM sales x {k:.4f} (sum = stock increase 2020-2023 less 2023 registrations)")
             for y in mid]
    rows += [(y, reg[y], "MPS new registrations") for y in (2023, 2024)]
    share_years = [int(x) for x in _params()["domestic_share_years"].split(";")]
    ratio = sum(reg[y] / s[y] for y in share_years) / len(share_years)
    rows.append((2025, s[2025] * ratio, f"CAAM sales x {ratio:.4f} (mean registrations/sales "
                                        f"{'-'.join(map(str, share_years))})"))
    g = num("registrations_growth_after_2025")
    base = rows[-1][1]
    rows += [(y, base * (1 + g) ** (y - 2025), f"2025 x (1 + {g:g})^(year - 2025) (assumption)")
             for y in range(2026, SALES_HORIZON + 1)]
    return pd.DataFrame(rows, columns=["year", "vehicles", "method"])


def pack_kwh() -> dict[int, float]:
    """Mean pack kWh per vehicle by sale year: installed GWh / CAAM sales (both include exports);
    an assumption before 2015; the 2025 value held after 2025."""
    t = sales_table()
    out = {}
    for y in range(FIRST_SALE_YEAR, SALES_HORIZON + 1):
        if y in t.index and t.at[y, "installed_gwh"] != "":
            out[y] = float(t.at[y, "installed_gwh"]) * 1e6 / float(t.at[y, "caam_sales"])
        elif y < 2015:
            out[y] = num("pack_kwh_before_2015")
        else:
            out[y] = out[2025]
    return out


def chemistry_shares() -> dict[int, dict[str, float]]:
    """Share of LFP / NCM / other in each sale year's pack energy; the 2025 mix held after 2025."""
    t = sales_table()
    out = {}
    for y in range(FIRST_SALE_YEAR, SALES_HORIZON + 1):
        src = y if y in t.index else 2025
        lfp, other = float(t.at[src, "lfp_share"]), float(t.at[src, "other_share"])
        out[y] = {"LFP": lfp, "NCM": 1.0 - lfp - other, "other": other}
    return out


@lru_cache(maxsize=1)
def kg_per_kwh_by_vintage() -> dict[int, dict[str, float]]:
    """Pack kg per kWh by sale year and chemistry (pack_mass_vintage.csv: older packs are
    heavier). Every sale year of the retirement model must be covered once per chemistry."""
    v = read_raw("pack_mass_vintage.csv")
    out: dict[int, dict[str, float]] = {}
    for y in range(FIRST_SALE_YEAR, SALES_HORIZON + 1):
        rows = v.loc[(v["from_sale_year"] <= y) & (v["to_sale_year"] >= y)]
        if sorted(rows["chemistry"]) != sorted(CHEMISTRIES):
            raise ValueError(f"pack_mass_vintage.csv: sale year {y} needs one row per chemistry "
                             f"{CHEMISTRIES}, has {sorted(rows['chemistry'])}")
        out[y] = dict(zip(rows["chemistry"], rows["kg_pack_per_kwh"].astype(float), strict=True))
    return out


def retired_by_vintage(reg: dict[int, float], kwh: dict[int, float], shares: dict[int, dict[str, float]],
                       years_: list[int], shape: float, scale: float,
                       kg: dict[int, dict[str, float]] | None = None) -> pd.DataFrame:
    """:func:`retired_tonnes` with pack mass per kWh by vintage: the sale years are grouped by
    their kg/kWh and each group is retired with its own masses (``kg``: default
    :func:`kg_per_kwh_by_vintage`)."""
    kg = kg_per_kwh_by_vintage() if kg is None else kg
    groups: dict[tuple[tuple[str, float], ...], list[int]] = {}
    for v in reg:
        groups.setdefault(tuple(sorted(kg[v].items())), []).append(v)
    parts = [retired_tonnes({v: reg[v] for v in vs}, kwh, shares, dict(key), years_, shape, scale)
             for key, vs in groups.items()]
    out = pd.concat(parts).groupby(["year", "chemistry"], as_index=False).sum()
    return out


def _retirement(scale: float, years_: list[int]) -> pd.DataFrame:
    reg = registrations().set_index("year")["vehicles"].to_dict()
    return retired_by_vintage(reg, pack_kwh(), chemistry_shares(), years_, num("weibull_shape"), scale)


@lru_cache(maxsize=1)
def calibrate_scale() -> float:
    """Weibull scale (years, rounded to 0.001) that makes 2025 end-of-life tonnes equal
    ``calibration_target_2025_t``, with ``weibull_shape`` fixed. Bisection: retirements in a
    given year fall as the scale grows (all retiring cohorts are on the rising side)."""
    target, y0 = num("calibration_target_2025_t"), years()[0]
    lo, hi = 3.0, 30.0

    def total(scale: float) -> float:
        return float(_retirement(scale, [y0])["tonnes"].sum())

    if not total(hi) < target < total(lo):
        raise ValueError("calibration target outside the bracket of Weibull scales 3-30 years")
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) > target else (lo, mid)
    return round((lo + hi) / 2, 3)


def weibull_median(shape: float, scale: float) -> float:
    return scale * math.log(2.0) ** (1.0 / shape)


@lru_cache(maxsize=1)
def _eol_supply() -> pd.DataFrame:
    annual = _retirement(calibrate_scale(), years())[["year", "chemistry", "tonnes"]]
    out = per_period(annual, ["chemistry"], "tonnes").rename(columns={"period": "year"})
    out["year"] = out["year"].astype("int64")
    out["tonnes"] = out["tonnes"].round(3)
    return out[["year", "chemistry", "tonnes"]].sort_values(["year", "chemistry"]).reset_index(drop=True)


def eol_supply() -> pd.DataFrame:
    """End-of-life tonnes per year and chemistry of the whole instance (rounded to 1 kg), from
    the Weibull retirement model with the calibrated scale; one row per operating year (``year``;
    a multi-year period operated at its mean year carries the mean annual tonnes of its years).
    supply.csv splits exactly these tonnes over the collection points."""
    return _eol_supply().copy()


def calibration_table(shapes=(2.0, 2.5, 3.0, 3.5, 4.0)) -> pd.DataFrame:
    """For each shape: the calibrated scale and median, and the 2030 / 2032 tonnes it implies;
    also the scale that would make 2030 equal ``check_2030_t`` and the 2025 tonnes that implies.
    Printed by ``python instances/build/china_2025_2032.py --calibration`` for the README."""
    target, check = num("calibration_target_2025_t"), num("check_2030_t")
    reg = registrations().set_index("year")["vehicles"].to_dict()
    kwh, sh = pack_kwh(), chemistry_shares()

    def tot(shape: float, scale: float, y: int) -> float:
        return float(retired_by_vintage(reg, kwh, sh, [y], shape, scale)["tonnes"].sum())

    def solve(shape: float, y: int, value: float) -> float:
        lo, hi = 3.0, 40.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if tot(shape, mid, y) > value else (lo, mid)
        return (lo + hi) / 2

    rows = []
    for k in shapes:
        s25 = solve(k, 2025, target)
        s30 = solve(k, 2030, check)
        rows.append({"shape": k, "scale_2025_fit": round(s25, 2), "median_yr": round(weibull_median(k, s25), 2),
                     "t_2025": round(tot(k, s25, 2025)), "t_2030": round(tot(k, s25, 2030)),
                     "t_2032": round(tot(k, s25, 2032)), "scale_2030_fit": round(s30, 2),
                     "median_2030_fit_yr": round(weibull_median(k, s30), 2),
                     "t_2025_if_2030_fit": round(tot(k, s30, 2025))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- geography
def provinces() -> pd.DataFrame:
    return read_raw("province_population.csv", dtype={"capital_geonameid": str})


def cities() -> pd.DataFrame:
    return read_raw("geonames_cities_cn.csv", dtype=str).set_index("geonameid")


def plants() -> pd.DataFrame:
    return read_raw("battery_facilities_cn.csv", dtype=str).set_index("facility_id")


def city_label(geonameid: str) -> str:
    """GeoNames name, except Lhasa's central district (GeoNames 'Chéngguān Qū')."""
    labels = dict(zip(provinces()["capital_geonameid"], provinces()["city_label"], strict=True))
    return labels.get(geonameid) or cities().at[geonameid, "name"]


def collection_points() -> pd.DataFrame:
    """One collection point per province, at its capital; columns id, region, geonameid."""
    pr = provinces()
    ids = ["CP-" + slug(city_label(g)) for g in pr["capital_geonameid"]]
    return pd.DataFrame({"id": ids, "region": pr["region"], "geonameid": pr["capital_geonameid"]})


def build_sites() -> pd.DataFrame:
    city, plant = cities(), plants()
    rows = []

    def from_city(id_: str, kind: str, geonameid: str, region: str, name: str) -> None:
        c = city.loc[geonameid]
        if c["region_code"] != region:
            raise ValueError(f"{id_}: region {region} != GeoNames join {c['region_code']}")
        rows.append({"id": id_, "name": name, "kind": kind, "latitude": round(float(c["latitude"]), 5),
                     "longitude": round(float(c["longitude"]), 5), "region": region,
                     "jurisdiction": JURISDICTION})

    for cp in collection_points().itertuples(index=False):
        from_city(cp.id, "collection_point", cp.geonameid, cp.region, city_label(cp.geonameid))
    for w in read_raw("whitelist_capacity_cn.csv", dtype=str).itertuples(index=False):
        if w.geonameid:  # a new site at the provincial capital (others use a site of sites_plan.csv)
            from_city(w.site, "facility", w.geonameid, w.region, f"{city_label(w.geonameid)} (whitelisted recyclers)")
    for c in read_raw("cell_plants_cn.csv", dtype=str).itertuples(index=False):
        rows.append({"id": c.id, "name": f"{c.company} cell plants, {c.city} (production scrap)",
                     "kind": "collection_point", "latitude": round(float(c.latitude), 5),
                     "longitude": round(float(c.longitude), 5), "region": c.region, "jurisdiction": JURISDICTION})
    for s in read_raw("sites_plan.csv", dtype=str).itertuples(index=False):
        if s.geonameid:
            label = city_label(s.geonameid)
            name = f"{label} candidate site" if s.kind == "facility" else f"{label} second-life market"
            from_city(s.id, s.kind, s.geonameid, s.region, name)
        else:
            f = plant.loc[s.facility_id]
            rows.append({"id": s.id, "name": f["name"], "kind": s.kind, "latitude": round(float(f["lat"]), 5),
                         "longitude": round(float(f["lon"]), 5), "region": s.region,
                         "jurisdiction": JURISDICTION})
    return pd.DataFrame(rows)


def build_regions() -> pd.DataFrame:
    det = read_raw("detour_factors.csv").set_index("region")["detour_factor"]
    rows = [{"id": r, "detour_factor": float(det.get(r, num("detour_factor_default")))}
            for r in sorted(provinces()["region"])]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- chemistries and materials
@lru_cache(maxsize=1)
def energy_kwh_per_t() -> dict[str, float]:
    """kWh per t of the packs retiring over the horizon, per chemistry: retired kWh / retired t
    summed over every year of the horizon (pack_mass_vintage.csv weighted by what retires)."""
    reg = registrations().set_index("year")["vehicles"].to_dict()
    args = (reg, pack_kwh(), chemistry_shares(), years(), num("weibull_shape"), calibrate_scale())
    tonnes = retired_by_vintage(*args).groupby("chemistry")["tonnes"].sum()
    per_kwh = {v: dict.fromkeys(CHEMISTRIES, 1000.0) for v in reg}  # "tonnes" = kWh
    kwh = retired_by_vintage(*args, kg=per_kwh).groupby("chemistry")["tonnes"].sum()
    return {c: float(kwh[c] / tonnes[c]) for c in CHEMISTRIES}


def black_mass_yield() -> float:
    t = read_raw("technologies.csv").set_index("technology")
    return float(t.at["MECH", "black_mass_yield"])


def build_chemistry_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    chem = read_raw("chemistries.csv")
    energy = energy_kwh_per_t()
    chemistries = pd.DataFrame({"id": chem["chemistry"], "name": chem["name"],
                                "energy_kwh_per_t": [round(energy[c], 1) for c in chem["chemistry"]]})
    mats = read_raw("materials.csv")
    materials = pd.DataFrame({"id": mats["material"], "name": mats["name"]})
    content = read_raw("chemistry_content.csv")
    transfer = read_raw("black_mass_transfer.csv").set_index("material")["share_to_black_mass"]
    content["kg_per_t"] = (content["kg_per_kwh"] * content["chemistry"].map(energy)).round(2)
    content["black_mass_kg_per_t"] = (content["kg_per_t"] * content["material"].map(transfer)
                                      / black_mass_yield()).round(2)
    return chemistries, materials, content[["chemistry", "material", "kg_per_t", "black_mass_kg_per_t"]]


def build_material_prices() -> pd.DataFrame:
    raw = read_raw("material_prices.csv")

    def to_cny(price: float, unit: str) -> float:
        if unit == "USD/t":
            return price * num("usd_cny")
        if unit == "CNY/t Li2CO3":
            return price / num("li_mass_fraction_li2co3")
        if unit == "CNY/t":
            return price
        raise ValueError(f"unknown price unit {unit!r}")

    rows = []
    for m in read_raw("materials.csv")["material"]:
        r = raw.loc[raw["material"] == m].sort_values("from_year")
        for y in years():
            cur = r.loc[r["from_year"] <= y].iloc[-1]
            rows.append({"material": m, "year": y, "price_per_t": to_cny(cur["price"], cur["price_unit"])})
    out = per_period(pd.DataFrame(rows), ["material"], "price_per_t")
    out["price_per_t"] = out["price_per_t"].round(-1)
    order = {m: i for i, m in enumerate(read_raw("materials.csv")["material"])}
    out = out.sort_values(["material", "period"], key=lambda c: c.map(order) if c.name == "material" else c)
    return out[["material", "period", "price_per_t"]].reset_index(drop=True)


def build_payables() -> pd.DataFrame:
    """Payables of the recovered materials sold as scrap (Cu, Al) by every seller; the refined
    salts (Li, Ni, Co, Mn) and graphite have no row: paid at their benchmark (payable 1)."""
    p = read_raw("payables.csv")
    return pd.DataFrame({"product": p["product"], "material": p["material"], "seller": p["seller"],
                         "buyer": "", "payable": p["payable"].astype(float), "from_period": 0,
                         "source": p["source"]})


def build_pack_prices() -> pd.DataFrame:
    """What the network pays the owner per t of packs (every grade, every year), derived as what
    a pre-processor could bid: the metal the pack puts into black mass, paid at China's black-mass
    payables (black_mass_payables.csv, SMM 2025) and the year's benchmark prices, less the
    pre-processing cost (MECH variable cost); negative where that is below 0 (a gate fee). The
    pre-processor keeps the Cu and Al it separates (its fixed costs and margin). CNY per t,
    rounded to 10."""
    _, _, content = build_chemistry_tables()
    transfer = read_raw("black_mass_transfer.csv").set_index("material")["share_to_black_mass"].astype(float)
    pay = read_raw("black_mass_payables.csv")
    prices = build_material_prices()
    mech = float(read_raw("technologies.csv").set_index("technology").at["MECH", "variable_cost"])
    rows = []
    for period in sorted(prices["period"].unique()):
        price = prices.loc[prices["period"] == period].set_index("material")["price_per_t"]
        for chem in CHEMISTRIES:
            paid = pay.loc[pay["chemistry"] == chem]
            kg = content.loc[content["chemistry"] == chem].set_index("material")["kg_per_t"]
            value = sum(float(kg.get(r.material, 0.0)) / 1000.0 * float(transfer[r.material]) * float(r.payable)
                        * float(price[r.material]) for r in paid.itertuples(index=False))
            rows.append({"chemistry": chem, "grade": "", "jurisdiction": "", "from_period": int(period),
                         "price_per_t": round(value - mech, -1),
                         "source": "[D] black-mass value at black_mass_payables.csv less MECH cost (README)"})
    return pd.DataFrame(rows)


def build_end_values() -> pd.DataFrame:
    """Value of a t of packs returning from second life after 2032: the last year's pack price
    (what a pre-processor bids for it, :func:`build_pack_prices`), CNY per t."""
    prices = build_pack_prices()
    last = prices.loc[prices["from_period"] == prices["from_period"].max()]
    return pd.DataFrame({"chemistry": last["chemistry"], "commodity": "eol_packs", "value_per_t": last["price_per_t"],
                         "source": "[D] the last year's pack price (pack_prices.csv): what a pre-processor bids"})


def build_grades() -> tuple[pd.DataFrame, pd.DataFrame]:
    g = read_raw("grades.csv")
    grades = g[["id", "name", "soh_min", "soh_max", "usable_soh", "second_life"]]
    shares = read_raw("grade_shares.csv")[["chemistry", "grade", "share"]]
    return grades, shares


# ---------------------------------------------------------------- supply
def build_supply() -> pd.DataFrame:
    """National end-of-life tonnes (eol_supply) split over the provinces by population share;
    each province's supply appears at its capital. Grades come from grade_shares.csv."""
    cps = collection_points()
    pop = provinces()["population_10k"].astype(float).tolist()
    rows = []
    for r in eol_supply().itertuples(index=False):
        parts = largest_remainder(round(r.tonnes * 1000), pop)  # milli-tonnes
        for site, mt in zip(cps["id"], parts, strict=True):
            rows.append({"site": site, "period": int(r.year), "chemistry": r.chemistry, "tonnes": mt / 1000.0})
    out = pd.DataFrame(rows)
    out["grade"] = ""
    out = pd.concat([out, scrap_supply()], ignore_index=True)
    return out.sort_values(["site", "period", "chemistry"]).reset_index(drop=True)


@lru_cache(maxsize=1)
def _production_scrap() -> pd.DataFrame:
    annual = read_raw("production_scrap_cn.csv")
    rows = []
    for chem in sorted(annual["chemistry"].unique()):
        t = annual.loc[annual["chemistry"] == chem].set_index("year")["tonnes"].astype(float)
        t28, t30 = float(t[2028]), float(t[2030])
        for y in years():
            if y <= 2028:
                v = t28 / (1 + num("scrap_growth_before_2028")) ** (2028 - y)
            elif y < 2030:
                v = (t28 * t30) ** 0.5  # 2029: geometric mean of 2028 and 2030
            else:
                v = t30 * (1 + num("scrap_growth_after_2030")) ** (y - 2030)
            rows.append({"year": y, "chemistry": chem, "tonnes": v})
    out = per_period(pd.DataFrame(rows), ["chemistry"], "tonnes").rename(columns={"period": "year"})
    out["year"] = out["year"].astype("int64")
    out["tonnes"] = out["tonnes"].round(3)
    return out[["year", "chemistry", "tonnes"]].sort_values(["year", "chemistry"]).reset_index(drop=True)


def production_scrap() -> pd.DataFrame:
    """Production scrap of the cell makers per operating year and chemistry (t/yr): Mysteel's
    2028 and 2030 figures, the 2028-2030 growth extended back to 2025, growth after 2030 from
    parameters.csv. supply.csv puts exactly these tonnes at the cell-plant sites, grade C."""
    return _production_scrap().copy()


def scrap_supply() -> pd.DataFrame:
    """Production scrap split over the cell-plant sites of cell_plants_cn.csv by their company's
    2024 share of China's installations x the plant's share of its company; grade C (recycling
    only: cell and electrode scrap never goes to second life)."""
    plants = read_raw("cell_plants_cn.csv")
    weight = (plants["company_share_2024"].astype(float) * plants["share_of_company"].astype(float)).tolist()
    rows = []
    for r in production_scrap().itertuples(index=False):
        parts = largest_remainder(round(r.tonnes * 1000), weight)  # milli-tonnes
        for site, mt in zip(plants["id"], parts, strict=True):
            rows.append({"site": site, "period": int(r.year), "chemistry": r.chemistry, "tonnes": mt / 1000.0,
                         "grade": "C"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- technologies and facilities
def build_technologies() -> tuple[pd.DataFrame, pd.DataFrame]:
    t = read_raw("technologies.csv")
    technologies = pd.DataFrame({"id": t["technology"], "name": t["name"], "process": t["process"],
                                 "recycling_efficiency": t["recycling_efficiency"].astype(float),
                                 "black_mass_yield": t["black_mass_yield"]})
    yields = read_raw("technology_yields.csv")[["technology", "material", "recovery_yield"]]
    return technologies, yields


def capex(kind: str, capacity_t: float) -> float:
    """Capital cost (CNY) of a plant of ``capacity_t`` t/yr input (refiners: t/yr of black mass).

    Integrated recyclers: capex_ref x (C / C_ref)^e with capex_ref = USD/t/yr x C_ref x CNY/USD.
    Pre-processors: a share of the integrated capex at equal pack throughput. Refiners: the rest
    of it, at the pack throughput that yields C t of black mass. Refurbishers: the Ganfeng
    Jiaozhou figure scaled the same way.
    """
    e = num("capex_scale_exponent")
    c_ref = num("capex_recycler_reference_t")
    ref = num("capex_recycler_usd_per_tpa") * num("usd_cny") * c_ref

    def integrated(c: float) -> float:
        return ref * (c / c_ref) ** e

    share = num("capex_preprocessor_share")
    if kind == "recycler":
        return integrated(capacity_t)
    if kind == "preprocessor":
        return share * integrated(capacity_t)
    if kind == "refiner":
        return (1.0 - share) * integrated(capacity_t / black_mass_yield())
    if kind == "refurbisher":
        return num("capex_refurbisher_cny") * (capacity_t / num("capex_refurbisher_reference_t")) ** e
    raise ValueError(kind)


def refurbishing_cost_per_t() -> float:
    """Refurbishing cost per t of input: EUR/kWh x CNY/EUR x China factor x usable kWh per t of
    the LFP packs fit for second life (grade-share weighted usable SoH of grades A and B)."""
    grades, shares = build_grades()
    usable = grades.set_index("id")["usable_soh"]
    sl = set(grades.loc[grades["second_life"].astype(str).str.lower() == "true", "id"])
    lfp = shares.loc[(shares["chemistry"] == "LFP") & shares["grade"].isin(sl)]
    soh = float((lfp["share"] * lfp["grade"].map(usable).astype(float)).sum() / lfp["share"].sum())
    usable_kwh = energy_kwh_per_t()["LFP"] * soh
    return round(num("refurb_cost_eur_per_kwh") * num("eur_cny") * num("refurb_cost_china_factor") * usable_kwh, -1)


def whitelist_capacity_per_enterprise() -> float:
    """t/yr of packs per whitelisted recycling enterprise not modelled on its own: the recycling
    share of the whitelist's nominal capacity, less the existing plants of facilities_plan.csv
    (refineries at their pack equivalent), over the enterprises of whitelist_capacity_cn.csv;
    rounded to 1,000 t."""
    plan = read_raw("facilities_plan.csv", dtype=str)
    named = 0.0
    for f in plan.loc[(plan["status"] == "existing") & (plan["kind"] != "refurbisher")].itertuples(index=False):
        cap = min(float(x) for x in f.levels_t.split(";"))
        named += cap / black_mass_yield() if f.kind == "refiner" else cap
    total = num("whitelist_nominal_capacity_2024_t") * num("whitelist_recycling_share")
    n = int(read_raw("whitelist_capacity_cn.csv")["enterprises"].astype(int).sum())
    return round((total - named) / n, -3)


def whitelist_plan() -> pd.DataFrame:
    """One existing integrated (HYDRO) recycler per province of whitelist_capacity_cn.csv with
    its enterprises' summed capacity, in the columns of facilities_plan.csv."""
    w = read_raw("whitelist_capacity_cn.csv", dtype=str)
    per = whitelist_capacity_per_enterprise()
    return pd.DataFrame({
        "id": "R-WL-" + w["region"].str.removeprefix("CN-"), "site": w["site"], "kind": "recycler",
        "technology": "HYDRO", "status": "existing",
        "levels_t": [f"{per * int(n):.0f}" for n in w["enterprises"]],
        "capacity_source": "whitelist aggregate: " + w["named_enterprises"] + "; " + w["source"]})


def build_facilities() -> tuple[pd.DataFrame, pd.DataFrame]:
    plan = pd.concat([read_raw("facilities_plan.csv", dtype=str), whitelist_plan()], ignore_index=True)
    closing = num("closing_cost_share_of_capex")
    tech = read_raw("technologies.csv").set_index("technology")
    om = num("fixed_om_share_of_capex")
    refurb_cost = refurbishing_cost_per_t()
    fac_rows, lvl_rows = [], []
    for f in plan.itertuples(index=False):
        refurb = f.kind == "refurbisher"
        if not refurb and tech.at[f.technology, "kind"] != f.kind:
            raise ValueError(f"{f.id}: technology {f.technology} is for {tech.at[f.technology, 'kind']}s")
        fac_rows.append({
            "id": f.id, "site": f.site, "kind": f.kind, "technology": f.technology, "status": f.status,
            "variable_cost_per_t": refurb_cost if refurb else float(tech.at[f.technology, "variable_cost"]),
            "test_yield": num("refurb_test_yield") if refurb else "",
            # existing plants may close (the rest of their capex is sunk): a share of their capex
            "closing_cost": (int(round(closing * capex(f.kind, min(float(x) for x in f.levels_t.split(";"))), -3))
                             if f.status == "existing" else ""),
        })
        for cap in sorted(float(x) for x in f.levels_t.split(";")):
            cx = capex(f.kind, cap)
            lvl_rows.append({"facility": f.id, "level": level_name(cap), "capacity_t": cap,
                             "fixed_cost_per_year": round(cx * om, -3), "opening_cost": round(cx, -3)})
    return pd.DataFrame(fac_rows), pd.DataFrame(lvl_rows)


def existing_plants() -> pd.DataFrame:
    """Every existing facility and its capacity (t/yr) at its smallest level."""
    facilities, levels = build_facilities()
    existing = facilities.loc[facilities["status"] == "existing", "id"]
    cap = levels.loc[levels["facility"].isin(existing)].groupby("facility")["capacity_t"].min()
    return pd.DataFrame({"facility": cap.index, "capacity_t": cap.to_numpy()}).reset_index(drop=True)


# ---------------------------------------------------------------- second life
def build_markets() -> tuple[pd.DataFrame, pd.DataFrame]:
    plan = read_raw("markets_plan.csv", dtype=str)
    pr = provinces()
    macro_pop = pr.groupby("macro_region")["population_10k"].sum()
    total_pop = float(pr["population_10k"].sum())
    markets = plan[["id", "site", "application", "chemistries", "grades"]]
    decline = num("second_life_price_decline")
    y0 = years()[0]
    rows = []
    for m in plan.itertuples(index=False):
        served = sum(float(macro_pop[r]) for r in m.serves.split(";")) / total_pop
        for y in years():
            demand = num(m.demand_parameter) * (1 + num(m.growth_parameter)) ** (y - y0) * served
            price = num(m.price_parameter) * (1 - decline) ** (y - y0)
            rows.append({"market": m.id, "year": y, "demand_kwh": demand, "price_per_kwh": price})
    annual = pd.DataFrame(rows)
    demand = per_period(annual, ["market"], "demand_kwh").merge(
        per_period(annual, ["market"], "price_per_kwh"), on=["period", "market"])
    demand["demand_kwh"] = demand["demand_kwh"].round(-3)
    demand["price_per_kwh"] = demand["price_per_kwh"].round(2)
    order = {m: i for i, m in enumerate(plan["id"])}
    demand = demand.sort_values(["market", "period"], key=lambda c: c.map(order) if c.name == "market" else c)
    return markets, demand[["market", "period", "demand_kwh", "price_per_kwh"]].reset_index(drop=True)


def build_returns() -> pd.DataFrame:
    return read_raw("second_life_returns.csv")[["application", "after_years", "share"]]


# ---------------------------------------------------------------- manifest and build
def manifest_text(tables: list[str]) -> str:
    ops = ", operations: yearly" if yearly() else ""
    per = ", ".join(str(y) if n == 1 else f"{{year: {y}, length: {n}{ops}}}" for y, n in periods())
    lines = [
        "# Generated by instances/build/china_2025_2032.py -- edit the raw tables, then re-run the script.",
        f"name: {NAME}",
        "description: >-",
        "  End-of-life EV battery reverse logistics in mainland China (31 provinces), 2025-2032.",
        "  Supply from a Weibull retirement model of China's NEV registrations (calibrated to MIIT's",
        "  > 400 kt in 2025), split by province population; real existing plants, announced projects as",
        "  candidates, two-echelon pre-processing + refining, China Tower telecom backup, storage, UPS and",
        "  e-bike second-life markets, MIIT 2024 standard conditions and the 2026 Interim Measures.",
        "  Sources and assumptions: README.md.",
        f"currency: {CURRENCY}",
        "units:",
        "  mass: t",
        "  energy: kWh",
        "  distance: km",
        f"periods: [{per}]",
        "tables:",
    ]
    lines += [f"  {t}: {t}.csv" for t in tables]
    lines += [
        "defaults:",
        f"  collection_cost_per_t: {num('collection_cost_cny_per_t'):g}",
        "transport:",
        f"  detour_factor: {num('detour_factor_default'):g}",
        f"  max_lane_km: {num('max_lane_km'):g}",
        "  cost_per_tkm:",
        f"    eol_packs: {num('transport_eol_cny_per_tkm'):g}",
        f"    second_life_packs: {num('transport_second_life_cny_per_tkm'):g}",
        f"    rejects: {num('transport_rejects_cny_per_tkm'):g}",
        f"    returns: {num('transport_returns_cny_per_tkm'):g}",
        f"    black_mass: {num('transport_black_mass_cny_per_tkm'):g}",
        f"discount_rate: {num('interest_rate'):g}",
        "investment:",
        "  opening_cost: annualised",
        f"  interest_rate: {num('interest_rate'):g}",
        f"  lifetime_years: {num('plant_life_years'):g}",
        "policies:",
        f"  {JURISDICTION}: [cn-2024-standard-conditions, cn-2026-interim-measures]",
        "uncollected:",
        "  allowed: false",
        "disposal:",
        "  allowed: false",
    ]
    return "\n".join(lines) + "\n"


def tables() -> dict[str, pd.DataFrame]:
    """Every output table, in the order they are listed in instance.yaml."""
    chemistries, materials, chem_mat = build_chemistry_tables()
    grades, grade_shares = build_grades()
    technologies, yields = build_technologies()
    facilities, levels = build_facilities()
    markets, demand = build_markets()
    return {
        "sites": build_sites(),
        "jurisdictions": pd.DataFrame([{"id": JURISDICTION, "name": "China (mainland)", "groups": ""}]),
        "regions": build_regions(),
        "chemistries": chemistries,
        "materials": materials,
        "chemistry_materials": chem_mat,
        "material_prices": build_material_prices(),
        "payables": build_payables(),
        "grades": grades,
        "grade_shares": grade_shares,
        "supply": build_supply(),
        "pack_prices": build_pack_prices(),
        "technologies": technologies,
        "technology_yields": yields,
        "facilities": facilities,
        "facility_levels": levels,
        "markets": markets,
        "market_demand": demand,
        "second_life_returns": build_returns(),
        "end_values": build_end_values(),
        "ramp_up": _shared.ramp_up(RAW),
    }


def build(out: Path) -> None:
    """Write instance.yaml and every CSV of the instance into ``out`` (created if needed)."""
    built = tables()
    _shared.write_instance(out, built, manifest_text(list(built)))
    summary(built, out)


def summary(built: dict[str, pd.DataFrame], out: Path) -> None:
    """Print totals for the person running the script (nothing is written)."""
    shape, scale = num("weibull_shape"), calibrate_scale()
    print(f"Weibull shape {shape:g}, scale {scale:g} yr (median {weibull_median(shape, scale):.2f} yr)")
    sup = eol_supply().pivot(index="year", columns="chemistry", values="tonnes")
    sup["total"] = sup.sum(axis=1)
    print((sup / 1000).round(1).to_string(float_format=lambda v: f"{v:,.1f}"), "(kt)")
    lv = built["facility_levels"].merge(built["facilities"][["id", "kind", "status"]],
                                        left_on="facility", right_on="id")
    for (kind, status), g in lv.groupby(["kind", "status"]):
        first = g.groupby("facility")["capacity_t"].min().sum()
        top = g.groupby("facility")["capacity_t"].max().sum()
        unit = "t BM/yr" if kind == "refiner" else "t/yr"
        print(f"{kind:12s} {status:9s} {g['facility'].nunique():2d} facilities, smallest levels "
              f"{first:,.0f}, largest {top:,.0f} {unit}")
    d = built["market_demand"].merge(built["markets"][["id", "application"]], left_on="market", right_on="id")
    print((d.pivot_table(index="period", columns="application", values="demand_kwh", aggfunc="sum") / 1e6)
          .round(2).to_string(), "(GWh/yr)")
    scrap = production_scrap().pivot(index="year", columns="chemistry", values="tonnes")
    print((scrap / 1000).round(1).to_string(float_format=lambda v: f"{v:,.1f}"), "(kt of production scrap)")
    print(f"wrote {len(built)} tables + instance.yaml to {out}")


if __name__ == "__main__":
    import sys

    if "--calibration" in sys.argv:
        print(f"registrations:\n{registrations().to_string()}")
        print({y: round(v, 1) for y, v in pack_kwh().items()})
        print(calibration_table().to_string())
        p = weibull_retirement_probabilities(num("weibull_shape"), calibrate_scale())
        print("P(age) 1-15:", [round(float(p[a]), 4) for a in range(1, 16)])
    elif "--out" in sys.argv:
        build(Path(sys.argv[sys.argv.index("--out") + 1]))
    else:
        build(INSTANCE)
