r"""Which candidate facilities the compress-and-filter heuristic keeps (``solve --heuristic``).

A screening model (the LP relaxation of the full model, or the MIP of the collection points
aggregated into clusters, :mod:`network_opt.model.aggregate`) names the facilities it uses; the
heuristic then solves the full model over those, every existing facility, and the ``neighbours``
nearest candidates of the same kind to each one kept (great-circle distance between their sites,
km), with every other candidate closed. Closing candidates only removes plans, so the plan found
is a plan of the full model and its objective is at least the full model's optimum; the bound
reported comes from elsewhere (``network_opt.runs.heuristic``).

A screen can leave collection points without a lane to any facility kept (with pruned lanes a
point reaches only its nearest facilities of each kind and technology; a clustered screen reaches
what any member of the cluster reaches), which makes the restricted model infeasible.
:func:`cover` adds, greedily, the recycler reached by most such supply keys (point, chemistry,
grade: a facility's lanes exist only for the chemistries it takes) until every key reaches one;
:func:`reaching_plan` does the same for a plan, period by period, so that a start built from it
has somewhere to send every tonne.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from network_opt.common.geo import haversine_km
from network_opt.model.data import ModelData


def kept_facilities(d: ModelData, used: set[str], neighbours: int) -> set[str]:
    """The facilities the full model keeps: ``used`` (by the screening model), every existing
    facility, and for each of these the ``neighbours`` nearest other facilities of the same kind
    (by the great-circle distance between their sites, ties by id)."""
    fac = d.facilities
    kept = set(used) | set(fac.loc[fac["status"] == "existing", "id"])
    if neighbours <= 0 or not kept:
        return kept & set(fac["id"])
    sites = d.inst["sites"].set_index("id")
    lat = fac["site"].map(sites["latitude"]).to_numpy(dtype=float)
    lon = fac["site"].map(sites["longitude"]).to_numpy(dtype=float)
    ids = fac["id"].to_numpy()
    kind = fac["kind"].to_numpy()
    order = np.argsort(ids, kind="stable")  # ties broken by id
    ids, kind, lat, lon = ids[order], kind[order], lat[order], lon[order]
    base = np.flatnonzero(np.isin(ids, sorted(kept)))
    out = set(ids[base].tolist())
    for k in np.unique(kind[base]):
        same = np.flatnonzero(kind == k)
        rows = base[kind[base] == k]
        dist = haversine_km(lat[rows][:, None], lon[rows][:, None], lat[same][None, :], lon[same][None, :])
        dist[same[None, :] == rows[:, None]] = np.inf  # not its own neighbour
        n = min(neighbours, len(same) - 1)
        if n <= 0:
            continue
        near = np.argsort(dist, axis=1, kind="stable")[:, :n]
        out.update(ids[same[near.ravel()]].tolist())
    return out


def _receiver_lanes(d: ModelData) -> pd.DataFrame:
    """``item`` (a supply key: origin, chemistry and grade) and ``destination`` of the end-of-life
    lanes to recyclers, and to pre-processors for the items with no lane to a recycler: the
    destinations that take the item's grade whatever it is (a facility's lanes exist only for the
    chemistries it accepts)."""
    kind = d.facilities.set_index("id")["kind"]
    eol = d.lanes.loc[d.lanes["commodity"] == "eol_packs"]
    eol = pd.DataFrame({"origin": eol["origin"], "destination": eol["destination"],
                        "item": eol["origin"] + "|" + eol["chemistry"] + "|" + eol["grade"]}).drop_duplicates()
    k = eol["destination"].map(kind)
    rec = eol.loc[k == "recycler"]
    pre = eol.loc[(k == "preprocessor") & ~eol["item"].isin(rec["item"])]
    return pd.concat([rec, pre], ignore_index=True)


def _greedy_cover(lanes: pd.DataFrame, todo: set[str], allowed: set[str] | None) -> list[str]:
    """Destinations that give every item in ``todo`` a lane of ``lanes``, picked greedily (the one
    reaching most uncovered items first, ties by id), among ``allowed`` (None: any)."""
    cand = lanes.loc[lanes["item"].isin(todo)]
    if allowed is not None:
        cand = cand.loc[cand["destination"].isin(allowed)]
    picked: list[str] = []
    left = set(cand["item"])
    while left:
        counts = cand.loc[cand["item"].isin(left)].groupby("destination").size()
        best = str(counts.sort_index().idxmax())
        picked.append(best)
        left -= set(cand.loc[cand["destination"] == best, "item"])
    return picked


def cover(d: ModelData, kept: set[str]) -> set[str]:
    """Facilities to keep besides ``kept`` so that every supply key (collection point, chemistry,
    grade) has an end-of-life lane to a kept recycler (or pre-processor, where it reaches no
    recycler): :func:`_greedy_cover`."""
    lanes = _receiver_lanes(d)
    todo = set(lanes["item"]) - set(lanes.loc[lanes["destination"].isin(kept), "item"])
    return set(_greedy_cover(lanes, todo, None))


def reaching_plan(d: ModelData, plan: pd.DataFrame, allowed: set[str]) -> pd.DataFrame:
    """``plan`` (a ``facilities`` result table: facility, investment_period, period, open, level,
    modules) with facilities of ``allowed`` opened, at their smallest level, from the first
    investment period in which a supply key (collection point, chemistry, grade) with tonnes reaches
    no recycler the plan opens then (:func:`_greedy_cover`), so that every tonne has a destination.
    Levels and modules are left to the start's LP and its upgrades
    (:func:`network_opt.solver.starts.plan_start`)."""
    lanes = _receiver_lanes(d)
    of = d.period_of or {p: p for p in d.years}
    supply = d.supply.loc[d.supply["tonnes"] > 0]
    supply = pd.DataFrame({"item": supply["site"] + "|" + supply["chemistry"] + "|" + supply["grade"],
                           "investment_period": supply["period"].map(of)}).drop_duplicates()
    rows = plan.loc[plan["open"]].drop_duplicates(["facility", "investment_period"])
    opened = {q: set(g["facility"]) for q, g in rows.groupby("investment_period")}
    smallest = d.levels.sort_values(["facility", "capacity_t"], kind="stable").drop_duplicates("facility")
    smallest_level = smallest.set_index("facility")["level"]
    added: dict[str, int] = {}  # facility -> first investment period it is opened in by the repair
    for q in sorted(supply["investment_period"].unique()):
        there = opened.get(q, set()) | {f for f, first in added.items() if first <= q}
        items = set(supply.loc[supply["investment_period"] == q, "item"])
        todo = items - set(lanes.loc[lanes["destination"].isin(there), "item"])
        for f in _greedy_cover(lanes, todo, allowed):
            added.setdefault(f, int(q))
    if not added:
        return plan
    extra = [{"facility": f, "investment_period": int(q), "period": int(q), "open": True,
              "level": smallest_level[f], "modules": 0}
             for f, first in sorted(added.items()) for q in sorted(set(of.values())) if q >= first
             and f not in opened.get(q, set())]
    return pd.concat([plan, pd.DataFrame(extra)], ignore_index=True) if extra else plan


__all__ = ["cover", "kept_facilities", "reaching_plan"]
