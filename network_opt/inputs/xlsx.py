"""Reading an instance from a single ``.xlsx`` workbook, with problems as a spreadsheet user sees them.

Layout (documented in ``docs/excel.md``; ``network-opt template`` writes an empty one):

- one sheet per table, named as the tables of :mod:`network_opt.inputs.schema` (``sites``, ``supply``, ...):
  column names in row 1, data from row 2, one row per CSV line; optional tables may be left out;
- a sheet ``instance`` with the settings of ``instance.yaml``: ``key`` in column A and ``value`` in
  column B (header row 1), one row per dotted key (``transport.max_lane_km``); ``periods`` is a
  list (``2025; 2030`` or ``[{year: 2025, length: 5}]``), ``policies.CN`` a preset id (several
  separated by ``;``); an empty value means the default; columns C and later are notes, ignored;
- sheets named ``README`` or starting with ``_`` are ignored; any other sheet is an error.

Every cell is read as the text a CSV file would hold: numbers in their shortest exact form (or as
shown by a fixed ``0.00`` number format, when that shows the exact value), booleans as
``true``/``false``. Merged cells, formulas without a saved value, spreadsheet errors (``#N/A``)
and dates are refused with the cell's sheet, row and column letter. Problems name
``WORKBOOK.xlsx[SHEET]:ROW:COLUMN`` (row 1 is the header, row 2 the first data row).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from network_opt.common.errors import Problem
from network_opt.inputs import manifest as manifest_module
from network_opt.inputs.manifest import (
    SETTINGS,
    DuplicateKeyError,
    Manifest,
    UnsafeYamlError,
    check_manifest,
    load_yaml,
)
from network_opt.inputs.read import ROW, empty_table, typed_table
from network_opt.inputs.schema import TABLES

SETTINGS_SHEET = "instance"
README_SHEET = "README"
#: the sheet that carries an instance folder's README.md through a workbook, one line per row of
#: column A (ignored by the reader, as every sheet whose name starts with _)
README_DOC_SHEET = "_README.md"
MAX_WORKBOOK_BYTES = 256 * 1024 * 1024
#: Most bytes the workbook's members may expand to (the XML openpyxl parses), and the largest
#: expansion ratio of a member above :data:`BOMB_MIN_BYTES`: real sheets compress about 5-20:1,
#: a zip bomb thousands to one. Checked from the zip directory before anything is decompressed
#: (Python's zipfile never inflates a member beyond its declared size).
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100.0
BOMB_MIN_BYTES = 1024 * 1024
#: Most cells (rows x columns of the used range) read from one sheet; as many rows as a CSV table.
MAX_SHEET_CELLS = 5_000_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Top-level settings blocks kept raw (scenarios, ...): one row per entry, the value in YAML flow style.
RAW_BLOCKS: tuple[str, ...] = tuple(getattr(manifest_module, "RAW_BLOCKS", ()))
SETTING_TYPES = {key: type_ for key, type_, *_ in SETTINGS}
_FIXED_FORMAT = re.compile(r"^0(?:\.(0+))?$")


def is_workbook(path: str | Path) -> bool:
    """True when ``path`` names an ``.xlsx`` workbook (whether or not it exists)."""
    return Path(path).suffix.lower() == ".xlsx"


def sheet_label(book: Path, sheet: str) -> str:
    """The file label of a sheet in messages: ``WORKBOOK.xlsx[SHEET]``."""
    return f"{book.name}[{sheet}]"


def is_ignored_sheet(name: str) -> bool:
    """Sheets the reader skips: ``README`` and any name starting with ``_``."""
    return name == README_SHEET or name.startswith("_")


def number_text(value: int | float, number_format: str = "General") -> str:
    """The text of a numeric cell: as a fixed ``0.00`` format shows it when that is the exact value,
    else the shortest text that reads back as the same number (``1200``, ``0.25``, ``1e-05``)."""
    fixed = _FIXED_FORMAT.match(number_format or "")
    if fixed is not None:
        shown = f"{value:.{len(fixed.group(1) or '')}f}"
        if float(shown) == value:
            return shown
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


@dataclass
class RawWorkbook:
    """A workbook's content as text, before any checking against the schema."""

    path: Path
    #: settings nested as instance.yaml would give them (no ``tables:``; the sheets are the tables)
    settings: dict[str, Any]
    #: dotted key -> row of the ``instance`` sheet
    lines: dict[str, int]
    #: table -> frame of strings with ``_row`` (the spreadsheet row)
    sheets: dict[str, pd.DataFrame]
    #: file label -> {column name -> column letter}
    letters: dict[str, dict[str, str]] = field(default_factory=dict)
    #: whether the workbook has an ``instance`` sheet
    has_settings: bool = True
    #: dotted key -> row of the ``instance`` sheet where it is listed with an empty value
    blank: dict[str, int] = field(default_factory=dict)
    #: dotted keys of the ``instance`` sheet whose value cell was refused (reported at the cell)
    refused: set[str] = field(default_factory=set)
    #: the text of the sheet :data:`README_DOC_SHEET` (an instance folder's README.md), if any
    readme: str | None = None
    #: file label -> (row, column letter) of each table cell refused as it was read (merged, a formula
    #: without a saved value, an error, a date), reported there and not checked again by type
    refused_cells: dict[str, set[tuple[int, str]]] = field(default_factory=dict)


