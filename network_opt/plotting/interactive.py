"""A self-contained interactive flow map: one HTML file that works offline.

The page holds everything inline: the region boundaries as an SVG basemap (projected like the
static maps), the plan's data as JSON, the CSS and a small script. It loads nothing (no tile
server, no fonts, no CDN). It shows the flows and facilities of a period (a selector switches
periods), details of every facility, flow, collection point and market on hover, checkboxes per
commodity, a threshold to hide small flows, zoom (wheel) and pan (drag), a legend and a scale bar.

SVG classes the page renders (tests count them): ``flow`` (one path per origin, destination and
commodity at or above the threshold), ``facility`` (one shape per open facility), ``cp``,
``market``, ``candidate``, ``label``.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from network_opt.plotting import style
from network_opt.plotting.geo import MapFrame, map_frame
from network_opt.plotting.layers import aggregate_flows, period_layers
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
    out = []
    for layer, cls in ((svg.frame.context, "ctx"), (svg.frame.detail, "land")):
        paths = [svg.path(g, tol) for g in layer.geometry if g is not None and not g.is_empty]
        out.extend(f'<path class="{cls}" d="{d}"/>' for d in paths if d)
    return "\n".join(out)


def _period_data(res: PlotResult, period: int, frame: MapFrame, svg: _Svg, min_flow: float) -> dict[str, Any]:
    layers = period_layers(res, period, frame, RING_UNITS / svg.k, min_flow)
    flows = []
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
                   "level": str(r.level), "inv": _num(r.investment, 0), "state": r.state}
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
             title: str | None = None) -> str:
    """The interactive map as an HTML string: every period of the plan (or only ``period``),
    showing the last (or ``period``) first; flows below ``min_flow`` t/yr are left out."""
    res = as_result(result, scenario)
    years = [res.period(period)] if period is not None else list(res.years)
    frame = map_frame(res.nodes["longitude"].to_numpy(float), res.nodes["latitude"].to_numpy(float))
    svg = _Svg(frame)
    by_period = {str(p): _period_data(res, p, frame, svg, min_flow) for p in years}
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
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    heading = title or f"{res.name} · scenario {res.scenario}"
    return (_TEMPLATE.replace("__TITLE__", html.escape(heading))
            .replace("__W__", f"{SVG_W:.0f}").replace("__H__", f"{svg.height:.1f}")
            .replace("__BASEMAP__", _basemap_svg(svg))
            .replace("__LAND__", style.LAND_COLOUR).replace("__CTX__", style.CONTEXT_COLOUR)
            .replace("__SEA__", style.SEA_COLOUR if len(frame.context) else "#ffffff")
            .replace("__BORDER__", style.BORDER_COLOUR)
            .replace("__DATA__", payload))


def write_html_map(result: Any, path: str | Path, period: int | None = None, *, min_flow: float = 0.0,
                   scenario: str | None = None, title: str | None = None) -> Path:
    """Write :func:`html_map` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    text = html_map(result, period, min_flow=min_flow, scenario=scenario, title=title)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { margin: 0; font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
         color: #1a1a1a; background: #fff; }
  header { padding: 8px 14px 4px; }
  h1 { font-size: 17px; margin: 0 0 2px; font-weight: 600; }
  #summary { color: #444; }
  #controls { padding: 4px 14px 6px; display: flex; flex-wrap: wrap; gap: 14px; align-items: center; }
  #controls label { white-space: nowrap; }
  #wrap { display: flex; gap: 10px; padding: 0 14px 14px; align-items: flex-start; }
  #mapbox { position: relative; flex: 1 1 auto; border: 1px solid #999; max-width: 1100px; }
  svg#map { display: block; width: 100%; height: auto; max-height: calc(100vh - 100px); background: __SEA__;
            cursor: grab; user-select: none; }
  svg#map.dragging { cursor: grabbing; }
  .land { fill: __LAND__; stroke: __BORDER__; stroke-width: 0.6; vector-effect: non-scaling-stroke; }
  .ctx { fill: __CTX__; stroke: __BORDER__; stroke-width: 0.5; vector-effect: non-scaling-stroke; }
  .flow { fill: none; stroke-opacity: 0.78; stroke-linecap: butt; pointer-events: visibleStroke; }
  .flow:hover, .facility:hover, .cp:hover, .market:hover { stroke-opacity: 1; filter: brightness(0.85); }
  .label { paint-order: stroke; stroke: #fff; stroke-opacity: 0.85; pointer-events: none; }
  #tip { position: absolute; display: none; pointer-events: none; background: rgba(255,255,255,0.96);
         border: 1px solid #888; border-radius: 4px; padding: 6px 8px; font-size: 12px; max-width: 340px;
         box-shadow: 0 1px 4px rgba(0,0,0,0.25); z-index: 5; }
  #tip b { display: block; margin-bottom: 2px; }
  #scalebar { position: absolute; left: 12px; bottom: 12px; background: rgba(255,255,255,0.8); padding: 3px 6px;
              font-size: 11px; }
  #scalebar div { height: 6px; border: 1px solid #000; background: linear-gradient(90deg, #000 50%, #fff 50%); }
  #legend { flex: 0 0 250px; font-size: 12px; }
  #legend h3 { font-size: 12px; margin: 10px 0 4px; }
  #legend div.row { display: flex; align-items: center; gap: 8px; margin: 2px 0; }
  #legend svg { flex: 0 0 auto; }
