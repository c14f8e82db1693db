"""Converting an instance between a folder (``instance.yaml`` + CSV files) and one ``.xlsx`` workbook.

The conversion is lossless: every cell keeps the text of its CSV field (numbers are written as
numbers only when they read back as the same text, see :func:`network_opt.inputs.xlsx.number_text`;
otherwise as text), columns keep their order and rows their position. Folder -> workbook -> folder
gives the same CSV text (UTF-8, ``\\n`` line ends, minimal quoting) and the same settings.

:func:`write_template` writes an empty workbook documenting every column (header comments with
description, type, unit, default and range; a README sheet with example rows) with drop-down
lists for columns with fixed choices and for references to other sheets.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from network_opt.common.errors import InputError, OutputExistsError, Problem
from network_opt.common.files import atomic_write, atomic_write_dir
from network_opt.inputs.load import manifest_path
from network_opt.inputs.manifest import SETTINGS, check_manifest, load_yaml, read_manifest
from network_opt.inputs.read import ROW, decimal_points, read_csv_text
from network_opt.inputs.schema import TABLES, Column, Table
from network_opt.inputs.xlsx import (
    RAW_BLOCKS,
    README_DOC_SHEET,
    README_SHEET,
    SETTINGS_SHEET,
    is_workbook,
    number_text,
    read_raw_workbook,
    sheet_label,
)

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_DECIMAL = re.compile(r"^-?\d+\.(\d+)$")
#: rows of an .xlsx worksheet (the header row included)
SHEET_ROWS = 1_048_576
MAX_EXACT_INT = 10**15  # larger integers lose digits in a spreadsheet program: kept as text
VALIDATION_ROWS = 1_048_576


#: an instance folder's documentation, carried through a workbook (sheet ``_README.md``)
README_FILE = "README.md"


@dataclass
class RawInstance:
    """An instance as text: settings nested as in ``instance.yaml`` (without ``tables:``) and each
    table's cells as strings in the source's column order (``_row`` dropped)."""

    settings: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    #: the instance's README.md (the folder's file, or a workbook's sheet ``_README.md``), carried along
    readme: str | None = None


# ---------------------------------------------------------------- reading either form as text


def read_raw(instance: str | Path) -> RawInstance:
    """Read a folder or a workbook as text; raise :class:`InputError` when the settings are invalid
    or a table cannot be read (cell values are not checked against the schema here)."""
    if is_workbook(instance):
        book, problems = read_raw_workbook(instance)
        if book is not None and not problems:
            label = sheet_label(book.path, SETTINGS_SHEET)
            _, found = check_manifest(book.settings, book.lines, book.path, fname=label,
                                      tables={name: book.path for name in book.sheets})
            problems.extend(found)
        if book is None or problems:
            raise InputError(problems)
        return RawInstance(book.settings, {name: frame.drop(columns=[ROW]) for name, frame in book.sheets.items()},
                           book.readme)
    path = manifest_path(instance)
    manifest, problems = read_manifest(path)
    if manifest is None:
        raise InputError(problems)
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        if name in manifest.tables:
            frame, found = read_csv_text(manifest.tables[name], manifest.settings.csv.delimiter)
            problems.extend(found)
            if frame is not None and manifest.settings.csv.decimal == ",":
                problems.extend(decimal_points(TABLES[name], frame, manifest.tables[name].name))
            if frame is not None:
                tables[name] = frame.drop(columns=[ROW])
    if problems:
        raise InputError(problems)
    settings = load_yaml(path.read_text(encoding="utf-8-sig"))  # read_manifest checked it
    settings.pop("tables", None)
    settings.pop("csv", None)  # the tables are written with ',' separators and decimal points
    readme = path.parent / README_FILE
    return RawInstance(settings, tables, readme.read_text(encoding="utf-8-sig", errors="replace")
                       if readme.is_file() else None)


# ---------------------------------------------------------------- writing a folder


class _ManifestDumper(yaml.SafeDumper):
    """Block style, except lists of plain values (``periods: [2025, 2030]``)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ManifestDumper.add_representer(list, _represent_list)


def write_folder(raw: RawInstance, out: Path, source: str = "") -> None:
    """Write ``instance.yaml`` and one CSV per table into the new folder ``out``."""
    data: dict[str, Any] = {}
    table_paths = {name: f"{name}.csv" for name in TABLES if name in raw.tables}
    for key, value in raw.settings.items():
        data[key] = value
        if key == "periods":
            data["tables"] = table_paths
    data.setdefault("tables", table_paths)
    head = f"# Converted from {source} by network-opt convert.\n" if source else ""
    text = head + yaml.dump(data, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True, width=100)
    (out / "instance.yaml").write_text(text, encoding="utf-8")
    if raw.readme is not None:
        (out / README_FILE).write_text(raw.readme, encoding="utf-8")
    for name, frame in raw.tables.items():
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(list(frame.columns))
            writer.writerows(frame.itertuples(index=False, name=None))