@dataclass
class WorkbookInstance:
    """A workbook read and checked table by table: what :class:`~network_opt.inputs.instance.Instance` needs."""

    manifest: Manifest
    tables: dict[str, pd.DataFrame]
    file_labels: dict[str, str]
    column_labels: dict[str, dict[str, str]]
    #: file name used by setting checks (the workbook's) -> label of the settings sheet
    file_aliases: dict[str, str]


def open_workbook(path: Path) -> tuple[Workbook | None, list[Problem]]:
    """Open a workbook with its formulas (not their values); refuse encrypted, old-format and corrupt files."""
    name = path.name
    if not path.is_file():
        return None, [Problem(str(path), 0, "", "workbook not found")]
    if path.stat().st_size > MAX_WORKBOOK_BYTES:
        return None, [Problem(name, 0, "", f"workbook larger than {MAX_WORKBOOK_BYTES // 2**20} MiB")]
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == OLE2_MAGIC:
        return None, [Problem(name, 0, "", "password-protected (encrypted) or old-format (.xls) workbook; "
                              "remove the password and save it as an Excel Workbook (.xlsx)")]
    if not zipfile.is_zipfile(path):
        return None, [Problem(name, 0, "", "not an .xlsx workbook (zip) or damaged: no zip directory found; "
                              "save it from the spreadsheet program as an Excel Workbook (.xlsx)")]
    found = check_zip(path)
    if found:
        return None, found
    try:
        return load_workbook(path, data_only=False), []
    except Exception as exc:  # openpyxl raises many kinds on damaged files
        return None, [Problem(name, 0, "", f"not an .xlsx workbook (zip) or damaged: {exc or type(exc).__name__}")]


