"""Synthetic instances of any size, for benchmarks and tests: same seed, same files.

Geography is realistic: collection points and candidate sites are drawn around the shipped
GeoNames cities of a region (weighted by population), with a normal offset of a few tens of km,
and kept only inside the region's Natural Earth boundary. Parameters are drawn from the ranges
documented in ``docs/generator.md`` (taken from the project's research brief: pack energy and
material content by chemistry, recovery yields by process, plant size classes and capex per
t/yr, second-life prices), so that instances behave like real ones at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REGIONS = {
    "china": ("CN", "ne_50m_china_provinces.geojson", "CNY", "CN"),
    "europe": (None, "ne_50m_europe_countries.geojson", "EUR", "EU"),
    "us": ("US", "ne_50m_us_states.geojson", "USD", "US"),
}

#: Chemistries in the order they are added: (id, kWh per t of pack, kg per t of Li, Ni, Co, Mn, Cu, Al,
#: graphite, fit share); from BatPaC pack masses and cathode stoichiometry (research brief 4.1).
CHEMISTRIES = (
    ("LFP", 150.0, {"Li": 13.2, "Ni": 0.0, "Co": 0.0, "Mn": 0.0, "Cu": 55.0, "Al": 120.0, "graphite": 160.0}, 0.35),
    ("NCM", 191.0, {"Li": 20.1, "Ni": 101.7, "Co": 34.0, "Mn": 31.7, "Cu": 65.0, "Al": 110.0, "graphite": 150.0},
     0.15),
    ("NCA", 196.0, {"Li": 19.6, "Ni": 132.1, "Co": 24.9, "Mn": 0.0, "Cu": 65.0, "Al": 110.0, "graphite": 150.0},
     0.10),
    ("LMO", 93.0, {"Li": 8.0, "Ni": 0.0, "Co": 0.0, "Mn": 60.0, "Cu": 40.0, "Al": 100.0, "graphite": 100.0}, 0.05),
    ("OTHER", 120.0, {"Li": 10.0, "Ni": 30.0, "Co": 10.0, "Mn": 10.0, "Cu": 50.0, "Al": 110.0, "graphite": 120.0},
     0.05),
)
MATERIALS = ("Li", "Ni", "Co", "Mn", "Cu", "Al", "graphite")
#: Material prices in USD per t of contained metal (brief 4.5); scaled by the currency factor.
PRICES_USD = {"Li": 75_000.0, "Ni": 17_500.0, "Co": 35_000.0, "Mn": 2_000.0, "Cu": 11_000.0, "Al": 2_500.0,
              "graphite": 600.0}
CURRENCY_PER_USD = {"USD": 1.0, "EUR": 0.92, "CNY": 7.2}
TECHNOLOGIES = (
    ("HYDRO", "hydrometallurgical", 0.70, {"Li": 0.85, "Ni": 0.95, "Co": 0.95, "Mn": 0.90, "Cu": 0.90, "Al": 0.80}),
    ("PYRO", "pyrometallurgical", 0.55, {"Li": 0.0, "Ni": 0.95, "Co": 0.95, "Mn": 0.0, "Cu": 0.90, "Al": 0.0}),
    ("DIRECT", "direct", 0.80, {"Li": 0.90, "Ni": 0.90, "Co": 0.90, "Mn": 0.90, "Cu": 0.90, "Al": 0.85,
                                "graphite": 0.5}),
)
LEVELS_T = (10_000.0, 30_000.0, 100_000.0)  # plant size classes (brief 4.3)


@dataclass(frozen=True)
class GeneratorSpec:
    """Size and shape of a synthetic instance."""

    seed: int = 0
    collection_points: int = 50
    candidates: int = 20
    periods: int = 3
    chemistries: int = 3
    region: str = "china"
    start_year: int = 2025
    markets: int = 5
    tonnes_per_point: float = 2_000.0  # mean t/yr in the first period
    growth: float = 0.15  # yearly growth of supply
    max_lane_km: float = 1_500.0


@cache
def _cities(region: str) -> pd.DataFrame:
    country, _, _, _ = REGIONS[region]
    with resources.files("network_opt.data").joinpath("cities.csv").open(encoding="utf-8") as fh:
        cities = pd.read_csv(fh, keep_default_na=False)
    if country is None:
        cities = cities.loc[~cities["country_code"].isin(["CN", "US", "JP", "KR"])]
    else:
        cities = cities.loc[cities["country_code"] == country]
    return cities.sort_values("geonameid").reset_index(drop=True)


@cache
def _boundary(region: str) -> object:
    import geopandas as gpd
    from shapely.prepared import prep

    path = resources.files("network_opt.data").joinpath(REGIONS[region][1])
    with resources.as_file(path) as p:
        shapes = gpd.read_file(p)
    return prep(shapes.union_all())


def _points(rng: np.random.Generator, region: str, n: int, spread_km: float) -> pd.DataFrame:
    """``n`` points around cities (population-weighted), inside the region's boundary."""
    from shapely.geometry import Point

    cities = _cities(region)
    weight = np.sqrt(cities["population"].to_numpy(dtype=float))
    weight /= weight.sum()
    inside = _boundary(region)
    rows: list[tuple[str, str, str, float, float]] = []
    while len(rows) < n:
        c = cities.iloc[int(rng.choice(len(cities), p=weight))]
        dlat = rng.normal(0.0, spread_km / 111.0)
        dlon = rng.normal(0.0, spread_km / (111.0 * max(np.cos(np.radians(c["latitude"])), 0.2)))
        lat, lon = round(c["latitude"] + dlat, 4), round(c["longitude"] + dlon, 4)
        if inside.contains(Point(lon, lat)):  # type: ignore[attr-defined]
            rows.append((c["name"], c["region_code"], c["country_code"], lat, lon))
    return pd.DataFrame(rows, columns=["city", "region", "country", "latitude", "longitude"])


