"""``results.xlsx``: the result tables as one workbook for planners.

Sheet ``summary`` first (instance, status, objective, bound, gap, model size, solve time, and key
figures per period: supply, collected, facilities open, capacity, second-life sales, material
recovered, transport cost, emissions, targets met), then one sheet per result table with the
columns of its CSV file. Headers are bold and frozen, numbers keep full precision (only their
display is formatted: ``#,##0.00``, shares as percentages), column widths fit the content.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from network_opt.common.outdir import RESULT_TABLES
from network_opt.results.tables import Solution

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TITLE_FONT = Font(bold=True, size=13)
NUMBER = "#,##0.00"
RATIO = "0.0000"
PERCENT = "0.0%"
WHOLE = "0"
#: columns shown as a percentage / as a 4-decimal ratio (display only; values are exact)
PERCENT_COLUMNS = {"utilisation"}
RATIO_COLUMNS = {"required", "achieved", "shortfall"}
MAX_WIDTH = 45
WIDTH_SAMPLE = 500  # rows looked at to size a column


def _plain(value: Any) -> Any:
    """A pandas/numpy value as a Python value openpyxl can write (NaN and infinities as empty)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def _format(column: str, series: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series):
        return WHOLE
    if pd.api.types.is_float_dtype(series):
        if column in PERCENT_COLUMNS:
            return PERCENT
        return RATIO if column in RATIO_COLUMNS else NUMBER
    return None


def _header(ws: WriteOnlyWorksheet, names: list[str]) -> list[Cell]:  # WriteOnlyCell() makes a Cell
    cells = []
    for name in names:
        cell = WriteOnlyCell(ws, name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cells.append(cell)
    return cells


def _shown_width(value: Any, fmt: str | None) -> int:
    if isinstance(value, float) and fmt in (NUMBER, RATIO, PERCENT):
        return len(f"{value:,.2f}") + 1
    return len(str(value))


def _table_sheet(wb: Workbook, name: str, frame: pd.DataFrame) -> None:
    ws = wb.create_sheet(name[:31])
    names = [str(c) for c in frame.columns]
    formats = [_format(str(c), frame[c]) for c in frame.columns]
    widths = [len(n) + 2 for n in names]
    for i, c in enumerate(frame.columns):
        sample = frame[c].head(WIDTH_SAMPLE)
        if len(sample):
            widths[i] = max(widths[i], max(_shown_width(_plain(v), formats[i]) for v in sample) + 2)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(width, 8), MAX_WIDTH)
    ws.freeze_panes = "A2"
    ws.append(_header(ws, names))
    columns = [_column_values(frame[c]) for c in frame.columns]
    cells = []  # one styled cell per column, reused row after row (a write-only row is written at append)
    for fmt in formats:
        cell = WriteOnlyCell(ws, None)
        if fmt is not None:
            cell.number_format = fmt
        cells.append(cell)
    for values in zip(*columns, strict=True):
        for cell, value in zip(cells, values, strict=True):
            cell.value = value
        ws.append(cells)


def _column_values(series: pd.Series) -> list[Any]:
    """A column as Python values openpyxl writes directly (NaN and infinities as empty cells)."""
    if pd.api.types.is_float_dtype(series):
        return [v if math.isfinite(v) else None for v in series.tolist()]
    if (pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series)) and not series.hasnans:
        return series.tolist()
    return [_plain(v) for v in series.tolist()]


def _sum(sol: Solution, table: str, column: str, by: str = "period") -> pd.Series:
    frame = sol.tables.get(table)
    if frame is None or column not in frame.columns or by not in frame.columns or frame.empty:
        return pd.Series(dtype=float)
    return frame.groupby(by)[column].sum()


def period_kpis(sol: Solution) -> pd.DataFrame:
    """Key figures per period (annual rates, as in the CSV files; money undiscounted per year)."""
    fac = sol.tables.get("facilities")
    targets = sol.tables.get("targets")
    columns: dict[str, pd.Series] = {
        "supply_t": _sum(sol, "collection", "supply_t"),
        "collected_t": _sum(sol, "collection", "shipped_t"),
        "uncollected_t": _sum(sol, "collection", "uncollected_t"),
        "disposed_t": _sum(sol, "collection", "disposed_t"),
        "throughput_t": _sum(sol, "facilities", "throughput_t"),
        "capacity_t": _sum(sol, "facilities", "capacity_t"),
        "second_life_sold_t": _sum(sol, "cascade", "tonnes_sold", by="period_sold"),
        "material_recovered_t": _sum(sol, "materials", "recovered_t"),
        "material_revenue": _sum(sol, "materials", "revenue"),
        "transport_cost": _sum(sol, "flows", "cost"),
        "co2e_t": _sum(sol, "emissions", "co2e_t"),
    }
    if fac is not None and {"open", "period"} <= set(fac.columns) and not fac.empty:
        columns["facilities_open"] = fac.loc[fac["open"].astype(bool)].groupby("period").size()
    if targets is not None and {"met", "period"} <= set(targets.columns) and not targets.empty:
        columns["targets_met"] = targets.groupby("period")["met"].sum()
        columns["targets_in_force"] = targets.groupby("period").size()
    frame = pd.DataFrame({k: v for k, v in columns.items() if len(v)})
    frame.index.name = "period"
    return frame.reset_index() if len(frame.columns) else pd.DataFrame()