</style>
</head>
<body>
<header><h1 id="title">__TITLE__</h1><div id="summary"></div></header>
<div id="controls">
  <label>Period <select id="period"></select></label>
  <label>Hide flows below <input id="threshold" type="number" min="0" step="any" style="width:7em"> t/yr</label>
  <span id="commodities"></span>
  <button id="reset" type="button">Reset view</button>
</div>
<div id="wrap">
  <div id="mapbox">
    <svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 __W__ __H__" preserveAspectRatio="xMidYMid meet">
      <defs id="defs"></defs>
      <g id="basemap">
__BASEMAP__
      </g>
      <g id="cps"></g><g id="flows"></g><g id="nodes"></g><g id="labels"></g>
    </svg>
    <div id="tip"></div>
    <div id="scalebar"><span id="scaletext"></span><div id="scalebox"></div></div>
  </div>
  <div id="legend"></div>
</div>
<script id="plan-data" type="application/json">__DATA__</script>
<script>
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("plan-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("map");
  const tip = document.getElementById("tip");
  const mapbox = document.getElementById("mapbox");
  const base = {x: 0, y: 0, w: D.width, h: D.height};
  let view = Object.assign({}, base);
  let period = D.start;
  let threshold = D.minFlow;
  const hiddenCommodities = new Set();
  const MAX_FLOW_PX = 10, MIN_FLOW_PX = 0.7, MAX_FAC_PX = 26, MIN_FAC_PX = 8, MAX_CP_PX = 12, MIN_CP_PX = 3;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(x, digits) {
    return Number(x).toLocaleString("en-US", {maximumFractionDigits: digits === undefined ? 0 : digits});
  }
  function money(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return fmt(v / 1e9, 2) + " bn " + D.currency;
    if (a >= 1e6) return fmt(v / 1e6, 1) + " M " + D.currency;
    return fmt(v) + " " + D.currency;
  }
  function upp() {  // SVG units per screen pixel ("meet": the tighter of the two dimensions decides)
    return Math.max(view.w / Math.max(svg.clientWidth, 1), view.h / Math.max(svg.clientHeight, 1));
  }
  function flowPx(t) { return D.scales.tonnes > 0 ? Math.max(MIN_FLOW_PX, MAX_FLOW_PX * t / D.scales.tonnes) : 1; }
  function facPx(c) {
    return D.scales.capacity > 0 ? Math.max(MIN_FAC_PX, MAX_FAC_PX * Math.sqrt(c / D.scales.capacity)) : MIN_FAC_PX;
  }
  function cpPx(s) {
    return D.scales.supply > 0 ? Math.max(MIN_CP_PX, MAX_CP_PX * Math.sqrt(s / D.scales.supply)) : MIN_CP_PX;
  }

  function shape(kind, x, y, r, parent) {
    if (kind === "refurbisher") {
      return el("rect", {x: x - r * 0.85, y: y - r * 0.85, width: r * 1.7, height: r * 1.7}, parent);
    }
    let pts = null;
    if (kind === "preprocessor") pts = [x, y - r, x + r * 0.95, y + r * 0.7, x - r * 0.95, y + r * 0.7];
    if (kind === "refiner") pts = [x, y - r, x + r * 0.8, y, x, y + r, x - r * 0.8, y];
    if (kind === "market") {
      pts = [];
      for (let i = 0; i < 5; i++) {
        const a = -Math.PI / 2 + i * 2 * Math.PI / 5;
        pts.push(x + r * Math.cos(a), y + r * Math.sin(a));
      }
    }
    if (pts) return el("polygon", {points: pts.join(" ")}, parent);
    return el("circle", {cx: x, cy: y, r: r}, parent);
  }

  function setTip(node, lines) { node.__tip = lines; }
  function showTip(ev) {
    const lines = ev.currentTarget.__tip;
    if (!lines) return;
    tip.textContent = "";
    lines.forEach(function (line, i) {
      const e = document.createElement(i === 0 ? "b" : "div");
      e.textContent = line;
      tip.appendChild(e);
    });
    tip.style.display = "block";
    moveTip(ev);
  }
  function moveTip(ev) {
    const box = mapbox.getBoundingClientRect();
    let x = ev.clientX - box.left + 14, y = ev.clientY - box.top + 14;
    if (x + tip.offsetWidth > box.width) x = Math.max(0, x - tip.offsetWidth - 28);
    if (y + tip.offsetHeight > box.height) y = Math.max(0, y - tip.offsetHeight - 28);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function hideTip() { tip.style.display = "none"; }
  function hover(e) {
    e.addEventListener("mouseover", showTip);
    e.addEventListener("mousemove", moveTip);
    e.addEventListener("mouseout", hideTip);
  }

  function arrowDefs() {
    const defs = document.getElementById("defs");
    for (const c in D.colours) {
      const m = el("marker", {id: "arrow-" + c, viewBox: "0 0 10 10", refX: "1", refY: "5", markerUnits: "strokeWidth",
                              markerWidth: "2.6", markerHeight: "2.6", orient: "auto"}, defs);
      el("path", {d: "M0,0 L10,5 L0,10 z", fill: D.colours[c]}, m);
    }
  }

  function shorten(p, r0, r1) {  // move the ends of a quadratic curve to the markers' edges
    const [x0, y0, cx, cy, x1, y1] = p;
    const d0 = Math.hypot(cx - x0, cy - y0) || 1, d1 = Math.hypot(cx - x1, cy - y1) || 1;
    return [x0 + (cx - x0) / d0 * r0, y0 + (cy - y0) / d0 * r0, cx, cy,
            x1 + (cx - x1) / d1 * r1, y1 + (cy - y1) / d1 * r1];
  }

  function render() {
    const P = D.byPeriod[period];
    const u = upp();
    const radius = {};
    for (const id of ["cps", "flows", "nodes", "labels"]) document.getElementById(id).textContent = "";
    const gCp = document.getElementById("cps"), gFlows = document.getElementById("flows"),
          gNodes = document.getElementById("nodes");
    P.collection.forEach(function (c) {
      const n = D.nodes[c.id], r = cpPx(c.supply) / 2 * u;
      radius[c.id] = r;
      const e = el("circle", {cx: n.x, cy: n.y, r: r, class: "cp", fill: D.colour.cp, "fill-opacity": 0.75,
                              stroke: "#fff", "stroke-width": 0.5 * u, "data-id": c.id}, gCp);
      setTip(e, [n.name + " (collection point)",
                 "supply " + fmt(c.supply) + " t/yr, shipped " + fmt(c.shipped) + " t/yr", "jurisdiction " + n.jur]);
      hover(e);
    });
    P.markets.forEach(function (m) {
      const n = D.nodes[m.id], r = 5 * u;
      radius[m.id] = r;
      const e = shape("market", n.x, n.y, r, gNodes);
      e.setAttribute("class", "market"); e.setAttribute("fill", D.colour.market);
      e.setAttribute("stroke", "#fff"); e.setAttribute("stroke-width", 0.8 * u); e.setAttribute("data-id", m.id);
      setTip(e, [n.name + ": market " + m.id, "application " + n.app.replace(/_/g, " "),
                 "receives " + fmt(m.received) + " t/yr of second-life packs"]);
      hover(e);
    });
    P.candidates.forEach(function (id) {
      const n = D.nodes[id], r = 4 * u;
      const d = "M" + (n.x - r) + "," + (n.y - r) + "L" + (n.x + r) + "," + (n.y + r)
              + "M" + (n.x - r) + "," + (n.y + r) + "L" + (n.x + r) + "," + (n.y - r);
      const e = el("path", {d: d, class: "candidate", stroke: D.colour.candidate, "stroke-width": 1.2 * u,
                            "data-id": id}, gNodes);
      setTip(e, [n.name + ": candidate " + id + ", not opened",
                 (D.kindLabels[n.role] || n.role) + (n.tech ? ", " + n.tech : "")]);
      hover(e);
    });
    P.facilities.forEach(function (f) {
      const n = D.nodes[f.id], r = facPx(f.cap) / 2 * u;
      radius[f.id] = r;
      const colour = D.techColours[n.tech] || "#444";
      const e = shape(n.role, n.x, n.y, r, gNodes);
      e.setAttribute("class", "facility");
      e.setAttribute("data-id", f.id);
      e.setAttribute("data-state", f.state);
      if (f.state === "existing") {
        e.setAttribute("fill", colour); e.setAttribute("stroke", "#222"); e.setAttribute("stroke-width", 0.8 * u);
      } else {
        e.setAttribute("fill", "#fff"); e.setAttribute("stroke", colour); e.setAttribute("stroke-width", 2.4 * u);
      }
      setTip(e, [n.name, f.id + ": " + (D.kindLabels[n.role] || n.role) + (n.tech ? ", technology " + n.tech : ""),
                 (f.state === "existing" ? "existing" : "new (opened by the plan)") + ", jurisdiction " + n.jur,
                 "capacity " + fmt(f.cap) + " t/yr" + (f.level ? " (level " + f.level + ")" : ""),
                 "throughput " + fmt(f.thr) + " t/yr, utilisation " + fmt(100 * f.util, 1) + "%",
                 f.inv ? "investment this period " + money(f.inv) : ""].filter(Boolean));
      hover(e);
    });
    let shown = 0;
    P.flows.slice().sort(function (a, b) { return b.t - a.t; }).forEach(function (f) {
      if (f.t < threshold || hiddenCommodities.has(f.c)) return;
      const w = flowPx(f.t) * u;
      const r0 = (radius[f.o] || 2 * u) + u, r1 = (radius[f.d] || 2 * u) + u;
      const room = Math.hypot(f.p[4] - f.p[0], f.p[5] - f.p[1]) - r0 - r1;
      const head = room > 8 * w;  // an arrow head (2.3 widths long) only where it fits
      const p = shorten(f.p, r0, r1 + (head ? 2.3 * w : 0));
      const e = el("path", {d: "M" + p[0] + "," + p[1] + " Q" + p[2] + "," + p[3] + " " + p[4] + "," + p[5],
                            class: "flow", stroke: D.colours[f.c] || "#444", "stroke-width": w,
                            "data-origin": f.o, "data-destination": f.d, "data-commodity": f.c,
                            "data-tonnes": f.t}, gFlows);
      if (head) e.setAttribute("marker-end", "url(#arrow-" + f.c + ")");
      const o = D.nodes[f.o], d = D.nodes[f.d];
      setTip(e, [o.name + " \\u2192 " + d.name, (D.commodityLabels[f.c] || f.c) + ": " + fmt(f.t, 1) + " t/yr",
                 fmt(f.km) + " km, transport " + money(f.cost) + "/yr", f.detail]);
      hover(e);
      shown += 1;
    });
    labels(P, radius, u);
    const fac = P.facilities, isNew = fac.filter(function (f) { return f.state === "new"; }).length;
    const parts = [period, fac.length + " facilities open (" + isNew + " new)", shown + " flows shown"];
    if (P.netCost !== null) parts.push("net cost " + money(P.netCost));
    if (P.hidden) parts.push(P.hidden + " flows below " + D.minFlow + " t/yr left out of the file");
    document.getElementById("summary").textContent = parts.join("; ");
    scalebar();
  }

  function labels(P, radius, u) {
    const g = document.getElementById("labels");
    const placed = [], seen = new Set();
    const obstacles = P.facilities.map(function (f) {
      const n = D.nodes[f.id], r = radius[f.id];
      return {x0: n.x - r, y0: n.y - r, x1: n.x + r, y1: n.y + r, site: n.site};
    });
    P.facilities.forEach(function (f) {
      const n = D.nodes[f.id];
      if (seen.has(n.site)) return;
      seen.add(n.site);
      const own = P.facilities.filter(function (o) { return D.nodes[o.id].site === n.site; });
      const cx = own.reduce(function (s, o) { return s + D.nodes[o.id].x; }, 0) / own.length;
      const cy = own.reduce(function (s, o) { return s + D.nodes[o.id].y; }, 0) / own.length;
      const r = Math.max.apply(null, own.map(function (o) {
        return radius[o.id] + Math.hypot(D.nodes[o.id].x - cx, D.nodes[o.id].y - cy);
      })) + 3 * u;
      const text = n.name.split(" (")[0].split(" / ")[0];
      const t = el("text", {class: "label", "font-size": 11 * u, "stroke-width": 3 * u}, g);
      t.textContent = text.length > 30 ? text.slice(0, 29) + "\\u2026" : text;
      const offsets = [[1, 0, "start", 0.35], [-1, 0, "end", 0.35], [0, -1, "middle", 0], [0, 1, "middle", 0.8],
                       [0.75, -0.75, "start", 0], [-0.75, -0.75, "end", 0], [0.75, 0.75, "start", 0.8],
                       [-0.75, 0.75, "end", 0.8]];
      let ok = false;
      for (const [dx, dy, anchor, dyem] of offsets) {
        t.setAttribute("x", cx + dx * r); t.setAttribute("y", cy + dy * r + dyem * 11 * u);
        t.setAttribute("text-anchor", anchor);
        const b = t.getBBox();
        const box = {x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height};
        const hit = function (o) { return box.x0 < o.x1 && box.x1 > o.x0 && box.y0 < o.y1 && box.y1 > o.y0; };
        if (!placed.some(hit) && !obstacles.some(function (o) { return o.site !== n.site && hit(o); })
            && box.x0 >= view.x && box.x1 <= view.x + view.w && box.y0 >= view.y && box.y1 <= view.y + view.h) {
          placed.push(box); ok = true; break;
        }
      }
      if (!ok) g.removeChild(t);
    });
  }

  function niceKm(x) {
    const k = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [5, 2, 1]) if (m * k <= x) return m * k;
    return k;
  }
  function scalebar() {
    const pxPerKm = D.unitsPerKm / upp();
    const km = niceKm(120 / pxPerKm);
    document.getElementById("scalebox").style.width = (km * pxPerKm) + "px";
    document.getElementById("scaletext").textContent = "0 \\u2013 " + fmt(km) + " km";
  }

  function setView(v) {
    view = v;
    svg.setAttribute("viewBox", [v.x, v.y, v.w, v.h].join(" "));
    render();
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    const box = svg.getBoundingClientRect();
    const fx = (ev.clientX - box.left) / box.width, fy = (ev.clientY - box.top) / box.height;
    const f = ev.deltaY < 0 ? 0.8 : 1.25;
    const w = Math.min(base.w * 1.5, Math.max(base.w / 40, view.w * f)), h = w * base.h / base.w;
    setView({x: view.x + fx * (view.w - w), y: view.y + fy * (view.h - h), w: w, h: h});
  }, {passive: false});
  let drag = null;
  svg.addEventListener("mousedown", function (ev) {
    drag = {x: ev.clientX, y: ev.clientY, v: view};
    svg.classList.add("dragging");
  });
  window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    const s = upp();
    view = {x: drag.v.x - (ev.clientX - drag.x) * s, y: drag.v.y - (ev.clientY - drag.y) * s, w: drag.v.w, h: drag.v.h};
    svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
  });
  window.addEventListener("resize", render);
  document.getElementById("reset").addEventListener("click", function () { setView(Object.assign({}, base)); });

  function controls() {
    const sel = document.getElementById("period");
    D.periods.forEach(function (p) {
      const o = document.createElement("option");
      o.value = p; o.textContent = p; sel.appendChild(o);
    });
    sel.value = period;
    sel.addEventListener("change", function () { period = sel.value; render(); });
    const th = document.getElementById("threshold");
    th.value = D.minFlow;
    th.addEventListener("input", function () { threshold = Math.max(D.minFlow, Number(th.value) || 0); render(); });
    const box = document.getElementById("commodities");
    const present = new Set();
    for (const p in D.byPeriod) D.byPeriod[p].flows.forEach(function (f) { present.add(f.c); });
    for (const c in D.colours) {
      if (!present.has(c)) continue;
      const lab = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox"; cb.checked = true; cb.dataset.commodity = c;
      cb.addEventListener("change", function () {
        if (cb.checked) hiddenCommodities.delete(c); else hiddenCommodities.add(c);
        render();
      });
      lab.appendChild(cb);
      const sw = document.createElement("span");
      sw.style.cssText = "display:inline-block;width:14px;height:4px;margin:0 4px 3px 2px;background:" + D.colours[c];
      lab.appendChild(sw);
      lab.appendChild(document.createTextNode(D.commodityLabels[c]));
      box.appendChild(lab);
    }
  }

  function legend() {
    const L = document.getElementById("legend");
    function h3(t) { const e = document.createElement("h3"); e.textContent = t; L.appendChild(e); }
    function row(draw, text) {
      const r = document.createElement("div"); r.className = "row";
      const s = el("svg", {width: 34, height: 22, viewBox: "0 0 34 22"}); draw(s); r.appendChild(s);
      const t = document.createElement("span"); t.textContent = text; r.appendChild(t); L.appendChild(r);
    }
    const kinds = new Set(), techs = new Set(), states = new Set(), present = new Set();
    let markets = false, candidates = false;
    for (const p in D.byPeriod) {
      const P = D.byPeriod[p];
      P.facilities.forEach(function (f) {
        kinds.add(D.nodes[f.id].role); techs.add(D.nodes[f.id].tech); states.add(f.state);
      });
      P.flows.forEach(function (f) { present.add(f.c); });
      markets = markets || P.markets.length > 0;
      candidates = candidates || P.candidates.length > 0;
    }
    function line(colour, width) {
      return function (s) { el("line", {x1: 2, y1: 11, x2: 32, y2: 11, stroke: colour, "stroke-width": width}, s); };
    }
    function dot(r, fill, stroke, width) {
      return function (s) {
        el("circle", {cx: 17, cy: 11, r: r, fill: fill, stroke: stroke, "stroke-width": width}, s);
      };
    }
    h3("Flows (width: t/yr)");
    for (const c in D.colours) if (present.has(c)) row(line(D.colours[c], 4), D.commodityLabels[c]);
    if (D.scales.tonnes > 0) {
      const ref = niceKm(D.scales.tonnes);
      [ref, niceKm(ref / 4), niceKm(ref / 20)].forEach(function (t) {
        row(line("#777", flowPx(t)), fmt(t) + " t/yr");
      });
    }
    h3("Facilities (area: capacity)");
    ["refurbisher", "recycler", "preprocessor", "refiner"].forEach(function (k) {
      if (!kinds.has(k)) return;
      row(function (s) {
        const e = shape(k, 17, 11, 7, s);
        e.setAttribute("fill", k === "refurbisher" ? D.techColours[""] : "#ccc");
        e.setAttribute("stroke", "#222");
      }, D.kindLabels[k]);
    });
    Array.from(techs).filter(Boolean).sort().forEach(function (t) {
      row(dot(7, D.techColours[t], "#222", 1), "technology " + t);
    });
    if (states.has("existing")) row(dot(7, "#888", "#222", 1), "existing (filled)");
    if (states.has("new")) row(dot(6, "#fff", "#888", 2.4), "new, opened by the plan (hollow)");
    if (D.scales.capacity > 0) {
      const ref = niceKm(D.scales.capacity);
      [ref, niceKm(ref / 5)].forEach(function (c) {
        row(dot(Math.min(facPx(c) / 2, 10.5), "none", "#555", 1), "capacity " + fmt(c) + " t/yr");
      });
    }
    h3("Other");
    row(dot(4, D.colour.cp, "none", 0), "collection point (area: supply)");
    if (markets) {
      row(function (s) { shape("market", 17, 11, 6, s).setAttribute("fill", D.colour.market); }, "second-life market");
    }
    if (candidates) {
      row(function (s) {
        el("path", {d: "M13,7L21,15M13,15L21,7", stroke: D.colour.candidate, "stroke-width": 1.5}, s);
      }, "candidate site, not opened");
    }
    const note = document.createElement("p");
    note.textContent = "Hover for details; wheel to zoom, drag to pan. Boundaries: Natural Earth.";
    note.style.color = "#555";
    L.appendChild(note);
  }

  arrowDefs();
  controls();
  legend();
  render();
})();
</script>
</body>
</html>
"""
