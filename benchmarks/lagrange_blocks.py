"""Other ways to split a model for a Lagrangian bound: by region, by region and period, and
multipliers moved by subgradient steps (issue 17, national scale; a probe, not a feature).

    python benchmarks/lagrange_blocks.py INSTANCE [--prune K] [--set KEY=VALUE ...] [--aggregate N]
                                         [--blocks period|region|region-period] [--regions R]
                                         [--seconds S] [--rounds K --target Z --block-seconds B]

Builds the full model, or with ``--aggregate N`` the clustered relaxation that ``solve --heuristic
--aggregate N`` bounds with (as ``benchmarks/lagrange_bound.py``), solves its LP relaxation, and
gives every column a block key: its investment period (``period``, what
:mod:`network_opt.solver.lagrange` ships), the region of the facility it belongs to (``region``:
facilities in ``--regions`` k-means groups of their coordinates; a flow belongs to the facility
it serves), or both. Rows whose columns have more than one key are relaxed with the LP's duals
as multipliers (sign-cleaned as :func:`network_opt.solver.lagrange.multipliers` does), the rest
falls apart into blocks, solved as MIPs side by side in one worker process per core within
``--seconds`` (:class:`network_opt.solver.block_pool.MipPool`: the largest first, each given a
share of the time left by its size). Prints
one JSON line: the LP bound, the Lagrangian bound (None when a block ended without a dual bound),
blocks (proven / all), seconds, the rise over the LP in percent.

``--rounds K`` then moves the multipliers K times by a projected subgradient step with Polyak's
step size towards ``--target Z`` (an objective a plan is known to reach), every block given
``--block-seconds`` each round (their plans make the subgradient), printing one line per round.
Columns in no block whose cost would pull them to an infinite bound cap their row's multiplier.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from generated import bound_model_args, bound_model_data
from scipy.cluster.vq import kmeans2  # type: ignore[import-untyped]

from network_opt.model.build import build_model
from network_opt.model.data import ModelData
from network_opt.model.periods import NONE, column_periods
from network_opt.solver import lagrange
from network_opt.solver.block_pool import BlockTask, MipPool, block_highs, block_result
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions, cost_scale
from network_opt.solver.relaxation import lp_solution


def column_keys(hm: HighsModel, d: ModelData, blocks: str, regions: int) -> np.ndarray:
    """The block key of every column of ``hm`` (NONE: none)."""
    period = column_periods(hm.columns, d)
    if blocks == "period":
        return period
    fac = d.facilities.set_index("id")
    sites = d.inst.tables["sites"].set_index("id")
    xy = sites.loc[fac["site"], ["latitude", "longitude"]].to_numpy(float)
    _, label = kmeans2(xy, regions, seed=0, minit="++")
    region = dict(zip(fac.index, label.tolist(), strict=True))
    flow_facility = d.flows["facility"].to_numpy()
    level_facility = d.levels["facility"].to_numpy()
    key = np.full(len(hm.columns), NONE, dtype=np.int64)
    for k, v in enumerate(hm.columns):
        name, idx = v.parent_component().local_name, v.index()
        f = (flow_facility[idx] if name == "flow" else level_facility[idx[0]] if name == "level_open"
             else idx[0] if name in ("investment", "closed", "modules", "added_capacity") else None)
        r = region.get(f, -1) if isinstance(f, str) else -1
        if r < 0 and period[k] == NONE:
            continue
        p = max(int(period[k]), 0)
        key[k] = r + 1 if blocks == "region" else p * 1000 + r + 1
    return key


def linking_by_key(hm: HighsModel, key: np.ndarray) -> np.ndarray:
    """Rows whose columns carry more than one key (as :func:`network_opt.solver.lagrange.linking_rows`)."""
    mm = hm.matrix
    kk = key[mm.index]
    known = kk != NONE
    top, low = np.where(known, kk, NONE), np.where(known, kk, np.iinfo(np.int64).max)
    linking = np.zeros(len(mm.row_lower), dtype=bool)
    filled = np.flatnonzero(mm.start[1:] > mm.start[:-1])
    hi, lo = np.maximum.reduceat(top, mm.start[filled]), np.minimum.reduceat(low, mm.start[filled])
    linking[filled] = (hi != NONE) & (hi != lo)
    return linking


def solve_block(args: tuple[BlockTask, float]) -> tuple[float | None, bool, np.ndarray | None]:
    """One block in a worker: its dual bound, whether proven, its plan."""
    task, seconds = args
    h = block_highs(task, 1)
    h.setOptionValue("time_limit", float(seconds))
    h.run()
    bound, proven, _ = block_result(h, bool(task.integer.any()))
    sol = h.getSolution()
    return bound, proven, (np.asarray(sol.col_value) if sol.value_valid else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bound_model_args(ap)
    ap.add_argument("--blocks", choices=["period", "region", "region-period"], default="region-period")
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--block-seconds", type=float, default=30.0)
    args = ap.parse_args()
    d, _settings, _correction = bound_model_data(args)
    hm = HighsModel(build_model(d))
    begin = time.perf_counter()
    lp_bound, _x, duals = lp_solution(hm, SolveOptions())
    lp_s = time.perf_counter() - begin
    if lp_bound is None or duals is None:
        raise SystemExit("the LP relaxation was not solved")
    mm = hm.matrix
    linking = linking_by_key(hm, column_keys(hm, d, args.blocks, args.regions))
    link = np.flatnonzero(linking)
    a = sp.csr_matrix((mm.value, mm.index, mm.start), shape=mm.shape)
    a_link = a[link]
    rest = np.flatnonzero(~linking)
    count, row_label, col_label = lagrange.blocks_of(a[rest])
    has_rows = np.zeros(count, dtype=bool)
    has_rows[row_label] = True
    loose = np.flatnonzero(~has_rows[col_label])
    order = np.flatnonzero(has_rows)
    rows_of = lagrange._members(rest, row_label, order)
    cols_of = lagrange._members(np.arange(len(col_label)), col_label, order)
    by_size = sorted(range(len(order)), key=lambda i: -len(cols_of[i]))
    rows_of, cols_of = [rows_of[i] for i in by_size], [cols_of[i] for i in by_size]
    parts = [a[r][:, c] for r, c in zip(rows_of, cols_of, strict=True)]
    no_lower, no_upper = ~np.isfinite(mm.row_lower[link]), ~np.isfinite(mm.row_upper[link])
    lam = np.asarray(duals, dtype=float)[link]
    lam[((lam > 0) & no_lower) | ((lam < 0) & no_upper)] = 0.0

    def capped(lam: np.ndarray) -> np.ndarray:
        """Multipliers under which no column of no block pulls to an infinite bound (each such
        column here sits in one relaxed row: its multiplier is capped at cost / coefficient)."""
        cost = mm.cost - a_link.T @ lam
        bad = loose[((cost[loose] < -lagrange.ZERO_COST) & ~np.isfinite(mm.col_upper[loose]))
                    | ((cost[loose] > lagrange.ZERO_COST) & ~np.isfinite(mm.col_lower[loose]))]
        for j in bad:
            col = a_link[:, j].tocoo()
            if col.nnz != 1:
                raise SystemExit(f"column {j} of no block sits in {col.nnz} relaxed rows: no cap known")
            lam[col.row[0]] = mm.cost[j] / col.data[0]
        return lam

    def tasks(lam: np.ndarray) -> tuple[list[BlockTask], np.ndarray, float]:
        full_lam = np.zeros(len(mm.row_lower))
        full_lam[link] = lam
        cost = mm.cost - a.T @ full_lam
        rhs = np.where(lam > 0, mm.row_lower[link], np.where(lam < 0, mm.row_upper[link], 0.0))
        constant = mm.offset + float(lam[lam != 0] @ rhs[lam != 0]) + lagrange.free_columns_value(
            cost[loose], mm.col_lower[loose], mm.col_upper[loose])
        return ([BlockTask(cost[c], mm.col_lower[c], mm.col_upper[c], mm.integer[c], part, mm.row_lower[r],
                           mm.row_upper[r], cost_scale(cost[c], lagrange.COST_SCALE_EXP), lagrange.BLOCK_GAP)
                 for r, c, part in zip(rows_of, cols_of, parts, strict=True)], cost, constant)

    lam = capped(lam)
    block_tasks, cost, constant = tasks(lam)
    start = time.perf_counter()
    pool = MipPool(2, threads=1)
    try:
        solved = pool.solve(block_tasks, args.seconds) or []
    finally:
        pool.close()
    bounds = [b for b, _p, _s in solved if b is not None]
    bound = None if len(bounds) < len(solved) or len(solved) < len(block_tasks) else constant + sum(bounds)
    print(json.dumps({
        "instance": args.instance, "aggregate": args.aggregate, "blocks_by": args.blocks,
        "regions": None if args.blocks == "period" else args.regions, "rows": len(mm.row_lower),
        "relaxed_rows": len(link), "lp_bound": lp_bound, "lp_s": round(lp_s, 1), "lagrangian_bound": bound,
        "blocks": len(block_tasks), "proven": sum(int(p) for _b, p, _s in solved),
        "blocks_s": round(time.perf_counter() - start, 1),
        "rise_pct": None if bound is None else round(100 * (bound - lp_bound) / abs(lp_bound), 3)}), flush=True)
    if args.rounds <= 0:
        return
    if args.target is None:
        raise SystemExit("--rounds needs --target (an objective a plan reaches)")
    best, theta, stall = -math.inf, 1.0, 0
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        for k in range(args.rounds):
            start = time.perf_counter()
            lam = capped(lam)
            block_tasks, cost, value = tasks(lam)
            got = list(ex.map(solve_block, [(t, args.block_seconds) for t in block_tasks], chunksize=8))
            if any(b is None or x is None for b, _p, x in got):
                print(json.dumps({"round": k, "note": "a block ended without a bound or a plan"}))
                return
            x = np.zeros(len(cost))
            c = np.where(np.abs(cost[loose]) <= lagrange.ZERO_COST, 0.0, cost[loose])
            x[loose] = np.where(c > 0, mm.col_lower[loose], np.where(c < 0, mm.col_upper[loose], 0.0))
            for (b, _p, xb), cols in zip(got, cols_of, strict=True):
                value += float(b)  # type: ignore[arg-type]
                x[cols] = xb
            if value > best:
                best, stall = value, 0
            else:
                stall += 1
                if stall >= 2:
                    theta, stall = theta / 2, 0
            ax = a_link @ x
            low, up = mm.row_lower[link], mm.row_upper[link]
            g = np.where(lam > 0, low - ax, np.where(lam < 0, up - ax,
                         np.where(ax < low, low - ax, np.where(ax > up, up - ax, 0.0))))
            g = np.where(np.isfinite(g), g, 0.0)
            norm = float(g @ g)
            print(json.dumps({"round": k, "lagrangian": value, "best": best,
                              "rise_pct": round(100 * (best - lp_bound) / abs(lp_bound), 3),
                              "proven": sum(int(p) for _b, p, _x in got), "theta": theta,
                              "s": round(time.perf_counter() - start, 1)}), flush=True)
            if norm == 0.0:
                return
            lam = lam + theta * (args.target - value) / norm * g
            lam[((lam > 0) & no_lower) | ((lam < 0) & no_upper)] = 0.0


if __name__ == "__main__":
    main()
