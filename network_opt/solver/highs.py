"""Solving the Pyomo model with HiGHS in memory (the model is compiled to arrays and passed to
highspy by :mod:`network_opt.solver.handoff`) and mapping its outcome.

Statuses (:class:`~network_opt.solver.status.SolveStatus`): ``optimal`` (proven within the gap),
``feasible`` (a plan, limits reached), ``infeasible``, ``unbounded``, ``no_solution`` (limits
reached before any plan was found).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.common.memory import resident_bytes
from network_opt.model.data import ModelData
from network_opt.solver.carry_over import plan_start
from network_opt.solver.companion import Companions, better, proven, refused
from network_opt.solver.handoff import HighsModel, MatrixModel, TriviallyInfeasible
from network_opt.solver.options import SolveOptions, cost_scale, run_highs, set_limits, set_time_limit
from network_opt.solver.scaling import scaled_ratio
from network_opt.solver.slope import slope_start
from network_opt.solver.starts import (
    KnownPlan,
    first_plan,
    lp_round_start,
    open_all_start,
    restricted_plan,
    set_start,
    start_from_integers,
)
from network_opt.solver.status import SolveStatus, Termination

logger = logging.getLogger(__name__)

#: Threads of HiGHS's process-wide task scheduler as last set by :func:`use_threads` (None: not
#: set by us; the scheduler, if started, has HiGHS's default count).
_scheduler_threads: int | None = None
_scheduler_lock = threading.Lock()


def use_threads(threads: int | None) -> None:
    """Make HiGHS's process-wide scheduler run ``threads`` threads (None: leave it as it is).

    HiGHS refuses a thread count other than the one its scheduler started with, and the scheduler
    is shared by every highspy object in the process; ``resetGlobalScheduler`` is therefore called
    only when the count asked for differs from the one last set here, never for a repeated count
    (a reset while another highspy object runs in a thread would pull its scheduler away)."""
    global _scheduler_threads
    if threads is None:
        return
    with _scheduler_lock:
        if _scheduler_threads == int(threads):
            return
        logger.debug("resetting HiGHS's global scheduler: %s -> %d threads", _scheduler_threads, threads)
        highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads = int(threads)


@dataclass
class SolveOutcome:
    """What the solver reported; ``objective``/``bound`` in currency, ``mip_gap`` relative.

    Plain values only: the HiGHS model that was solved is not kept here (whoever handed the model
    to HiGHS holds it, e.g. :func:`network_opt.runs.pipeline.solve` for shadow prices and the cost
    of compliance). ``termination``: a :class:`~network_opt.solver.status.Termination`, or HiGHS's
    own words for a model status without a name there. ``nonzeros``: of the matrix HiGHS received
    (None when the model could not be compiled). ``duals``: constraint data -> dual of an LP, when
    asked for (``solve_model(duals=True)``). ``numerics``: :func:`numerics` of the matrix.
    ``start``: which start HiGHS was given (``"given"``, ``"open_all"``, ``"lp_round"``, ``"slope"`` or None).
    ``mip_node_count``: branch-and-bound nodes of a MIP (None for an LP or when not known).
    ``abandoned``: HiGHS did not return after a stop request (the plan is the best it reported).
    ``held_back_s``: seconds of the time limit the MIP left for work after it (``solve_model``'s
    ``hold_back``). ``companions``: the companion searches' record
    (:class:`~network_opt.solver.companion.CompanionRecord`; None without ``concurrent_mip``).
    """

    status: SolveStatus
    termination: str
    objective: float | None
    bound: float | None
    mip_gap: float | None
    solver_name: str = "highs"
    solver_version: str = ""
    solve_s: float = 0.0
    log: str = ""
    nonzeros: int | None = None
    duals: Any = None
    numerics: dict[str, Any] = field(default_factory=dict)
    start: str | None = None
    mip_node_count: int | None = None
    abandoned: bool = False
    held_back_s: float = 0.0
    companions: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.status = SolveStatus(self.status)

    @property
    def has_plan(self) -> bool:
        return self.status.has_plan

    @property
    def numeric_warnings(self) -> list[str]:
        """The warnings of :attr:`numerics` (coefficient ranges that may make results unreliable)."""
        return [str(w) for w in self.numerics.get("warnings", [])]


#: the MIP keeps at least 1 - this share of what the start leaves of the time limit
HELD_BACK_SHARE: Final = 0.5
#: seconds a hold-back is at least (when one is asked): the shadow-price LP runs only with 1 s left
#: (``compliance.MIN_PRICE_LP_S``) after the plan's extraction, so 1.5 x a 0.45 s held LP (0.67 s,
#: eu-2025-2032) left it none: the MIP ended 0.49 s before the limit, the extraction took 0.48 s
HOLD_BACK_FLOOR_S: Final = 3.0


def held_back(wanted_s: float, left_s: float) -> float:
    """Seconds the MIP leaves of the ``left_s`` seconds of the time limit after its start, for work
    after it: ``wanted_s``, at most :data:`HELD_BACK_SHARE` of ``left_s``, never negative."""
    return max(0.0, min(wanted_s, HELD_BACK_SHARE * left_s))


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """HiGHS's definition: |objective - bound| / |objective| (0 when both are 0)."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    diff = abs(objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), 1e-9)


