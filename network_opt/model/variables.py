"""Decision variables. Units: tonnes per year for flows, 0/1 for level choices."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.data import ModelData


def add_variables(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Create the sparse index sets and the variables of the model.

    - ``flow[i] >= 0``: tonnes per year on flow row i (a lane in a period);
    - ``level_open[j] in {0, 1}``: facility level row j is chosen (open at that capacity);
    - ``uncollected[s] >= 0`` and ``disposed[s] >= 0``: tonnes per year of supply row s left
      uncollected or disposed of, only when the instance allows it.
    """
    m.FLOWS = pyo.Set(initialize=range(len(d.flows)), ordered=True)
    m.LEVELS = pyo.Set(initialize=range(len(d.levels)), ordered=True)
    m.SUPPLY = pyo.Set(initialize=range(len(d.supply)), ordered=True)
    m.flow = pyo.Var(m.FLOWS, domain=pyo.NonNegativeReals)
    m.level_open = pyo.Var(m.LEVELS, domain=pyo.Binary)
    if d.inst.setting("uncollected.allowed"):
        m.uncollected = pyo.Var(m.SUPPLY, domain=pyo.NonNegativeReals,
                                bounds=lambda _m, s: (0.0, float(d.supply.at[s, "tonnes"])))
    if d.inst.setting("disposal.allowed"):
        m.disposed = pyo.Var(m.SUPPLY, domain=pyo.NonNegativeReals,
                             bounds=lambda _m, s: (0.0, float(d.supply.at[s, "tonnes"])))
