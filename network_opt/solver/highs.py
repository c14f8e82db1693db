"""Solving the Pyomo model with HiGHS in memory (the model is compiled to arrays and passed to
highspy by :mod:`network_opt.solver.handoff`) and mapping its outcome.

Statuses: ``optimal`` (proven within the gap), ``feasible`` (a plan, limits reached),
``infeasible``, ``no_solution`` (limits reached before any plan was found).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.solver.handoff import HighsModel, MatrixModel, TriviallyInfeasible
from network_opt.solver.options import SolveOptions, run_highs, set_limits
from network_opt.solver.starts import first_plan, lp_round_start, open_all_start, start_from_integers


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
    :class:`~network_opt.solver.handoff.MatrixModel` passed to it, or a highspy object to ask), with
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
    :data:`network_opt.common.interrupts.GRACE_S`, e.g. in presolve or the MIP's root LP), or it stopped
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

    ``solver``: a :class:`~network_opt.solver.handoff.HighsModel` already holding ``m`` (e.g. updated
    in place from an earlier scenario); the one used is returned in ``outcome.extra["solver"]``.
    ``duals``: also read the constraint duals (an LP only) into ``outcome.extra["duals"]``.
    ``progress``: a :class:`~network_opt.common.progress.Progress` fed with the MIP's figures while HiGHS
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
    set_limits(highs, options)
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
