"""Benchmark: the model size projected before building (network_opt.model.size) against the
measured one, and the calibration of its memory model.

For each size it generates an instance with ``network-opt generate`` (seed 1, 3 chemistries,
reused from ``--workdir``), then in a fresh process per instance loads and prepares it, projects
the size (:func:`network_opt.model.size.project_size`), builds the Pyomo model, hands it to HiGHS
and solves it with a time limit, recording the peak resident set size (``VmHWM``) after each
phase and the built model's rows, columns, integers and nonzeros (HiGHS's counts).

By default HiGHS runs with ``mip_max_nodes = 0`` (presolve and the start's LP, no branch and
bound): the peak is then deterministic, and it is what the deterministic part of the memory
model, ``memory_build_bytes``, projects. It prints a Markdown table (projected vs measured; both
parts of the projection: ``memory_build_bytes`` and ``memory_bytes`` = ``SEARCH_FACTOR`` x it;
the ratio of the build part to the measured peak) and the least-squares fit of the build part's
constants, ``peak = base + b_nz x nonzeros`` (compare with ``BUILD_BASE_BYTES`` and
``BUILD_BYTES_PER_NONZERO`` in ``network_opt/model/size.py``). With ``--max-nodes -1`` and a time
limit it measures a search instead (compare with ``memory_bytes``). Never asserts anything.

Usage::

    python benchmarks/size_estimate.py [--sizes 20x6x2,150x25x2,450x60x2-nolink] [--max-nodes 0]
        [--time-limit 0] [--workdir DIR]

A size ending in ``-nolink`` is solved with ``model.strong_linking: false`` (few rows, many
columns: the other shape of model the memory model must cover).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from generated import generated_instance, machine
from scratch import scratch_folder

from network_opt.model.size import BUILD_BASE_BYTES, BUILD_BYTES_PER_NONZERO, SEARCH_FACTOR

DEFAULT_SIZES = "20x6x2,60x12x2,150x25x2,300x40x2,450x60x2,600x80x2"

CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0

from network_opt import load
from network_opt.solver.handoff import HighsModel
from network_opt.model import build_model, prepare
from network_opt.model.size import project_size
from network_opt.solver.options import SolveOptions
from network_opt.solver.highs import solve_model
import scipy.sparse  # noqa: F401  imported by the hand-off; paid here like the imports above
import network_opt.results.gpkg  # noqa: F401  a solve writes network.gpkg (geopandas) while its model is alive
folder, limit, linking, nodes = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
out = {"imports": hwm()}
t0 = time.perf_counter()
inst = load(folder)
inst = inst.with_settings({"model.strong_linking": linking})
d = prepare(inst)
out["prepare"] = hwm()
size = project_size(d)
t1 = time.perf_counter()
m = build_model(d)
out["build"] = hwm()
hm = HighsModel(m)
out["handoff"] = hwm()
t2 = time.perf_counter()
if nodes >= 0:  # a node limit instead of a time limit: the same peak however loaded the machine is
    hm.h.setOptionValue("mip_max_nodes", nodes)
opts = SolveOptions(time_limit=limit if limit > 0 else None, mip_gap=1e-4, start="open_all")
res = solve_model(m, opts, solver=hm, data=d)
out["solve"] = hwm()
t3 = time.perf_counter()
h = hm.h
out.update({"projected": size.as_dict(), "rows": h.getNumRow(), "columns": h.getNumCol(),
            "integers": int(hm.matrix.integer.sum()), "nonzeros": h.getNumNz(),
            "prepare_s": t1 - t0, "build_handoff_s": t2 - t1, "solve_s": t3 - t2, "status": str(res.status),
            "mip_nodes": h.getInfo().mip_node_count})
print(json.dumps(out))
"""


def measure(folder: Path, time_limit: float, linking: bool = True, max_nodes: int = -1) -> dict:
    """Projection and measured peaks of one instance, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(time_limit), "1" if linking else "0",
                           str(max_nodes)],
                          capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(results: list[dict]) -> tuple[float, float]:
    """Least squares of peak = base + a nnz (the form of ``memory_build_bytes``)."""
    x = np.array([[1.0, r["nonzeros"]] for r in results])
    y = np.array([float(r["solve"]) for r in results])
    (base, nz), *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(base), float(nz)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--time-limit", type=float, default=0.0, help="seconds; 0: none (default)")
    parser.add_argument("--max-nodes", type=int, default=0,
                        help="HiGHS's mip_max_nodes (default 0: presolve and start LP, no branch and bound, a "
                             "peak that does not depend on the machine's load: the build part); -1: no node limit")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = scratch_folder(args.workdir, "size-estimate-")
    work.mkdir(parents=True, exist_ok=True)
    print(machine())
    print(f"`python benchmarks/size_estimate.py --sizes {args.sizes} --time-limit {args.time_limit:g} "
          f"--max-nodes {args.max_nodes}`\n")
    print("| size | rows proj / built | columns proj / built | integers proj / built | nonzeros proj / built "
          "| peak MB after prepare / build / hand-off / solve | projected MB build part / with search "
          "| build part / measured | HiGHS s |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for size in args.sizes.split(","):
        linking = not size.endswith("-nolink")
        r = measure(generated_instance(work, size.removesuffix("-nolink")), args.time_limit, linking, args.max_nodes)
        results.append(r)
        p = r["projected"]
        mb = [r[k] / 1e6 for k in ("prepare", "build", "handoff", "solve")]
        print(f"| {size} | {p['rows']:,} / {r['rows']:,} | {p['columns']:,} / {r['columns']:,} | "
              f"{p['integers']:,} / {r['integers']:,} | {p['nonzeros']:,} / {r['nonzeros']:,} | "
              + " / ".join(f"{x:,.0f}" for x in mb)
              + f" | {p['memory_build_bytes'] / 1e6:,.0f} / {p['memory_bytes'] / 1e6:,.0f} "
              f"| {p['memory_build_bytes'] / r['solve']:.2f} | {r['solve_s']:.1f} |",
              flush=True)
    if len(results) >= 2:
        base, nz = fit(results)
        print(f"\nleast-squares fit of the peak: base {base / 1e6:,.0f} MB + {nz:,.0f} B/nonzero "
              f"(size.py: {BUILD_BASE_BYTES / 1e6:,.0f} MB + {BUILD_BYTES_PER_NONZERO:,.0f} B/nonzero; "
              f"with search x {SEARCH_FACTOR:g})")
    print(f"(instances in {work}; peak MB = VmHWM, the process's maximum resident set size, in 10^6 bytes; "
          f"solve with --time-limit {args.time_limit:g} s, --max-nodes {args.max_nodes})")


if __name__ == "__main__":
    main()
