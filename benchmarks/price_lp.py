"""The shadow-price LP after the MIP (targets.csv ``shadow_price``): its seconds from the basis the
MIP leaves HiGHS holding, and from no basis, as ``network-opt solve`` now runs it.

    python benchmarks/price_lp.py INSTANCE [--mip-gap G] [--time-limit S] [--start auto|slope|...]

Solves the instance's MIP as ``network-opt solve`` does (hand-off, start, HiGHS), then runs the LP
with the facility levels and modules fixed twice: first from the basis HiGHS holds after the MIP
(that of the last LP before it: a start's), then after ``clearSolver`` (no basis). Prints one JSON
line per way: seconds, simplex iterations, the LP's objective (currency of the objective), how many
target rows have a nonzero dual and, for the second, the largest difference of the target rows'
duals between the two. The LP is degenerate: rows of an idle facility (0 >= 0) may have a dual in
one basis and none in the other; the price targets.csv reports is the dual x the row's base, 0 there.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from network_opt.common.progress import Progress
from network_opt.inputs.load import load
from network_opt.model.build import build_model
from network_opt.model.families import TARGET_CONSTRAINTS
from network_opt.model.size import prepare_sized
from network_opt.solver.compliance import HighsView
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instance")
    ap.add_argument("--mip-gap", type=float, default=0.01)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--start", default="auto")
    args = ap.parse_args()
    data, _, _ = prepare_sized(load(args.instance), None)
    m = build_model(data)
    options = SolveOptions(mip_gap=args.mip_gap, time_limit=args.time_limit, start=args.start)
    hm = HighsModel(m)
    outcome = solve_model(m, options, solver=hm, progress=Progress("quiet"), data=data)
    if not outcome.has_plan:
        raise SystemExit(f"no plan: {outcome.status}")
    print(json.dumps({"mip": outcome.status, "objective": outcome.objective, "start": outcome.start}), flush=True)
    view = HighsView(hm)
    target_rows = np.array([view.rows[c] for name in TARGET_CONSTRAINTS.values() if hasattr(m, name)
                            for c in getattr(m, name).values() if c in view.rows], dtype=int)
    duals = []
    for way in ("from the basis after the MIP", "from no basis"):
        with view.integers_fixed(m):
            if way == "from no basis":
                hm.h.clearSolver()
            began = time.perf_counter()
            view.run(None, lp=True)
            seconds = time.perf_counter() - began
            info = hm.h.getInfo()
            status = str(hm.h.getModelStatus())
            duals.append(np.asarray(hm.h.getSolution().row_dual)[target_rows])
        line = {"way": way, "seconds": round(seconds, 3), "status": status,
                "simplex_iterations": info.simplex_iteration_count, "objective": info.objective_function_value,
                "target_duals_nonzero": int(np.count_nonzero(np.abs(duals[-1]) > 1e-9))}
        if len(duals) == 2:
            line["target_rows"] = len(target_rows)
            line["largest_target_dual_difference"] = float(np.max(np.abs(duals[0] - duals[1]), initial=0.0))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