def check_zip(path: Path) -> list[Problem]:
    """Refuse, from the zip directory alone, a workbook that is damaged or would expand beyond
    :data:`MAX_UNCOMPRESSED_BYTES` or by more than :data:`MAX_COMPRESSION_RATIO` to one."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        return [Problem(name, 0, "", f"not an .xlsx workbook (zip) or damaged: {exc or type(exc).__name__}")]
    mib = 2**20
    for info in infos:
        if info.file_size > BOMB_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            return [Problem(name, 0, "", f"refused: member {info.filename} would expand from "
                            f"{info.compress_size / mib:,.2f} MiB to {info.file_size / mib:,.0f} MiB "
                            f"({info.file_size / max(info.compress_size, 1):,.0f}:1, more than "
                            f"{MAX_COMPRESSION_RATIO:,.0f}:1): not a workbook a spreadsheet program writes "
                            "(a zip bomb?); nothing was read")]
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        return [Problem(name, 0, "", f"refused: the workbook would expand to {total / mib:,.0f} MiB, more than "
                        f"{MAX_UNCOMPRESSED_BYTES // mib} MiB; split it or use CSV files; nothing was read")]
    if not any(i.filename == "xl/workbook.xml" for i in infos):
        return [Problem(name, 0, "", "not an .xlsx workbook (zip) or damaged: it has no xl/workbook.xml; save it "
                        "from the spreadsheet program as an Excel Workbook (.xlsx)")]
    return []


class _Cells:
    """Turns cells into text, recording merged cells, formulas without a saved value, errors and dates."""

    def __init__(self, path: Path, book: Workbook):
        self.path = path
        self.book = book
        self._values: Workbook | None = None

    def cached(self, ws: Worksheet, row: int, col: int) -> Any:
        """The value a spreadsheet program saved for a formula cell (None when never calculated)."""
        if self._values is None:
            self._values = load_workbook(self.path, data_only=True)
        return self._values[ws.title].cell(row=row, column=col).value

    def merged(self, ws: Worksheet, label: str) -> list[Problem]:
        return [Problem(label, r.min_row, get_column_letter(r.min_col),
                        f"merged cells {r.coord}; unmerge them and enter a value in every cell")
                for r in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col))]

    def text(self, ws: Worksheet, cell: Any, label: str, what: str, problems: list[Problem]) -> str:
        """The text of one cell; ``what`` says what belongs there (for the date message)."""
        value = cell.value
        where = (label, cell.row, get_column_letter(cell.column))
        if cell.data_type == "f":
            formula = value.text if hasattr(value, "text") else value
            value = self.cached(ws, cell.row, cell.column)
            if value is None:
                problems.append(Problem(*where, f"formula {formula} has no saved value; enter the value "
                                        "itself (or open and save the workbook in a spreadsheet program)"))
                return ""
        if cell.data_type == "e" or (isinstance(value, str) and value.startswith("#") and cell.data_type != "s"):
            problems.append(Problem(*where, f"the cell shows the error {value}; enter a value"))
            return ""
        if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
            problems.append(Problem(*where, f"a date or time ({value}) where {what} belongs; format the cell "
                                    "as Number or Text and enter the value again"))
            return ""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return number_text(value, cell.number_format)
        return str(value)


def _what(table: str, column: str) -> str:
    try:
        col = TABLES[table].column(column)
    except KeyError:
        return "a value"
    if col.type in ("int", "float"):
        return f"a number{f' ({col.unit})' if col.unit else ''}"
    return "true or false" if col.type == "bool" else "text"


def _read_table_sheet(cells: _Cells, ws: Worksheet, table: str, label: str
                      ) -> tuple[pd.DataFrame | None, dict[str, str], list[Problem]]:
    """A table sheet as a frame of strings with ``_row``; its column letters; problems."""
    problems = cells.merged(ws, label)
    if ws.max_row * ws.max_column > MAX_SHEET_CELLS:
        return None, {}, [*problems, Problem(label, 0, "", f"the used range is {ws.max_row:,} rows x "
                                             f"{ws.max_column:,} columns, more than {MAX_SHEET_CELLS:,} cells; "
                                             "delete the unused rows and columns (or cells formatted far away)")]
    rows = list(ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column))
    if not rows or all(c.value is None for c in rows[0]):
        if any(c.value is not None for r in rows for c in r):
            return None, {}, [Problem(label, 1, "A", "row 1 must hold the column names")]
        return None, {}, problems
    header: list[tuple[int, str]] = []  # (0-based position, name)
    letters: dict[str, str] = {}
    for i, cell in enumerate(rows[0]):
        name = cells.text(ws, cell, label, "a column name", problems).strip()
        letter = get_column_letter(i + 1)  # the rows start in column A
        if not name:
            if any(r[i].value is not None for r in rows[1:] if i < len(r)):
                problems.append(Problem(label, 1, letter, f"column {letter} holds data but has no name in row 1"))
            continue
        if name in letters:
            problems.append(Problem(label, 1, letter, f"column name {name!r} appears twice (also {letters[name]}1)"))
            continue
        letters[name] = letter
        header.append((i, name))
    data: dict[str, list[str]] = {name: [] for _, name in header}
    for r in rows[1:]:
        for i, name in header:
            data[name].append(cells.text(ws, r[i], label, _what(table, name), problems) if i < len(r) else "")
    frame = pd.DataFrame(data, dtype=object)
    frame[ROW] = list(range(2, len(rows) + 1))
    return frame, letters, problems


def _setting_value(key: str, value: Any) -> Any:
    """A settings cell's value as YAML would have given it (numbers, booleans, lists)."""
    if key == "periods":
        return _periods_value(value)
    if key.startswith("policies."):
        ids = [v.strip() for v in str(value).split(";") if v.strip()]
        return ids[0] if len(ids) == 1 else ids
    if key.split(".", 1)[0] in RAW_BLOCKS:
        return load_yaml(value) if isinstance(value, str) else value
    if SETTING_TYPES.get(key) == "str":
        return number_text(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    return value  # a number or true/false written as text is read by the manifest check (coerce_value)


def _periods_value(value: Any) -> Any:
    """``2025``, ``2025; 2030`` or YAML flow (``[{year: 2025, length: 5}]``) as a list."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [int(value) if float(value).is_integer() else value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return load_yaml(text)
        except (DuplicateKeyError, UnsafeYamlError):
            raise
        except yaml.YAMLError:
            return text
    items = []
    for item in (v.strip() for v in text.split(";")):
        if item:
            try:
                items.append(load_yaml(item))
            except (DuplicateKeyError, UnsafeYamlError):
                raise
            except yaml.YAMLError:
                items.append(item)
    return items


def _index_nested(value: Any, prefix: str, row: int, lines: dict[str, int]) -> None:
    """Give every dotted key inside a raw block's value the row of its cell."""
    if isinstance(value, dict):
        for k, v in value.items():
            lines[f"{prefix}.{k}"] = row
            _index_nested(v, f"{prefix}.{k}", row, lines)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            lines[f"{prefix}[{i}]"] = row
            _index_nested(v, f"{prefix}[{i}]", row, lines)


def _read_settings_sheet(cells: _Cells, ws: Worksheet, label: str, blank: dict[str, int] | None = None,
                         refused: set[str] | None = None) -> tuple[dict[str, Any], dict[str, int], list[Problem]]:
    """The ``instance`` sheet as nested settings and the row of each dotted key; ``blank`` receives the
    row of each key listed with an empty value, ``refused`` each key whose value cell was refused."""
    problems = cells.merged(ws, label)
    settings: dict[str, Any] = {}
    lines: dict[str, int] = {}
    rows = list(ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=2))
    head = [cells.text(ws, c, label, "a column name", problems).strip().lower() for c in rows[0]] if rows else []
    if head[:2] != ["key", "value"]:
        return settings, lines, [*problems, Problem(label, 1, "A", "row 1 must read key | value "
                                                   "(keys in column A, values in column B)")]
    for row, r in enumerate(rows[1:], start=2):  # the rows start in row 1
        key_cell, value_cell = r[0], r[1] if len(r) > 1 else None
        key = cells.text(ws, key_cell, label, "a setting name", problems).strip()
        if value_cell is None or value_cell.value is None or (isinstance(value_cell.value, str)
                                                               and not value_cell.value.strip()):
            if blank is not None and key:
                blank.setdefault(key, row)
            continue  # not set: the default applies
        if not key:
            problems.append(Problem(label, row, "A", "a value without a key in column A"))
            continue
        if key in lines:
            problems.append(Problem(label, row, "A", f"{key}: listed twice (also row {lines[key]})"))
            continue
        if key == "tables" or key.startswith("tables."):
            problems.append(Problem(label, row, "A", f"{key}: in a workbook the tables are its sheets; "
                                    "remove this row"))
            continue
        found: list[Problem] = []
        what = "a list of years" if key == "periods" else "a value"
        raw = value_cell.value if value_cell.data_type in ("n", "b", "s") and not value_cell.is_date else None
        text = cells.text(ws, value_cell, label, what, found)
        if found:
            problems.extend(Problem(p.file, p.row, p.column, f"{key}: {p.message}") for p in found)
            if refused is not None:
                refused.add(key)
            continue
        try:
            value = _setting_value(key, raw if raw is not None else text)
        except yaml.YAMLError as exc:
            problems.append(Problem(label, row, "B", f"{key}: not a valid YAML value: {exc}"))
            if refused is not None:
                refused.add(key)
            continue
        parts = key.split(".")
        node = settings
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):
                node = None  # type: ignore[assignment]
                break
            node = node.setdefault(part, {})
        if node is None or isinstance(node.get(parts[-1]), dict):
            problems.append(Problem(label, row, "A", f"{key}: conflicts with another key of this sheet"))
            continue
        node[parts[-1]] = value
        lines[key] = row
        if parts[0] in RAW_BLOCKS:
            _index_nested(value, key, row, lines)
    return settings, lines, problems


