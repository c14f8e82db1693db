"""Regulatory targets, one linear constraint per (target, period) in force.

A flow counts towards the jurisdiction where it was collected (end-of-life packs) or where
the refurbisher that rejected it stands (rejects); a target set on a group (e.g. EU27)
covers every member jurisdiction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.model.data import ModelData, jurisdiction_members


def _members_frame(d: ModelData) -> pd.DataFrame:
    pairs = [(t, j) for t, js in jurisdiction_members(d.inst).items() for j in js]
    return pd.DataFrame(pairs, columns=["target_jurisdiction", "jurisdiction"])


def recycled_flows_by_target(d: ModelData, metric: str) -> dict[int, np.ndarray]:
    """For each target row of ``metric``: positions of the flows into recyclers it covers."""
    t = d.targets.loc[d.targets["metric"] == metric].rename_axis("target").reset_index()
    f = d.flows.loc[d.flows["dest_kind"] == "recycler", ["period", "jurisdiction"]].rename_axis("flow").reset_index()
    if t.empty or f.empty:
        return {}
    pairs = (t[["target", "jurisdiction", "period"]].rename(columns={"jurisdiction": "target_jurisdiction"})
             .merge(_members_frame(d), on="target_jurisdiction").merge(f, on=["jurisdiction", "period"]))
    return {int(k): v["flow"].to_numpy() for k, v in pairs.groupby("target")}


def supply_by_target(d: ModelData) -> dict[int, np.ndarray]:
    """For each collection_rate target row: positions of the supply rows it covers."""
    t = d.targets.loc[d.targets["metric"] == "collection_rate"].rename_axis("target").reset_index()
    s = d.supply[["period", "jurisdiction"]].rename_axis("supply").reset_index()
    if t.empty:
        return {}
    pairs = (t[["target", "jurisdiction", "period"]].rename(columns={"jurisdiction": "target_jurisdiction"})
             .merge(_members_frame(d), on="target_jurisdiction").merge(s, on=["jurisdiction", "period"]))
    return {int(k): v["supply"].to_numpy() for k, v in pairs.groupby("target")}


def add_target_collection_rate(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Collected tonnes reach the required share of the supply generated in the jurisdiction.

    .. math:: \sum_{s \in S(J,p)} (S_s - u_s) \ge \rho_t \sum_{s \in S(J,p)} S_s \quad \forall t

    Pyomo: ``target_collection_rate[t]``. Without ``uncollected`` variables every tonne is
    collected and the constraint is not needed.
    """
    groups = supply_by_target(d) if hasattr(m, "uncollected") else {}
    tonnes = d.supply["tonnes"].to_numpy()
    value = d.targets["value"].to_numpy()

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        rows = groups[t]
        total = float(tonnes[rows].sum())
        return sum(m.uncollected[s] for s in rows) <= (1.0 - float(value[t])) * total

    m.COLLECTION_TARGETS = pyo.Set(initialize=sorted(groups), ordered=True)
    m.target_collection_rate = pyo.Constraint(m.COLLECTION_TARGETS, rule=rule)


def add_target_recycling_efficiency(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""The mass recycled is at least the required share of the mass sent to recycling.

    .. math:: \sum_{i \in R(J,p)} (\epsilon_{\tau(i)} - \rho_t)\, x_i \ge 0 \quad \forall t

    with :math:`\epsilon_\tau` the recycling efficiency of the receiving plant's technology.
    Pyomo: ``target_recycling_efficiency[t]``.
    """
    groups = recycled_flows_by_target(d, "recycling_efficiency")
    eff = d.flows["recycling_efficiency"].to_numpy()
    value = d.targets["value"].to_numpy()

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        return sum(float(eff[i] - value[t]) * m.flow[i] for i in groups[t]) >= 0.0

    m.EFFICIENCY_TARGETS = pyo.Set(initialize=sorted(groups), ordered=True)
    m.target_recycling_efficiency = pyo.Constraint(m.EFFICIENCY_TARGETS, rule=rule)


def add_target_material_recovery(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Recovered material is at least the required share of that material sent to recycling.

    .. math:: \sum_{i \in R(J,p)} c_{k(i),\mu}\, (\gamma_{\tau(i),\mu} - \rho_t)\, x_i \ge 0 \quad \forall t

    with :math:`c_{k,\mu}` the content (kg/t) and :math:`\gamma_{\tau,\mu}` the recovery yield.
    Pyomo: ``target_material_recovery[t]``.
    """
    groups = recycled_flows_by_target(d, "material_recovery")
    value = d.targets["value"].to_numpy()
    material = d.targets["material"].to_numpy()
    chem = d.flows["chemistry"].to_numpy()
    tech = d.flows["technology"].to_numpy()

    def coef(i: int, t: int) -> float:
        mu = material[t]
        return float(d.content.at[chem[i], mu] * (d.recovery.at[tech[i], mu] - value[t]))

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        terms = [(coef(i, t), i) for i in groups[t]]
        terms = [(c, i) for c, i in terms if c != 0.0]
        if not terms:
            return pyo.Constraint.Skip
        return sum(c * m.flow[i] for c, i in terms) >= 0.0

    m.RECOVERY_TARGETS = pyo.Set(initialize=sorted(groups), ordered=True)
    m.target_material_recovery = pyo.Constraint(m.RECOVERY_TARGETS, rule=rule)
