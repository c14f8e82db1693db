r"""A clustered instance built as a *relaxation* of the full one: its optimum bounds the full optimum.

:func:`network_opt.model.aggregate.aggregate` clusters collection points and gives each cluster lanes
at its members' supply-weighted means, which makes the clustered optimum close to the full one but
on either side of it. :func:`relaxed_aggregate` clusters in the same way but by location alone
(jurisdictions and detour factors never mixed, supply summed per period, chemistry and grade; not
by the points' reach, see :func:`relaxed_aggregate`) and changes what could make a cluster dearer
than its members:

- **Lanes.** For every (cluster, destination site) that some member's end-of-life lane of the
  *full* model reaches (the lanes the full model is built with, pruning included), the cluster gets
  one explicit ``lanes.csv`` row for ``eol_packs`` with distance :math:`\min_m d_{m,s}` (km) and
  cost :math:`\min_m c_{m,s}` (currency/t) over those members. Explicit lanes are never pruned and
  ignore ``transport.max_lane_km``, so the cluster reaches every destination any member reaches, at
  no more cost, transport emissions or carbon cost per tonne than any of them.
- **Stock** (``storage.csv`` rows of member points): caps summed, holding cost the members' minimum.
- **What a lane can carry** (:func:`member_reach`, set on the prepared clustered data by
  :func:`network_opt.runs.heuristic.relaxed_screen`, with ``model.flow_bounds`` on): the cluster's
  end-of-life flow to a destination in a year, per chemistry and grade, is at most the sum of the
  full model's bounds :math:`U_i` (the member's supply, plus what its stock may add, at most the
  facility's largest capacity) over the members' flows to that destination. Without it a cluster
  could send all its supply to a facility that only one member reaches; a national clustered plan
  did so, and at the largest levels the full model could not place 16 kt/yr of it.

**Why it is a relaxation.** Take any plan of the full model and sum its flows per cluster: supply,
collection (same tonnes), targets (per jurisdiction, never mixed), capacities and every row
downstream of the collection points see the same sums, each summed flow has a lane, its cost
per tonne is at most each member's, and it is at most the sum of its members' flows' bounds. So
the clustered model has a plan at most as dear, and

.. math:: \underline z^{R} \le z^{R*} \le z^* - \Delta

with :math:`\underline z^{R}` the clustered MIP's dual bound, :math:`z^{R*}` its optimum and
:math:`\Delta` a correction that is 0 unless packs may be left uncollected
(``uncollected.allowed``): then a full plan may leave the members with the dearest collection cost
uncollected, which the cluster's supply-weighted mean cost :math:`\bar\kappa` does not see, so
:math:`\Delta = \sum_s \omega_{p(s)} S_s |\kappa_s - \bar\kappa_{c(s)}|` (the aggregation's
``bound_collection``) is subtracted: the full model's bound is :math:`\underline z^{R} - \Delta`.
If the clustered model is infeasible, so is the full one.

It does not hold (``holds`` False, ``caveats`` say why, and no bound is reported) when lanes may
take rail or sea legs while carbon is priced or capped: a member's route over a leg may emit less
than the cluster's road lane at the shortest distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from network_opt.inputs.instance import Instance
from network_opt.inputs.read import ROW
from network_opt.model.aggregate import Clustering, check_clustered, clustering, collection_bound
from network_opt.model.data import ModelData


@dataclass
class Relaxation:
    """The clustering behind a relaxed instance and how its bound maps to the full model.

    ``clustering``: the clusters (:func:`~network_opt.model.aggregate.clustering`; no mean lanes and
    no error bound B are computed for a relaxation). ``correction``: currency (discounted as the
    objective) subtracted from the clustered model's bound to bound the full model
    (:math:`\\Delta`, module docstring). ``lanes``: the cluster lanes written (rows of
    ``lanes.csv``). ``holds``: whether the bound holds; ``caveats`` why not."""

    clustering: Clustering
    correction: float
    lanes: int
    holds: bool = True
    caveats: list[str] = field(default_factory=list)

    def full_bound(self, relaxed_bound: float | None) -> float | None:
        """A lower bound (currency) of the full model from the clustered model's bound; None when
        there is none or the relaxation does not hold."""
        if relaxed_bound is None or not self.holds:
            return None
        return float(relaxed_bound) - self.correction


def cluster_lanes(lanes: pd.DataFrame, cluster: pd.Series) -> pd.DataFrame:
    """Per (cluster, destination site) reached by an ``eol_packs`` lane of a member: the least
    distance (km) and the least cost (currency/t) over the members' lanes there. ``lanes``: the
    full model's lanes (:data:`network_opt.inputs.lanes.LANE_COLUMNS`); ``cluster``: site ->
    cluster. Columns: cluster, destination_site, distance_km, cost_per_t."""
    eol = lanes.loc[(lanes["commodity"] == "eol_packs") & lanes["origin_site"].isin(cluster.index),
                    ["origin_site", "destination_site", "distance_km", "cost_per_t"]]
    eol = eol.assign(cluster=eol["origin_site"].map(cluster))
    return (eol.groupby(["cluster", "destination_site"], sort=True)
            .agg(distance_km=("distance_km", "min"), cost_per_t=("cost_per_t", "min")).reset_index())


def relaxed_aggregate(inst: Instance, n: int, lanes: pd.DataFrame) -> tuple[Instance, Relaxation]:
    """The collection points of ``inst`` in at most ``n`` clusters, as a relaxation of the model
    whose lanes are ``lanes`` (the full model's, after pruning: :attr:`ModelData.lanes`); see the
    module docstring. Returns the clustered instance (a copy) and the :class:`Relaxation`. Raises
    what :func:`~network_opt.model.aggregate.clustering` raises, and what the network checks find in
    the relaxed instance (:func:`~network_opt.model.aggregate.check_clustered`).

    The clusters are :func:`~network_opt.model.aggregate.clustering`'s by location alone (no
    ``reach``), made without aggregate's mean lanes and error bound (which a relaxation replaces);
    only the collection part of that bound, the correction, is computed, and only where packs may
    stay uncollected. :func:`~network_opt.model.aggregate.aggregate` also keeps points that reach
    different sites apart; here that made the national clustered LP 0.07 % weaker and 80 % slower
    (benchmarks/README.md, "Lane-aware clusters"), since a relaxation's cluster reaches the union of
    its members' lanes anyway."""
    clustered = clustering(inst, n)
    agg_inst = clustered.inst
    cluster = clustered.cluster
    best = cluster_lanes(lanes, cluster)
    rows = pd.DataFrame({"origin": best["cluster"], "destination": best["destination_site"],
                         "commodity": "eol_packs", "distance_km": best["distance_km"],
                         "cost_per_t": best["cost_per_t"], "allowed": True, ROW: 0})
    own = inst["lanes"]
    for c in own.columns:
        if c not in rows:
            rows[c] = None
    # the members' own rows stay (they have no supply left); aggregate's mean lanes are replaced
    agg_inst.tables["lanes"] = pd.concat([own, rows[own.columns]], ignore_index=True)
    storage = inst["storage"]
    if len(storage):
        member = storage.loc[storage["site"].isin(cluster.index)]
        cheapest = member.groupby(member["site"].map(cluster))["holding_cost_per_t_year"].min()
        pooled = agg_inst.tables["storage"].copy()
        at = pooled["site"].isin(cheapest.index)
        pooled.loc[at, "holding_cost_per_t_year"] = pooled.loc[at, "site"].map(cheapest)
        agg_inst.tables["storage"] = pooled
    caveats = []
    em = inst.settings.emissions
    if len(inst["legs"]) and (em.carbon_price > 0 or em.cap_t >= 0):
        caveats.append("legs.csv with a carbon price or cap: a member's rail or sea route may emit less than the "
                       "cluster's road lane, so the clustered model is not a relaxation")
    check_clustered(agg_inst, n)
    correction = collection_bound(inst, clustered) if inst.settings.uncollected.allowed else 0.0
    return agg_inst, Relaxation(clustering=clustered, correction=correction, lanes=len(rows), holds=not caveats,
                                caveats=caveats)


