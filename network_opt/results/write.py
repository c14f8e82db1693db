"""Writing results atomically: into a temporary folder beside the target, then moved into place.

A non-empty output folder is never touched unless ``overwrite`` is true, and then only when the
tool wrote it (:mod:`network_opt.common.outdir`: the marker, the instance and the working directory
are never replaced, one writer at a time). A failure while writing leaves the previous content as
it was; :func:`rescue_results` then saves the plan into a fallback folder.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import traceback
from pathlib import Path

from network_opt.common.files import atomic_write_dir, write_table_csv
from network_opt.common.outdir import (
    MIN_FREE_BYTES,
    RESULT_TABLES,
    check_output_dir,
    current_umask,
    output_lock,
    write_marker,
)
from network_opt.inputs.manifest import MANIFEST_NAME, read_manifest
from network_opt.results.summary import Summary
from network_opt.results.tables import Solution
from network_opt.results.xlsx import write_results_xlsx

__all__ = ["RESULT_TABLES", "check_output_dir", "protected_paths", "rescue_results", "write_results"]


#: Result size per byte of input (see :func:`estimate_result_bytes`).
RESULT_SIZE_FACTOR = 20


def input_bytes(instance: str | Path) -> int:
    """Total size (bytes) of an instance's files: the workbook, or instance.yaml and the tables it
    names (every CSV in its folder when the manifest cannot be read)."""
    path = Path(instance)
    if path.is_file() and path.suffix.lower() in (".xlsx", ".xlsm"):
        return path.stat().st_size
    manifest_file = path / MANIFEST_NAME if path.is_dir() else path
    try:
        manifest, _ = read_manifest(manifest_file)
    except Exception:  # an estimate only: the load reports what is wrong
        manifest = None
    files = ([manifest_file, *manifest.tables.values()] if manifest is not None
             else [manifest_file, *manifest_file.parent.glob("*.csv")])
    return sum(f.stat().st_size for f in dict.fromkeys(Path(f) for f in files) if f.is_file())


def estimate_result_bytes(instance: str | Path) -> int:
    """Rough size (bytes) of the results of ``instance``: ``max(MIN_FREE_BYTES, RESULT_SIZE_FACTOR
    x input bytes)`` = max(8 MiB, 20 x the total size of instance.yaml and its tables, or of the
    workbook). The plan's tables (CSV, then again in results.xlsx and network.gpkg) grow with the
    lanes the inputs span; the factor is generous, so that a refusal means the disk is nearly full."""
    try:
        size = input_bytes(instance)
    except OSError:
        size = 0
    return max(MIN_FREE_BYTES, RESULT_SIZE_FACTOR * size)


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
            write_table_csv(sol.tables[name], folder / f"{name}.csv")
    if full:
        write_results_xlsx(sol, folder / "results.xlsx")
        if sol.instance is not None and "flows" in sol.tables:
            from network_opt.results.gpkg import write_geopackage  # site coordinates for GIS and `network-opt map`

            write_geopackage(sol, folder / "network.gpkg")
    summary = Summary.from_dict(sol.summary).as_dict()
    timings = dict(summary.get("timings", {}))
    timings["write_s"] = time.perf_counter() - start
    summary["timings"] = timings
    (folder / "summary.json").write_text(json.dumps(_clean(summary), indent=2, default=str) + "\n", encoding="utf-8")
    write_marker(folder, "solve")


def write_results(sol: Solution, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``summary.json``, the result tables as CSV, ``results.xlsx``, ``network.gpkg`` and the
    marker into ``out``; return the folder.

    Raises :class:`~network_opt.common.errors.OutputExistsError` when ``out`` is not empty and
    ``overwrite`` is false, :class:`~network_opt.common.errors.OutputRefused` when ``out`` may not be
    written or replaced (:func:`network_opt.common.outdir.check_output_dir`) or another run is
    writing it; ``OSError`` and the GeoPackage writer's errors when writing fails (``out`` is
    then as it was).
    """
    out = Path(out)
    with output_lock(out):
        check_output_dir(out, overwrite, protected=protected_paths(sol))
        start = time.perf_counter()
        atomic_write_dir(out, lambda tmp: _write_files(sol, tmp, start),  # nothing appeared meanwhile:
                         before_move=lambda: check_output_dir(out, overwrite, protected=protected_paths(sol)))
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
                    write_table_csv(sol.tables[name], folder / f"{name}.csv")
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
