r"""Aggregation of collection points for very large instances: cluster, bound the error, disaggregate.

A national instance can hold thousands of collection points. :func:`aggregate` replaces them by at
most ``n`` clusters, each one collection point at its members' supply-weighted centre carrying their
summed supply; the model is solved on that smaller instance and :func:`disaggregate` splits the plan
back onto the member points. Units as everywhere in the project: tonnes (t), km, money in the
instance's currency, supply and flows per year within a period.

**Clustering.** Points are grouped by what the model treats per collection point: their
jurisdiction (targets, bans, landfill bans and export rules are per jurisdiction) and their road
detour factor (from ``sites.region`` via ``regions.csv``, else ``transport.detour_factor``). Clusters
never mix groups. The ``n`` clusters are shared among the groups in proportion to their number of
points (largest remainder, at least one each, at most one per point). Within a group, a weighted
k-means (k-means++ start with a fixed seed, at most :data:`MAX_ITERATIONS` Lloyd iterations) runs
on coordinates projected to km (equirectangular around the group's mean latitude), weighted by each
point's total supply (t/yr summed over its supply rows). :func:`aggregate` adds one coordinate per
facility site the group's points reach (:func:`_lane_features`), so that points reaching different
sites, which would lose the lanes their cluster cannot keep, are kept apart where that is cheap.

**Supply of a cluster.** One row per (period, chemistry, grade) of ``supply.csv``: tonnes summed,
``fit_share`` and ``collection_cost_per_t`` averaged weighted by tonnes, so that the fit tonnes and
the collection cost of the cluster are the sums over its members.

**Lanes of a cluster.** A cluster has an end-of-life lane to a facility's site only if *every*
member has a lane to every refurbisher, recycler and pre-processor there in the full model
(``transport.max_lane_km``, ``transport.nearest_facilities`` and the members' ``lanes.csv`` rows
decide, per point): one explicit ``lanes.csv`` row per cluster and such site, allowed or forbidden
(:func:`_cluster_lanes`). So every flow of the clustered plan can be split in proportion to the
members' supply on lanes the members have, and the plan :func:`disaggregate` writes is a plan of the
instance (unless stock is pooled or an emissions cap is exceeded: see the assumptions below), at
each member's own distance, route, cost and emissions: its cost :math:`z^{split} \ge z^{orig}`. The
lengths of a cluster's lanes are computed from its centre, except to sites some member has a
``lanes.csv`` row for: there its distance and cost per tonne are the supply-weighted means of every
member's own lane.

**Error bound.** Let :math:`r_m` be the road distance (km) from point m to its cluster centre
:math:`c(m)`: great-circle distance times m's detour factor :math:`\varphi`, the factor the model
applies to lanes leaving m (and, by construction of the groups, to lanes leaving the centre). Only
end-of-life packs leave collection points; a tonne-km of them costs, in the objective,

.. math:: \gamma = \tau_{eol} + \pi^{CO_2} \theta_{eol}

(transport rate per t-km plus carbon price times transport emissions per t-km). By the triangle
inequality of great-circle distance, for every destination d,
:math:`|\varphi h(m, d) - \varphi h(c, d)| \le r_m`. Summing the member flows of an original plan
gives a plan of the aggregated instance when every member has exactly its cluster's lanes, and
splitting each cluster flow in proportion to the members' supply (same period, chemistry and grade)
gives a plan of the original one whatever the members' lanes; every constraint other than the lane lengths sees the same
sums (jurisdictions are not mixed). Each tonne of supply row s (period p, weight :math:`\omega_p` =
discounted years the period stands for, exactly as in the objective) changes cost by at most
:math:`\omega_p \gamma r_{m(s)}`, so

.. math:: |z^{agg} - z^{orig}| \le B = \sum_s \omega_{p(s)} S_s r_{m(s)} \gamma
    + \sum_s \omega_{p(s)} S_s |\kappa_s - \bar\kappa_{c(s)}|

with :math:`S_s` the supply row's tonnes per year, :math:`\kappa_s` its collection cost per tonne and
:math:`\bar\kappa` the cluster row's (the second sum is zero when members share a collection cost),
and :math:`z^{orig} \le z^{split} \le z^{agg} + B`. Assumptions, reported in
:attr:`Aggregation.bound_assumptions`: both objective values are optimal; every point has exactly
the lanes of its cluster (checked here; when a point has more, only the second chain holds, so
:math:`z^{agg}` may exceed :math:`z^{orig}` by more than B); no emissions cap binds through
transport emissions (moving a tonne to the centre changes them by up to :math:`\theta_{eol} r_m`);
lanes are direct road lanes (no ``legs.csv``); no stock between years (pooled per cluster).

**Explicit lanes** (``lanes.csv`` rows leaving a collection point): where a cluster's lane has the
members' mean distance and cost, a member's term of the bound is
:math:`\omega_p S_s \max(\gamma r_m, \max_d |c_{m,d} - c_{c,d}|)` with :math:`c` the lane's cost
plus carbon per tonne, over those destinations (``docs/aggregation.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from network_opt.common.errors import InputError, Problem
from network_opt.common.geo import EARTH_RADIUS_KM, haversine_km
from network_opt.inputs.instance import Instance
from network_opt.inputs.lanes import PACK_RECEIVERS, damaged_premium, eol_pairs, supply_by_grade
from network_opt.inputs.read import ROW
from network_opt.inputs.routes import ROUTE_COLUMNS
from network_opt.model.data import period_weights, transport_co2e_per_t

SEED = 0
MAX_ITERATIONS = 100
#: how far apart (in units of a group's spread) two points are for each facility site one reaches and
#: the other does not, in the k-means of :func:`aggregate` (0: by location alone)
LANE_WEIGHT = 1.0
CHUNK = 4096  # points per block of a distance matrix
PAIR_CHUNK = 1024  # points per block of the members' lanes (each a row per destination)
KEY = ["period", "chemistry", "grade"]  # supply key of a result row, after the split into grades
EOL_RECEIVERS = ("refurbisher", *PACK_RECEIVERS)

#: columns of :attr:`Aggregation.membership` (and of ``aggregation.csv``)
MEMBERSHIP_COLUMNS = ["site", "cluster", "jurisdiction", "latitude", "longitude", "detour_factor",
                      "cluster_latitude", "cluster_longitude", "distance_km", "period", "chemistry", "grade",
                      "supply_t", "share", "collection_cost_per_t", "cluster_collection_cost_per_t", "bound"]


@dataclass
class Aggregation:
    """How collection points were clustered, and the error bound of solving the clustered instance.

    ``membership``: one row per member point and supply key (:data:`MEMBERSHIP_COLUMNS`):
    ``distance_km`` the road distance (km) from the point to its cluster centre, ``supply_t`` the
    point's supply (t/yr) for the key (period, chemistry, grade), ``share`` that supply over the
    cluster's, ``bound`` the row's part of :attr:`bound_transport` (currency).
    ``clusters``: one row per cluster (cluster, jurisdiction, region, detour_factor, latitude,
    longitude, points, supply_t summed over all rows).
    ``error_bound`` (currency, discounted as the objective): ``bound_transport + bound_collection``.
    """

    membership: pd.DataFrame
    clusters: pd.DataFrame
    error_bound: float
    bound_transport: float
    bound_collection: float
    bound_holds: bool
    bound_assumptions: str
    cost_per_tkm: float  # gamma: transport rate + carbon price x emissions per t-km of eol packs (currency/(t km))
    rate_per_tkm: float  # transport rate of eol packs (currency/(t km))
    co2e_per_tkm: float  # transport emissions of eol packs (t CO2e/(t km))
    carbon_price: float  # currency/t CO2e
    weights: dict[int, float]  # discounted years each period stands for
    currency: str = ""
    #: the members' own end-of-life lanes (of the full model) to the facilities their cluster
    #: reaches, which :func:`disaggregate` writes: per (site, destination node) distance_km,
    #: cost_per_t, the route and co2e_per_t (transport), see :func:`_member_lanes`
    member_lanes: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: grade -> premium per tonne of damaged packs on any lane (currency/t)
    damaged_premium: dict[str, float] = field(default_factory=dict)
    #: transport emissions of rail and sea legs (t CO2e/(t km))
    leg_co2e_per_tkm: tuple[float, float] = (0.0, 0.0)
    #: emissions.cap_t (t CO2e/yr; negative: none), which the plan split back is checked against
    emissions_cap_t: float = -1.0
    #: stock between years: the storage of a cluster's members is pooled (:func:`_cluster_storage`)
    stock: bool = False
    #: member points with a lane (to a facility site) their cluster does not keep
    points_losing_lanes: int = 0
    #: with stock: each member point's own storage cap (t; 0 without a storage.csv row), which the
    #: plan split back is checked against (its cluster's caps are pooled)
    member_caps: dict[str, float] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """Number of collection points aggregated."""
        return int(self.membership["site"].nunique())

    @property
    def n_clusters(self) -> int:
        """Number of clusters made."""
        return len(self.clusters)


def _detour(inst: Instance, regions: pd.Series) -> pd.Series:
    factors = inst["regions"].set_index("id")["detour_factor"]
    return regions.map(factors).fillna(inst.settings.transport.detour_factor).astype(float)


def _problem(inst: Instance, table: str, column: str, message: str, row: int = 0) -> InputError:
    return InputError([Problem(inst.table_file(table), row, column, message)])


def _check_request(inst: Instance, n: int, points: list[str]) -> None:
    """Refuse what aggregation cannot represent exactly (see the module docstring)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise _problem(inst, "supply", "site", f"--aggregate {n}: the number of clusters must be a whole number "
                       "of at least 1")
    if inst.settings.transport.explicit_lanes_only:
        raise _problem(inst, "lanes", "origin", "transport.explicit_lanes_only is set: the clusters made by "
                       "--aggregate would have no lanes; solve without --aggregate")


