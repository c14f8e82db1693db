"""Stock between operating years: the safety cap of each site and the age of black-mass stock (t)."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from network_opt.model.data import ModelData, group_rows
from network_opt.model.linear import linear, picked, var_list, weighted


def add_stock_rules(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Stock held at a site at the end of an operating year stays within the site's safety cap, and
    no stock is older than ``stock.max_age_years`` = :math:`L` (first in, first out: what is held at
    the end of year p is at most what arrived in the last :math:`L` years).

    .. math:: \sum_{n \in H(\sigma, p)} h_n \le \bar H_\sigma \quad \forall (\sigma, p), \qquad
              h_{f,k,J,p} \le \beta_{\tau(f)} \sum_{q=p-L+1}^{p} \sum_{i \in \mathrm{in}(f,k,J,q)} x_i
              \quad \forall (f,k,J,p)

    with :math:`H(\sigma, p)` the stock rows at site :math:`\sigma` in p (packs at a collection
    point, black mass of the pre-processors there) and :math:`\bar H_\sigma` its cap
    (``storage.cap_t``). A site with one stock row gets its cap as the variable's bound instead of a
    row; the age of packs at a collection point is a bound too (:math:`h_s \le \sum_{q=p-L+1}^{p}
    S_{c,k,g,q}`: their arrivals are the supply). Units: t. Pyomo: ``stock_cap[site, p]`` and
    ``stock_age[n]`` (n a black-mass row of ``stock``).
    """
    st = d.stock
    cap_keys: list[tuple[str, int]] = []
    by_site: dict[tuple[str, int], np.ndarray] = {}
    age_rows: list[int] = []
    if len(st):
        by_site = {k: v for k, v in group_rows(st, ["site", "period"]).items() if len(v) > 1}
        cap_keys = sorted(by_site)
        age_rows = st.index[st["kind"] == "black_mass"].tolist()
    caps = d.inst["storage"].set_index("site")["cap_t"] if len(st) else None
    m.STOCK_CAP = pyo.Set(initialize=cap_keys, dimen=2, ordered=True)
    m.stock_cap = pyo.Constraint(
        m.STOCK_CAP, rule=lambda m, site, p: linear(picked(var_list(m.stock), by_site[(site, p)]))
        <= float(caps[site]))  # type: ignore[index]

    age = d.inst.settings.stock.max_age_years
    f = d.flows
    inflow = group_rows(f.loc[f["dest_kind"] == "preprocessor"], ["destination", "chemistry", "jurisdiction",
                                                                   "period"])
    beta = f["black_mass_yield"].to_numpy()
    index = {y: n for n, y in enumerate(d.years)}
    flow = var_list(m.flow)

    holder, chem, jur = st["holder"].tolist(), st["chemistry"].tolist(), st["jurisdiction"].tolist()
    period = st["period"].tolist()

    def rule(m: pyo.ConcreteModel, n: int) -> object:
        here = index[period[n]]
        window = [d.years[here - k] for k in range(age) if here - k >= 0]
        rows = np.concatenate([inflow.get((holder[n], chem[n], jur[n], q), np.zeros(0, int))
                               for q in window]).astype(int)
        return linear([m.stock[n]], weighted(-beta[rows], picked(flow, rows.tolist()))) <= 0.0

    m.STOCK_AGE = pyo.Set(initialize=age_rows, ordered=True)
    m.stock_age = pyo.Constraint(m.STOCK_AGE, rule=rule)
