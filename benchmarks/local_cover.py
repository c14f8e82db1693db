r"""Probe (issue 17, national scale): local capacity covers, and what they do to the LP and to HiGHS's bound.

    python benchmarks/local_cover.py INSTANCE [--prune K (default 5)] [--set model.strong_linking=false ...]
                                     [--cover] [--regions 4,8,16,32] [--mip SECONDS]

Builds the full model as ``network-opt solve`` would (lanes pruned to ``--prune``, settings from
``--set KEY=VALUE``, read as YAML) and, with ``--cover``, adds one *local capacity cover* per
collection site :math:`i` and operating year :math:`p`:

.. math:: \sum_{f \in N(i)} \sum_l \min(C_{f,l}, S_{i,p})\, y_{f,l,P(p)} + \sum_{s \in S(i,p)} (u_s + w_s)
          \ge S_{i,p}

:math:`N(i)` the pack-taking facilities (refurbishers, recyclers, pre-processors) that the site's
end-of-life lanes reach, :math:`S_{i,p}` its supply in year p (t/yr), :math:`u, w` what it leaves
uncollected or disposes of. Valid: the site's supply leaves over those lanes, each facility takes at
most its capacity, and a coefficient of a :math:`\ge` knapsack row may be cut to its right-hand side.
``--regions K,...`` adds the same rows for k-means groups of the sites (unit-sphere coordinates,
seed 1), one set per K. Instances with modules or stock are refused (the probe does not write
their terms).

Prints one JSON line after the LP relaxation (rows added, LP bound, seconds) and, with ``--mip S``,
another after HiGHS's MIP (default options, gap 1e-4, ``S`` seconds): plan, dual bound, seconds.
HiGHS's log goes to the console. Findings: benchmarks/README.md, "where the remaining gap is, fifth
session".
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyomo.environ as pyo
from generated import bound_model_args, bound_model_data
from scipy.cluster.vq import kmeans2  # type: ignore[import-untyped]

from network_opt.model.build import build_model
from network_opt.model.data import ModelData
from network_opt.model.linear import linear, weighted
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation

TAKERS = ("refurbisher", "recycler", "preprocessor")


def add_local_cover(m: pyo.ConcreteModel, d: ModelData, group: str) -> int:
    """One cover row per (value of ``d.supply[group]``, operating year); returns how many."""
    fac = d.facilities.set_index("id")
    takers = set(fac.index[fac["kind"].isin(TAKERS)])
    if takers & set(getattr(m, "MODULAR", [])) or len(d.stock):
        raise SystemExit("local_cover.py: instances with modules or stock are not covered by this probe")
    lv = d.levels.loc[d.levels["facility"].isin(takers)]
    levels_of = {f: list(zip(g.index.tolist(), g["capacity_t"].astype(float).tolist(), strict=True))
                 for f, g in lv.groupby("facility")}
    of = d.period_of or {p: p for p in d.years}
    sup = d.supply.rename_axis("supply_id").reset_index()
    eol = d.flows.loc[d.flows["supply_id"] >= 0, ["supply_id", "destination"]].merge(
        sup[["supply_id", group, "period"]], on="supply_id")
    reach = eol.groupby([group, "period"])["destination"].agg(lambda s: sorted(set(s)))
    tonnes = sup.groupby([group, "period"])["tonnes"].sum()
    rows_of = sup.groupby([group, "period"])["supply_id"].agg(list)
    escapes = [v for v in (getattr(m, "uncollected", None), getattr(m, "disposed", None)) if v is not None]
    keys = [k for k in reach.index if tonnes[k] > 0]

    def rule(_m: pyo.ConcreteModel, n: int) -> object:
        g, p = keys[n]
        need = float(tonnes[(g, p)])
        terms: list[object] = []
        for f in reach[(g, p)]:
            for j, cap in levels_of.get(f, []):
                terms += weighted([min(cap, need)], [m.level_open[j, of[p]]])
        for v in escapes:
            terms += [v[int(s)] for s in rows_of[(g, p)]]
        return linear(terms) >= need

    index = pyo.Set(initialize=range(len(keys)))
    m.add_component(f"LOCAL_COVER_{group}", index)
    m.add_component(f"local_cover_{group}", pyo.Constraint(index, rule=rule))
    return len(keys)


def region_labels(d: ModelData, k: int) -> dict[str, int]:
    """Collection site -> k-means group of the sites' unit-sphere coordinates (seed 1)."""
    sites = d.inst.tables["sites"].set_index("id")
    ids = sorted(set(d.supply["site"]))
    lat = np.radians(sites.loc[ids, "latitude"].to_numpy(float))
    lon = np.radians(sites.loc[ids, "longitude"].to_numpy(float))
    xyz = np.c_[np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    _, label = kmeans2(xyz, k, seed=1, minit="++")
    return dict(zip(ids, label.tolist(), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bound_model_args(ap)
    ap.set_defaults(prune=5)
    ap.add_argument("--cover", action="store_true", help="a cover row per collection site and year")
    ap.add_argument("--regions", default="", help="also per k-means group of the sites, e.g. 4,8,16")
    ap.add_argument("--mip", type=float, default=0.0, help="then HiGHS's MIP for this many seconds")
    args = ap.parse_args()
    if args.aggregate is not None:
        ap.error("--aggregate: this probe covers the full model's collection sites only")
    d, settings, _ = bound_model_data(args)
    m = build_model(d)
    added = add_local_cover(m, d, "site") if args.cover else 0
    for k in (int(v) for v in args.regions.split(",") if v):
        d.supply[f"region{k}"] = d.supply["site"].map(region_labels(d, k))
        added += add_local_cover(m, d, f"region{k}")
    hm = HighsModel(m)
    out: dict[str, object] = {"cover_rows": added, "rows": hm.h.getNumRow(), "nonzeros": hm.h.getNumNz(),
                              "settings": settings}
    t = time.perf_counter()
    bound, _ = lp_relaxation(hm, SolveOptions())
    out.update(lp_bound=bound, lp_s=round(time.perf_counter() - t, 1))
    print(json.dumps(out), flush=True)
    if args.mip > 0:
        h = hm.h
        for name, value in (("time_limit", args.mip), ("mip_rel_gap", 1e-4), ("output_flag", True),
                            ("log_to_console", True)):
            h.setOptionValue(name, value)
        t = time.perf_counter()
        h.run()
        info = h.getInfo()
        out.update(mip_plan=info.objective_function_value, mip_bound=info.mip_dual_bound,
                   mip_s=round(time.perf_counter() - t, 1))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
