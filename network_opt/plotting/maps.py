"""Static flow maps (matplotlib): one period, or small multiples over periods and scenarios.

Conventions: flows are curved arrows bending to their left, coloured by commodity, line width
proportional to tonnes per year (the largest flow of the figure is :data:`MAX_FLOW_PT` points
wide); facilities are markers by kind (square refurbisher, circle recycler, triangle
pre-processor, diamond refiner) filled with their technology's colour, area proportional to
capacity (t/yr); existing facilities are filled, new ones (candidates the plan opens) hollow;
unopened candidates are small grey crosses; collection points grey dots (area proportional to
supply); markets purple pentagons. Every panel of a figure shares one extent and one set of
scales, so panels compare at a glance.

With ``targets=True``, a facility where a target of scope ``facility``, ``chain`` or ``step`` binds in the
period (shadow price above 0, or achieved = required) gets a ring in the colour of that rule (one
ring per rule, outwards), dashed where the target is missed (soft targets); the legend names each
rule (:func:`network_opt.plotting.layers.facility_targets`).

Artists carry a ``gid`` for tests and post-processing: ``flow:<origin>><destination>:<commodity>``
for each flow line, ``facilities:<kind>:<existing|new>`` for each group of open facilities (one
marker per facility), ``candidates``, ``collection_points``, ``markets``, ``label:<site>``, and
``target:<facility>:<binds|missed>:<rule>`` for each ring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle
from matplotlib.transforms import Bbox

from network_opt.plotting import style
from network_opt.plotting.figures import new_figure
from network_opt.plotting.geo import MapFrame, map_frame
from network_opt.plotting.layers import PeriodLayers, aggregate_flows, facility_targets, period_layers
from network_opt.results.read import PlotResult, as_result

MAX_FLOW_PT = 9.0  # line width of the largest flow, points
MIN_FLOW_PT = 0.6  # thinnest line drawn, points
MAX_MARKER_PT = 24.0  # diameter of the largest facility, points
MIN_MARKER_PT = 7.0
MAX_CP_PT = 11.0  # diameter of the largest collection point, points
MIN_CP_PT = 3.0
MARKET_PT = 8.0
TARGET_RING_PT = 5.0  # each binding rule adds a ring this much wider than the last, points
RING_PT = MAX_MARKER_PT / 2 + 2.0  # co-located nodes are spread on a ring this wide (points)
LABEL_CHARS = 26  # labels longer than this are shortened (full names are in the HTML map)
PANEL_W_IN = 8.0  # width of a single map, inches
LEGEND_W_IN = 3.1
TITLE_H_IN = 0.55


@dataclass
class Scales:
    """Reference values shared by every panel of a figure."""

    tonnes: float  # flow drawn MAX_FLOW_PT wide, t/yr
    capacity: float  # facility drawn MAX_MARKER_PT across, t/yr
    supply: float  # collection point drawn MAX_CP_PT across, t/yr

    def flow_width(self, t: float) -> float:
        """Line width in points: proportional to tonnes, never thinner than MIN_FLOW_PT."""
        return max(MIN_FLOW_PT, MAX_FLOW_PT * t / self.tonnes) if self.tonnes > 0 else MIN_FLOW_PT

    def facility_size(self, cap: float) -> float:
        """Marker diameter in points (area proportional to capacity)."""
        if self.capacity <= 0:
            return MIN_MARKER_PT
        return max(MIN_MARKER_PT, MAX_MARKER_PT * math.sqrt(max(cap, 0.0) / self.capacity))

    def cp_size(self, supply: float) -> float:
        if self.supply <= 0:
            return MIN_CP_PT
        return max(MIN_CP_PT, MAX_CP_PT * math.sqrt(max(supply, 0.0) / self.supply))


# --- layout ------------------------------------------------------------------------------------

def _layout(n_rows: int, n_cols: int, aspect: float, panel_w: float, suptitle: bool,
            legend: bool) -> tuple[Figure, list[list[Axes]], Axes | None]:
    """A figure of map panels (height/width ``aspect``) with an optional legend column (inches)."""
    m = 0.15
    panel_h = panel_w * aspect
    sup = 0.5 if suptitle else 0.0
    leg = LEGEND_W_IN if legend else 0.0
    fig_w = n_cols * panel_w + (n_cols + 1) * m + leg
    fig_h = n_rows * (panel_h + TITLE_H_IN) + (n_rows + 1) * m + sup
    fig = new_figure((fig_w, fig_h))
    axes = []
    for r in range(n_rows):
        row = []
        for c in range(n_cols):
            left = m + c * (panel_w + m)
            bottom = fig_h - sup - (r + 1) * (panel_h + TITLE_H_IN + m) + m
            ax = fig.add_axes((left / fig_w, bottom / fig_h, panel_w / fig_w, panel_h / fig_h))
            row.append(ax)
        axes.append(row)
    leg_ax = None
    if legend:
        leg_ax = fig.add_axes(((fig_w - leg) / fig_w, m / fig_h, (leg - m) / fig_w, (fig_h - sup - 2 * m) / fig_h))
        leg_ax.set_axis_off()
    return fig, axes, leg_ax


def _panel_aspect(frame: MapFrame) -> float:
    return frame.height / frame.width


# --- drawing -----------------------------------------------------------------------------------

def _basemap(ax: Axes, frame: MapFrame) -> None:
    has_context = len(frame.context) > 0
    ax.set_facecolor(style.SEA_COLOUR if has_context else "white")
    if has_context:
        frame.context.plot(ax=ax, color=style.CONTEXT_COLOUR, edgecolor=style.BORDER_COLOUR, linewidth=0.4,
                           zorder=0)
    if len(frame.detail):
        frame.detail.plot(ax=ax, color=style.LAND_COLOUR, edgecolor=style.BORDER_COLOUR, linewidth=0.5, zorder=1)


def _scale_bar(ax: Axes, frame: MapFrame) -> None:
    km = style.nice_number(frame.width / 1000 / 5)
    if km <= 0:
        return
    x0, y0 = frame.xlim[0] + 0.035 * frame.width, frame.ylim[0] + 0.035 * frame.height
    h = 0.009 * frame.height
    half = km * 500.0
    ax.add_patch(Rectangle((x0 - 0.01 * frame.width, y0 - 0.012 * frame.height), 2 * half + 0.02 * frame.width,
                           0.06 * frame.height, facecolor="white", alpha=0.75, edgecolor="none", zorder=8))
    ax.add_patch(Rectangle((x0, y0), half, h, facecolor="black", edgecolor="black", lw=0.6, zorder=9))
    ax.add_patch(Rectangle((x0 + half, y0), half, h, facecolor="white", edgecolor="black", lw=0.6, zorder=9))
    ax.text(x0 + half, y0 + 1.8 * h, f"{km:g} km", ha="center", va="bottom", fontsize=8, zorder=9)


def _figure(ax: Axes) -> Figure:
    """The figure ``ax`` is drawn on (a map's axes are never on a subfigure)."""
    fig = ax.figure
    assert isinstance(fig, Figure)
    return fig


def _points_per_unit(ax: Axes, frame: MapFrame) -> float:
    """Points per projected metre on ``ax`` (its box is fixed by the layout)."""
    pos = ax.get_position()
    width_pt = pos.width * _figure(ax).get_figwidth() * 72
    return width_pt / frame.width


def _draw_flows(ax: Axes, layers: PeriodLayers, scales: Scales, radius: dict[str, float], ppu: float) -> None:
    """Flow arrows; ``ppu``: points per projected metre (a short arrow gets a smaller head)."""
    r: Any  # a row of the flows layer: its fields are the layer's columns
    for r in layers.flows.sort_values("tonnes", ascending=False).itertuples():
        lw = scales.flow_width(r.tonnes)
        colour = style.COMMODITY_COLOURS.get(r.commodity, "#444444")
        gid = f"flow:{r.origin}>{r.destination}:{r.commodity}"
        if math.hypot(r.x1 - r.x0, r.y1 - r.y0) < 1.0:  # same place: a small loop
            loop = Circle((r.x0, r.y0 + 0.01 * (ax.get_ylim()[1] - ax.get_ylim()[0])),
                          0.01 * (ax.get_ylim()[1] - ax.get_ylim()[0]), fill=False, edgecolor=colour, lw=lw,
                          alpha=0.8, zorder=4, gid=gid)
            ax.add_artist(loop)  # (add_artist: limits are fixed, no need to measure the patch)
            continue
        shrink_a, shrink_b = radius.get(r.origin, 3.0), radius.get(r.destination, 3.0) + 0.5
        room = math.hypot(r.x1 - r.x0, r.y1 - r.y0) * ppu - shrink_a - shrink_b  # visible length, points
        head_l = min(max(1.5 * lw, 4.5), max(0.4 * room, 0.1))
        head_w = max(lw, min(max(2.1 * lw, 4.5), 1.4 * head_l + lw))
        arrow = FancyArrowPatch((r.x0, r.y0), (r.x1, r.y1), connectionstyle="arc3,rad=-0.14",
                                arrowstyle=f"simple,tail_width={lw:.3f},head_width={head_w:.3f},"
                                           f"head_length={head_l:.3f}",
                                mutation_scale=1.0, lw=0, facecolor=colour, edgecolor="none", alpha=0.78,
                                shrinkA=shrink_a, shrinkB=shrink_b, zorder=4, gid=gid)
        ax.add_artist(arrow)


def _draw_nodes(ax: Axes, layers: PeriodLayers, scales: Scales, tech_colours: dict[str, str]) -> dict[str, float]:
    """Markers; returns each node's marker radius in points (for arrow ends and labels)."""
    radius: dict[str, float] = {}
    cp = layers.collection
    if len(cp):
        sizes = np.array([scales.cp_size(s) for s in cp["supply_t"]])
        ax.scatter(cp["x"], cp["y"], s=sizes**2, c=style.COLLECTION_COLOUR, alpha=0.75, edgecolors="white",
                   linewidths=0.4, zorder=3, gid="collection_points")
        radius.update(zip(cp["node"], sizes / 2, strict=True))
    mk = layers.markets
    if len(mk):
        ax.scatter(mk["x"], mk["y"], s=MARKET_PT**2, marker="p", c=style.MARKET_COLOUR, edgecolors="white",
                   linewidths=0.6, zorder=5, gid="markets")
        radius.update(dict.fromkeys(mk["node"], MARKET_PT / 2))
    cand = layers.candidates
    if len(cand):
        ax.scatter(cand["x"], cand["y"], s=30, marker="x", c=style.CANDIDATE_COLOUR, linewidths=1.0, zorder=5,
                   gid="candidates")
    fac = layers.facilities
    for (kind, state), g in fac.groupby(["kind", "state"], sort=True):
        sizes = np.array([scales.facility_size(c) for c in g["capacity_t"]])
        colours = [tech_colours.get(t, "#444444") for t in g["technology"]]
        marker = style.KIND_MARKERS.get(str(kind), "o")
        if state == "existing":
            ax.scatter(g["x"], g["y"], s=sizes**2, marker=marker, c=colours, edgecolors="#222222", linewidths=0.8,
                       zorder=6, gid=f"facilities:{kind}:{state}")
        else:
            ax.scatter(g["x"], g["y"], s=sizes**2, marker=marker, facecolors="white", edgecolors=colours,
                       linewidths=2.4, zorder=6, gid=f"facilities:{kind}:{state}")
        radius.update(zip(g["node"], sizes / 2, strict=True))
    return radius


def _draw_targets(ax: Axes, layers: PeriodLayers, scales: Scales, colours: dict[str, str],
                  radius: dict[str, float]) -> None:
    """A ring per binding (solid) or missed (dashed) rule around each facility, in the rule's
    colour, the k-th rule of a facility k rings out; widens ``radius`` to the outermost ring."""
    fac = layers.facilities.drop_duplicates("node").set_index("node")
    cap = fac["capacity_t"].astype(float).to_dict()
    xs, ys = fac["x"].astype(float).to_dict(), fac["y"].astype(float).to_dict()
    r: Any  # a row of the targets layer: its fields are the layer's columns
    for key, rows in layers.targets.groupby("node", sort=True):
        node = str(key)
        if node not in cap:
            continue
        base = scales.facility_size(cap[node])
        for k, r in enumerate(rows.itertuples()):
            size = base + TARGET_RING_PT * (k + 1)
            ax.scatter([xs[node]], [ys[node]], s=size**2, marker="o", facecolors="none",
                       edgecolors=colours.get(r.rule, "#000000"), linewidths=2.0,
                       linestyle="solid" if r.state == "binds" else (0, (2.5, 1.5)), zorder=6.5,
                       gid=f"target:{node}:{r.state}:{r.rule}")
            radius[str(node)] = max(radius.get(str(node), 0.0), size / 2)


def short_name(name: str, limit: int = LABEL_CHARS) -> str:
    """A map label: the name before any bracket or slash, cut at a word boundary to ``limit``."""
    for sep in (" (", " / ", ", "):
        name = name.split(sep)[0]
    name = name.strip()
    if len(name) <= limit:
        return name
    cut = name[: limit - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else name[: limit - 1]) + "…"


_OFFSETS = [(1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"),
            (0, -1, "center", "top"), (0.75, 0.75, "left", "bottom"), (-0.75, 0.75, "right", "bottom"),
            (0.75, -0.75, "left", "top"), (-0.75, -0.75, "right", "top")]


def _place_labels(ax: Axes, layers: PeriodLayers, radius: dict[str, float], max_labels: int) -> int:
    """Label open facilities' sites, largest first, where a label overlaps no other label, no
    facility marker and stays inside the map; others stay unlabelled. Returns labels placed."""
    fig = _figure(ax)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # new_figure gives every figure an Agg canvas
    renderer = canvas.get_renderer()
    to_px = fig.dpi / 72.0
    fac = layers.facilities
    if fac.empty or max_labels <= 0:
        return 0
    disp = ax.transData.transform(fac[["x", "y"]].to_numpy(float))
    obstacles = []
    for (px, py), node in zip(disp, fac["node"], strict=True):
        r = radius.get(node, 4.0) * to_px
        obstacles.append(Bbox.from_extents(px - r, py - r, px + r, py + r))
    axbox = ax.get_window_extent(renderer)
    placed: list[Bbox] = []
    seen: set[str] = set()
    row: Any  # a row of the facilities layer: its fields are the layer's columns
    for row in fac.itertuples():
        if len(placed) >= max_labels:
            break
        if row.site in seen:
            continue
        seen.add(row.site)
        own = {int(k) for k in np.flatnonzero((fac["site"] == row.site).to_numpy())}
        # co-located facilities sit on a ring: clear the ring and the largest marker
        r_pt = max(radius.get(str(fac["node"].iat[k]), 4.0) for k in own) + (RING_PT if len(own) > 1 else 2.0)
        for dx, dy, ha, va in _OFFSETS:
            text = ax.annotate(short_name(str(row.name)), (row.x, row.y), xytext=(dx * r_pt, dy * r_pt),
                               textcoords="offset points", ha=ha, va=va, fontsize=7.5, zorder=7,
                               gid=f"label:{row.site}", color="#1a1a1a",
                               bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7,
                                     "edgecolor": "none"})
            box = text.get_window_extent(renderer).expanded(1.04, 1.1)
            clash = (any(box.overlaps(b) for b in placed)
                     or any(box.overlaps(b) for k, b in enumerate(obstacles) if k not in own)
                     or box.x0 < axbox.x0 or box.x1 > axbox.x1 or box.y0 < axbox.y0 or box.y1 > axbox.y1)
            if not clash:
                placed.append(box)
                break
            text.remove()
    return len(placed)


def _net_cost(result: PlotResult, period: int) -> float | None:
    costs = result.table("costs")
    if costs.empty:
        return None
    return float(costs.loc[costs["period"] == period, "value"].sum())


def _money(v: float, currency: str) -> str:
    a = abs(v)
    text = f"{v / 1e9:,.2f} bn" if a >= 1e9 else f"{v / 1e6:,.1f} M" if a >= 1e6 else f"{v:,.0f}"
    return f"{text} {currency}".strip()


def _panel_title(result: PlotResult, layers: PeriodLayers, min_flow: float, head: str | None,
                 targets: bool = False) -> str:
    """``head`` (default: instance · scenario · period), then the panel's key figures."""
    head = head if head is not None else f"{result.name} · scenario {result.scenario} · {layers.period}"
    fac = layers.facilities
    new = int((fac["state"] == "new").sum())
    parts = [f"{len(fac)} facilities open ({new} new)"]
    if targets:
        binds = layers.targets.loc[layers.targets["state"] == "binds", "node"].nunique()
        missed = layers.targets.loc[layers.targets["state"] == "missed", "node"].nunique()
        parts.append(f"a target binds at {binds} facilit{'y' if binds == 1 else 'ies'}"
                     + (f", is missed at {missed}" if missed else ""))
    cost = _net_cost(result, layers.period)
    if cost is not None:
        parts.append(f"net cost {_money(cost, result.currency)}")
    if layers.hidden_flows:
        parts.append(f"{layers.hidden_flows} flow{'' if layers.hidden_flows == 1 else 's'} < {min_flow:g} t/yr hidden")
    return head + "\n" + "; ".join(parts)


def draw_panel(ax: Axes, result: PlotResult, period: int, frame: MapFrame, scales: Scales,
               tech_colours: dict[str, str], min_flow: float = 0.0, labels: int = 20,
               head: str | None = None, rule_colours: dict[str, str] | None = None) -> PeriodLayers:
    """Draw one period of ``result`` on ``ax`` (whose box the figure layout fixed); ``head``: the
    first line of the panel title (default: instance · scenario · period); ``rule_colours``
    (rule label -> colour): ring the facilities where a per-facility target binds or is missed."""
    ax.set_xlim(*frame.xlim)
    ax.set_ylim(*frame.ylim)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#999999")
    ring = RING_PT / max(_points_per_unit(ax, frame), 1e-12)  # in metres
    layers = period_layers(result, period, frame, ring, min_flow)
    _basemap(ax, frame)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xlim(*frame.xlim)
    ax.set_ylim(*frame.ylim)
    radius = _draw_nodes(ax, layers, scales, tech_colours)
    if rule_colours is not None:
        _draw_targets(ax, layers, scales, rule_colours, radius)
    _draw_flows(ax, layers, scales, radius, _points_per_unit(ax, frame))
    _scale_bar(ax, frame)
    ax.set_title(_panel_title(result, layers, min_flow, head, rule_colours is not None), fontsize=9.5, loc="left")
    _place_labels(ax, layers, radius, labels)
    return layers


def _legend(leg_ax: Axes, panels: list[PeriodLayers], scales: Scales, tech_colours: dict[str, str],
            rule_colours: dict[str, str] | None = None) -> None:
    flows = pd.concat([p.flows for p in panels]) if panels else pd.DataFrame(columns=["commodity"])
    fac = (pd.concat([p.facilities for p in panels]) if panels else
           pd.DataFrame(columns=["kind", "technology", "state"]))
    handles: list[Line2D] = []
    texts: list[str] = []

    headers: set[int] = set()

    def header(text: str) -> None:
        headers.add(len(texts))
        handles.append(Line2D([], [], linestyle="none"))
        texts.append(text)

    header("Flows (t/yr)")
    for c in style.COMMODITY_COLOURS:
        if c in set(flows["commodity"]):
            handles.append(Line2D([], [], color=style.COMMODITY_COLOURS[c], lw=3))
            texts.append(style.COMMODITY_LABELS[c])
    ref = style.nice_number(scales.tonnes)
    for t in dict.fromkeys([ref, style.nice_number(ref / 4), style.nice_number(ref / 20)]):
        if t > 0:
            handles.append(Line2D([], [], color="#777777", lw=scales.flow_width(t)))
            texts.append(style.format_tonnes(t))
    header("Facilities")
    for k in [k for k in style.KIND_MARKERS if k in set(fac["kind"])]:
        handles.append(Line2D([], [], marker=style.KIND_MARKERS[k], linestyle="none", markersize=9,
                              markerfacecolor=style.REFURBISHER_COLOUR if k == "refurbisher" else "#cccccc",
                              markeredgecolor="#222222"))
        texts.append(style.KIND_LABELS[k])
    for tech in sorted(set(fac["technology"]) - {""}):
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=9, markerfacecolor=tech_colours[tech],
                              markeredgecolor="#222222"))
        texts.append(f"technology {tech}")
    states = set(fac["state"]) if len(fac) else set()
    if "existing" in states:
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=9, markerfacecolor="#888888",
                              markeredgecolor="#222222"))
        texts.append("existing (filled)")
    if "new" in states:
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=9, markerfacecolor="white",
                              markeredgecolor="#888888", markeredgewidth=2.4))
        texts.append("new, opened by the plan (hollow)")
    cref = style.nice_number(scales.capacity)
    for cap in dict.fromkeys([cref, style.nice_number(cref / 5)]):
        if cap > 0:
            handles.append(Line2D([], [], marker="o", linestyle="none", markersize=scales.facility_size(cap),
                                  markerfacecolor="none", markeredgecolor="#555555"))
            texts.append(f"capacity {style.format_tonnes(cap)}/yr")
    if rule_colours is not None:
        header("Targets at facilities")
        shown = pd.concat([p.targets for p in panels]) if panels else pd.DataFrame(columns=["rule", "state"])
        for rule in sorted(set(shown["rule"])):
            handles.append(Line2D([], [], marker="o", linestyle="none", markersize=11, markerfacecolor="none",
                                  markeredgecolor=rule_colours.get(rule, "#000000"), markeredgewidth=2.0))
            texts.append(f"binds: {rule}")
        if (shown["state"] == "missed").any():
            handles.append(Line2D([], [], color="#555555", lw=2.0, linestyle=(0, (2.5, 1.5))))
            texts.append("dashed ring: target missed (shortfall)")
        if shown.empty:
            handles.append(Line2D([], [], linestyle="none"))
            texts.append("no per-facility target binds")
    header("Other")
    if any(len(p.collection) for p in panels):
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=6,
                              markerfacecolor=style.COLLECTION_COLOUR, markeredgecolor="white"))
        texts.append("collection point (area: supply)")
    if any(len(p.markets) for p in panels):
        handles.append(Line2D([], [], marker="p", linestyle="none", markersize=MARKET_PT,
                              markerfacecolor=style.MARKET_COLOUR, markeredgecolor="white"))
        texts.append("second-life market")
    if any(len(p.candidates) for p in panels):
        handles.append(Line2D([], [], marker="x", linestyle="none", markersize=6,
                              markeredgecolor=style.CANDIDATE_COLOUR))
        texts.append("candidate site, not opened")
    legend = leg_ax.legend(handles, texts, loc="upper left", frameon=False, fontsize=8, labelspacing=0.7,
                           handlelength=2.6, borderaxespad=0.0, borderpad=0.2)
    for i, text in enumerate(legend.get_texts()):
        if i in headers:
            text.set_fontweight("bold")


