"""The Lagrangian bound by period against the LP relaxation (issue 17; network_opt.solver.lagrange).

    python benchmarks/lagrange_bound.py INSTANCE [--prune K] [--set KEY=VALUE ...]
                                        [--aggregate N] [--seconds S] [--threads T]

Loads the instance (settings ``--set KEY=VALUE``, values read as YAML), prepares it with the lane
pruning asked for and builds the full model, or with ``--aggregate N`` the clustered relaxation
that ``solve --heuristic --aggregate N`` bounds with (:func:`network_opt.runs.heuristic.relaxed_screen`'s
model, strong linking on, lanes capped at the members' bounds). Then solves its LP relaxation and
the Lagrangian relaxation by period from that LP's duals, the blocks sharing ``--seconds`` (default:
no limit; side by side in one worker process per core, or with ``--threads 1`` one after another), and
prints one JSON line: the model's size, the LP bound and seconds, the Lagrangian
bound, its blocks (proven to their gap / all), seconds, and the bound's rise over the LP in percent
of the LP. With ``--aggregate`` the bounds are the clustered model's (less the correction for the
full model, printed).
"""

from __future__ import annotations

import argparse
import json
import time

from generated import bound_model_args, bound_model_data

from network_opt.model.build import build_model
from network_opt.solver.handoff import HighsModel
from network_opt.solver.lagrange import period_bound
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_solution


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bound_model_args(ap)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    begin = time.perf_counter()
    d, settings, correction = bound_model_data(args)
    hm = HighsModel(build_model(d))
    built = time.perf_counter() - begin
    begin = time.perf_counter()
    lp, _x, duals = lp_solution(hm, SolveOptions())
    lp_s = time.perf_counter() - begin
    result = None
    if lp is not None and duals is not None:
        result = period_bound(hm, d, SolveOptions(threads=args.threads), args.seconds, lp=(lp, duals))
    bound = result.bound if result is not None else None
    print(json.dumps({
        "instance": args.instance, "prune": args.prune, "aggregate": args.aggregate, "settings": settings,
        "threads": args.threads,
        "rows": hm.h.getNumRow(), "columns": hm.h.getNumCol(), "build_s": round(built, 1),
        "lp_bound": lp, "lp_s": round(lp_s, 1), "lagrangian_bound": bound,
        "blocks": result.blocks if result is not None else None,
        "proven": result.proven if result is not None else None,
        "lagrangian_s": round(result.s, 1) if result is not None else None,
        "rise_pct_of_lp": None if bound is None or lp is None else round(100 * (bound - lp) / abs(lp), 3),
        "correction": correction, "note": result.note if result is not None else "no LP",
    }))


if __name__ == "__main__":
    main()