# ---------------------------------------------------------------- writing a workbook


def cell_value(text: str, column: Column | None) -> tuple[Any, str]:
    """The value and number format that read back as exactly ``text`` (numbers as numbers where
    possible, so that the spreadsheet can compute with them; anything else as text, format ``@``)."""
    if column is None or column.type not in ("int", "float") or not text:
        return text, "@"
    try:
        value: int | float = int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:
        return text, "@"
    if isinstance(value, int) and abs(value) >= MAX_EXACT_INT:
        return text, "@"
    if isinstance(value, float) and not (abs(value) < float("inf")):
        return text, "@"
    if number_text(value) == text:
        return value, "General"
    decimal = _DECIMAL.match(text)
    if decimal is not None:
        fmt = "0." + "0" * len(decimal.group(1))
        if number_text(float(value), fmt) == text:
            return float(value), fmt
    return text, "@"


def _comment(col: Column, sep: str = "\n") -> str:
    """What a column holds: description, unit, type, default, range, choices, references."""
    parts = [col.description]
    if col.unit:
        parts.append(f"Unit: {col.unit}")
    parts.append(f"Type: {col.type}" + (" (separate several with ;)" if col.type == "list" else ""))
    if col.required:
        parts.append("Required.")
    elif col.default not in (None, ""):
        parts.append(f"Default: {col.default}")
    else:
        parts.append("Optional (may stay empty).")
    if col.minimum is not None or col.maximum is not None:
        lo = "" if col.minimum is None else f"{col.minimum:g}"
        hi = "" if col.maximum is None else f"{col.maximum:g}"
        parts.append(f"Range: [{lo}, {hi}]")
    if col.choices:
        parts.append("One of: " + ", ".join(col.choices))
    if col.references:
        parts.append("Must exist in " + col.references.replace("|groups", " or a group"))
    return sep.join(p if p.endswith(".") or sep == "\n" else p + "." for p in parts)


