r"""A lower bound by relaxing the rows that tie periods together (Lagrangian relaxation by period).

The model held by a :class:`~network_opt.solver.handoff.HighsModel`, :math:`z^* = \min\{c^\top x +
c_0 : \ell \le A x \le u,\ x \in B,\ x_j \in \mathbb Z\ (j \in I)\}`, has rows of two kinds: those
whose variables belong to more than one investment period
(:func:`network_opt.model.periods.column_periods`: facility continuity, capacity growth, opening
investment, modules, ramp-up, second-life returns, supply held in stock into a later period, stock
age; rows :math:`C`) and the rest (rows :math:`R`: supply, capacity, targets, ... of one investment
period each). Moving the rows :math:`C` into the objective with multipliers :math:`\lambda` gives

.. math::
    L(\lambda) = c_0 + \lambda^\top b + \sum_k \min\{\tilde c_k^\top x_k : \ell_R \le A_R x \le u_R,\
    x \in B,\ x_j \in \mathbb Z\},\qquad \tilde c = c - A_C^\top \lambda,

with :math:`b_r = \ell_r` where :math:`\lambda_r > 0` and :math:`b_r = u_r` where :math:`\lambda_r <
0` (a row's multiplier has the sign of the bound it presses on). For every plan :math:`x` of the
model, :math:`\lambda_r (b_r - a_r x) \le 0`, so :math:`L(\lambda) \le z^*`: a **true lower bound**.
Without the rows :math:`C` the rest falls apart into blocks :math:`k` (the connected components of
the rows :math:`R` and their columns: one per investment period), each a MIP small enough for
HiGHS to branch on, solved side by side in worker processes, one per core
(:mod:`network_opt.solver.block_pool`; one after another in this process for a small model); a
block's HiGHS **dual bound** stands in for its minimum, so the bound holds even when a block stops
at its time limit.

The multipliers are the **LP relaxation's duals** on the rows :math:`C`. Then the blocks' LP
relaxations add up to the LP's optimum (LP duality), and each block's MIP bound is at least its LP:
:math:`z^{LP} \le L(\lambda) \le z^*`. What is gained over the LP is what each period's integrality
costs (whole capacity levels in every period), which the LP prices at its convex hull per facility
and HiGHS's cuts on the whole model hardly move (``benchmarks/README.md``, issue 17).

Numerics: each block gets ``user_objective_scale`` so that its largest cost is about
:math:`2^{10}` (the multiplied costs reach :math:`10^9` and HiGHS's dual simplex failed on them
unscaled); a column of no row of :math:`R` is at the bound its cost :math:`\tilde c_j` favours, a
cost within HiGHS's dual feasibility tolerance counting as zero. A block that ends without a dual
bound (error, stop request) leaves no bound at all; so does a model that does not fall apart (one
period, or rows of one period tied by a family not flagged): its one block would be the MIP itself.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

from network_opt.common import interrupts
from network_opt.model.data import ModelData
from network_opt.model.periods import NONE, column_periods
from network_opt.solver.block_pool import BlockResult, BlockTask, MipPool, run_block, time_share
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions, cost_scale
from network_opt.solver.relaxation import lp_solution

#: a reduced cost at most this (currency per unit) counts as zero (HiGHS's dual feasibility tolerance)
ZERO_COST = 1e-7
#: each block's objective is scaled so that its largest cost is about 2 to this power
COST_SCALE_EXP = 10
#: each block's relative MIP gap: the bound matters here, not the block's plan
BLOCK_GAP = 1e-4
#: models with fewer nonzeros solve their blocks in this process (starting workers costs seconds)
POOL_MIN_NONZEROS = 200_000


@dataclass
class LagrangianBound:
    """What :func:`period_bound` found: ``bound`` a lower bound of the model (currency; None: none),
    ``lp_bound`` the LP relaxation's optimum it started from, ``blocks`` how many MIPs the model
    fell apart into, ``proven`` how many of them HiGHS solved to its gap (the others stopped at
    their time limit with a dual bound), ``s`` seconds, ``note`` why there is no bound."""

    bound: float | None
    lp_bound: float | None
    blocks: int = 0
    proven: int = 0
    s: float = 0.0
    note: str = ""
    block_bounds: list[float] = field(default_factory=list)

    def record(self) -> dict[str, object]:
        """Figures for ``summary["heuristic"]``."""
        return {"bound": self.bound, "lp_bound": self.lp_bound, "blocks": self.blocks, "proven": self.proven,
                "s": self.s, "note": self.note}


def linking_rows(hm: HighsModel, d: ModelData) -> np.ndarray:
    """Per row of ``hm`` (HiGHS order; its model built from ``d``): whether its variables belong
    to more than one investment period (variables of no period do not count)."""
    mm = hm.matrix
    period = column_periods(hm.columns, d)[mm.index]  # per nonzero
    known = period != NONE
    top, low = np.where(known, period, NONE), np.where(known, period, np.iinfo(np.int64).max)
    rows = len(mm.row_lower)
    linking = np.zeros(rows, dtype=bool)
    filled = np.flatnonzero(mm.start[1:] > mm.start[:-1])
    if len(filled):
        starts = mm.start[filled]
        hi, lo = np.maximum.reduceat(top, starts), np.minimum.reduceat(low, starts)
        linking[filled] = (hi != NONE) & (hi != lo)
    return linking


def multipliers(hm: HighsModel, linking: np.ndarray, row_dual: np.ndarray) -> tuple[np.ndarray, float]:
    r"""The multipliers :math:`\lambda` (the LP duals on the linking rows, 0 elsewhere and wherever
    the sign does not match a finite bound) and :math:`\lambda^\top b` (module docstring)."""
    mm = hm.matrix
    lam = np.where(linking, np.asarray(row_dual, dtype=float), 0.0)
    lam[(lam > 0) & ~np.isfinite(mm.row_lower)] = 0.0
    lam[(lam < 0) & ~np.isfinite(mm.row_upper)] = 0.0
    rhs = np.where(lam > 0, mm.row_lower, np.where(lam < 0, mm.row_upper, 0.0))
    on = lam != 0
    return lam, float(lam[on] @ rhs[on])


def blocks_of(a_rest: sp.csr_matrix) -> tuple[int, np.ndarray, np.ndarray]:
    """Connected components of the rows of ``a_rest`` and their columns: (count, label per row,
    label per column)."""
    nr = a_rest.shape[0]
    pattern = a_rest.copy()
    pattern.data = np.ones_like(pattern.data)
    graph = sp.bmat([[None, pattern], [pattern.T, None]], format="csr")
    count, labels = connected_components(graph, directed=False)
    return int(count), labels[:nr], labels[nr:]


def free_columns_value(cost: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    r""":math:`\sum_j \min(\tilde c_j \ell_j, \tilde c_j u_j)` for columns in no remaining row
    (:math:`-\infty` when a cost pulls towards an infinite bound)."""
    c = np.where(np.abs(cost) <= ZERO_COST, 0.0, cost)
    at = np.where(c > 0, lower, np.where(c < 0, upper, 0.0))
    if not np.all(np.isfinite(at)):
        return -math.inf
    return float(c @ at)


def _members(items: np.ndarray, label: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """``items`` grouped by ``label``, one array per label in ``order`` (one sort, not one pass per
    label: a model may fall apart into thousands of blocks)."""
    by_label = np.argsort(label, kind="stable")
    counts = np.bincount(label, minlength=int(order.max()) + 1 if len(order) else 0)
    ends = np.cumsum(counts)
    return [items[by_label[ends[k] - counts[k]:ends[k]]] for k in order.tolist()]


def pool_workers(blocks: int, nonzeros: int, threads: int | None) -> int:
    """How many worker processes solve the blocks side by side: one per core (at most
    ``threads`` when given, at most one per block), none (1: one after another in this process)
    for a model under :data:`POOL_MIN_NONZEROS`, where starting processes costs more than it
    saves."""
    if nonzeros < POOL_MIN_NONZEROS:
        return 1
    cores = os.cpu_count() or 1
    return max(1, min(blocks, cores if threads is None else min(cores, int(threads))))


def _one_by_one(tasks: list[BlockTask], left: Callable[[], float | None],
                threads: int | None) -> list[BlockResult] | None:
    """The blocks in this process, each given its share of the time left by its size
    (:func:`~network_opt.solver.block_pool.time_share`); None after a stop request."""
    out: list[BlockResult] = []
    waiting = sum(task.size for task in tasks)
    for task in tasks:
        budget = left()
        share = None if budget is None else time_share(budget, task.size, waiting, 1)
        waiting -= task.size
        got = run_block(task, share, threads, interrupts.run_highs)
        if got is None or interrupts.requested() is not None:
            return None
        out.append(got)
        if got[0] is None:
            break
    return out


def _side_by_side(tasks: list[BlockTask], seconds: float | None, workers: int) -> list[BlockResult] | None:
    """The blocks in ``workers`` processes (:class:`~network_opt.solver.block_pool.MipPool`), HiGHS
    on one thread in each; None after a stop request."""
    pool = MipPool(workers, threads=1)
    try:
        return pool.solve(tasks, seconds)
    finally:
        pool.close()


def period_bound(hm: HighsModel, d: ModelData, options: SolveOptions, seconds: float | None,
                 lp: tuple[float, np.ndarray] | None = None) -> LagrangianBound:
    """The Lagrangian bound of the module docstring on ``hm``'s model (built from ``d``), within
    ``seconds`` (None: no limit; the LP included unless given). ``lp``: the LP relaxation's
    (objective, row duals) when already solved. The model in ``hm`` is left as it was."""
    begin = time.perf_counter()

    def left() -> float | None:
        return None if seconds is None else max(float(seconds) - (time.perf_counter() - begin), 0.0)

    if lp is None:
        lp_options = SolveOptions(time_limit=seconds, mip_gap=options.mip_gap, threads=options.threads)
        objective, _x, duals = lp_solution(hm, lp_options)
        if objective is None or duals is None:
            return LagrangianBound(None, None, s=time.perf_counter() - begin, note="the LP relaxation was not solved "
                                   "to optimality (time limit, stop request or infeasible)")
        lp = (objective, duals)
    lp_bound, row_dual = lp
    mm = hm.matrix
    linking = linking_rows(hm, d)
    if not linking.any():
        return LagrangianBound(None, lp_bound, s=time.perf_counter() - begin, note="no rows link periods")
    lam, lam_b = multipliers(hm, linking, row_dual)
    a = sp.csr_matrix((mm.value, mm.index, mm.start), shape=mm.shape)
    cost = mm.cost - a.T @ lam
    rest = np.flatnonzero(~linking)
    a_rest = a[rest]
    count, row_label, col_label = blocks_of(a_rest)
    has_rows = np.zeros(count, dtype=bool)
    has_rows[row_label] = True
    loose = ~has_rows[col_label]
    total = mm.offset + lam_b + free_columns_value(cost[loose], mm.col_lower[loose], mm.col_upper[loose])
    if not math.isfinite(total):
        return LagrangianBound(None, lp_bound, s=time.perf_counter() - begin,
                               note="a column outside every period's rows has no finite best value")
    order = np.flatnonzero(has_rows)
    if len(order) < 2:  # one block is the model again (less a few rows): its MIP is no shortcut
        return LagrangianBound(None, lp_bound, blocks=len(order), s=time.perf_counter() - begin,
                               note="the model does not fall apart by period (one block)")
    rows_of, cols_of = _members(rest, row_label, order), _members(np.arange(len(col_label)), col_label, order)
    result = LagrangianBound(None, lp_bound, blocks=len(order))
    tasks = [BlockTask(cost[cols], mm.col_lower[cols], mm.col_upper[cols], mm.integer[cols], a[rows][:, cols],
                       mm.row_lower[rows], mm.row_upper[rows], cost_scale(cost[cols], COST_SCALE_EXP), BLOCK_GAP)
             for rows, cols in zip(rows_of, cols_of, strict=True)]
    workers = pool_workers(len(tasks), len(mm.value), options.threads)
    solved = (_side_by_side(tasks, left(), workers) if workers > 1 else _one_by_one(tasks, left, options.threads))
    if solved is None:
        result.note = "stopped on request"
    for i, (bound, proven, status) in enumerate(solved or []):
        if bound is None:
            result.note = f"period block {i + 1} of {len(order)} ended without a bound ({status})"
            break
        result.block_bounds.append(bound)
        result.proven += int(proven)
        total += bound
    else:
        result.bound = None if solved is None else total
    result.s = time.perf_counter() - begin
    return result


__all__ = ["BLOCK_GAP", "COST_SCALE_EXP", "POOL_MIN_NONZEROS", "ZERO_COST", "LagrangianBound", "blocks_of",
           "free_columns_value", "linking_rows", "multipliers", "period_bound", "pool_workers"]
