"""Benchmark: the strong-linking variants and the capacity cover of issue 17 (``model.link_by_level``,
``model.link_max_share``, ``model.capacity_cover``)
against the default model, in one run, on shipped and generated instances.

For each instance and variant, in a fresh process, the instance is solved with the variant's
settings (same gap, time limit, threads and start) and the script prints rows, nonzeros, HiGHS
seconds, status, objective, gap, nodes, and the ratio of HiGHS seconds to the default variant's in
the same run. Never asserts times. Generated sizes are collection points x candidates x periods
(3 chemistries, seed 1), as in ``generated.py``.

Usage::

    python benchmarks/linking.py [--instances instances/china-east] [--sizes 100x20x1] \
        [--time-limit 600] [--gap 0.01] [--variants default,capacity_cover]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from generated import generated_instance, machine

VARIANTS: dict[str, dict[str, object]] = {
    "default": {},  # every lane linked with U_i
    "link_by_level": {"model.link_by_level": True},
    "link_max_share 1": {"model.link_max_share": 1.0},
    "by_level + share 1": {"model.link_by_level": True, "model.link_max_share": 1.0},
    "capacity_cover": {"model.capacity_cover": True},
    "no strong linking": {"model.strong_linking": False},
}

CHILD = r"""
import json, sys
from network_opt import load, solve
from network_opt.solver.options import SolveOptions
folder, settings = sys.argv[1], json.loads(sys.argv[2])
limit, gap = float(sys.argv[3]), float(sys.argv[4])
inst = load(folder).with_settings(settings)
sol = solve(inst, SolveOptions(time_limit=limit, mip_gap=gap, start="none", warm_start=False))
s = sol.summary
print(json.dumps({"solve_s": s["timings"]["solve_s"], "objective": sol.objective, "gap": sol.outcome.mip_gap,
                  "nodes": sol.outcome.mip_node_count, "rows": s["model"]["constraints"],
                  "nonzeros": s["model"]["nonzeros"], "status": sol.status}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="instances/china-east")
    parser.add_argument("--sizes", default="100x20x1")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="network-opt-linking-"))
    print(f"{machine()}; time limit {args.time_limit:g} s, gap {args.gap:g}, start none")
    print("| instance | variant | rows | nonzeros | HiGHS s | / default | status | objective | gap | nodes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    folders = [(Path(p).name, Path(p)) for p in args.instances.split(",") if p]
    folders += [(s, generated_instance(work, s)) for s in args.sizes.split(",") if s]
    for name, folder in folders:
        base = None
        for variant in args.variants.split(","):
            settings = VARIANTS[variant]
            proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), json.dumps(settings),
                                   str(args.time_limit), str(args.gap)], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"| {name} | {variant} | failed: {proc.stderr.strip().splitlines()[-1][:80]} |", flush=True)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            base = r["solve_s"] if base is None else base
            gap = "-" if r["gap"] is None else f"{r['gap']:.2%}"
            obj = "-" if r["objective"] is None else f"{r['objective']:.8g}"
            print(f"| {name} | {variant} | {r['rows']:,} | {r['nonzeros']:,} | {r['solve_s']:.1f} | "
                  f"{r['solve_s'] / base:.2f} | {r['status']} | {obj} | {gap} | {r['nodes']} |", flush=True)


if __name__ == "__main__":
    main()
