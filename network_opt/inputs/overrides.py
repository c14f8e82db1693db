"""The override language of scenarios and sweeps: which parameter a key names, and how a copy
of an :class:`~network_opt.inputs.instance.Instance` is changed.

A *key* names a setting or table cells (see ``docs/scenarios.md``)::

    emissions.carbon_price                       a setting of instance.yaml
    supply.tonnes                                a column, every row
    material_prices[Li].price_per_t              rows whose key starts with Li (every period)
    targets[CN,material_recovery,Li,2025].value  the row with that full key
    facilities[kind=refurbisher].variable_cost_per_t   rows where a column has a value
    facility_levels[*,L].opening_cost            `*` skips a key column

Positional selector values match the table's key columns in order (``targets``: jurisdiction,
metric, material, from_period; an empty value matches an empty cell). Operations:

- ``set`` a setting or cells to a value; ``scale`` numeric cells (or a numeric setting) by a factor;
- ``remove`` rows (rows of other tables naming a removed id go too: a facility's levels, a
  site's supply, facilities, markets and lanes, a market's demand);
- ``open`` a facility (it becomes ``existing``: open from the first period at its smallest level,
  that level's opening cost counted as already paid, and it never closes); ``close`` a facility
  (it is removed with its levels, so it can never be used);
- ``add`` rows to a table; change ``policies`` (preset ids per jurisdiction).

Every override must hit something: a key naming no setting, table, column or row is an error,
never a silent no-op. Errors are :class:`~network_opt.common.errors.Problem` rows naming where the
override was written (instance.yaml and its line, or the command-line option).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from network_opt.common.errors import InputError, PrecheckError, Problem
from network_opt.inputs.coerce import CoercionError, coerce_value, range_message
from network_opt.inputs.instance import Instance
from network_opt.inputs.read import ROW, typed_table
from network_opt.inputs.schema import TABLES, Column, Table
from network_opt.inputs.settings import SETTING_SPEC, SettingError

OPERATIONS = ("set", "scale", "remove", "open", "close", "add", "policies")

#: settings an override may not change: identity, layout, units, and defaults applied while
#: the tables are read (changing them after loading would do nothing; override the column)
FROZEN_SETTINGS = {"name", "description", "currency", "units.mass", "units.energy", "units.distance",
                   "defaults.fit_share", "defaults.collection_cost_per_t", "csv.delimiter", "csv.decimal"}
_NAME = r"[a-z][a-z0-9_]*"
_TABLE_KEY = re.compile(rf"^(?P<table>{_NAME})(?:\[(?P<sel>[^\[\]]*)\])?(?:\.(?P<column>{_NAME}))?$")
_SETTING_KEY = re.compile(rf"^{_NAME}(?:\.{_NAME})*$")


@dataclass(frozen=True)
class Origin:
    """Where an override was written: file, line (0: unknown) and the label shown as column."""

    file: str
    line: int
    label: str

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.line, self.label, message)


@dataclass(frozen=True)
class Key:
    """A parsed key: a setting, or a table with an optional row selector and column."""

    text: str
    setting: str | None = None
    table: str | None = None
    selector: tuple[tuple[str | None, str], ...] | None = None  # (column or None: positional, value)
    column: str | None = None

    @property
    def is_setting(self) -> bool:
        return self.setting is not None


@dataclass(frozen=True)
class Override:
    """One change: ``op`` (see :data:`OPERATIONS`) on ``target`` (a key, a table, facility ids or
    a policies mapping) with ``value`` (the new value, the factor, the rows...)."""

    op: str
    target: Any
    value: Any = None
    origin: Origin = field(default_factory=lambda: Origin("", 0, ""), compare=False)

    def canonical(self) -> dict[str, Any]:
        """A JSON-able description, for hashing the inputs of a run."""
        return {"op": self.op, "target": self.target, "value": self.value}


def parse_key(text: str, origin: Origin) -> Key:
    """Parse a key; raise :class:`InputError` when it names no setting or table column."""
    text = str(text).strip()
    m = _TABLE_KEY.match(text)
    if m and m.group("table") in TABLES:
        table = TABLES[m.group("table")]
        column = m.group("column")
        if m.group("sel") is None and column is not None and column not in table.column_names:
            setting = text
            if setting in SETTING_SPEC:  # e.g. targets.soft: a setting, not a column of targets
                return Key(text, setting=setting)
        if column is not None and column not in table.column_names:
            raise InputError([origin.problem(f"{text!r}: table {table.name} has no column {column!r}; expected "
                                             f"one of {', '.join(table.column_names)}")])
        sel = None if m.group("sel") is None else _parse_selector(table, m.group("sel"), text, origin)
        return Key(text, table=table.name, selector=sel, column=column)
    if _SETTING_KEY.match(text) and text in SETTING_SPEC:
        return Key(text, setting=text)
    if _SETTING_KEY.match(text) and text.split(".")[0] in TABLES:
        raise InputError([origin.problem(f"{text!r}: no such column or setting")])
    raise InputError([origin.problem(
        f"{text!r} names no setting or table; expected a setting (e.g. emissions.carbon_price) or "
        "TABLE.COLUMN / TABLE[SELECTOR].COLUMN (e.g. targets[CN,material_recovery,Li,2025].value); "
        "see docs/scenarios.md")])


def _parse_selector(table: Table, text: str, key: str, origin: Origin) -> tuple[tuple[str | None, str], ...]:
    items = [s.strip() for s in text.split(",")]
    out: list[tuple[str | None, str]] = []
    positional = 0
    for item in items:
        if "=" in item:
            col, _, value = item.partition("=")
            col = col.strip()
            if col not in table.column_names:
                raise InputError([origin.problem(f"{key!r}: table {table.name} has no column {col!r}")])
            if table.column(col).type == "list":
                raise InputError([origin.problem(f"{key!r}: cannot select rows on list column {col!r}")])
            out.append((col, value.strip()))
            continue
        if positional >= len(table.key):
            raise InputError([origin.problem(
                f"{key!r}: {table.name} rows are named by {len(table.key)} key value(s) "
                f"({', '.join(table.key) or 'none'}), got {positional + 1}")])
        if item != "*":
            out.append((table.key[positional], item))
        positional += 1
    return tuple(out)


def select_rows(frame: pd.DataFrame, table: Table, selector: tuple[tuple[str | None, str], ...] | None) -> np.ndarray:
    """Boolean mask of the rows a selector picks (every row for no selector)."""
    mask = np.ones(len(frame), dtype=bool)
    for col_name, value in selector or ():
        assert col_name is not None
        col = table.column(col_name)
        cells = frame[col_name]
        if col.type == "int":
            try:
                target = int(value)
            except ValueError:
                return np.zeros(len(frame), dtype=bool)
            mask &= (cells == target).to_numpy()
        elif col.type == "float":
            try:
                mask &= np.isclose(cells.to_numpy(dtype=float), float(value))
            except ValueError:
                return np.zeros(len(frame), dtype=bool)
        elif col.type == "bool":
            mask &= (cells.astype(bool) == (value.lower() in ("true", "yes", "1"))).to_numpy()
        else:
            mask &= (cells.astype(str) == value).to_numpy()
    return mask


def _coerce_cell(col: Column, value: Any, origin: Origin, what: str) -> Any:
    """A YAML/CLI value as a cell of ``col``: type, range and choices checked."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if col.required:
            raise InputError([origin.problem(f"{what}: a value is required ({col.description})")])
        if col.type in ("float", "int"):
            return math.nan if col.default is None or isinstance(col.default, str) else col.default
        return col.default if col.type != "list" else []
    try:
        return coerce_value(value, col.type, minimum=col.minimum, maximum=col.maximum, choices=col.choices)
    except CoercionError as exc:
        raise InputError([origin.problem(f"{what}: {exc}")]) from None