def member_reach(full: ModelData, relaxed: ModelData, cluster: pd.Series) -> np.ndarray:
    r"""The flow bounds :math:`U` (t/yr, ``upper_bound_t``) of the clustered model ``relaxed``, cut to
    what its members can carry: for an end-of-life flow from a cluster to a destination in a year,
    chemistry and grade, :math:`\min(U_c, \sum_{m} U_m)` over the full model's (``full``) flows of
    the members (``cluster``: member site -> cluster site) to that destination with the same year,
    chemistry and grade; 0 where no member has one. Other flows keep their bound. Valid for the
    relaxation: a full plan's flows summed per cluster stay within it (each member's flow is within
    its own :math:`U_m`)."""
    keys = ["origin_site", "destination", "chemistry", "grade", "period"]
    f = full.flows
    eol = f.loc[(f["commodity"] == "eol_packs") & f["origin_site"].isin(cluster.index), [*keys, "upper_bound_t"]]
    eol = eol.assign(origin_site=eol["origin_site"].map(cluster))
    reach = eol.groupby(keys, sort=False)["upper_bound_t"].sum()
    r = relaxed.flows
    out = r["upper_bound_t"].to_numpy(dtype=float).copy()
    mine = ((r["commodity"] == "eol_packs") & r["origin_site"].isin(set(cluster.to_numpy()))).to_numpy()
    index = pd.MultiIndex.from_frame(r.loc[mine, keys])
    out[mine] = np.minimum(out[mine], reach.reindex(index).fillna(0.0).to_numpy(dtype=float))
    return out


__all__ = ["Relaxation", "cluster_lanes", "member_reach", "relaxed_aggregate"]
