"""Solving the Pyomo model with HiGHS in memory (the model is compiled to arrays and passed to
highspy by :mod:`network_opt.handoff`) and mapping its outcome.

Statuses: ``optimal`` (proven within the gap), ``feasible`` (a plan, limits reached),
``infeasible``, ``no_solution`` (limits reached before any plan was found).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import highspy
import numpy as np
import pyomo.environ as pyo

from network_opt import interrupts
from network_opt.handoff import HighsModel, MatrixModel, TriviallyInfeasible


@dataclass
class SolveOptions:
    """Solver settings: seconds, relative MIP gap, threads (None: HiGHS decides)."""

    time_limit: float | None = None
    mip_gap: float = 1e-4
    threads: int | None = None
    verbose: bool = False
    write_model: Path | None = None
    # start the MIP from a plan (``start`` says which), or a re-solve's previous plan
    # (network_opt.resolve); False: HiGHS starts on its own
    warm_start: bool = True
    # how the first plan is made when there is no previous one: "open_all" (one LP),
    # "lp_round" (LP relaxation, rounded up to levels covering its capacity, repaired by an LP;
    # two LPs, a far better plan where most candidates should stay closed; see lp_round_start),
    # "none", or "auto": open_all when a time limit is set (so that the limit always leaves a
    # plan), none otherwise (HiGHS's own heuristics were faster there: benchmarks/README.md)
    start: str = "auto"
    # compare and sweep: update the HiGHS model of the previous run in the same process when only
    # numbers changed, and start from its plan (network_opt.resolve)
    reuse: bool = True


@dataclass
class SolveOutcome:
    """What the solver reported; ``objective``/``bound`` in currency, ``mip_gap`` relative."""

    status: str
    termination: str
    objective: float | None
    bound: float | None
    mip_gap: float | None
    solver_name: str = "highs"
    solver_version: str = ""
    solve_s: float = 0.0
    log: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def has_plan(self) -> bool:
        return self.status in ("optimal", "feasible")


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """HiGHS's definition: |objective - bound| / |objective| (0 when both are 0)."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    diff = abs(objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), 1e-9)


#: Ratio of the largest to the smallest non-zero coefficient above which results may be unreliable.
NUMERIC_RANGE_LIMIT = 1e9


def numerics(source: object) -> dict[str, object]:
    """Ranges of the non-zero matrix, cost and bound coefficients HiGHS received (``source``: the
    :class:`~network_opt.handoff.MatrixModel` passed to it, or a highspy object to ask), with
    warnings where a range exceeds :data:`NUMERIC_RANGE_LIMIT` (scale the instance's units if so)."""
    if isinstance(source, MatrixModel):
        parts = {"matrix": source.value, "cost": source.cost,
                 "bounds": np.concatenate([source.row_lower, source.row_upper, source.col_lower, source.col_upper])}
    else:
        lp = source.getLp()  # type: ignore[attr-defined]
        parts = {
            "matrix": np.asarray(lp.a_matrix_.value_),
            "cost": np.asarray(lp.col_cost_),
            "bounds": np.concatenate([np.asarray(lp.row_lower_), np.asarray(lp.row_upper_),
                                      np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)]),
        }
    out: dict[str, object] = {"warnings": []}
    for name, values in parts.items():
        v = np.abs(values[np.isfinite(values) & (values != 0) & (np.abs(values) < 1e20)])
        if not len(v):
            continue
        lo, hi = float(v.min()), float(v.max())
        out[f"{name}_range"] = [lo, hi]
        if hi / lo > NUMERIC_RANGE_LIMIT:
            out["warnings"].append(  # type: ignore[union-attr]
                f"{name} coefficients span {lo:.3g} to {hi:.3g} (ratio {hi / lo:.1e} > {NUMERIC_RANGE_LIMIT:.0e}): "
                "results may be numerically unreliable; check units (t, kWh, km, currency) and tiny or huge values")
    return out


#: HiGHS model statuses under the names results files use for them.
TERMINATION = {
    highspy.HighsModelStatus.kOptimal: "convergenceCriteriaSatisfied",
    highspy.HighsModelStatus.kInfeasible: "provenInfeasible",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasibleOrUnbounded",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kTimeLimit: "maxTimeLimit",
    highspy.HighsModelStatus.kIterationLimit: "iterationLimit",
    highspy.HighsModelStatus.kSolutionLimit: "solutionLimit",
    highspy.HighsModelStatus.kObjectiveBound: "objectiveLimit",
    highspy.HighsModelStatus.kObjectiveTarget: "objectiveLimit",
    highspy.HighsModelStatus.kInterrupt: "interrupted",
    highspy.HighsModelStatus.kMemoryLimit: "memoryLimit",
}