def generate(out: str | Path, spec: GeneratorSpec) -> Path:
    """Write a synthetic instance folder ``out`` (created; must not hold an instance already)."""
    if spec.region not in REGIONS:
        raise ValueError(f"unknown region {spec.region!r}; expected one of {', '.join(REGIONS)}")
    if not 1 <= spec.chemistries <= len(CHEMISTRIES):
        raise ValueError(f"chemistries must be between 1 and {len(CHEMISTRIES)}")
    if spec.collection_points < 1 or spec.candidates < 1 or spec.periods < 1:
        raise ValueError("collection points, candidates and periods must be at least 1")
    rng = np.random.default_rng(spec.seed)
    _, _, currency, jurisdiction = REGIONS[spec.region]
    fx = CURRENCY_PER_USD[currency]
    years = [spec.start_year + 2 * i for i in range(spec.periods)]
    chems = CHEMISTRIES[: spec.chemistries]

    cps = _points(rng, spec.region, spec.collection_points, 40.0)
    cps["id"] = [f"CP{i:05d}" for i in range(len(cps))]
    fs = _points(rng, spec.region, spec.candidates, 25.0)
    fs["id"] = [f"FS{i:04d}" for i in range(len(fs))]
    mk = _points(rng, spec.region, spec.markets, 15.0)
    mk["id"] = [f"MK{i:03d}" for i in range(len(mk))]
    sites = pd.concat([cps.assign(kind="collection_point"), fs.assign(kind="facility"), mk.assign(kind="market")])
    sites["name"] = sites["city"]
    sites["jurisdiction"] = jurisdiction
    sites = sites[["id", "name", "kind", "latitude", "longitude", "region", "jurisdiction"]]

    # supply: lognormal size per point, chemistry mix per point, growing over time
    size = rng.lognormal(mean=0.0, sigma=0.8, size=len(cps))
    size *= spec.tonnes_per_point / size.mean()
    mix = rng.dirichlet(np.full(len(chems), 2.0), size=len(cps))
    supply_rows = []
    for i, cp in enumerate(cps["id"]):
        for y in years:
            grow = (1.0 + spec.growth) ** (y - years[0])
            for k, (chem, _, _, fit) in enumerate(chems):
                tonnes = round(float(size[i] * mix[i, k] * grow), 3)
                if tonnes > 0:
                    supply_rows.append((cp, y, chem, tonnes, fit))
    supply = pd.DataFrame(supply_rows, columns=["site", "period", "chemistry", "tonnes", "fit_share"])
    peak = supply.groupby("period")["tonnes"].sum().max()

    # facilities: a quarter refurbishers, the rest recyclers (technologies drawn), 3 levels each,
    # level sizes scaled so that the candidates together can take about twice the peak supply
    kinds = np.where(rng.random(len(fs)) < 0.25, "refurbisher", "recycler")
    kinds[0] = "recycler"
    scale = 2.0 * peak / max(1.0, (kinds == "recycler").sum() * LEVELS_T[1])
    fac_rows, level_rows = [], []
    for i, (fid, kind) in enumerate(zip(fs["id"], kinds, strict=True)):
        tech = "" if kind == "refurbisher" else TECHNOLOGIES[int(rng.integers(len(TECHNOLOGIES)))][0]
        var = rng.uniform(800, 1_600) if kind == "recycler" else rng.uniform(1_500, 3_000)
        fac_id = f"F{i:04d}"
        fac_rows.append((fac_id, fid, kind, tech, "candidate", round(var * fx, 2),
                         0.85 if kind == "refurbisher" else ""))
        for cap in LEVELS_T:
            c = max(100.0, cap * scale)
            capex = 3_600.0 * c * (c / 18_250.0) ** -0.3  # US$/t/yr at 50 t/d, scale exponent 0.7
            annual = capex * 0.117 + 0.03 * capex  # 8%, 15 years annuity + 3% O&M
            level_rows.append((fac_id, f"{round(cap / 1000)}kt", round(c, 1), round(annual * fx, 0),
                               round(0.05 * capex * fx, 0)))
    facilities = pd.DataFrame(fac_rows, columns=["id", "site", "kind", "technology", "status",
                                                 "variable_cost_per_t", "test_yield"])
    levels = pd.DataFrame(level_rows, columns=["facility", "level", "capacity_t", "fixed_cost_per_year",
                                               "opening_cost"])

    apps = ("telecom_backup", "energy_storage", "ups")
    markets = pd.DataFrame({"id": [f"M{i:03d}" for i in range(len(mk))], "site": mk["id"],
                            "application": [apps[i % len(apps)] for i in range(len(mk))],
                            "chemistries": [chems[0][0]] * len(mk)})
    fit_kwh = float((supply.loc[supply["period"] == years[0], "tonnes"] * supply["fit_share"]).sum()) * chems[0][1]
    demand = pd.DataFrame([(m, y, round(0.4 * fit_kwh / len(mk) * (1.1 ** (y - years[0])), 0),
                            round(rng.uniform(40, 80) * fx, 2)) for m in markets["id"] for y in years],
                          columns=["market", "period", "demand_kwh", "price_per_kwh"])
    returns = pd.DataFrame([(a, d, 0.5) for a in apps for d in (6, 8)],
                           columns=["application", "after_years", "share"])

    tables = {
        "sites": sites,
        "jurisdictions": pd.DataFrame({"id": [jurisdiction], "name": [spec.region], "groups": [""]}),
        "chemistries": pd.DataFrame([(c, c, e) for c, e, _, _ in chems], columns=["id", "name", "energy_kwh_per_t"]),
        "materials": pd.DataFrame({"id": list(MATERIALS), "name": list(MATERIALS)}),
        "chemistry_materials": pd.DataFrame([(c, m, v) for c, _, content, _ in chems for m, v in content.items()],
                                            columns=["chemistry", "material", "kg_per_t"]),
        "material_prices": pd.DataFrame([(m, y, round(p * fx, 2)) for m, p in PRICES_USD.items() for y in years],
                                        columns=["material", "period", "price_per_t"]),
        "supply": supply,
        "technologies": pd.DataFrame([(t, t, proc, eff) for t, proc, eff, _ in TECHNOLOGIES],
                                     columns=["id", "name", "process", "recycling_efficiency"]),
        "technology_yields": pd.DataFrame([(t, m, v) for t, _, _, ys in TECHNOLOGIES for m, v in ys.items()],
                                          columns=["technology", "material", "recovery_yield"]),
        "facilities": facilities,
        "facility_levels": levels,
        "markets": markets,
        "market_demand": demand,
        "second_life_returns": returns,
        "targets": pd.DataFrame([(jurisdiction, "material_recovery", "Li", 0.5, years[0]),
                                 (jurisdiction, "material_recovery", "Li", 0.8, years[-1])],
                                columns=["jurisdiction", "metric", "material", "value", "from_period"]
                                ).drop_duplicates(["from_period"], keep="last"),
    }
    # every collection point must reach a recycler: widen the lane limit where the draw left one out
    rec_sites = fs.loc[kinds == "recycler"]
    from network_opt.common.geo import haversine_km

    gap = haversine_km(cps["latitude"].to_numpy()[:, None], cps["longitude"].to_numpy()[:, None],
                       rec_sites["latitude"].to_numpy()[None, :], rec_sites["longitude"].to_numpy()[None, :])
    max_lane_km = max(spec.max_lane_km, float(np.ceil(gap.min(axis=1).max() * 1.3 * 1.05)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "instance.yaml").exists():
        raise FileExistsError(f"{out} already holds an instance")
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False, float_format="%.6g", lineterminator="\n")
    manifest = {
        "name": f"synthetic-{spec.region}-{spec.collection_points}x{spec.candidates}x{spec.periods}-s{spec.seed}",
        "description": "Synthetic instance written by network-opt generate; see docs/generator.md.",
        "currency": currency,
        "periods": [{"year": y, "length": 2} for y in years],
        "tables": {name: f"{name}.csv" for name in tables},
        "defaults": {"collection_cost_per_t": round(60 * fx, 2), "second_life_soh": 0.8},
        "discount_rate": 0.05,
        "transport": {"max_lane_km": max_lane_km,
                      "cost_per_tkm": {"eol_packs": round(0.20 * fx, 4), "second_life_packs": round(0.10 * fx, 4),
                                       "rejects": round(0.20 * fx, 4), "returns": round(0.20 * fx, 4),
                                       "black_mass": round(0.15 * fx, 4)}},
    }
    (out / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return out
