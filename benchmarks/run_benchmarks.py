"""Benchmark: synthetic instances of growing size, end to end against HiGHS alone.

For each size it generates an instance with ``network-opt generate`` (same seed, same files),
then in a fresh process per instance:

1. loads, prepares and builds the Pyomo model, hands it to HiGHS, solves and writes the results,
   timing each phase (load / build / handoff / solve / write) and recording peak memory;
2. writes the same model as MPS and solves that file with highspy alone (the limit: no Python
   modelling at all), and prints end-to-end time / HiGHS-alone time;
3. optionally (``--prune K``) re-solves with lanes pruned to the K nearest facilities of each kind
   and technology and reports the change in objective.

Usage::

    python benchmarks/run_benchmarks.py [--sizes 100x20x1,300x50x3] [--time-limit 600] [--gap 0.01]
        [--prune 5] [--workdir DIR]

Never asserts times; prints a Markdown table (paste it into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_SIZES = "100x20x1,300x50x3,1000x100x3,1000x100x5"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import highspy
from network_opt import load
from network_opt.model import build_model, prepare
from network_opt.solve import SolveOptions
from network_opt.api import solve
from network_opt.io.write import write_results
folder, out, mps = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
limit, gap, prune = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
t0 = time.perf_counter()  # after imports (about 2 s, paid once per process)
inst = load(folder)
if prune:
    inst.manifest.settings["transport.nearest_facilities"] = float(prune)
t1 = time.perf_counter()
d = prepare(inst); m = build_model(d)
t2 = time.perf_counter()
from pyomo.contrib.solver.solvers.highs import Highs
opt = Highs(); opt.set_instance(m)
t3 = time.perf_counter()
res = opt.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False, time_limit=limit, rel_gap=gap)
t4 = time.perf_counter()
h = opt._solver_model
obj, bound = res.incumbent_objective, res.objective_bound
nz, rows, cols = h.getNumNz(), h.getNumRow(), h.getNumCol()
res.solution_loader.load_vars()
from network_opt.results import extract, Solution
from network_opt.solve import SolveOutcome
tables = extract(m, d)
sol = Solution(SolveOutcome("feasible", "", obj, bound, None), tables, {"timings": {}}, d, m)
t5 = time.perf_counter()
write_results(sol, out, overwrite=True)
t6 = time.perf_counter()
m.write(mps, io_options={"symbolic_solver_labels": False})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load_s": t1 - t0, "build_s": t2 - t1, "handoff_s": t3 - t2, "solve_s": t4 - t3,
                  "write_s": t6 - t4, "rows": rows, "cols": cols, "nonzeros": nz,
                  "binaries": sum(1 for v in m.level_open.values()),
                  "objective": obj, "bound": bound, "peak_mb": peak,
                  "end_to_end_s": t6 - t0}))
"""

ALONE = r"""
import json, sys, time
import highspy
h = highspy.Highs(); h.setOptionValue("output_flag", False)
h.setOptionValue("time_limit", float(sys.argv[2])); h.setOptionValue("mip_rel_gap", float(sys.argv[3]))
t0 = time.perf_counter(); h.readModel(sys.argv[1]); t1 = time.perf_counter(); h.run(); t2 = time.perf_counter()
info = h.getInfo()
print(json.dumps({"read_s": t1 - t0, "solve_s": t2 - t1, "objective": info.objective_function_value,
                  "bound": info.mip_dual_bound}))
"""


def _run(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _gap(obj: float | None, bound: float | None) -> str:
    if obj is None or bound is None:
        return "-"
    return f"{abs(obj - bound) / max(abs(obj), 1e-9):.2%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="collection points x candidates x periods, ...")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--prune", type=int, default=0, help="also solve with K-nearest lane pruning")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="network-opt-bench-"))
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
          f"python {platform.python_version()}; time limit {args.time_limit:g} s, gap {args.gap:g}")
    header = ("| size (cp x cand x periods) | rows | cols | binaries | nonzeros | load s | build s | handoff s | "
              "solve s | write s | peak MB | objective | gap | HiGHS alone s | end-to-end / alone |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for size in args.sizes.split(","):
        cp, cand, periods = (int(x) for x in size.split("x"))
        folder = work / f"i{size}"
        if not folder.exists():
            subprocess.run([sys.executable, "-m", "network_opt", "generate", "--out", str(folder), "--seed", "1",
                            "--collection-points", str(cp), "--candidates", str(cand), "--periods", str(periods),
                            "--chemistries", "3"], check=True, capture_output=True)
        mps = str(work / f"i{size}.mps")
        r = _run(CHILD, str(folder), str(work / f"o{size}"), mps, str(args.time_limit), str(args.gap), "0")
        alone = _run(ALONE, mps, str(args.time_limit), str(args.gap))
        alone_total = alone["read_s"] + alone["solve_s"]
        print(f"| {size} | {r['rows']:,} | {r['cols']:,} | {r['binaries']:,} | {r['nonzeros']:,} | "
              f"{r['load_s']:.1f} | {r['build_s']:.1f} | {r['handoff_s']:.1f} | {r['solve_s']:.1f} | "
              f"{r['write_s']:.1f} | {r['peak_mb']:.0f} | {r['objective']:.6g} | {_gap(r['objective'], r['bound'])} | "
              f"{alone_total:.1f} | {r['end_to_end_s'] / max(alone_total, 1e-9):.2f} |", flush=True)
        if args.prune:
            p = _run(CHILD, str(folder), str(work / f"p{size}"), mps.replace(".mps", "-pruned.mps"),
                     str(args.time_limit), str(args.gap), str(args.prune))
            delta = (p["objective"] - r["objective"]) / abs(r["objective"])
            print(f"|   pruned to {args.prune} nearest | {p['rows']:,} | {p['cols']:,} | {p['binaries']:,} | "
                  f"{p['nonzeros']:,} | {p['load_s']:.1f} | {p['build_s']:.1f} | {p['handoff_s']:.1f} | "
                  f"{p['solve_s']:.1f} | {p['write_s']:.1f} | {p['peak_mb']:.0f} | {p['objective']:.6g} "
                  f"({delta:+.3%} vs dense) | {_gap(p['objective'], p['bound'])} | | |", flush=True)
    print(f"(instances and MPS files in {work}; peak MB is the process's maximum resident set size)")


if __name__ == "__main__":
    main()
