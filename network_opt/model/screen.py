r"""Which candidate facilities the compress-and-filter heuristic keeps (``solve --heuristic``).

A screening model (the LP relaxation of the full model, or the MIP of the collection points
aggregated into clusters, :mod:`network_opt.model.aggregate`) names the facilities it uses; the
heuristic then solves the full model over those, every existing facility, and the ``neighbours``
nearest candidates of the same kind to each one kept (great-circle distance between their sites,
km), with every other candidate closed. Closing candidates only removes plans, so the plan found
is a plan of the full model and its objective is at least the full model's optimum; the bound
reported comes from elsewhere (``network_opt.runs.heuristic``).
"""

from __future__ import annotations

import numpy as np

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


__all__ = ["kept_facilities"]
