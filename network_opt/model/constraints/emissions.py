"""Emissions per period (t CO2e/yr) and their optional cap."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, picked, var_list, weighted


def add_emissions(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Emissions of transport and processing per period, capped where the instance says.

    .. math:: E_p = \sum_{i \in I_p} (\theta_{c(i)} \Delta^{road}_i + \theta_{rail} \Delta^{rail}_i
        + \theta_{sea} \Delta^{sea}_i + \phi_i)\, x_i, \qquad E_p \le \bar E \quad \forall p

    with :math:`\theta_c` t CO2e per t-km of commodity c by road, :math:`\theta_{rail}`,
    :math:`\theta_{sea}` those of rail and sea legs, :math:`\Delta^{m}_i` the km of the lane's route by
    mode m and :math:`\phi_i` the process emissions per tonne at the destination. Pyomo:
    ``emissions[p]`` (expression) and ``emissions_cap[p]`` (when ``emissions.cap_t`` >= 0).
    """
    by_period = group_rows(d.flows, "period")
    co2 = d.flows["co2e_per_t"].to_numpy()
    flow = var_list(m.flow)
    empty = np.array([], dtype=int)

    def emitted(m: pyo.ConcreteModel, p: int) -> object:
        rows = by_period.get(p, empty)
        terms = weighted(co2[rows], picked(flow, rows))
        return linear(terms) if terms else 0.0

    m.emissions = pyo.Expression(m.PERIODS, rule=emitted)
    cap = d.inst.settings.emissions.cap_t
    keys = list(d.years) if cap >= 0 else []

    def rule(m: pyo.ConcreteModel, p: int) -> object:
        expr = m.emissions[p]
        return pyo.Constraint.Feasible if isinstance(expr.expr, (int, float)) else expr <= cap

    m.EMISSION_CAPS = pyo.Set(initialize=keys, ordered=True)
    m.emissions_cap = pyo.Constraint(m.EMISSION_CAPS, rule=rule)
