"""Cost terms per period and the objective (currency, discounted to the first period's year).

The objective is the **net cost to the recycling network**: its costs, plus what it pays the owners
for end-of-life packs (a negative price: gate fees it is paid), minus what it is paid for second-life
packs, recovered material and black mass (at the payables of each buyer). An external refiner's own
costs and revenues are not in it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, picked, var_dict, var_list, weighted

COST_TERMS = ("opening", "closing", "fixed", "collection", "pack_purchase", "transport", "damaged_packaging",
              "processing", "disposal", "uncollected", "carbon", "target_shortfall", "second_life_revenue",
              "material_revenue", "black_mass_revenue", "holding", "end_of_horizon")
#: what the objective is, in words (summary.json ``objective_label``, results.xlsx, docs)
OBJECTIVE_LABEL = ("net cost to the recycling network: costs + pack purchases - revenues (second life, materials "
                   "and black mass at their payables), discounted")


def capital_recovery_factor(rate: float, years: float) -> float:
    """Annuity per unit of investment: r (1+r)^n / ((1+r)^n - 1), or 1/n at r = 0."""
    if rate == 0:
        return 1.0 / years
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


def add_objective(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Net cost to the recycling network: costs plus pack purchases minus revenues, discounted;
    annual terms weighted by the discounted years each operating year stands for; investments per
    investment period P, charged in its first year.

    .. math::
        \min \sum_P \Big[ \alpha_P \sum_f I_{f,P} + \delta_P \sum_f K_f z_{f,P} \Big]
        + \sum_p \Big[ \omega_p \Big(
          \sum_j F_j y_{j,P(p)} + \sum_f F^{mod}_f n_{f,P(p)} + \sum_{s \in S_p} (\kappa_s + \pi^{pack}_s) (S_s - u_s)
          + \sum_{i \in I_p} (t_i + h_i + v_i - r^{SL}_i - r^{M}_i - r^{B}_i) x_i
          + \delta^w \sum_{s} w_s + \upsilon \sum_{s} u_s + \pi^{CO_2} E_p + \lambda \sum_{t \in T_p} \xi_t
          + \sum_{n \in H_p} c^H_n h_n \Big)
          - \sum_{i \in I_p} V^B_i x_i - \sum_{n \in H_p} V^H_n h_n \Big]

    with :math:`\pi^{pack}_s` the price per tonne of collected packs (negative: a gate fee),
    :math:`h_i` the damaged-pack premium per tonne, :math:`r^M_i = \sum_\mu \psi_{k(f),\mu,p} P_{\mu,p} a_{i,\mu}`
    material revenue at the payable :math:`\psi` of the seller's kind (0 into an external refiner) and
    :math:`r^B_i = \sum_\mu \psi^B_{f,\mu,p} P_{\mu,p} c^B_{k,\mu}` black mass sold to an external refiner f;
    :math:`\alpha_P = \delta_P` (upfront opening costs) or the annuity of the investment over
    the remaining horizon (annualised: :math:`\omega_p\,\mathrm{crf} \sum_{P \le P(p)} I_{f,P}` in
    each operating year p); :math:`c^H` the holding cost (currency/(t yr)) of stock :math:`h_n`;
    :math:`V^B_i` the discounted value of the returns after the horizon per annual tonne sold on a
    second-life flow and :math:`V^H_n` that of stock left at the end of the last year
    (``end_values``). Pyomo: ``cost[term, p]`` (one expression per term and operating year) and
    ``total_cost``.
    """
    f, s, lv, fac = d.flows, d.supply, d.levels, d.facilities.set_index("id")
    inst = d.inst
    by_period_flow = group_rows(f, "period")
    by_period_supply = group_rows(s, "period")
    by_period_target = group_rows(d.targets, "period") if len(d.targets) else {}
    by_period_stock = group_rows(d.stock, "period") if len(d.stock) else {}
    of = d.period_of or {p: p for p in d.years}
    stock = var_list(m.stock) if len(d.stock) else []
    holding = d.stock["holding_cost_per_t_year"].to_numpy(dtype=float) if len(d.stock) else np.zeros(0)
    stock_value = d.stock["end_value_per_t"].to_numpy(dtype=float) if len(d.stock) else np.zeros(0)
    beyond = f["end_value_per_t"].to_numpy(dtype=float) if "end_value_per_t" in f else np.zeros(len(f))
    unc = getattr(m, "uncollected", None)
    disp = getattr(m, "disposed", None)
    short = getattr(m, "shortfall", None)
    coef = {
        "transport": f["cost_per_t"].to_numpy(),
        "processing": f["processing_cost_per_t"].to_numpy(),
        "second_life_revenue": -f["second_life_revenue_per_t"].to_numpy(),
        "material_revenue": -f["material_revenue_per_t"].to_numpy(),
        "black_mass_revenue": -f["black_mass_revenue_per_t"].to_numpy(),
        "damaged_packaging": f["damaged_premium_per_t"].to_numpy(),
    }
    ccost, tonnes = s["collection_cost_per_t"].to_numpy(), s["tonnes"].to_numpy()
    pack_price = s["pack_price_per_t"].to_numpy() if "pack_price_per_t" in s else np.zeros(len(s))
    annualised = inst.settings.investment.opening_cost == "annualised"
    crf = capital_recovery_factor(inst.settings.investment.interest_rate,
                                  inst.settings.investment.lifetime_years)

    unit = {f: float(v) for f, v in d.investment_scale.items()}
    flow = var_list(m.flow)
    opened = var_dict(m.level_open)
    level_ids = list(m.LEVELS)
    level_fixed = lv.loc[level_ids, "fixed_cost_per_year"].to_numpy(dtype=float)
    modular = list(m.MODULAR)
    module_fixed = fac.loc[modular, "module_fixed_cost_per_year"].to_numpy(dtype=float)
    no_rows = np.array([], dtype=int)
    uncollected = var_list(unc) if unc is not None else []
    disposed = var_list(disp) if disp is not None else []

    def _less_uncollected(on_all: float, per_uncollected: np.ndarray, rows: np.ndarray) -> Any:
        """A cost paid on every collected tonne: ``on_all`` on the whole supply of ``rows``, plus
        ``per_uncollected`` (minus the rate) on each tonne left uncollected, when that is allowed."""
        if unc is None:
            return on_all
        return on_all + linear(weighted(per_uncollected, picked(uncollected, rows)))

    def opening(m: pyo.ConcreteModel, p: int) -> object:
        if not annualised:  # in the first operating year of the investment period, which it labels
            return d.discount[p] * sum(unit[fc] * m.investment[fc, p] for fc in m.INVESTING) if of[p] == p else 0.0
        paid = [q for q in m.INVESTMENT_PERIODS if q <= of[p]]
        return d.weights[p] * crf * sum(unit[fc] * m.investment[fc, q] for fc in m.INVESTING for q in paid)

    def annual(m: pyo.ConcreteModel, name: str, p: int) -> Any:  # Any: a Pyomo expression or a number
        flows = by_period_flow.get(p, no_rows)
        rows = by_period_supply.get(p, no_rows)
        if name == "fixed":
            return linear(weighted(level_fixed, [opened[(j, of[p])] for j in level_ids]),
                          weighted(module_fixed, [m.modules[fc, of[p]] for fc in modular]))
        if name == "holding":
            held = by_period_stock.get(p, no_rows)
            return linear(weighted(holding[held], picked(stock, held))) if len(held) else 0.0
        if name == "collection":  # packs left uncollected are not collected
            return _less_uncollected(float((ccost[rows] * tonnes[rows]).sum()), -ccost[rows], rows)
        if name == "pack_purchase":  # paid for every collected tonne (disposed ones too), not for uncollected ones
            return _less_uncollected(float((pack_price[rows] * tonnes[rows]).sum()), -pack_price[rows], rows)
        if name == "disposal":
            cost = inst.settings.disposal.cost_per_t
            return linear(weighted(cost, picked(disposed, rows))) if disp is not None else 0.0
        if name == "uncollected":
            cost = inst.settings.uncollected.cost_per_t
            return linear(weighted(cost, picked(uncollected, rows))) if unc is not None else 0.0
        if name == "carbon":
            return inst.settings.emissions.carbon_price * m.emissions[p]
        if name == "target_shortfall":
            penalty = inst.settings.targets.soft_penalty_per_t
            return penalty * sum(short[t] for t in by_period_target.get(p, ())) if short is not None else 0.0
        return linear(weighted(coef[name][flows], picked(flow, flows)))

    def term(m: pyo.ConcreteModel, name: str, p: int) -> object:
        if name == "opening":
            return opening(m, p)
        if name == "closing":
            if of[p] != p:
                return 0.0
            return d.discount[p] * sum(float(fac["closing_cost"][fc]) * m.closed[fc, p] for fc in m.CLOSABLE)
        if name == "end_of_horizon":  # already discounted (to the arrival year, or the horizon's end)
            flows, held = by_period_flow.get(p, no_rows), by_period_stock.get(p, no_rows)
            terms = weighted(-beyond[flows], picked(flow, flows)) + weighted(-stock_value[held], picked(stock, held))
            return linear(terms) if terms else 0.0
        return d.weights[p] * annual(m, name, p)

    m.COST_TERMS = pyo.Set(initialize=COST_TERMS, ordered=True)
    m.cost = pyo.Expression(m.COST_TERMS, m.PERIODS, rule=term)
    m.total_cost = pyo.Objective(expr=sum(m.cost[t, p] for t in COST_TERMS for p in d.years), sense=pyo.minimize)
