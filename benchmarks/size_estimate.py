"""Benchmark: the model size projected before building (network_opt.model.size) against the
measured one, and the calibration of its memory model.

For each size it generates an instance with ``network-opt generate`` (seed 1, 3 chemistries,
reused from ``--workdir``), then in a fresh process per instance loads and prepares it, projects
the size (:func:`network_opt.model.size.project_size`), builds the Pyomo model, hands it to HiGHS
and solves it with a time limit, recording the peak resident set size (``VmHWM``) after each
phase and the built model's rows, columns, integers and nonzeros (HiGHS's counts).

It prints a Markdown table (projected vs measured, the ratio of the memory estimate to the
measured peak) and the least-squares fit of the memory model's constants, ``peak = base +
b_nz x nonzeros + b_col x columns + b_row x rows`` (non-negative; compare with the constants in
``network_opt/model/size.py``). Never asserts anything.

Usage::

    python benchmarks/size_estimate.py [--sizes 50x10x2,200x30x3,450x60x2-nolink] [--time-limit 20]
        [--workdir DIR]

A size ending in ``-nolink`` is solved with ``model.strong_linking: false`` (few rows, many
columns: the other shape of model the memory model must cover).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from generated import generated_instance, machine

DEFAULT_SIZES = "50x10x2,200x30x3,300x50x2,450x60x2,600x80x2"

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
folder, limit, linking = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
out = {"imports": hwm()}
t0 = time.perf_counter()
inst = load(folder)
inst.manifest.settings["model.strong_linking"] = linking
d = prepare(inst)
out["prepare"] = hwm()
size = project_size(d)
t1 = time.perf_counter()
m = build_model(d)
out["build"] = hwm()
hm = HighsModel(m)
out["handoff"] = hwm()
t2 = time.perf_counter()
res = solve_model(m, SolveOptions(time_limit=limit, mip_gap=1e-4), solver=hm)
out["solve"] = hwm()
t3 = time.perf_counter()
h = hm.h
out.update({"projected": size.as_dict(), "rows": h.getNumRow(), "columns": h.getNumCol(),
            "integers": int(hm.matrix.integer.sum()), "nonzeros": h.getNumNz(),
            "prepare_s": t1 - t0, "build_handoff_s": t2 - t1, "solve_s": t3 - t2, "status": res.status})
print(json.dumps(out))
"""


def measure(folder: Path, time_limit: float, linking: bool = True) -> dict:
    """Projection and measured peaks of one instance, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(time_limit), "1" if linking else "0"],
                          capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(results: list[dict]) -> tuple[float, float, float, float]:
    """Non-negative least squares (by elimination) of peak = base + a nnz + b cols + c rows."""
    from scipy.optimize import nnls

    x = np.array([[1.0, r["nonzeros"], r["columns"], r["rows"]] for r in results])
    y = np.array([float(r["solve"]) for r in results])
    scale = x.max(axis=0)
    coef, _ = nnls(x / scale, y)
    base, nz, col, row = (coef / scale).tolist()
    return base, nz, col, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="size-estimate-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine())
    print(f"`python benchmarks/size_estimate.py --sizes {args.sizes} --time-limit {args.time_limit:g}`\n")
    print("| size | rows proj / built | columns proj / built | integers proj / built | nonzeros proj / built "
          "| peak MB after prepare / build / hand-off / solve | memory projected MB | projected / measured |")
    print("|---|---|---|---|---|---|---|---|")
    results = []
    for size in args.sizes.split(","):
        linking = not size.endswith("-nolink")
        r = measure(generated_instance(work, size.removesuffix("-nolink")), args.time_limit, linking)
        results.append(r)
        p = r["projected"]
        mb = [r[k] / 1e6 for k in ("prepare", "build", "handoff", "solve")]
        print(f"| {size} | {p['rows']:,} / {r['rows']:,} | {p['columns']:,} / {r['columns']:,} | "
              f"{p['integers']:,} / {r['integers']:,} | {p['nonzeros']:,} / {r['nonzeros']:,} | "
              + " / ".join(f"{x:,.0f}" for x in mb)
              + f" | {p['memory_bytes'] / 1e6:,.0f} | {p['memory_bytes'] / r['solve']:.2f} |", flush=True)
    if len(results) >= 2:
        base, nz, col, row = fit(results)
        print(f"\nleast-squares fit of the peak: base {base / 1e6:,.0f} MB + {nz:,.0f} B/nonzero + {col:,.0f} B/column "
              f"+ {row:,.0f} B/row")
    print(f"(instances in {work}; peak MB = VmHWM, the process's maximum resident set size, in 10^6 bytes; "
          f"solve with --time-limit {args.time_limit:g} s)")


if __name__ == "__main__":
    main()
