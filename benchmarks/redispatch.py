"""``--aggregate N`` with and without ``--redispatch`` against the full model's optimum.

For each generated instance (``POINTSxCANDIDATES:REGION:SEED``, 8 periods and 3 chemistries as
``network-opt generate`` makes them by default) the full model is solved to ``--gap`` within
``--time-limit``; then for each N the clustered model, its plan split back onto the points (the plan
``--aggregate N`` writes) and the same plan re-dispatched (``--redispatch``: the clustered facility
decisions held, the full model's operations solved). Printed per row: the full model's objective
and gap, each plan's excess over it (%; objectives are net costs, negative when revenues win, so a
dearer plan is higher), the re-dispatched plan's gap to the full model's bound (a true gap), seconds,
the points losing lanes and whether the re-dispatch needed the integrality tolerance. With
``--time-limit`` the full model's search follows the re-dispatch's LP (docs/aggregation.md): the
columns "re-dispatched" are the LP's plan (its facilities the clustered model's), "searched" the plan
written and the run's own gap (its bound the search's, or "-" when the search did not run).

    python benchmarks/redispatch.py --cases 40x8:europe:1,40x8:us:1,120x12:china:0 --clusters 10,20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scratch import scratch_folder

from network_opt import SolveOptions, load, solve
from network_opt.datasets.generate import GeneratorSpec, generate


def _excess(z: float | None, z_full: float | None) -> str:
    if z is None or z_full is None:
        return "-"
    return f"{(z - z_full) / abs(z_full) * 100:+.4f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="40x8:europe:1,40x8:us:1,120x12:china:0",
                    help="comma-separated POINTSxCANDIDATES:REGION:SEED")
    ap.add_argument("--clusters", default="10,20", help="comma-separated N of --aggregate")
    ap.add_argument("--gap", type=float, default=1e-6)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = scratch_folder(args.workdir, "redispatch-")
    options = SolveOptions(mip_gap=args.gap, time_limit=args.time_limit)
    print("| instance | N | full: objective (gap, s) | split back | re-dispatched | re-dispatched to the full "
          "model's bound | searched: plan (own gap) | clustered + re-dispatch s | re-dispatch s | points losing lanes "
          "| tolerance |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        shape, region, seed = case.split(":")
        points, candidates = (int(x) for x in shape.split("x"))
        folder = work / f"{points}x{candidates}-{region}-{seed}"
        if not (folder / "instance.yaml").exists():
            generate(folder, GeneratorSpec(seed=int(seed), collection_points=points, candidates=candidates,
                                           region=region))
        began = time.perf_counter()
        full = solve(load(folder), options)
        full_s = time.perf_counter() - began
        z_full = full.objective
        gap = full.summary["mip_gap"]
        for n in (int(x) for x in args.clusters.split(",")):
            split = solve(load(folder), options, aggregate=n)
            began = time.perf_counter()
            moved = solve(load(folder), options, aggregate=n, redispatch=True)
            moved_s = time.perf_counter() - began
            record = moved.summary["aggregation"]["redispatch"]
            bound = full.summary["bound"]
            held = record["objective_held"]
            to_bound = (f"{(held - bound) / abs(held) * 100:.4f} %" if record["solved"] and bound is not None else "-")
            own = moved.summary["mip_gap"]
            searched = (f"{_excess(record['objective'], z_full)} ({own * 100:.4f} %)" if own is not None
                        else f"- ({record['search_note']})")
            print(f"| {case} | {n} | {z_full:,.0f} ({(gap or 0) * 100:.4f} %, {full_s:.1f}) | "
                  f"{_excess(split.objective, z_full)} | "
                  f"{_excess(held, z_full) if record['solved'] else record['note']} | {to_bound} | {searched} | "
                  f"{moved_s:.1f} | {record['seconds']:.1f} | {moved.summary['aggregation']['points_losing_lanes']} | "
                  f"{record['integrality_tolerance']:g} |", flush=True)


if __name__ == "__main__":
    main()
