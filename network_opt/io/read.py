"""Reading an instance folder into typed pandas tables, collecting every problem on the way.

Per-table checks live here (file readable, columns known and present, values of the right
type and range, keys unique); checks across tables live in :mod:`network_opt.validate`.
Every table keeps a ``_row`` column: the line of the source file each row came from.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from network_opt.errors import Problem
from network_opt.schema import Column, Table

MAX_TABLE_BYTES = 512 * 1024 * 1024
MAX_TABLE_ROWS = 5_000_000
ROW = "_row"
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def read_table(table: Table, path: Path, defaults: dict[str, object]) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read one CSV file against its schema.

    Returns the typed frame (columns in schema order plus ``_row``) or None when the file
    cannot be used at all, and the problems found.
    """
    raw, problems = read_csv_text(path)
    if raw is None:
        return None, problems
    return typed_table(table, raw, path.name, defaults)


def read_csv_text(path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The cells of a CSV file as stripped strings, with ``_row`` (the file's line number)."""
    fname = path.name
    if path.stat().st_size > MAX_TABLE_BYTES:
        return None, [Problem(fname, 0, "", f"file larger than {MAX_TABLE_BYTES // 2**20} MiB")]
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                          encoding="utf-8-sig", nrows=MAX_TABLE_ROWS + 1)
    except UnicodeDecodeError:
        return None, [Problem(fname, 0, "", "not UTF-8 text (save the CSV as UTF-8)")]
    except pd.errors.EmptyDataError:
        return None, [Problem(fname, 1, "", "empty file; expected a header row")]
    except (pd.errors.ParserError, csv.Error) as exc:
        found = re.search(r"line (\d+)", str(exc))
        return None, [Problem(fname, int(found.group(1)) if found else 0, "",
                              f"malformed CSV: {str(exc).strip()}; check quoting and the number of fields")]
    if len(raw) > MAX_TABLE_ROWS:
        return None, [Problem(fname, 0, "", f"more than {MAX_TABLE_ROWS} rows")]
    raw[ROW] = np.arange(2, len(raw) + 2)
    return raw, []


def typed_table(table: Table, raw: pd.DataFrame, fname: str,
                defaults: dict[str, object]) -> tuple[pd.DataFrame, list[Problem]]:
    """Check and convert a frame of strings (with ``_row``, the source row of each line; header
    on row 1) against a table's schema: unknown and missing columns, types, ranges, choices,
    duplicate keys. Blank lines are dropped."""
    problems: list[Problem] = []
    raw = raw.rename(columns={c: str(c).strip() for c in raw.columns})
    for name in raw.columns:
        if name != ROW and name not in table.column_names:
            problems.append(Problem(fname, 1, name, f"unknown column; expected {', '.join(table.column_names)}"))
    if len(set(raw.columns)) != len(raw.columns):
        problems.append(Problem(fname, 1, "", "a column name appears twice"))
    data_cols = [c for c in raw.columns if c != ROW]
    blank = (raw[data_cols].apply(lambda s: s.str.strip()) == "").all(axis=1) if data_cols else raw[ROW] < 0
    raw = raw.loc[~blank].reset_index(drop=True)

    out = pd.DataFrame({ROW: raw[ROW].to_numpy()})
    for col in table.columns:
        if col.name not in raw.columns:
            if col.required:
                problems.append(Problem(fname, 1, col.name, f"required column is missing ({col.description})"))
                out[col.name] = pd.Series([None] * len(raw), dtype=object)
                continue
            text = pd.Series([""] * len(raw), dtype=object)
        else:
            text = raw[col.name].str.strip()
        out[col.name] = _convert(col, text, raw[ROW], fname, defaults, problems)
    if table.key and not problems:
        dup = out.duplicated(list(table.key), keep="first")
        for _, r in out.loc[dup].iterrows():
            key = ", ".join(f"{k}={r[k]}" for k in table.key)
            problems.append(Problem(fname, int(r[ROW]), table.key[-1], f"duplicate key ({key})"))
    return out, problems


def _convert(col: Column, text: pd.Series, rows: pd.Series, fname: str,
             defaults: dict[str, object], problems: list[Problem]) -> pd.Series:
    """Convert one column of strings to its type, recording every bad cell."""
    empty = text == ""
    default = col.default
    if isinstance(default, str) and default.startswith("defaults."):
        default = defaults[default]
    if col.required:
        for r in rows[empty]:
            problems.append(Problem(fname, int(r), col.name, f"value required ({col.description})"))

    if col.type in ("str", "list"):
        values = text.astype(object)
        if col.type == "list":
            values = values.map(lambda s: [v.strip() for v in s.split(";") if v.strip()])
        if col.choices:
            bad = ~empty & ~text.isin(col.choices)
            for r, v in zip(rows[bad], text[bad], strict=True):
                problems.append(Problem(fname, int(r), col.name,
                                        f"unknown value {v!r}; expected one of {', '.join(col.choices)}"))
        return values

    if col.type == "bool":
        low = text.str.lower()
        bad = ~empty & ~low.isin(_TRUE | _FALSE)
        for r, v in zip(rows[bad], text[bad], strict=True):
            problems.append(Problem(fname, int(r), col.name, f"expected true or false, got {v!r}"))
        return pd.Series(np.where(empty, bool(default), low.isin(_TRUE)), index=text.index, dtype=bool)

    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = ~empty & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
    for r, v in zip(rows[bad], text[bad], strict=True):
        problems.append(Problem(fname, int(r), col.name,
                                f"expected a number{' (' + col.unit + ')' if col.unit else ''}, got {v!r}"))
    if col.type == "int":
        frac = ~bad & ~empty & (numbers != np.round(numbers))
        for r, v in zip(rows[frac], text[frac], strict=True):
            problems.append(Problem(fname, int(r), col.name, f"expected a whole number, got {v!r}"))
    ok = ~bad & ~empty
    if col.minimum is not None:
        low = ok & (numbers < col.minimum)
        for r, v in zip(rows[low], numbers[low], strict=True):
            problems.append(Problem(fname, int(r), col.name, f"must be >= {col.minimum:g}, got {v:g}"))
    if col.maximum is not None:
        high = ok & (numbers > col.maximum)
        for r, v in zip(rows[high], numbers[high], strict=True):
            problems.append(Problem(fname, int(r), col.name, f"must be <= {col.maximum:g}, got {v:g}"))
    fill = np.nan if default is None else float(default)  # type: ignore[arg-type]
    numbers = numbers.where(~empty, fill)
    if col.type == "int":
        # bad cells (reported above) become -1 so that the other problems can still be collected
        return numbers.where(np.isfinite(numbers), -1).round().astype("int64")
    return numbers.astype(float)


def empty_table(table: Table, defaults: dict[str, object]) -> pd.DataFrame:
    """A typed, zero-row frame for an optional table the instance does not provide."""
    frame, _ = _frame_from_strings(table, {}, defaults)
    return frame


def _frame_from_strings(table: Table, columns: dict[str, list[str]],
                        defaults: dict[str, object]) -> tuple[pd.DataFrame, list[Problem]]:
    n = len(next(iter(columns.values()))) if columns else 0
    problems: list[Problem] = []
    rows = pd.Series(np.arange(2, n + 2))
    out = pd.DataFrame({ROW: rows.to_numpy()})
    for col in table.columns:
        text = pd.Series(columns.get(col.name, [""] * n), dtype=object)
        out[col.name] = _convert(col, text, rows, table.name, defaults, problems)
    return out, problems
