r"""Benders decomposition on the matrix HiGHS is given (no Pyomo in the loop): ``solve
--decomposition benders``, for the deterministic model and the stochastic extensive form alike.

The model held by a :class:`~network_opt.solver.handoff.HighsModel`, :math:`\min c^\top x + q^\top y
+ c_0` subject to :math:`\ell \le A x + B y \le u` and column bounds, is split by a mask of
first-stage columns :math:`x` (:func:`first_stage_mask`: the investment decisions of
:mod:`network_opt.model.stages`) from the rest :math:`y` (flows, disposal, shortfalls, spend; all
continuous):

- **master rows**: rows with first-stage columns only;
- **blocks**: the other rows, grouped into the connected components of the graph linking a row to
  its second-stage columns (operating years held together by stock rows stay in one block;
  scenarios of the extensive form separate, because they share only first-stage columns), merged
  into at most ``max_blocks`` blocks of about equal size.

Master (a MIP held by one HiGHS object; cuts are added as rows):

.. math::
    \min c^\top x + \sum_k \theta_k + c_0 \quad\text{s.t. master rows},\;
    \theta_k \ge \underline z_k,\; \text{cuts}

Subproblem :math:`k` at a master plan :math:`\hat x` (an LP held by its own HiGHS object, built
once; each iteration changes only the bounds of its first-stage columns to :math:`\hat x_j` and
warm-starts the dual simplex from the previous basis):

.. math::
    z_k(\hat x) = \min q_k^\top y_k \quad\text{s.t.}\quad \ell_k \le A_k x + B_k y_k \le u_k,\; x = \hat x

:math:`z_k` is convex in :math:`\hat x` and the reduced cost :math:`d_j` of the fixed column
:math:`x_j` is a subgradient, hence the **optimality cut** :math:`\theta_k \ge z_k(\hat x) + \sum_j
d_j (x_j - \hat x_j)`. An infeasible subproblem is solved again as a **phase-1 LP** (an elastic
slack on each side of each row, cost 1 per unit, every other cost 0) of value :math:`v_k(\hat x) >
0`, convex and 0 exactly where the block is feasible: the **feasibility cut** :math:`0 \ge v_k(\hat
x) + \sum_j d_j (x_j - \hat x_j)` (same reduced costs) removes :math:`\hat x`.

:math:`\underline z_k` is the block's LP with its first-stage columns free within their bounds (a
lower bound of :math:`z_k` at every plan); if that LP is infeasible, no plan makes the block
feasible and the model is reported infeasible at once.

Iterations: first on the master's LP relaxation (integer columns made continuous: cheap cuts at
fractional plans) until no cut separates its plan, its bound stalls or after ``lp_iterations``;
then on the MIP master, keeping every cut.

Bounds: the **lower bound** is the master's *dual bound* (HiGHS's ``mip_dual_bound``, not its
incumbent; in the LP phase its LP optimum): the master is a relaxation of the model at every
iteration, so this bound holds for the model's optimum; the best over the iterations is kept. The
**upper bound** is the best :math:`c^\top \hat x + \sum_k z_k(\hat x) + c_0` over the integer plans
whose blocks are all feasible; its plan and the blocks' flows are the result. The master is solved
to half the gap asked for (tightened tenfold whenever its plan brings no new cut), and the loop
stops at the gap asked for, the time limit, a stop request (SIGINT/SIGTERM, answered within
seconds: each HiGHS run is stoppable, :func:`network_opt.common.interrupts.run_highs`) or the
iteration limit.

The scenario-wise path (one block per scenario built from that scenario's own model, blocks in
worker processes) is :mod:`network_opt.solver.benders_scenarios`; it runs :func:`benders_loop`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

from network_opt.common import interrupts
from network_opt.solver.handoff import INF, HighsModel, MatrixModel, quiet_highs
from network_opt.solver.highs import SolveOutcome, relative_gap
from network_opt.solver.options import SolveOptions, set_time_limit
from network_opt.solver.status import SolveStatus, Termination

_OPTIMAL = highspy.HighsModelStatus.kOptimal
_INFEASIBLE = (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible)
#: a cut is added when it is violated by more than this share of max(1, |z_k|) (currency)
CUT_TOLERANCE = 1e-7
#: a component of the second stage with at most this many rows (and < 1 % of the largest one's
#: nonzeros) is kept in the master
SMALL_ROWS = 4
#: the loosest relative gap a master MIP is solved to (far from the end)
LOOSE = 0.01


@dataclass
class BendersOptions:
    """``max_blocks``: at most this many subproblems (components merged by size); ``iterations``:
    at most this many master solves; ``master_gap``: relative gap of the first master solves
    (None: half the gap asked for); ``lp_iterations``: at most this many iterations on the master's
    LP relaxation before the MIP master (0: none; module docstring); ``persistent``: one HiGHS
    object per block, kept between iterations (False: one per process, re-loaded with the block's
    LP and its last basis at each evaluation: less memory, a little more time per block)."""

    max_blocks: int = 64
    iterations: int = 500
    master_gap: float | None = None
    lp_iterations: int = 50
    persistent: bool = True


@dataclass
class BendersRecord:
    """What the decomposition did: blocks (subproblems) and their rows and columns, iterations
    (master solves), optimality and feasibility cuts added, seconds in the master and in the
    subproblems, the bounds after each iteration (currency), and notes."""

    blocks: int = 0
    block_rows: list[int] = field(default_factory=list)
    block_columns: list[int] = field(default_factory=list)
    master_rows: int = 0
    master_columns: int = 0
    first_stage_columns: int = 0
    iterations: int = 0
    lp_iterations: int = 0
    optimality_cuts: int = 0
    feasibility_cuts: int = 0
    master_s: float = 0.0
    subproblem_s: float = 0.0
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    build_s: float = 0.0
    block_arrays_mb: float = 0.0
    workers: int = 1
    worker_peak_mb: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"method": "benders", "blocks": self.blocks, "block_rows": self.block_rows,
                "block_columns": self.block_columns, "master_rows": self.master_rows,
                "first_stage_columns": self.first_stage_columns, "master_columns": self.master_columns,
                "iterations": self.iterations, "lp_iterations": self.lp_iterations,
                "optimality_cuts": self.optimality_cuts, "feasibility_cuts": self.feasibility_cuts,
                "master_s": self.master_s, "subproblem_s": self.subproblem_s,
                "lower_bounds": [_finite(v) for v in self.lower], "upper_bounds": [_finite(v) for v in self.upper],
                "lower_bound_is": "the master's dual bound (mip_dual_bound), not its incumbent",
                "build_s": self.build_s, "block_arrays_mb": self.block_arrays_mb, "workers": self.workers,
                "worker_peak_mb": self.worker_peak_mb,
                "notes": self.notes}


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def first_stage_mask(hm: HighsModel, first_vars: list[Any]) -> np.ndarray:
    """Boolean mask of ``hm``'s columns that are the Pyomo variables ``first_vars`` (e.g.
    :func:`network_opt.model.stages.first_stage_vars`)."""
    ids = {id(v) for v in first_vars}
    return np.fromiter((id(v) in ids for v in hm.columns), dtype=bool, count=len(hm.columns))


@dataclass
class Split:
    """The master rows and the blocks of a matrix model under a first-stage mask (column and row
    indices of the full model)."""

    first: np.ndarray  # first-stage column indices
    master_rows: np.ndarray
    master_second: np.ndarray  # second-stage columns of tiny components, solved in the master
    block_rows: list[np.ndarray]
    block_second: list[np.ndarray]  # second-stage columns of each block
    block_linking: list[np.ndarray]  # first-stage columns in each block's rows


def rows_by_stage(mm: MatrixModel, mask: np.ndarray
                   ) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray, np.ndarray]:
    """The matrix of ``mm`` (CSR), its 0/1 pattern, the rows with a second-stage column (``~mask``)
    and the rows with none (the master's). Raises ValueError if a second-stage column is integer
    (the subproblems must be LPs)."""
    if mm.integer[~mask].any():
        raise ValueError(f"{int(mm.integer[~mask].sum())} integer columns outside the first stage: "
                         "Benders needs continuous subproblems")
    a = sp.csr_matrix((mm.value, mm.index, mm.start), shape=mm.shape)
    pattern = a.copy()
    pattern.data = np.ones_like(pattern.data)
    second_count = pattern @ (~mask).astype(float)
    return a, pattern, np.flatnonzero(second_count > 0), np.flatnonzero(second_count == 0)


def split_model(mm: MatrixModel, mask: np.ndarray, max_blocks: int = 64) -> Split:
    """Split ``mm`` into master rows and at most ``max_blocks`` blocks (module docstring). Raises
    ValueError if a second-stage column is integer (the subproblems must be LPs)."""
    _, pattern, sub_rows, master_rows = rows_by_stage(mm, mask)
    second = np.flatnonzero(~mask)
    b = pattern[sub_rows][:, second]
    ns, nr = len(second), len(sub_rows)
    graph = sp.bmat([[None, b.T], [b, None]], format="csr") if nr and ns else sp.csr_matrix((ns + nr, ns + nr))
    ncomp, labels = connected_components(graph, directed=False)
    col_label, row_label = labels[:ns], labels[ns:]
    # merge the components into at most max_blocks blocks of about equal nonzeros (largest first)
    weight = np.bincount(row_label, weights=np.asarray(b.sum(axis=1)).ravel(), minlength=ncomp) + 1.0
    order = np.argsort(-weight, kind="stable")
    rows_per = np.bincount(row_label, minlength=ncomp)
    # a tiny component (at most SMALL_ROWS rows, under 1 % of the largest one's nonzeros; e.g. the
    # spend of one facility in one period) goes into the master as it is: exact there, where a
    # block of its own would cost one LP per iteration and cuts to learn the same thing
    tiny = (rows_per <= SMALL_ROWS) & (weight < 0.01 * weight.max()) if ncomp else np.zeros(0, dtype=bool)
    if tiny.all():
        tiny[:] = False
    order = order[~tiny[order]]
    nblocks = max(1, min(int(max_blocks), len(order)))
    load = np.zeros(nblocks)
    block_of = np.empty(ncomp, dtype=np.int64)
    for comp in order.tolist():  # one step per component (not per row or column)
        k = int(np.argmin(load))
        block_of[comp] = k
        load[k] += weight[comp]
    block_of[tiny] = -1
    row_block, col_block = block_of[row_label], block_of[col_label]
    master_rows = np.sort(np.concatenate([master_rows, sub_rows[row_block == -1]]))
    master_second = second[col_block == -1]
    a_sub = pattern[sub_rows]
    block_rows, block_second, block_linking = [], [], []
    first_cols = np.flatnonzero(mask)
    for k in range(nblocks):
        rows_k = sub_rows[row_block == k]
        cols_k = second[col_block == k]
        if not len(rows_k) and not len(cols_k):
            continue
        used = np.asarray(a_sub[row_block == k].sum(axis=0)).ravel() > 0
        block_rows.append(rows_k)
        block_second.append(cols_k)
        block_linking.append(np.flatnonzero(used & mask))
    return Split(first=first_cols, master_rows=master_rows, master_second=master_second, block_rows=block_rows,
                 block_second=block_second, block_linking=block_linking)


def highs_lp(cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, a: sp.csr_matrix, row_lower: np.ndarray,
              row_upper: np.ndarray, integer: np.ndarray | None = None, offset: float = 0.0) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = a.shape
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.offset_ = float(offset)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    a = sp.csr_matrix(a)
    a.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = a.shape
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if integer is not None and integer.any():
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[k] for k in integer.tolist()]
    return lp


def new_highs(lp: highspy.HighsLp | None, threads: int | None) -> highspy.Highs:
    h = quiet_highs()
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if lp is not None and h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS refused a Benders model")
    return h


def _pass(h: highspy.Highs, lp: highspy.HighsLp) -> None:
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS refused a Benders model")


# --- the pieces the loop works on ----------------------------------------------------------------

@dataclass
class Master:
    """The master's arrays (currency, the columns' units): columns ``0..nf-1`` are the first-stage
    columns the blocks link to, the rest (matrix split only) second-stage columns of tiny components
    solved in the master; rows are the rows on those columns only. One theta per block is added by
    the loop."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    a: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    offset: float
    nf: int


