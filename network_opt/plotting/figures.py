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
    """Save ``fig`` (PNG, SVG or PDF by the suffix) and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path
