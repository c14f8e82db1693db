"""Load and build at scale (issue 17, item 4): loading + validating a generated instance, and
preparing, building and handing its model to HiGHS, each run in a fresh process, the median of
``--repeat`` runs.

Per size it prints: seconds to load and validate (``network_opt.load``: read the tables, every
cross-table check, the reachability pre-check), to aggregate (when asked), to prepare the model
data (lanes, flows, coefficients; :func:`network_opt.model.size.prepare_sized`, so the default
pruning of instances above 1M flows applies as in a solve), to build the Pyomo model and to hand it
to HiGHS (:class:`network_opt.solver.handoff.HighsModel`), the model's rows, columns and nonzeros,
microseconds per nonzero of build + hand-off with and without the prepare step, how often the
lanes were built, and the peak resident memory. Wall and CPU seconds (``time.process_time``) are
both given: on a machine shared with other work the wall time grows, the CPU time much less.

    python benchmarks/load_and_build.py --sizes 1000x100x3,5000x500x10/a150/p5 --repeat 3

A size is collection points x candidates x periods (3 chemistries, seed 1, ``network-opt
generate``), optionally followed by ``/aN`` (aggregate to N clusters) and ``/pK`` (``--prune K``);
``/load`` measures loading and validating only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from generated import generated_instance, machine
from scratch import scratch_folder

CHILD = r"""
import gc, json, resource, sys, time
import highspy  # imported up front: what is timed is network_opt's work
import pyomo.environ  # noqa: F401
import scipy.sparse  # noqa: F401
import network_opt.inputs.lanes as lanes_module
from network_opt.inputs.load import load
from network_opt.model import build_model
from network_opt.model.size import prepare_sized
from network_opt.solver.handoff import HighsModel

path, aggregate, prune, load_only = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
builds = []
real = lanes_module.build_lanes
def counted(*a, **k):
    builds.append(1)
    return real(*a, **k)
lanes_module.build_lanes = counted
out = {}
t, c = time.perf_counter(), time.process_time()
inst = load(path)
out["load_s"], out["load_cpu_s"] = time.perf_counter() - t, time.process_time() - c
out["lane_builds_load"] = len(builds)
if not load_only:
    t = time.perf_counter()
    if aggregate:
        from network_opt.model.aggregate import aggregate as cluster
        inst, _ = cluster(inst, aggregate)
    out["aggregate_s"] = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    data, _, pruning = prepare_sized(inst, prune if prune >= 0 else None)
    out["prepare_s"], out["prepare_cpu_s"] = time.perf_counter() - t, time.process_time() - c
    out["pruning"] = f"{pruning['nearest_facilities']} ({pruning['source']})"
    out["flows"] = len(data.flows)
    t, c = time.perf_counter(), time.process_time()
    m = build_model(data)
    out["build_s"], out["build_cpu_s"] = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    h = HighsModel(m).h
    out["handoff_s"], out["handoff_cpu_s"] = time.perf_counter() - t, time.process_time() - c
    out.update(rows=h.getNumRow(), cols=h.getNumCol(), nonzeros=h.getNumNz())
    out["lane_builds"] = len(builds)
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def parse(spec: str) -> tuple[str, int, int, bool]:
    """SIZE[/aN][/pK][/load] -> (size, aggregate or 0, prune or -1, load only)."""
    size, *opts = spec.split("/")
    aggregate, prune, load_only = 0, -1, False
    for o in opts:
        if o == "load":
            load_only = True
        elif o.startswith("a"):
            aggregate = int(o[1:])
        elif o.startswith("p"):
            prune = int(o[1:])
        else:
            raise SystemExit(f"unknown option {o!r} in {spec!r}: expected /aN, /pK or /load")
    return size, aggregate, prune, load_only


def run(folder: Path, aggregate: int, prune: int, load_only: bool) -> dict[str, float | int | str]:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(aggregate), str(prune),
                           "1" if load_only else "0"], capture_output=True, text=True, check=False, cwd=root)
    if proc.returncode:
        raise SystemExit(f"{folder}: child failed\n{proc.stderr[-3000:]}")
    result: dict[str, float | int | str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000x100x3,5000x500x10/a150/p5")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = scratch_folder(args.workdir, "network-opt-bench-")
    print(machine())
    print(f"median of {args.repeat} runs, each in a fresh process")
    print("| size | load + validate s (CPU s) | aggregate s | prepare s | build s | hand-off s | rows | cols "
          "| nonzeros | build + hand-off us/nonzero (CPU) | with prepare us/nonzero (CPU) | lane builds (load / all) "
          "| pruning | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.sizes.split(","):
        size, aggregate, prune, load_only = parse(spec)
        folder = generated_instance(work, size)
        runs = [run(folder, aggregate, prune, load_only) for _ in range(args.repeat)]

        def med(key: str, runs: list[dict[str, float | int | str]] = runs) -> float:
            return statistics.median(float(r[key]) for r in runs)

        if load_only:
            print(f"| {spec} | {med('load_s'):.2f} ({med('load_cpu_s'):.2f}) | | | | | | | | | | "
                  f"{runs[0]['lane_builds_load']} / - | | {med('peak_mb'):,.0f} |", flush=True)
            continue
        nz = float(runs[0]["nonzeros"])

        def per_nz(*keys: str, runs: list[dict[str, float | int | str]] = runs, nz: float = nz) -> float:
            return statistics.median(sum(float(r[k]) for k in keys) / nz * 1e6 for r in runs)

        print(f"| {spec} | {med('load_s'):.2f} ({med('load_cpu_s'):.2f}) | {med('aggregate_s'):.2f} | "
              f"{med('prepare_s'):.2f} | {med('build_s'):.2f} | {med('handoff_s'):.2f} | {int(runs[0]['rows']):,} | "
              f"{int(runs[0]['cols']):,} | {int(nz):,} | {per_nz('build_s', 'handoff_s'):.2f} "
              f"({per_nz('build_cpu_s', 'handoff_cpu_s'):.2f}) | {per_nz('prepare_s', 'build_s', 'handoff_s'):.2f} "
              f"({per_nz('prepare_cpu_s', 'build_cpu_s', 'handoff_cpu_s'):.2f}) | {runs[0]['lane_builds_load']} / "
              f"{runs[0]['lane_builds']} | {runs[0]['pruning']} | {med('peak_mb'):,.0f} |", flush=True)
        print("  each run (load, prepare, build, hand-off: wall s / CPU s): " + "; ".join(
            ", ".join(f"{float(r[k + '_s']):.2f}/{float(r[k + '_cpu_s']):.2f}"
                      for k in ("load", "prepare", "build", "handoff")) for r in runs), flush=True)

if __name__ == "__main__":
    main()
