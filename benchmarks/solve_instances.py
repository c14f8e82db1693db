"""Solve every shipped instance to a 1 % gap (10-minute limit) and check the written results.

Prints, per instance, the model size, the times of each phase, the objective, the gap and the
result of the mass-balance check, as a Markdown table (copy it into the instance's README and
benchmarks/README.md). Usage::

    python benchmarks/solve_instances.py [--gap 0.01] [--time-limit 600] [instance ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from scratch import scratch_folder

ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("instances", nargs="*", help="instance folders (default: all under instances/)")
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--time-limit", type=float, default=600.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from network_opt.results.tables import mass_balance_errors

    shipped = sorted(p.parent for p in (ROOT / "instances").glob("*/instance.yaml"))
    folders = [Path(p) for p in args.instances] or shipped
    work = scratch_folder(None, "network-opt-instances-")
    print(f"gap {args.gap:g}, time limit {args.time_limit:g} s; results in {work}")
    print("| instance | status | objective | gap | variables | binaries | constraints | nonzeros | load s | build s "
          "| solve s | write s | wall s | mass balance |")
    print("|---" * 14 + "|")
    for folder in folders:
        out = work / folder.name
        cmd = [sys.executable, "-m", "network_opt", "solve", str(folder), "--out", str(out), "--quiet",
               "--mip-gap", str(args.gap), "--time-limit", str(args.time_limit)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not (out / "summary.json").exists():
            print(f"| {folder.name} | exit {proc.returncode} | | | | | | | | | | | | {proc.stderr.strip()[-200:]} |")
            continue
        s = json.loads((out / "summary.json").read_text())
        tables = {n: pd.read_csv(out / f"{n}.csv", keep_default_na=False) for n in ("collection", "flows")}
        errors = mass_balance_errors(tables)
        t, size = s["timings"], s["model"]
        wall = sum(v for v in t.values() if isinstance(v, (int, float)))
        gap = "-" if s["mip_gap"] is None else f"{s['mip_gap']:.2%}"
        print(f"| {folder.name} | {s['status']} | {s['objective']:.6g} {s['currency']} | {gap} | {size['variables']:,} "
              f"| {size['binaries']:,} | {size['constraints']:,} | {size['nonzeros']:,} | {t['load_s']:.1f} | "
              f"{t['build_s']:.1f} | {t['solve_s']:.1f} | {t['write_s']:.1f} | {wall:.0f} | "
              f"{'ok' if not errors else f'{len(errors)} errors'} |", flush=True)


if __name__ == "__main__":
    main()
