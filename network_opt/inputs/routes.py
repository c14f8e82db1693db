"""Multimodal routes: road, rail and sea legs as one graph, and each lane's cheapest route on it.

Road joins any two sites (great-circle distance x the detour factor of the region it leaves). Rail
and sea legs (``legs.csv``) join ports, both ways, each with its own distance, cost and emission
factor. A route of a lane from origin ``o`` to destination ``d`` is direct road, or road from ``o``
to a port ``a``, a chain of legs from ``a`` to a port ``b`` (changing ports by road where needed),
and road from ``b`` to ``d``. Its generalised cost per tonne, the quantity each lane minimises, is

    g = (rate_c + pi theta_c) (road km) + sum over legs (cost_l + pi theta_mode(l) km_l)

with ``rate_c`` and ``theta_c`` the road cost and emissions per t-km of the lane's commodity c and
``pi`` the carbon price: routes carry no capacity, so the model with every route as a variable
would pick this route too (as long as the emissions cap does not bind).

The chain of legs between two ports is a shortest path over a small graph of the ports (networkx,
Dijkstra), layered so that a lane may require a mode: layer 0 before the first leg of a required
mode, layer 1 after it; a required leg moves a path into layer 1, any other edge stays in its
layer, and a chain ends in layer 1. The combination with the road ends is vectorised over the lanes
(numpy, in blocks), never a Python loop over lanes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import networkx as nx  # type: ignore[import-untyped]  # types-networkx is not in the dev extra
import numpy as np
import pandas as pd

from network_opt.common.geo import haversine_km
from network_opt.inputs.instance import Instance
from network_opt.inputs.schema import LEG_MODES

#: columns a route adds to a lane
ROUTE_COLUMNS = ["mode", "via", "road_km", "rail_km", "sea_km"]
ROAD = "road"
#: lanes routed per numpy block (a block holds lanes x ports numbers)
BLOCK = 50_000


@dataclass(frozen=True)
class _Chains:
    """Cheapest chains of legs between ports for one set of required modes: generalised cost
    ``g`` (ports x ports, inf where none), money per tonne, km per mode and the ports passed."""

    g: np.ndarray
    cost: np.ndarray
    km: dict[str, np.ndarray]
    via: np.ndarray  # object: "A>B" port ids of each chain
    modes: np.ndarray  # object: "sea" or "rail+road+sea" (the modes of the chain, in order)


def _site_table(inst: Instance) -> pd.DataFrame:
    sites = inst["sites"].set_index("id")
    factors = inst["regions"].set_index("id")["detour_factor"]
    detour = sites["region"].map(factors).fillna(inst.settings.transport.detour_factor)
    return sites.assign(detour=detour.astype(float))


def leg_rates(inst: Instance) -> pd.DataFrame:
    """The legs of ``legs.csv`` with ``cost`` (currency/t: the given cost_per_t, else distance x the
    mode's cost per t-km + its handling cost per tonne) and ``co2e`` (t CO2e/t)."""
    legs = inst["legs"].drop(columns="_row", errors="ignore").copy()
    tr = inst.settings.transport
    rate = legs["mode"].map({m: getattr(tr, m).cost_per_tkm for m in LEG_MODES}).astype(float)
    handling = legs["mode"].map({m: getattr(tr, m).handling_cost_per_t for m in LEG_MODES}).astype(float)
    theta = legs["mode"].map({m: getattr(tr, m).co2e_per_tkm for m in LEG_MODES}).astype(float)
    km = legs["distance_km"].astype(float)
    legs["cost"] = legs["cost_per_t"].astype(float).where(legs["cost_per_t"].notna(), km * rate + handling)
    legs["co2e"] = km * theta
    return legs


def _chains(inst: Instance, ports: list[str], road_km: np.ndarray, road_rate: float, road_g: float,
            required: tuple[str, ...]) -> _Chains:
    """Shortest chains from each port to each port that use at least one leg of a mode in ``required``."""
    price = inst.settings.emissions.carbon_price
    legs = leg_rates(inst)
    n = len(ports)
    g = nx.DiGraph()

    def edge(u: tuple[str, int], v: tuple[str, int], w: float, **attr: object) -> None:
        if not g.has_edge(u, v) or g.edges[u, v]["weight"] > w:
            g.add_edge(u, v, weight=w, **attr)

    for i, a in enumerate(ports):  # road between ports, in each layer
        for j, b in enumerate(ports):
            if i != j:
                for layer in (0, 1):
                    edge((a, layer), (b, layer), road_g * road_km[i, j], mode=ROAD, km=road_km[i, j],
                         cost=road_rate * road_km[i, j])
    r: Any  # an itertuples row (pandas-stubs types each field as any scalar)
    for r in legs.itertuples(index=False):
        w = float(r.cost) + price * float(r.co2e)
        attr = {"mode": str(r.mode), "km": float(r.distance_km), "cost": float(r.cost)}
        ends = (str(r.origin), str(r.destination))
        for u, v in (ends, ends[::-1]):
            if r.mode in required:
                edge((u, 0), (v, 1), w, **attr)
            else:
                edge((u, 0), (v, 0), w, **attr)
            edge((u, 1), (v, 1), w, **attr)
    out_g = np.full((n, n), np.inf)
    cost = np.zeros((n, n))
    km = {m: np.zeros((n, n)) for m in (ROAD, *LEG_MODES)}
    via = np.full((n, n), "", dtype=object)
    modes = np.full((n, n), "", dtype=object)
    index = {p: i for i, p in enumerate(ports)}
    for i, a in enumerate(ports):
        if (a, 0) not in g:
            continue
        dist, paths = nx.single_source_dijkstra(g, (a, 0), weight="weight")
        for (b, layer), w in dist.items():
            if layer != 1:
                continue
            j = index[b]
            out_g[i, j] = w
            path = paths[(b, layer)]
            seq: list[str] = []
            stops = [path[0][0]]
            for u, v in itertools.pairwise(path):
                e = g.edges[u, v]
                cost[i, j] += e["cost"]
                km[str(e["mode"])][i, j] += e["km"]
                if not seq or seq[-1] != e["mode"]:
                    seq.append(str(e["mode"]))
                stops.append(v[0])
            via[i, j] = ">".join(stops)
            modes[i, j] = "+".join(seq)
    return _Chains(g=out_g, cost=cost, km=km, via=via, modes=modes)


def _label(chain: str) -> str:
    """The modes of a whole route, in order: road to the first port, the chain, road from the last
    (consecutive repeats merged: ``road+sea+road``)."""
    seq: list[str] = []
    for m in (ROAD, *chain.split("+"), ROAD):
        if not seq or seq[-1] != m:
            seq.append(m)
    return "+".join(seq)


def route_lanes(inst: Instance, pairs: pd.DataFrame, commodity: str, want: pd.Series) -> pd.DataFrame:
    """Each lane's route: ``pairs`` has ``origin_site``, ``destination_site``, ``distance_km`` (the
    direct road distance, km) and ``cost_per_t`` (its road cost, currency/t); ``want`` per lane is
    ``road`` (direct road only), ``rail`` or ``sea`` (a route with a leg of that mode) or ``""`` (the
    cheapest of direct road and every route with a rail or sea leg). Returns ``pairs`` with
    ``distance_km`` (total, km) and ``cost_per_t`` of the route chosen and :data:`ROUTE_COLUMNS`."""
    out = pairs.copy()
    out["mode"] = ROAD
    out["via"] = ""
    out["road_km"] = out["distance_km"].astype(float)
    out["rail_km"] = 0.0
    out["sea_km"] = 0.0
    legs = inst["legs"]
    want = want.reindex(out.index).fillna("").astype(str)
    routed = (want != ROAD).to_numpy()
    if legs.empty or not routed.any():
        return out
    sites = _site_table(inst)
    ports = sorted(set(legs["origin"]) | set(legs["destination"]))
    p_lat, p_lon = sites.loc[ports, "latitude"].to_numpy(float), sites.loc[ports, "longitude"].to_numpy(float)
    p_det = sites.loc[ports, "detour"].to_numpy(float)
    road_rate = inst.settings.transport.cost_per_tkm[commodity]
    road_g = road_rate + inst.settings.emissions.carbon_price * inst.settings.emissions.co2e_per_tkm[commodity]
    between = haversine_km(p_lat[:, None], p_lon[:, None], p_lat[None, :], p_lon[None, :]) * p_det[:, None]

    o_sites = pd.Index(out["origin_site"].unique())
    d_sites = pd.Index(out["destination_site"].unique())
    o = sites.loc[o_sites]
    d = sites.loc[d_sites]
    # road km from each origin to each port (origin's detour factor), from each port to each destination
    to_port = haversine_km(o["latitude"].to_numpy(float)[:, None], o["longitude"].to_numpy(float)[:, None],
                           p_lat[None, :], p_lon[None, :]) * o["detour"].to_numpy(float)[:, None]
    from_port = haversine_km(p_lat[:, None], p_lon[:, None], d["latitude"].to_numpy(float)[None, :],
                             d["longitude"].to_numpy(float)[None, :]) * p_det[:, None]
    oi = o_sites.get_indexer(out["origin_site"])
    di = d_sites.get_indexer(out["destination_site"])
    direct_g = out["distance_km"].to_numpy(float) * road_g

    for required_mode in ("", *LEG_MODES):
        rows = np.flatnonzero(routed & (want == required_mode).to_numpy())
        if not len(rows):
            continue
        required = LEG_MODES if required_mode == "" else (required_mode,)
        if not legs["mode"].isin(required).any():
            continue  # no leg of the mode: the check of legs.csv reports it; the lanes stay road
        ch = _chains(inst, ports, between, road_rate, road_g, required)
        # best last port b for each (first port a, destination): chain a -> b, then road b -> d
        tail_g = np.full((len(ports), len(d_sites)), np.inf)
        best_b = np.zeros((len(ports), len(d_sites)), dtype=int)
        for j in range(len(ports)):
            via_j = ch.g[:, j, None] + road_g * from_port[None, j, :]
            less = via_j < tail_g
            tail_g = np.where(less, via_j, tail_g)
            best_b[less] = j
        for start in range(0, len(rows), BLOCK):
            r = rows[start:start + BLOCK]
            total = road_g * to_port[oi[r], :] + tail_g[:, di[r]].T  # lanes x a
            a = np.argmin(total, axis=1)
            g_best = total[np.arange(len(r)), a]
            b = best_b[a, di[r]]
            better = np.isfinite(g_best)
            if required_mode == "":
                better &= g_best < direct_g[r] - 1e-9 * np.maximum(1.0, np.abs(direct_g[r]))
            r, a, b = r[better], a[better], b[better]
            if not len(r):
                continue
            road_ends = to_port[oi[r], a] + from_port[b, di[r]]
            road_km = road_ends + ch.km[ROAD][a, b]
            rail_km, sea_km = ch.km["rail"][a, b], ch.km["sea"][a, b]
            pos = out.index[r]
            out.loc[pos, "road_km"] = road_km
            out.loc[pos, "rail_km"] = rail_km
            out.loc[pos, "sea_km"] = sea_km
            out.loc[pos, "distance_km"] = road_km + rail_km + sea_km
            out.loc[pos, "cost_per_t"] = road_rate * road_ends + ch.cost[a, b]
            out.loc[pos, "via"] = ch.via[a, b]
            out.loc[pos, "mode"] = [_label(m) for m in ch.modes[a, b]]
    return out


__all__ = ["ROUTE_COLUMNS", "leg_rates", "route_lanes"]
