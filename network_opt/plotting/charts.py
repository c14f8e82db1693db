"""Charts of a plan: costs by term, capacity build-out, targets, and a mass-flow Sankey diagram.

Every function takes a Solution, a results folder or a :class:`PlotResult` and returns a
matplotlib :class:`~matplotlib.figure.Figure`. Money is in the instance's currency as in the
objective (discounted, summed over each period's years); tonnes are per year within a period.
"""

from __future__ import annotations

import colorsys
import itertools
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from network_opt.plotting import style
from network_opt.plotting.figures import new_figure
from network_opt.results.read import as_result

TERM_COLOURS = {
    "opening": "#4e79a7", "closing": "#a0cbe8", "fixed": "#f28e2b", "collection": "#ffbe7d", "transport": "#59a14f",
    "processing": "#8cd17d", "disposal": "#b6992d", "uncollected": "#f1ce63", "carbon": "#499894",
    "target_shortfall": "#e15759", "second_life_revenue": "#86bcb6", "material_revenue": "#d4a6c8",
    "pack_purchase": "#9c755f", "damaged_packaging": "#ff9da7", "black_mass_revenue": "#bab0ac",
    "holding": "#9d7660", "end_of_horizon": "#bab0ac",
}
KIND_COLOURS = {"refurbisher": style.REFURBISHER_COLOUR, "recycler": "#1f77b4", "preprocessor": "#8c564b",
                "refiner": "#9467bd"}


def _money_scale(values: np.ndarray) -> tuple[float, str]:
    top = float(np.nanmax(np.abs(values))) if len(values) else 0.0
    if top >= 1e9:
        return 1e9, "bn"
    if top >= 1e6:
        return 1e6, "M"
    if top >= 1e3:
        return 1e3, "k"
    return 1.0, ""


