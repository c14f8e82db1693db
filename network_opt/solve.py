"""Solving the Pyomo model with HiGHS in memory (Pyomo's ``pyomo.contrib.solver`` HiGHS
interface, which passes the matrix to highspy without files) and mapping its outcome.

Statuses: ``optimal`` (proven within the gap), ``feasible`` (a plan, limits reached),
``infeasible``, ``no_solution`` (limits reached before any plan was found).
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import highspy
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs


@dataclass
class SolveOptions:
    """Solver settings: seconds, relative MIP gap, threads (None: HiGHS decides)."""

    time_limit: float | None = None
    mip_gap: float = 1e-4
    threads: int | None = None
    verbose: bool = False
    write_model: Path | None = None
    warm_start: bool = True  # start the MIP from the plan with every facility open (see open_all_start)


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


class _DropInterruptNotice(logging.Filter):
    """Pyomo logs HiGHS's interrupt status as unhandled; we handle it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kInterrupt" not in record.getMessage()


logging.getLogger("pyomo.contrib.solver.solvers.highs").addFilter(_DropInterruptNotice())

#: Ratio of the largest to the smallest non-zero coefficient above which results may be unreliable.
NUMERIC_RANGE_LIMIT = 1e9


def numerics(highs: object) -> dict[str, object]:
    """Ranges of the non-zero matrix, cost and bound coefficients HiGHS received, with warnings
    where a range exceeds :data:`NUMERIC_RANGE_LIMIT` (scale the instance's units if so)."""
    import numpy as np

    lp = highs.getLp()  # type: ignore[attr-defined]
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


def open_all_start(m: pyo.ConcreteModel, opt: Highs, options: SolveOptions) -> bool:
    """Give HiGHS a first plan: every facility open at its largest level (and all modules) in
    every period, with the flows of the LP that this leaves. Such a plan exists whenever any plan
    does (opening more never removes an option), so a time limit always returns a plan. Works on
    the highspy model in place and restores it; returns whether a start was set."""
    import numpy as np

    highs = opt._solver_model  # the interface keeps its highspy object privately
    cols = opt._pyomo_var_to_solver_var_map
    if not hasattr(m, "level_open") or not len(m.level_open):
        return False
    fixed: dict[int, float] = {}
    largest = set(m.LARGEST_LEVELS)
    for (j, _p), v in m.level_open.items():
        fixed[cols[id(v)]] = 1.0 if j in largest else 0.0
    if hasattr(m, "modules"):
        for v in m.modules.values():
            fixed[cols[id(v)]] = float(v.ub)
    idx = np.fromiter(fixed, dtype=np.int32)
    vals = np.fromiter(fixed.values(), dtype=float)
    lp = highs.getLp()
    lower, upper = np.asarray(lp.col_lower_)[idx], np.asarray(lp.col_upper_)[idx]
    n = len(idx)
    highs.changeColsIntegrality(n, idx, np.full(n, highspy.HighsVarType.kContinuous))
    highs.changeColsBounds(n, idx, vals, vals)
    highs.setOptionValue("output_flag", False)
    highs.HandleKeyboardInterrupt = True  # so that Ctrl-C (see _cancel_on_sigint) can stop this LP too
    if options.threads is not None:  # the first run fixes the scheduler's thread count for the MIP too
        highs.setOptionValue("threads", int(options.threads))
    if options.time_limit is not None:
        highs.setOptionValue("time_limit", float(options.time_limit))
    try:
        highs.run()
        ok = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        start = list(highs.getSolution().col_value) if ok else None
    finally:
        highs.changeColsBounds(n, idx, lower, upper)
        highs.changeColsIntegrality(n, idx, np.full(n, highspy.HighsVarType.kInteger))
        highs.setOptionValue("output_flag", True)
    if start is None:
        return False
    solution = highspy.HighsSolution()
    solution.col_value = start
    solution.value_valid = True
    highs.setSolution(solution)
    return True


def _report_progress(opt: Highs, progress: object) -> None:
    """Feed the MIP's running time, best plan, bound and gap to ``progress`` from HiGHS's
    interrupt-check callback (called often; the progress object throttles)."""
    highs = opt._solver_model  # the interface keeps its highspy object privately

    def callback(event: object) -> None:
        o = event.data_out  # type: ignore[attr-defined]
        progress.solver(o.running_time, o.mip_primal_bound, o.mip_dual_bound, o.mip_gap)  # type: ignore[attr-defined]

    highs.cbMipInterrupt += callback