def _header(ws: Worksheet, names: list[str], table: Table | None) -> None:
    for i, name in enumerate(names, start=1):
        cell = ws.cell(row=1, column=i, value=name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        if table is not None and name in table.column_names:
            col = table.column(name)
            cell.comment = Comment(_comment(col), "network-opt", width=320, height=160)
    ws.freeze_panes = "A2"


def _validations(ws: Worksheet, names: list[str], table: Table, headers: dict[str, list[str]]) -> None:
    """Drop-down lists: fixed choices (refused otherwise) and ids of another sheet (a warning otherwise)."""
    for i, name in enumerate(names, start=1):
        if name not in table.column_names:
            continue
        col = table.column(name)
        letter = get_column_letter(i)
        if col.choices:
            dv = DataValidation(type="list", formula1='"' + ",".join(col.choices) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle=name,
                                error=f"{name} must be one of: {', '.join(col.choices)}")
        elif col.references and col.type != "list" and "|" not in col.references and "." in col.references:
            ref_table, ref_col = col.references.split(".")
            ref_names = headers.get(ref_table, [])
            if ref_col not in ref_names:
                continue
            ref_letter = get_column_letter(ref_names.index(ref_col) + 1)
            dv = DataValidation(type="list", allow_blank=True, showErrorMessage=True, errorStyle="warning",
                                formula1=f"{quote_sheetname(ref_table)}!${ref_letter}$2:${ref_letter}$5000",
                                errorTitle=name, error=f"{name} should be an {ref_col} of sheet {ref_table}")
        else:
            continue
        dv.add(f"{letter}2:{letter}{VALIDATION_ROWS}")
        ws.add_data_validation(dv)


def _widths(ws: Worksheet, names: list[str], frame: pd.DataFrame | None) -> None:
    for i, name in enumerate(names, start=1):
        longest = len(name)
        if frame is not None and len(frame):
            longest = max(longest, int(frame[name].astype(str).str.len().max()))
        ws.column_dimensions[get_column_letter(i)].width = min(max(longest + 2, 8), 50)


def _table_sheet(ws: Worksheet, table: Table, frame: pd.DataFrame | None, headers: dict[str, list[str]]) -> None:
    names = list(frame.columns) if frame is not None else list(table.column_names)
    _header(ws, names, table)
    if frame is not None:
        columns = [table.column(n) if n in table.column_names else None for n in names]
        for r, values in enumerate(frame.itertuples(index=False, name=None), start=2):
            for c, (text, col) in enumerate(zip(values, columns, strict=True), start=1):
                if text == "":
                    continue
                value, fmt = cell_value(text, col)
                cell = ws.cell(row=r, column=c, value=value)
                cell.number_format = fmt
    _validations(ws, names, table, headers)
    _widths(ws, names, frame)


def _flow_yaml(value: Any) -> str:
    """One-line YAML of a value (read back by ``yaml.safe_load``)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000)
    return text.removesuffix("\n...\n").strip()


def _setting_cell(key: str, value: Any) -> Any:
    """The value written into column B of the settings sheet."""
    if key == "periods":
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "; ".join(str(v) for v in value)
        return _flow_yaml(value)
    if key.startswith("policies."):
        return "; ".join(value) if isinstance(value, list) else value
    if key.split(".", 1)[0] in RAW_BLOCKS:
        return _flow_yaml(value)
    return value


def _flat(settings: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys -> values; a raw block (scenarios, ...) gives one key per entry."""
    out: dict[str, Any] = {}

    def walk(value: Any, dotted: str) -> None:
        if dotted in RAW_BLOCKS and isinstance(value, dict):
            out.update({f"{dotted}.{name}": v for name, v in value.items()})
        elif isinstance(value, dict) and dotted != "periods":
            for key, v in value.items():
                walk(v, f"{dotted}.{key}" if dotted else str(key))
        else:
            out[dotted] = value

    walk(settings, "")
    return out


def _settings_sheet(ws: Worksheet, settings: dict[str, Any]) -> None:
    """key | value | default | unit | description; every known key, the set ones with their value."""
    _header(ws, ["key", "value", "default", "unit", "description"], None)
    flat = _flat(settings)
    rows: list[tuple[str, Any, Any, str, str]] = []
    for key, _type, default, unit, _lo, _hi, desc in SETTINGS:
        if key.startswith(("tables.", "policies.", "csv.")):  # csv.*: the dialect of CSV files, not of a workbook
            continue
        shown = "" if default is None else (str(default).lower() if isinstance(default, bool) else default)
        rows.append((key, flat.pop(key, None), shown, unit, desc))
    for key, value in flat.items():  # policies.<jurisdiction>, raw blocks, anything else as given
        desc = "Policy preset id(s), separated by ;" if key.startswith("policies.") else ""
        rows.append((key, value, "", "", desc))
    for r, (key, value, default, unit, desc) in enumerate(rows, start=2):
        ws.cell(row=r, column=1, value=key)
        if value is not None:
            cell = ws.cell(row=r, column=2, value=_setting_cell(key, value))
            if isinstance(cell.value, str):
                cell.number_format = "@"
        ws.cell(row=r, column=3, value=default)
        ws.cell(row=r, column=4, value=unit)
        ws.cell(row=r, column=5, value=desc).alignment = Alignment(wrap_text=False)
    for letter, width in zip("ABCDE", (38, 40, 12, 16, 80), strict=True):
        ws.column_dimensions[letter].width = width


README_TEXT = (
    "network_opt instance workbook",
    "",
    "One sheet per table (named as in docs/instance-format.md), plus the sheet 'instance' for the settings.",
    "Row 1 holds the column names (hover over them for description, unit, default and range); data starts in row 2.",
    "Optional tables may be left empty or deleted; extra sheets must be named README or start with _ (ignored).",
    "Settings sheet: key in column A, value in column B; an empty value means the default (column C).",
    "periods: years separated by ; (2025; 2030) or [{year: 2025, length: 5}, {year: 2030, length: 5}].",
    "policies.<jurisdiction> (e.g. policies.CN): a policy preset id; several separated by ;.",
    "Lists inside a cell are separated by ;. Booleans: TRUE/FALSE (or true/false, yes/no, 1/0).",
    "Enter values, not formulas (a formula counts only with a saved value), no merged cells, no dates.",
    "Errors are reported as WORKBOOK.xlsx[SHEET]:ROW:COLUMN: message (a column letter, row 2 = first data row).",
    "Check the workbook: network-opt validate FILE.xlsx; solve it: network-opt solve FILE.xlsx --out DIR;",
    "convert it to a folder of CSV files: network-opt convert FILE.xlsx --to folder --out DIR.",
)


def _readme_sheet(ws: Worksheet) -> None:
    """What the workbook is, its rules, and per table its columns and example rows."""
    r = 1
    for line in README_TEXT:
        ws.cell(row=r, column=1, value=line).font = Font(bold=r == 1, size=14 if r == 1 else 11)
        r += 1
    for table in TABLES.values():
        r += 1
        ws.cell(row=r, column=1, value=f"{table.name} ({'required' if table.required else 'optional'})"
                ).font = Font(bold=True, size=12)
        ws.cell(row=r + 1, column=1, value=table.description)
        r += 2
        for note in table.notes:  # the rules docs/instance-format.md gives below the table
            ws.cell(row=r, column=1, value=f"Note: {note}")
            r += 1
        for i, head in enumerate(("column", "type", "unit", "default", "description"), start=1):
            ws.cell(row=r, column=i, value=head).font = HEADER_FONT
        for col in table.columns:
            r += 1
            default = "required" if col.required else ("" if col.default is None else str(col.default))
            for i, v in enumerate((col.name, col.type, col.unit, default, _comment(col, " ")),
                                  start=1):
                ws.cell(row=r, column=i, value=v)
        if table.example:
            r += 1
            ws.cell(row=r, column=1, value="Example rows:").font = Font(italic=True)
            for fields in csv.reader(table.example.splitlines()):
                r += 1
                for i, v in enumerate(fields, start=1):
                    ws.cell(row=r, column=i, value=v)
        r += 1
    for letter, width in zip("ABCDE", (28, 22, 16, 24, 100), strict=True):
        ws.column_dimensions[letter].width = width


def build_workbook(raw: RawInstance | None) -> Workbook:
    """The workbook of an instance (``None``: the empty template)."""
    wb = Workbook()
    readme = wb.active
    assert isinstance(readme, Worksheet)  # a new workbook has one sheet
    _readme_sheet(readme)
    readme.title = README_SHEET
    _settings_sheet(wb.create_sheet(SETTINGS_SHEET), raw.settings if raw is not None else {})
    frames = raw.tables if raw is not None else {}
    headers = {name: list(frames[name].columns) if name in frames else list(t.column_names)
               for name, t in TABLES.items()}
    for name, table in TABLES.items():
        if raw is not None and name not in frames:
            continue
        _table_sheet(wb.create_sheet(name), table, frames.get(name), headers)
    if raw is not None and raw.readme is not None:
        _readme_doc_sheet(wb.create_sheet(README_DOC_SHEET), raw.readme)
    wb.active = 0 if raw is None else 1  # the template opens on its README, an instance on its settings
    return wb


def _readme_doc_sheet(ws: Worksheet, text: str) -> None:
    """The instance's README.md, one line per row of column A, as text (a line starting with '='
    stays text, not a formula)."""
    for r, line in enumerate(text.splitlines(), start=1):
        if line:
            cell = ws.cell(row=r, column=1, value=line)
            cell.data_type, cell.number_format = "s", "@"
    ws.column_dimensions["A"].width = 120


# ---------------------------------------------------------------- atomic writing


def _refuse_existing(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise OutputExistsError(f"{out} already exists; choose a new path (convert and template never overwrite)")
    from network_opt.common.outdir import check_target

    check_target(out)  # not a folder holding the working directory


def save_workbook(wb: Workbook, out: Path) -> None:
    """Save into a temporary file beside ``out``, then move it into place (never over an existing file)."""
    _refuse_existing(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, wb.save, suffix=".xlsx", before_move=lambda: _refuse_existing(out))


def convert(instance: str | Path, to: str, out: str | Path) -> Path:
    """Convert ``instance`` (folder, instance.yaml or .xlsx) to ``to`` = ``xlsx`` or ``folder`` at the new
    path ``out``. Raises :class:`InputError` (unreadable source) or :class:`OutputExistsError`."""
    out = Path(out)
    if to not in ("xlsx", "folder"):
        raise ValueError(f"unknown target {to!r}; expected xlsx or folder")
    if to == "xlsx" and not is_workbook(out):
        raise InputError([Problem(str(out), 0, "", "--out must end in .xlsx when converting to a workbook")])
    if to == "folder" and is_workbook(out):
        raise InputError([Problem(str(out), 0, "", "--out names a workbook; give a folder path for --to folder")])
    _refuse_existing(out)
    raw = read_raw(instance)
    if to == "xlsx":
        too_long = [Problem(f"{name}.csv", 0, "", f"{len(frame):,} rows; a worksheet holds at most "
                            f"{SHEET_ROWS - 1:,} rows of data below its header: keep this instance as a folder of "
                            "CSV files") for name, frame in raw.tables.items() if len(frame) >= SHEET_ROWS]
        if too_long:  # before the workbook is built, which takes the time
            raise InputError(too_long)
        save_workbook(build_workbook(raw), out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_dir(out, lambda tmp: write_folder(raw, tmp, source=Path(instance).name),
                     before_move=lambda: _refuse_existing(out))
    return out


def write_template(out: str | Path) -> Path:
    """Write the empty, documented workbook to the new path ``out``."""
    out = Path(out)
    if not is_workbook(out):
        raise InputError([Problem(str(out), 0, "", "--out must end in .xlsx")])
    save_workbook(build_workbook(None), out)
    return out
