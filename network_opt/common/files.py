"""Small helpers shared by compare and sweep: atomic file writing, key-figure ordering, and
matplotlib figures drawn without pyplot (Agg canvas, so no display or backend is needed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: order of key-figure groups in tables (by name prefix)
KPI_GROUPS = ("status", "error", "objective", "mip_gap", "cost:", "revenue:", "tonnes:", "recovered_t:",
              "capacity_t:", "facilities:", "target:", "shadow_price[", "emissions_t")


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary file beside it, moved into place when complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    """Atomically write a CSV file (floats with 6 decimals, like the result tables)."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index, float_format="%.6f"))


def save_figure(fig: Figure, path: Path) -> Path:
    """Atomically save a figure as PNG."""
    FigureCanvasAgg(fig)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def kpi_order(names: Iterable[str]) -> list[str]:
    """Key-figure names grouped as :data:`KPI_GROUPS`, sorted within a group (cost terms keep
    their model order)."""
    names = list(dict.fromkeys(names))

    def rank(name: str) -> tuple[int, int, str]:
        for i, prefix in enumerate(KPI_GROUPS):
            if name == prefix or (prefix.endswith((":", "[")) and name.startswith(prefix)):
                keep = prefix in ("cost:", "revenue:")
                return i, names.index(name) if keep else 0, "" if keep else name
        return len(KPI_GROUPS), 0, name

    return sorted(names, key=rank)


def remove_stale(paths: Iterable[Path]) -> None:
    """Remove files a previous run wrote, so that none outlives the run that replaces it."""
    for p in paths:
        if p.is_file():
            p.unlink()