def _set_limits(highs: highspy.Highs, options: SolveOptions) -> None:
    limit = float(options.time_limit) if options.time_limit is not None else highspy.kHighsInf
    highs.setOptionValue("time_limit", limit)
    highs.setOptionValue("mip_rel_gap", float(options.mip_gap))


def run_highs(hm: HighsModel, tick: Callable[[float], None] | None = None) -> bool:
    """Run HiGHS on ``hm`` so that SIGINT/SIGTERM stop it within about
    :data:`network_opt.interrupts.GRACE_S` seconds in every phase (presolve and the MIP's root LP
    included, :func:`network_opt.interrupts.run_highs`). Returns False if HiGHS was left running
    after a stop request (``hm.abandoned`` is then set: the highspy object must not be touched)."""

    def abandon() -> None:
        hm.abandoned = True

    return interrupts.run_highs(hm.h, tick, on_abandon=abandon)


def start_from_integers(hm: HighsModel, cols: np.ndarray, values: np.ndarray, options: SolveOptions) -> bool:
    """Give HiGHS a first plan: integer columns ``cols`` fixed at ``values``, the rest from the
    LP this leaves. Works on the highspy model in place and restores it; returns whether the LP
    gave a plan (then set as HiGHS's starting solution and kept in ``hm.start_values``). A stop
    request (SIGINT/SIGTERM) ends the LP and gives no plan."""
    highs = hm.h
    n = len(cols)
    if not n or hm.abandoned or interrupts.requested() is not None:
        return False
    lp = highs.getLp()
    lower, upper = np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]
    values = np.clip(np.round(values), lower, upper)
    highs.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kContinuous))
    highs.changeColsBounds(n, cols, values, values)
    console = highs.getOptionValue("log_to_console")[1]
    highs.setOptionValue("log_to_console", False)
    try:
        ok = run_highs(hm) and highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        start = np.asarray(highs.getSolution().col_value) if ok else None
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.changeColsBounds(n, cols, lower, upper)
            highs.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kInteger))
            highs.setOptionValue("log_to_console", console)
    if start is None:
        return False
    solution = highspy.HighsSolution()
    solution.col_value = start
    solution.value_valid = True
    highs.setSolution(solution)
    hm.start_values = start.copy()
    return True


def open_all_start(m: pyo.ConcreteModel, hm: HighsModel, options: SolveOptions) -> bool:
    """Give HiGHS a first plan: every facility open at its largest level (and all modules) in
    every period, with the flows of the LP that this leaves. Such a plan exists whenever any plan
    does (opening more never removes an option), so a time limit always returns a plan."""
    if not hasattr(m, "level_open") or not len(m.level_open) or hm.abandoned or interrupts.requested() is not None:
        return False
    fixed: dict[int, float] = {}
    largest = set(m.LARGEST_LEVELS)
    for (j, _p), v in m.level_open.items():
        if id(v) in hm.cols:
            fixed[hm.cols[id(v)]] = 1.0 if j in largest else 0.0
    if hasattr(m, "modules"):
        for v in m.modules.values():
            if id(v) in hm.cols:
                fixed[hm.cols[id(v)]] = float(v.ub)
    cols = np.fromiter(fixed, dtype=np.int32, count=len(fixed))
    return start_from_integers(hm, cols, np.fromiter(fixed.values(), dtype=float, count=len(fixed)), options)


