"""Which collection points reach a recycler, found without building the lanes.

The validation's pre-check (:func:`network_opt.inputs.validate.feasibility_precheck`) needs, for
each collection point, whether *some* ``eol_packs`` lane leads to a recycler or pre-processor. The
lanes themselves (:func:`network_opt.inputs.lanes.build_lanes`) are every unpruned pair of sites
within ``transport.max_lane_km`` crossed with chemistries, grades and periods: millions of rows on
a national instance. Here the question is answered per collection point with one nearest-neighbour
query on a KD-tree (``scipy.spatial.cKDTree``) of the receivers' sites as 3-D unit vectors:

* the straight-line (chord) distance ``c`` between two unit vectors and the great-circle distance
  ``d`` (km) on a sphere of radius ``R`` (:data:`~network_opt.common.geo.EARTH_RADIUS_KM`) are
  related by ``d = 2 R asin(c / 2)``, a monotone map: the chord-nearest receiver is the
  great-circle-nearest one;
* a collection point ``o`` reaches a receiver ``r`` by road when
  ``haversine_km(o, r) * detour(o) <= max_lane_km`` (the rule of ``lanes._pairs``, with the detour
  factor of the region the lane leaves), so it reaches *some* receiver by road when its nearest one
  passes that test, decided with the very same :func:`~network_opt.common.geo.haversine_km` call as
  the lanes' (no tolerance: a point exactly at the limit is reachable in both);
* ``lanes.csv`` rows decide a pair whatever its distance: an allowed row (for ``eol_packs`` or for
  every commodity, the commodity's own row first) reaches, a forbidden one does not. The few points
  with a forbidden row, and those whose chord distance lies within a rounding band of the limit,
  are checked against every receiver exactly (the exhaustive test, on a handful of rows);
* with ``transport.explicit_lanes_only`` only allowed rows of ``lanes.csv`` reach.

Pruning (``transport.nearest_facilities``) keeps at least the nearest destination of each kind and
technology per origin, and routes over rail or sea legs never drop a lane, so neither changes the
verdict. The cost is O((P + F) log F) for P collection points and F receiver sites, against the
P x F pairs (times chemistries and grades) of the lanes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree  # type: ignore[import-untyped]

from network_opt.common.geo import EARTH_RADIUS_KM, haversine_km
from network_opt.inputs.instance import Instance

#: receiving kinds of end-of-life packs (as :data:`network_opt.inputs.lanes.PACK_RECEIVERS`)
RECEIVERS = ("recycler", "preprocessor")
#: relative width of the band around the lane limit in which the chord distance of the KD-tree does
#: not decide alone (floating-point rounding of the two formulas differs by far less)
BAND = 1e-9


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points given in degrees as 3-D unit vectors (n x 3)."""
    p, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)])


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) of a chord between unit vectors: ``2 R asin(c / 2)``."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2.0, 0.0, 1.0))


def reachable_sites(inst: Instance, origins: pd.Index) -> pd.Series:
    """For each collection-point site of ``origins``, whether it has an ``eol_packs`` lane to some
    recycler or pre-processor (bool Series indexed by ``origins``), the verdict
    :func:`network_opt.inputs.lanes.build_lanes` implies, without building a lane."""
    origins = pd.Index(origins).unique()
    out = pd.Series(False, index=origins, dtype=bool)
    if not len(origins):
        return out
    sites = inst["sites"].drop_duplicates("id").set_index("id")
    fac = inst["facilities"]
    dest_sites = pd.Index(fac.loc[fac["kind"].isin(RECEIVERS), "site"].unique())
    if not len(dest_sites):
        return out
    tr = inst.settings.transport

    # explicit lanes: the row for eol_packs wins over the row for every commodity
    lanes = inst["lanes"]
    explicit = lanes.loc[lanes["commodity"].isin(["", "eol_packs"])]
    explicit = explicit.sort_values("commodity", ascending=False).drop_duplicates(["origin", "destination"])
    explicit = explicit.loc[explicit["origin"].isin(origins) & explicit["destination"].isin(dest_sites)]
    allowed = explicit["allowed"].fillna(True).astype(bool)
    out.loc[origins.isin(explicit.loc[allowed, "origin"])] = True
    if tr.explicit_lanes_only:
        return out
    forbidden = explicit.loc[~allowed, ["origin", "destination"]]

    # road lanes within max_lane_km: the nearest receiver site of each origin on the KD-tree
    d_loc = sites.reindex(dest_sites)[["latitude", "longitude"]].astype(float)
    d_loc = d_loc.loc[np.isfinite(d_loc.to_numpy()).all(axis=1)]  # a NaN distance is never within the limit
    o_loc = sites.reindex(origins)[["latitude", "longitude", "region"]]
    factors = inst["regions"].set_index("id")["detour_factor"]
    detour = o_loc["region"].map(factors).fillna(tr.detour_factor).to_numpy(dtype=float)
    o_lat, o_lon = o_loc["latitude"].to_numpy(dtype=float), o_loc["longitude"].to_numpy(dtype=float)
    todo = ~out.to_numpy() & np.isfinite(o_lat) & np.isfinite(o_lon) & np.isfinite(detour)
    if not len(d_loc) or not todo.any():
        return out
    d_lat, d_lon = d_loc["latitude"].to_numpy(), d_loc["longitude"].to_numpy()
    tree = cKDTree(unit_vectors(d_lat, d_lon))
    rows = np.flatnonzero(todo & ~origins.isin(forbidden["origin"]))
    chord, nearest = tree.query(unit_vectors(o_lat[rows], o_lon[rows]), k=1)
    exact = haversine_km(o_lat[rows], o_lon[rows], d_lat[nearest], d_lon[nearest]) * detour[rows]
    close = exact <= tr.max_lane_km
    out.iloc[rows[close]] = True
    # near the limit (rounding of chord and haversine may order two receivers differently), and
    # points with a forbidden lanes.csv row: the exhaustive test against every receiver site
    band = (chord_to_km(chord) * detour[rows] <= tr.max_lane_km * (1.0 + BAND) + BAND) & ~close
    exhaustive = np.concatenate([rows[band], np.flatnonzero(todo & origins.isin(forbidden["origin"]))])
    if len(exhaustive):
        dist = haversine_km(o_lat[exhaustive, None], o_lon[exhaustive, None], d_lat[None, :], d_lon[None, :]
                            ) * detour[exhaustive, None]
        within = dist <= tr.max_lane_km
        oi = origins[exhaustive].get_indexer(pd.Index(forbidden["origin"]))
        di = d_loc.index.get_indexer(pd.Index(forbidden["destination"]))
        keep = (oi >= 0) & (di >= 0)
        within[oi[keep], di[keep]] = False
        out.iloc[exhaustive[within.any(axis=1)]] = True
    return out


def unreachable_offers(inst: Instance, supply: pd.DataFrame) -> pd.DataFrame:
    """Supply (site, chemistry) with no lane to any recycler or pre-processor, as
    :func:`network_opt.inputs.lanes.unreachable_supply` finds it on the built lanes (same rows, same
    order), from :func:`reachable_sites`. ``supply``: :func:`~network_opt.inputs.lanes.supply_by_grade`."""
    offered = supply[["site", "chemistry"]].drop_duplicates()
    reach = reachable_sites(inst, pd.Index(offered["site"].unique()))
    stuck = offered.loc[~offered["site"].map(reach).fillna(False).astype(bool).to_numpy()]
    return stuck.reset_index(drop=True)
