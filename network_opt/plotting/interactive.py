"""A self-contained interactive flow map: one HTML file that works offline.

The page holds everything inline: the region boundaries as an SVG basemap (projected like the
static maps), the plan's data as JSON, the CSS and a small script. It loads nothing (no tile
server, no fonts, no CDN). It shows the flows and facilities of a period (a selector switches
periods), details of every facility, flow, collection point and market on hover, checkboxes per
commodity, a threshold to hide small flows, zoom (wheel) and pan (drag), a legend and a scale bar.

SVG classes the page renders (tests count them): ``flow`` (one path per origin, destination and
commodity at or above the threshold), ``facility`` (one shape per open facility), ``cp``,
``market``, ``candidate``, ``label``, and with ``targets=True`` ``target`` (one ring per facility and
rule of scope facility, chain or step that binds or is missed there, ``data-rule``, ``data-state``).
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from network_opt.plotting import style
from network_opt.plotting.geo import MapFrame, map_frame
from network_opt.plotting.layers import aggregate_flows, facility_targets, period_layers
from network_opt.results.read import PlotResult, as_result

SVG_W = 1000.0  # width of the map in SVG units (about pixels at the default size)
RING_UNITS = 14.0  # co-located nodes are spread on a ring this wide (SVG units)
CURVE = 0.14  # bend of flow arcs: control point offset / chord length


def _num(v: Any, digits: int = 1) -> float:
    x = float(v)
    return round(x, digits) if math.isfinite(x) else 0.0


class _Svg:
    """Projected metres to SVG units (y down)."""

    def __init__(self, frame: MapFrame) -> None:
        self.frame = frame
        self.k = SVG_W / frame.width
        self.height = frame.height * self.k

    def xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(x) - self.frame.xlim[0]) * self.k, (self.frame.ylim[1] - np.asarray(y)) * self.k

    def path(self, geom: Any, tolerance: float) -> str:
        """SVG path data of a (multi)polygon, simplified by ``tolerance`` metres."""
        geom = shapely.simplify(geom, tolerance, preserve_topology=True)
        parts = []
        for poly in getattr(geom, "geoms", [geom]):
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                if len(xy) < 4:
                    continue
                sx, sy = self.xy(xy[:, 0], xy[:, 1])
                pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(sx, sy, strict=True))
                parts.append(f"M{pts}Z")
        return "".join(parts)


def _basemap_svg(svg: _Svg) -> str:
    tol = svg.frame.width / 1500
    out: list[str] = []
    for layer, cls in ((svg.frame.context, "ctx"), (svg.frame.detail, "land")):
        paths = [svg.path(g, tol) for g in layer.geometry if g is not None and not g.is_empty]
        out.extend(f'<path class="{cls}" d="{d}"/>' for d in paths if d)
    return "\n".join(out)


def _period_data(res: PlotResult, period: int, frame: MapFrame, svg: _Svg, min_flow: float,
                 targets: bool = False) -> dict[str, Any]:
    layers = period_layers(res, period, frame, RING_UNITS / svg.k, min_flow)
    rings: dict[str, list[dict[str, Any]]] = {}
    if targets:
        t: Any  # a row of the targets layer: its fields are the layer's columns
        for t in layers.targets.itertuples():
            price = float(t.shadow_price)
            rings.setdefault(str(t.node), []).append(
                {"rule": t.rule, "state": t.state, "achieved": _num(t.achieved, 4),
                 "price": round(price, 2) if math.isfinite(price) else None})
    flows = []
    r: Any  # an itertuples row (pandas-stubs types each field as any scalar)
    for r in layers.flows.itertuples():
        x0, y0 = svg.xy(r.x0, r.y0)
        x1, y1 = svg.xy(r.x1, r.y1)
        dx, dy = x1 - x0, y1 - y0
        # bend to the left of the direction of travel (y points down in SVG)
        cx, cy = (x0 + x1) / 2 + CURVE * dy, (y0 + y1) / 2 - CURVE * dx
        flows.append({"o": r.origin, "d": r.destination, "c": r.commodity, "t": _num(r.tonnes, 3),
                      "km": _num(r.distance_km), "cost": _num(r.cost, 0), "detail": r.detail,
                      "p": [_num(x0), _num(y0), _num(cx), _num(cy), _num(x1), _num(y1)]})
    facilities = [{"id": r.node, "cap": _num(r.capacity_t), "thr": _num(r.throughput_t), "util": _num(r.utilisation, 3),
                   "level": str(r.level), "inv": _num(r.investment, 0), "state": r.state,
                   "targets": rings.get(str(r.node), [])}
                  for r in layers.facilities.itertuples()]
    costs = res.table("costs")
    net = float(costs.loc[costs["period"] == period, "value"].sum()) if len(costs) else None
    return {"flows": flows, "facilities": facilities, "candidates": layers.candidates["node"].tolist(),
            "collection": [{"id": r.node, "supply": _num(r.supply_t), "shipped": _num(r.shipped_t)}
                           for r in layers.collection.itertuples()],
            "markets": [{"id": r.node, "received": _num(r.received_t)} for r in layers.markets.itertuples()],
            "hidden": layers.hidden_flows, "netCost": net}


def _max(series: Any) -> float:
    """Largest finite value over some series (0 when there is none)."""
    values = [float(v) for s in series for v in s if np.isfinite(v)]
    return max(values, default=0.0)


def _nodes(res: PlotResult, frame: MapFrame, svg: _Svg) -> dict[str, dict[str, Any]]:
    from network_opt.plotting.layers import node_positions

    pos = node_positions(res.nodes, frame, RING_UNITS / svg.k)
    sx, sy = svg.xy(pos["x"].to_numpy(), pos["y"].to_numpy())
    out = {}
    for (node, r), x, y in zip(pos.iterrows(), sx, sy, strict=True):
        out[str(node)] = {"name": str(r["name"]), "role": str(r["role"]), "tech": str(r["technology"] or ""),
                          "status": str(r["status"] or ""), "app": str(r["application"] or ""),
                          "jur": str(r["jurisdiction"] or ""), "site": str(r["site"]), "x": _num(x), "y": _num(y)}
    return out


def html_map(result: Any, period: int | None = None, *, min_flow: float = 0.0, scenario: str | None = None,
             title: str | None = None, targets: bool = False) -> str:
    """The interactive map as an HTML string: every period of the plan (or only ``period``),
    showing the last (or ``period``) first; flows below ``min_flow`` t/yr are left out;
    ``targets``: ring the facilities where a target of scope facility, chain or step binds or is missed
    (one colour per rule, named in the legend and the facility's tooltip)."""
    res = as_result(result, scenario)
    years = [res.period(period)] if period is not None else list(res.years)
    frame = map_frame(res.nodes["longitude"].to_numpy(float), res.nodes["latitude"].to_numpy(float))
    svg = _Svg(frame)
    by_period = {str(p): _period_data(res, p, frame, svg, min_flow, targets) for p in years}
    rule_colours = (style.target_colours([r for p in years for r in facility_targets(res.table("targets"), p)["rule"]])
                    if targets else None)
    flows = res.table("flows")
    t_ref = _max(aggregate_flows(flows, p, detail=False)["tonnes"] for p in years) if len(flows) else 0.0
    fac = res.table("facilities")
    cap_ref = _max([fac.loc[fac["period"].isin(years), "capacity_t"]]) if len(fac) else 0.0
    col = res.table("collection")
    sup_ref = _max([col.loc[col["period"].isin(years)].groupby(["site", "period"])["supply_t"].sum()]) \
        if len(col) else 0.0
    data = {
        "name": res.name, "scenario": res.scenario, "currency": res.currency, "periods": [str(p) for p in years],
        "start": str(years[-1]), "nodes": _nodes(res, frame, svg), "byPeriod": by_period,
        "scales": {"tonnes": t_ref, "capacity": cap_ref, "supply": sup_ref}, "minFlow": min_flow,
        "colours": style.COMMODITY_COLOURS, "commodityLabels": style.COMMODITY_LABELS,
        "kindLabels": style.KIND_LABELS,
        "techColours": style.technology_colours(res.nodes["technology"].fillna("").astype(str).tolist()),
        "unitsPerKm": svg.k * 1000.0, "width": SVG_W, "height": _num(svg.height),
        "colour": {"cp": style.COLLECTION_COLOUR, "market": style.MARKET_COLOUR,
                   "candidate": style.CANDIDATE_COLOUR},
        "targetColours": rule_colours,
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    heading = title or f"{res.name} · scenario {res.scenario}"
    return (_template().replace("__TITLE__", html.escape(heading))
            .replace("__W__", f"{SVG_W:.0f}").replace("__H__", f"{svg.height:.1f}")
            .replace("__BASEMAP__", _basemap_svg(svg))
            .replace("__LAND__", style.LAND_COLOUR).replace("__CTX__", style.CONTEXT_COLOUR)
            .replace("__SEA__", style.SEA_COLOUR if len(frame.context) else "#ffffff")
            .replace("__BORDER__", style.BORDER_COLOUR)
            .replace("__DATA__", payload))


@cache
def _template() -> str:
    """The page (``templates/map.html``, package data) with ``__NAME__`` placeholders that
    :func:`html_map` fills in."""
    return (resources.files("network_opt.plotting") / "templates" / "map.html").read_text(encoding="utf-8")


def write_html_map(result: Any, path: str | Path, period: int | None = None, *, min_flow: float = 0.0,
                   scenario: str | None = None, title: str | None = None, targets: bool = False) -> Path:
    """Write :func:`html_map` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    text = html_map(result, period, min_flow=min_flow, scenario=scenario, title=title, targets=targets)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path

