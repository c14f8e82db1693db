"""The LP relaxation of a MIP held by HiGHS: a proven lower bound on the MIP's optimum (a
minimisation), and the relaxed values of its columns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import highspy
import numpy as np

from network_opt.common import interrupts
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions, run_highs, set_limits


def lp_relaxation(hm: HighsModel, options: SolveOptions, solver: str = "ipm"
                  ) -> tuple[float | None, np.ndarray | None]:
    """:func:`lp_solution` without the row duals."""
    objective, x, _ = lp_solution(hm, options, solver)
    return objective, x


def lp_solution(hm: HighsModel, options: SolveOptions, solver: str = "ipm"
                ) -> tuple[float | None, np.ndarray | None, np.ndarray | None]:
    """Solve ``hm``'s model with every integer column continuous (within its bounds) by HiGHS's
    ``solver`` ("ipm": interior point with crossover, so a vertex and its duals as from the
    simplex; "simplex"; "choose": HiGHS's choice) and restore it. Returns the LP's optimal
    objective (currency: the model's objective), its column values and its row duals (HiGHS's sign:
    positive where a row's lower bound binds), or three Nones when the LP was not solved to
    optimality (time limit, stop request, infeasible). Every plan of the MIP is a plan of the LP,
    so the objective is a lower bound on the MIP's optimum."""
    highs = hm.h
    if hm.abandoned or interrupts.requested() is not None:
        return None, None, None
    set_limits(highs, options, lp=True)
    # the interior point by default: on a generated 600 x 60 x 8 x 3, 68 s against 158 s for
    # HiGHS's choice, the dual simplex (benchmarks/README.md)
    with continuous(hm, solver):
        ok = run_highs(hm) and highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        objective = float(highs.getInfo().objective_function_value) if ok else None
        solution = highs.getSolution() if ok else None
        x = np.asarray(solution.col_value) if solution is not None else None
        duals = np.asarray(solution.row_dual) if solution is not None else None
    return objective, x, duals


@contextmanager
def continuous(hm: HighsModel, solver: str) -> Iterator[None]:
    """Inside, every integer column of the model ``hm`` holds is continuous (within its bounds) and
    HiGHS runs its ``solver`` ("ipm", "simplex", "choose"); both are restored on leaving (not on a
    HiGHS left running after a stop request, which must not be changed)."""
    highs = hm.h
    ints = np.flatnonzero(hm.matrix.integer).astype(np.int32)
    n = len(ints)
    previous = highs.getOptionValue("solver")[1]
    if n:
        highs.changeColsIntegrality(n, ints, np.full(n, highspy.HighsVarType.kContinuous))
    highs.setOptionValue("solver", solver)
    try:
        yield
    finally:
        if not hm.abandoned:
            highs.setOptionValue("solver", previous)
            if n:
                highs.changeColsIntegrality(n, ints, np.full(n, highspy.HighsVarType.kInteger))


__all__ = ["continuous", "lp_relaxation", "lp_solution"]
