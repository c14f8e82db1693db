"""Writing results atomically: into a temporary folder beside the target, then moved into place.

A non-empty output folder is never touched unless ``overwrite`` is true, and then only when the
tool wrote it (:mod:`network_opt.io.outdir`: the marker, the instance and the working directory
are never replaced, one writer at a time). A failure while writing leaves the previous content as
it was; :func:`rescue_results` then saves the plan into a fallback folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path

from network_opt.io.outdir import (
    RESULT_TABLES,
    check_output_dir,
    current_umask,
    make_private_dir,
    output_lock,
    write_marker,
)
from network_opt.io.xlsx_results import write_results_xlsx
from network_opt.results import Solution

__all__ = ["RESULT_TABLES", "check_output_dir", "protected_paths", "rescue_results", "write_results"]


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def protected_paths(sol: Solution) -> list[str]:
    """The instance (folder or workbook) a solution was solved from, as its summary records it:
    results are never written into or over it."""
    path = sol.summary.get("instance_path")
    return [str(path)] if path else []


def _write_files(sol: Solution, folder: Path, start: float, full: bool = True) -> None:
    for name in RESULT_TABLES:
        if name in sol.tables:
            sol.tables[name].to_csv(folder / f"{name}.csv", index=False, float_format="%.6f")
    if full:
        write_results_xlsx(sol, folder / "results.xlsx", tables=RESULT_TABLES)
        if sol.data is not None and "flows" in sol.tables:
            from network_opt.io.gpkg import write_geopackage  # site coordinates for GIS and `network-opt map`

            write_geopackage(sol, folder / "network.gpkg")
    summary = dict(sol.summary)
    timings = dict(summary.get("timings", {}))  # type: ignore[call-overload]
    timings["write_s"] = time.perf_counter() - start
    summary["timings"] = timings
    (folder / "summary.json").write_text(json.dumps(_clean(summary), indent=2, default=str) + "\n", encoding="utf-8")
    write_marker(folder, "solve")


def write_results(sol: Solution, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``summary.json``, the result tables as CSV, ``results.xlsx``, ``network.gpkg`` and the
    marker into ``out``; return the folder.

    Raises :class:`~network_opt.errors.OutputExistsError` when ``out`` is not empty and
    ``overwrite`` is false, :class:`~network_opt.errors.OutputRefused` when ``out`` may not be
    written or replaced (:func:`network_opt.io.outdir.check_output_dir`) or another run is
    writing it; ``OSError`` and the GeoPackage writer's errors when writing fails (``out`` is
    then as it was).
    """
    out = Path(out)
    with output_lock(out):
        check_output_dir(out, overwrite, protected=protected_paths(sol))
        start = time.perf_counter()
        tmp = make_private_dir(out.parent, f".{out.name}.")
        try:
            _write_files(sol, tmp, start)
            check_output_dir(out, overwrite, protected=protected_paths(sol))  # nothing appeared meanwhile
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


def describe_error(exc: BaseException) -> str:
    """One line for a failed write: the OS's reason (e.g. "No space left on device") and the path."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def rescue_results(sol: Solution, intended: str | Path, error: BaseException) -> tuple[Path | None, list[str]]:
    """Save the plan of ``sol``, which could not be written to ``intended``, into a new fallback
    folder ``network-opt-rescue-YYYYMMDD-HHMMSS-PID`` in the temporary folder
    (``tempfile.gettempdir()``, i.e. ``$TMPDIR``), else the home folder, else the working directory.

    Everything is written where possible; where that fails too, at least ``summary.json`` and the
    CSV tables. ``summary.json`` records ``rescue`` (the intended folder and the error). Returns
    the folder (None if nothing could be saved anywhere) and notes on what is missing from it.
    """
    sol.summary["rescue"] = {"intended_out": str(Path(intended).absolute()), "error": describe_error(error)}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bases = []
    for get in (tempfile.gettempdir, Path.home, Path.cwd):
        try:
            bases.append(Path(get()))
        except (OSError, RuntimeError, KeyError):
            continue
    for base in dict.fromkeys(bases):
        folder = base / f"network-opt-rescue-{stamp}-{os.getpid()}"
        try:
            write_results(sol, folder)
            return folder, []
        except Exception as exc:  # any failure: try the smaller write below
            first = describe_error(exc)
        notes = [f"results.xlsx and network.gpkg not written ({first})"]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o777 & ~current_umask())
        except OSError:
            continue
        start = time.perf_counter()
        for name in RESULT_TABLES:
            if name in sol.tables:
                try:
                    sol.tables[name].to_csv(folder / f"{name}.csv", index=False, float_format="%.6f")
                except Exception as exc:
                    (folder / f"{name}.csv").unlink(missing_ok=True)
                    notes.append(f"{name}.csv not written ({describe_error(exc)})")
        try:
            # no tables: the CSVs are written (or reported) already
            _write_files(Solution(outcome=sol.outcome, summary=sol.summary), folder, start, full=False)
        except Exception as exc:
            notes.append(f"summary.json not written ({describe_error(exc)})")
            if not any(folder.iterdir()):
                folder.rmdir()
                continue
        return folder, notes
    return None, ["no folder could be written: " + "".join(traceback.format_exception_only(error)).strip()]
