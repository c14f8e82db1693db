"""Reading and checking ``instance.yaml``, the manifest of an instance folder.

The manifest is loaded with PyYAML's safe loader from a composed node tree so that every
problem can name the line of the offending key. :class:`UniqueKeyLoader` (through :func:`load_yaml`)
is the one loader of YAML a user wrote anywhere in the package (instance.yaml, a workbook's
``instance`` sheet, the app's forms, the policy presets): a key given twice in one mapping is
refused. Settings are described once in
:data:`~network_opt.inputs.settings.SETTINGS` (used for checking, defaults and the generated docs);
:func:`check_manifest` builds their frozen, typed tree (:class:`~network_opt.inputs.settings.Settings`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from network_opt.common.errors import Problem
from network_opt.inputs.coerce import CoercionError
from network_opt.inputs.schema import TABLES
from network_opt.inputs.settings import SETTINGS, Settings, coerce_setting

MANIFEST_NAME = "instance.yaml"
MAX_MANIFEST_BYTES = 1_000_000
#: Top-level blocks kept raw in ``settings`` and read by :mod:`network_opt.inputs.scenarios` (and
#: ``stochastic`` by :mod:`network_opt.inputs.stochastic`).
RAW_BLOCKS = ("scenarios", "uncertainty", "stochastic")
#: field separators a CSV file may use (setting ``csv.delimiter``)
CSV_DELIMITERS = (",", ";", "\t")


#: how a period of ``periods:`` is operated: one operating year at the mean annual flows standing for
#: its ``length`` years, or one operating year per calendar year
OPERATIONS = ("mean", "yearly")


@dataclass(frozen=True)
class OperatingYear:
    """A step of operations: flows, capacity use, targets and annual costs hold for each of the
    ``length`` years from ``year`` (identical annual flows; 1 for a calendar year), under the
    investment decisions of investment period ``investment_period`` (the year labelling it)."""

    year: int
    length: int
    investment_period: int


@dataclass(frozen=True)
class Period:
    """An investment period as ``periods:`` declares it: ``year`` labels it (its first year),
    ``length`` years it lasts; investments (open, level, modules, close) are decided once for it.
    ``operations`` ``mean`` (the default): one operating year standing for the ``length`` years at
    the mean annual flows; ``yearly``: one operating year per calendar year, each with its own
    supply, demand, prices and targets."""

    year: int
    length: int = 1
    operations: str = "mean"

    @property
    def operating_years(self) -> list[OperatingYear]:
        """The operating years of this period, in order."""
        if self.operations == "yearly":
            return [OperatingYear(self.year + k, 1, self.year) for k in range(self.length)]
        return [OperatingYear(self.year, self.length, self.year)]


@dataclass
class Manifest:
    """The checked content of ``instance.yaml``: ``settings`` is the frozen, typed tree (a changed
    instance gets a new tree, :meth:`Settings.with_values`); ``lines`` maps each dotted key to the
    line (or spreadsheet row) holding it."""

    path: Path
    name: str
    periods: list[Period]
    tables: dict[str, Path]
    settings: Settings
    lines: dict[str, int] = field(default_factory=dict)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one YAML mapping (PyYAML would silently keep the last). ``key`` is the
    key, ``path`` the dotted path of the mapping holding it (``scenarios.high``; empty at the top),
    ``line``/``column`` where it is repeated and ``first_line``/``first_column`` where it was first
    given, all 1-based. ``str()`` is ``line L, column C: message``; :attr:`message` has no position."""

    def __init__(self, key: Any, path: str, repeated: yaml.Mark, first: yaml.Mark):
        self.key, self.path = key, path
        self.line, self.column = repeated.line + 1, repeated.column + 1
        self.first_line, self.first_column = first.line + 1, first.column + 1
        self.message = (f"key {str(key)!r} is given twice in this mapping (here at column {self.column}; first "
                        f"at line {self.first_line}, column {self.first_column}); keep one")
        super().__init__(None, None, self.message, repeated)

    @property
    def dotted(self) -> str:
        """The dotted path of the repeated key (``scenarios.high.overrides``), as problems name keys."""
        return f"{self.path}.{self.key}" if self.path else str(self.key)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only, no Python objects) that refuses a key given twice in
    the same mapping, at any depth, with :class:`DuplicateKeyError`. Keys are compared as loaded
    (``1`` and ``0x1``, ``yes`` and ``true`` are the same key); keys brought in by a merge (``<<``)
    may still be overridden, as YAML allows."""

    _paths: dict[int, str]

    def construct_document(self, node: yaml.Node) -> Any:
        self._paths = {}
        self._index_paths(node, "")
        return super().construct_document(node)

    def _index_paths(self, node: yaml.Node, path: str) -> None:
        """The dotted path of every mapping of the document (``key[i]`` for list items), by node id."""
        if isinstance(node, yaml.MappingNode):
            if id(node) in self._paths:  # an alias: indexed already
                return
            self._paths[id(node)] = path
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                self._index_paths(value_node, f"{path}.{name}" if path else str(name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index_paths(item, f"{path}[{i}]")

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: refused by the constructor below
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, self._paths.get(id(node), ""), key_node.start_mark, first)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


class UnsafeYamlError(yaml.YAMLError):
    """YAML the tool refuses although it parses: anchors or aliases (an alias bomb costs time and
    memory exponential in its depth), or nesting deeper than Python's recursion allows. ``line``:
    1-based, 0 when unknown."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.message, self.line = message, line


def load_yaml(text: str) -> Any:
    """Load YAML text a user wrote: plain data only (:class:`UniqueKeyLoader`, based on the safe
    loader); a key given twice in a mapping raises :class:`DuplicateKeyError`, anchors or aliases
    and nesting too deep for the parser :class:`UnsafeYamlError` (both ``yaml.YAMLError``)."""
    try:
        line = alias_line(text)
        if line is not None:
            raise UnsafeYamlError("YAML anchors/aliases are not allowed", line)
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: plain data only
    except RecursionError:
        raise UnsafeYamlError("YAML nested too deeply (lists or mappings inside each other hundreds of times)") \
            from None


def alias_line(text: str) -> int | None:
    """The 1-based line of the first YAML anchor or alias in ``text``; None if there is none."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            return int(event.start_mark.line) + 1 if event.start_mark is not None else 0
    return None


def bad_byte_line(raw: bytes, exc: UnicodeDecodeError) -> int:
    """The 1-based line of ``raw`` (a file's bytes) holding the byte ``exc`` could not decode (0 for
    a text that is not UTF-8 from its start, e.g. UTF-16)."""
    if exc.start == 0 and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return 0
    return raw[:exc.start].count(b"\n") + 1


def _line_index(node: yaml.Node | None, prefix: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Map dotted keys of a composed YAML tree to 1-based line numbers."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            out[key] = key_node.start_mark.line + 1
            _line_index(value_node, key + ".", out)
    elif isinstance(node, yaml.SequenceNode):  # list items as key[0], key[1], ... (for scenarios)
        for i, item in enumerate(node.value):
            key = f"{prefix.rstrip('.')}[{i}]"
            out[key] = item.start_mark.line + 1
            _line_index(item, key + ".", out)
    return out


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in ("tables", "policies", *RAW_BLOCKS):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_manifest(path: Path) -> tuple[Manifest | None, list[Problem]]:
    """Read ``instance.yaml`` at ``path``; return the manifest (None if unusable) and problems."""
    fname = path.name
    if not path.is_file():
        return None, [Problem(str(path), 0, "", "instance manifest not found (expected a folder "
                              "holding instance.yaml, the path of that file, or an .xlsx workbook)")]
    if path.suffix.lower() not in (".yaml", ".yml"):  # e.g. a table's CSV given instead of its folder
        return None, [Problem(str(path), 0, "", f"a {path.suffix or 'suffix-less'} file is not an instance: "
                              "expected a folder holding instance.yaml, the path of that file, or an .xlsx workbook")]
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        return None, [Problem(fname, 0, "", f"manifest larger than {MAX_MANIFEST_BYTES} bytes")]
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
        data = load_yaml(text)  # anchors and aliases refused before anything is composed
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        return None, [Problem(fname, bad_byte_line(raw, exc), "", "not UTF-8 text")]
    except UnsafeYamlError as exc:
        return None, [Problem(fname, exc.line, "", f"{exc.message} in instance.yaml")]
    except RecursionError:
        return None, [Problem(fname, 0, "", "YAML nested too deeply in instance.yaml")]
    except DuplicateKeyError as exc:
        return None, [Problem(fname, exc.line, exc.dotted, exc.message)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        hint = ""
        if "found ','" in str(exc):
            hint = " (a value starting with ',' must be quoted: ',')"
        return None, [Problem(fname, line, "", f"malformed YAML: {getattr(exc, 'problem', exc)}{hint}")]
    if not isinstance(data, dict):
        return None, [Problem(fname, 1, "", "expected a mapping of settings (name:, periods:, tables:, ...)")]
    return check_manifest(data, _line_index(node), path)


def check_manifest(data: dict[str, Any], lines: dict[str, int], path: Path, *, fname: str | None = None,
                   tables: dict[str, Path] | None = None) -> tuple[Manifest | None, list[Problem]]:
    """Check already-parsed settings (nested as YAML gives them) and build the :class:`Manifest`.

    ``lines`` maps dotted keys to the line (or spreadsheet row) holding them; problems name
    ``fname`` (default: the name of ``path``). ``tables`` gives each table's source directly (the
    sheets of a workbook) instead of the ``tables:`` paths relative to ``path``'s folder.
    """
    problems: list[Problem] = []
    fname = path.name if fname is None else fname

    def problem(key: str, message: str, line: int | None = None) -> None:
        problems.append(Problem(fname, line if line is not None else lines.get(key, 0), key, message))

    flat = _flatten(data)

    known = ({s[0] for s in SETTINGS if not s[0].startswith(("tables.", "policies."))} | {"tables", "policies"}
             | set(RAW_BLOCKS))
    for key in flat:
        if key not in known:
            problem(key, "unknown setting (see docs/instance-format.md for the allowed keys)")

    settings: dict[str, Any] = {}
    for key, _type, default, *_ in SETTINGS:
        if key.startswith(("tables.", "policies.")) or key == "periods":
            continue
        if key not in flat:
            if default is None:
                problem(key, "required setting is missing", line=1)
            settings[key] = default
            continue
        if flat[key] is None and key.startswith("csv."):  # worded below
            settings[key] = None
            continue
        try:
            settings[key] = coerce_setting(key, flat[key])
        except CoercionError as exc:
            problem(key, str(exc))
            settings[key] = default
    for unit_key, expected in (("units.mass", "t"), ("units.energy", "kWh"), ("units.distance", "km")):
        if settings.get(unit_key) != expected:
            problem(unit_key, f"network_opt works in {expected}; got {settings.get(unit_key)!r}")

    if settings.get("csv.delimiter") == "tab":
        settings["csv.delimiter"] = "\t"
    for key, allowed in (("csv.delimiter", "',', ';' or a tab (\"\\t\")"), ("csv.decimal", "'.' or ','")):
        if key in flat and flat[key] is None:
            problem(key, f"no value; expected {allowed}, quoted (in YAML a ',' must be quoted: ',')")
        elif settings.get(key) not in (CSV_DELIMITERS if key == "csv.delimiter" else (".", ",")):
            problem(key, f"expected {allowed}, got {settings.get(key)!r}")
    periods = _read_periods(data.get("periods"), lines, fname, problems)
    settings["policies"] = {jur: tuple(ids) for jur, ids in
                            _read_policies(data.get("policies"), lines, fname, problems).items()}
    for block in RAW_BLOCKS:  # checked by network_opt.inputs.scenarios (lines of their keys are in _lines)
        raw_block = data.get(block)
        if raw_block is not None and not isinstance(raw_block, dict):
            problem(block, f"expected a mapping of names to {block} definitions (see docs/scenarios.md)")
        settings[block] = raw_block if isinstance(raw_block, dict) else {}
    if tables is None:
        tables = _read_tables(data.get("tables"), path.parent, lines, fname, problems)
    if problems:
        return None, problems
    return Manifest(path, settings["name"], periods, tables, Settings.from_flat(settings), lines), problems


def _read_periods(raw: Any, lines: dict[str, int], fname: str, problems: list[Problem]) -> list[Period]:
    line = lines.get("periods", 1)
    if raw is None:
        problems.append(Problem(fname, 1, "periods", "required setting is missing"))
        return []
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(fname, line, "periods", "expected a non-empty list of years"))
        return []
    periods: list[Period] = []
    for i, item in enumerate(raw):
        line = lines.get(f"periods[{i}]", lines.get("periods", 1))
        year, length = (item.get("year"), item.get("length", 1)) if isinstance(item, dict) else (item, 1)
        operations = item.get("operations", "mean") if isinstance(item, dict) else "mean"
        unknown = sorted(set(item) - {"year", "length", "operations"}) if isinstance(item, dict) else []
        if unknown:
            problems.append(Problem(fname, line, f"periods[{i}].{unknown[0]}",
                                    "unknown key; a period has year, length and operations"))
            continue
        if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2200:
            problems.append(Problem(fname, line, f"periods[{i}]", f"expected a year (integer), got {year!r}"))
            continue
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 50:
            problems.append(Problem(fname, line, f"periods[{i}].length",
                                    f"expected a whole number of years from 1 to 50, got {length!r}"))
            continue
        if operations not in OPERATIONS:
            problems.append(Problem(fname, line, f"periods[{i}].operations",
                                    f"expected one of {', '.join(OPERATIONS)}, got {operations!r}"))
            continue
        periods.append(Period(year, length, operations))
    line = lines.get("periods", 1)
    years = [p.year for p in periods]
    if len(set(years)) != len(years):
        problems.append(Problem(fname, line, "periods", "a year is listed twice"))
    if years != sorted(years):
        problems.append(Problem(fname, line, "periods", "years must be in increasing order"))
    else:
        for i, (p, q) in enumerate(itertools.pairwise(periods)):
            if "yearly" in (p.operations, q.operations) and p.year + p.length > q.year:
                problems.append(Problem(fname, lines.get(f"periods[{i}]", line), f"periods[{i}].length",
                                        f"period {p.year} runs to {p.year + p.length - 1}, into the next period "
                                        f"{q.year} (operated yearly); shorten it or start the next one later"))
    return periods


def _read_policies(raw: Any, lines: dict[str, int], fname: str, problems: list[Problem]) -> dict[str, list[str]]:
    """``policies:`` maps a jurisdiction or group to a preset id or a list of ids."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(fname, lines.get("policies", 1), "policies",
                                "expected a mapping of jurisdiction to preset id(s)"))
        return {}
    out: dict[str, list[str]] = {}
    for jur, ids in raw.items():
        key = f"policies.{jur}"
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            problems.append(Problem(fname, lines.get(key, 1), key, "expected a preset id or a list of ids"))
            continue
        out[str(jur)] = ids
    return out