def _scales(results: Sequence[tuple[PlotResult, int]]) -> Scales:
    t = cap = sup = 0.0
    for res, period in results:
        f = aggregate_flows(res.table("flows"), period, detail=False)
        t = max([t, *f["tonnes"].dropna().astype(float)])
        fac = res.table("facilities")
        if len(fac):
            cap = max([cap, *fac.loc[fac["period"] == period, "capacity_t"].dropna().astype(float)])
        col = res.table("collection")
        if len(col):
            sup = max([sup, *col.loc[col["period"] == period].groupby("site")["supply_t"].sum().astype(float)])
    return Scales(tonnes=t, capacity=cap, supply=sup)


def _frame_for(results: Sequence[PlotResult], basemap: bool) -> MapFrame:
    lon = np.concatenate([r.nodes["longitude"].to_numpy(float) for r in results])
    lat = np.concatenate([r.nodes["latitude"].to_numpy(float) for r in results])
    return map_frame(lon, lat, basemap=basemap)


def _tech_colours(results: Sequence[PlotResult]) -> dict[str, str]:
    techs = pd.concat([r.nodes["technology"] for r in results]).fillna("").astype(str).tolist()
    return style.technology_colours(techs)


def _rule_colours(cells: Sequence[tuple[PlotResult, int]], targets: bool) -> dict[str, str] | None:
    """Colours of every rule that binds or is missed at a facility in ``cells`` (None: no rings)."""
    if not targets:
        return None
    rules = [r for res, p in cells for r in facility_targets(res.table("targets"), p)["rule"]]
    return style.target_colours(rules)


