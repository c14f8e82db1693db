"""Facility levels over time, investment, modules, capacity and strong linking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, picked, var_dict, var_list, weighted


def _open(m: pyo.ConcreteModel, rows: np.ndarray, p: int) -> Any:
    # Any: a Pyomo expression (Pyomo ships no types)
    return sum(m.level_open[j, p] for j in rows)


def add_level_choice(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""At most one capacity level per facility and period.

    .. math:: \sum_{l \in L_f} y_{f,l,p} \le 1 \quad \forall f, p

    Pyomo: ``level_choice[f, p]`` (facilities with more than one level; p an investment period).
    """
    by_fac = group_rows(d.levels, "facility")
    multi = sorted(f for f, rows in by_fac.items() if len(rows) > 1)  # one binary needs no row
    m.LEVEL_CHOICE = pyo.Set(initialize=multi, ordered=True)
    m.level_choice = pyo.Constraint(m.LEVEL_CHOICE, m.INVESTMENT_PERIODS,
                                    rule=lambda m, f, p: _open(m, by_fac[f], p) <= 1)


def add_facility_continuity(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""A facility open in one period stays open in the next unless it closes (at a cost, where
    the instance allows it); an existing facility is open from the first period.

    .. math:: \sum_{l} y_{f,l,p} \ge \sum_{l} y_{f,l,p-1} - z_{f,p} \quad \forall f, p,
              \qquad y_{f,l,p_0-1} = 1 \text{ for the smallest level of an existing facility}

    Pyomo: ``facility_continuity[f, p]`` (p an investment period); :math:`z` is ``closed`` (0 for
    facilities that cannot close).
    """
    by_fac = group_rows(d.levels, "facility")
    initial = set(d.levels.loc[d.levels["initial"], "facility"])
    closed = getattr(m, "closed", None)
    closable = set(m.CLOSABLE)

    def rule(m: pyo.ConcreteModel, f: str, p: int) -> object:
        prev = d.prev(p)
        before = (1 if f in initial else 0) if prev is None else _open(m, by_fac[f], prev)
        if isinstance(before, int) and before == 0:
            return pyo.Constraint.Skip
        if f in closable:
            before = before - closed[f, p]  # type: ignore[index]
        return _open(m, by_fac[f], p) >= before

    m.facility_continuity = pyo.Constraint(m.FACILITIES, m.INVESTMENT_PERIODS, rule=rule)


def add_capacity_growth(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Capacity levels only grow while a facility stays open (move to a larger level, never
    back).

    .. math:: \sum_{l} C_{f,l}\, y_{f,l,p} \ge \sum_{l} C_{f,l}\, y_{f,l,p-1} - \bar C_f z_{f,p}
              \quad \forall f, p > p_0

    Pyomo: ``capacity_growth[f, p]`` (facilities with more than one level).
    """
    by_fac = group_rows(d.levels, "facility")
    cap = d.levels["capacity_t"].to_numpy()
    closable = set(m.CLOSABLE)

    def rule(m: pyo.ConcreteModel, f: str, p: int) -> object:
        prev = d.prev(p)
        if prev is None:
            return pyo.Constraint.Skip
        now = sum(float(cap[j]) * m.level_open[j, p] for j in by_fac[f])
        before = sum(float(cap[j]) * m.level_open[j, prev] for j in by_fac[f])
        if f in closable:
            before = before - float(cap[by_fac[f]].max()) * m.closed[f, p]
        return now >= before

    m.capacity_growth = pyo.Constraint(m.LEVEL_CHOICE, m.INVESTMENT_PERIODS, rule=rule)


def add_opening_investment(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Investment pays for every increase of the built level and every module added.

    .. math:: I_{f,p} \ge \sum_{l} O_{f,l} (y_{f,l,p} - y_{f,l,p-1}) + O^{mod}_f (n_{f,p} - n_{f,p-1})
              \quad \forall f, p

    (moving from level l to a larger l' costs :math:`O_{f,l'} - O_{f,l}`). Pyomo:
    ``opening_investment[f, p]`` (facilities with an opening or module cost); :math:`n` is ``modules``.
    The row is divided by the facility's largest spend :math:`\bar O_f` and ``investment`` measured
    in that unit, so that its coefficients stay near 1.
    """
    by_fac = group_rows(d.levels, "facility")
    cost = d.levels["opening_cost"].to_numpy()
    initial = d.levels["initial"].to_numpy()
    mod_cost = d.facilities.set_index("id")["module_opening_cost"]
    modular = set(m.MODULAR)

    scale = d.investment_scale

    def rule(m: pyo.ConcreteModel, f: str, p: int) -> object:
        prev = d.prev(p)
        unit = float(scale[f])
        spend = 0.0
        for j in by_fac[f]:
            before = (1.0 if initial[j] else 0.0) if prev is None else m.level_open[j, prev]
            spend = spend + float(cost[j]) / unit * (m.level_open[j, p] - before)
        if f in modular and mod_cost[f] > 0:
            added = m.modules[f, p] - (0 if prev is None else m.modules[f, prev])
            spend = spend + float(mod_cost[f]) / unit * added
        return m.investment[f, p] >= spend

    m.opening_investment = pyo.Constraint(m.INVESTING, m.INVESTMENT_PERIODS, rule=rule)


def add_module_rules(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Modules are only added (never removed while open) and only at an open facility.

    .. math:: n_{f,p} \ge n_{f,p-1} - \bar n_f z_{f,p}, \qquad n_{f,p} \le \bar n_f \sum_l y_{f,l,p}

    Pyomo: ``module_growth[f, p]`` and ``module_needs_open[f, p]``.
    """
    by_fac = group_rows(d.levels, "facility")
    max_mod = d.facilities.set_index("id")["max_modules"]
    closable = set(m.CLOSABLE)

    def growth(m: pyo.ConcreteModel, f: str, p: int) -> object:
        prev = d.prev(p)
        if prev is None:
            return pyo.Constraint.Skip
        before = m.modules[f, prev] - (float(max_mod[f]) * m.closed[f, p] if f in closable else 0.0)
        return m.modules[f, p] >= before

    m.module_growth = pyo.Constraint(m.MODULAR, m.INVESTMENT_PERIODS, rule=growth)
    m.module_needs_open = pyo.Constraint(
        m.MODULAR, m.INVESTMENT_PERIODS,
        rule=lambda m, f, p: m.modules[f, p] <= float(max_mod[f]) * _open(m, by_fac[f], p))


def add_facility_capacity(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Input to a facility in an operating year stays within the capacity of its level plus its
    modules in the year's investment period :math:`P(p)`, less what is still ramping up.

    .. math:: \sum_{i \in \mathrm{in}(f,p)} x_i \le \sum_{l} C_{f,l}\, y_{f,l,P(p)} + C^{mod}_f n_{f,P(p)}
              - \sum_{q \le P(p)} (1 - \bar\rho_{f,q,p})\, A_{f,q} \quad \forall f, p

    with :math:`A_{f,q}` the capacity built at candidate f in investment period q (``added_capacity``,
    :func:`add_ramp_up`) and :math:`\bar\rho_{f,q,p}` its usable share in operating year p
    (``ramp_up``; 1 without ramp-up, and for existing facilities). Units: t/yr.
    Pyomo: ``facility_capacity[f, p]`` (p an operating year).

    With ``model.capacity_reach`` each :math:`C_{f,l}` of a row without modules and ramp-up is
    :math:`\min(C_{f,l}, R_{f,p})`, :math:`R_{f,p} = \sum_{i \in \mathrm{in}(f,p)} U_i` the most the
    facility's lanes can bring in that year, :math:`U_i` the strong-linking bound (``upper_bound_t``:
    the origin's supply, plus what its stock may hold, for packs; the origin's capacity times its
    yield for rejects and black mass; the facility's largest capacity otherwise). Every plan has
    :math:`x_i \le U_i`, so the inflow never exceeds :math:`R_{f,p}`: valid, same rows and nonzeros.
    """
    f = d.flows
    inflow = group_rows(f.loc[f["dest_kind"] != "market"], ["destination", "period"])
    by_fac = group_rows(d.levels, "facility")
    cap = d.levels["capacity_t"].to_numpy(dtype=float)
    # the reach R_{f,p} is summed over the rows of the capacity row itself (inflow), so both agree
    bound = f["upper_bound_t"].to_numpy(dtype=float) if d.inst.settings.model.capacity_reach else None
    mod_cap = d.facilities.set_index("id")["module_capacity_t"]
    modular = set(m.MODULAR)
    flow = var_list(m.flow)
    opened = var_dict(m.level_open)
    of = d.period_of or {p: p for p in d.years}
    ramp: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for fac, built, p, lost in zip(d.ramp.get("facility", ()), d.ramp.get("investment_period", ()),
                                   d.ramp.get("period", ()), d.ramp.get("lost", ()), strict=True):
        ramp.setdefault((str(fac), int(p)), []).append((int(built), float(lost)))

    def rule(m: pyo.ConcreteModel, fac: str, p: int) -> object:
        levels = by_fac[fac]
        q = of[p]
        lost = ramp.get((fac, p), [])
        caps = cap[levels]
        if bound is not None and fac not in modular and not lost:
            caps = np.minimum(caps, float(bound[inflow[(fac, p)]].sum()))
        limit = weighted(-caps, [opened[(j, q)] for j in levels.tolist()])
        if fac in modular:
            limit += weighted([-float(mod_cap[fac])], [m.modules[fac, q]])
        if lost:
            limit += weighted([share for _, share in lost], [m.added_capacity[fac, b] for b, _ in lost])
        return linear(picked(flow, inflow[(fac, p)]), limit) <= 0.0

    m.FACILITY_PERIODS = pyo.Set(initialize=sorted(inflow), dimen=2, ordered=True)
    m.facility_capacity = pyo.Constraint(m.FACILITY_PERIODS, rule=rule)


def add_ramp_up(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Capacity built at a candidate facility in an investment period, for the ramp-up of
    :func:`add_facility_capacity`: at least the increase of its level's and modules' capacity.

    .. math:: A_{f,p} \ge \sum_l C_{f,l} (y_{f,l,p} - y_{f,l,p-1}) + C^{mod}_f (n_{f,p} - n_{f,p-1})
              \quad \forall (f, p) \text{ with ramp-up}

    (:math:`y_{f,l,p_0-1} = 0` for candidates). :math:`A \ge 0` takes the positive part: a facility
    that closes builds nothing, and a larger :math:`A` only removes capacity, so at the optimum
    :math:`A` is the capacity built. Units: t/yr. Pyomo: ``ramp_up[f, p]`` and the variable
    ``added_capacity[f, p]``.
    """
    keys = sorted(set(zip(d.ramp.get("facility", ()), d.ramp.get("investment_period", ()), strict=True)))
    keys = [(str(f), int(p)) for f, p in keys]
    by_fac = group_rows(d.levels, "facility")
    cap = d.levels["capacity_t"].to_numpy()
    initial = d.levels["initial"].to_numpy()
    mod_cap = d.facilities.set_index("id")["module_capacity_t"]
    modular = set(m.MODULAR)

    def rule(m: pyo.ConcreteModel, f: str, p: int) -> object:
        prev = d.prev(p)
        built = 0.0
        for j in by_fac[f]:
            before = (1.0 if initial[j] else 0.0) if prev is None else m.level_open[j, prev]
            built = built + float(cap[j]) * (m.level_open[j, p] - before)
        if f in modular and mod_cap[f] > 0:
            built = built + float(mod_cap[f]) * (m.modules[f, p] - (0 if prev is None else m.modules[f, prev]))
        return m.added_capacity[f, p] >= built

    m.RAMP_UP = pyo.Set(initialize=keys, dimen=2, ordered=True)
    m.ramp_up = pyo.Constraint(m.RAMP_UP, rule=rule)


def linked_lanes(d: ModelData) -> np.ndarray:
    r"""Flow rows that get a strong-linking row: every flow row, or
    with ``model.link_max_share`` :math:`s > 0` those with :math:`U_i < s \bar C_{f(i)}`
    (:math:`\bar C_f`: the facility's largest capacity with every module, ``facility_cap_t``)."""
    f = d.flows
    bound = f["upper_bound_t"].to_numpy(dtype=float)
    share = float(d.inst.settings.model.link_max_share)
    keep = np.ones(len(f), dtype=bool)
    if share > 0:
        keep = bound < share * f["facility_cap_t"].to_numpy(dtype=float) * (1 - 1e-12)
    return np.flatnonzero(keep)


def level_link_coefficients(d: ModelData) -> np.ndarray:
    r"""Per level row of each flow's facility: with ``model.link_by_level``, :math:`\min(U_i, C_{f,l})`
    for flows into their facility (destination = facility) that has no modules, else :math:`U_i`.
    Returned for the flow rows in order, as an object array: a float (every level) or an array (t/yr)."""
    f = d.flows
    bound = f["upper_bound_t"].to_numpy(dtype=float)
    by_fac = group_rows(d.levels, "facility")
    cap = d.levels["capacity_t"].to_numpy(dtype=float)
    fac = d.facilities.set_index("id")
    modular = set(fac.index[(fac["max_modules"] > 0) & (fac["module_capacity_t"] > 0)])
    by_level = (bool(d.inst.settings.model.link_by_level)
                & (f["destination"] == f["facility"]).to_numpy() & ~f["facility"].isin(modular).to_numpy())
    out = np.empty(len(f), dtype=object)
    out[:] = bound.tolist()  # one coefficient for every level (weighted() takes a scalar)
    if by_level.any():
        caps = {k: cap[rows] for k, rows in by_fac.items()}
        names = f["facility"].to_numpy()
        for i in np.flatnonzero(by_level).tolist():
            out[i] = np.minimum(caps[names[i]], bound[i])
    return out


def add_lane_link(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Strong linking: a lane carries flow only if the facility it serves is open in the investment
    period :math:`P(p(i))` of the flow's operating year.

    .. math:: x_i \le \sum_{l \in L_{f(i)}} U_{i,l}\, y_{f(i),l,P(p(i))} \quad \forall i \in I^{link}

    where :math:`f(i)` is the destination facility (or, for second-life lanes, the refurbisher of
    origin), :math:`U_i` the most the flow can carry (supply, capacity, market demand; t/yr) and
    :math:`U_{i,l} = U_i`, or with ``model.link_by_level`` :math:`\min(U_i, C_{f,l})` for a flow into a
    facility without modules (the level's own capacity bounds it too). :math:`I^{link}`: every flow,
    or with ``model.link_max_share`` :math:`s > 0` those with :math:`U_i \le s \bar C_{f(i)}`
    (at :math:`s = 1` exactly the rows the capacity row does not imply).
    Pyomo: ``lane_link[i]``. Switched off by ``model.strong_linking: false``.
    """
    if not d.inst.settings.model.strong_linking:
        return
    by_fac = {f: rows.tolist() for f, rows in group_rows(d.levels, "facility").items()}
    fac = d.flows["facility"].tolist()
    of = d.period_of or {p: p for p in d.years}
    period = [of[p] for p in d.flows["period"].tolist()]  # the investment period of each flow's year
    coef = level_link_coefficients(d)
    flow = var_list(m.flow)
    opened = var_dict(m.level_open)
    levels_open: dict[tuple[str, int], list[object]] = {}  # y_{f,l,p} of each (f, p), made once

    def rule(m: pyo.ConcreteModel, i: int) -> object:
        key = (fac[i], period[i])
        ys = levels_open.get(key)
        if ys is None:
            ys = levels_open[key] = [opened[(j, key[1])] for j in by_fac[key[0]]]
        return linear((flow[i],), weighted(-coef[i], ys)) <= 0.0

    if float(d.inst.settings.model.link_max_share) > 0:
        m.LINKED = pyo.Set(initialize=linked_lanes(d).tolist(), ordered=True)
        m.lane_link = pyo.Constraint(m.LINKED, rule=rule)
    else:
        m.lane_link = pyo.Constraint(m.FLOWS, rule=rule)


def add_capacity_cover(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Capacity cover (``model.capacity_cover``, off by default): in every operating year the
    facilities that take end-of-life packs (refurbishers, recyclers, pre-processors) open enough
    capacity for the year's supply that is not left uncollected or disposed of.

    .. math:: \sum_{f \in F^{R} \cup F^{Q} \cup F^{B}} \Big(\sum_l C_{f,l}\, y_{f,l,P(p)}
              + C^{mod}_f n_{f,P(p)}\Big) + \sum_{s \in S(p)} (u_s + w_s + h_s - h_{s^-})
              \ge \sum_{s \in S(p)} S_s \quad \forall p

    Valid: every tonne of :math:`S(p)` not left uncollected, disposed of or kept in stock
    (:math:`h`, with stock) leaves its collection point into one of these facilities in year p
    (supply balance) and each takes at most its capacity (facility capacity; ramp-up only lowers
    it). Implied by the LP (a sum of those rows) but, as one knapsack row over
    the level binaries, it gives HiGHS cover cuts and propagation (the classical aggregate
    capacity constraint of capacitated facility location). Not built when a pack-taking facility
    has no finite capacity. Units: t/yr, stock in t. Pyomo: ``capacity_cover[p]``.
    """
    if not d.inst.settings.model.capacity_cover or not len(d.supply):
        return
    kinds = ("refurbisher", "recycler", "preprocessor")
    takers = set(d.facilities.loc[d.facilities["kind"].isin(kinds), "id"])
    lv = d.levels.loc[d.levels["facility"].isin(takers)]
    fac = d.facilities.set_index("id")
    cap = lv["capacity_t"].to_numpy(dtype=float)
    mod_cap = fac["module_capacity_t"].reindex(sorted(takers & set(m.MODULAR))).astype(float)
    if not np.isfinite(cap).all() or not np.isfinite(mod_cap.to_numpy()).all():
        return
    of = d.period_of or {p: p for p in d.years}
    opened = var_dict(m.level_open)
    rows = lv.index.to_numpy()
    supply = d.supply.groupby("period")["tonnes"].sum()
    by_year = group_rows(d.supply, "period")
    escapes = [v for v in (getattr(m, "uncollected", None), getattr(m, "disposed", None)) if v is not None]
    held: dict[int, list[object]] = {}  # operating year -> + stock of packs, - that of the year before
    if len(d.stock):
        stock = var_list(m.stock)
        packs = d.stock.loc[d.stock["kind"] == "packs"]
        year = d.supply["period"].to_numpy()
        for n, s, prev in zip(packs.index, packs["supply_id"], packs["prev"], strict=True):
            terms = held.setdefault(int(year[int(s)]), [])
            terms += [stock[n]] + (weighted(-1.0, [stock[int(prev)]]) if prev >= 0 else [])

    def rule(m: pyo.ConcreteModel, p: int) -> object:
        q = of[p]
        terms = weighted(cap, [opened[(int(j), q)] for j in rows.tolist()])
        if len(mod_cap):
            terms += weighted(mod_cap.to_numpy(), [m.modules[f, q] for f in mod_cap.index])
        for v in escapes:
            terms += [v[int(s)] for s in by_year[p].tolist()]
        return linear(terms + held.get(p, [])) >= float(supply[p])

    m.COVER_YEARS = pyo.Set(initialize=sorted(int(p) for p in supply.index if supply[p] > 0), ordered=True)
    m.capacity_cover = pyo.Constraint(m.COVER_YEARS, rule=rule)