def rounded_levels(m: pyo.ConcreteModel, hm: HighsModel, x: np.ndarray, threshold: float) -> dict[int, float]:
    r"""Integer values rounded from the LP relaxation's ``x`` (HiGHS column order): facility f
    is open in period p if :math:`\sum_l y_{f,l,p} \ge` ``threshold``, at its smallest level whose
    capacity covers the LP's :math:`\sum_l C_{f,l} y_{f,l,p}` (the largest if none does); modules
    are rounded up. Levels and modules never shrink from one period to the next (a facility
    stays open and only grows), so the plan respects continuity and growth. Returns column ->
    value for the level and module columns."""
    facility = m.level_facility
    capacity = m.level_capacity
    levels_of: dict[str, list[int]] = {}
    for j, f in enumerate(facility):
        levels_of.setdefault(f, []).append(j)
    years = list(m.PERIODS)
    values: dict[int, float] = {}
    for levels in levels_of.values():
        by_size = sorted(levels, key=lambda j: capacity[j])
        built = -1.0  # capacity of the level chosen so far (levels only grow)
        for p in years:
            cols = [hm.cols.get(id(m.level_open[j, p])) for j in levels]
            y = np.array([x[c] if c is not None else 0.0 for c in cols])
            used = float(np.dot(y, capacity[levels]))
            if y.sum() >= threshold or built >= 0:
                need = max(used, built)
                choice = next((j for j in by_size if capacity[j] >= need - 1e-9), by_size[-1])
                built = float(capacity[choice])
            else:
                choice = None
            for j, c in zip(levels, cols, strict=True):
                if c is not None:
                    values[c] = 1.0 if j == choice else 0.0
    if hasattr(m, "modules"):
        for f in m.MODULAR:
            most = 0.0
            for p in years:
                c = hm.cols.get(id(m.modules[f, p]))
                if c is not None:
                    most = max(most, float(np.ceil(x[c] - 1e-6)))
                    values[c] = most
    return values


def lp_round_start(m: pyo.ConcreteModel, hm: HighsModel, options: SolveOptions) -> bool:
    """Give HiGHS a first plan from its LP relaxation: solve the LP with every integer column
    continuous, round (:func:`rounded_levels`, facilities the LP opens at least halfway, then,
    if that plan has no feasible flows, every facility it uses at all) and repair the flows with
    the LP the rounded decisions leave. Falls back to :func:`open_all_start`. Returns whether a
    start was set."""
    highs = hm.h
    ints = np.flatnonzero(hm.matrix.integer).astype(np.int32)
    n = len(ints)
    if not n or not hasattr(m, "level_facility"):
        return open_all_start(m, hm, options)
    if hm.abandoned or interrupts.requested() is not None:
        return False
    console = highs.getOptionValue("log_to_console")[1]
    highs.setOptionValue("log_to_console", False)
    if options.time_limit is not None:  # leave most of the time to the repair LP and the MIP
        highs.setOptionValue("time_limit", max(0.1, float(options.time_limit) / 3))
    highs.setOptionValue("solver", "simplex")  # the MIP's root LP is a simplex too; IPM was slower here
    highs.changeColsIntegrality(n, ints, np.full(n, highspy.HighsVarType.kContinuous))
    try:
        ok = run_highs(hm) and highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        x = np.asarray(highs.getSolution().col_value) if ok else None
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.changeColsIntegrality(n, ints, np.full(n, highspy.HighsVarType.kInteger))
            highs.setOptionValue("log_to_console", console)
            highs.setOptionValue("solver", "choose")
            _set_limits(highs, options)
    if x is None:
        return open_all_start(m, hm, options)  # does nothing after a stop request
    for threshold in (0.5, 1e-6):
        fixed = rounded_levels(m, hm, x, threshold)
        cols = np.fromiter(fixed, dtype=np.int32, count=len(fixed))
        if start_from_integers(hm, cols, np.fromiter(fixed.values(), dtype=float, count=len(fixed)), options):
            return True
    return open_all_start(m, hm, options)


def first_plan(options: SolveOptions) -> str:
    """The start ``options`` ask for, with "auto" resolved: "open_all", "lp_round" or "none"."""
    if options.start == "auto":
        return "open_all" if options.time_limit is not None else "none"
    return options.start