def cost_chart(result: Any, *, width: float = 8.0, height: float = 5.0) -> Figure:
    """Stacked bars of each cost term per period (revenues below zero) and the net cost (dots),
    in the instance's currency, discounted as in the objective."""
    res = as_result(result)
    costs = res.table("costs")
    fig = new_figure((width, height))
    ax = fig.add_subplot(1, 1, 1)
    if costs.empty:
        ax.text(0.5, 0.5, "no costs in this plan", ha="center", va="center", transform=ax.transAxes)
        return fig
    table = costs.pivot_table(index="period", columns="term", values="value", aggfunc="sum").reindex(res.years)
    table = table.loc[:, (table.abs() > 1e-9).any()]
    order = [t for t in TERM_COLOURS if t in table.columns] + [t for t in table.columns if t not in TERM_COLOURS]
    table = table[order].fillna(0.0)
    scale, unit = _money_scale(table.to_numpy())
    x = np.arange(len(table))
    up, down = np.zeros(len(x)), np.zeros(len(x))
    for term in table.columns:
        v = table[term].to_numpy() / scale
        bottom = np.where(v >= 0, up, down)
        ax.bar(x, v, 0.65, bottom=bottom, color=TERM_COLOURS.get(term, "#999999"), label=term.replace("_", " "),
               edgecolor="white", linewidth=0.5, gid=f"cost:{term}")
        up += np.where(v >= 0, v, 0)
        down += np.where(v < 0, v, 0)
    net = table.sum(axis=1).to_numpy() / scale
    ax.plot(x, net, "D", color="black", markersize=7, label="net cost", zorder=5, gid="net")
    for xi, n in zip(x, net, strict=True):
        ax.annotate(f"{n:,.2f}", (xi, n), xytext=(9, 0), textcoords="offset points", va="center", fontsize=8)
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xticks(x, [str(p) for p in table.index])
    ax.set_xlabel("period")
    ax.set_ylabel(f"{unit} {res.currency} (discounted)".strip())
    ax.set_title(f"{res.label}: costs (+) and revenues (−) by term", loc="left", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    fig.subplots_adjust(left=0.12, right=0.75, bottom=0.12, top=0.9)
    return fig


def _shades(base: str, n: int) -> list[str]:
    """``n`` shades of ``base`` from dark to light."""
    h, _light, s = colorsys.rgb_to_hls(*mcolors.to_rgb(base))
    if n == 1:
        return [base]
    return [mcolors.to_hex(colorsys.hls_to_rgb(h, min(0.85, 0.3 + 0.55 * k / (n - 1)), s)) for k in range(n)]


def capacity_by_kind_and_jurisdiction(result: Any) -> pd.DataFrame:
    """Open capacity (t/yr) per period (rows) and (kind, jurisdiction) (columns)."""
    res = as_result(result)
    fac = res.table("facilities")
    if fac.empty:
        return pd.DataFrame(index=res.years)
    where = res.nodes.set_index("node")["jurisdiction"]
    fac = fac.assign(jurisdiction=where.reindex(fac["facility"]).fillna("").to_numpy())
    table = fac.pivot_table(index="period", columns=["kind", "jurisdiction"], values="capacity_t", aggfunc="sum")
    table = table.reindex(res.years).fillna(0.0)
    return table.loc[:, (table > 0).any()]


def capacity_chart(result: Any, *, width: float = 8.0, height: float = 5.0) -> Figure:
    """Capacity open per period, stacked by facility kind and jurisdiction (t/yr), with the total
    throughput as a line."""
    res = as_result(result)
    table = capacity_by_kind_and_jurisdiction(res)
    fig = new_figure((width, height))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(res.years))
    bottom = np.zeros(len(x))
    kinds = [k for k in KIND_COLOURS if k in table.columns.get_level_values(0)] if len(table.columns) else []
    for kind in kinds:
        juris = sorted(table[kind].columns)
        for colour, j in zip(_shades(KIND_COLOURS[kind], len(juris)), juris, strict=True):
            v = table[(kind, j)].to_numpy() / 1e3
            label = f"{style.KIND_LABELS.get(kind, kind)} · {j}" if j else style.KIND_LABELS.get(kind, kind)
            ax.bar(x, v, 0.65, bottom=bottom, color=colour, edgecolor="white", linewidth=0.5, label=label,
                   gid=f"capacity:{kind}:{j}")
            bottom += v
    fac = res.table("facilities")
    if len(fac):
        used = fac.groupby("period")["throughput_t"].sum().reindex(res.years).fillna(0.0).to_numpy() / 1e3
        ax.plot(x, used, "o--", color="black", lw=1.2, label="throughput (all kinds)", gid="throughput")
    ax.set_xticks(x, [str(p) for p in res.years])
    ax.set_xlabel("period")
    ax.set_ylabel("capacity, kt/yr")
    ax.set_title(f"{res.label}: capacity by kind and jurisdiction", loc="left", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    fig.subplots_adjust(left=0.1, right=0.72, bottom=0.12, top=0.9)
    return fig


def targets_chart(result: Any, period: int | None = None, *, width: float = 8.0) -> Figure:
    """Achieved vs required per target (and period, or only ``period``): bars of the achieved
    value (green: met, red: missed), a black tick at the requirement. Rates are in %; a
    domestic-recovery target (tonnes) is shown as % of its required tonnes."""
    res = as_result(result)
    t = res.table("targets")
    if len(t) and period is not None:
        t = t.loc[t["period"] == res.period(period)]
    n = len(t)
    fig = new_figure((width, max(2.2, 0.8 + 0.32 * n)))
    ax = fig.add_subplot(1, 1, 1)
    if n == 0:
        ax.text(0.5, 0.5, "no targets in force", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    for column in ("facility", "scope"):  # per-facility rows (scopes facility, chain, step) are told apart
        if column not in t:
            t[column] = ""
    t = t.fillna({"facility": "", "scope": "", "material": ""})
    t = t.sort_values(["jurisdiction", "metric", "material", "period", "facility"]).reset_index(drop=True)
    tonnes = t["metric"] == "domestic_recovery"
    req = np.where(tonnes, 100.0, t["required"].astype(float) * 100)
    ach = np.where(tonnes, t["achieved"].astype(float) / t["required"].astype(float).where(lambda v: v > 0) * 100,
                   t["achieved"].astype(float) * 100)
    # a facility that takes nothing measures nothing: no bar, and not drawn as a miss
    measured = np.isfinite(t["achieved"].astype(float).to_numpy())
    ach = np.nan_to_num(ach, nan=0.0)
    met = t["met"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    y = np.arange(n)[::-1]
    ax.barh(y, ach, 0.6, color=np.where(met, "#59a14f", "#e15759"), gid="achieved")
    ax.scatter(req, y, marker="|", s=260, color="black", linewidths=2.2, zorder=5, gid="required")
    labels = [" ".join(str(v) for v in (j, m.replace("_", " "), mat, per, fac) if str(v))
              for j, m, mat, per, fac in zip(t["jurisdiction"], t["metric"], t["material"], t["period"],
                                             t["facility"], strict=True)]
    ax.set_yticks(y, labels, fontsize=8)
    for yi, a, r, tn, seen, achieved, required in zip(y, ach, req, tonnes, measured, t["achieved"], t["required"],
                                                      strict=True):
        if not seen:
            text = f"nothing measured in this plan (required {r:.0f}%)"
        elif tn:
            text = f"{achieved:,.0f} t of {required:,.0f} t"
        else:
            text = f"{a:.1f}% (required {r:.0f}%)"
        ax.annotate(text, (max(a, r), yi), xytext=(6, 0), textcoords="offset points", va="center", fontsize=7.5,
                    color="black" if seen else "#777777")
    ax.set_xlim(0, max(105.0, float(np.nanmax(np.r_[ach, req])) * 1.25))
    ax.set_xlabel("achieved, %" + (" (domestic recovery: % of the required tonnes)" if tonnes.any() else ""))
    ax.set_title(f"{res.label}: targets, achieved vs required", loc="left", fontsize=10)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    fig.subplots_adjust(left=0.38, right=0.97, bottom=0.8 / fig.get_figheight(), top=1 - 0.45 / fig.get_figheight())
    return fig


# --- Sankey ------------------------------------------------------------------------------------

SANKEY_COLUMNS = {"End-of-life supply": 0, "Refurbishing": 1, "Returns from second life": 1, "Disposal": 1,
                  "Uncollected": 1, "Recycling (packs)": 2, "Black mass refining": 3, "Residue and losses": 4}
SANKEY_COLOURS = {"End-of-life supply": "#0072B2", "Refurbishing": style.REFURBISHER_COLOUR,
                  "Returns from second life": "#CC79A7", "Disposal": "#7f7f7f", "Uncollected": "#bbbbbb",
                  "Recycling (packs)": "#1f77b4", "Black mass refining": "#3B3B3B", "Residue and losses": "#999999"}
MIN_SHARE = 0.01  # materials below this share of the recovered total are grouped as "other materials"


def sankey_links(result: Any, period: int | None = None) -> pd.DataFrame:
    """Mass flows of one period (default: the last), t/yr: columns ``source``, ``target``, ``tonnes``.

    Supply goes to refurbishing, recycling, disposal or stays uncollected; refurbishing sells
    second-life packs (one node per application) and sends rejects to recycling; returns from
    second life go to recycling; recycling (integrated or pre-processing) yields materials,
    black mass for refining, and residue; refining yields materials and residue.
    """
    res = as_result(result)
    p = res.period(period)
    flows = res.table("flows")
    flows = flows.loc[flows["period"] == p] if len(flows) else pd.DataFrame(columns=["origin", "destination",
                                                                                      "commodity", "tonnes"])
    role = res.nodes.set_index("node")["role"]
    app = res.nodes.set_index("node")["application"]
    dest = role.reindex(flows["destination"]).fillna("").to_numpy()
    links: list[tuple[str, str, float]] = []

    def add(src: str, dst: str, t: float) -> None:
        if t > 1e-6:
            links.append((src, dst, float(t)))

    col = res.table("collection")
    col = col.loc[col["period"] == p] if len(col) else col
    eol = flows["commodity"] == "eol_packs"
    add("End-of-life supply", "Refurbishing", flows.loc[eol & (dest == "refurbisher"), "tonnes"].sum())
    add("End-of-life supply", "Recycling (packs)",
        flows.loc[eol & np.isin(dest, ["recycler", "preprocessor"]), "tonnes"].sum())
    if len(col):
        add("End-of-life supply", "Disposal", col["disposed_t"].sum())
        add("End-of-life supply", "Uncollected", col["uncollected_t"].sum())
    sold = flows.loc[flows["commodity"] == "second_life_packs"]
    for a, t in sold.groupby(app.reindex(sold["destination"]).fillna("market").to_numpy())["tonnes"].sum().items():
        add("Refurbishing", f"Second life: {str(a).replace('_', ' ')}", t)
    add("Refurbishing", "Recycling (packs)", flows.loc[flows["commodity"] == "rejects", "tonnes"].sum())
    add("Returns from second life", "Recycling (packs)", flows.loc[flows["commodity"] == "returns", "tonnes"].sum())

    pack_in = sum(t for s, d, t in links if d == "Recycling (packs)")
    black = flows.loc[flows["commodity"] == "black_mass", "tonnes"].sum()
    mats = res.table("materials")
    mats = mats.loc[mats["period"] == p] if len(mats) else pd.DataFrame(columns=["facility", "material",
                                                                                 "recovered_t"])
    stage = np.where(role.reindex(mats["facility"]).fillna("").to_numpy() == "refiner", "Black mass refining",
                     "Recycling (packs)")
    rec = mats.assign(stage=stage).groupby(["stage", "material"])["recovered_t"].sum()
    total = float(rec.sum())
    small = {m for m, v in rec.groupby(level="material").sum().items() if total > 0 and v < MIN_SHARE * total}
    for (st, m), t in zip(rec.index.to_list(), rec.to_list(), strict=True):
        add(st, "other materials" if m in small else str(m), t)
    add("Recycling (packs)", "Black mass refining", black)
    out_pack = sum(t for s, d, t in links if s == "Recycling (packs)")
    add("Recycling (packs)", "Residue and losses", pack_in - out_pack)
    out_black = sum(t for s, d, t in links if s == "Black mass refining")
    add("Black mass refining", "Residue and losses", black - out_black)
    frame = pd.DataFrame(links, columns=["source", "target", "tonnes"])
    return frame.groupby(["source", "target"], sort=False)["tonnes"].sum().reset_index()


def _column(node: str) -> int:
    if node in SANKEY_COLUMNS:
        return SANKEY_COLUMNS[node]
    return 2 if node.startswith("Second life") else 4  # materials


def _rank(node: str) -> float:
    """Vertical order of a node within its column (smaller is higher)."""
    ranks = {"End-of-life supply": 0, "Refurbishing": 0, "Returns from second life": 6, "Disposal": 7,
             "Uncollected": 8, "Recycling (packs)": 5, "Black mass refining": 5, "Residue and losses": 9,
             "other materials": 4}
    if node in ranks:
        return ranks[node]
    return 0.0 if node.startswith("Second life") else 1.0  # materials keep their (alphabetical) order


def _band(x0: float, y0: tuple[float, float], x1: float, y1: tuple[float, float]) -> MplPath:
    """A band from (x0, y0 bottom..top) to (x1, y1 bottom..top) with S-shaped edges."""
    xm = (x0 + x1) / 2
    verts = [(x0, y0[1]), (xm, y0[1]), (xm, y1[1]), (x1, y1[1]), (x1, y1[0]), (xm, y1[0]), (xm, y0[0]),
             (x0, y0[0]), (x0, y0[1])]
    codes = [MplPath.MOVETO] + [MplPath.CURVE4] * 3 + [MplPath.LINETO] + [MplPath.CURVE4] * 3 + [MplPath.CLOSEPOLY]
    return MplPath(verts, codes)


def sankey(result: Any, period: int | None = None, *, width: float = 11.0, height: float = 6.0) -> Figure:
    """Mass-flow (Sankey) diagram of one period (default: the last), t/yr, from supply to second
    life, recycling, materials and losses. Links spanning columns pass through invisible
    nodes, so bands never cross a node. Node rectangles carry ``gid`` ``node:<name>``, bands
    ``link:<source>><target>``."""
    res = as_result(result)
    p = res.period(period)
    links = sankey_links(res, p)
    fig = new_figure((width, height))
    ax = fig.add_axes((0.02, 0.04, 0.96, 0.86))
    ax.set_axis_off()
    fig.suptitle(f"{res.label}: mass flows {p} (t/yr)", x=0.02, ha="left", fontsize=11)
    if links.empty:
        ax.text(0.5, 0.5, "no flows in this period", ha="center", va="center")
        return fig
    # split links spanning several columns into hops through invisible relay nodes
    hops: list[tuple[str, str, float, str]] = []  # (source, target, tonnes, link id)
    r: Any  # a row of the links: (source, target, tonnes)
    for r in links.itertuples(index=False):
        c0, c1 = _column(r.source), _column(r.target)
        chain = [r.source] + [f"~{r.source}>{r.target}@{c}" for c in range(c0 + 1, c1)] + [r.target]
        for a, b in itertools.pairwise(chain):
            hops.append((a, b, r.tonnes, f"{r.source}>{r.target}"))
    names = list(dict.fromkeys([h[0] for h in hops] + [h[1] for h in hops]))
    col = {n: (int(n.rsplit("@", 1)[1]) if n.startswith("~") else _column(n)) for n in names}
    inflow = {n: sum(h[2] for h in hops if h[1] == n) for n in names}
    outflow = {n: sum(h[2] for h in hops if h[0] == n) for n in names}
    value = {n: max(inflow[n], outflow[n]) for n in names}
    n_cols = max(col.values()) + 1

    # order in a column: fixed ranks, relays at the mean rank of the nodes they join
    order = {n: _rank(n) for n in names}
    for n in names:
        if n.startswith("~"):
            a, b = n[1:].rsplit("@", 1)[0].split(">", 1)
            order[n] = (_rank(a) + _rank(b)) / 2
    gap_share = 0.25
    col_total = {c: sum(value[n] for n in names if col[n] == c) for c in range(n_cols)}
    counts = {c: sum(1 for n in names if col[n] == c) for c in range(n_cols)}
    scale = (1 - gap_share) / max(col_total.values())
    gap = gap_share / max(max(counts.values()) - 1, 1)
    node_w = 0.018
    xs = {c: 0.02 + c * (0.80 / max(n_cols - 1, 1)) for c in range(n_cols)}
    y_top: dict[str, float] = {}
    for c in range(n_cols):
        y = 1.0
        for n in sorted((n for n in names if col[n] == c), key=lambda m: (order[m], m.lower())):
            y_top[n] = y
            y -= value[n] * scale + gap
    colour = {n: SANKEY_COLOURS.get(n, "#59a14f" if n.startswith("Second life") else "#e6a23c") for n in names}
    # bands leave a node in the order of their targets (top first) and enter in the order of sources
    out_y: dict[int, float] = {}
    in_y: dict[int, float] = {}
    offset = dict.fromkeys(names, 0.0)
    for k in sorted(range(len(hops)), key=lambda k: -y_top[hops[k][1]]):
        a = hops[k][0]
        out_y[k] = y_top[a] - offset[a]
        offset[a] += hops[k][2] * scale
    offset = dict.fromkeys(names, 0.0)
    for k in sorted(range(len(hops)), key=lambda k: -y_top[hops[k][0]]):
        b = hops[k][1]
        in_y[k] = y_top[b] - offset[b]
        offset[b] += hops[k][2] * scale
    for k, (a, b, t, lid) in enumerate(hops):
        h = t * scale
        y0, y1 = out_y[k], in_y[k]
        src = lid.split(">")[0]
        x0 = xs[col[a]] + node_w
        x1 = xs[col[b]]
        ax.add_patch(PathPatch(_band(x0, (y0 - h, y0), x1, (y1 - h, y1)), facecolor=colour[src], alpha=0.42,
                               edgecolor="none", gid=f"link:{lid}" if not a.startswith("~") else None))
        if b.startswith("~"):  # a relay: a straight band through its width
            ax.add_patch(Rectangle((x1, y1 - h), node_w, h, facecolor=colour[src], alpha=0.42, edgecolor="none"))
    for n in names:
        if n.startswith("~"):
            continue
        h = value[n] * scale
        ax.add_patch(Rectangle((xs[col[n]], y_top[n] - h), node_w, h, facecolor=colour[n], edgecolor="none",
                               gid=f"node:{n}"))
        ax.text(xs[col[n]] + node_w + 0.004, y_top[n] - h / 2,
                f"{n}: {value[n]:,.0f} t", va="center", ha="left", fontsize=8,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.6, "edgecolor": "none"})
    ax.set_xlim(0, 1)
    ax.set_ylim(min(y_top[n] - value[n] * scale for n in names) - 0.02, 1.02)
    return fig

