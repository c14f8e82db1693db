"""Is a plan of the clustered relaxation 1-swap optimal? (issue 17, national scale)

    python benchmarks/swap_search.py INSTANCE PLAN --aggregate N [--prune K] [--set KEY=VALUE ...]
                                     [--nearest K] [--seconds S]

``PLAN``: the ``facilities.csv`` of a plan (a ``network-opt solve --out`` folder's, or the one
``benchmarks/refine_model.py`` writes with ``--write``). Builds the clustered relaxation at ``N``
clusters as ``solve --heuristic --aggregate N`` does and loads the plan. Then, first improvement
until no move improves or ``S`` seconds (default 300) are spent: for each facility the plan opens
and each of its ``K`` nearest facilities of the same kind (default 2) that is neither open nor
existing, the swap that moves every level the first has in every period to the second and closes
the first is priced by the LP with every integer column held (the flows re-routed optimally). A
swap that lowers the objective is kept and the scan starts again. Prints one JSON line: the plan's
objective in that model, the objective after the search, swaps tried and kept, seconds.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from generated import bound_model_args, bound_model_data

from network_opt.model.build import build_model
from network_opt.model.screen import kept_facilities
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions
from network_opt.solver.starts import fixed_lp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bound_model_args(ap)
    ap.add_argument("plan")
    ap.add_argument("--nearest", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=300.0)
    args = ap.parse_args()
    if args.aggregate is None:
        ap.error("--aggregate N is required: the search runs in the clustered relaxation")
    plan = pd.read_csv(args.plan, keep_default_na=False)
    plan["open"] = plan["open"].astype(str).str.lower().isin(["true", "1"])
    d, settings, _correction = bound_model_data(args)
    m = build_model(d)
    hm = HighsModel(m)
    hm.h.setOptionValue("output_flag", False)
    solve_model(m, SolveOptions(time_limit=5.0), solver=hm, data=d, plan=plan)  # loads the plan's values
    if hm.values is None:
        raise SystemExit("the plan has no feasible flows in the clustered model")
    integers = np.flatnonzero(hm.matrix.integer)
    position = {int(c): i for i, c in enumerate(integers)}
    current = np.round(hm.values[integers])
    start = best = hm.objective_of(hm.values)
    levels: dict[str, dict[tuple[str, int], int]] = {}  # facility -> (level, period) -> integer position
    for (j, p), v in m.level_open.items():
        c = hm.cols.get(id(v))
        if c is not None:
            levels.setdefault(str(d.levels["facility"].iat[j]), {})[(str(d.levels["level"].iat[j]), p)] = position[c]
    existing = set(d.facilities.loc[d.facilities["status"] == "existing", "id"])
    begin, tried, kept = time.perf_counter(), 0, 0
    improved = True
    while improved and time.perf_counter() - begin < args.seconds:
        improved = False
        now_open = sorted(f for f, at in levels.items() if any(current[i] > 0.5 for i in at.values()))
        for f in now_open:
            for g in sorted(kept_facilities(d, {f}, args.nearest) - {f} - set(now_open) - existing):
                if time.perf_counter() - begin >= args.seconds:
                    break
                trial = current.copy()
                for key, i in levels[f].items():
                    if key in levels.get(g, {}):
                        trial[levels[g][key]] = current[i]
                    trial[i] = 0.0
                tried += 1
                x = fixed_lp(hm, integers, trial)
                if x is not None and hm.objective_of(x) < best - 1e-9 * abs(best):
                    best, current, kept, improved = hm.objective_of(x), np.round(x[integers]), kept + 1, True
                    break
            if improved:
                break
    print(json.dumps({
        "instance": args.instance, "plan": args.plan, "aggregate": args.aggregate, "prune": args.prune,
        "settings": settings, "nearest": args.nearest, "start": start, "objective": best,
        "swaps_tried": tried, "swaps_kept": kept, "s": round(time.perf_counter() - begin, 1),
    }))


if __name__ == "__main__":
    main()
