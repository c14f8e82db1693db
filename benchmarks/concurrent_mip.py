"""``network-opt solve --concurrent-mip N``: HiGHS's search of the MIP on N cores, each with its own
random seed, plans shared and the best bound of any taken (network_opt.solver.companion).

Runs ``network-opt solve INSTANCE --out OUT --quiet --mip-gap G --time-limit T --concurrent-mip N``
for each instance and each N, one run at a time (each N takes N cores: run nothing beside it), and
prints per run: status, gap reached, the solver's seconds (``summary.json`` ``timings.solve_s``), the
command's wall seconds, its peak resident memory with its children (``getrusage``: the largest of
the process and of any one companion), the objective and bound, and, with companions, whether the
searches proved it together, the plans the main search took from them, and how they ended.

    python benchmarks/concurrent_mip.py instances/eu-2025-2032 --searches 1,2 --mip-gap 0.0001 --time-limit 600
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from scratch import scratch_folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instances", nargs="+", type=Path)
    ap.add_argument("--searches", default="1,2", help="comma-separated N of --concurrent-mip")
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--extra", default="", help="more options for network-opt solve, e.g. '--start slope'")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the results here (default: a temporary folder)")
    args = ap.parse_args()
    work = scratch_folder(args.workdir, "concurrent-mip-")
    print(f"{'instance':28} {'N':>2} {'status':9} {'gap':>9} {'solve s':>8} {'wall s':>7} {'peak GiB':>8} "
          f"{'objective':>18} {'bound':>18}  together taken  companions")
    for inst in args.instances:
        for n in (int(v) for v in args.searches.split(",")):
            out = work / f"{inst.name}-n{n}"
            cmd = [sys.executable, "-m", "network_opt", "solve", str(inst), "--out", str(out), "--quiet", "--overwrite",
                   "--force", "--mip-gap", str(args.mip_gap), "--time-limit", str(args.time_limit),
                   "--concurrent-mip", str(n), *args.extra.split()]
            began = time.perf_counter()
            with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
                assert proc.stderr is not None
                err = proc.stderr.read()
                # this run's own figures: its largest process (the solve's, or a companion's)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - began
            peak = usage.ru_maxrss / 2**20  # KiB -> GiB
            if proc.returncode != 0:
                print(f"{inst.name:28} {n:>2} exit {proc.returncode}: {err.strip()[-300:]}")
                continue
            s = json.loads((out / "summary.json").read_text())
            gap = "-" if s["mip_gap"] is None else f"{s['mip_gap'] * 100:.4f} %"
            c = s["solver"].get("companions") or {}
            print(f"{inst.name:28} {n:>2} {s['status']:9} {gap:>9} {s['timings']['solve_s']:8.1f} {wall:7.1f} "
                  f"{peak:8.2f} {s['objective']:18,.0f} {s['bound'] or float('nan'):18,.0f}  "
                  f"{c.get('proved_together', '-')!s:8} {c.get('plans_taken', '-')!s:5}  "
                  f"{','.join(c.get('terminations', [])) or '-'}", flush=True)


if __name__ == "__main__":
    main()