@contextmanager
def _cancel_on_sigint(opt: Highs) -> Iterator[list[bool]]:
    """While HiGHS runs, Ctrl-C asks it to stop (it returns its incumbent) instead of killing the
    process. HiGHS checks the request in its interrupt callbacks, which run Python code in the main
    thread, so the handler gets its turn. Yields a list that is non-empty if it was interrupted."""
    interrupted: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(_signum: int, _frame: object) -> None:
        interrupted.append(True)
        highs = getattr(opt, "_solver_model", None)
        if highs is not None:
            highs.cancelSolve()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def solve_model(m: pyo.ConcreteModel, options: SolveOptions | None = None, solver: Highs | None = None,
                duals: bool = False, progress: object | None = None) -> SolveOutcome:
    """Solve ``m`` with HiGHS and load the incumbent (if any) into the model's variables.

    ``solver``: a HiGHS interface that solved ``m`` before (persistent: only the changes are
    passed on); the one used is returned in ``outcome.extra["solver"]``. ``duals``: also read the
    constraint duals (an LP only) into ``outcome.extra["duals"]``. ``progress``: a
    :class:`~network_opt.progress.Progress` fed with the MIP's figures while HiGHS runs.
    """
    options = options or SolveOptions()
    if options.write_model is not None:
        m.write(str(options.write_model), io_options={"symbolic_solver_labels": True})
    opt = solver if solver is not None else Highs()
    kwargs: dict[str, object] = {
        "tee": [sys.stdout] if options.verbose else False,
        "load_solutions": False,
        "raise_exception_on_nonoptimal_result": False,
        "rel_gap": float(options.mip_gap),
    }
    if options.time_limit is not None:
        kwargs["time_limit"] = float(options.time_limit)
    if options.threads is not None:
        kwargs["threads"] = int(options.threads)
        # HiGHS refuses a thread count other than the one its process-wide scheduler started
        # with; resetting the scheduler lets a second solve in the same process use --threads.
        highspy.Highs.resetGlobalScheduler(True)
    if solver is None and (progress is not None or options.warm_start):
        opt.set_instance(m)  # so that the highspy object exists before the run
    if progress is not None:
        _report_progress(opt, progress)
    start = time.perf_counter()
    with _cancel_on_sigint(opt) as interrupted:
        if options.warm_start and solver is None:
            open_all_start(m, opt, options)
            if options.time_limit is not None:  # the start's LP counts against the time limit
                kwargs["time_limit"] = max(0.1, float(options.time_limit) - (time.perf_counter() - start))
        res = None if interrupted else opt.solve(m, **kwargs)
    elapsed = time.perf_counter() - start
    version = ".".join(str(v) for v in opt.version())
    # matrix size as HiGHS received it (the interface keeps its highspy object privately)
    highs = getattr(opt, "_solver_model", None)
    nonzeros = int(highs.getNumNz()) if highs is not None else None
    numeric = numerics(highs) if highs is not None else {}
    if res is None:  # interrupted before the MIP started
        return SolveOutcome(status="no_solution", termination="interrupted", objective=None, bound=None,
                            mip_gap=None, solver_version=version, solve_s=elapsed,
                            extra={"nonzeros": nonzeros, "solver": opt, "duals": None, "numerics": numeric})

    tc = res.termination_condition
    has_plan = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if tc in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded,
              TerminationCondition.locallyInfeasible):
        status = "infeasible"
    elif tc == TerminationCondition.unbounded:
        status = "unbounded"
    elif tc == TerminationCondition.convergenceCriteriaSatisfied and has_plan and not interrupted:
        status = "optimal"
    elif has_plan:
        status = "feasible"
    else:
        status = "no_solution"
    objective = res.incumbent_objective if has_plan else None
    bound = res.objective_bound
    dual_values = None
    if has_plan:
        if duals:
            dual_values = res.solution_loader.get_duals()
        res.solution_loader.load_vars()
    return SolveOutcome(
        status=status,
        termination="interrupted" if interrupted else tc.name,
        objective=objective,
        bound=bound,
        mip_gap=relative_gap(objective, bound),
        solver_version=version,
        solve_s=elapsed,
        log=res.solver_log or "",
        extra={"mip_node_count": getattr(res.extra_info, "mip_node_count", None), "nonzeros": nonzeros,
               "solver": opt, "duals": dual_values, "numerics": numeric},
    )