def _check_range(lo: float | None, hi: float | None, value: float, origin: Origin, what: str) -> None:
    bad = range_message(lo, hi, value)
    if bad:
        raise InputError([origin.problem(f"{what}: {bad}")])


def _with_setting(inst: Instance, key: str, value: Any, origin: Origin) -> None:
    """Give the copy ``inst`` a new settings tree with ``key`` set (the old tree is not changed)."""
    try:
        inst.manifest = replace(inst.manifest, settings=inst.settings.with_values({key: value}))
    except SettingError as exc:
        raise InputError([origin.problem(f"{key}: {exc}")]) from None


def copy_instance(inst: Instance) -> Instance:
    """A copy whose tables and settings can be changed without touching ``inst`` (the settings
    tree is frozen: the copy gets a new one when a setting changes)."""
    manifest = replace(inst.manifest, lines=dict(inst.manifest.lines))
    out = Instance(manifest, {k: v.copy() for k, v in inst.tables.items()}, list(inst.warnings),
                   copy.deepcopy(inst.column_labels), dict(inst.file_labels), dict(inst.file_aliases))
    # what was derived from the tables (the lanes) goes along: it is used again only while the
    # inputs it came from are unchanged (network_opt.inputs.lanes.supply_and_lanes)
    out._derived.update(inst._derived)
    return out


