"""Decision variables. Units: t/yr for flows, 0/1 for levels, scaled currency for investment."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from network_opt.inputs.jurisdictions import covered
from network_opt.model.data import ModelData, ban_in_force


def landfill_banned(d: ModelData) -> np.ndarray:
    """True for supply rows whose disposal a landfill ban in force forbids."""
    banned = np.zeros(len(d.supply), dtype=bool)
    bans = d.inst["bans"]
    for _, b in bans.loc[bans["kind"] == "landfill"].iterrows():
        banned |= (d.supply["jurisdiction"].isin(covered(d.inst, b["jurisdiction"]))
                   & ban_in_force(b, d.supply["period"])).to_numpy()
    return banned


def flow_upper_bounds(d: ModelData) -> list[float | None]:
    r"""Column bounds of the flows with ``model.flow_bounds``: :math:`0 \le x_i \le U_i`, the most flow
    row i can carry if its facility is open (t/yr; ``upper_bound_t`` of :mod:`network_opt.model.data`):

    .. math:: U_i = \min\big(\bar C_{f(i)},\ S_{s(i)} + \bar H_{s(i)}\big) \text{ (end-of-life packs)},\quad
              \min(\eta_r \bar C_r,\ D_{m,p}/(e_k \sigma_g)) \text{ (second-life packs)},\quad
              \min(\bar C_{f(i)},\ \bar C_{o(i)} \beta_{o(i)} + \bar H_{o(i)}) \text{ (black mass)}, \ldots

    (:math:`\bar C`: largest capacity with every module; :math:`S`: the supply row's tonnes; :math:`\bar H`:
    stock the year before may add; :math:`\eta`: test yield; :math:`\beta`: black-mass yield). The strong
    linking rows imply these bounds (:math:`\sum_l y \le 1`), so with linking on the LP relaxation is the
    same and presolve sees them at once; without it, the relaxation is no weaker. A flow whose facility has
    no capacity data (:math:`\bar C` 0 or missing) is left unbounded here."""
    f = d.flows
    bound = f["upper_bound_t"].to_numpy(dtype=float)
    ok = (f["facility_cap_t"].to_numpy(dtype=float) > 0) & np.isfinite(bound)
    return [float(b) if k else None for b, k in zip(bound.tolist(), ok.tolist(), strict=True)]


def add_variables(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Create the sparse index sets and the variables of the model.

    - ``flow[i] >= 0``: tonnes per year on flow row i (a lane in an operating year);
    - ``level_open[j, p] in {0, 1}``: facility level row j is the facility's level in investment period p
      (``investment``, ``closed`` and ``modules`` are indexed by investment period too);
    - ``investment[f, p] >= 0``: opening and expansion spending of facility f in period p, in units of
      the facility's largest possible spend ``d.investment_scale[f]`` (facilities with an opening or
      module cost);
    - ``closed[f, p] in [0, 1]``: facility f closes at the start of p (facilities with a closing cost);
    - ``modules[f, p]`` integer >= 0: add-on modules installed at f in p (facilities with modules);
    - ``uncollected[s]``, ``disposed[s] >= 0``: tonnes of supply row s left uncollected or disposed
      of, only when the instance allows it (disposal is fixed to 0 under a landfill ban);
    - ``shortfall[t] >= 0``: shortfall of target row t, with soft targets only;
    - ``stock[n] >= 0``: tonnes held at the end of an operating year at stock row n (with stock), at
      most the row's ``upper_t`` (site cap; packs: first-in-first-out age bound);
    - ``added_capacity[f, p] >= 0``: t/yr of capacity built at candidate f in investment period p,
      for facilities that ramp up (``ramp_up``).
    """
    fac = d.facilities
    m.FLOWS = pyo.Set(initialize=range(len(d.flows)), ordered=True)
    m.LEVELS = pyo.Set(initialize=range(len(d.levels)), ordered=True)
    m.SUPPLY = pyo.Set(initialize=range(len(d.supply)), ordered=True)
    m.PERIODS = pyo.Set(initialize=d.years, ordered=True)
    m.INVESTMENT_PERIODS = pyo.Set(initialize=d.investment_years or d.years, ordered=True)
    m.FACILITIES = pyo.Set(initialize=sorted(fac["id"]), ordered=True)
    closable = sorted(fac.loc[fac["closing_cost"].notna(), "id"])
    modular = sorted(fac.loc[(fac["max_modules"] > 0) & (fac["module_capacity_t"] > 0), "id"])
    m.INVESTING = pyo.Set(initialize=sorted(d.investment_scale.index), ordered=True)
    m.CLOSABLE = pyo.Set(initialize=closable, ordered=True)
    m.MODULAR = pyo.Set(initialize=modular, ordered=True)
    # the MIP starts (network_opt.solver.starts) read the level data from ``d``, not from the model
    if d.inst.settings.model.flow_bounds:
        flow_ub = flow_upper_bounds(d)
        m.flow = pyo.Var(m.FLOWS, domain=pyo.NonNegativeReals, bounds=lambda _m, i: (0.0, flow_ub[i]))
    else:
        m.flow = pyo.Var(m.FLOWS, domain=pyo.NonNegativeReals)
    m.level_open = pyo.Var(m.LEVELS, m.INVESTMENT_PERIODS, domain=pyo.Binary)
    m.investment = pyo.Var(m.INVESTING, m.INVESTMENT_PERIODS, domain=pyo.NonNegativeReals)
    if closable:
        m.closed = pyo.Var(m.CLOSABLE, m.INVESTMENT_PERIODS, domain=pyo.NonNegativeReals, bounds=(0.0, 1.0))
    if modular:
        max_mod = fac.set_index("id")["max_modules"]
        m.modules = pyo.Var(m.MODULAR, m.INVESTMENT_PERIODS, domain=pyo.NonNegativeIntegers,
                            bounds=lambda _m, f, _p: (0, int(max_mod[f])))
    tonnes = d.supply["tonnes"].to_numpy()
    if d.inst.settings.uncollected.allowed:
        m.uncollected = pyo.Var(m.SUPPLY, domain=pyo.NonNegativeReals, bounds=lambda _m, s: (0.0, float(tonnes[s])))
    if d.inst.settings.disposal.allowed:
        banned = landfill_banned(d)
        m.disposed = pyo.Var(m.SUPPLY, domain=pyo.NonNegativeReals,
                             bounds=lambda _m, s: (0.0, 0.0 if banned[s] else float(tonnes[s])))
    if d.inst.settings.targets.soft and len(d.targets):
        m.TARGETS = pyo.Set(initialize=range(len(d.targets)), ordered=True)
        m.shortfall = pyo.Var(m.TARGETS, domain=pyo.NonNegativeReals)
    if len(d.stock):
        upper = d.stock["upper_t"].to_numpy(dtype=float)
        m.STOCK = pyo.Set(initialize=range(len(d.stock)), ordered=True)
        m.stock = pyo.Var(m.STOCK, domain=pyo.NonNegativeReals, bounds=lambda _m, n: (0.0, float(upper[n])))
    if len(d.ramp):
        built = sorted(set(zip(d.ramp["facility"], d.ramp["investment_period"], strict=True)))
        m.RAMPING = pyo.Set(initialize=built, dimen=2, ordered=True)
        m.added_capacity = pyo.Var(m.RAMPING, domain=pyo.NonNegativeReals)