def flow_map(result: Any, period: int | None = None, *, min_flow: float = 0.0, scenario: str | None = None,
             labels: int = 20, legend: bool = True, basemap: bool = True, title: str | None = None,
             width: float = PANEL_W_IN, targets: bool = False) -> Figure:
    """The flow map of one period (default: the last) of a plan.

    ``result``: a Solution, a results folder or a :class:`PlotResult`; ``min_flow``: hide flow
    lines carrying less than this (t/yr, summed over chemistries and grades); ``labels``: most
    facility sites labelled (largest first, never overlapping); ``width``: map width in inches;
    ``targets``: ring the facilities where a target of scope facility, chain or step binds (or is
    missed), one colour per rule, named in the legend.
    """
    res = as_result(result, scenario)
    p = res.period(period)
    frame = _frame_for([res], basemap)
    fig, axes, leg_ax = _layout(1, 1, _panel_aspect(frame), width, suptitle=False, legend=legend)
    scales = _scales([(res, p)])
    colours = _tech_colours([res])
    rules = _rule_colours([(res, p)], targets)
    layers = draw_panel(axes[0][0], res, p, frame, scales, colours, min_flow, labels, title, rules)
    if leg_ax is not None:
        _legend(leg_ax, [layers], scales, colours, rules)
    return fig