#: Ratio of the largest to the smallest non-zero cost or bound above which results may be unreliable.
NUMERIC_RANGE_LIMIT = 1e9
#: A cost this small once HiGHS scales the objective (100 x its dual feasibility tolerance, 1e-7)
#: comes close to being lost in the solve: only then does a wide cost range make results
#: numerically unreliable (else the warning asks only to check units). Small costs are common and
#: harmless above it: e.g. a flow whose transport and processing nearly cancel its revenue
#: (china-2025-2032: 0.249 CNY/t next to 2.39e9 CNY of investment, 6.1e-5 once scaled)
COST_FLOOR = 1e-5
#: Ratio of the matrix's largest to smallest coefficient, *after* scaling its rows and columns (as
#: HiGHS does), above which results may be unreliable: what scaling cannot remove
#: (:func:`network_opt.solver.scaling.scaled_ratio`; china-2025-2032: 1.6e9 raw, 490 scaled)
SCALED_MATRIX_LIMIT = 1e6
_ADVICE = "results may be numerically unreliable; check units (t, kWh, km, currency) and tiny or huge values"


def numerics(source: object, scale: int = 0) -> dict[str, Any]:
    """Ranges of the non-zero matrix, cost and bound coefficients HiGHS received (``source``: the
    :class:`~network_opt.solver.handoff.MatrixModel` passed to it, or a highspy object to ask), the
    matrix's ratio once its rows and columns are scaled (``matrix_scaled_ratio``), and warnings
    where a cost or bound range exceeds :data:`NUMERIC_RANGE_LIMIT` (for costs "numerically
    unreliable" only where the smallest falls below :data:`COST_FLOOR`, or the largest above the
    limit, once multiplied by ``2**scale``, HiGHS's ``user_objective_scale``; else a units check), or
    the scaled matrix ratio exceeds
    :data:`SCALED_MATRIX_LIMIT` (scale the instance's units if so). A raw matrix range alone is no
    warning: tiny and huge coefficients in different rows are scaled apart by HiGHS."""
    if isinstance(source, MatrixModel):
        n_rows = len(source.row_lower)
        rows = np.repeat(np.arange(n_rows), np.diff(source.start))
        cols = source.index
        parts = {"matrix": source.value, "cost": source.cost,
                 "bounds": np.concatenate([source.row_lower, source.row_upper, source.col_lower, source.col_upper])}
    else:
        lp = source.getLp()  # type: ignore[attr-defined]
        a = lp.a_matrix_
        starts, index = np.asarray(a.start_), np.asarray(a.index_)
        outer = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
        colwise = a.format_ == highspy.MatrixFormat.kColwise
        rows, cols = (index, outer) if colwise else (outer, index)
        parts = {
            "matrix": np.asarray(a.value_),
            "cost": np.asarray(lp.col_cost_),
            "bounds": np.concatenate([np.asarray(lp.row_lower_), np.asarray(lp.row_upper_),
                                      np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)]),
        }
    warnings: list[str] = []
    out: dict[str, Any] = {"warnings": warnings}
    for name, values in parts.items():
        v = np.abs(values[np.isfinite(values) & (values != 0) & (np.abs(values) < 1e20)])
        if not len(v):
            continue
        lo, hi = float(v.min()), float(v.max())
        out[f"{name}_range"] = [lo, hi]
        if name == "matrix":
            scaled = scaled_ratio(rows, cols, parts["matrix"])
            out["matrix_scaled_ratio"] = scaled
            if scaled > SCALED_MATRIX_LIMIT:
                warnings.append(f"matrix coefficients span {lo:.3g} to {hi:.3g}, and scaling rows and columns "
                                f"leaves a ratio of {scaled:.1e} > {SCALED_MATRIX_LIMIT:.0e}: {_ADVICE}")
        elif name == "cost":
            lo_s, hi_s = lo * 2.0**scale, hi * 2.0**scale  # what HiGHS works on (user_objective_scale)
            if hi / lo > NUMERIC_RANGE_LIMIT:
                unreliable = lo_s < COST_FLOOR or hi_s > NUMERIC_RANGE_LIMIT
                warnings.append(f"cost coefficients span {lo:.3g} to {hi:.3g} (ratio {hi / lo:.1e} > "
                                f"{NUMERIC_RANGE_LIMIT:.0e}), {lo_s:.1e} to {hi_s:.1e} as HiGHS works on them "
                                f"(objective x 2^{scale}): " + (_ADVICE if unreliable else
                                "within its tolerances; check units (t, kWh, km, currency) if so wide a range "
                                "is not expected"))
        elif hi / lo > NUMERIC_RANGE_LIMIT:
            warnings.append(f"{name} coefficients span {lo:.3g} to {hi:.3g} (ratio {hi / lo:.1e} > "
                            f"{NUMERIC_RANGE_LIMIT:.0e}): {_ADVICE}")
    return out


