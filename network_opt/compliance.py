"""What each rule costs: shadow prices of targets at the optimal network, and the cost of
compliance (the optimum re-solved without each target family).

Shadow prices come from the LP with the integer decisions (levels, modules) fixed at their
optimal values: HiGHS returns no duals for a MIP. For a target written as
``sum_i (a_i - rho b_i) x_i >= 0`` the envelope theorem gives d(objective)/d(rho) =
dual x sum_i b_i x*_i, which :func:`network_opt.results.target_measures` reports as ``base``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.model.build import TARGET_CONSTRAINTS
from network_opt.model.data import ModelData
from network_opt.solve import SolveOptions, solve_model

INTEGER_VARS = ("level_open", "modules")


def _integer_data(m: pyo.ConcreteModel) -> list[pyo.Var]:
    return [v for name in INTEGER_VARS if hasattr(m, name) for v in getattr(m, name).values()]


def shadow_prices(m: pyo.ConcreteModel, d: ModelData, base: pd.Series, options: SolveOptions | None = None,
                  solver: object | None = None) -> np.ndarray:
    """Marginal cost (currency) of raising each target row's required value by one unit, at the
    optimal network loaded in ``m``; NaN where the target has no constraint. ``m`` keeps its
    values and its integer domains afterwards."""
    prices = np.full(len(d.targets), np.nan)
    families = {metric: getattr(m, name) for metric, name in TARGET_CONSTRAINTS.items() if hasattr(m, name)}
    if not any(len(c) for c in families.values()):
        return prices
    saved = {id(v): (v.value, v.domain) for v in _integer_data(m)}
    flows = {i: m.flow[i].value for i in m.flow}
    for v in _integer_data(m):
        v.fix(round(v.value or 0.0))
        v.domain = pyo.Reals
    try:
        lp = SolveOptions(time_limit=options.time_limit if options else None,
                          threads=options.threads if options else None)
        outcome = solve_model(m, lp, solver=solver, duals=True)
        duals = outcome.extra.get("duals") or {}
        for metric, con in families.items():
            sign = -1.0 if metric == "collection_rate" else 1.0  # a <= row: its dual is <= 0
            for t in con:
                if con[t] in duals:
                    prices[t] = max(0.0, sign * duals[con[t]]) * float(base.get(t, np.nan))
    finally:
        for v in _integer_data(m):
            value, domain = saved[id(v)]
            v.unfix()
            v.domain = domain
            v.set_value(value, skip_validation=True)
        for i, value in flows.items():
            m.flow[i].set_value(value, skip_validation=True)
    return prices


def cost_of_compliance(m: pyo.ConcreteModel, objective: float, options: SolveOptions | None = None,
                       solver: object | None = None) -> pd.DataFrame:
    """Re-solve the MIP without each target family in turn; the difference in objective is what
    complying with that family costs (currency)."""
    rows = []
    for metric, name in TARGET_CONSTRAINTS.items():
        con = getattr(m, name, None)
        if con is None or not len(con):
            continue
        con.deactivate()
        try:
            outcome = solve_model(m, options, solver=solver)
        finally:
            con.activate()
        without = outcome.objective
        rows.append({"target_family": metric, "constraints": len(con), "objective_with": objective,
                     "objective_without": without, "status_without": outcome.status,
                     "cost_of_compliance": None if without is None else objective - without})
    return pd.DataFrame(rows, columns=["target_family", "constraints", "objective_with", "objective_without",
                                       "status_without", "cost_of_compliance"])
