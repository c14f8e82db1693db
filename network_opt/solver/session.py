"""Re-solving without rebuilding: a :class:`ResolveSession` keeps the HiGHS model of the last
solve in this process, so that the next scenario or sweep point that changes only numbers
(prices, demands, supply, target values, costs) updates it instead of passing a new one, and
starts the MIP from the last plan.

Mechanism. :func:`network_opt.runs.pipeline.solve` still builds the Pyomo model of every run and compiles
it to arrays (Pyomo's standard-form compiler, :mod:`network_opt.solver.handoff`). With a session that
holds a model, :meth:`~network_opt.solver.handoff.HighsModel.update` compares the new arrays with the
held ones: when the columns, rows (their Pyomo names and indices), sparsity pattern and
integrality are the same, only the costs, column bounds, row bounds and matrix coefficients that
differ are changed in the existing highspy object, which then holds exactly the LP a fresh
handoff would have given (same arrays, checked in ``tests/test_resolve.py``). The MIP then starts
from the integer values (facility levels, modules) of the session's last plan: they are fixed,
the LP that leaves is solved and its solution is given to HiGHS as the starting plan; if that LP
has no solution (the old plan cannot serve the new data), the usual start
(``SolveOptions.start``) is used instead.

Limits.

- The Pyomo model is still built and compiled for every run (that is most of the handoff time);
  what is saved is passing the model to HiGHS and, mostly, MIP time thanks to the start.
- Anything that changes the structure falls back to a normal handoff (the session then keeps the
  new model): a facility, site, lane, market or period added or removed, a matrix coefficient
  becoming zero or non-zero (e.g. a level's capacity or a yield set to 0), a variable or
  constraint that the builder leaves out for the new numbers, a target coming into or going out
  of force, ``--soft-targets`` switched. The run is still correct, only
  not faster.
- HiGHS keeps no search tree between solves: the warm start is a starting plan, not a resumed
  branch and bound. Results equal a fresh solve's up to the MIP gap (with a gap of 0, the same
  optimum; ties between plans of the same cost may be broken differently).
- A session belongs to one thread: the executors keep one per worker process or thread. The
  :class:`~network_opt.results.tables.Solution` of a session run holds no reference to the
  session's highspy model (which the next run changes): only the session does.
- Runs with ``aggregate=`` bypass the session (their clustered model is not kept or reused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from network_opt.solver.handoff import HighsModel, TriviallyInfeasible


@dataclass
class ResolveSession:
    """The HiGHS model of the last solve (``highs``) and the integer column values of the last
    plan found on it (``plan``, in HiGHS column order), or None before the first solve."""

    highs: HighsModel | None = None
    plan: np.ndarray | None = None

    def handoff(self, m: pyo.ConcreteModel) -> tuple[HighsModel, bool]:
        """Make the session's HiGHS model hold ``m``: updated in place when it has the structure
        of the model held, else a new handoff. Returns the model and whether it was in place.
        Raises :class:`~network_opt.solver.handoff.TriviallyInfeasible` (before touching HiGHS) for a
        constraint that cannot hold; any other failure empties the session."""
        try:
            if self.highs is None or self.highs.abandoned:  # abandoned: left running after a stop request
                self.highs = HighsModel(m)
                self.plan = None
                return self.highs, False
            in_place = self.highs.update(m)
        except TriviallyInfeasible:  # raised while compiling: HiGHS still holds the last model
            raise
        except BaseException:  # e.g. Ctrl-C halfway through the changes: HiGHS may hold a mix
            self.clear()
            raise
        if not in_place:
            self.plan = None  # a plan of another structure means nothing here
        return self.highs, in_place

    def start(self) -> np.ndarray | None:
        """The integer values to start the next MIP from, if a plan was recorded."""
        return None if self.plan is None else self.plan.copy()

    def record(self, hm: HighsModel) -> None:
        """Keep the integer column values of the plan HiGHS holds now (call right after the MIP,
        before anything else runs HiGHS on the model). A model whose HiGHS was left running after a
        stop request (``hm.abandoned``) is not asked: the session is emptied instead."""
        if hm.abandoned:
            self.clear()
            return
        integers = np.flatnonzero(hm.matrix.integer)
        self.plan = np.asarray(hm.h.getSolution().col_value, dtype=float)[integers].copy()

    def clear(self) -> None:
        """Forget the model and the plan (frees the highspy model)."""
        self.highs = None
        self.plan = None