def _settings_problem(p: Problem, label: str, lines: dict[str, int], blank: dict[str, int] | None = None
                      ) -> Problem:
    """A setting check's problem pointed at the value cell (column B) of its row."""
    if p.file != label or not p.column or p.column in ("A", "B"):
        return p
    base = p.column.split("[", 1)[0]
    if base in lines:
        return Problem(label, lines[base], "B", f"{p.column}: {p.message}", p.severity)
    if blank and base in blank:
        return Problem(label, blank[base], "B", f"{p.column}: {p.message} (the value in row {blank[base]}, "
                       "column B is empty: fill it in)", p.severity)
    return Problem(label, 1, "A", f"{p.column}: {p.message} (add a row with this key in column A)", p.severity)


def read_raw_workbook(path: str | Path) -> tuple[RawWorkbook | None, list[Problem]]:
    """Every sheet of a workbook as text; problems with the file, its sheets and its cells."""
    path = Path(path)
    book, problems = open_workbook(path)
    if book is None:
        return None, problems
    cells = _Cells(path, book)
    sheets: dict[str, pd.DataFrame] = {}
    letters: dict[str, dict[str, str]] = {}
    settings: dict[str, Any] = {}
    lines: dict[str, int] = {}
    blank: dict[str, int] = {}
    refused: set[str] = set()
    refused_cells: dict[str, set[tuple[int, str]]] = {}
    readme: str | None = None
    if SETTINGS_SHEET not in book.sheetnames:
        problems.append(Problem(sheet_label(path, SETTINGS_SHEET), 1, "A", "the settings sheet 'instance' is "
                                "missing; add a sheet named instance with key | value rows (name, periods, ...)"))
    for name in book.sheetnames:
        label = sheet_label(path, name)
        ws = book[name]
        if name == README_DOC_SHEET:
            readme = "".join(f"{'' if c.value is None else c.value}\n" for c in ws["A"]) if ws.max_row > 0 else ""
        if is_ignored_sheet(name):
            continue
        if name == SETTINGS_SHEET:
            settings, lines, found = _read_settings_sheet(cells, ws, label, blank, refused)
            letters[label] = {"key": "A", "value": "B"}
            problems.extend(found)
            continue
        if name not in TABLES:
            close = [t for t in TABLES if t.lower() == name.strip().lower()]
            hint = f"; did you mean {close[0]!r}? (sheet names are case-sensitive)" if close else ""
            problems.append(Problem(label, 1, "A", f"unknown sheet {name!r}{hint}; expected instance, the tables "
                                    f"({', '.join(TABLES)}), README, or a name starting with _ to be ignored"))
            continue
        frame, sheet_letters, found = _read_table_sheet(cells, ws, name, label)
        problems.extend(found)
        letters[label] = sheet_letters
        refused_cells[label] = {(p.row, p.column) for p in found} | _merged_cells(ws)
        if frame is not None:
            sheets[name] = frame
    for name, table in TABLES.items():
        if table.required and name not in sheets and name in book.sheetnames:
            problems.append(Problem(sheet_label(path, name), 1, "A", "empty sheet; row 1 must hold the column "
                                    f"names ({', '.join(table.column_names)})"))
        elif table.required and name not in book.sheetnames:
            problems.append(Problem(sheet_label(path, name), 1, "A", f"required sheet {name!r} is missing; add a "
                                    f"sheet named {name} with the column names in row 1 "
                                    f"({', '.join(table.column_names)}); see network-opt template"))
    return (RawWorkbook(path, settings, lines, sheets, letters, SETTINGS_SHEET in book.sheetnames, blank, refused,
                        readme, refused_cells), problems)