#: HiGHS model statuses under the names results files use for them.
TERMINATION = {
    highspy.HighsModelStatus.kOptimal: Termination.CONVERGED,
    highspy.HighsModelStatus.kInfeasible: Termination.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Termination.INFEASIBLE_OR_UNBOUNDED,
    highspy.HighsModelStatus.kUnbounded: Termination.UNBOUNDED,
    highspy.HighsModelStatus.kTimeLimit: Termination.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Termination.ITERATION_LIMIT,
    highspy.HighsModelStatus.kSolutionLimit: Termination.SOLUTION_LIMIT,
    highspy.HighsModelStatus.kObjectiveBound: Termination.OBJECTIVE_LIMIT,
    highspy.HighsModelStatus.kObjectiveTarget: Termination.OBJECTIVE_LIMIT,
    highspy.HighsModelStatus.kInterrupt: Termination.INTERRUPTED,
    highspy.HighsModelStatus.kMemoryLimit: Termination.MEMORY_LIMIT,
}


#: share of ``SolveOptions.memory_limit`` at which the memory guard stops the search: the rest is
#: headroom for what HiGHS allocates between two checks and for the extraction after it returns
MEMORY_GUARD_SHARE = 0.9
#: seconds between two reads of the resident memory by the guard
MEMORY_CHECK_S = 0.25