class _Watch:
    """What is known of a running MIP from HiGHS's callbacks: the last figures (for the progress
    line, fed also while HiGHS reports nothing, e.g. in presolve or the root LP) and the best
    plan reported (the plan kept if HiGHS has to be left running after a stop request)."""

    def __init__(self, hm: HighsModel, progress: object | None, begin: float):
        self.hm, self.progress, self.begin = hm, progress, begin
        self.best: np.ndarray | None = None
        self.figures = (math.inf, -math.inf, math.inf)  # best plan, bound, gap
        hm.h.cbMipInterrupt.subscribe(self.check)
        hm.h.cbMipImprovingSolution.subscribe(self.improved)

    def check(self, event: object) -> None:
        if self.hm.abandoned:
            return
        o = event.data_out  # type: ignore[attr-defined]
        self.figures = (o.mip_primal_bound, o.mip_dual_bound, o.mip_gap)
        self.tick(time.perf_counter() - self.begin)

    def improved(self, event: object) -> None:
        if not self.hm.abandoned:
            self.best = np.array(event.data_out.mip_solution, dtype=float)  # type: ignore[attr-defined]

    def tick(self, _seconds: float) -> None:
        """Feed the progress line (the progress object throttles): seconds since the solve began
        (the start's LPs included), best plan, bound and gap as last reported."""
        if self.progress is not None and not self.hm.abandoned:
            self.progress.solver(time.perf_counter() - self.begin, *self.figures)  # type: ignore[attr-defined]

    def close(self) -> None:
        if not self.hm.abandoned:  # a HiGHS left running is not touched, not even its callbacks
            self.hm.h.cbMipInterrupt.unsubscribe(self.check)
            self.hm.h.cbMipImprovingSolution.unsubscribe(self.improved)


def _known_plan_outcome(hm: HighsModel, watch: _Watch, version: str, elapsed: float, log: str,
                        extra: dict[str, object]) -> SolveOutcome:
    """The outcome of an interrupted solve whose HiGHS holds no plan to ask for: it was left
    running after the stop request (it did not return within
    :data:`network_opt.interrupts.GRACE_S`, e.g. in presolve or the MIP's root LP), or it stopped
    before using the start. The last improving plan HiGHS reported, else the start plan, is
    loaded into the model's variables."""
    x = watch.best if watch.best is not None else hm.start_values
    extra["mip_node_count"] = None
    extra["abandoned"] = hm.abandoned
    if x is None or len(x) != len(hm.columns):
        return SolveOutcome(status="no_solution", termination="interrupted", objective=None, bound=None,
                            mip_gap=None, solver_version=version, solve_s=elapsed, log=log, extra=extra)
    hm.load_values(x)
    objective = hm.objective_of(x)
    bound = float(watch.figures[1]) if math.isfinite(watch.figures[1]) else None
    if bound is not None and bound > objective:
        bound = None
    return SolveOutcome(status="feasible", termination="interrupted", objective=objective, bound=bound,
                        mip_gap=relative_gap(objective, bound), solver_version=version, solve_s=elapsed, log=log,
                        extra=extra)


def _status(model_status: object, has_plan: bool, interrupted: bool) -> str:
    s = highspy.HighsModelStatus
    if model_status in (s.kInfeasible, s.kUnboundedOrInfeasible):
        return "infeasible"
    if model_status == s.kUnbounded:
        return "unbounded"
    if model_status == s.kOptimal and has_plan and not interrupted:
        return "optimal"
    return "feasible" if has_plan else "no_solution"


def trivially_infeasible(exc: TriviallyInfeasible) -> SolveOutcome:
    """The outcome of a model that could not even be compiled: a constant constraint fails."""
    return SolveOutcome(status="infeasible", termination="provenInfeasible", objective=None, bound=None,
                        mip_gap=None, log=str(exc),
                        extra={"nonzeros": None, "solver": None, "duals": None, "numerics": {}, "start": None})


