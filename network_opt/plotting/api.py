"""One entry point for notebooks: ``plot(result, "map")``, ``plot(result, "sankey")``, ..."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib loads on first use, not with ``import network_opt``
    from matplotlib.figure import Figure

KINDS = ("map", "maps", "costs", "capacity", "targets", "sankey", "html")


def plot(result: Any, kind: str = "map", out: str | Path | None = None, **options: Any) -> Figure | Path:
    """Draw ``result`` (a Solution, a results folder or a PlotResult) as ``kind``:

    - ``map``: :func:`~network_opt.plotting.maps.flow_map` (options: period, min_flow, labels, ...);
    - ``maps``: :func:`~network_opt.plotting.maps.flow_maps`, one panel per period (or per scenario
      when ``result`` is a mapping ``{scenario: plan}``);
    - ``costs``, ``capacity``, ``targets``, ``sankey``: the charts of :mod:`network_opt.plotting.charts`;
    - ``html``: :func:`~network_opt.plotting.interactive.write_html_map` (``out`` required).

    Returns the figure (saved to ``out`` too when given: PNG, SVG or PDF by suffix), or the HTML
    file's path.
    """
    if kind == "html":
        from network_opt.plotting.interactive import write_html_map

        if out is None:
            raise ValueError("plot(..., 'html') needs out='FILE.html'")
        return write_html_map(result, out, **options)
    from network_opt.plotting import charts, maps

    draw: dict[str, Callable[..., Figure]] = {"map": maps.flow_map, "maps": maps.flow_maps, "costs": charts.cost_chart,
            "capacity": charts.capacity_chart, "targets": charts.targets_chart, "sankey": charts.sankey}
    if kind not in draw:
        raise ValueError(f"unknown plot kind {kind!r}; expected one of {', '.join(KINDS)}")
    fig = draw[kind](result, **options)
    if out is not None:
        save_figure(fig, out)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` (PNG, SVG or PDF by the suffix of ``path``) and return the path."""
    from network_opt.common.files import save_figure as save

    return save(fig, path, dpi)


__all__ = ["KINDS", "plot", "save_figure"]
