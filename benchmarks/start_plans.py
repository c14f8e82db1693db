"""The first plans HiGHS can be given (``network-opt solve --start``): how long each takes and how
good it is, without the MIP that follows (issue 17).

    python benchmarks/start_plans.py INSTANCE [--start open_all|lp_round|slope ...] [--prune K]
                                     [--time-limit S] [--rounds]

Loads and prepares the instance, then for each start asked for (default: all three) builds and
hands off a fresh model, makes the start (network_opt.solver.starts, network_opt.solver.slope)
with ``--time-limit`` as the run's limit (the start's LPs get a third of it) and prints one JSON
line: the start used (a fallback shows as ``open_all``), its seconds and its plan's objective
(currency of the objective; None when no start was set). ``--rounds`` also prints slope scaling's
rounds as they end (seconds since the start began, the rounded plan's objective).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from network_opt.inputs.load import load
from network_opt.model.build import build_model
from network_opt.model.size import prepare_sized
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.slope import slope_start
from network_opt.solver.starts import lp_round_start, open_all_start

STARTS = ("open_all", "lp_round", "slope")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instance")
    ap.add_argument("--start", action="append", choices=STARTS, default=None)
    ap.add_argument("--prune", type=int, default=None)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--rounds", action="store_true")
    args = ap.parse_args()
    if args.rounds:
        logging.basicConfig(format="%(relativeCreated)9.0f ms  %(message)s")
        logging.getLogger("network_opt.solver.slope").setLevel(logging.DEBUG)
    d, _, _ = prepare_sized(load(args.instance), args.prune)
    options = SolveOptions(time_limit=args.time_limit)
    for start in args.start or STARTS:
        m = build_model(d)
        hm = HighsModel(m)
        began = time.perf_counter()
        if start == "open_all":
            used: str | None = "open_all" if open_all_start(m, d, hm, options) else None
        elif start == "lp_round":
            used = lp_round_start(m, d, hm, options)
        else:
            used = slope_start(m, d, hm, options)
        seconds = time.perf_counter() - began
        plan = hm.objective_of(hm.start_values) if used is not None and hm.start_values is not None else None
        print(json.dumps({"instance": args.instance, "start": start, "used": used, "seconds": round(seconds, 1),
                          "plan": plan}), flush=True)


if __name__ == "__main__":
    main()
