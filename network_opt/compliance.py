"""What each rule costs: shadow prices of targets at the optimal network, and the cost of
compliance (the optimum re-solved without each target family).

Shadow prices come from the LP with the integer decisions (levels, modules) fixed at their
optimal values: HiGHS returns no duals for a MIP. For a target written as
``sum_i (a_i - rho b_i) x_i >= 0`` the envelope theorem gives d(objective)/d(rho) =
dual x sum_i b_i x*_i, which :func:`network_opt.results.target_measures` reports as ``base``.

Both re-solves work on the HiGHS model the MIP solve left behind, changing column integrality
and bounds or row bounds in place and restoring them afterwards. Going through Pyomo's
persistent interface instead (fixing variables, deactivating constraints) makes it re-generate
every affected row in Python, which took longer than the MIP itself on mid-size instances.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.handoff import HighsModel
from network_opt.model.build import TARGET_CONSTRAINTS
from network_opt.model.data import ModelData
from network_opt.solve import SolveOptions, relative_gap

INTEGER_VARS = ("level_open", "modules")


class _HighsView:
    """The highspy model of a :class:`~network_opt.handoff.HighsModel`, with its Pyomo-to-HiGHS
    index maps."""

    def __init__(self, solver: HighsModel):
        self.h: highspy.Highs = solver.h
        self.cols: dict[int, int] = solver.cols
        self.rows: dict[object, int] = solver.rows

    def run(self, options: SolveOptions | None) -> None:
        h = self.h
        h.setOptionValue("output_flag", bool(options and options.verbose))
        if options and options.time_limit is not None:
            h.setOptionValue("time_limit", float(options.time_limit))
        h.run()

    @contextmanager
    def integers_fixed(self, m: pyo.ConcreteModel) -> Iterator[None]:
        """Integer columns made continuous and fixed at their rounded values, then restored."""
        data = [v for name in INTEGER_VARS if hasattr(m, name) for v in getattr(m, name).values()]
        data = [v for v in data if id(v) in self.cols]  # a variable in no row or cost is not passed
        cols = np.array([self.cols[id(v)] for v in data], dtype=np.int32)
        lp = self.h.getLp()
        lower = np.asarray(lp.col_lower_)[cols]
        upper = np.asarray(lp.col_upper_)[cols]
        values = np.array([round(v.value or 0.0) for v in data], dtype=float)
        n = len(cols)
        cont = np.full(n, highspy.HighsVarType.kContinuous)
        integer = np.full(n, highspy.HighsVarType.kInteger)
        try:
            if n:
                self.h.changeColsIntegrality(n, cols, cont)
                self.h.changeColsBounds(n, cols, values, values)
            yield
        finally:
            if n:
                self.h.changeColsBounds(n, cols, lower, upper)
                self.h.changeColsIntegrality(n, cols, integer)

    @contextmanager
    def rows_relaxed(self, constraints: list[object]) -> Iterator[None]:
        """Rows made free (-inf, inf), then restored."""
        rows = np.array([self.rows[c] for c in constraints if c in self.rows], dtype=np.int32)
        lp = self.h.getLp()
        lower = np.asarray(lp.row_lower_)[rows]
        upper = np.asarray(lp.row_upper_)[rows]
        n = len(rows)
        inf = highspy.kHighsInf
        try:
            if n:
                self.h.changeRowsBounds(n, rows, np.full(n, -inf), np.full(n, inf))
            yield
        finally:
            if n:
                self.h.changeRowsBounds(n, rows, lower, upper)


def shadow_prices(m: pyo.ConcreteModel, d: ModelData, base: pd.Series, options: SolveOptions | None,
                  solver: HighsModel) -> np.ndarray:
    """Marginal cost (currency) of raising each target row's required value by one unit, at the
    optimal network; NaN where the target has no constraint."""
    prices = np.full(len(d.targets), np.nan)
    families = {metric: getattr(m, name) for metric, name in TARGET_CONSTRAINTS.items() if hasattr(m, name)}
    if not any(len(c) for c in families.values()):
        return prices
    view = _HighsView(solver)
    with view.integers_fixed(m):
        view.run(options)
        ok = view.h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        duals = np.asarray(view.h.getSolution().row_dual) if ok else None
    if duals is None:
        return prices
    sense = -1.0 if view.h.getLp().sense_ == highspy.ObjSense.kMaximize else 1.0
    for metric, con in families.items():
        sign = -1.0 if metric == "collection_rate" else 1.0  # a <= row: its dual is <= 0
        for t in con:
            row = view.rows.get(con[t])
            if row is not None:
                prices[t] = max(0.0, sense * sign * float(duals[row])) * float(base.get(t, math.nan))
    return prices


def cost_of_compliance(m: pyo.ConcreteModel, objective: float, options: SolveOptions | None,
                       solver: HighsModel) -> pd.DataFrame:
    """Re-solve the MIP without each target family in turn; the difference in objective is what
    complying with that family costs (currency). The model's variable values are not touched."""
    view = _HighsView(solver)
    rows = []
    for metric, name in TARGET_CONSTRAINTS.items():
        con = getattr(m, name, None)
        if con is None or not len(con):
            continue
        with view.rows_relaxed(list(con.values())):
            view.run(options)
            info = view.h.getInfo()
            status = view.h.getModelStatus()
            has_plan = info.primal_solution_status == 2
            without = info.objective_function_value if has_plan else None
            gap = relative_gap(without, info.mip_dual_bound) if has_plan else None
        rows.append({"target_family": metric, "constraints": len(con), "objective_with": objective,
                     "objective_without": without, "status_without": view.h.modelStatusToString(status),
                     "mip_gap_without": gap,
                     "cost_of_compliance": None if without is None else objective - without})
    return pd.DataFrame(rows, columns=["target_family", "constraints", "objective_with", "objective_without",
                                       "status_without", "mip_gap_without", "cost_of_compliance"])
