r"""Recycled-content obligations (EU 2023/1542 Art. 8, India BWMR 2022): recovered material credited
to a jurisdiction's market reaches a share of the material in the new batteries placed on it.

Each row of the ``recycled_content`` table is a row t of ``d.targets`` (metric ``recycled_content``,
scope ``origin:any`` or ``origin:domestic``, value :math:`V_t = \sigma_t D_t` in t/yr of material;
see :func:`network_opt.model.data.prepare`). The recovered tonnes are allocated explicitly:
``credit[t, f]`` is the t/yr of material recovered at facility f that obligation t counts, and a
facility's recovered tonnes of a material in a period are credited at most once over all obligations.
All quantities are tonnes of the material (t/yr), not tonnes of packs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.inputs.jurisdictions import covered
from network_opt.model.data import RECYCLING_KINDS, ModelData, group_rows
from network_opt.model.linear import linear, picked, var_list, weighted

METRIC = "recycled_content"


def obligation_rows(d: ModelData, years: set[int] | None = None) -> list[int]:
    """Target rows of metric ``recycled_content`` with a positive requirement (in ``years``)."""
    t = d.targets
    if not len(t):
        return []
    mask = (t["metric"] == METRIC) & (t["value"] > 0)
    if years is not None:
        mask &= t["period"].isin(years)
    return [int(k) for k in t.index[mask]]


def credit_sources(d: ModelData, flows: pd.DataFrame | None = None, years: set[int] | None = None
                   ) -> tuple[list[tuple[int, str]], dict[tuple[str, str, int], np.ndarray]]:
    """The ``credit`` columns (obligation row, facility) and, for every (facility, material, period)
    they draw on, the flow rows into that facility in that period with material recovered
    (``d.recovered`` != 0). ``flows``: a subset of ``d.flows`` (the size projection); an
    ``origin:domestic`` row draws only on facilities located in its jurisdiction (or a member of its
    group), an ``origin:any`` row on every facility."""
    keys = obligation_rows(d, years)
    if not keys:
        return [], {}
    f = d.flows if flows is None else flows
    col = {mu: n for n, mu in enumerate(d.materials)}
    into = f.loc[f["dest_kind"].isin(RECYCLING_KINDS)]
    groups = group_rows(into, ["destination", "period"])
    where = into.drop_duplicates("destination").set_index("destination")["site_jurisdiction"].astype(str)
    t = d.targets
    pairs: list[tuple[int, str]] = []
    sources: dict[tuple[str, str, int], np.ndarray] = {}
    for k in keys:
        material, period = str(t["material"][k]), int(t["period"].to_numpy()[k])
        domestic = str(t.at[k, "scope"]) == "origin:domestic"
        inside = covered(d.inst, str(t.at[k, "jurisdiction"])) if domestic else None
        for (fac, p), rows in groups.items():
            if p != period or (inside is not None and where[fac] not in inside):
                continue
            key = (str(fac), material, period)
            if key not in sources:
                rows = rows[d.recovered[rows, col[material]] != 0]
                sources[key] = rows
            if len(sources[key]):
                pairs.append((k, str(fac)))
    return pairs, {key: rows for key, rows in sources.items() if len(rows)}


def add_recycled_content(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Recycled content: the recovered material credited to obligation t reaches its required tonnes,
    and each facility's recovered material is credited at most once.

    .. math:: \sum_{f \in F_t} z_{t,f} + \xi_t \ge \sigma_t D_t \quad \forall t

    .. math:: \sum_{t:\, f \in F_t,\, \mu_t = \mu,\, p_t = p} z_{t,f} \le \sum_{i \in \mathrm{in}(f,p)} a_{i,\mu}\, x_i
              \quad \forall (f, \mu, p)

    with :math:`z_{t,f} \ge 0` (``credit[t, f]``) the t/yr of material :math:`\mu_t` recovered at
    facility f in period :math:`p_t` that obligation t counts, :math:`D_t` the t/yr of the material
    in new batteries placed on jurisdiction J's market (``new_battery_demand_t``),
    :math:`\sigma_t` the required share, :math:`a_{i,\mu}` the t of material recovered per t of
    flow i into f, and :math:`F_t` every recycler and refiner (origin ``any``) or those located in
    J (origin ``domestic``) that recover the material in the period. Units: t/yr of material; the
    shadow price of ``recycled_content[t]`` is currency per t of material. Pyomo:
    ``credit[t, f]``, ``recycled_content[t]`` and ``recycled_content_allocation[f, mu, p]``.
    """
    pairs, sources = credit_sources(d)
    keys = obligation_rows(d)
    m.CREDITS = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.credit = pyo.Var(m.CREDITS, domain=pyo.NonNegativeReals)
    value = d.targets["value"].to_numpy()
    material = d.targets["material"].to_numpy()
    period = d.targets["period"].to_numpy()
    by_row: dict[int, list[object]] = {k: [] for k in keys}
    by_source: dict[tuple[str, str, int], list[object]] = {key: [] for key in sources}
    for (k, fac), v in m.credit.items():
        by_row[k].append(v)
        by_source[(fac, str(material[k]), int(period[k]))].append(v)
    soft = m.find_component("shortfall") is not None

    def rule(m: pyo.ConcreteModel, k: int) -> object:
        return linear(by_row[k], [m.shortfall[k]] if soft else []) >= float(value[k])

    m.RECYCLED_CONTENT_TARGETS = pyo.Set(initialize=keys, ordered=True)
    m.recycled_content = pyo.Constraint(m.RECYCLED_CONTENT_TARGETS, rule=rule)

    flow = var_list(m.flow)
    col = {mu: n for n, mu in enumerate(d.materials)}

    def allocation(m: pyo.ConcreteModel, fac: str, mu: str, p: int) -> object:
        rows = sources[(fac, mu, p)]
        a = d.recovered[rows, col[mu]]
        return linear(by_source[(fac, mu, p)], weighted(-a, picked(flow, rows))) <= 0.0

    m.CREDIT_SOURCES = pyo.Set(initialize=sorted(sources), dimen=3, ordered=True)
    m.recycled_content_allocation = pyo.Constraint(m.CREDIT_SOURCES, rule=allocation)