# --- applying ---------------------------------------------------------------------------------

def apply_overrides(inst: Instance, overrides: list[Override], *, label: str = "", check: bool = True) -> Instance:
    """A changed copy of ``inst``. Policy changes are applied first (they rebuild the preset
    rows), then every other override in the order given. With ``check``, the changed instance
    goes through the cross-table checks again; their problems are prefixed with ``label``.
    Raises :class:`InputError` naming the first override that misses or is invalid, and
    :class:`~network_opt.common.errors.PrecheckError` (an :class:`InputError`) when the changed instance
    is well formed but fails the feasibility pre-check (e.g. more supply than openable capacity)."""
    out = copy_instance(inst)
    policy = [o for o in overrides if o.op == "policies"]
    if policy:
        _apply_policies(out, policy)
    for o in overrides:
        if o.op == "policies":
            continue
        if o.op not in OPERATIONS:
            raise InputError([o.origin.problem(f"unknown operation {o.op!r}; expected one of {', '.join(OPERATIONS)}")])
        {"set": _set, "scale": _scale, "remove": _remove, "open": _open, "close": _close, "add": _add}[o.op](out, o)
    if check:
        from network_opt.inputs.validate import check_instance, feasibility_precheck

        prefix = f"after {label}: " if label else ""
        problems = out.relabel(check_instance(out, feasibility=False))
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise InputError([Problem(p.file, p.row, p.column, prefix + p.message) for p in errors])
        errors = [p for p in out.relabel(feasibility_precheck(out)) if p.severity == "error"]
        if errors:
            raise PrecheckError([Problem(p.file, p.row, p.column, f"{prefix}infeasible before solving "
                                         f"(feasibility pre-check): {p.message}") for p in errors])
        out.warnings = [*out.warnings, *(p for p in problems if p.severity == "warning" and p not in out.warnings)]
    return out


def _key(o: Override) -> Key:
    return parse_key(o.target, o.origin)


def _rows(inst: Instance, key: Key, o: Override, need_column: bool) -> tuple[Table, np.ndarray]:
    assert key.table is not None
    table = TABLES[key.table]
    if need_column and key.column is None:
        raise InputError([o.origin.problem(f"{key.text!r}: name a column, e.g. {key.table}.{table.columns[-1].name}")])
    frame = inst.tables[key.table]
    mask = select_rows(frame, table, key.selector)
    if not mask.any():
        what = "has no rows" if key.selector is None else "matches no row"
        raise InputError([o.origin.problem(f"{key.text!r} {what} in {inst.table_file(key.table)}")])
    return table, mask


