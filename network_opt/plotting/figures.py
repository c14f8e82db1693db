"""Figures without pyplot's global state: nothing accumulates in long sessions, no GUI backend
is needed, and notebooks still display a returned figure (IPython renders Figure objects)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(size: tuple[float, float]) -> Figure:
    """A figure of ``size`` inches with an Agg canvas (so text can be measured and saved)."""
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (PNG, SVG or PDF by the suffix) and return the path
    (:func:`network_opt.common.files.save_figure`, the one figure writer)."""
    from network_opt.common.files import save_figure as save

    return save(fig, path, dpi)
