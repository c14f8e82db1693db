"""File helpers shared by every writer: the one atomic writer of a file (:func:`atomic_write`) and
of a folder (:func:`atomic_write_dir`), CSV tables, the one :func:`save_figure` (matplotlib figures
drawn without pyplot: Agg canvas, no display or backend needed; matplotlib imported on first use),
and key-figure ordering."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: order of key-figure groups in tables (by name prefix)
KPI_GROUPS = ("status", "error", "objective", "mip_gap", "cost:", "revenue:", "tonnes:", "recovered_t:",
              "capacity_t:", "facilities:", "target:", "shadow_price[", "emissions_t")


def temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A new, unused name beside ``path`` for writing it (hidden; unique per process, thread and
    call; ending in ``suffix``, e.g. ``.gpkg`` for writers that go by the suffix). Not created."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")


def atomic_write(path: str | Path, write: Callable[[Path], None], *, suffix: str = "",
                 before_move: Callable[[], None] | None = None) -> Path:
    """Write the file ``path`` through a temporary file beside it (``write(tmp)``; created by the
    writer, so with the user's umask), moved into place (replacing ``path``) only when complete;
    on any failure the temporary file is removed and ``path`` is as it was. ``before_move``: called
    just before the move, e.g. to refuse a file that appeared meanwhile (it raises)."""
    path = Path(path)
    tmp = temporary_sibling(path, suffix)
    try:
        write(tmp)
        if before_move is not None:
            before_move()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_dir(out: str | Path, write: Callable[[Path], None], *,
                     before_move: Callable[[], None] | None = None) -> Path:
    """Write the folder ``out`` through a new folder beside it (``write(tmp)``; mode as the user's
    umask makes folders), then move it into place: an existing ``out`` is first renamed aside and
    removed once the new one is in place. On any failure the new folder is removed and ``out`` is
    as it was. ``before_move``: called just before the move (e.g. to check that nothing appeared
    meanwhile; it raises)."""
    from network_opt.common.outdir import make_private_dir

    out = Path(out)
    tmp = make_private_dir(out.parent, f".{out.name}.")
    try:
        write(tmp)
        if before_move is not None:
            before_move()
        if out.exists():
            backup = out.parent / f".{out.name}.old-{tmp.name}"
            out.rename(backup)
            tmp.rename(out)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


#: the CSVs' float format, and the size below which a float prints as 0 in it
CSV_FLOAT_FORMAT = "%.6f"
CSV_ZERO = 5e-7


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its float columns' values that would print as ``-0.000000`` in
    :data:`CSV_FLOAT_FORMAT` (a solver's -1e-12 for a quantity that cannot be negative) set to 0;
    ``frame`` itself when nothing changes."""
    floats = frame.select_dtypes("float").columns
    if not len(floats):
        return frame
    values = frame[floats]
    tiny = values.abs() < CSV_ZERO
    if not tiny.to_numpy().any():
        return frame
    out = frame.copy()
    out[floats] = values.mask(tiny, 0.0)
    return out


def write_table_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    """Write ``frame`` as CSV at ``path`` (not atomically: the caller's folder is), floats with 6
    decimals and no negative zeros (:func:`csv_ready`)."""
    csv_ready(frame).to_csv(path, index=index, float_format=CSV_FLOAT_FORMAT)


def write_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    """Atomically write a CSV file (floats with 6 decimals, like the result tables)."""
    return atomic_write(path, lambda tmp: write_table_csv(frame, tmp, index=index))


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (PNG, SVG or PDF by the suffix of ``path``; PNG without one), tight
    bounding box on white, and return the path. The one figure writer of the package: maps and
    charts (:mod:`network_opt.plotting`), comparison and sweep charts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if fig.canvas is None or not hasattr(fig.canvas, "print_png"):
        FigureCanvasAgg(fig)
    fmt = path.suffix.lower().lstrip(".") or "png"
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                                                      facecolor="white"))


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
