"""Benchmark: synthetic instances of growing size, end to end against HiGHS alone.

For each size it generates an instance with ``network-opt generate`` (same seed, same files),
then in a fresh process per instance:

1. loads, prepares and builds the Pyomo model, hands it to HiGHS, solves and writes the results,
   timing each phase (load / build / handoff / solve / write) and recording peak memory;
2. writes the same model as MPS and solves that file with highspy alone (the limit: no Python
   modelling at all), and prints end-to-end time / HiGHS-alone time;
3. optionally (``--prune K``) re-solves with lanes pruned to the K nearest facilities of each kind
   and technology, and (``--aggregate N``) with the collection points clustered into N, and
   reports the change in objective (and the aggregation's error bound).

Usage::

    python benchmarks/run_benchmarks.py [--sizes 100x20x1,300x50x3] [--time-limit 600] [--gap 0.01]
        [--prune 5] [--aggregate 300] [--start none] [--no-strong-linking] [--skip-full] [--no-alone]
        [--workdir DIR]

Never asserts times; prints a Markdown table (paste it into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from generated import generated_instance, machine
from scratch import scratch_folder

DEFAULT_SIZES = "100x20x1,300x50x3,1000x100x3,1000x100x5"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t_import = time.perf_counter()
from network_opt import load
from network_opt.solver.handoff import HighsModel
from network_opt.model import build_model, prepare
from network_opt.solver.options import SolveOptions
from network_opt.solver.highs import solve_model
from network_opt.results.tables import extract, Solution
from network_opt.results.write import write_results
import scipy.sparse  # paid once per process, like the imports above (about 1 s)
folder, out, mps = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
limit, gap, prune, aggregate = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
start, linking = sys.argv[8], sys.argv[9] == "1"
t0 = time.perf_counter()
inst = load(folder)
if prune:
    inst = inst.with_settings({"transport.nearest_facilities": prune})
if not linking:
    inst = inst.with_settings({"model.strong_linking": False})
agg = None
if aggregate:
    from network_opt.model.aggregate import aggregate as cluster
    inst, agg = cluster(inst, aggregate)
t1 = time.perf_counter()
d = prepare(inst); m = build_model(d)
t2 = time.perf_counter()
hm = HighsModel(m)
t3 = time.perf_counter()
if mps != "-":
    hm.h.writeModel(mps)  # exactly the model HiGHS received, for the HiGHS-alone run
t3b = time.perf_counter()
out_ = solve_model(m, SolveOptions(time_limit=limit, mip_gap=gap, warm_start=start != "none", start=start),
                   solver=hm, data=d)
t4 = time.perf_counter()
tables = extract(m, d)
if agg is not None:
    from network_opt.model.aggregate import disaggregate
    tables = disaggregate(tables, agg)
sol = Solution(out_, tables, {"timings": {}}, d, m)
write_results(sol, out, overwrite=True)
t5 = time.perf_counter()
h = hm.h
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load_s": t1 - t0, "build_s": t2 - t1, "handoff_s": t3 - t2, "solve_s": t4 - t3b,
                  "write_s": t5 - t4, "rows": h.getNumRow(), "cols": h.getNumCol(), "nonzeros": h.getNumNz(),
                  "binaries": int(hm.matrix.integer.sum()), "objective": out_.objective, "bound": out_.bound,
                  "peak_mb": peak, "end_to_end_s": (t5 - t0) - (t3b - t3),
                  "bound_agg": None if agg is None else agg.error_bound,
                  "bound_holds": None if agg is None else agg.bound_holds}))
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


def _row(label: str, r: dict, alone_total: float | None, note: str = "") -> str:
    ratio = f"{r['end_to_end_s'] / max(alone_total, 1e-9):.2f}" if alone_total else ""
    alone = f"{alone_total:.1f}" if alone_total else ""
    obj = "-" if r["objective"] is None else f"{r['objective']:.6g}"
    return (f"| {label} | {r['rows']:,} | {r['cols']:,} | {r['binaries']:,} | {r['nonzeros']:,} | "
            f"{r['load_s']:.1f} | {r['build_s']:.1f} | {r['handoff_s']:.1f} | {r['solve_s']:.1f} | "
            f"{r['write_s']:.1f} | {r['peak_mb']:.0f} | {obj}{note} | {_gap(r['objective'], r['bound'])} | "
            f"{alone} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="collection points x candidates x periods, ...")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--prune", type=int, default=0, help="also solve with K-nearest lane pruning")
    parser.add_argument("--aggregate", type=int, default=0,
                        help="also solve with the collection points clustered into N (pruned too if --prune)")
    parser.add_argument("--start", default="open_all", choices=["open_all", "lp_round", "none"],
                        help="the MIP start (SolveOptions.start; none: HiGHS alone finds the first plan)")
    parser.add_argument("--no-strong-linking", action="store_true", help="model.strong_linking: false")
    parser.add_argument("--skip-full", action="store_true", help="do not solve the unpruned, unaggregated model")
    parser.add_argument("--no-alone", action="store_true", help="do not solve the MPS file with highspy alone")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = scratch_folder(args.workdir, "network-opt-bench-")
    print(f"{machine()}; time limit {args.time_limit:g} s, gap {args.gap:g}")
    header = ("| size (cp x cand x periods) | rows | cols | binaries | nonzeros | load s | build s | handoff s | "
              "solve s | write s | peak MB | objective | gap | HiGHS alone s | end-to-end / alone |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for size in args.sizes.split(","):
        folder = generated_instance(work, size)
        variants = [] if args.skip_full else [(size, 0, 0)]
        if args.prune:
            variants.append((f"{size} pruned to {args.prune} nearest", args.prune, 0))
        if args.aggregate:
            label = f"{size} aggregated to {args.aggregate}" + (f", pruned to {args.prune}" if args.prune else "")
            variants.append((label, args.prune, args.aggregate))
        reference = None
        for n, (label, prune, aggregate) in enumerate(variants):
            mps = "-" if args.no_alone else str(work / f"i{size}-{n}.mps")
            r = _run(CHILD, str(folder), str(work / f"o{size}-{n}"), mps, str(args.time_limit), str(args.gap),
                     str(prune), str(aggregate), args.start, "0" if args.no_strong_linking else "1")
            alone_total = None
            if not args.no_alone:
                alone = _run(ALONE, mps, str(args.time_limit), str(args.gap))
                alone_total = alone["read_s"] + alone["solve_s"]
                Path(mps).unlink()
            note = ""
            if reference is not None and reference["objective"] and r["objective"] is not None:
                note = f" ({(r['objective'] - reference['objective']) / abs(reference['objective']):+.3%} vs first row)"
            if r.get("bound_agg") is not None:
                holds = "" if r.get("bound_holds") else ", assumptions not met"
                note += f", aggregation bound {r['bound_agg']:.4g}{holds}"
            reference = reference or r
            print(_row(label, r, alone_total, note), flush=True)
    print(f"(instances in {work}; peak MB is the process's maximum resident set size; end-to-end excludes writing "
          "the MPS file)")


if __name__ == "__main__":
    main()