def _set(inst: Instance, o: Override) -> None:
    key = _key(o)
    if key.is_setting:
        _check_setting_allowed(key.text, o)
        _with_setting(inst, key.text, o.value, o.origin)
        return
    table, mask = _rows(inst, key, o, need_column=True)
    col = table.column(key.column or "")
    value = _coerce_cell(col, o.value, o.origin, key.text)
    frame = inst.tables[table.name]
    if col.type == "list":
        frame[col.name] = [list(value) if hit else cell for hit, cell in zip(mask, frame[col.name], strict=True)]
    else:
        frame.loc[mask, col.name] = value
    _check_unique(inst, table, o)


def _scale(inst: Instance, o: Override) -> None:
    key = _key(o)
    factor = o.value
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(float(factor)):
        raise InputError([o.origin.problem(f"{key.text}: the factor must be a number, got {factor!r}")])
    if factor < 0:
        raise InputError([o.origin.problem(f"{key.text}: the factor must be >= 0, got {factor:g}")])
    if key.is_setting:
        _check_setting_allowed(key.text, o)
        if SETTING_SPEC[key.text][1] not in ("float", "int"):
            raise InputError([o.origin.problem(f"{key.text}: only numeric settings can be scaled")])
        value = float(inst.settings.flat()[key.text]) * float(factor)
        _with_setting(inst, key.text, value, o.origin)
        return
    table, mask = _rows(inst, key, o, need_column=True)
    col = table.column(key.column or "")
    if col.type != "float":
        raise InputError([o.origin.problem(f"{key.text}: only number columns can be scaled "
                                           f"({col.name} is {col.type})")])
    frame = inst.tables[table.name]
    values = frame.loc[mask, col.name].astype(float) * float(factor)
    finite = values.dropna()
    if len(finite):
        _check_range(col.minimum, col.maximum, float(finite.min()), o.origin, key.text)
        _check_range(col.minimum, col.maximum, float(finite.max()), o.origin, key.text)
    frame.loc[mask, col.name] = values


def _check_setting_allowed(key: str, o: Override) -> None:
    if key in FROZEN_SETTINGS:
        hint = (" (applied while the tables are read: override the column instead, e.g. supply."
                f"{key.split('.', 1)[1]})" if key.startswith("defaults.") else "")
        raise InputError([o.origin.problem(f"{key} cannot be overridden{hint}")])


def _check_unique(inst: Instance, table: Table, o: Override) -> None:
    if not table.key:
        return
    frame = inst.tables[table.name]
    keys = frame[list(table.key)].astype(str)
    dup = keys.duplicated(keep=False)
    if dup.any():
        first = keys.loc[dup].iloc[0]
        raise InputError([o.origin.problem(f"{table.name} would hold the key ({', '.join(first)}) twice")])


def _references_to(table: str) -> list[tuple[str, str]]:
    """(table, column) pairs whose single values must be ids of ``table``."""
    return [(t.name, c.name) for t in TABLES.values() for c in t.columns
            if c.references == f"{table}.id" and c.type != "list"]


def drop_rows(inst: Instance, table: str, mask: np.ndarray) -> None:
    """Remove rows, and (recursively) the rows of other tables naming a removed id."""
    frame = inst.tables[table]
    removed = frame.loc[mask]
    inst.tables[table] = frame.loc[~mask].reset_index(drop=True)
    if "id" not in TABLES[table].key or removed.empty:
        return
    ids = set(removed["id"])
    for other, column in _references_to(table):
        of = inst.tables[other]
        hit = of[column].isin(ids).to_numpy()
        if hit.any():
            drop_rows(inst, other, hit)


def _remove(inst: Instance, o: Override) -> None:
    key = _key(o)
    if key.is_setting or key.column is not None or key.selector is None:
        raise InputError([o.origin.problem(f"remove: expected TABLE[SELECTOR] (rows to remove), got {key.text!r}")])
    _, mask = _rows(inst, key, o, need_column=False)
    drop_rows(inst, key.table or "", mask)