def _allocate(n: int, sizes: list[int]) -> list[int]:
    """Clusters per group: proportional to the group sizes (largest remainder), each in [1, size]."""
    total = sum(sizes)
    if n >= total:
        return list(sizes)
    quota = [n * s / total for s in sizes]
    k = [min(s, max(1, int(np.floor(q)))) for s, q in zip(sizes, quota, strict=True)]
    while sum(k) < n:  # the group furthest below its quota that can still split
        i = max((i for i in range(len(k)) if k[i] < sizes[i]), key=lambda i: (quota[i] - k[i], -i))
        k[i] += 1
    while sum(k) > n:  # the group furthest above its quota that keeps one cluster
        i = max((i for i in range(len(k)) if k[i] > 1), key=lambda i: (k[i] - quota[i], -i))
        k[i] -= 1
    return k


def _project(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Equirectangular coordinates (km) around the mean latitude; longitudes unwrapped around the first."""
    lat0, lon_ref = float(np.mean(lat)), float(lon[0])
    cos0 = max(float(np.cos(np.radians(lat0))), 1e-6)
    dlon = (lon - lon_ref + 180.0) % 360.0 - 180.0
    xy = np.column_stack([EARTH_RADIUS_KM * np.radians(dlon) * cos0, EARTH_RADIUS_KM * np.radians(lat - lat0)])
    return xy, (lat0, lon_ref, cos0)


def _unproject(xy: np.ndarray, frame: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    lat0, lon_ref, cos0 = frame
    lat = np.clip(lat0 + np.degrees(xy[:, 1] / EARTH_RADIUS_KM), -90.0, 90.0)
    lon = (lon_ref + np.degrees(xy[:, 0] / (EARTH_RADIUS_KM * cos0)) + 180.0) % 360.0 - 180.0
    return lat, lon


def _nearest(xy: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and squared distance to the nearest centre of every point (blocks of points)."""
    labels = np.empty(len(xy), dtype=int)
    d2 = np.empty(len(xy))
    cc = (centres**2).sum(axis=1)
    for a in range(0, len(xy), CHUNK):
        x = xy[a:a + CHUNK]
        dist = np.maximum((x**2).sum(axis=1)[:, None] - 2.0 * x @ centres.T + cc[None, :], 0.0)
        labels[a:a + CHUNK] = dist.argmin(axis=1)
        d2[a:a + CHUNK] = dist[np.arange(len(x)), labels[a:a + CHUNK]]
    return labels, d2


def _weighted_means(xy: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean per label (plain mean where a label's weights are all zero) and member counts."""
    count = np.bincount(labels, minlength=k).astype(float)
    wsum = np.bincount(labels, weights=w, minlength=k)
    out = np.zeros((k, xy.shape[1]))
    for j in range(xy.shape[1]):
        weighted = np.bincount(labels, weights=w * xy[:, j], minlength=k)
        plain = np.bincount(labels, weights=xy[:, j], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(wsum > 0, weighted / np.where(wsum > 0, wsum, 1.0), plain / np.maximum(count, 1.0))
    return out, count


def kmeans(xy: np.ndarray, weights: np.ndarray, k: int, seed: int = SEED,
           iterations: int = MAX_ITERATIONS) -> np.ndarray:
    """Labels 0..k'-1 (k' <= k, numbered in order of first member) of a weighted k-means of ``xy``
    (km): k-means++ start drawn with ``numpy.random.default_rng(seed)``, then at most ``iterations``
    Lloyd steps. Deterministic for a given input; fewer clusters when points coincide."""
    n = len(xy)
    if k >= n:
        return np.arange(n)
    w = weights.astype(float) if weights.sum() > 0 else np.ones(n)
    rng = np.random.default_rng(seed)
    centres = [xy[rng.choice(n, p=w / w.sum())]]
    d2 = ((xy - centres[0]) ** 2).sum(axis=1)
    while len(centres) < k:
        p = w * d2
        if p.sum() <= 0:
            break  # every point already sits on a centre
        c = xy[rng.choice(n, p=p / p.sum())]
        centres.append(c)
        d2 = np.minimum(d2, ((xy - c) ** 2).sum(axis=1))
    c_arr = np.array(centres)
    labels, _ = _nearest(xy, c_arr)
    for _ in range(iterations):
        means, count = _weighted_means(xy, w, labels, len(c_arr))
        c_arr = np.where(count[:, None] > 0, means, c_arr)  # an empty cluster keeps its centre (and stays empty)
        new, _ = _nearest(xy, c_arr)
        if np.array_equal(new, labels):
            break
        labels = new
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)  # renumber the labels in use by first member
    remap = np.empty(labels.max() + 1, dtype=int)
    remap[np.unique(labels)[order]] = np.arange(len(order))
    return remap[labels]


def _road_km(lat1: np.ndarray, lon1: np.ndarray, detour: np.ndarray, lat2: np.ndarray,
             lon2: np.ndarray) -> np.ndarray:
    return haversine_km(lat1, lon1, lat2, lon2) * detour


@dataclass
class Clustering:
    """Collection points in clusters (:func:`clustering`), before any cluster lane or error bound.

    ``inst``: the clustered instance (a copy: one collection-point site ``agg-<jurisdiction>-<k>``
    per cluster at its centre carrying its members' summed supply, member sites kept without
    supply, members' storage pooled; no cluster lanes yet, not validated). ``points``: one row per
    member point (index ``site``): latitude, longitude, region, jurisdiction, detour_factor,
    weight (its supply, t/yr), cluster, cluster_latitude, cluster_longitude. ``clusters``: one row
    per cluster (cluster, jurisdiction, region, detour_factor, latitude, longitude, points,
    supply_t), as :attr:`Aggregation.clusters`."""

    inst: Instance
    points: pd.DataFrame
    clusters: pd.DataFrame

    @property
    def cluster(self) -> pd.Series:
        """Member site -> its cluster's site id."""
        return self.points["cluster"]

    @property
    def n_clusters(self) -> int:
        """Number of clusters made."""
        return len(self.clusters)


def _lane_features(g: pd.DataFrame, xy: np.ndarray, reach: pd.DataFrame) -> np.ndarray:
    """``xy`` (km) of a group's points with one more column per facility site some of them reach
    (``reach``: rows site, destination_site), 1 where the point reaches the site and 0 where not,
    times :data:`LANE_WEIGHT` x the group's spread (km: the supply-weighted root mean square
    distance of its points from their weighted centre). Their squared distance grows by the square of
    that for each site one reaches and the other does not, so k-means keeps them in different
    clusters when it can."""
    mine = reach.loc[reach["site"].isin(g.index)]
    if mine.empty:
        return xy
    sites = np.sort(mine["destination_site"].unique())
    rows = g.index.get_indexer(pd.Index(mine["site"]))
    cols = np.searchsorted(sites, mine["destination_site"].to_numpy())
    indicator = np.zeros((len(g), len(sites)))
    indicator[rows, cols] = 1.0
    w = g["weight"].to_numpy(float)
    w = w if w.sum() > 0 else np.ones(len(g))
    centre = (w[:, None] * xy).sum(axis=0) / w.sum()
    spread = float(np.sqrt((w * ((xy - centre) ** 2).sum(axis=1)).sum() / w.sum()))
    return np.hstack([xy, LANE_WEIGHT * max(spread, 1.0) * indicator])


def clustering(inst: Instance, n: int, reach: pd.DataFrame | None = None) -> Clustering:
    """The clusters of :func:`aggregate` alone: the collection points of ``inst`` grouped and
    clustered (module docstring, *Clustering* and *Supply of a cluster*), without the clusters'
    lanes from ``lanes.csv``, the validation of the clustered instance or the error bound. With
    ``reach`` (rows site, destination_site: the facility sites each point reaches with every
    facility there), points that reach different sites are kept apart (:func:`_lane_features`). Raises
    :class:`~network_opt.common.errors.InputError` when ``n`` is not a whole number >= 1, when it is
    below the number of groups, or when ``transport.explicit_lanes_only`` is set."""
    from network_opt.inputs.overrides import copy_instance

    raw = inst["supply"]
    points = sorted(raw["site"].unique())
    _check_request(inst, n, points)
    if not points:
        raise _problem(inst, "supply", "site", "no supply rows: there are no collection points to aggregate")
    sites = inst["sites"].set_index("id")
    pts = sites.loc[points, ["latitude", "longitude", "region", "jurisdiction"]].copy()
    pts.index.name = "site"
    pts["detour_factor"] = _detour(inst, pts["region"])
    pts["weight"] = raw.groupby("site")["tonnes"].sum().reindex(pts.index).fillna(0.0).astype(float)
    groups = list(pts.groupby(["jurisdiction", "detour_factor"], sort=True))
    if n < len(groups):
        jurisdictions = sorted(pts["jurisdiction"].unique())
        split = (f" ({len(groups)} groups: collection points of one jurisdiction with different road detour factors "
                 "are kept apart too)" if len(groups) > len(jurisdictions) else "")
        raise _problem(inst, "sites", "jurisdiction",
                       f"--aggregate {n} is fewer than the {len(groups)} clusters needed: clusters never mix "
                       f"jurisdictions ({', '.join(map(str, jurisdictions))}){split}; ask for at least {len(groups)}")
    alloc = _allocate(n, [len(g) for _, g in groups])

    # cluster every group; collect (site -> cluster label) and the centres
    parts = []
    for ((jur, phi), g), k in zip(groups, alloc, strict=True):
        g = g.sort_index()
        lat, lon = g["latitude"].to_numpy(float), g["longitude"].to_numpy(float)
        xy, frame = _project(lat, lon)
        features = xy if reach is None else _lane_features(g, xy, reach)
        labels = kmeans(features, g["weight"].to_numpy(float), k)
        means, _ = _weighted_means(xy, g["weight"].to_numpy(float), labels, labels.max() + 1)
        clat, clon = _unproject(means, frame)
        for j in range(labels.max() + 1):
            members = g.loc[labels == j]
            same = (members["latitude"].nunique() == 1) and (members["longitude"].nunique() == 1)
            heaviest = members.sort_values("weight", ascending=False, kind="stable").iloc[0]
            parts.append({"jurisdiction": jur, "detour_factor": phi, "members": list(members.index),
                          "latitude": float(members["latitude"].iloc[0]) if same else float(clat[j]),
                          "longitude": float(members["longitude"].iloc[0]) if same else float(clon[j]),
                          "region": members["region"].iloc[0] if members["region"].nunique() == 1
                          else heaviest["region"], "supply_t": float(members["weight"].sum())})
    clusters = pd.DataFrame(parts)
    clusters = clusters.assign(first=clusters["members"].str[0]).sort_values(
        ["jurisdiction", "supply_t", "first"], ascending=[True, False, True], kind="stable")
    clusters["cluster"] = [f"agg-{j}-{i + 1}" for j, size in clusters.groupby("jurisdiction", sort=True).size().items()
                           for i in range(size)]
    clusters["points"] = clusters["members"].map(len)
    taken = sorted(set(clusters["cluster"]) & set(sites.index))
    if taken:
        raise _problem(inst, "sites", "id", f"site id {taken[0]!r} is already used; --aggregate names its clusters "
                       "agg-<jurisdiction>-<k>")
    member_of = pd.Series({m: c for c, ms in zip(clusters["cluster"], clusters["members"], strict=True) for m in ms})
    pts["cluster"] = member_of.reindex(pts.index)
    centre = clusters.set_index("cluster")
    pts["cluster_latitude"] = pts["cluster"].map(centre["latitude"])
    pts["cluster_longitude"] = pts["cluster"].map(centre["longitude"])

    agg_inst = copy_instance(inst)
    new_sites = pd.DataFrame({"id": clusters["cluster"],
                              "name": [f"cluster of {k} collection point{'s' if k > 1 else ''}"
                                       for k in clusters["points"]],
                              "kind": "collection_point", "latitude": clusters["latitude"],
                              "longitude": clusters["longitude"], "region": clusters["region"],
                              "jurisdiction": clusters["jurisdiction"], ROW: 0})
    agg_inst.tables["sites"] = pd.concat([inst["sites"], new_sites[inst["sites"].columns]], ignore_index=True)
    agg_inst.tables["supply"] = _cluster_supply(raw, pts["cluster"])
    if len(inst["storage"]):
        agg_inst.tables["storage"] = _cluster_storage(inst["storage"], pts["cluster"])
    out_clusters = clusters[["cluster", "jurisdiction", "region", "detour_factor", "latitude", "longitude", "points",
                             "supply_t"]].reset_index(drop=True)
    return Clustering(inst=agg_inst, points=pts, clusters=out_clusters)


def _supply_members(inst: Instance, clustered: Clustering) -> pd.DataFrame:
    """One row per member supply row (site, period, chemistry, grade): supply_t (t/yr),
    collection_cost_per_t, cluster and cluster_collection_cost_per_t (currency/t, the cluster's
    supply row's)."""
    mem = supply_by_grade(inst)[["site", *KEY, "tonnes", "collection_cost_per_t"]].rename(
        columns={"tonnes": "supply_t"})
    mem["cluster"] = mem["site"].map(clustered.cluster)
    cl = supply_by_grade(clustered.inst).rename(columns={"site": "cluster",
                                                        "collection_cost_per_t": "cluster_collection_cost_per_t"})
    return mem.merge(cl[["cluster", *KEY, "cluster_collection_cost_per_t"]], on=["cluster", *KEY], how="left")


def _collection_bound(mem: pd.DataFrame, weights: dict[int, float]) -> float:
    """The collection part of the error bound (currency, discounted as the objective):
    :math:`\\sum_s \\omega_{p(s)} S_s |\\kappa_s - \\bar\\kappa_{c(s)}|` over the rows of
    :func:`_supply_members`."""
    w = mem["period"].map(weights).to_numpy(float)
    return float((w * mem["supply_t"] * np.abs(_cost_gap(mem))).sum())


def collection_bound(inst: Instance, clustered: Clustering) -> float:
    """:attr:`Aggregation.bound_collection` of these clusters of ``inst`` (currency, discounted as the
    objective), without the rest of the error bound: what :mod:`network_opt.model.relax` subtracts."""
    return _collection_bound(_supply_members(inst, clustered), period_weights(inst))


def aggregate(inst: Instance, n: int) -> tuple[Instance, Aggregation]:
    """Cluster the collection points of ``inst`` (the sites of its supply rows) into at most ``n``
    clusters; return the aggregated instance (a copy: every other table as it is, member sites kept
    without supply, one collection-point site ``agg-<jurisdiction>-<k>`` per cluster at its centre)
    and the :class:`Aggregation` with the membership and the error bound (currency; see the module
    docstring for its derivation and assumptions).

    The clusters are :func:`clustering`'s. A cluster has the end-of-life lanes every member has,
    explicit rows of ``lanes.csv`` (:func:`_cluster_lanes`).
    Raises :class:`~network_opt.common.errors.InputError` when ``n`` is not a whole number >= 1, when it is
    below the number of groups (jurisdictions, further split by road detour factor), when
    ``transport.explicit_lanes_only`` is set,
    or when the aggregated instance fails the network checks (e.g. a cluster whose members share no
    lane to a recycler).
    """
    member = _member_lanes(inst, _collection_points(inst))
    reach = full_reach(inst, member)
    clustered = clustering(inst, n, reach=reach)
    agg_inst = clustered.inst
    pts = clustered.points.copy()
    pts["distance_km"] = _road_km(pts["latitude"].to_numpy(float), pts["longitude"].to_numpy(float),
                                  pts["detour_factor"].to_numpy(float), pts["cluster_latitude"].to_numpy(float),
                                  pts["cluster_longitude"].to_numpy(float))
    same_spot = (pts["latitude"] == pts["cluster_latitude"]) & (pts["longitude"] == pts["cluster_longitude"])
    pts.loc[same_spot, "distance_km"] = 0.0

    lane_rows, lane_gap, member_lanes, caveats, losing = _cluster_lanes(inst, pts, member, reach)
    if len(lane_rows):
        agg_inst.tables["lanes"] = pd.concat([inst["lanes"], lane_rows[inst["lanes"].columns]], ignore_index=True)
    check_clustered(agg_inst, n, shared_lanes=True)

    weights = period_weights(inst)
    rate = inst.settings.transport.cost_per_tkm.eol_packs
    theta = inst.settings.emissions.co2e_per_tkm.eol_packs
    price = inst.settings.emissions.carbon_price
    gamma = rate + price * theta

    # membership per supply key, with the rows of the bound
    mem = _supply_members(inst, clustered)
    mem = mem.join(pts[["jurisdiction", "latitude", "longitude", "detour_factor", "cluster_latitude",
                        "cluster_longitude", "distance_km"]], on="site")
    total = mem.groupby(["cluster", *KEY])["supply_t"].transform("sum")
    mem["share"] = np.where(total > 0, mem["supply_t"] / total.where(total > 0, 1.0), 0.0)
    w = mem["period"].map(weights).to_numpy(float)
    # per tonne, the most a member's lane cost differs from its cluster's: gamma x r over computed
    # lanes, the explicit lanes' own difference (cost + carbon) where the cluster has explicit lanes
    per_t = np.maximum(mem["distance_km"].to_numpy(float) * gamma,
                       mem["site"].map(lane_gap).fillna(0.0).to_numpy(float))
    mem["bound"] = w * mem["supply_t"] * per_t
    bound_collection = _collection_bound(mem, weights)
    bound_transport = float(mem["bound"].sum())
    mem = mem[MEMBERSHIP_COLUMNS].sort_values(["cluster", "site", *KEY], kind="stable").reset_index(drop=True)

    if len(inst["legs"]):
        caveats.append("legs.csv: lanes may take routes over rail or sea legs, and the triangle inequality behind B "
                       "is shown for road lanes only (each member's flows are written on its own route)")
    cap = inst.settings.emissions.cap_t
    if cap >= 0 and theta > 0:
        caveats.append(f"emissions.cap_t = {cap:g} t CO2e/yr: transport emissions of a tonne moved to its centre "
                       f"change by up to {theta:g} t CO2e/(t km) x r, so B assumes the cap does not bind")
    currency = inst.settings.currency
    formula = (f"B = sum over supply rows of discounted years x t/yr x road km to the cluster centre x {gamma:g} "
               f"{currency}/(t km) (transport {rate:g} + carbon price {price:g} x {theta:g} t CO2e/(t km)) "
               f"+ sum of discounted years x t/yr x |collection cost - cluster's| ({bound_collection:g} {currency})")
    stock = inst.settings.stock.allowed and len(inst["storage"]) > 0
    if stock:
        caveats = [*caveats, "stock between years is held per cluster, the caps of its members pooled (not covered "
                   "by B); flows released from a cluster's stock in a year without member supply stay at the cluster"]
    held = ("holds for the optimal objectives of this instance: jurisdictions and detour factors are not mixed, "
            "every point has exactly the lanes of its cluster")
    text = f"{formula}; " + ("; ".join(["does not hold exactly for this instance", *caveats]) if caveats else held)
    agg = Aggregation(membership=mem, clusters=clustered.clusters, error_bound=bound_transport + bound_collection,
                      bound_transport=bound_transport, bound_collection=bound_collection, bound_holds=not caveats,
                      bound_assumptions=text, cost_per_tkm=gamma, rate_per_tkm=rate, co2e_per_tkm=theta,
                      carbon_price=price, weights=weights, currency=currency, member_lanes=member_lanes,
                      damaged_premium=dict(zip(mem["grade"].unique(), damaged_premium(inst, pd.Series(
                          mem["grade"].unique())), strict=True)), stock=stock,
                      leg_co2e_per_tkm=(inst.settings.transport.rail.co2e_per_tkm,
                                        inst.settings.transport.sea.co2e_per_tkm), emissions_cap_t=cap,
                      points_losing_lanes=losing,
                      member_caps=_member_caps(inst, mem["site"]) if stock else {})
    return agg_inst, agg


def _member_caps(inst: Instance, members: pd.Series) -> dict[str, float]:
    """Each member point's storage cap (t), 0 where storage.csv has no row for it."""
    caps = inst["storage"].groupby("site")["cap_t"].sum() if len(inst["storage"]) else pd.Series(dtype=float)
    return {str(m): float(caps.get(m, 0.0)) for m in members.unique()}


def check_clustered(agg_inst: Instance, n: int, shared_lanes: bool = False) -> None:
    """Raise :class:`~network_opt.common.errors.InputError` with every error of the network checks of a
    clustered instance (:func:`~network_opt.inputs.validate.check_instance`), each marked as found after
    ``--aggregate n``; with ``shared_lanes`` (the clusters of :func:`aggregate`), each says that a
    cluster has only the lanes all its members have."""
    from network_opt.inputs.validate import check_instance

    why = (" (a cluster has only the lanes every one of its members has; more clusters keep points with "
           "different lanes apart)") if shared_lanes else ""
    problems = [p for p in check_instance(agg_inst) if p.severity == "error"]
    if problems:
        raise InputError([Problem(p.file, p.row, p.column, f"after --aggregate {n}: {p.message}{why}")
                          for p in problems])


def points_reach(inst: Instance) -> pd.DataFrame:
    """:func:`full_reach` of every collection point of ``inst``: what :func:`aggregate` clusters by."""
    return full_reach(inst, _member_lanes(inst, _collection_points(inst)))


def _collection_points(inst: Instance) -> pd.Index:
    """The collection points (sites of supply rows), sorted, as :func:`clustering` orders them."""
    return pd.Index(sorted(inst["supply"]["site"].unique()), name="site")


def full_reach(inst: Instance, member: pd.DataFrame) -> pd.DataFrame:
    """Rows (site, destination_site) of ``member`` (:func:`_member_lanes`) where the point has a lane
    to every refurbisher, recycler and pre-processor at the site: the sites a cluster may keep."""
    fac = inst["facilities"]
    per_site = fac.loc[fac["kind"].isin(EOL_RECEIVERS)].groupby("site")["id"].nunique()
    reached = member.groupby(["site", "destination_site"])["destination"].nunique()
    every = reached.to_numpy() == per_site.reindex(reached.index.get_level_values(1)).to_numpy()
    return reached.index[every].to_frame(index=False)


def _member_lanes(inst: Instance, pts: pd.DataFrame | pd.Index) -> pd.DataFrame:
    """The end-of-life lanes of the member points in the full model (:func:`~network_opt.inputs.lanes.eol_pairs`,
    in blocks of :data:`PAIR_CHUNK` points): one row per (``site``, ``destination`` node) with
    ``destination_site``, ``distance_km`` (km), ``cost_per_t`` (currency/t), the route
    (:data:`~network_opt.inputs.routes.ROUTE_COLUMNS`) and ``co2e_per_t`` (its transport emissions, t CO2e/t)."""
    points = pts if isinstance(pts, pd.Index) else pts.index
    parts = [eol_pairs(inst, points[a:a + PAIR_CHUNK]) for a in range(0, len(points), PAIR_CHUNK)]
    cols = ["site", "destination", "destination_site", "distance_km", "cost_per_t", *ROUTE_COLUMNS]
    lanes = pd.concat(parts, ignore_index=True).rename(columns={"origin": "site"})[cols]
    road, rail, sea = transport_co2e_per_t(inst, inst.settings.emissions.co2e_per_tkm.eol_packs,
                                           *(lanes[c].to_numpy(dtype=float) for c in ("road_km", "rail_km", "sea_km")))
    lanes["co2e_per_t"] = road + rail + sea
    return lanes


def _cluster_lanes(inst: Instance, pts: pd.DataFrame, member: pd.DataFrame, reach: pd.DataFrame
                   ) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, list[str], int]:
    """The end-of-life lanes of the clusters: the lanes every member has (``member``: :func:`_member_lanes`;
    ``reach``: its :func:`full_reach`).

    Every cluster gets one ``eol_packs`` row of ``lanes.csv`` to every site of a refurbisher,
    recycler or pre-processor: allowed if and only if every member has a lane to every such
    facility there in the full model (``transport.max_lane_km``, ``transport.nearest_facilities``
    and the members' own ``lanes.csv`` rows decide, per point), forbidden otherwise. An explicit
    row is never pruned nor cut by ``transport.max_lane_km``, so the cluster reaches exactly the
    intersection of its members' lanes, and splitting its flows in proportion to the members'
    supply only uses lanes the members have. An allowed lane is computed from the centre (no
    distance or cost given), unless a member has a ``lanes.csv`` row to the site (for
    ``eol_packs`` or all commodities): then its distance (km) and cost (currency/t) are the
    supply-weighted means over *all* members of each member's own lane there. The mean keeps the
    cluster's transport cost equal to the sum of its members' when they ship in proportion to their
    supply (the split of the plan), so the error of the bound is the spread of the members around
    it; a minimum would be exact for none of them.

    Returns the rows; per member the largest |cost + carbon per tonne of its lane - the cluster's|
    over the allowed lanes with such means (currency/t, for the bound); the rows of ``member`` to
    the sites the cluster reaches (what :func:`disaggregate` writes); caveats (members with
    lanes their cluster lacks); and the number of such members."""
    fac = inst["facilities"]
    per_site = fac.loc[fac["kind"].isin(EOL_RECEIVERS)].groupby("site")["id"].nunique()
    size = pts.groupby("cluster").size()
    full = reach.assign(cluster=reach["site"].map(pts["cluster"]))
    count = full.groupby(["cluster", "destination_site"]).size()
    shared = count.index[count.to_numpy() == size.reindex(count.index.get_level_values(0)).to_numpy()]
    grid = pd.MultiIndex.from_product([size.index, per_site.index], names=["cluster", "destination"])
    out = grid.to_frame(index=False).assign(commodity="eol_packs", distance_km=np.nan, cost_per_t=np.nan,
                                            allowed=grid.isin(shared), **{ROW: 0})

    lanes = inst["lanes"]
    listed = lanes.loc[lanes["origin"].isin(pts.index) & lanes["commodity"].isin(["", "eol_packs"]),
                       ["origin", "destination"]]
    listed = listed.assign(cluster=listed["origin"].map(pts["cluster"]))[["cluster", "destination"]]
    mean = out.loc[out["allowed"]].merge(listed.drop_duplicates(), on=["cluster", "destination"])
    lane_gap = pd.Series(dtype=float)
    if len(mean):
        own = member.groupby(["site", "destination_site"], sort=False)[["distance_km", "cost_per_t"]].first()
        g = mean[["cluster", "destination"]].merge(pts.reset_index()[["site", "cluster", "weight"]], on="cluster")
        g = g.join(own, on=["site", "destination"])  # every member has the lane: the site is shared
        g["_w"] = g["weight"].where(g.groupby(["cluster", "destination"])["weight"].transform("sum") > 0, 1.0)
        g["_wd"], g["_wc"] = g["_w"] * g["distance_km"], g["_w"] * g["cost_per_t"]
        sums = g.groupby(["cluster", "destination"])[["_w", "_wd", "_wc"]].transform("sum")
        g["distance_c"], g["cost_c"] = sums["_wd"] / sums["_w"], sums["_wc"] / sums["_w"]
        at = pd.MultiIndex.from_frame(out[["cluster", "destination"]])
        c = g.drop_duplicates(["cluster", "destination"]).set_index(["cluster", "destination"])
        out["distance_km"] = c["distance_c"].reindex(at).to_numpy()
        out["cost_per_t"] = c["cost_c"].reindex(at).to_numpy()
        carbon = inst.settings.emissions.carbon_price * inst.settings.emissions.co2e_per_tkm.eol_packs
        gap = ((g["cost_per_t"] - g["cost_c"]) + carbon * (g["distance_km"] - g["distance_c"])).abs()
        lane_gap = gap.groupby(g["site"]).max()
    out = out.rename(columns={"cluster": "origin"})
    for col in lanes.columns:
        if col not in out:
            out[col] = None
    lane_of = pd.MultiIndex.from_arrays([member["site"].map(pts["cluster"]), member["destination_site"]])
    kept = lane_of.isin(shared)
    caveats = []
    extra = int(member.loc[~kept, "site"].nunique())
    if extra:
        caveats.append(f"{extra} point(s) have lanes to facilities their cluster does not reach (a cluster keeps "
                       "only the lanes every member has: transport.max_lane_km, transport.nearest_facilities and "
                       "lanes.csv decide them per point), so B holds one way only: the plan written, a plan of this "
                       "instance, costs at most z_agg + B, while z_agg may exceed z_orig by more than B (more clusters "
                       "keep points with different lanes apart)")
    return out, lane_gap, member.loc[kept].reset_index(drop=True), caveats, extra


def _cost_gap(frame: pd.DataFrame) -> np.ndarray:
    """Member's minus cluster's collection cost per tonne (currency/t); averaging round-off counts as 0."""
    own = frame["collection_cost_per_t"].to_numpy(float)
    gap = own - frame["cluster_collection_cost_per_t"].fillna(frame["collection_cost_per_t"]).to_numpy(float)
    return np.where(np.abs(gap) <= 1e-9 * np.maximum(1.0, np.abs(own)), 0.0, gap)


def _cluster_supply(raw: pd.DataFrame, cluster: pd.Series) -> pd.DataFrame:
    """Supply rows of the clusters: per (cluster, period, chemistry, grade), tonnes summed, fit share
    and collection cost per tonne averaged weighted by tonnes (plain mean where all tonnes are 0)."""
    s = raw.assign(site=raw["site"].map(cluster), _fit_t=raw["fit_share"] * raw["tonnes"],
                   _cost_t=raw["collection_cost_per_t"] * raw["tonnes"])
    g = s.groupby(["site", "period", "chemistry", "grade"], sort=True, as_index=False).agg(
        tonnes=("tonnes", "sum"), fit_t=("_fit_t", "sum"), cost_t=("_cost_t", "sum"),
        fit_mean=("fit_share", "mean"), cost_mean=("collection_cost_per_t", "mean"))
    pos = g["tonnes"] > 0
    safe = g["tonnes"].where(pos, 1.0)
    g["fit_share"] = np.clip(np.where(pos, g["fit_t"] / safe, g["fit_mean"]), 0.0, 1.0)
    g["collection_cost_per_t"] = np.maximum(np.where(pos, g["cost_t"] / safe, g["cost_mean"]), 0.0)
    g[ROW] = 0
    return g[list(raw.columns)].reset_index(drop=True)


def _cluster_storage(storage: pd.DataFrame, cluster: pd.Series) -> pd.DataFrame:
    """Storage rows (stock between years) with those of member collection points merged into one per
    cluster: caps summed (t), holding costs averaged weighted by cap (currency/(t yr)); rows of other
    sites (pre-processors) as they are. Pooling the caps of a cluster lets its stock sit anywhere in
    it: the error bound B does not cover stock."""
    member = storage["site"].isin(cluster.index)
    rows = storage.loc[member].assign(site=lambda x: x["site"].map(cluster),
                                      _w=lambda x: x["cap_t"] * x["holding_cost_per_t_year"])
    merged = rows.groupby("site", as_index=False, sort=True).agg(
        cap_t=("cap_t", "sum"), _w=("_w", "sum"), _row=(ROW, "first"), source=("source", "first"),
        _mean=("holding_cost_per_t_year", "mean"))
    with np.errstate(divide="ignore", invalid="ignore"):
        merged["holding_cost_per_t_year"] = np.where(merged["cap_t"] > 0, merged["_w"] / merged["cap_t"],
                                                     merged["_mean"])
    merged = merged.rename(columns={"_row": ROW})
    return pd.concat([storage.loc[~member], merged[storage.columns]], ignore_index=True)


def disaggregate(tables: dict[str, pd.DataFrame], agg: Aggregation) -> dict[str, pd.DataFrame]:
    """Result tables with every cluster split back onto its member points: a plan of the instance
    that was aggregated.

    ``flows``: each end-of-life row leaving a cluster becomes one row per member with supply for
    the row's (period, chemistry, grade), carrying the member's share of the tonnes (t/yr) on the
    member's own lane of the instance (:attr:`Aggregation.member_lanes`; a cluster has only lanes
    every member has): its ``distance_km`` and route, ``cost`` its transport cost and damaged-pack
    premium (currency/yr), ``co2e_t`` its transport emissions plus the row's process emissions per
    tonne (t CO2e/yr). ``collection``: each cluster row becomes one row per member: ``supply_t``
    the member's own supply, the other quantities its share. ``costs`` and ``emissions``: the
    ``transport``, ``carbon`` and ``collection`` terms and the transport emissions change by what the
    split changes, so that the costs add up to the cost of the plan returned. Every other table is
    returned as it is. Raises ValueError when a member has no lane for its share of a flow (tables
    that are not a plan of this aggregation's clustered instance).
    """
    out = dict(tables)
    mem = agg.membership
    clusters = set(agg.clusters["cluster"])
    periods = sorted(agg.weights)
    change = pd.DataFrame(0.0, index=pd.Index(periods, name="period"),
                          columns=["transport", "road_co2e", "rail_co2e", "sea_co2e", "collection"])
    changed = False

    def per_period(frame: pd.DataFrame, values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=frame.index).groupby(frame["period"]).sum().reindex(periods, fill_value=0.0)

    flows = tables.get("flows")
    if flows is not None and len(flows):
        hit = (flows["origin"].isin(clusters) & (flows["commodity"] == "eol_packs")).to_numpy()
        rows = flows.loc[hit].assign(_order=np.nonzero(hit)[0])
        split = rows.merge(mem[["cluster", "site", *KEY, "share"]].rename(columns={"cluster": "origin"}),
                           on=["origin", *KEY], how="left")
        unsplit = split["site"].isna().to_numpy()  # no member supply: packs released from the cluster's stock
        if unsplit.any() and not agg.stock:
            bad = split.loc[unsplit].iloc[0]
            raise ValueError(f"flow from {bad['origin']} ({bad['period']} {bad['chemistry']}/{bad['grade']}) has no "
                             "member with that supply in the aggregation")
        pooled = split.loc[unsplit, [*flows.columns, "_order"]]
        before = split.loc[~unsplit].drop_duplicates("_order")
        split = split.loc[~unsplit].reset_index(drop=True)
        own = split[["site", "destination"]].merge(agg.member_lanes, on=["site", "destination"], how="left")
        if own["cost_per_t"].isna().any():
            bad = split.loc[own["cost_per_t"].isna().to_numpy()].iloc[0]
            raise ValueError(f"member {bad['site']} of {bad['origin']} has no lane to {bad['destination']} in the "
                             "instance: these tables are not a plan of this aggregation")

        def km(frame: pd.DataFrame, column: str) -> np.ndarray:
            return frame[column].to_numpy(float) if column in frame else np.zeros(len(frame))

        rail, sea = agg.leg_co2e_per_tkm
        factors = {"road_co2e": agg.co2e_per_tkm, "rail_co2e": rail, "sea_co2e": sea}
        tonnes = split["tonnes"].to_numpy(float) * split["share"].to_numpy(float)
        if "cost" in split:
            premium = split["grade"].map(agg.damaged_premium).fillna(0.0).to_numpy(float)
            split["cost"] = tonnes * (own["cost_per_t"].to_numpy(float) + premium)
            change["transport"] = per_period(split, split["cost"].to_numpy(float)) - per_period(
                before, before["cost"].to_numpy(float))
        if "co2e_t" in split:  # the member's transport emissions, the row's process emissions per tonne
            transport = sum(f * km(split, m.replace("co2e", "km")) for m, f in factors.items())
            process = split["co2e_t"].to_numpy(float) / split["tonnes"].to_numpy(float) - transport
            split["co2e_t"] = tonnes * (own["co2e_per_t"].to_numpy(float) + process)
        for mode, factor in factors.items():
            column = mode.replace("co2e", "km")
            if column in split:
                change[mode] = factor * (per_period(split, tonnes * own[column].to_numpy(float))
                                         - per_period(before, before["tonnes"].to_numpy(float) * km(before, column)))
        for column in ("distance_km", *ROUTE_COLUMNS):
            if column in split:
                split[column] = own[column].to_numpy()
        split["tonnes"] = tonnes
        split["origin"] = split["site"]
        if "origin_site" in split:
            split["origin_site"] = split["site"]
        split = split.loc[split["tonnes"] > 0, [*flows.columns, "_order"]]
        kept = flows.loc[~hit].assign(_order=np.nonzero(~hit)[0])
        merged = pd.concat([kept, split, pooled], ignore_index=True).sort_values(["_order", "origin"], kind="stable")
        out["flows"] = merged.drop(columns="_order").reset_index(drop=True).astype(flows.dtypes.to_dict())
        changed = changed or bool(hit.any())
    col = tables.get("collection")
    if col is not None and len(col):
        hit = col["site"].isin(clusters).to_numpy()
        rows = col.loc[hit].assign(_order=np.nonzero(hit)[0])
        split = rows.merge(mem[["cluster", "site", *KEY, "share", "supply_t", "collection_cost_per_t",
                                "cluster_collection_cost_per_t"]].rename(
            columns={"cluster": "_cluster", "site": "_member", "supply_t": "_supply"}),
            left_on=["site", *KEY], right_on=["_cluster", *KEY], how="inner")
        for c in col.columns:
            if c not in ("site", *KEY, "supply_t") and pd.api.types.is_float_dtype(col[c]):
                split[c] = split[c].to_numpy(float) * split["share"].to_numpy(float)
        if "supply_t" in split:
            split["supply_t"] = split["_supply"]
        split["site"] = split["_member"]
        # the member's collection cost on the tonnes it collects, instead of the cluster's
        collected = split["_supply"] - split.get("uncollected_t", 0.0)
        change["collection"] = per_period(split, _cost_gap(split) * collected.to_numpy(float))
        kept = col.loc[~hit].assign(_order=np.nonzero(~hit)[0])
        # cluster rows no member has supply for (years stock is released in) stay at the cluster
        alone = rows.loc[~rows.set_index(["site", *KEY]).index.isin(split.set_index(["_cluster", *KEY]).index)]
        merged = pd.concat([kept, split[[*col.columns, "_order"]], alone], ignore_index=True)
        merged = merged.sort_values(["_order", "site"], kind="stable").drop(columns="_order")
        out["collection"] = merged.reset_index(drop=True).astype(col.dtypes.to_dict())
        changed = changed or bool(hit.any())
    if changed:
        out.update(_changed_costs(tables, change, agg))
    return out


def _changed_costs(tables: dict[str, pd.DataFrame], change: pd.DataFrame, agg: Aggregation
                   ) -> dict[str, pd.DataFrame]:
    """``costs`` and ``emissions`` of ``tables`` changed by ``change`` (per period: transport and
    collection cost in currency/yr, transport emissions per mode in t CO2e/yr): each period's
    ``transport``, ``carbon`` and ``collection`` terms by its weight (discounted years) times the
    change, ``co2e_t`` and the mode's column of ``emissions`` by the change."""
    out = {}
    co2e = change[["road_co2e", "rail_co2e", "sea_co2e"]].sum(axis=1)
    costs = tables.get("costs")
    if costs is not None and len(costs):
        weight = costs["period"].map(agg.weights).fillna(0.0).to_numpy(float)
        per_year = {"transport": change["transport"], "carbon": agg.carbon_price * co2e,
                    "collection": change["collection"]}
        value = costs["value"].to_numpy(float).copy()
        for term, by_period in per_year.items():
            at = (costs["term"] == term).to_numpy()
            value[at] += weight[at] * costs.loc[at, "period"].map(by_period).fillna(0.0).to_numpy(float)
        out["costs"] = costs.assign(value=value)
    emissions = tables.get("emissions")
    if emissions is not None and len(emissions):
        em = emissions.copy()
        for column, by_period in (("co2e_t", co2e), *((f"{m}_t", change[m]) for m in change.columns if "co2e" in m)):
            if column in em:
                em[column] = em[column].to_numpy(float) + em["period"].map(by_period).fillna(0.0).to_numpy(float)
        out["emissions"] = em
    return out


def _over_own_caps(collection: pd.DataFrame | None, caps: dict[str, float]) -> list[str]:
    """A plan warning when the plan split back holds stock at a member point above the point's own
    storage cap (its cluster's caps pooled): ``collection`` is the split ``collection`` table."""
    if not caps or collection is None or "stock_t" not in collection or not len(collection):
        return []
    held = collection.groupby(["site", "period"])["stock_t"].sum()
    cap = held.index.get_level_values("site").map(lambda site: caps.get(str(site), np.inf)).to_numpy(dtype=float)
    over = held[held.to_numpy() > cap + 1e-6 * np.maximum(1.0, cap)]
    if over.empty:
        return []
    (site, period), tonnes = next(iter(over.items()))
    return [f"the plan split back holds stock above a point's own storage cap at {len(over)} point-year(s) (e.g. "
            f"{tonnes:,.1f} t at {site} in {period}, cap {caps[str(site)]:,.1f} t; its cluster's caps are pooled): it "
            "is not a plan of this instance (--redispatch gives one)"]


def aggregation_summary(agg: Aggregation, aggregated: dict[str, pd.DataFrame],
                        disaggregated: dict[str, pd.DataFrame], objective: float | None,
                        bound: float | None = None) -> dict[str, object]:
    """Figures for ``summary.json``: points, clusters, the bound B (currency) and its assumptions;
    the clustered model's objective and MIP bound (``objective_aggregated``, ``bound_aggregated``);
    with a plan, the change of transport cost, carbon cost and collection cost (currency,
    discounted as in the objective) from the clustered plan to the disaggregated one (the terms of
    ``costs`` of both), the cost of the disaggregated plan, a plan of the instance
    (``objective_disaggregated``), and a lower bound of the instance's optimum
    (``bound_disaggregated``: the clustered model's MIP bound minus B when B holds, else None)."""
    out: dict[str, object] = {
        "points": agg.points, "clusters": agg.n_clusters, "error_bound": agg.error_bound,
        "error_bound_transport": agg.bound_transport, "error_bound_collection": agg.bound_collection,
        "bound_holds": agg.bound_holds, "bound_assumptions": agg.bound_assumptions,
        "points_losing_lanes": agg.points_losing_lanes,
        "cost_per_tkm": agg.cost_per_tkm, "objective_aggregated": objective, "bound_aggregated": bound,
    }
    before, after = aggregated.get("costs"), disaggregated.get("costs")
    if before is None or after is None or objective is None:
        return out

    def term(frame: pd.DataFrame, name: str) -> float:
        return float(frame.loc[frame["term"] == name, "value"].sum())

    transport, carbon, collection = (term(after, t) - term(before, t) for t in ("transport", "carbon", "collection"))
    written = objective + transport + carbon + collection
    warnings = []
    emissions = disaggregated.get("emissions")
    if agg.emissions_cap_t >= 0 and emissions is not None and len(emissions):
        over = emissions.loc[emissions["co2e_t"] > agg.emissions_cap_t + 1e-6 * max(1.0, agg.emissions_cap_t)]
        if len(over):
            warnings.append(f"the plan split back onto the points emits more than emissions.cap_t = "
                            f"{agg.emissions_cap_t:g} t CO2e/yr in {', '.join(map(str, over['period']))} (its members' "
                            "lanes emit more than their cluster's): it is not a plan of this instance")
    warnings += _over_own_caps(disaggregated.get("collection"), agg.member_caps)
    lower = None
    if bound is not None and agg.bound_holds and not warnings:  # z_orig >= z_agg - B >= clustered bound - B
        lower = min(float(bound) - agg.error_bound, written)
    out.update({"transport_cost_difference": transport, "carbon_cost_difference": carbon,
                "collection_cost_difference": collection, "objective_disaggregated": written,
                "bound_disaggregated": lower, "plan_warnings": warnings})
    return out
