"""Mass balance at collection points, refurbishers, pre-processors and markets (t/yr)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, picked, var_list, weighted


def add_supply_balance(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Every tonne of supply is shipped, disposed of, left uncollected or (with stock) kept at the
    collection point for a later year.

    .. math:: \sum_{i \in \mathrm{out}(s)} x_i + w_s + u_s + h_{s} - h_{s^-} = S_s \quad \forall s

    with :math:`h_s` the stock of packs of row s (same collection point, chemistry and grade) at
    the end of its operating year and :math:`h_{s^-}` that of the year before (0 without stock).
    Units: t/yr, stock in t (years of one year each). Pyomo: ``supply_balance[s]``; ``w`` is
    ``disposed``, ``u`` is ``uncollected`` (present only when the instance allows them), ``h`` is
    ``stock``.
    """
    out = group_rows(d.flows.loc[d.flows["supply_id"] >= 0], "supply_id")
    tonnes = d.supply["tonnes"].to_numpy()
    disposed = getattr(m, "disposed", None)
    uncollected = getattr(m, "uncollected", None)
    flow = var_list(m.flow)
    extra = [v for v in (disposed, uncollected) if v is not None]
    held: dict[int, list[object]] = {}  # supply row -> + its stock, - the stock of the year before
    if len(d.stock):
        stock = var_list(m.stock)
        packs = d.stock.loc[d.stock["kind"] == "packs"]
        for n, s, prev in zip(packs.index, packs["supply_id"], packs["prev"], strict=True):
            held[int(s)] = [stock[n]] + (weighted(-1.0, [stock[int(prev)]]) if prev >= 0 else [])

    def rule(m: pyo.ConcreteModel, s: int) -> object:
        terms = picked(flow, out.get(s, ())) + [v[s] for v in extra] + held.get(s, [])
        if not terms:  # nothing can take this supply (validation reports why)
            return pyo.Constraint.Infeasible
        return linear(terms) == float(tonnes[s])

    m.supply_balance = pyo.Constraint(m.SUPPLY, rule=rule)