class _Watch:
    """What is known of a running MIP from HiGHS's callbacks: the last figures (best plan and bound
    in currency, unscaled from HiGHS's ``user_objective_scale``; for the progress line, fed also
    while HiGHS reports nothing, e.g. in presolve or the root LP) and the best plan reported (the
    plan kept if HiGHS has to be left running after a stop request).

    Memory guard: with ``memory_limit`` (bytes), every :data:`MEMORY_CHECK_S` seconds the process's
    resident memory is read; at :data:`MEMORY_GUARD_SHARE` of the limit HiGHS is asked to stop
    (:func:`network_opt.common.interrupts.stop_highs`) and ``memory_stop`` holds the bytes read;
    with companion searches (:attr:`companions`) their memory counts too, and they are stopped
    first, the main search going on.

    Companions (:mod:`network_opt.solver.companion`): each tick reads what they sent; the main
    search takes their better plans through HiGHS's user-solution callback and gives them its own;
    once the best plan of any search is within ``rel_gap`` of the best bound of any (or a companion
    ended with a proof) the main search is asked to stop and ``together`` is set."""

    def __init__(self, hm: HighsModel, progress: object | None, begin: float, memory_limit: int | None = None):
        self.hm, self.progress, self.begin = hm, progress, begin
        self.best: np.ndarray | None = None
        self.figures = (math.inf, -math.inf, math.inf)  # best plan, bound, gap
        self.memory_limit = memory_limit
        self.memory_stop: int | None = None
        self._checked = -math.inf
        # HiGHS's callbacks report the objective x 2**user_objective_scale (model.objective_scale);
        # the figures kept are in currency, as getInfo reports them
        self.unscale = 2.0 ** -int(hm.h.getOptionValue("user_objective_scale")[1])
        self.companions: Companions | None = None
        self.rel_gap = float(hm.h.getOptionValue("mip_rel_gap")[1])
        self.abs_gap = float(hm.h.getOptionValue("mip_abs_gap")[1]) * self.unscale  # HiGHS's, on the scaled objective
        self.together = False
        hm.h.cbMipInterrupt.subscribe(self.check)
        hm.h.cbMipImprovingSolution.subscribe(self.improved)

    def check(self, event: object) -> None:
        if self.hm.abandoned:
            return
        o = event.data_out  # type: ignore[attr-defined]
        self.figures = (o.mip_primal_bound * self.unscale, o.mip_dual_bound * self.unscale, o.mip_gap)
        self.tick(time.perf_counter() - self.begin)

    def improved(self, event: object) -> None:
        if not self.hm.abandoned:
            self.best = np.array(event.data_out.mip_solution, dtype=float)  # type: ignore[attr-defined]
            if self.companions is not None:
                self.companions.offer(self.hm.objective_of(self.best), self.best)

    def attach(self, companions: Companions | None) -> None:
        """Drive ``companions`` (None: none run); only then is HiGHS's user-solution callback taken,
        which HiGHS calls at every node."""
        self.companions = companions
        if companions is not None:
            self.hm.h.cbMipUserSolution.subscribe(self.offered)

    def offered(self, event: object) -> None:
        """HiGHS asks for a plan of ours: the companions' best, when better than its incumbent."""
        if self.companions is not None and not self.hm.abandoned:
            x = self.companions.take(self.figures[0])
            if x is not None:
                event.data_in.setSolution(x)  # type: ignore[attr-defined]

    def tick(self, _seconds: float) -> None:
        """Feed the progress line (the progress object throttles): seconds since the solve began
        (the start's LPs included), best plan, bound and gap as last reported; and guard the memory."""
        companions = self.companions
        if self.memory_limit is not None and self.memory_stop is None:
            now = time.perf_counter()
            if now - self._checked >= MEMORY_CHECK_S:
                self._checked = now
                rss = resident_bytes()
                both = rss + (companions.resident() if companions is not None and companions.running else 0)
                if both >= MEMORY_GUARD_SHARE * self.memory_limit and rss < both:
                    assert companions is not None
                    companions.stop(f"stopped at the memory limit ({both / 2**30:.2f} GiB resident with the "
                                    "main search); the main search went on")
                elif rss >= MEMORY_GUARD_SHARE * self.memory_limit:
                    self.memory_stop = rss
                    interrupts.stop_highs(self.hm.h)
        if companions is not None and companions.running and not self.together:
            companions.poll()
            primal = min(self.figures[0], companions.primal)
            dual = max(self.figures[1], companions.dual)
            if proven(primal, dual, self.rel_gap, self.abs_gap) or companions.finished() is not None:
                self.together = True
                interrupts.stop_highs(self.hm.h)
        if self.progress is not None and not self.hm.abandoned:
            figures = self.figures
            if companions is not None:  # the best plan and bound of all the searches
                primal, dual = min(figures[0], companions.primal), max(figures[1], companions.dual)
                gap = relative_gap(primal, dual)
                figures = (primal, dual, math.inf if gap is None else gap)
            self.progress.solver(time.perf_counter() - self.begin, *figures)  # type: ignore[attr-defined]

    def close(self) -> None:
        if not self.hm.abandoned:  # a HiGHS left running is not touched, not even its callbacks
            self.hm.h.cbMipInterrupt.unsubscribe(self.check)
            self.hm.h.cbMipImprovingSolution.unsubscribe(self.improved)
            if self.companions is not None:
                self.hm.h.cbMipUserSolution.unsubscribe(self.offered)
        if self.companions is not None:
            self.companions.stop()


