"""Facility capacity, level choice and strong linking of lanes to open facilities."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows


def add_level_choice(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""At most one capacity level per facility; existing facilities are open.

    .. math:: \underline{o}_f \le \sum_{l \in L_f} y_{f,l} \le 1 \quad \forall f,
              \qquad \underline{o}_f = 1 \text{ if } f \text{ exists, else } 0

    Pyomo: ``level_choice[f]``.
    """
    by_fac = group_rows(d.levels, "facility")
    existing = set(d.facilities.loc[d.facilities["status"] == "existing", "id"])

    def rule(m: pyo.ConcreteModel, f: str) -> object:
        total = sum(m.level_open[j] for j in by_fac[f])
        return (1.0 if f in existing else 0.0, total, 1.0)

    m.FACILITIES = pyo.Set(initialize=sorted(by_fac), ordered=True)
    m.level_choice = pyo.Constraint(m.FACILITIES, rule=rule)


def add_facility_capacity(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Input to a facility stays within the capacity of its chosen level.

    .. math:: \sum_{i \in \mathrm{in}(f,p)} x_i \le \sum_{l \in L_f} C_{f,l}\, y_{f,l}
              \quad \forall f, p

    Pyomo: ``facility_capacity[f, p]``.
    """
    f = d.flows
    inflow = group_rows(f.loc[f["dest_kind"] != "market"], ["destination", "period"])
    by_fac = group_rows(d.levels, "facility")
    cap = d.levels["capacity_t"].to_numpy()

    def rule(m: pyo.ConcreteModel, fac: str, p: int) -> object:
        return sum(m.flow[i] for i in inflow[(fac, p)]) <= sum(
            float(cap[j]) * m.level_open[j] for j in by_fac[fac])

    m.FACILITY_PERIODS = pyo.Set(initialize=sorted(inflow), dimen=2, ordered=True)
    m.facility_capacity = pyo.Constraint(m.FACILITY_PERIODS, rule=rule)


def add_lane_link(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Strong linking: a lane carries flow only if the facility it serves is open.

    .. math:: x_i \le U_i \sum_{l \in L_{f(i)}} y_{f(i),l} \quad \forall i

    where :math:`f(i)` is the destination facility (or, for second-life lanes, the refurbisher
    of origin) and :math:`U_i` the most the flow can carry (supply, capacity, market demand).
    Pyomo: ``lane_link[i]``. Switched off by ``model.strong_linking: false``.
    """
    if not d.inst.setting("model.strong_linking"):
        return
    by_fac = group_rows(d.levels, "facility")
    fac = d.flows["facility"].to_numpy()
    bound = d.flows["upper_bound_t"].to_numpy()

    def rule(m: pyo.ConcreteModel, i: int) -> object:
        return m.flow[i] <= float(bound[i]) * sum(m.level_open[j] for j in by_fac[fac[i]])

    m.lane_link = pyo.Constraint(m.FLOWS, rule=rule)
