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

Reaching is not enough: a relaxation whose clusters ship at their members' union of lanes can
open a few large facilities that, in the full model, only some of the members reach, so that the
points which reach only small or closed ones cannot place their tonnes even at the largest levels
(Hall's condition of the transport problem fails; a national clustered plan was proven infeasible
this way in one of eight periods, 16 kt short). :func:`capacity_shortfall` tests it with a maximum
flow from the supply keys over their end-of-life lanes into the facilities open, each at its
largest capacity; :func:`cover` and :func:`reaching_plan` open more facilities, greedily, until no
tonne is short. The test is necessary, not sufficient (rejects, black mass and targets also take
capacity): the start's LP (:func:`network_opt.solver.starts.plan_start`) stays the judge.
"""

from __future__ import annotations

import dataclasses

import networkx as nx  # type: ignore[import-untyped]  # types-networkx is not in the dev extra
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


def _eol_lanes(d: ModelData) -> pd.DataFrame:
    """``item`` (supply key: origin, chemistry, grade) and ``destination`` of every end-of-life lane."""
    eol = d.lanes.loc[d.lanes["commodity"] == "eol_packs"]
    return pd.DataFrame({"item": eol["origin"] + "|" + eol["chemistry"] + "|" + eol["grade"],
                         "destination": eol["destination"]}).drop_duplicates()


def _supply_items(d: ModelData) -> pd.DataFrame:
    """``item``, operating ``period``, its ``investment_period`` and ``tonnes`` (t/yr) of the supply."""
    of = d.period_of or {p: p for p in d.years}
    s = d.supply.loc[d.supply["tonnes"] > 0]
    out = pd.DataFrame({"item": s["site"] + "|" + s["chemistry"] + "|" + s["grade"], "period": s["period"],
                        "investment_period": s["period"].map(of), "tonnes": s["tonnes"].astype(float)})
    return out.groupby(["item", "period", "investment_period"], as_index=False).agg(tonnes=("tonnes", "sum"))


def capacity_shortfall(supply: pd.Series, lanes: pd.DataFrame, capacity: pd.Series) -> tuple[float, set[str]]:
    """Tonnes of ``supply`` (item -> t/yr) that no routing over ``lanes`` (item, destination) can place
    within ``capacity`` (facility -> t/yr; facilities missing from it are closed), by a maximum flow;
    and the items on the source side of a minimum cut: where those tonnes are stuck, so that only a
    facility one of them reaches can place more. Items with the same destinations are merged
    first (a point's lanes go to its nearest sites, which its neighbours share)."""
    total = float(supply.sum())
    if total <= 0:
        return 0.0, set()
    lanes = lanes.loc[lanes["item"].isin(supply.index) & lanes["destination"].isin(capacity.index)]
    reach = lanes.sort_values(["item", "destination"]).groupby("item")["destination"].agg("|".join)
    group = reach.reindex(supply.index).fillna("")  # "": an item that reaches nothing open
    merged = supply.groupby(group).sum()
    g = nx.DiGraph()
    keys = [str(k) for k in merged.index]
    g.add_edges_from(("s", "g" + k, {"capacity": float(t)}) for k, t in zip(keys, merged.to_numpy(), strict=True))
    g.add_edges_from(("g" + k, "f" + f) for k in keys if k for f in k.split("|"))  # no capacity: unbounded
    g.add_edges_from(("f" + str(f), "t", {"capacity": float(c)})
                     for f, c in zip(capacity.index, capacity.to_numpy(), strict=True) if c > 0)
    g.add_node("t")
    placed, (side, _) = nx.minimum_cut(g, "s", "t")
    stuck_groups = {n[1:] for n in side if n[0] == "g"}
    return max(total - float(placed), 0.0), set(group.index[group.isin(stuck_groups)])


def _may_escape(d: ModelData) -> bool:
    """Whether supply may be left unplaced: packs left uncollected or disposed of."""
    settings = d.inst.settings
    return bool(settings.uncollected.allowed or settings.disposal.allowed)


#: shortfall (a share of the period's supply) below which a maximum flow counts as placing every tonne
_SHORT = 1e-9


def _capacity_repair(d: ModelData, open_in: dict[int, set[str]], allowed: set[str] | None, lanes: pd.DataFrame,
                     items: pd.DataFrame) -> dict[str, tuple[int, float]]:
    """Facilities to open (facility -> first investment period, tonnes it must take), greedily,
    so that in every operating year the supply can be placed (:func:`capacity_shortfall`) with the
    facilities ``open_in`` its investment period, plus those added, each at its largest capacity.
    Each round adds, among ``allowed`` (None: every facility) facilities the stuck items reach, the
    ones that could take most of them (their reachable stuck tonnes, at most their capacity) until
    that covers the shortfall; stops where no candidate is left (the fallbacks judge). ``lanes``,
    ``items``: :func:`_eol_lanes` and :func:`_supply_items` of ``d``, made once by the caller. Nothing is
    added where packs may stay uncollected or be disposed of: a shortfall is then a plan too."""
    if _may_escape(d):
        return {}
    largest = d.levels.groupby("facility")["capacity_t"].max().astype(float)
    added: dict[str, tuple[int, float]] = {}
    for year in sorted(items["period"].unique()):
        rows = items.loc[items["period"] == year]
        q = int(rows["investment_period"].iat[0])
        supply = rows.set_index("item")["tonnes"]
        while True:
            there = open_in.get(int(q), set()) | {f for f, (first, _) in added.items() if first <= q}
            short, stuck = capacity_shortfall(supply, lanes, largest.reindex(sorted(there)).dropna())
            if short <= _SHORT * float(supply.sum()):
                break
            cand = lanes.loc[lanes["item"].isin(stuck) & ~lanes["destination"].isin(there)]
            if allowed is not None:
                cand = cand.loc[cand["destination"].isin(allowed)]
            if cand.empty:
                break
            reachable = cand.assign(t=cand["item"].map(supply)).groupby("destination")["t"].sum()
            take = pd.Series(np.minimum(reachable.to_numpy(), largest.reindex(reachable.index).fillna(0.0).to_numpy()),
                             index=reachable.index)
            take = take.loc[take > 0].sort_index().sort_values(ascending=False, kind="stable")
            if take.empty:
                break
            need = short
            for f, t in zip(take.index, take.to_numpy(dtype=float), strict=True):  # largest takers first
                added[str(f)] = (q, min(float(t), need))
                need -= float(t)
                if need <= 0:
                    break
    return added


def cover(d: ModelData, kept: set[str]) -> set[str]:
    """Facilities to keep besides ``kept`` so that every supply key (collection point, chemistry,
    grade) has an end-of-life lane to a kept recycler (or pre-processor, where it reaches no
    recycler): :func:`_greedy_cover`; and so that, with every kept facility at its largest level,
    every year's supply can be placed (:func:`_capacity_repair`)."""
    lanes = _receiver_lanes(d)
    todo = set(lanes["item"]) - set(lanes.loc[lanes["destination"].isin(kept), "item"])
    reach = set(_greedy_cover(lanes, todo, None))
    years = set((d.period_of or {p: p for p in d.years}).values())
    return reach | set(_capacity_repair(d, dict.fromkeys(years, kept | reach), None, _eol_lanes(d), _supply_items(d)))


def reaching_plan(d: ModelData, plan: pd.DataFrame, allowed: set[str]) -> pd.DataFrame:
    """``plan`` (a ``facilities`` result table: facility, investment_period, period, open, level,
    modules) with facilities of ``allowed`` opened from the first investment period in which
    a supply key (collection point, chemistry, grade) with tonnes reaches no recycler the plan opens
    then (:func:`_greedy_cover`; at their smallest level), or in which the year's supply cannot be
    placed even with every open facility at its largest level (:func:`_capacity_repair`; at their
    smallest level that holds the tonnes they must take), so that every tonne has a destination.
    A facility so added stays open, its level never shrinking, to the last period. Then levels are
    raised where the plan's own levels cannot place a year's supply (:func:`_level_repair`).
    Modules, rejects, black mass and targets are left to the start's LP and its fallbacks
    (:func:`network_opt.solver.starts.plan_start`). Returns ``plan`` itself if nothing changed,
    else a table of its rows for facilities and periods left closed plus one row per open
    (facility, investment period)."""
    lanes = _receiver_lanes(d)
    years = sorted(set((d.period_of or {p: p for p in d.years}).values()))
    items = _supply_items(d)
    rows = plan.loc[plan["open"]].drop_duplicates(["facility", "investment_period"])
    opened: dict[int, set[str]] = {}
    for f, q in zip(rows["facility"], rows["investment_period"].astype(int), strict=True):
        opened.setdefault(int(q), set()).add(str(f))
    by_size = d.levels.sort_values(["facility", "capacity_t"], kind="stable")
    added: dict[str, tuple[int, float]] = {}  # facility -> (first investment period, tonnes to take)
    for q in sorted(int(v) for v in items["investment_period"].unique()):
        there = opened.get(q, set()) | {f for f, (first, _) in added.items() if first <= q}
        todo = set(items.loc[items["investment_period"] == q, "item"])
        todo -= set(lanes.loc[lanes["destination"].isin(there), "item"])
        for f in _greedy_cover(lanes, todo, allowed):
            added.setdefault(f, (q, 0.0))
    with_reach = {q: opened.get(q, set()) | {f for f, (first, _) in added.items() if first <= q} for q in years}
    eol = _eol_lanes(d)
    for f, (q, t) in _capacity_repair(d, with_reach, allowed, eol, items).items():
        added.setdefault(f, (q, t))
    planned = {(str(f), int(q)): str(lv) for f, q, lv in zip(rows["facility"], rows["investment_period"],
                                                           rows["level"], strict=True)}
    levels = dict(planned)
    sizes = {str(f): list(zip(g["level"], g["capacity_t"].astype(float), strict=True))
             for f, g in by_size.groupby("facility", sort=False)}
    for f, (first, tonnes) in sorted(added.items()):
        level = next((lv for lv, c in sizes[f] if c >= tonnes - 1e-9), sizes[f][-1][0])
        for q in years:
            if q >= first:
                _raise_level(levels, sizes[f], f, q, level)
    levels = _level_repair(d, levels, sizes, eol, items)
    modules = {(str(f), int(q)): k for f, q, k in zip(rows["facility"], rows["investment_period"], rows["modules"],
                                                      strict=True)}
    if levels == planned:
        return plan
    keys = set(levels)
    kept_rows = [(str(f), int(q)) not in keys for f, q in zip(plan["facility"], plan["investment_period"], strict=True)]
    new_rows = pd.DataFrame([{"facility": f, "investment_period": q, "period": q, "open": True, "level": lv,
                              "modules": modules.get((f, q), 0)} for (f, q), lv in sorted(levels.items())])
    return pd.concat([plan.loc[kept_rows], new_rows], ignore_index=True)


def _raise_level(levels: dict[tuple[str, int], str], sizes: list[tuple[str, float]], facility: str, period: int,
                 level: str) -> None:
    """Set ``facility``'s level in investment ``period`` to ``level`` unless it is already as large
    (``sizes``: its levels by capacity, smallest first; ``levels``: (facility, period) -> level)."""
    rank = {lv: k for k, (lv, _) in enumerate(sizes)}
    now = levels.get((facility, period))
    if now is None or rank[now] < rank[level]:
        levels[(facility, period)] = level


def _level_repair(d: ModelData, levels: dict[tuple[str, int], str], sizes: dict[str, list[tuple[str, float]]],
                  lanes: pd.DataFrame, items: pd.DataFrame) -> dict[tuple[str, int], str]:
    """``levels`` ((facility, investment period) -> level of the open facilities) raised, greedily,
    until a maximum flow places every operating year's supply into them at those levels
    (:func:`capacity_shortfall`): each round raises, among the open facilities the stuck items
    reach, the one that gains most (its new level's capacity less its current one, at most the
    stuck tonnes it reaches), to its smallest level that holds the shortfall or what it can reach,
    from that period on (levels never shrink). Stops where every such facility is at its largest
    level (the facilities :func:`_capacity_repair` added then keep the shortfall at 0 there).
    Modules are not counted (a facility with modules can hold more than the test assumes). ``lanes``,
    ``items``: as for :func:`_capacity_repair`. Nothing is
    raised where packs may stay uncollected or be disposed of."""
    levels = dict(levels)
    if _may_escape(d):
        return levels
    years = sorted({q for _, q in levels})
    capacity_of = {f: dict(s) for f, s in sizes.items()}
    for year in sorted(items["period"].unique()):
        rows = items.loc[items["period"] == year]
        q = int(rows["investment_period"].iat[0])
        supply = rows.set_index("item")["tonnes"]
        while True:
            there = {f: capacity_of[f][lv] for (f, qq), lv in levels.items() if qq == q}
            short, stuck = capacity_shortfall(supply, lanes, pd.Series(there, dtype=float))
            if short <= _SHORT * float(supply.sum()):
                break
            near = lanes.loc[lanes["item"].isin(stuck) & lanes["destination"].isin(there)]
            reach = near.assign(t=near["item"].map(supply)).groupby("destination")["t"].sum()
            best: tuple[float, str, str] | None = None
            for f, t in zip(reach.index.astype(str), reach.to_numpy(dtype=float), strict=True):
                now = there[f]
                want = now + min(short, t)
                level, cap = next(((lv, c) for lv, c in sizes[f] if c >= want - 1e-9), sizes[f][-1])
                gain = min(cap - now, t)
                if gain > 1e-9 and (best is None or (gain, f) > (best[0], best[1])):
                    best = (gain, f, level)
            if best is None:
                break
            _, f, level = best
            for later in years:
                if later >= q and (f, later) in levels:
                    _raise_level(levels, sizes[f], f, later, level)
    return levels


def without_facilities(d: ModelData, closed: set[str]) -> ModelData:
    r"""``d`` without the flow rows into or out of the facilities ``closed``: the data of the model
    over the other facilities, for the heuristic's restricted MIP built after its screen.

    Equivalent to closing them in the full model (:math:`y_{f,l,p} = 0`, no modules): a closed
    facility's capacity row bounds its inflow by 0, so its flows, and those its outputs feed, are 0
    in every plan; dropping their columns leaves the same plans and objective, with fewer columns
    and nonzeros to build, hand off and presolve. The facilities and their level columns stay (the
    caller fixes them closed), so the result tables list every facility. A facility-scoped target
    row whose facility has no flow row left in its period is dropped, as
    :func:`network_opt.model.data.prepare` makes none for such a facility. Lanes, supply and stock
    rows are kept as they are."""
    f = d.flows
    keep = np.flatnonzero(~(f["origin"].isin(closed) | f["destination"].isin(closed)).to_numpy())
    if len(keep) == len(f):
        return d
    flows = f.iloc[keep].reset_index(drop=True)
    t = d.targets
    if len(t) and "facility" in t:
        receiving = pd.MultiIndex.from_frame(flows[["destination", "period"]].drop_duplicates())
        measured = pd.MultiIndex.from_arrays([t["facility"].astype(str), t["period"].astype("int64")])
        t = t.loc[(t["facility"] == "").to_numpy() | measured.isin(receiving)].reset_index(drop=True)
    return dataclasses.replace(d, flows=flows, recovered=d.recovered[keep], entering=d.entering[keep],
                               input_content=d.input_content[keep], targets=t, candidate_reductions=None)


__all__ = ["capacity_shortfall", "cover", "kept_facilities", "reaching_plan", "without_facilities"]
