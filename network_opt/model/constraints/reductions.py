"""Orderings and fixings among candidate facilities (``model.candidate_reductions``)."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, var_dict, weighted
from network_opt.model.reductions import find_reductions


def add_candidate_reductions(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Dominance and symmetry among candidates (``model.candidate_reductions``, off by default), found
    by :func:`network_opt.model.reductions.find_reductions` before the rows are made:

    .. math:: \sum_{l} y_{D,l,p} \le \sum_{l} y_{E,l,p} \quad \forall (D, E, p) \in O, \qquad
              \sum_{l} y_{D,l,p} \le 0 \quad \forall D \in Z,\ p

    :math:`O`: D a twin of E (every investment period, or only the first when one of them can close) or
    dominated by E (a single investment period); :math:`Z`: dominated candidates whose dominating one can
    take all their flows. The record is kept on ``d`` (run log, summary.json, the open-all start).
    Units: none (0/1). Pyomo: ``candidate_order[D, E, p]`` and ``candidate_closed[D, p]``.
    """
    if not d.inst.settings.model.candidate_reductions:
        return
    found = find_reductions(d)
    by_fac = {f: rows.tolist() for f, rows in group_rows(d.levels, "facility").items()}
    y = var_dict(m.level_open)
    order = [(lo, hi, p) for lo, hi, _k in found.orders for p in found.periods[(lo, hi)]]
    m.CANDIDATE_ORDER = pyo.Set(initialize=order, dimen=3, ordered=True)
    m.candidate_order = pyo.Constraint(
        m.CANDIDATE_ORDER, rule=lambda m, lo, hi, p: linear(
            weighted(1.0, [y[(j, p)] for j in by_fac[lo]]), weighted(-1.0, [y[(j, p)] for j in by_fac[hi]])) <= 0.0)
    periods = list(d.investment_years or d.years)
    closed = [(f, p) for f in sorted(found.closed) for p in periods]
    m.CANDIDATE_CLOSED = pyo.Set(initialize=closed, dimen=2, ordered=True)
    m.candidate_closed = pyo.Constraint(
        m.CANDIDATE_CLOSED, rule=lambda m, f, p: linear(weighted(1.0, [y[(j, p)] for j in by_fac[f]])) <= 0.0)