def _facility_ids(inst: Instance, o: Override) -> list[str]:
    ids = o.target if isinstance(o.target, list) else [o.target]
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise InputError([o.origin.problem(f"{o.op}: expected a facility id or a list of ids, got {o.target!r}")])
    known = set(inst.tables["facilities"]["id"])
    missing = [i for i in ids if i not in known]
    if missing:
        raise InputError([o.origin.problem(f"{o.op}: unknown facility {', '.join(map(repr, missing))} "
                                           f"(not in {inst.table_file('facilities')})")])
    return ids


def _open(inst: Instance, o: Override) -> None:
    ids = _facility_ids(inst, o)
    fac = inst.tables["facilities"]
    hit = fac["id"].isin(ids)
    fac.loc[hit, "status"] = "existing"
    fac.loc[hit, "closing_cost"] = math.nan


def _close(inst: Instance, o: Override) -> None:
    ids = _facility_ids(inst, o)
    drop_rows(inst, "facilities", inst.tables["facilities"]["id"].isin(ids).to_numpy())


def _add(inst: Instance, o: Override) -> None:
    name = str(o.target)
    if name not in TABLES:
        raise InputError([o.origin.problem(f"add: unknown table {name!r}; expected one of {', '.join(TABLES)}")])
    rows = o.value
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InputError([o.origin.problem("add: expected rows: a list of mappings of column to value")])
    table = TABLES[name]
    cols = sorted({str(c) for r in rows for c in r}, key=lambda c: (c not in table.column_names, c))

    def text(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return ";".join(map(str, v))
        return str(v)

    raw = pd.DataFrame({c: [text(r.get(c)) for r in rows] for c in cols}, dtype=object)
    raw[ROW] = np.arange(len(rows))
    frame, problems = typed_table(table, raw, name, inst.settings.table_defaults())
    if problems:
        raise InputError([o.origin.problem(f"add {name} row {p.row + 1}, column {p.column}: {p.message}")
                          for p in problems])
    frame[ROW] = 0
    inst.tables[name] = pd.concat([inst.tables[name], frame[list(inst.tables[name].columns)]], ignore_index=True)
    _check_unique(inst, table, o)


def _apply_policies(inst: Instance, overrides: list[Override]) -> None:
    """Change the ``policies:`` mapping and rebuild the preset rows of targets and bans (rows of
    the instance's own files, ``_row`` > 0, are kept and still win over preset rows)."""
    from network_opt.inputs.jurisdictions import known_codes
    from network_opt.inputs.policies import available_presets
    from network_opt.inputs.regulation import apply_policies

    presets = available_presets()
    codes = known_codes(inst)
    mapping: dict[str, list[str] | tuple[str, ...]] = dict(inst.settings.policies)
    for o in overrides:
        if not isinstance(o.target, dict) or not o.target:
            raise InputError([o.origin.problem("policies: expected a mapping of jurisdiction to preset id(s) "
                                               "(an empty list removes them)")])
        for jur, ids in o.target.items():
            jur = str(jur)
            ids = [] if ids is None else [ids] if isinstance(ids, str) else ids
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise InputError([o.origin.problem(f"policies.{jur}: expected a preset id or a list of ids")])
            if jur not in codes:
                raise InputError([o.origin.problem(f"policies.{jur}: unknown jurisdiction or group {jur!r}")])
            unknown = [i for i in ids if i not in presets]
            if unknown:
                raise InputError([o.origin.problem(f"policies.{jur}: unknown policy preset {unknown[0]!r}; expected "
                                                   f"one of {', '.join(sorted(presets))}")])
            if ids:
                mapping[jur] = ids
            elif jur in mapping:
                del mapping[jur]
            else:
                raise InputError([o.origin.problem(f"policies.{jur}: no preset is applied to {jur}; "
                                                   "nothing to remove")])
    for name in ("targets", "bans"):
        frame = inst.tables[name]
        inst.tables[name] = frame.loc[frame[ROW] > 0].reset_index(drop=True)
    inst.manifest = replace(inst.manifest, settings=inst.settings.with_policies(mapping))
    inst.warnings = [w for w in inst.warnings if not w.column.startswith("policies.")]
    inst.warnings += apply_policies(inst)