def flow_maps(results: Any, periods: Sequence[int] | None = None, *, min_flow: float = 0.0, ncols: int | None = None,
              labels: int = 12, legend: bool = True, basemap: bool = True, panel_width: float = 5.0,
              title: str | None = None, targets: bool = False) -> Figure:
    """Small multiples on one extent and one set of scales.

    ``results``: one plan (a Solution, results folder or PlotResult) -> one panel per period
    (``periods``, default all); or several, as a mapping ``{scenario: plan}`` or a sequence ->
    one row per scenario and one column per period (default: each plan's last period).
    ``targets``: as :func:`flow_map`, with one colour per rule across the panels.
    """
    if isinstance(results, Mapping):
        plans = [as_result(v, str(k)) for k, v in results.items()]
    elif isinstance(results, list | tuple):
        plans = [as_result(v) for v in results]
    else:
        plans = [as_result(results)]
    single = len(plans) == 1
    if single:
        years = list(periods) if periods is not None else plans[0].years
        cells = [(plans[0], plans[0].period(y)) for y in years]
        n_rows, n_cols = _grid(len(cells), ncols)
    else:
        cols = [list(periods) if periods is not None else [None] for _ in plans]
        cells = [(r, r.period(y)) for r, ys in zip(plans, cols, strict=True) for y in ys]
        n_cols = len(cols[0])
        n_rows = len(plans)
        if n_cols == 1:
            n_rows, n_cols = _grid(len(cells), ncols)
    frame = _frame_for(plans, basemap)
    suptitle = title if title is not None else (f"{plans[0].name} · scenario {plans[0].scenario}" if single else
                                                " vs ".join(dict.fromkeys(r.scenario for r in plans)))
    fig, axes, leg_ax = _layout(n_rows, n_cols, _panel_aspect(frame), panel_width, suptitle=True, legend=legend)
    fig.suptitle(suptitle, x=0.01, ha="left", fontsize=12)
    scales = _scales(cells)
    colours = _tech_colours(plans)
    rules = _rule_colours(cells, targets)
    drawn = []
    flat = [ax for row in axes for ax in row]
    for ax, (res, p) in zip(flat, cells, strict=False):
        head = str(p) if single else f"scenario {res.scenario} · {p}"
        drawn.append(draw_panel(ax, res, p, frame, scales, colours, min_flow, labels, head, rules))
    for ax in flat[len(cells):]:
        ax.set_axis_off()
    if leg_ax is not None:
        _legend(leg_ax, drawn, scales, colours, rules)
    return fig


def _grid(n: int, ncols: int | None) -> tuple[int, int]:
    cols = ncols or (n if n <= 3 else 4 if n in (4, 7, 8) or n > 9 else 3)
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols
