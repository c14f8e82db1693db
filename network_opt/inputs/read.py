"""Reading an instance folder into typed pandas tables, collecting every problem on the way.

Per-table checks live here (file readable, columns known and present, values of the right
type and range, keys unique); checks across tables live in :mod:`network_opt.inputs.validate`.
Every table keeps a ``_row`` column: the line of the source file each row came from.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from network_opt.common.errors import Problem
from network_opt.inputs.coerce import (
    FALSE_TEXTS,
    MAX_MAGNITUDE,
    TRUE_TEXTS,
    bool_message,
    choice_message,
    magnitude_message,
    number_message,
    range_message,
    whole_message,
)
from network_opt.inputs.schema import Column, Table

MAX_TABLE_BYTES = 512 * 1024 * 1024
MAX_TABLE_ROWS = 5_000_000
ROW = "_row"


def _undecodable_line(path: Path) -> int:
    """The 1-based line of the first byte of ``path`` that is not UTF-8 (0 for a file in another
    encoding from its start, e.g. UTF-16, or when it cannot be told)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return 0
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            return number
    return 0


def read_table(table: Table, path: Path, defaults: dict[str, object], *, delimiter: str = ",",
               decimal: str = ".") -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read one CSV file against its schema.

    ``delimiter`` and ``decimal`` are the instance's CSV dialect (settings ``csv.delimiter`` and
    ``csv.decimal``). Returns the typed frame (columns in schema order plus ``_row``) or None when
    the file cannot be used at all, and the problems found.
    """
    raw, problems = read_csv_text(path, delimiter)
    if raw is None:
        return None, problems
    frame, found = typed_table(table, raw, path.name, defaults, decimal=decimal)
    return frame, problems + found


#: how each allowed separator is named in messages
SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "a tab"}
#: rows with the wrong number of fields listed one by one; the others are counted in one problem
MAX_RAGGED_LISTED = 20
_SCAN_CHUNK = 1 << 24


def read_csv_text(path: Path, delimiter: str = ",") -> tuple[pd.DataFrame | None, list[Problem]]:
    """The cells of a CSV file as strings, with ``_row`` (the line of the file where each row starts).

    Columns are named by the header (stripped); a column with an empty name and no data (a
    separator at the end of every line) is dropped. A row with more or fewer fields than the
    header is one problem naming its line and is left out; a repeated column name is one problem
    (the first column of that name is kept); a file separated by another character than
    ``delimiter`` is one problem saying so. Returns None (with the problems) when the file
    cannot be used at all.
    """
    fname = path.name
    if path.stat().st_size > MAX_TABLE_BYTES:
        return None, [Problem(fname, 0, "", f"file larger than {MAX_TABLE_BYTES // 2**20} MiB")]
    try:
        header = _header(path, delimiter)
        if header is None:
            return None, [Problem(fname, 1, "", "empty file; expected a header row")]
        names = [h.strip() for h in header]
        if not any(names):
            return None, [Problem(fname, 1, "", "the first line must hold the column names")]
        wrong = _separator_problem(names, delimiter)
        if wrong:
            return None, [Problem(fname, 1, "", wrong)]
        body = _fast_body(path, delimiter, len(names))
        if body is None:
            body = _exact_body(path, delimiter, names)
    except UnicodeDecodeError:
        return None, [Problem(fname, _undecodable_line(path), "", "not UTF-8 text (save the CSV as UTF-8)")]
    except _Malformed as exc:
        return None, [Problem(fname, exc.line, "", f"malformed CSV: {exc.message}")]
    except _TooLong:
        return None, [Problem(fname, 0, "", f"more than {MAX_TABLE_ROWS} rows")]
    columns, lines, ragged = body
    problems = _ragged_problems(fname, ragged, len(names), delimiter)
    frame: dict[str, object] = {}
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name:
            positions.setdefault(name, []).append(i)
            continue
        filled = np.flatnonzero(pd.Series(columns[i], dtype=object).str.strip().to_numpy() != "")
        if len(filled):
            problems.append(Problem(fname, 1, "", f"column {i + 1} has no name in row 1 but holds data (first "
                                    f"on line {int(lines[filled[0]])}): name it or delete the column"))
    for name, where in positions.items():
        if len(where) > 1:
            cols = ", ".join(str(i + 1) for i in where[:-1]) + f" and {where[-1] + 1}"
            times = "twice" if len(where) == 2 else f"{len(where)} times"
            problems.append(Problem(fname, 1, name, f"column {name} appears {times} (columns {cols}); "
                                    "keep one (the first is read)"))
        frame[name] = columns[where[0]]
    raw = pd.DataFrame(frame, index=pd.RangeIndex(len(lines)))
    raw[ROW] = lines
    return raw, problems


class _Malformed(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


class _TooLong(Exception):
    pass


def _header(path: Path, delimiter: str) -> list[str] | None:
    """The fields of the first record (None for an empty file)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            return next(reader, None)
        except csv.Error as exc:
            raise _Malformed(reader.line_num or 1, _csv_error(exc)) from None


def _csv_error(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a value longer than {csv.field_size_limit():,} characters (an unclosed quote?)"
    if "NUL" in text:
        return "the file contains NUL bytes (not a text file?)"
    return f"{text}; check the quoting"


def _separator_problem(names: list[str], delimiter: str) -> str:
    """A message when the header was clearly written with another separator, else ''."""
    if len(names) != 1:
        return ""
    found = [s for s in SEPARATOR_NAMES if s != delimiter and s in names[0]]
    if not found:
        return ""
    sep = found[0]
    if delimiter == ",":
        if sep == ";":
            return ("this file is separated by ';' (a European Excel export?): save it as CSV with ',' separators, "
                    "or declare `csv: {delimiter: ';', decimal: ','}` in instance.yaml")
        return (f"this file is separated by {SEPARATOR_NAMES[sep]}: save it as CSV with ',' separators, "
                "or declare `csv: {delimiter: \"\\t\"}` in instance.yaml")
    return (f"this file is separated by {SEPARATOR_NAMES[sep]}, but instance.yaml declares csv.delimiter "
            f"{SEPARATOR_NAMES[delimiter]}: every CSV file of an instance uses the same separator")


#: data columns (by header position), the first line of each row, rows with the wrong number of fields
#: (first line, fields (negative when the fields after the header's are all empty), last line)
Body = tuple[list[np.ndarray], np.ndarray, list[tuple[int, int, int]]]


def _scan(path: Path, delimiter: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Field count, first line and blankness of every record (the header included), from the bytes.

    A separator or line feed counts when an even number of quotes precedes it (outside a quoted
    value; an escaped quote is two quotes). None when that reading cannot be trusted: the file
    ends inside quotes, or has no line feed (a single line, or old Mac line ends).
    """
    q, sep, lf, cr = ord('"'), ord(delimiter), ord("\n"), ord("\r")
    parity = carry = lfs_before = offset = 0
    last_byte = -1
    counts: list[np.ndarray] = []
    end_lines: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    crs: list[np.ndarray] = []
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN_CHUNK):
            a = np.frombuffer(chunk, np.uint8)
            lfs = np.flatnonzero(a == lf)
            seps = np.flatnonzero(a == sep)
            if chunk.find(b'"') >= 0:
                quotes = np.flatnonzero(a == q)
                rec_ends = lfs[((np.searchsorted(quotes, lfs) + parity) & 1) == 0]
                rec_seps = seps[((np.searchsorted(quotes, seps) + parity) & 1) == 0]
                parity = (parity + len(quotes)) & 1
            elif parity:
                rec_ends = rec_seps = lfs[:0]
            else:
                rec_ends, rec_seps = lfs, seps
            if len(rec_ends):
                before = np.searchsorted(rec_seps, rec_ends)
                per = np.diff(before, prepend=0)
                per[0] += carry
                carry = len(rec_seps) - int(before[-1])
                counts.append(per + 1)
                end_lines.append(np.searchsorted(lfs, rec_ends) + lfs_before + 1)
                ends.append(rec_ends + offset)
                prev = a[rec_ends - 1] if rec_ends[0] > 0 else np.concatenate(([last_byte], a[rec_ends[1:] - 1]))
                crs.append(prev == cr)
            else:
                carry += len(rec_seps)
            lfs_before += len(lfs)
            offset += len(chunk)
            last_byte = int(a[-1])
    if parity or not lfs_before:
        return None
    count = np.concatenate(counts)
    end = np.concatenate(ends)
    line_of_end = np.concatenate(end_lines)
    cr_end = np.concatenate(crs)
    if offset > int(end[-1]) + 1:  # a last record without a line feed
        count = np.append(count, carry + 1)
        end = np.append(end, offset)
        line_of_end = np.append(line_of_end, lfs_before + 1)
        cr_end = np.append(cr_end, last_byte == cr)
    start = np.concatenate(([0], end[:-1] + 1))
    blank = (count == 1) & (end - start - cr_end <= 0)
    first_line = np.concatenate(([1], line_of_end[:-1] + 1))
    return count, first_line, blank


def _fast_body(path: Path, delimiter: str, width: int) -> Body | None:
    """The data rows read by pandas' C parser when a scan of the bytes shows every row with as many
    fields as the header (or every one with a trailing separator more); None otherwise."""
    scanned = _scan(path, delimiter)
    if scanned is None:
        return None
    count, first_line, blank = scanned
    if count[0] != width:
        return None
    data, blank = count[1:], blank[1:]
    if len(data) > MAX_TABLE_ROWS:
        raise _TooLong
    if (blank | (data == width)).all():
        read_width = width
    elif (data != width).any() and (blank | (data == width + 1)).all():
        read_width = width + 1  # a separator at the end of every line: checked below that it ends an empty field
    else:
        return None
    rows = len(data)
    lines = first_line[1:].copy()
    del scanned, count, first_line, blank, data  # not held while pandas reads
    try:
        frame = pd.read_csv(path, sep=delimiter, header=0, names=[str(i) for i in range(read_width)],
                            index_col=False, dtype=object, na_filter=False,
                            skip_blank_lines=False, encoding="utf-8-sig", quotechar='"', engine="c")
    except (pd.errors.ParserError, csv.Error):
        return None
    if len(frame) != rows:
        return None
    if read_width > width and (frame[str(width)].str.strip() != "").any():
        return None
    return [frame[str(i)].to_numpy() for i in range(width)], lines, []


def _exact_body(path: Path, delimiter: str, names: list[str]) -> Body:
    """The data rows read record by record with the csv module (exact lines, rows of any width),
    streamed into columns so that a large file costs little more than its cells."""
    import gc

    width = len(names)
    named = max(i for i, n in enumerate(names) if n) + 1  # fields up to the last named column are needed
    empty = [""] * width
    columns: list[list[str]] = [[] for _ in range(width)]
    batch: list[list[str]] = []
    lines: list[int] = []
    ragged: list[tuple[int, int, int]] = []
    # a separator at the end of every line (an empty field more on every row) is harmless; on some rows only,
    # an empty last field may hide an unquoted separator earlier in the row: such rows are reported at the end
    trailing: list[tuple[int, int, int, int]] = []  # (position among the kept rows, first line, fields, last line)
    exact = False  # a filled row with the header's width (or a tolerated shorter one) was seen

    # one string object per distinct value in columns of repeated values (periods, kinds), as pandas does
    caches: list[dict[str, str] | None] = [{} for _ in range(width)]

    def flush() -> None:
        for i, values in enumerate(zip(*batch, strict=True)):
            cache = caches[i]
            if cache is None:
                columns[i].extend(values)
                continue
            columns[i].extend(map(cache.setdefault, values, values))
            if len(cache) > len(columns[i]) // 2 + 1000:
                caches[i] = None  # mostly distinct values: the cache would only cost memory
        batch.clear()

    enabled = gc.isenabled()
    gc.disable()  # millions of small lists: collections would cost more than the reading
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            prev = 1
            try:
                next(reader)
                prev = reader.line_num
                for record in reader:
                    line, prev = prev + 1, reader.line_num
                    n = len(record)
                    if n == width:
                        exact = exact or any(f.strip() for f in record)
                    elif not any(f.strip() for f in record):
                        record = empty
                    elif n > width and not any(f.strip() for f in record[width:]):
                        trailing.append((len(lines), line, n, prev))
                        record = record[:width]
                    elif named <= n < width:
                        exact = True
                        record = record + empty[n:]
                    else:
                        ragged.append((line, n, prev))
                        continue
                    batch.append(record)
                    lines.append(line)
                    if len(batch) >= 65536:
                        flush()
                    if len(lines) > MAX_TABLE_ROWS:
                        raise _TooLong
            except csv.Error as exc:
                raise _Malformed(prev + 1, _csv_error(exc)) from None
        if batch:
            flush()
        out = [np.array(columns.pop(0), dtype=object) for _ in range(width)]  # each list freed once copied
    finally:
        if enabled:
            gc.enable()
    kept = np.array(lines, dtype=np.int64)
    if trailing and exact:
        drop = np.array([t[0] for t in trailing])
        keep = np.ones(len(kept), dtype=bool)
        keep[drop] = False
        out, kept = [c[keep] for c in out], kept[keep]
        ragged = sorted(ragged + [(line, -n, last) for _, line, n, last in trailing])
    return out, kept, ragged


def _ragged_problems(fname: str, ragged: list[tuple[int, int, int]], width: int, delimiter: str) -> list[Problem]:
    """One problem per row with the wrong number of fields (the first few; the rest counted)."""
    sep = SEPARATOR_NAMES.get(delimiter, repr(delimiter))
    problems = []
    for line, signed, end in ragged[:MAX_RAGGED_LISTED]:
        n = abs(signed)
        if end > line:
            hint = (f"it runs over lines {line} to {end}: a quote (\") opened on line {line} and not closed "
                    "where it should be?")
        elif n > width and signed < 0:
            hint = (f"remove the {sep} at the end of the line (or is an unquoted {sep} in a value shifting the "
                    "row's values?)")
        elif n > width:
            hint = f"an unquoted {sep} in a value? quote the value (\"...\") or remove the extra field"
        else:
            hint = f"a missing value? every row needs {width} fields (an empty value still needs its {sep})"
        problems.append(Problem(fname, line, "", f"row has {n} field{'s' if n != 1 else ''}, the header has "
                                f"{width}: {hint}"))
    if len(ragged) > MAX_RAGGED_LISTED:
        rest = ragged[MAX_RAGGED_LISTED:]
        problems.append(Problem(fname, rest[0][0], "", f"{len(rest):,} more rows (lines {rest[0][0]} to "
                                f"{rest[-1][0]}) do not have the header's {width} fields either"))
    return problems


def typed_table(table: Table, raw: pd.DataFrame, fname: str, defaults: dict[str, object], *,
                decimal: str | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    """Check and convert a frame of strings (with ``_row``, the source row of each line; header
    on row 1) against a table's schema: unknown and missing columns, types, ranges, choices,
    duplicate keys. Blank lines are dropped.

    ``decimal``: the decimal separator of a CSV file (``.`` or ``,``: numbers are then read with
    ``,``); None for other sources (a workbook, an override), where numbers use ``.``.
    """
    problems: list[Problem] = []
    raw = raw.rename(columns={c: str(c).strip() for c in raw.columns})
    for name in raw.columns:
        if name != ROW and name not in table.column_names:
            problems.append(Problem(fname, 1, name, f"unknown column; expected {', '.join(table.column_names)}"))
    if len(set(raw.columns)) != len(raw.columns):
        problems.append(Problem(fname, 1, "", "a column name appears twice"))
    data_cols = [c for c in dict.fromkeys(raw.columns) if c != ROW]
    stripped = {c: raw[c].astype(object).str.strip() for c in data_cols if c in table.column_names}
    if data_cols:
        filled = pd.Series(False, index=raw.index)
        for c in data_cols:
            filled |= (stripped[c] if c in stripped else raw[c].astype(object).str.strip()) != ""
        rows = raw[ROW][filled].reset_index(drop=True)
        if not filled.all():
            stripped = {c: s[filled].reset_index(drop=True) for c, s in stripped.items()}
    else:
        rows = raw[ROW].iloc[:0]

    out = pd.DataFrame({ROW: rows.to_numpy()})
    for col in table.columns:
        if col.name not in stripped:
            if col.required:
                problems.append(Problem(fname, 1, col.name, f"required column is missing ({col.description})"))
                out[col.name] = pd.Series([None] * len(rows), dtype=object)
                continue
            text = pd.Series([""] * len(rows), dtype=object)
        else:
            text = stripped[col.name]
        out[col.name] = _convert(col, text, rows, fname, defaults, problems, decimal)
    if table.key and not problems:
        dup = out.duplicated(list(table.key), keep="first")
        for _, r in out.loc[dup].iterrows():
            key = ", ".join(f"{k}={r[k]}" for k in table.key)
            problems.append(Problem(fname, int(r[ROW]), table.key[-1], f"duplicate key ({key})"))
    return out, problems


def decimal_points(table: Table, raw: pd.DataFrame, fname: str) -> list[Problem]:
    """Rewrite the numbers of a frame of strings read from a decimal-comma CSV file (``1234,5``)
    with a decimal point, in place; a number written with '.' is a problem (it is ambiguous)."""
    problems: list[Problem] = []
    for col in table.columns:
        if col.type not in ("int", "float") or col.name not in raw.columns:
            continue
        text = raw[col.name].astype(object)
        dots = text.str.contains(".", regex=False, na=False)
        for r, v in zip(raw.loc[dots, ROW], text[dots], strict=True):
            problems.append(Problem(fname, int(r), col.name, _number_problem(col, str(v).strip(), ",")))
        raw[col.name] = text.where(dots, text.str.replace(",", ".", regex=False))
    return problems


_DECIMAL_COMMA = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+$")


def _number_problem(col: Column, value: str, decimal: str | None) -> str:
    unit = f" ({col.unit})" if col.unit else ""
    if decimal == ",":
        if "." in value:
            return (f"expected a number{unit} with ',' as decimal separator (csv.decimal in instance.yaml), got "
                    f"{value!r}: '.' is not read as a decimal point here (nor as a thousands separator)")
        return f"expected a number{unit} with ',' as decimal separator (csv.decimal), got {value!r}"
    message = number_message(value, col.unit)
    if _DECIMAL_COMMA.match(value):
        message += "; decimal comma? write numbers with '.'"
        if decimal == ".":
            message += ", or declare `csv: {decimal: ','}` in instance.yaml"
    return message


def _convert(col: Column, text: pd.Series, rows: pd.Series, fname: str,
             defaults: dict[str, object], problems: list[Problem], decimal: str | None = None) -> pd.Series:
    """Convert one column of stripped strings to its type, recording every bad cell; numbers use
    ``decimal`` as their decimal separator (``.`` when None)."""
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
                problems.append(Problem(fname, int(r), col.name, choice_message(v, col.choices)))
        return values

    if col.type == "bool":
        low = text.str.lower()
        bad = ~empty & ~low.isin(TRUE_TEXTS | FALSE_TEXTS)
        for r, v in zip(rows[bad], text[bad], strict=True):
            problems.append(Problem(fname, int(r), col.name, bool_message(v)))
        return pd.Series(np.where(empty, bool(default), low.isin(TRUE_TEXTS)), index=text.index, dtype=bool)

    parse = text.where(~empty)
    if decimal == ",":  # '.' is refused: in 1.234 it may separate thousands
        parse = parse.where(~parse.str.contains(".", regex=False, na=False)).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(parse, errors="coerce")
    bad = ~empty & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
    for r, v in zip(rows[bad], text[bad], strict=True):
        problems.append(Problem(fname, int(r), col.name, _number_problem(col, v, decimal)))
    if col.type == "int":
        frac = ~bad & ~empty & (numbers != np.round(numbers))
        for r, v in zip(rows[frac], numbers[frac], strict=True):
            problems.append(Problem(fname, int(r), col.name, whole_message(v)))
    ok = ~bad & ~empty
    huge = ok & (numbers.abs() > MAX_MAGNITUDE)
    for r, v in zip(rows[huge], numbers[huge], strict=True):
        problems.append(Problem(fname, int(r), col.name, magnitude_message(v)))
    ok = ok & ~huge
    if col.minimum is not None:
        low = ok & (numbers < col.minimum)
        for r, v in zip(rows[low], numbers[low], strict=True):
            problems.append(Problem(fname, int(r), col.name, str(range_message(col.minimum, None, v))))
    if col.maximum is not None:
        high = ok & (numbers > col.maximum)
        for r, v in zip(rows[high], numbers[high], strict=True):
            problems.append(Problem(fname, int(r), col.name, str(range_message(None, col.maximum, v))))
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
