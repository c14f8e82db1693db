"""``results.xlsx``: the result tables as one workbook for planners.

Sheet ``summary`` first (instance, status, objective, bound, gap, model size, solve time, and key
figures per period: supply, collected, facilities open, capacity, second-life sales, material
recovered, transport cost, emissions, targets met), then one sheet per result table with the
columns of its CSV file. Headers are bold and frozen, numbers keep full precision (only their
display is formatted: ``#,##0.00``, shares as percentages), column widths fit the content.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from network_opt.common.files import atomic_write
from network_opt.common.outdir import RESULT_TABLES
from network_opt.results.tables import Solution

HEADER_COLOR = "#DDEBF7"  # the header row's fill
TITLE_SIZE = 13  # points, the title above the key figures
NUMBER = "#,##0.00"
RATIO = "0.0000"
PERCENT = "0.0%"
WHOLE = "0"
#: columns shown as a percentage / as a 4-decimal ratio (display only; values are exact)
PERCENT_COLUMNS = {"utilisation"}
RATIO_COLUMNS = {"required", "achieved", "shortfall"}
MAX_WIDTH = 45
#: rows of a table on one sheet: Excel's 1,048,576 less the header; a longer table goes on in sheets
#: "NAME (2)", "NAME (3)", ... (xlsxwriter would drop the rows past the limit without a word)
SHEET_ROWS = 1_048_575
WIDTH_SAMPLE = 500  # rows looked at to size a column
#: pixels per character of column width (Calibri 11's digit width): a width of ``w`` characters is
#: set as ``w * PIXELS_PER_CHAR`` pixels, which the file stores as exactly ``w``
PIXELS_PER_CHAR = 7

#: writes one value into (row, column) of a worksheet, with a cell format or None
CellWriter = Callable[[int, int, Any, Any], Any]


class _Styles:
    """The cell formats of one workbook (xlsxwriter formats), one per number format."""

    def __init__(self, wb: Any) -> None:
        self.wb = wb
        self.header = wb.add_format({"bold": True, "pattern": 1, "bg_color": HEADER_COLOR})
        self.title = wb.add_format({"bold": True, "font_size": TITLE_SIZE})
        self._numbers: dict[str, Any] = {}

    def number(self, fmt: str | None) -> Any:
        """The format showing numbers as ``fmt`` (None: the default format)."""
        if fmt is None:
            return None
        if fmt not in self._numbers:
            self._numbers[fmt] = self.wb.add_format({"num_format": fmt})
        return self._numbers[fmt]


def _plain(value: Any) -> Any:
    """A pandas/numpy value as a Python value (NaN and infinities as empty, containers as text)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def _write_value(ws: Any, row: int, col: int, value: Any, cell_format: Any = None) -> None:
    """Write a plain value (:func:`_plain`) into (row, col), 0-based: bool as a boolean, int and float
    as a number, None and "" as an empty cell (kept only when it has a format), anything else as text
    (never as a formula or a link, even when it starts with "=" or "http")."""
    if value is None or (isinstance(value, str) and not value):
        if cell_format is not None:
            ws.write_blank(row, col, None, cell_format)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, cell_format)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, cell_format)
    else:
        ws.write_string(row, col, str(value), cell_format)


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


def _header(ws: Any, row: int, names: list[str], styles: _Styles) -> None:
    """Bold, filled column names in ``row`` (0-based)."""
    for col, name in enumerate(names):
        ws.write_string(row, col, name, styles.header)


def _set_width(ws: Any, col: int, width: float) -> None:
    """Column ``col`` (0-based) ``width`` characters wide (stored exactly, as openpyxl stores it)."""
    ws.set_column_pixels(col, col, round(width * PIXELS_PER_CHAR))


def _shown_width(value: Any, fmt: str | None) -> int:
    if isinstance(value, float) and fmt in (NUMBER, RATIO, PERCENT):
        return len(f"{value:,.2f}") + 1
    return len(str(value))


def _column_widths(frame: pd.DataFrame, formats: list[str | None]) -> list[int]:
    """Width (characters) of each column of ``frame``: its name or its widest value among the first
    :data:`WIDTH_SAMPLE` rows, plus 2, within 8 and :data:`MAX_WIDTH`."""
    widths = [len(str(c)) + 2 for c in frame.columns]
    for i, c in enumerate(frame.columns):
        sample = frame[c].head(WIDTH_SAMPLE)
        if len(sample):
            widths[i] = max(widths[i], max(_shown_width(_plain(v), formats[i]) for v in sample) + 2)
    return [min(max(width, 8), MAX_WIDTH) for width in widths]