def solve_model(m: pyo.ConcreteModel, options: SolveOptions | None = None, solver: HighsModel | None = None,
                duals: bool = False, progress: object | None = None,
                start: np.ndarray | None = None) -> SolveOutcome:
    """Solve ``m`` with HiGHS and load the incumbent (if any) into the model's variables.

    ``solver``: a :class:`~network_opt.handoff.HighsModel` already holding ``m`` (e.g. updated
    in place from an earlier scenario); the one used is returned in ``outcome.extra["solver"]``.
    ``duals``: also read the constraint duals (an LP only) into ``outcome.extra["duals"]``.
    ``progress``: a :class:`~network_opt.progress.Progress` fed with the MIP's figures while HiGHS
    runs. ``start``: values of the integer columns to start from (an earlier plan of a model with
    the same columns) instead of ``options.start``. ``outcome.extra["start"]`` tells which start
    HiGHS was given: ``"given"`` (``start``), ``"open_all"``, ``"lp_round"`` or None.
    """
    options = options or SolveOptions()
    if options.write_model is not None:
        m.write(str(options.write_model), io_options={"symbolic_solver_labels": True})
    if options.threads is not None:
        # HiGHS refuses a thread count other than the one its process-wide scheduler started
        # with; resetting the scheduler lets a second solve in the same process use --threads.
        highspy.Highs.resetGlobalScheduler(True)
    try:
        hm = solver if solver is not None else HighsModel(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc)
    highs = hm.h
    version = hm.version()
    # 0 (HiGHS decides) when not given: a model re-used from an earlier solve keeps its options
    highs.setOptionValue("threads", int(options.threads) if options.threads is not None else 0)
    _set_limits(highs, options)
    log: list[str] = []
    started: str | None = None

    def collect(event: object) -> None:
        log.append(event.message)  # type: ignore[attr-defined]

    highs.setOptionValue("log_to_console", bool(options.verbose))  # before output_flag: no banner
    highs.setOptionValue("output_flag", True)
    highs.cbLogging.subscribe(collect)
    begin = time.perf_counter()
    hm.start_values = None
    # SIGINT/SIGTERM while in here: HiGHS is asked to stop and returns its incumbent (or is left
    # running after interrupts.GRACE_S with the best plan it reported); between HiGHS runs the
    # request is only noted (no later run starts), so that a plan found is never thrown away
    with interrupts.handling(), interrupts.deferred():
        watch = _Watch(hm, progress, begin)
        try:
            integers = np.flatnonzero(hm.matrix.integer).astype(np.int32)
            if start is not None and len(start) == len(integers) and start_from_integers(hm, integers, start, options):
                started = "given"
            elif options.warm_start and first_plan(options) == "lp_round" and lp_round_start(m, hm, options):
                started = "lp_round"
            elif options.warm_start and first_plan(options) == "open_all" and open_all_start(m, hm, options):
                started = "open_all"
            if started is not None and hm.start_values is not None:
                watch.figures = (hm.objective_of(hm.start_values), -math.inf, math.inf)
            if not hm.abandoned and interrupts.requested() is None:
                if options.time_limit is not None:  # the start's LP counts against the time limit
                    highs.setOptionValue("time_limit",
                                         max(0.1, float(options.time_limit) - (time.perf_counter() - begin)))
                run_highs(hm, watch.tick)
        finally:
            watch.close()
            if not hm.abandoned:
                highs.cbLogging.unsubscribe(collect)
                highs.setOptionValue("output_flag", False)
        interrupted = interrupts.requested() is not None
    elapsed = time.perf_counter() - begin
    extra: dict[str, object] = {"nonzeros": len(hm.matrix.value), "solver": hm, "duals": None,
                                "numerics": numerics(hm.matrix), "start": started}
    if hm.abandoned:  # HiGHS did not return after the stop request: the best plan it reported
        return _known_plan_outcome(hm, watch, version, elapsed, "".join(log), extra)
    model_status = highs.getModelStatus()
    if model_status == highspy.HighsModelStatus.kInterrupt:
        interrupted = True
    info = highs.getInfo()
    no_optimum = (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible,
                  highspy.HighsModelStatus.kInfeasible)
    # a feasible point of an unbounded model is no plan to report
    has_plan = (model_status != highspy.HighsModelStatus.kNotset and info.primal_solution_status == 2
                and model_status not in no_optimum)  # 2: feasible
    if interrupted and not has_plan:  # stopped before HiGHS used the start (or before the MIP began)
        return _known_plan_outcome(hm, watch, version, elapsed, "".join(log), extra)
    status = _status(model_status, has_plan, bool(interrupted))
    objective = float(info.objective_function_value) if has_plan else None
    is_mip = bool(hm.matrix.integer.any())
    if is_mip:
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    else:
        bound = objective if status == "optimal" else None
    if has_plan:
        solution = highs.getSolution()
        hm.load_values(np.asarray(solution.col_value))
        if duals and solution.dual_valid:
            extra["duals"] = hm.constraint_duals(np.asarray(solution.row_dual))
    extra["mip_node_count"] = int(info.mip_node_count) if is_mip else None
    termination = ("interrupted" if interrupted
                   else TERMINATION.get(model_status, highs.modelStatusToString(model_status)))
    return SolveOutcome(status=status, termination=termination, objective=objective, bound=bound,
                        mip_gap=relative_gap(objective, bound), solver_version=version, solve_s=elapsed,
                        log="".join(log), extra=extra)