def _summary_rows(sol: Solution) -> list[tuple[str, Any, str]]:
    s = sol.summary
    currency = str(s.get("currency", ""))
    model = s.get("model", {}) if isinstance(s.get("model"), dict) else {}
    timings = s.get("timings", {}) if isinstance(s.get("timings"), dict) else {}
    periods = s.get("periods", [])
    rows: list[tuple[str, Any, str]] = [
        ("instance", s.get("instance"), ""),
        ("status", s.get("status", sol.status), ""),
        ("termination", s.get("termination"), ""),
        ("objective (net cost)", s.get("objective", sol.objective), currency),
        ("objective is", s.get("objective_label"), ""),
        ("best bound", s.get("bound"), currency),
        ("MIP gap", s.get("mip_gap"), "share"),
        ("periods", ", ".join(str(p) for p in periods) if isinstance(periods, list) else periods, "year"),
        ("soft targets", s.get("soft_targets"), ""),
        ("solve time", timings.get("solve_s"), "s"),
        ("variables", model.get("variables"), ""),
        ("binaries", model.get("binaries"), ""),
        ("constraints", model.get("constraints"), ""),
        ("solver", " ".join(str(s["solver"].get(k, "")) for k in ("name", "version"))
         if isinstance(s.get("solver"), dict) else s.get("solver"), ""),
    ]
    warnings = s.get("warnings") or []
    rows.append(("warnings", len(warnings) if isinstance(warnings, list) else warnings, ""))
    terms = s.get("cost_terms") or {}
    if isinstance(terms, dict):  # each term of the objective over the horizon (revenues negative)
        rows += [(f"cost: {term}", value, f"{currency} (discounted)") for term, value in terms.items()]
    return rows


def _summary_sheet(wb: Workbook, sol: Solution) -> None:
    ws = wb.create_sheet("summary")
    kpis = period_kpis(sol)
    width = max(3, len(kpis.columns))
    for i in range(1, width + 1):
        ws.column_dimensions[get_column_letter(i)].width = 24 if i == 1 else 18
    ws.freeze_panes = "A2"
    ws.append(_header(ws, ["item", "value", "unit"]))
    for item, value, unit in _summary_rows(sol):
        cell = WriteOnlyCell(ws, _plain(value))
        if item == "MIP gap":
            cell.number_format = "0.00%"
        elif isinstance(cell.value, float):
            cell.number_format = NUMBER
        ws.append([item, cell, unit])
    if kpis.empty:
        return
    ws.append([])
    title = WriteOnlyCell(ws, "Key figures per period (per year within the period)")
    title.font = TITLE_FONT
    ws.append([title])
    ws.append(_header(ws, [str(c) for c in kpis.columns]))
    formats = [WHOLE if c in ("period", "facilities_open", "targets_met", "targets_in_force") else NUMBER
               for c in kpis.columns]
    for values in kpis.itertuples(index=False, name=None):
        row = []
        for value, fmt in zip(values, formats, strict=True):
            cell = WriteOnlyCell(ws, _plain(value))
            cell.number_format = fmt
            row.append(cell)
        ws.append(row)


def write_results_xlsx(sol: Solution, path: str | Path, tables: Iterable[str] | None = None) -> Path:
    """Write ``results.xlsx`` (summary sheet + one sheet per result table) to ``path``.

    ``tables``: the result tables to include, in this order (default: those of
    :data:`~network_opt.common.outdir.RESULT_TABLES` that ``sol`` has, in that order).
    """
    path = Path(path)
    wb = Workbook(write_only=True)
    _summary_sheet(wb, sol)
    for name in RESULT_TABLES if tables is None else tables:
        frame = sol.tables.get(name)
        if isinstance(frame, pd.DataFrame):
            _table_sheet(wb, name, frame)
    wb.save(path)
    return path
