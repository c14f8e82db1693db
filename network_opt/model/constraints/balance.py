"""Mass balance at collection points and refurbishers (t/yr)."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.network import FIT


def add_supply_balance(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Every tonne of supply is shipped, disposed of or left uncollected.

    .. math:: \sum_{i \in \mathrm{out}(s)} x_i + w_s + u_s = S_s \quad \forall s

    Pyomo: ``supply_balance[s]``; ``w`` is ``disposed``, ``u`` is ``uncollected`` (present only
    when the instance allows them).
    """
    out = group_rows(d.flows.loc[d.flows["supply_id"] >= 0], "supply_id")
    tonnes = d.supply["tonnes"].to_numpy()
    disposed = getattr(m, "disposed", None)
    uncollected = getattr(m, "uncollected", None)

    def rule(m: pyo.ConcreteModel, s: int) -> object:
        body = sum(m.flow[i] for i in out.get(s, ()))
        if disposed is not None:
            body = body + disposed[s]
        if uncollected is not None:
            body = body + uncollected[s]
        if isinstance(body, int):  # nothing can take this supply: leave it to validation
            return pyo.Constraint.Infeasible
        return body == float(tonnes[s])

    m.supply_balance = pyo.Constraint(m.SUPPLY, rule=rule)


def _refurbisher_groups(d: ModelData) -> tuple[list[tuple[str, str, int]], dict, dict, dict]:
    f = d.flows
    inflow = group_rows(f.loc[(f["dest_kind"] == "refurbisher") & (f["grade"] == FIT)],
                        ["destination", "chemistry", "period"])
    sold = group_rows(f.loc[f["commodity"] == "second_life_packs"], ["origin", "chemistry", "period"])
    rejected = group_rows(f.loc[f["commodity"] == "rejects"], ["origin", "chemistry", "period"])
    return sorted(inflow), inflow, sold, rejected


def add_refurbisher_output(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Packs sold into second life equal the tested-good share of the fit packs received.

    .. math:: \sum_{i \in \mathrm{sold}(r,k,p)} x_i = \eta_r \sum_{i \in \mathrm{in}(r,k,p)} x_i
              \quad \forall (r,k,p)

    Pyomo: ``refurbisher_output[r, k, p]``; :math:`\eta_r` is ``facilities.test_yield``.
    """
    keys, inflow, sold, _ = _refurbisher_groups(d)
    eta = d.facilities.set_index("id")["test_yield"]

    def rule(m: pyo.ConcreteModel, r: str, k: str, p: int) -> object:
        out = sum(m.flow[i] for i in sold.get((r, k, p), ()))
        return out == float(eta[r]) * sum(m.flow[i] for i in inflow[(r, k, p)])

    m.REFURB_KP = pyo.Set(initialize=keys, dimen=3, ordered=True)
    m.refurbisher_output = pyo.Constraint(m.REFURB_KP, rule=rule)


def add_refurbisher_rejects(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Packs failing the test are sent to recycling.

    .. math:: \sum_{i \in \mathrm{rej}(r,k,p)} x_i = (1-\eta_r) \sum_{i \in \mathrm{in}(r,k,p)} x_i
              \quad \forall (r,k,p): \eta_r < 1

    Pyomo: ``refurbisher_rejects[r, k, p]``.
    """
    keys, inflow, _, rejected = _refurbisher_groups(d)
    eta = d.facilities.set_index("id")["test_yield"]
    keys = [key for key in keys if eta[key[0]] < 1.0]

    def rule(m: pyo.ConcreteModel, r: str, k: str, p: int) -> object:
        out = sum(m.flow[i] for i in rejected.get((r, k, p), ()))
        return out == (1.0 - float(eta[r])) * sum(m.flow[i] for i in inflow[(r, k, p)])

    m.REJECT_KP = pyo.Set(initialize=keys, dimen=3, ordered=True)
    m.refurbisher_rejects = pyo.Constraint(m.REJECT_KP, rule=rule)