def _known_plan_outcome(hm: HighsModel, watch: _Watch, version: str, elapsed: float, log: str,
                        extra: dict[str, Any], termination: str = Termination.INTERRUPTED) -> SolveOutcome:
    """The outcome of an interrupted solve whose HiGHS holds no plan to ask for: it was left
    running after the stop request (it did not return within
    :data:`network_opt.common.interrupts.GRACE_S`, e.g. in presolve or the MIP's root LP), or it stopped
    before using the start. The last improving plan HiGHS reported, else the start plan, is
    loaded into the model's variables."""
    x = watch.best if watch.best is not None else hm.start_values
    extra["mip_node_count"] = None
    extra["abandoned"] = hm.abandoned
    if x is None or len(x) != len(hm.columns):
        return SolveOutcome(status=SolveStatus.NO_SOLUTION, termination=termination, objective=None,
                            bound=None, mip_gap=None, solver_version=version, solve_s=elapsed, log=log, **extra)
    hm.load_values(x)
    objective = hm.objective_of(x)
    bound = float(watch.figures[1]) if math.isfinite(watch.figures[1]) else None
    if bound is not None and bound > objective:
        bound = None
    return SolveOutcome(status=SolveStatus.FEASIBLE, termination=termination, objective=objective,
                        bound=bound, mip_gap=relative_gap(objective, bound), solver_version=version, solve_s=elapsed,
                        log=log, **extra)


def solve_status(model_status: object, has_plan: bool, interrupted: bool = False) -> SolveStatus:
    """The project's status (``optimal``, ``feasible``, ``infeasible``, ...) of a HiGHS model status,
    given whether HiGHS holds a plan and whether a stop request ended its run."""
    s = highspy.HighsModelStatus
    if model_status in (s.kInfeasible, s.kUnboundedOrInfeasible):
        return SolveStatus.INFEASIBLE
    if model_status == s.kUnbounded:
        return SolveStatus.UNBOUNDED
    if model_status == s.kOptimal and has_plan and not interrupted:
        return SolveStatus.OPTIMAL
    return SolveStatus.FEASIBLE if has_plan else SolveStatus.NO_SOLUTION


def _companions(hm: HighsModel, options: SolveOptions, is_mip: bool, unscale: float,
                log: list[str]) -> Companions | None:
    """Start the companion searches ``options.concurrent_mip`` asks for (None: one search, or none
    can run here, with the reason in ``log``); their time limit is the main search's."""
    searches = int(options.concurrent_mip)
    if searches <= 1 or not is_mip:  # an LP (a start's, the shadow prices') is one search, said nowhere
        return None
    why = refused(searches, is_mip=is_mip)
    if why is not None:
        log.append(f"network_opt: no companion search: {why}\n")
        return None
    limit = float(hm.h.getOptionValue("time_limit")[1])
    companions = Companions.start(hm.h, searches, limit if math.isfinite(limit) else None, hm.start_values, unscale)
    log.append(f"network_opt: {searches - 1} companion search(es) beside HiGHS's, random seeds "
               f"{', '.join(map(str, companions.record.seeds))}\n")
    return companions


def _merge(hm: HighsModel, companions: Companions, objective: float | None, bound: float | None,
           rel_gap: float, abs_gap: float = 0.0) -> tuple[float | None, float | None, bool]:
    """The best plan and bound of the main search (``objective``, ``bound``) and its companions:
    the companions' plan is loaded into the model's variables when cheaper; the bound is the
    largest, at most the plan's cost. Also whether that plan is proven within ``rel_gap`` (or
    ``abs_gap``, currency)."""
    best = companions.best
    if best is not None and (objective is None or better(best[0], objective)):
        hm.load_values(best[1])
        objective = hm.objective_of(best[1])
    dual = max(bound if bound is not None else -math.inf, companions.dual)
    bound = dual if math.isfinite(dual) else None
    if bound is not None and objective is not None and bound > objective:
        bound = objective
    done = objective is not None and bound is not None and proven(objective, bound, rel_gap, abs_gap)
    return objective, bound, done