def add_refurbisher_output(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Packs sold into second life equal the tested-good share of the packs received, per grade.

    .. math:: \sum_{i \in \mathrm{sold}(r,k,g,p)} x_i = \eta_r \sum_{i \in \mathrm{in}(r,k,g,p)} x_i
              \quad \forall (r,k,g,p)

    Pyomo: ``refurbisher_output[r, k, g, p]``; :math:`\eta_r` is ``facilities.test_yield``.
    """
    f = d.flows
    inflow = group_rows(f.loc[f["dest_kind"] == "refurbisher"], ["destination", "chemistry", "grade", "period"])
    sold = group_rows(f.loc[f["commodity"] == "second_life_packs"], ["origin", "chemistry", "grade", "period"])
    eta = d.facilities.set_index("id")["test_yield"]

    def rule(m: pyo.ConcreteModel, r: str, k: str, g: str, p: int) -> object:
        out = sum(m.flow[i] for i in sold.get((r, k, g, p), ()))
        return out == float(eta[r]) * sum(m.flow[i] for i in inflow[(r, k, g, p)])

    m.REFURB_KGP = pyo.Set(initialize=sorted(inflow), dimen=4, ordered=True)
    m.refurbisher_output = pyo.Constraint(m.REFURB_KGP, rule=rule)


def add_refurbisher_rejects(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Packs failing the test are sent to recycling.

    .. math:: \sum_{i \in \mathrm{rej}(r,k,p)} x_i = (1-\eta_r) \sum_{g} \sum_{i \in \mathrm{in}(r,k,g,p)} x_i
              \quad \forall (r,k,p): \eta_r < 1

    Pyomo: ``refurbisher_rejects[r, k, p]``.
    """
    f = d.flows
    eta = d.facilities.set_index("id")["test_yield"]
    inflow = group_rows(f.loc[f["dest_kind"] == "refurbisher"], ["destination", "chemistry", "period"])
    rejected = group_rows(f.loc[f["commodity"] == "rejects"], ["origin", "chemistry", "period"])
    keys = [key for key in sorted(inflow) if eta[key[0]] < 1.0]

    def rule(m: pyo.ConcreteModel, r: str, k: str, p: int) -> object:
        out = sum(m.flow[i] for i in rejected.get((r, k, p), ()))
        return out == (1.0 - float(eta[r])) * sum(m.flow[i] for i in inflow[(r, k, p)])

    m.REJECT_KP = pyo.Set(initialize=keys, dimen=3, ordered=True)
    m.refurbisher_rejects = pyo.Constraint(m.REJECT_KP, rule=rule)


def add_preprocessor_output(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Pre-processing turns packs into black mass at the technology's yield, keeping the
    chemistry and the jurisdiction the packs count towards; with stock, black mass may wait at the
    pre-processor for a later year.

    .. math:: \sum_{i \in \mathrm{bm}(f,k,J,p)} x_i + h_{f,k,J,p} - h_{f,k,J,p-1}
              = \beta_{\tau(f)} \sum_{i \in \mathrm{in}(f,k,J,p)} x_i \quad \forall (f,k,J,p)

    Pyomo: ``preprocessor_output[f, k, J, p]``; :math:`\beta_\tau` is ``technologies.black_mass_yield``,
    :math:`h` the black-mass ``stock`` (t at the end of an operating year; 0 without stock). Units: t/yr.
    Black mass with no lane to a refiner forces the input to zero only if :math:`\beta > 0`.
    """
    f = d.flows
    key = ["chemistry", "jurisdiction", "period"]
    inflow = group_rows(f.loc[f["dest_kind"] == "preprocessor"], ["destination", *key])
    out = group_rows(f.loc[f["commodity"] == "black_mass"], ["origin", *key])
    beta = f["black_mass_yield"].to_numpy()
    fac_tech = d.facilities.set_index("id")["technology"]
    tech_beta = d.inst["technologies"].set_index("id")["black_mass_yield"]
    held: dict[tuple[str, str, str, int], list[object]] = {}
    if len(d.stock):
        stock = var_list(m.stock)
        bm = d.stock.loc[d.stock["kind"] == "black_mass"]
        for n, h, k, j, p, prev in zip(bm.index, bm["holder"], bm["chemistry"], bm["jurisdiction"], bm["period"],
                                       bm["prev"], strict=True):
            held[(str(h), str(k), str(j), int(p))] = [stock[n]] + (weighted(-1.0, [stock[int(prev)]])
                                                                   if prev >= 0 else [])

    flow = var_list(m.flow)

    def rule(m: pyo.ConcreteModel, fac: str, k: str, j: str, p: int) -> object:
        rows = inflow.get((fac, k, j, p), np.zeros(0, dtype=int))
        stocked = held.get((fac, k, j, p))
        if stocked is None:
            return sum(m.flow[i] for i in out.get((fac, k, j, p), ())) == float(beta[rows[0]]) * sum(
                m.flow[i] for i in rows)
        made = float(beta[rows[0]]) if len(rows) else float(tech_beta[fac_tech[fac]])
        return linear(picked(flow, out.get((fac, k, j, p), ())), stocked,
                      weighted(-made, picked(flow, rows))) == 0.0

    m.PREPROCESS_KJP = pyo.Set(initialize=sorted(set(inflow) | set(held)), dimen=4, ordered=True)
    m.preprocessor_output = pyo.Constraint(m.PREPROCESS_KJP, rule=rule)


def add_returns_balance(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Packs sold into second life come back for recycling after the application's duration.

    .. math:: \sum_{i \in \mathrm{ret}(m,k,q)} x_i = \sum_{p} R^{a(m)}_{p,q} \sum_{i \in \mathrm{sold}(m,k,p)} x_i
              \quad \forall (m,k,q)

    with :math:`R^a_{p,q}` the annual tonnes arriving in period q per annual tonne sold in p
    (``second_life_returns``). Pyomo: ``returns_balance[m, k, q]``.
    """
    f = d.flows
    app: pd.Series | dict[str, str] = d.inst["markets"].set_index("id")["application"] if len(d.inst["markets"]) else {}
    sold = group_rows(f.loc[f["commodity"] == "second_life_packs"], ["destination", "chemistry", "period"])
    back = group_rows(f.loc[f["commodity"] == "returns"], ["origin", "chemistry", "period"])
    index = {p: n for n, p in enumerate(d.years)}
    keys = set()
    for (mk, k, p) in sold:
        r = d.returns.get(str(app[mk]))
        if r is not None:
            keys |= {(mk, k, d.years[q]) for q in np.nonzero(r[index[p]] > 0)[0]}

    def rule(m: pyo.ConcreteModel, mk: str, k: str, q: int) -> object:
        r = d.returns[str(app[mk])]
        arriving = sum(float(r[index[p], index[q]]) * m.flow[i] for p in d.years if r[index[p], index[q]] > 0
                       for i in sold.get((mk, k, p), ()))
        return sum(m.flow[i] for i in back.get((mk, k, q), ())) == arriving

    m.RETURN_KQ = pyo.Set(initialize=sorted(keys), dimen=3, ordered=True)
    m.returns_balance = pyo.Constraint(m.RETURN_KQ, rule=rule)