def _table_sheet(wb: Any, styles: _Styles, name: str, frame: pd.DataFrame) -> None:
    ws = wb.add_worksheet(name[:31])
    formats = [_format(str(c), frame[c]) for c in frame.columns]
    for i, width in enumerate(_column_widths(frame, formats)):
        _set_width(ws, i, width)
    ws.freeze_panes(1, 0)
    _header(ws, 0, [str(c) for c in frame.columns], styles)
    columns = [_column(ws, frame[c]) for c in frame.columns]
    plan = [(col, write, styles.number(fmt))
            for col, ((_, write), fmt) in enumerate(zip(columns, formats, strict=True))]
    # row by row (constant-memory mode writes each row out once the next one starts); the empty-cell
    # case of _write_value is inlined here, as this loop runs once per cell (3.7 M nationally)
    for row, values in enumerate(zip(*(values for values, _ in columns), strict=True), start=1):
        for (col, write, cell_format), value in zip(plan, values, strict=True):
            if value is None:
                if cell_format is not None:
                    ws.write_blank(row, col, None, cell_format)
            else:
                write(row, col, value, cell_format)


def _column(ws: Any, series: pd.Series) -> tuple[list[Any], CellWriter]:
    """A column as plain Python values (NaN and infinities as None: empty cells) and how they are
    written: as numbers, booleans or text when all are, else each by its type (:func:`_write_value`)."""
    if pd.api.types.is_float_dtype(series):
        return [v if math.isfinite(v) else None for v in series.tolist()], ws.write_number
    if pd.api.types.is_bool_dtype(series) and not series.hasnans:
        return series.tolist(), ws.write_boolean
    if pd.api.types.is_integer_dtype(series) and not series.hasnans:
        return series.tolist(), ws.write_number
    values = series.tolist()
    if all(type(v) is str for v in values):
        return [v or None for v in values], ws.write_string  # "" as an empty cell
    return [_plain(v) for v in values], lambda row, col, value, cell_format: _write_value(ws, row, col, value,
                                                                                          cell_format)


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


def _summary_sheet(wb: Any, styles: _Styles, sol: Solution) -> None:
    ws = wb.add_worksheet("summary")
    kpis = period_kpis(sol)
    width = max(3, len(kpis.columns))
    for i in range(width):
        _set_width(ws, i, 24 if i == 0 else 18)
    ws.freeze_panes(1, 0)
    _header(ws, 0, ["item", "value", "unit"], styles)
    row = 1
    for item, value, unit in _summary_rows(sol):
        plain = _plain(value)
        fmt = "0.00%" if item == "MIP gap" else NUMBER if isinstance(plain, float) else None
        _write_value(ws, row, 0, item)
        _write_value(ws, row, 1, plain, styles.number(fmt))
        _write_value(ws, row, 2, unit)
        row += 1
    if kpis.empty:
        return
    row += 1  # an empty row
    ws.write_string(row, 0, "Key figures per period (per year within the period)", styles.title)
    _header(ws, row + 1, [str(c) for c in kpis.columns], styles)
    formats = [styles.number(WHOLE if c in ("period", "facilities_open", "targets_met", "targets_in_force")
                             else NUMBER) for c in kpis.columns]
    for r, values in enumerate(kpis.itertuples(index=False, name=None), start=row + 2):
        for col, (value, cell_format) in enumerate(zip(values, formats, strict=True)):
            _write_value(ws, r, col, _plain(value), cell_format)


def _fill(wb: Any, sol: Solution, tables: Iterable[str] | None) -> None:
    """The summary sheet, then one sheet per result table (``tables``: see :func:`write_results_xlsx`),
    a table longer than :data:`SHEET_ROWS` continued on further sheets."""
    styles = _Styles(wb)
    _summary_sheet(wb, styles, sol)
    for name in RESULT_TABLES if tables is None else tables:
        frame = sol.tables.get(name)
        if isinstance(frame, pd.DataFrame):
            for k, first in enumerate(range(0, max(len(frame), 1), SHEET_ROWS), start=1):
                part = frame.iloc[first:first + SHEET_ROWS]
                _table_sheet(wb, styles, name if k == 1 else f"{name[:25]} ({k})", part)


def write_results_xlsx(sol: Solution, path: str | Path, tables: Iterable[str] | None = None) -> Path:
    """Write ``results.xlsx`` (summary sheet + one sheet per result table) to ``path`` (replaced if
    it exists; written beside it first, then moved).

    ``tables``: the result tables to include, in this order (default: those of
    :data:`~network_opt.common.outdir.RESULT_TABLES` that ``sol`` has, in that order).

    Written with xlsxwriter in constant-memory mode (each row goes to a temporary file once the next
    one starts; the workbook is assembled on closing), several times faster than openpyxl.
    """

    def write(tmp: Path) -> None:
        wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
        try:
            _fill(wb, sol, tables)
        except BaseException:
            with contextlib.suppress(Exception):  # removes the row files; the partial workbook goes with tmp
                wb.close()
            raise
        wb.close()

    return atomic_write(path, write, suffix=".xlsx")
