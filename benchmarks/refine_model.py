"""Which model the heuristic's refinement should search (issue 17, national scale;
network_opt.runs.heuristic.refine).

    python benchmarks/refine_model.py INSTANCE PLAN --aggregate N [--prune K] [--set KEY=VALUE ...]
                                      [--neighbours K] [--seconds S] [--write CSV]

``PLAN``: the ``facilities.csv`` of a ``network-opt solve --out`` folder (its ``open`` column names
the facilities the plan opens; its levels and modules are the start). Builds the clustered
relaxation at ``N`` clusters as ``solve --heuristic --aggregate N`` does (strong linking on, lanes
capped at the members' bounds), keeps the plan's facilities plus the ``K`` nearest of the same kind
to each (default 0) and closes the others (``close_others``), then searches it from the plan for
``S`` seconds (default 120) to a quarter of 1 %, as the refinement does. Prints one JSON line: the
flows, facilities kept, build seconds, the plan's objective in that model (its first plan: compare
it with the full model's objective of the same plan to see the clustering's optimism), the plan and
bound after the search, HiGHS's status, nodes and the facilities the new plan opens (and how many
of them the plan did not open). ``--write CSV``: the new plan's facilities table, for
``benchmarks/swap_search.py`` or to carry over to the full model.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
from generated import bound_model_args, bound_model_data

from network_opt.model.build import build_model
from network_opt.model.screen import kept_facilities
from network_opt.results.tables import facilities_table
from network_opt.runs.heuristic import INNER_GAP_SHARE, close_others
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bound_model_args(ap)
    ap.add_argument("plan")
    ap.add_argument("--neighbours", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--write", default=None, metavar="CSV")
    args = ap.parse_args()
    if args.aggregate is None:
        ap.error("--aggregate N is required: the refinement searches the clustered relaxation")
    begin = time.perf_counter()
    plan = pd.read_csv(args.plan, keep_default_na=False)
    plan["open"] = plan["open"].astype(str).str.lower().isin(["true", "1"])
    opened = set(plan.loc[plan["open"], "facility"])
    d, settings, _correction = bound_model_data(args)
    kept = kept_facilities(d, opened, args.neighbours)
    m = build_model(d)
    hm = HighsModel(m)
    close_others(m, d, hm, kept)
    built = time.perf_counter() - begin
    begin = time.perf_counter()
    out = solve_model(m, SolveOptions(time_limit=args.seconds, mip_gap=INNER_GAP_SHARE * 0.01), solver=hm,
                      data=d, plan=plan)
    searched = time.perf_counter() - begin
    first = hm.objective_of(hm.start_values) if hm.start_values is not None else None
    fac = facilities_table(m, d, hm) if out.has_plan else None
    now = set(fac.loc[fac["open"], "facility"]) if fac is not None else set()
    if args.write and fac is not None:
        fac.to_csv(args.write, index=False)
    print(json.dumps({
        "instance": args.instance, "plan": args.plan, "aggregate": args.aggregate, "prune": args.prune,
        "settings": settings, "neighbours": args.neighbours, "flows": len(d.flows), "kept": len(kept),
        "build_s": round(built, 1), "start": out.start, "first_plan": first,
        "objective": out.objective, "bound": out.bound, "status": str(out.status), "nodes": out.mip_node_count,
        "search_s": round(searched, 1), "opens": len(now), "opens_new": len(now - opened),
    }))


if __name__ == "__main__":
    main()
