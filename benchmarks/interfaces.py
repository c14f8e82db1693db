"""Benchmark: ways of handing the same Pyomo model to HiGHS, on generated instances.

For each size, in a fresh process per route (so that no route profits from another's caches),
the model is built once and then handed to HiGHS by:

- ``highs``: Pyomo's ``pyomo.contrib.solver`` HiGHS interface (``set_instance``);
- ``appsi_highs``: Pyomo's older APPSI HiGHS interface (``set_instance``);
- ``lp_file``: Pyomo's LP writer, then ``Highs.readModel``;
- ``standard_form`` (what network_opt uses, :mod:`network_opt.solver.handoff`): Pyomo's linear
  standard-form compiler and one ``Highs.passModel``.

Prints seconds for the build and each hand-off, and the peak memory of each process. Never
asserts times.

Usage::

    python benchmarks/interfaces.py [--sizes 300x50x2,1000x100x1] [--routes standard_form,highs] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from generated import generated_instance, machine
from scratch import scratch_folder

ROUTES = ("standard_form", "highs", "appsi_highs", "lp_file")

CHILD = r"""
import json, resource, sys, time, os
import highspy
import scipy.sparse  # imported up front by every route, so that no route pays for it
folder, route, lp_path = sys.argv[1], sys.argv[2], sys.argv[3]
from network_opt import load
from network_opt.model import build_model, prepare
inst = load(folder)
t0 = time.perf_counter()
m = build_model(prepare(inst))
t1 = time.perf_counter()
if route == "standard_form":
    from network_opt.solver.handoff import HighsModel
    h = HighsModel(m).h
elif route == "highs":
    from pyomo.contrib.solver.solvers.highs import Highs
    opt = Highs(); opt.set_instance(m); h = opt._solver_model
elif route == "appsi_highs":
    from pyomo.contrib.appsi.solvers.highs import Highs
    opt = Highs(); opt.set_instance(m); h = opt._solver_model
else:
    m.write(lp_path, io_options={"symbolic_solver_labels": False})
    h = highspy.Highs(); h.setOptionValue("output_flag", False); h.readModel(lp_path)
t2 = time.perf_counter()
print(json.dumps({"build_s": t1 - t0, "handoff_s": t2 - t1, "nonzeros": h.getNumNz(), "rows": h.getNumRow(),
                  "cols": h.getNumCol(), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300x50x2,1000x100x1", help="collection points x candidates x periods")
    parser.add_argument("--routes", default=",".join(ROUTES), help="comma-separated subset of " + ", ".join(ROUTES))
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = scratch_folder(args.workdir, "network-opt-interfaces-")
    print(machine())
    print("| size | rows | cols | nonzeros | route | build s | hand-off s | build + hand-off us/nonzero | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        folder = generated_instance(work, size)
        for route in args.routes.split(","):
            proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), route, str(work / f"{size}.lp")],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"| {size} | | | | {route} | failed: {proc.stderr.strip().splitlines()[-1][:80]} | | | |")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            per_nz = (r["build_s"] + r["handoff_s"]) / max(r["nonzeros"], 1) * 1e6
            print(f"| {size} | {r['rows']:,} | {r['cols']:,} | {r['nonzeros']:,} | {route} | {r['build_s']:.1f} | "
                  f"{r['handoff_s']:.1f} | {per_nz:.1f} | {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