def _read_tables(raw: Any, folder: Path, lines: dict[str, int], fname: str,
                 problems: list[Problem]) -> dict[str, Path]:
    if not isinstance(raw, dict):
        problems.append(Problem(fname, lines.get("tables", 1), "tables",
                                "expected a mapping of table name to CSV path"))
        return {}
    tables: dict[str, Path] = {}
    root = folder.resolve()
    for name, rel in raw.items():
        key = f"tables.{name}"
        line = lines.get(key, lines.get("tables", 1))
        if name not in TABLES:
            problems.append(Problem(fname, line, key, f"unknown table; expected one of {', '.join(TABLES)}"))
            continue
        if not isinstance(rel, str) or not rel.strip():
            problems.append(Problem(fname, line, key, "expected a relative file path"))
            continue
        candidate = Path(rel)
        resolved = (root / candidate).resolve()
        if candidate.is_absolute() or not resolved.is_relative_to(root):
            problems.append(Problem(fname, line, key,
                                    f"path {rel!r} leads outside the instance folder; use a relative path inside it"))
            continue
        if not resolved.is_file():
            what = ("is a folder or a special file, not a CSV file" if resolved.exists()
                    else "not found in the instance folder")
            problems.append(Problem(fname, line, key, f"file {rel!r} {what}"))
            continue
        tables[name] = resolved
    for name, table in TABLES.items():
        if table.required and name not in raw:
            problems.append(Problem(fname, lines.get("tables", 1), f"tables.{name}", "required table is missing"))
    return tables
