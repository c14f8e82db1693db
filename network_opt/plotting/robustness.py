"""The robustness map of a stochastic design (``robustness.csv`` of ``network-opt solve --stochastic``):
each candidate and existing facility coloured by the share of scenarios whose own optimal plan opens
it (0: never, 1: in every scenario), with the plans compared side by side: the stochastic plan's
facilities ringed in black, the expected-value plan's marked with a cross.

Artists carry a ``gid``: ``share`` (the facility markers, one per facility, coloured by open share),
``stochastic_open`` and ``expected_value_open`` (the rings and crosses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from network_opt.plotting.figures import new_figure
from network_opt.plotting.geo import map_frame
from network_opt.plotting.maps import _basemap, _points_per_unit, _scale_bar
from network_opt.results.read import ResultsError

COLUMNS = ("facility", "kind", "latitude", "longitude", "open_share", "stochastic_open", "expected_value_open")
PLANS = {"stochastic": "stochastic_open", "expected_value": "expected_value_open"}


def read_robustness(folder: str | Path) -> pd.DataFrame:
    """``robustness.csv`` of a stochastic results folder; :class:`ResultsError` if it is missing or
    lacks a column."""
    path = Path(folder) / "robustness.csv"
    if not path.is_file():
        raise ResultsError(f"{folder}: no robustness.csv (written by `network-opt solve --stochastic`)")
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}")
    return table


#: facilities at one site are spread on a ring of this radius (points), their labels pointing outwards
SPREAD_PT = 9.0


def spread_colocated(x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (projected metres) with the facilities sharing a site moved onto a ring of
    ``radius`` around it, evenly by angle, and each position's label direction (radians; a lone
    facility's is 45 degrees, up and right)."""
    px, py = x.astype(float).copy(), y.astype(float).copy()
    angle = np.full(len(x), np.pi / 4)
    keys = pd.Series(list(zip(np.round(x, 3), np.round(y, 3), strict=True)))
    for idx in keys.groupby(keys).indices.values():
        if len(idx) > 1:
            theta = np.pi / 2 + 2 * np.pi * np.arange(len(idx)) / len(idx)
            px[idx] += radius * np.cos(theta)
            py[idx] += radius * np.sin(theta)
            angle[idx] = theta
    return px, py, angle


def robustness_map(table: pd.DataFrame, *, plans: tuple[str, ...] = ("stochastic", "expected_value"),
                   title: str = "", basemap: bool = True) -> Figure:
    """Facilities coloured by open share, one panel per plan in ``plans`` (``stochastic``,
    ``expected_value``), the plan's open facilities ringed; a colour bar gives the share."""
    import matplotlib as mpl

    t = table.dropna(subset=["latitude", "longitude"]).reset_index(drop=True)
    if t.empty:
        raise ResultsError("robustness.csv has no facility with coordinates")
    lon, lat = t["longitude"].to_numpy(float), t["latitude"].to_numpy(float)
    frame = map_frame(lon, lat, basemap=basemap)
    x0, y0 = frame.project(lon, lat)
    n = len(plans)
    aspect = frame.height / frame.width if frame.width > 0 else 1.0
    fig = new_figure((6.0 * n + 1.2, 6.0 * aspect + 1.0))
    cmap = mpl.colormaps["viridis"]
    share = t["open_share"].fillna(0.0).to_numpy(float)
    for k, plan in enumerate(plans):
        ax = fig.add_axes((0.02 + k * 0.9 / n, 0.05, 0.88 / n, 0.82))
        _basemap(ax, frame)
        x, y, angle = spread_colocated(x0, y0, SPREAD_PT / max(_points_per_unit(ax, frame), 1e-12))
        ax.scatter(x, y, s=90, c=share, cmap=cmap, vmin=0.0, vmax=1.0, edgecolors="grey", linewidths=0.5,
                   zorder=5, gid="share")
        on = t[PLANS[plan]].astype(bool).to_numpy()
        if plan == "stochastic":
            ax.scatter(x[on], y[on], s=260, facecolors="none", edgecolors="black", linewidths=1.6, zorder=6,
                       gid="stochastic_open")
        else:
            ax.scatter(x[on], y[on], s=160, marker="x", c="black", linewidths=1.4, zorder=6,
                       gid="expected_value_open")
        for xi, yi, a, name, s in zip(x, y, angle, t["facility"], share, strict=True):
            if s > 0 or plan == "stochastic":
                ax.annotate(str(name), (xi, yi), xytext=(9 * np.cos(a), 9 * np.sin(a)), textcoords="offset points",
                            fontsize=7, zorder=7, ha="left" if np.cos(a) > 0.1 else "right" if np.cos(a) < -0.1
                            else "center", va="bottom" if np.sin(a) > 0.1 else "top" if np.sin(a) < -0.1
                            else "center", gid=f"label:{name}")
        ax.set_xlim(*frame.xlim)
        ax.set_ylim(*frame.ylim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        _scale_bar(ax, frame)
        label = "stochastic plan (ringed)" if plan == "stochastic" else "expected-value plan (crossed)"
        ax.set_title(f"{label}: {int(on.sum())} of {len(t)} facilities open", fontsize=10)
    cax = fig.add_axes((0.93, 0.15, 0.015, 0.6))
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap=cmap), cax=cax)
    bar.set_label("share of scenarios whose own optimum opens it")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def robustness_figure(folder: str | Path, **options: Any) -> Figure:
    """:func:`robustness_map` of a results folder written by ``solve --stochastic``."""
    import json

    table = read_robustness(folder)
    title = ""
    try:
        s = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
        st = s.get("stochastic") or {}
        title = (f"{s.get('instance', '')}: {st.get('scenarios')} scenarios, VSS {st.get('VSS', np.nan):,.0f}, "
                 f"EVPI {st.get('EVPI', np.nan):,.0f} {s.get('currency', '')}")
    except (OSError, ValueError, TypeError):
        pass
    return robustness_map(table, title=title, **options)