def trivially_infeasible(exc: TriviallyInfeasible) -> SolveOutcome:
    """The outcome of a model that could not even be compiled: a constant constraint fails."""
    return SolveOutcome(status=SolveStatus.INFEASIBLE, termination=Termination.INFEASIBLE, objective=None,
                        bound=None, mip_gap=None, log=str(exc))


def objective_scale(hm: HighsModel, data: ModelData | None) -> int | None:
    """The power of 2 of HiGHS's ``user_objective_scale`` for ``model.objective_scale`` (``auto``:
    :func:`~network_opt.solver.options.cost_scale` of the costs handed to HiGHS); None without
    the model's data (the option is then left as it is)."""
    if data is None:
        return None
    asked = data.inst.settings.model.objective_scale
    return cost_scale(hm.matrix.cost) if asked == "auto" else int(asked)


def solve_model(m: pyo.ConcreteModel, options: SolveOptions | None = None, solver: HighsModel | None = None,
                duals: bool = False, progress: object | None = None,
                start: np.ndarray | None = None, data: ModelData | None = None,
                relaxed: np.ndarray | None = None, plan: pd.DataFrame | None = None,
                hold_back: float = 0.0, known: KnownPlan | None = None) -> SolveOutcome:
    """Solve ``m`` with HiGHS and load the incumbent (if any) into the model's variables.

    ``solver``: a :class:`~network_opt.solver.handoff.HighsModel` already holding ``m`` (e.g. updated
    in place from an earlier scenario); pass one to use it again afterwards (shadow prices, cost
    of compliance): the outcome does not keep it.
    ``duals``: also read the constraint duals (an LP only) into ``outcome.duals``.
    ``progress``: a :class:`~network_opt.common.progress.Progress` fed with the MIP's figures while HiGHS
    runs. ``start``: values of the integer columns to start from (an earlier plan of a model with
    the same columns) instead of ``options.start``. ``outcome.start`` tells which start
    HiGHS was given: ``"given"`` (``start``), ``"open_all"``, ``"lp_round"``, ``"restricted"``, ``"slope"`` or
    None.
    ``data``: the :class:`~network_opt.model.data.ModelData` ``m`` was built from, read by the
    ``open_all``, ``lp_round`` and ``slope`` starts (without it, e.g. a hand-made model, none is tried).
    ``relaxed``: column values of ``m``'s LP relaxation already solved: the ``lp_round`` start is
    made from them (without solving that LP again) unless ``options.start`` is ``"none"``.
    ``plan``: a ``facilities`` table of another model with the same facilities and levels (e.g. a
    clustered model's): HiGHS starts from its levels, repaired if need be
    (:func:`~network_opt.solver.carry_over.plan_start`; ``outcome.start`` "plan", "plan_repaired",
    "plan_sized", "plan_upgraded" or "open_all") unless ``options.start`` is ``"none"`` or ``start`` is given.
    ``hold_back``: with a time limit, the MIP stops ``hold_back`` times ``hm.held_lp_s`` seconds (the
    start's longest LP with the integer columns held; at least :data:`HOLD_BACK_FLOOR_S` when
    ``hold_back`` is positive) before it, at most :data:`HELD_BACK_SHARE` of
    what the start left: time for work after the MIP that the limit also covers, such as the
    shadow-price LP, one LP of that kind (:func:`held_back`; ``outcome.held_back_s``).
    ``known``: a plan of ``m`` already solved (every column's value), given to HiGHS as it is, with no
    LP (``outcome.start`` "given"); before ``start`` and ``plan``.
    """
    options = options or SolveOptions()
    if options.write_model is not None:
        m.write(str(options.write_model), io_options={"symbolic_solver_labels": True})
    use_threads(options.threads)
    try:
        hm = solver if solver is not None else HighsModel(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc)
    highs = hm.h
    version = hm.version()
    # 0 (HiGHS decides) when not given: a model re-used from an earlier solve keeps its options
    highs.setOptionValue("threads", int(options.threads) if options.threads is not None else 0)
    set_limits(highs, options, lp=True)  # the start LPs run first; the MIP's limit is set before it
    scale = objective_scale(hm, data)
    if scale is not None:  # model.objective_scale: HiGHS works on the objective x 2**k, reports it unscaled
        highs.setOptionValue("user_objective_scale", scale)
    log: list[str] = []
    started: str | None = None

    def collect(event: object) -> None:
        log.append(event.message)  # type: ignore[attr-defined]

    highs.setOptionValue("log_to_console", bool(options.verbose))  # before output_flag: no banner
    highs.setOptionValue("output_flag", True)
    highs.cbLogging.subscribe(collect)
    begin = time.perf_counter()
    hm.start_values, hm.held_lp_s = None, 0.0
    held = 0.0
    # SIGINT/SIGTERM while in here: HiGHS is asked to stop and returns its incumbent (or is left
    # running after interrupts.GRACE_S with the best plan it reported); between HiGHS runs the
    # request is only noted (no later run starts), so that a plan found is never thrown away
    with interrupts.handling(), interrupts.deferred():
        watch = _Watch(hm, progress, begin, options.memory_limit)
        try:
            integers = np.flatnonzero(hm.matrix.integer).astype(np.int32)
            if known is not None and len(integers):
                set_start(hm, known.values)
                hm.held_lp_s, started = known.lp_s, "given"
            elif (start is not None and len(start) == len(integers)
                  and start_from_integers(hm, integers, start, options)):
                started = "given"
            elif plan is not None and data is not None and options.start != "none" and len(integers):
                started = plan_start(m, data, hm, plan, options)
            elif (options.warm_start and data is not None
                  and (first_plan(options) == "lp_round" or (relaxed is not None and options.start != "none"))
                  and (used := lp_round_start(m, data, hm, options, relaxed))):
                started = used  # "lp_round", or "open_all" where the rounding fell back to it
            elif (options.warm_start and data is not None and first_plan(options) == "restricted"
                  and (values := restricted_plan(m, data, hm, options, relaxed)) is not None):
                set_start(hm, values)  # a plan of the full model already (its columns all solved)
                started = "restricted"
            elif (options.warm_start and data is not None and first_plan(options) == "slope"
                  and (used := slope_start(m, data, hm, options))):
                started = used  # "slope", or "open_all" where slope scaling found no plan
            elif (options.warm_start and data is not None and first_plan(options) == "open_all"
                  and open_all_start(m, data, hm, options)):
                started = "open_all"
            if started is not None and hm.start_values is not None:
                watch.figures = (hm.objective_of(hm.start_values), -math.inf, math.inf)
            if not hm.abandoned and interrupts.requested() is None:
                if options.time_limit is not None:  # the start's LP counts against the time limit
                    left = float(options.time_limit) - (time.perf_counter() - begin)
                    wanted = max(hold_back * hm.held_lp_s, HOLD_BACK_FLOOR_S) if hold_back > 0 else 0.0
                    held = held_back(wanted, left) if len(integers) else 0.0
                    set_time_limit(highs, max(0.1, left - held), lp=not len(integers))
                watch.attach(_companions(hm, options, len(integers) > 0, watch.unscale, log))
                run_highs(hm, watch.tick)
        finally:
            watch.close()
            if not hm.abandoned:
                highs.cbLogging.unsubscribe(collect)
                highs.setOptionValue("output_flag", False)
        interrupted = interrupts.requested() is not None
    elapsed = time.perf_counter() - begin
    extra: dict[str, Any] = {"nonzeros": len(hm.matrix.value), "numerics": numerics(hm.matrix, scale or 0),
                             "start": started,
                             "held_back_s": held}
    if scale is not None:
        extra["numerics"]["objective_scale"] = scale
    companions = watch.companions
    if companions is not None:
        extra["companions"] = companions.record.as_dict()
        if companions.best is not None and (watch.best is None
                                            or better(companions.best[0], hm.objective_of(watch.best))):
            watch.best = companions.best[1]  # what a main search left running or stopped early keeps
    if hm.abandoned:  # HiGHS did not return after the stop request: the best plan it reported
        return _known_plan_outcome(hm, watch, version, elapsed, "".join(log), extra)
    model_status = highs.getModelStatus()
    # stopped by the searches' joint proof, not by a user: no interruption (below: the status)
    together = (companions is not None and watch.together and interrupts.requested() is None
                and watch.memory_stop is None)
    if model_status == highspy.HighsModelStatus.kInterrupt and not together:
        interrupted = True
    info = highs.getInfo()
    no_optimum = (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible,
                  highspy.HighsModelStatus.kInfeasible)
    # a feasible point of an unbounded model is no plan to report
    has_plan = (model_status != highspy.HighsModelStatus.kNotset and info.primal_solution_status == 2
                and model_status not in no_optimum)  # 2: feasible
    # the memory guard's stop is no user's stop request: it says so, and no later phase is skipped
    # (a HiGHS that finished before it read the stop ends as it ended)
    stopped: str = Termination.INTERRUPTED
    if (resident := watch.memory_stop) is not None and interrupted and interrupts.requested() is None:
        stopped = Termination.MEMORY_LIMIT
        text = (f"the search stopped at the memory limit ({resident / 2**30:.2f} GiB resident, "
                f"{MEMORY_GUARD_SHARE:.0%} of {float(options.memory_limit or 0) / 2**30:.2f} GiB), "
                "keeping its best plan")
        log.append(f"network_opt: {text}\n")
        if progress is not None:
            progress.phase(text)  # type: ignore[attr-defined]
    if companions is not None and companions.finished() == "Infeasible" and not has_plan:
        return SolveOutcome(status=SolveStatus.INFEASIBLE, termination=Termination.INFEASIBLE, objective=None,
                            bound=None, mip_gap=None, solver_version=version, solve_s=elapsed, log="".join(log),
                            mip_node_count=None, **extra)
    if together and not has_plan and companions is not None and companions.best is not None:
        # the joint proof came before the main search took the companions' plan: that plan, proven
        objective, bound, _ = _merge(hm, companions, None, None, watch.rel_gap, watch.abs_gap)
        companions.record.proved_together = True
        extra["companions"] = companions.record.as_dict()
        return SolveOutcome(status=SolveStatus.OPTIMAL, termination=Termination.CONVERGED, objective=objective,
                            bound=bound, mip_gap=relative_gap(objective, bound), solver_version=version,
                            solve_s=elapsed, log="".join(log), mip_node_count=None, **extra)
    if (interrupted or together) and not has_plan:  # stopped before HiGHS used the start (or the MIP began)
        return _known_plan_outcome(hm, watch, version, elapsed, "".join(log), extra, stopped)
    status = solve_status(model_status, has_plan, bool(interrupted))
    objective = float(info.objective_function_value) if has_plan else None
    is_mip = bool(hm.matrix.integer.any())
    if is_mip:
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    else:
        bound = objective if status == SolveStatus.OPTIMAL else None
    if has_plan:
        solution = highs.getSolution()
        hm.load_values(np.asarray(solution.col_value))
        if duals and solution.dual_valid:
            extra["duals"] = hm.constraint_duals(np.asarray(solution.row_dual))
    extra["mip_node_count"] = int(info.mip_node_count) if is_mip else None
    termination = (stopped if interrupted
                   else TERMINATION.get(model_status, highs.modelStatusToString(model_status)))
    if companions is not None and has_plan:
        objective, bound, done = _merge(hm, companions, objective, bound, watch.rel_gap, watch.abs_gap)
        companions.record.proved_together = together
        extra["companions"] = companions.record.as_dict()
        # proven by the searches together (as judged when the main search was stopped), or now
        if (done or together) and not interrupted:
            status, termination = SolveStatus.OPTIMAL, Termination.CONVERGED
    return SolveOutcome(status=status, termination=termination, objective=objective, bound=bound,
                        mip_gap=relative_gap(objective, bound), solver_version=version, solve_s=elapsed,
                        log="".join(log), **extra)
