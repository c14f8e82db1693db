"""Benchmark: what the tightening and the primal start do to HiGHS's time, on generated instances.

For each size, in a fresh process per variant, the same instance is solved with

- strong linking on or off (``model.strong_linking``: the valid inequalities
  x_i <= U_i * sum_l y_{f(i),l,p(i)}, one per lane, on top of the facility capacity rows), and
- the MIP start (``SolveOptions.start``): every facility open at its largest level with the flows
  of one LP (``open_all``, the default), the LP relaxation rounded and repaired (``lp_round``), or
  none (HiGHS finds its own first plan),

and the script prints the model size, the seconds in HiGHS (the start's LP included), the
objective, the gap reached and HiGHS's branch-and-bound node count. Never asserts times.

Usage::

    python benchmarks/tightening.py [--sizes 100x20x1,300x50x2] [--time-limit 600] [--gap 0.01]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from generated import generated_instance, machine
from timed_solve import fmt_gap, fmt_objective, timed_solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100x20x1,300x50x2")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="network-opt-tightening-"))
    print(f"{machine()}; time limit {args.time_limit:g} s, gap {args.gap:g}")
    print("| size | strong linking | start | rows | nonzeros | HiGHS s | status | objective | gap | nodes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        folder = generated_instance(work, size)
        for linking in ("1", "0"):
            for start in ("open_all", "lp_round", "none"):
                try:
                    r = timed_solve(folder, {"model.strong_linking": linking == "1"}, args.time_limit, args.gap,
                                    start=start)
                except RuntimeError as exc:
                    print(f"| {size} | {linking} | {start} | failed: {exc} |")
                    continue
                print(f"| {size} | {'on' if linking == '1' else 'off'} | {start} | "
                      f"{r['rows']:,} | {r['nonzeros']:,} | {r['solve_s']:.1f} | {r['status']} | "
                      f"{fmt_objective(r['objective'], 6)} | {fmt_gap(r['gap'])} | {r['nodes']} |", flush=True)


if __name__ == "__main__":
    main()
