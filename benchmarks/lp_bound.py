"""The LP relaxation of a full model: its bound and how long it takes (issue 17, national scale).

    python benchmarks/lp_bound.py INSTANCE [--prune K] [--set model.capacity_reach=true ...]
                                  [--solver simplex|ipm|choose] [--time-limit S] [--levels]

Loads the instance, applies the settings (``--set KEY=VALUE``, values read as YAML), prepares it
with the lane pruning asked for, builds and hands off the model, solves its LP relaxation with
HiGHS and prints one JSON line: rows, columns, nonzeros, build + hand-off seconds, LP seconds,
the LP bound (currency of the objective; None when the LP did not finish). ``--levels`` adds how
the LP opens the capacity levels: per facility kind and level, the facility-periods with
:math:`y > 10^{-6}`, their sum and mean; and how many facility-periods are fractional.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import yaml

from network_opt.inputs.load import load
from network_opt.model.build import build_model
from network_opt.model.size import prepare_sized
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instance")
    ap.add_argument("--prune", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--solver", default="choose", choices=["choose", "simplex", "ipm"])
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--levels", action="store_true")
    args = ap.parse_args()
    settings = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    inst = load(args.instance)
    if settings:
        inst = inst.with_settings(settings)
    d, _, _ = prepare_sized(inst, args.prune)
    t = time.perf_counter()
    m = build_model(d)
    hm = HighsModel(m)
    built = time.perf_counter() - t
    t = time.perf_counter()
    bound, x = lp_relaxation(hm, SolveOptions(time_limit=args.time_limit), args.solver)
    out: dict[str, object] = {"rows": hm.h.getNumRow(), "columns": hm.h.getNumCol(), "nonzeros": hm.h.getNumNz(),
                              "build_handoff_s": round(built, 1), "lp_s": round(time.perf_counter() - t, 1),
                              "solver": args.solver, "lp_bound": bound, "settings": settings}
    if args.levels and x is not None:
        rows = [(d.levels["facility"].iat[j], d.levels["level"].iat[j], p, float(x[hm.cols[id(v)]]))
                for (j, p), v in m.level_open.items() if id(v) in hm.cols]
        y = pd.DataFrame(rows, columns=["facility", "level", "period", "y"])
        y["kind"] = y["facility"].map(d.facilities.set_index("id")["kind"])
        used = y.loc[y["y"] > 1e-6].groupby(["kind", "level"])["y"].agg(["size", "sum", "mean"])
        levels = {}
        for key, r in used.iterrows():
            assert isinstance(key, tuple)  # (kind, level)
            k, lv = key
            levels[f"{k}/{lv}"] = [int(r["size"]), round(r["sum"], 3), round(r["mean"], 3)]
        out["levels"] = levels
        total = y.groupby(["facility", "period"])["y"].sum()
        out["facility_periods"] = len(total)
        out["fractional"] = int(((total > 0.01) & (total < 0.99)).sum())
        out["open"] = int((total >= 0.99).sum())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
