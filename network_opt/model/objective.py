"""Cost terms per period and the objective (currency, undiscounted; weight = period length)."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows

COST_TERMS = ("opening", "fixed", "collection", "transport", "processing", "disposal",
              "uncollected", "second_life_revenue", "material_revenue")


def add_objective(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Net cost: costs minus revenues, each period weighted by the years it stands for.

    .. math::
        \min \sum_{j} O_j y_j + \sum_p \omega_p \Big[ \sum_j F_j y_j
          + \sum_s \kappa_s (S_s - u_s) + \sum_{i \in I_p} (t_i + v_i - r^{SL}_i - r^{M}_i) x_i
          + \delta \sum_{s \in S_p} w_s + \upsilon \sum_{s \in S_p} u_s \Big]

    Pyomo: ``cost[term, p]`` (expressions, one per term and period; ``opening`` is charged in the
    first period) and ``total_cost``.
    """
    f, s, lv = d.flows, d.supply, d.levels
    first = d.years[0]
    by_period_flow = group_rows(f, "period")
    by_period_supply = group_rows(s, "period")
    unc = getattr(m, "uncollected", None)
    disp = getattr(m, "disposed", None)
    disposal_cost = float(d.inst.setting("disposal.cost_per_t"))
    uncollected_cost = float(d.inst.setting("uncollected.cost_per_t"))
    coef = {
        "transport": f["cost_per_t"].to_numpy(),
        "processing": f["processing_cost_per_t"].to_numpy(),
        "second_life_revenue": -f["second_life_revenue_per_t"].to_numpy(),
        "material_revenue": -f["material_revenue_per_t"].to_numpy(),
    }
    ccost, tonnes = s["collection_cost_per_t"].to_numpy(), s["tonnes"].to_numpy()

    def term(m: pyo.ConcreteModel, name: str, p: int) -> object:
        w = float(d.weights[p])
        flows = by_period_flow.get(p, ())
        rows = by_period_supply.get(p, ())
        if name == "opening":
            return sum(float(lv.at[j, "opening_cost"]) * m.level_open[j] for j in m.LEVELS) if p == first else 0.0
        if name == "fixed":
            return w * sum(float(lv.at[j, "fixed_cost_per_year"]) * m.level_open[j] for j in m.LEVELS)
        if name == "collection":
            collected = sum(float(ccost[r] * tonnes[r]) for r in rows)
            if unc is not None:
                collected = collected - sum(float(ccost[r]) * unc[r] for r in rows)
            return w * collected
        if name == "disposal":
            return w * disposal_cost * sum(disp[r] for r in rows) if disp is not None else 0.0
        if name == "uncollected":
            return w * uncollected_cost * sum(unc[r] for r in rows) if unc is not None else 0.0
        c = coef[name]
        return w * sum(float(c[i]) * m.flow[i] for i in flows if c[i] != 0.0)

    m.COST_TERMS = pyo.Set(initialize=COST_TERMS, ordered=True)
    m.PERIODS = pyo.Set(initialize=d.years, ordered=True)
    m.cost = pyo.Expression(m.COST_TERMS, m.PERIODS, rule=term)
    m.total_cost = pyo.Objective(expr=sum(m.cost[t, p] for t in COST_TERMS for p in d.years),
                                 sense=pyo.minimize)
