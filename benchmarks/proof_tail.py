"""Where a MIP's proof spends its tail: hold the investment decisions of every facility at a plan,
free those of some families (facility ids by prefix), and prove the rest to the gap asked.

    python benchmarks/proof_tail.py instances/eu-2025-2032 PLAN_DIR --free "S-;P-;D-;D-,S-" \
        --time-limit 300 --gap 0.0001

PLAN_DIR is the output folder of ``network-opt solve`` on the same instance (its
``facilities.csv``: level and modules of each facility in each investment period). Each ``--free``
entry (``;``-separated) is a comma-separated list of id prefixes whose facilities' ``level_open``
and ``modules`` columns stay free; every other integer column is fixed at the plan. An empty entry
fixes everything (the plan's own value, a check); ``*`` frees everything (HiGHS alone on the matrix
the CLI hands over, without a start). ``--highs-option name=value`` (repeatable) sets a HiGHS option.
Prints, per entry, the columns left free, HiGHS's status, objective, bound, gap, nodes and seconds
(HiGHS's own run time, the model built once).
If freeing a few families already takes minutes and many nodes to prove within the gap, the tail
is the combinatorics of decisions worth less than the gap each, not one weak family of rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt import load
from network_opt.model import build_model
from network_opt.model.size import prepare_sized
from network_opt.solver.carry_over import plan_columns
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import cost_scale


def column_facilities(m: pyo.ConcreteModel, levels: pd.DataFrame, hm: HighsModel) -> dict[int, str]:
    """HiGHS column -> facility id of every ``level_open`` and ``modules`` column."""
    out = {hm.cols[id(v)]: str(levels.at[j, "facility"]) for (j, _), v in m.level_open.items()}
    modules = m.find_component("modules")
    if modules is not None:
        out.update({hm.cols[id(v)]: str(f) for (f, _), v in modules.items()})
    return out


def _option_value(text: str) -> bool | int | float | str:
    """A HiGHS option's value from its text: true/false, an int, a float, else the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("instance", type=Path)
    ap.add_argument("plan", type=Path, help="output folder of network-opt solve on the instance")
    ap.add_argument("--free", default=";S-;P-;D-", help="';'-separated entries of comma-separated id prefixes")
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--gap", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=0, help="0: HiGHS decides")
    ap.add_argument("--highs-option", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()

    data, _, _ = prepare_sized(load(args.instance), None)
    m = build_model(data)
    hm = HighsModel(m)
    # the plan's level and module columns, as a start from another model's plan reads them
    values = plan_columns(m, data, hm, pd.read_csv(args.plan / "facilities.csv"))
    owner = column_facilities(m, data.levels, hm)
    cols = np.array(sorted(values), dtype=np.int32)
    facs = [owner[int(c)] for c in cols]
    fixed = np.array([values[int(c)] for c in cols])
    lower = hm.matrix.col_lower[cols]
    upper = hm.matrix.col_upper[cols]
    scale = cost_scale(hm.matrix.cost)
    h = hm.h  # options set once: each entry's run only changes the integer columns' bounds
    for name, value in (("time_limit", args.time_limit), ("mip_rel_gap", args.gap),
                        ("user_objective_scale", scale), ("output_flag", False)):
        h.setOptionValue(name, value)
    if args.threads:
        h.setOptionValue("threads", args.threads)
    for option in args.highs_option:
        name, _, text = option.partition("=")
        if h.setOptionValue(name, _option_value(text)) != highspy.HighsStatus.kOk:
            raise SystemExit(f"--highs-option {option}: HiGHS refused it (no such option, or a value of "
                             "the wrong type or range)")
    print(f"{args.instance}: {len(cols)} integer columns; plan from {args.plan / 'facilities.csv'}; "
          f"HiGHS {hm.h.version()}, objective scale 2^{scale}, limit {args.time_limit:g} s, "
          f"gap {args.gap:g}")
    print("| free | columns free | status | objective | bound | gap | nodes | HiGHS s |")
    print("|---|---|---|---|---|---|---|---|")
    for entry in args.free.split(";"):
        prefixes = tuple(p for p in entry.split(",") if p)
        free = np.array([entry == "*" or (bool(prefixes) and f.startswith(prefixes)) for f in facs])
        lo = np.where(free, lower, fixed)
        up = np.where(free, upper, fixed)
        h.clearSolver()
        h.changeColsBounds(len(cols), cols, lo, up)
        began = time.perf_counter()
        h.run()
        took = time.perf_counter() - began
        info = h.getInfo()
        print(f"| {entry or '(none)'} | {int(free.sum())} | {h.modelStatusToString(h.getModelStatus())} | "
              f"{info.objective_function_value:,.0f} | {info.mip_dual_bound:,.0f} | {100 * info.mip_gap:.4f} % | "
              f"{info.mip_node_count:,} | {took:.1f} |", flush=True)


if __name__ == "__main__":
    main()