def _merged_cells(ws: Worksheet) -> set[tuple[int, str]]:
    """(row, column letter) of every cell of the merged ranges of ``ws``."""
    return {(row, get_column_letter(col)) for r in ws.merged_cells.ranges
            for row in range(r.min_row, r.max_row + 1) for col in range(r.min_col, r.max_col + 1)}


def read_workbook(path: str | Path) -> tuple[WorkbookInstance | None, list[Problem]]:
    """Read and check a workbook table by table (no cross-table checks)."""
    raw, problems = read_raw_workbook(path)
    if raw is None or not raw.has_settings:
        return None, problems
    settings_label = sheet_label(raw.path, SETTINGS_SHEET)
    bad_sheets = {p.file for p in problems}
    manifest, found = check_manifest(raw.settings, raw.lines, raw.path, fname=settings_label,
                                     tables={name: raw.path for name in raw.sheets})
    # a key whose cell was refused (bad YAML, a repeated key, ...) is reported there, not also as missing
    problems.extend(_settings_problem(p, settings_label, raw.lines, raw.blank) for p in found
                    if not (p.message == "required setting is missing" and p.column in raw.refused))
    if manifest is None:
        return None, problems
    defaults = manifest.settings.table_defaults()
    tables: dict[str, pd.DataFrame] = {}
    file_labels: dict[str, str] = {}
    for name, table in TABLES.items():
        label = sheet_label(raw.path, name)
        file_labels[name] = label
        frame = raw.sheets.get(name)
        # a sheet whose header or size was refused gets no typed checks on top; one with refused
        # cells is checked everywhere else, so that every problem is reported in one pass
        if frame is None or any(p.file == label and p.row <= 1 for p in problems):
            tables[name] = empty_table(table, defaults)
            continue
        typed, found = typed_table(table, frame, label, defaults)
        cells, sheet_letters = raw.refused_cells.get(label, set()), raw.letters.get(label, {})
        problems.extend(p for p in found if (p.row, sheet_letters.get(p.column, p.column)) not in cells)
        tables[name] = typed if label not in bad_sheets else empty_table(table, defaults)
    column_labels = dict(raw.letters)
    column_labels[raw.path.name] = {key: "B" for key in raw.lines}
    return WorkbookInstance(manifest, tables, file_labels, column_labels,
                            {raw.path.name: settings_label}), problems
