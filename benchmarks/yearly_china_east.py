"""china-east operated year by year: write a variant of ``instances/china-east`` whose single 2025
period becomes one investment period operated yearly over 2025-2027 (issue 16), for measuring
the solve with ``network-opt solve``. The shipped instance is left as it is.

Supply per year: china-east's 2025 rows scaled, chemistry by chemistry, by the national growth of
end-of-life tonnes in the Weibull retirement model of ``instances/build/china_2025_2032.py`` (its
README gives every input's source): T(y, k) / T(2025, k). Market demand, prices and targets are
held at their 2025 values (an assumption of this benchmark, not data). Options add illustrative
ramp-up (50 %, 80 %, then 100 % for every technology) and stock (every collection point, cap
``--stock-cap`` t, holding ``--holding`` CNY per t-year, oldest 1 year) -- assumptions for a
solve-time measurement, not sourced data. Usage::

    python benchmarks/yearly_china_east.py --out /tmp/ce-yearly [--years 3] [--ramp-up] [--stock]
    network-opt solve /tmp/ce-yearly --out /tmp/ce-yearly-results
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).parents[1]
SOURCE = ROOT / "instances" / "china-east"


def national_growth(years: list[int]) -> pd.DataFrame:
    """T(y, k) / T(first year, k): end-of-life tonnes of the China retirement model per chemistry."""
    sys.path.insert(0, str(ROOT))
    builder = ROOT / "instances" / "build" / "china_2025_2032.py"
    spec = importlib.util.spec_from_file_location("china_2025_2032", builder)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "instances" / "build"))
    spec.loader.exec_module(build)
    annual = build._retirement(build.calibrate_scale(), years)  # the builder's own retirement model
    t = annual.groupby(["year", "chemistry"])["tonnes"].sum().unstack()
    return t / t.loc[years[0]]


def write_variant(out: Path, n_years: int, ramp_up: bool, stock: bool, stock_cap: float, holding: float) -> Path:
    """Write the yearly variant of china-east into ``out`` (a new folder); return it."""
    shutil.copytree(SOURCE, out)
    manifest = yaml.safe_load((out / "instance.yaml").read_text(encoding="utf-8"))
    first = 2025
    years = list(range(first, first + n_years))
    manifest["periods"] = [{"year": first, "length": n_years, "operations": "yearly"}]
    manifest["description"] = (f"china-east operated yearly {first}-{years[-1]} (benchmarks/yearly_china_east.py); "
                               "supply scaled by the national retirement model, demand and prices held at 2025.")
    growth = national_growth(years)
    supply = pd.read_csv(out / "supply.csv")
    rows = []
    for y in years:
        scale = growth.loc[y]  # by chemistry
        assert isinstance(scale, pd.Series)
        rows.append(supply.assign(period=y, tonnes=(supply["tonnes"] * supply["chemistry"].map(scale)).round(1)))
    pd.concat(rows).to_csv(out / "supply.csv", index=False)
    for table in ("market_demand", "material_prices"):
        frame = pd.read_csv(out / f"{table}.csv")
        pd.concat([frame.assign(period=y) for y in years]).to_csv(out / f"{table}.csv", index=False)
    if ramp_up:
        tech = pd.read_csv(out / "technologies.csv")["id"]
        pd.DataFrame([{"technology": t, "year": y, "usable_share": s, "source": "illustrative (benchmark)"}
                      for t in tech for y, s in ((1, 0.5), (2, 0.8))]).to_csv(out / "ramp_up.csv", index=False)
        manifest["tables"]["ramp_up"] = "ramp_up.csv"
    if stock:
        points = pd.read_csv(out / "supply.csv")["site"].unique()
        pd.DataFrame({"site": points, "cap_t": stock_cap, "holding_cost_per_t_year": holding,
                      "source": "illustrative (benchmark)"}).to_csv(out / "storage.csv", index=False)
        manifest["tables"]["storage"] = "storage.csv"
        manifest["stock"] = {"allowed": True, "max_age_years": 1}
    (out / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), encoding="utf-8")
    print("supply (t/yr) per year and chemistry:")
    print(pd.read_csv(out / "supply.csv").groupby(["period", "chemistry"])["tonnes"].sum().unstack().round(0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="new folder for the variant")
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--ramp-up", action="store_true")
    parser.add_argument("--stock", action="store_true")
    parser.add_argument("--stock-cap", type=float, default=2000.0, help="t per collection point")
    parser.add_argument("--holding", type=float, default=300.0, help="CNY per t-year")
    args = parser.parse_args()
    write_variant(args.out, args.years, args.ramp_up, args.stock, args.stock_cap, args.holding)


if __name__ == "__main__":
    main()
