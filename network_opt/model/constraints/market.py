"""Second-life market demand (kWh/yr)."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, picked, var_list, weighted


def add_market_demand(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Usable capacity sold to a market stays within its demand.

    .. math:: \sum_{i \in \mathrm{in}(m,p)} e_{k(i)}\, \sigma_{g(i)}\, x_i \le D_{m,p} \quad \forall m, p

    with :math:`e_k` the pack energy (kWh/t) and :math:`\sigma_g` the usable state of health of
    grade g. Pyomo: ``market_demand[m, p]``.
    """
    f = d.flows
    sold = group_rows(f.loc[f["commodity"] == "second_life_packs"], ["destination", "period"])
    kwh = f["usable_kwh_per_t"].to_numpy()
    demand = d.market_demand.set_index(["market", "period"])["demand_kwh"]

    flow = var_list(m.flow)

    def rule(m: pyo.ConcreteModel, mk: str, p: int) -> object:
        rows = sold[(mk, p)]
        return linear(weighted(kwh[rows], picked(flow, rows))) <= float(demand[(mk, p)])

    m.MARKET_PERIODS = pyo.Set(initialize=sorted(sold), dimen=2, ordered=True)
    m.market_demand = pyo.Constraint(m.MARKET_PERIODS, rule=rule)
