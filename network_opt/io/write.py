"""Writing results atomically: into a temporary folder beside the target, then moved into place.

A non-empty output folder is never touched unless ``overwrite`` is true, and a failure while
writing leaves the previous content as it was.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from network_opt.errors import OutputExistsError
from network_opt.io.xlsx_results import write_results_xlsx
from network_opt.results import Solution

RESULT_TABLES = ("facilities", "flows", "collection", "costs", "targets", "materials", "cascade", "emissions",
                 "compliance", "diagnosis", "aggregation")


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` when ``out`` is a non-empty folder (or a file) and
    ``overwrite`` is false."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_results(sol: Solution, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``summary.json``, the result tables as CSV and ``results.xlsx`` into ``out``; return the folder."""
    out = Path(out)
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in RESULT_TABLES:
            if name in sol.tables:
                sol.tables[name].to_csv(tmp / f"{name}.csv", index=False, float_format="%.6f")
        write_results_xlsx(sol, tmp / "results.xlsx", tables=RESULT_TABLES)
        if sol.data is not None and "flows" in sol.tables:
            from network_opt.io.gpkg import write_geopackage  # site coordinates for GIS and `network-opt map`

            write_geopackage(sol, tmp / "network.gpkg")
        summary = dict(sol.summary)
        timings = dict(summary.get("timings", {}))  # type: ignore[arg-type]
        timings["write_s"] = time.perf_counter() - start
        summary["timings"] = timings
        (tmp / "summary.json").write_text(json.dumps(_clean(summary), indent=2) + "\n", encoding="utf-8")
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