@dataclass
class BlockLP:
    """One subproblem's arrays: its second-stage columns (``ns`` of them, costs in currency, already
    weighted by the scenario's probability in the scenario-wise path) then its linking first-stage
    columns (cost 0; ``link`` their positions among the master's first-stage columns)."""

    a: sp.csr_matrix
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    ns: int
    link: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what keeping this block costs besides HiGHS)."""
        return int(self.a.data.nbytes + self.a.indices.nbytes + self.a.indptr.nbytes + self.cost.nbytes
                   + self.lower.nbytes + self.upper.nbytes + self.row_lower.nbytes + self.row_upper.nbytes
                   + self.link.nbytes)

    def lp(self) -> highspy.HighsLp:
        return highs_lp(self.cost, self.lower, self.upper, self.a, self.row_lower, self.row_upper)


#: one block's answer at a plan: kind ("optimal", "infeasible", "stopped" or "failed"), z (its cost,
#: or the phase-1 violation), the reduced costs of its linking columns, its second-stage column
#: values (None unless asked for and optimal), and a note on a failure
Evaluation = tuple[str, float, np.ndarray, np.ndarray | None, str]


class Block:
    """Subproblem of a :class:`BlockLP`, held by a HiGHS object of its own (``shared`` None: kept
    between iterations, re-solved after a bound change) or by a HiGHS object shared by every block
    of the process (``shared``: the LP is passed again with the block's last basis each time; only
    the arrays and the basis are kept). The phase-1 LP is made on first need."""

    def __init__(self, lp: BlockLP, threads: int | None, shared: highspy.Highs | None = None):
        self.lp = lp
        self.ns = lp.ns
        self.threads = threads
        self.shared = shared
        self.h: highspy.Highs | None = None if shared is not None else new_highs(lp.lp(), threads)
        self.basis: Any = None
        self.phase1: highspy.Highs | None = None
        self.phase1_lp: highspy.HighsLp | None = None
        self.link_idx = np.arange(lp.ns, lp.ns + len(lp.link), dtype=np.int32)

    def _fix(self, h: highspy.Highs, x: np.ndarray) -> None:
        if len(self.link_idx):
            h.changeColsBounds(len(self.link_idx), self.link_idx, x, x)

    def _main(self) -> highspy.Highs:
        if self.h is not None:
            return self.h
        assert self.shared is not None
        _pass(self.shared, self.lp.lp())
        if self.basis is not None:
            self.shared.setBasis(self.basis)
        return self.shared

    def _done(self, h: highspy.Highs) -> None:
        if self.shared is not None and h.getModelStatus() == _OPTIMAL:
            self.basis = h.getBasis()

    def _phase1(self) -> highspy.Highs:
        if self.phase1_lp is None:
            lp = self.lp
            nr = len(lp.row_lower)
            up = np.flatnonzero(lp.row_lower > -INF)  # +s_i reaches a lower bound
            down = np.flatnonzero(lp.row_upper < INF)  # -s_i reaches an upper bound
            eye = sp.identity(nr, format="csc")
            a = sp.hstack([lp.a, eye[:, up], -eye[:, down]], format="csr")
            nsl = len(up) + len(down)
            cost = np.concatenate([np.zeros(len(lp.cost)), np.ones(nsl)])
            lower = np.concatenate([lp.lower, np.zeros(nsl)])
            upper = np.concatenate([lp.upper, np.full(nsl, INF)])
            self.phase1_lp = highs_lp(cost, lower, upper, a, lp.row_lower, lp.row_upper)
        if self.shared is not None:
            _pass(self.shared, self.phase1_lp)
            return self.shared
        if self.phase1 is None:
            self.phase1 = new_highs(self.phase1_lp, self.threads)
        return self.phase1

    def relaxed(self, run: Callable[[highspy.Highs], bool]) -> tuple[str, float]:
        """Solve with the linking columns free within their bounds: (status, value); status
        "optimal", "infeasible", "unbounded", "stopped" or "other"."""
        h = self._main()
        set_time_limit(h, None, lp=True)
        if len(self.link_idx):  # free again if an evaluation fixed them
            h.changeColsBounds(len(self.link_idx), self.link_idx, self.lp.lower[self.ns:], self.lp.upper[self.ns:])
        if not run(h):
            return "stopped", math.nan
        status = h.getModelStatus()
        self._done(h)
        if status == _OPTIMAL:
            return "optimal", float(h.getInfo().objective_function_value)
        if status in _INFEASIBLE:
            return "infeasible", math.nan
        if status == highspy.HighsModelStatus.kUnbounded:
            return "unbounded", math.nan
        return "other", math.nan

    def evaluate(self, x: np.ndarray, limit: float | None, run: Callable[[highspy.Highs], bool],
                 values: bool = True) -> Evaluation:
        """At linking values ``x``: ("optimal", z, reduced costs of the linking columns, column
        values or None), ("infeasible", v > 0, phase-1 reduced costs, None), or ("stopped"/"failed",
        nan, ..., None, note)."""
        h = self._main()
        set_time_limit(h, limit, lp=True)
        self._fix(h, x)
        if not run(h):
            return "stopped", math.nan, np.zeros(0), None, ""
        status = h.getModelStatus()
        if status == _OPTIMAL:
            sol = h.getSolution()
            d = np.asarray(sol.col_dual)[self.ns:]
            y = np.asarray(sol.col_value)[:self.ns] if values else None
            z = float(h.getInfo().objective_function_value)
            self._done(h)
            return "optimal", z, d, y, ""
        if status not in _INFEASIBLE:
            return "failed", math.nan, np.zeros(0), None, f"HiGHS returned {h.modelStatusToString(status)}"
        p1 = self._phase1()
        set_time_limit(p1, limit, lp=True)
        self._fix(p1, x)
        if not run(p1) or p1.getModelStatus() != _OPTIMAL:
            return "failed", math.nan, np.zeros(0), None, "its phase-1 LP was not solved"
        d = np.asarray(p1.getSolution().col_dual)[self.ns:self.ns + len(self.link_idx)]
        return "infeasible", float(p1.getInfo().objective_function_value), d, None, ""


class Blocks:
    """The subproblems the loop evaluates, all in this process (``workers = 1``): ``link[k]`` the
    positions of block k's linking columns among the master's first-stage columns."""

    def __init__(self, lps: list[BlockLP], threads: int | None, persistent: bool = True, values: bool = True):
        self.shared = None if persistent else new_highs(None, threads)
        self.blocks = [Block(lp, threads, self.shared) for lp in lps]
        self.link = [lp.link for lp in lps]
        self.rows = [len(lp.row_lower) for lp in lps]
        self.columns = [lp.ns for lp in lps]
        self.nbytes = sum(lp.nbytes for lp in lps)
        self.values = values
        self.workers = 1

    def relaxed(self) -> list[tuple[str, float]] | None:
        out = []
        for blk in self.blocks:
            out.append(blk.relaxed(interrupts.run_highs))
            if out[-1][0] == "stopped" or interrupts.requested() is not None:
                return None
        return out

    def evaluate(self, xf: np.ndarray, limit: Callable[[], float | None]) -> list[Evaluation] | None:
        """Every block at the first-stage values ``xf`` (None: stopped by a request or the time
        limit before every block was solved)."""
        out = []
        for blk, pos in zip(self.blocks, self.link, strict=True):
            ev = blk.evaluate(xf[pos], limit(), interrupts.run_highs, self.values)
            out.append(ev)
            if ev[0] in ("stopped", "failed"):
                break
        return out

    def close(self) -> None:
        self.blocks = []


# --- the loop ------------------------------------------------------------------------------------

@dataclass
class LoopResult:
    """What the loop found: status and termination, the best plan (the master's columns, or None)
    with its blocks' column values (None where not asked for), and the bounds (currency)."""

    status: SolveStatus
    termination: str
    xm: np.ndarray | None
    ys: list[np.ndarray | None]
    lower: float
    upper: float


def benders_loop(master: Master, blocks: Any, options: SolveOptions, settings: BendersOptions,
                 rec: BendersRecord, progress: Callable[[str], None] | None = None,
                 start: np.ndarray | None = None, begin: float | None = None) -> LoopResult:
    """The Benders loop (module docstring) on ``master`` and ``blocks`` (:class:`Blocks` or
    :class:`BlockPool`), shared by the matrix split and the scenario-wise path. ``start``: a plan of
    the master's columns (integer, meeting the master rows) evaluated before the first master
    solve, so that its cost is an upper bound from the start. Call inside
    :func:`network_opt.common.interrupts.handling` and ``deferred``."""
    begin = time.perf_counter() if begin is None else begin
    deadline = None if options.time_limit is None else begin + float(options.time_limit)
    nb, nm, nf = len(blocks.link), len(master.cost), master.nf
    ints = master.integer

    def remaining() -> float | None:
        return None if deadline is None else max(0.0, deadline - time.perf_counter())

    def result(status: SolveStatus, termination: str, lower: float = -math.inf,
               upper: float = math.inf) -> LoopResult:
        return LoopResult(status, termination, None, [], lower, upper)

    # the master: its columns, then one theta per block
    am = master.a
    highs_master = new_highs(highs_lp(
        np.concatenate([master.cost, np.ones(nb)]), np.concatenate([master.lower, np.full(nb, -INF)]),
        np.concatenate([master.upper, np.full(nb, INF)]), sp.hstack([am, sp.csr_matrix((am.shape[0], nb))]),
        master.row_lower, master.row_upper, np.concatenate([ints, np.zeros(nb, dtype=bool)]), master.offset),
        options.threads)
    is_mip = bool(ints[:nf].any())
    gap = float(options.mip_gap)
    master_gap = gap / 2 if settings.master_gap is None else float(settings.master_gap)
    lower, upper = -math.inf, math.inf
    best_xm: np.ndarray | None = None
    best_ys: list[np.ndarray | None] = []
    best_master: np.ndarray | None = None
    termination: str = Termination.ITERATION_LIMIT
    infeasible = False
    last_plan: np.ndarray | None = None
    # first the master's LP relaxation: cheap cuts at fractional plans (its optimum is a lower
    # bound of the model's LP relaxation, hence of the model), then the MIP master
    master_ints = np.flatnonzero(np.concatenate([ints, np.zeros(nb, dtype=bool)])).astype(np.int32)
    relaxing = is_mip and settings.lp_iterations > 0
    lp_bounds: list[float] = []
    retried = False

    def integrality(kind: Any) -> None:
        highs_master.changeColsIntegrality(len(master_ints), master_ints, np.full(len(master_ints), kind))

    if relaxing:
        integrality(highspy.HighsVarType.kContinuous)

    def closed() -> bool:
        g = relative_gap(upper if math.isfinite(upper) else None, lower if math.isfinite(lower) else None)
        return g is not None and g <= gap

    last_evaluations: list[Evaluation] = []

    def at_plan(xm: np.ndarray, theta: np.ndarray | None, integral: bool) -> int | None:
        """Evaluate every block at the plan ``xm``, add the cuts it violates (returns how many),
        keep it if it is the best integer plan with every block feasible. None: stopped (request,
        time limit, failure)."""
        nonlocal upper, best_xm, best_ys, best_master
        xf = xm[:nf]
        t = time.perf_counter()
        evaluations = blocks.evaluate(xf, remaining)
        rec.subproblem_s += time.perf_counter() - t
        if evaluations is None:
            return None
        last_evaluations[:] = evaluations
        cuts_start, cuts_index, cuts_value, cuts_lower, cuts_upper = [0], [], [], [], []
        total = float(np.dot(master.cost, xm)) + master.offset
        zs = np.zeros(nb)
        feasible = True
        for k, (kind, z, d, _y, note) in enumerate(evaluations):
            if kind in ("stopped", "failed"):
                if kind == "failed":
                    rec.notes.append(f"block {k}: {note}")
                return None
            link = blocks.link[k]
            keep = np.flatnonzero(d != 0.0)
            rhs = z - float(np.dot(d, xf[link]))
            if kind == "optimal":
                total += z
                zs[k] = z
                if theta is not None and z - theta[k] <= CUT_TOLERANCE * max(1.0, abs(z)):
                    continue
                # theta_k - d.x >= z - d.x^
                cuts_index.extend([nm + k, *link[keep].tolist()])
                cuts_value.extend([1.0, *(-d[keep]).tolist()])
                cuts_lower.append(rhs)
                cuts_upper.append(INF)
                rec.optimality_cuts += 1
            else:  # infeasible: d.x <= d.x^ - v
                feasible = False
                if z <= 1e-9:
                    rec.notes.append(f"block {k}: infeasible at a plan whose phase-1 violation is {z:.3g}")
                    continue
                cuts_index.extend(link[keep].tolist())
                cuts_value.extend(d[keep].tolist())
                cuts_lower.append(-INF)
                cuts_upper.append(-rhs)
                rec.feasibility_cuts += 1
            cuts_start.append(len(cuts_index))
        if len(evaluations) < nb:
            return None
        if feasible and total < upper and integral:
            upper = total
            best_xm = xm.copy()
            best_ys = [ev[3] for ev in evaluations]
            best_master = np.concatenate([xm, zs])  # theta at the plan's own values satisfies every cut
        ncuts = len(cuts_lower)
        if ncuts:
            # a feasibility cut divided by its largest coefficient (phase-1 reduced costs: tonnes per
            # unit of a decision); an optimality cut keeps theta's coefficient 1, so that its
            # violation stays in currency, far above HiGHS's feasibility tolerances
            vals = np.array(cuts_value, dtype=float)
            starts = np.array(cuts_start, dtype=np.int64)
            scale = np.array([np.abs(vals[i:j]).max() if j > i and np.isinf(lo) else 1.0  # one step per cut
                              for i, j, lo in zip(starts[:-1].tolist(), starts[1:].tolist(), cuts_lower, strict=True)])
            scale = np.where(scale > 0, scale, 1.0)
            vals = vals / np.repeat(scale, np.diff(starts))
            highs_master.addRows(ncuts, np.array(cuts_lower) / scale, np.array(cuts_upper) / scale, len(cuts_index),
                                 np.array(cuts_start[:-1], dtype=np.int32), np.array(cuts_index, dtype=np.int32),
                                 vals)
        return ncuts

    theta_low = np.full(nb, -INF)
    if start is not None:  # an upper bound before the first master solve (its cuts are kept)
        x0 = np.asarray(start, dtype=float)
        if at_plan(x0, None, True) is None:
            termination = Termination.INTERRUPTED if interrupts.requested() is not None else Termination.TIME_LIMIT
            return LoopResult(SolveStatus.NO_SOLUTION, termination, None, [], lower, upper)
        rec.notes.append("start plan evaluated on every block: "
                         + (f"upper bound {upper:,.2f}" if math.isfinite(upper) else "some block infeasible"))
        # each block's cut at the start plan, minimised over the first-stage box, bounds its theta
        # from below (finite when the linking columns are bounded): no LP with the plan free needed
        for k, (kind, z, d, _y, _note) in enumerate(last_evaluations):
            if kind != "optimal":
                continue
            pos = blocks.link[k]
            lo, up = master.lower[pos] - x0[pos], master.upper[pos] - x0[pos]
            with np.errstate(invalid="ignore"):
                low = z + float(np.sum(np.where(d > 0, d * lo, np.where(d < 0, d * up, 0.0))))
            if math.isfinite(low):
                theta_low[k] = low
    # lower bound of each theta: the block with its first-stage columns free within their bounds
    t = time.perf_counter()
    need = np.flatnonzero(~np.isfinite(theta_low))
    relaxed = blocks.relaxed() if len(need) else []
    rec.subproblem_s += time.perf_counter() - t
    if relaxed is None:
        return result(SolveStatus.NO_SOLUTION, Termination.INTERRUPTED)
    needed = set(need.tolist())
    for k, (status, value) in enumerate(relaxed):
        if k not in needed:
            continue
        if status == "infeasible":
            rec.notes.append(f"block {k} is infeasible for every first-stage plan within the bounds")
            return result(SolveStatus.INFEASIBLE, Termination.INFEASIBLE)
        if status == "unbounded":
            return result(SolveStatus.UNBOUNDED, Termination.UNBOUNDED)
        if status != "optimal":
            return result(SolveStatus.NO_SOLUTION, Termination.TIME_LIMIT)
        theta_low[k] = value
    thetas = np.arange(nm, nm + nb, dtype=np.int32)
    highs_master.changeColsBounds(nb, thetas, theta_low, np.full(nb, INF))

    for _ in range(settings.iterations):
        if interrupts.requested() is not None:
            termination = Termination.INTERRUPTED
            break
        left = remaining()
        if left is not None and left <= 0:
            termination = Termination.TIME_LIMIT
            break
        # far from the end a loose master is enough (its dual bound holds whatever its gap): a
        # quarter of the gap between the bounds, at most 1 %, never below master_gap
        now = relative_gap(upper if math.isfinite(upper) else None, lower if math.isfinite(lower) else None)
        highs_master.setOptionValue("mip_rel_gap",
                                    max(master_gap, min(LOOSE, 0.25 * now if now is not None else LOOSE)))
        set_time_limit(highs_master, left, lp=relaxing or not is_mip)
        if best_master is not None:
            sol = highspy.HighsSolution()
            sol.col_value = best_master
            sol.value_valid = True
            highs_master.setSolution(sol)
        t = time.perf_counter()
        ok = interrupts.run_highs(highs_master)
        rec.master_s += time.perf_counter() - t
        rec.iterations += 1
        if not ok:
            termination = Termination.INTERRUPTED
            break
        mstatus = highs_master.getModelStatus()
        info = highs_master.getInfo()
        if mstatus in _INFEASIBLE:
            infeasible = True
            termination = Termination.INFEASIBLE
            break
        if mstatus == highspy.HighsModelStatus.kUnbounded:
            rec.notes.append("the master is unbounded: a first-stage column without a finite bound and cost")
            return result(SolveStatus.UNBOUNDED, Termination.UNBOUNDED)
        if relaxing:
            rec.lp_iterations += 1
        bound = float(info.mip_dual_bound) if is_mip and not relaxing else float(info.objective_function_value)
        if math.isfinite(bound) and (mstatus == _OPTIMAL or (is_mip and not relaxing)):
            lower = max(lower, bound)
            lp_bounds.append(bound)
        if info.primal_solution_status != 2:  # no master plan (time limit or stop before one)
            termination = Termination.INTERRUPTED if interrupts.requested() is not None else Termination.TIME_LIMIT
            if mstatus != highspy.HighsModelStatus.kTimeLimit and termination != Termination.INTERRUPTED:
                what = highs_master.modelStatusToString(mstatus)
                if relaxing:  # numerical trouble of the LP master: on to the MIP master, keeping the cuts
                    rec.notes.append(f"the LP master returned {what}: MIP master from iteration {rec.iterations + 1}")
                    relaxing = False
                    integrality(highspy.HighsVarType.kInteger)
                    highs_master.clearSolver()
                    continue
                if not retried:  # once: HiGHS from scratch (no basis, no earlier solution)
                    retried = True
                    rec.notes.append(f"the master returned {what} at iteration {rec.iterations}: solved again "
                                     "from scratch")
                    highs_master.clearSolver()
                    continue
                rec.notes.append(f"the master returned {what} without a plan")
            break
        values = np.asarray(highs_master.getSolution().col_value)
        xm = values[:nm].copy()
        if not relaxing:
            xm[ints] = np.round(xm[ints])
        xf = xm[:nf]
        theta = values[nm:]
        if closed():
            termination = Termination.CONVERGED
            rec.lower.append(lower)
            rec.upper.append(upper)
            break
        # the subproblems at the master's plan
        found = at_plan(xm, theta, not relaxing)
        if found is None:
            termination = Termination.INTERRUPTED if interrupts.requested() is not None else Termination.TIME_LIMIT
            rec.lower.append(lower)
            rec.upper.append(upper)
            break
        ncuts = found
        rec.lower.append(lower)
        rec.upper.append(upper)
        if progress is not None:
            progress(f"Benders iteration {rec.iterations}: bound {lower:,.2f}, best {upper:,.2f}, "
                     f"{ncuts} cuts")
        if closed():
            termination = Termination.CONVERGED
            break
        if relaxing:
            # on to the MIP master when no cut separates the LP's plan, the LP bound stalls (under
            # 1e-6 relative over 5 iterations) or after lp_iterations
            stalled = len(lp_bounds) > 5 and lp_bounds[-1] - lp_bounds[-6] <= 1e-6 * max(1.0, abs(lp_bounds[-1]))
            if not ncuts or stalled or rec.lp_iterations >= settings.lp_iterations:
                relaxing = False
                integrality(highspy.HighsVarType.kInteger)
            continue
        same = last_plan is not None and np.array_equal(last_plan, xf)
        last_plan = xf
        if not ncuts or same:
            if master_gap <= 0.0:
                rec.notes.append("no cut separates the master's plan at master gap 0: stopped")
                termination = Termination.ITERATION_LIMIT if not closed() else Termination.CONVERGED
                break
            master_gap = master_gap / 10 if master_gap > 1e-9 else 0.0
    if infeasible:
        if best_xm is None:
            return result(SolveStatus.INFEASIBLE, Termination.INFEASIBLE)
        rec.notes.append("the master became infeasible after a feasible plan was found (numerical trouble)")
        termination = Termination.CONVERGED
    if best_xm is None:
        return LoopResult(SolveStatus.NO_SOLUTION, termination, None, [], lower, upper)
    proven = min(lower, upper) if math.isfinite(lower) else -math.inf
    g = relative_gap(upper, proven if math.isfinite(proven) else None)
    status = SolveStatus.OPTIMAL if g is not None and g <= gap else SolveStatus.FEASIBLE
    return LoopResult(status, termination, best_xm, best_ys, proven, upper)


# --- the matrix split: the model HiGHS holds ----------------------------------------------------

def benders_solve(hm: HighsModel, mask: np.ndarray, options: SolveOptions | None = None,
                  settings: BendersOptions | None = None,
                  progress: Callable[[str], None] | None = None) -> tuple[SolveOutcome, BendersRecord]:
    """Solve the model held by ``hm`` by Benders decomposition with first-stage columns ``mask``
    (module docstring). The best plan (all columns) is loaded into ``hm`` (:meth:`HighsModel.load_values`,
    so the Pyomo variables hold it) and the outcome reports the decomposition's objective (upper
    bound), bound (the master's dual bound) and gap, like a HiGHS solve. ``options``: gap, time
    limit, threads of each HiGHS run. ``progress(text)``: called after each iteration.

    SIGINT/SIGTERM: a HiGHS run stops within seconds; between runs the request is only noted and
    the loop ends at its next check with the best plan so far (as a plain solve does)."""
    # one handling context around every HiGHS run: a request made during one is still seen after it
    with interrupts.handling(), interrupts.deferred():
        return _benders(hm, mask, options or SolveOptions(), settings or BendersOptions(), progress)


def _benders(hm: HighsModel, mask: np.ndarray, options: SolveOptions, settings: BendersOptions,
             progress: Callable[[str], None] | None) -> tuple[SolveOutcome, BendersRecord]:
    begin = time.perf_counter()
    mm = hm.matrix
    nrow, ncol = mm.shape
    rec = BendersRecord()
    split = split_model(mm, mask, settings.max_blocks)
    a = sp.csr_matrix((mm.value, mm.index, mm.start), shape=(nrow, ncol))
    first = split.first
    mcols = np.concatenate([first, split.master_second])  # the master's columns before the thetas
    nf = len(first)
    pos = np.full(ncol, -1, dtype=np.int64)
    pos[first] = np.arange(nf)
    lps = []
    for rows, second, linking in zip(split.block_rows, split.block_second, split.block_linking, strict=True):
        cols = np.concatenate([second, linking])
        lps.append(BlockLP(a=a[rows][:, cols], cost=np.concatenate([mm.cost[second], np.zeros(len(linking))]),
                           lower=mm.col_lower[cols], upper=mm.col_upper[cols], row_lower=mm.row_lower[rows],
                           row_upper=mm.row_upper[rows], ns=len(second), link=pos[linking]))
    blocks = Blocks(lps, options.threads, persistent=settings.persistent)
    master = Master(cost=mm.cost[mcols], lower=mm.col_lower[mcols], upper=mm.col_upper[mcols],
                    integer=mm.integer[mcols], a=a[split.master_rows][:, mcols],
                    row_lower=mm.row_lower[split.master_rows], row_upper=mm.row_upper[split.master_rows],
                    offset=mm.offset, nf=nf)
    rec.blocks, rec.master_rows, rec.first_stage_columns = len(lps), len(split.master_rows), nf
    rec.master_columns = len(mcols)
    rec.block_rows, rec.block_columns = blocks.rows, blocks.columns
    rec.block_arrays_mb = blocks.nbytes / 1e6
    version = hm.version()
    res = benders_loop(master, blocks, options, settings, rec, progress, begin=begin)
    blocks.close()
    objective = bound = None
    if res.xm is not None:
        full = np.zeros(ncol)
        full[mcols] = res.xm
        for (_rows, second, _link), y in zip(zip(split.block_rows, split.block_second, split.block_linking,
                                                 strict=True), res.ys, strict=True):
            assert y is not None
            full[second] = y
        hm.load_values(full)
        objective = hm.objective_of(full)
        bound = min(res.lower, objective) if math.isfinite(res.lower) else None
    elif res.status == SolveStatus.NO_SOLUTION and math.isfinite(res.lower):
        bound = res.lower
    return SolveOutcome(status=res.status, termination=res.termination, objective=objective, bound=bound,
                        mip_gap=relative_gap(objective, bound), solver_name="benders + highs",
                        solver_version=version, solve_s=time.perf_counter() - begin,
                        nonzeros=len(mm.value), mip_node_count=None), rec


__all__ = ["BendersOptions", "BendersRecord", "Block", "BlockLP", "Blocks", "Evaluation", "LoopResult", "Master",
           "Split", "benders_loop", "benders_solve", "first_stage_mask", "new_highs", "rows_by_stage",
           "split_model"]
