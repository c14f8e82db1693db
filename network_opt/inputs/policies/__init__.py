"""Regulatory policy presets shipped as data, with their legal sources and dates.

Each preset is one YAML file in ``network_opt/inputs/policies/presets/`` named ``<id>.yaml``. It lists
*targets* (collection rate, recycling efficiency, material recovery, second-life priority, domestic
recovery) and *bans* (export, import, second-life application, landfill) that a jurisdiction or group
(``applies_to``, e.g. ``EU27``, ``CN``, ``US-NJ``) imposes from a modelled year onwards (a ban may end:
``until_period``).

Conventions (also printed at the top of ``docs/policies.md``):

* ``from_period`` is the first modelled *year* in force: a deadline of 31 Dec 2025 gives 2026; an Indian
  fiscal year 2024-25 gives 2024 (its first calendar year).
* ``legal_date`` is the date as written in law: ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY`` or ``FYYYYY-YY``
  (a fiscal year). ``from_period`` must be its year or the year after (fiscal years: the first year).
* A ban that ends has ``until_period``, the last modelled year in force, and ``legal_end_date``, the
  first day it no longer applies as written in law (after ``legal_date``); ``until_period`` must be that
  date's year (the ban held for part of it) or the year before; only the year before when the end is
  1 January (a fiscal year starts on 1 April of its first year).
* ``confidence`` is the research brief's mark: V read in a source, S secondary, D derived, M memory.
  ``M`` rows must have ``needs_confirmation: true``.
* Every rule has ``source`` (article / annex of the law, then where it was read), ``legal_date`` and
  ``base``: the law's own wording of what the percentage is *of* (for a ban: what the law forbids), as
  found in docs/legal-review.md. ``note`` (optional) says what is unverified or where the model's
  metric differs from the law's base.
* ``not_modelled`` (optional) lists rules of the same instrument that the preset format cannot express
  yet, with citation, date and base; they are printed in ``docs/policies.md``.

The files are validated strictly by :func:`parse_preset`; :func:`available_presets` loads them all once.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from network_opt.inputs.jurisdictions import BUILTIN_GROUPS
from network_opt.inputs.manifest import DuplicateKeyError, load_yaml
from network_opt.inputs.schema import (
    MATERIAL_SUM_SEPARATOR,
    PER_FACILITY_SCOPES,
    PROCESS_SEPARATOR,
    RECYCLING_PROCESSES,
    SCOPE_METRICS,
    TARGET_SCOPES,
)

__all__ = [
    "BAN_COLUMNS",
    "NOT_MODELLED_COLUMNS",
    "PRESETS_DIR",
    "TABLE_COLUMNS",
    "TARGET_COLUMNS",
    "Preset",
    "PresetError",
    "available_presets",
    "describe_scope",
    "get_preset",
    "load_preset_file",
    "parse_preset",
    "presets_table",
    "render_markdown",
]

#: Folder holding the shipped ``<id>.yaml`` files.
PRESETS_DIR = Path(__file__).parent / "presets"

TARGET_COLUMNS = ("metric", "material", "value", "scope", "process", "from_period", "legal_date", "source",
                  "confidence", "needs_confirmation", "base", "note")
BAN_COLUMNS = ("kind", "commodity", "to", "application", "from_period", "until_period", "legal_date",
               "legal_end_date", "source", "confidence", "needs_confirmation", "base", "note")
TABLE_COLUMNS = ("preset", "applies_to", "rule", "metric_or_kind", "material_or_commodity", "value", "scope", "process",
                 "to", "application", "from_period", "until_period", "legal_date", "legal_end_date", "confidence",
                 "needs_confirmation", "source", "base", "note")
NOT_MODELLED_COLUMNS = ("rule", "citation", "legal_date", "base", "confidence", "needs_confirmation", "why")

# Vocabulary shared with the instance format (``network_opt.inputs.schema``); tests/test_policies.py checks they agree.
TARGET_METRICS = ("collection_rate", "recycling_efficiency", "material_recovery", "second_life_priority",
                  "domestic_recovery")
RATE_METRICS = ("collection_rate", "recycling_efficiency", "material_recovery", "second_life_priority")
MATERIAL_METRICS = ("material_recovery", "domestic_recovery")
BAN_KINDS = ("export", "import", "application", "landfill")
COMMODITIES = ("eol_packs", "second_life_packs", "rejects", "returns", "black_mass")
APPLICATIONS = ("telecom_backup", "ups", "energy_storage", "e_bike", "automotive_12v_24v", "other")

CONFIDENCES = ("V", "S", "D", "M")
CONFIDENCE_MEANINGS = {
    "V": "read directly in a source excerpt",
    "S": "secondary or press source, or a truncated excerpt",
    "D": "derived from sourced inputs",
    "M": "from memory, not confirmed",
}
MIN_YEAR, MAX_YEAR = 1990, 2100

_TOP_REQUIRED = ("id", "name", "applies_to", "legal_source", "url", "notes")
_TOP_OPTIONAL = ("targets", "bans", "not_modelled")
_TARGET_REQUIRED = ("metric", "value", "from_period", "legal_date", "source", "confidence", "needs_confirmation",
                    "base")
_TARGET_OPTIONAL = ("material", "scope", "process", "note")
_BAN_REQUIRED = ("kind", "from_period", "legal_date", "source", "confidence", "needs_confirmation", "base")
_BAN_OPTIONAL = ("commodity", "to", "application", "until_period", "legal_end_date", "note")
_NOT_MODELLED_REQUIRED = ("rule", "citation", "legal_date", "base", "confidence", "needs_confirmation", "why")
#: Extra words for a missing required key, so the error says what to write.
_MISSING_HINTS = {
    "base": "every rule needs the law's own wording of what the percentage is of (for a ban: what is "
            "forbidden), e.g. 'by average weight of lithium-based batteries (Annex XII Part B)'",
    "source": "every rule needs its article / annex and where the text was read",
    "legal_date": "every rule needs the date as written in law",
}

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_TO_RE = re.compile(r"^(?:not:)?[A-Za-z0-9_-]+$")
#: a material id, or several joined by '+' (a material_recovery rate on their sum)
_MATERIAL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\+[A-Za-z][A-Za-z0-9_]*)*$")
_URL_RE = re.compile(r"^https?://\S+$")
_FY_RE = re.compile(r"^FY(\d{4})-(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR_RE = re.compile(r"^(\d{4})$")


class PresetError(Exception):
    """A preset file or dict is invalid.

    The message reads ``ORIGIN: KEY: problem``, where ``KEY`` is the offending key, with the entry
    index for rules (``targets[2].value``). ``origin``, ``key`` and ``problem`` are also attributes.
    """

    def __init__(self, origin: str, key: str, problem: str):
        self.origin = origin
        self.key = key
        self.problem = problem
        super().__init__(f"{origin}: {key}: {problem}" if key else f"{origin}: {problem}")


@dataclass(frozen=True)
class Preset:
    """One regulatory preset: metadata plus its targets and bans as tables.

    ``targets`` has the columns :data:`TARGET_COLUMNS`, ``bans`` the columns :data:`BAN_COLUMNS`,
    ``not_modelled`` (rules of the instrument the format cannot express yet) :data:`NOT_MODELLED_COLUMNS`, in file
    order. The frames are shared by the loader's cache: treat them as read-only (``.copy()`` to edit).
    Equality and hashing use the metadata only.
    """

    id: str
    name: str
    applies_to: str
    legal_source: str
    url: str
    notes: str
    targets: pd.DataFrame = field(compare=False, repr=False)
    bans: pd.DataFrame = field(compare=False, repr=False)
    not_modelled: pd.DataFrame = field(compare=False, repr=False)


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


class _Checker:
    """Small helpers that raise :class:`PresetError` for one origin."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, key: str, problem: str) -> PresetError:
        return PresetError(self.origin, key, problem)

    def keys(self, data: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(data).__name__}")
        allowed = set(required) | set(optional)
        for key in data:
            if key not in allowed:
                name = f"{where}.{key}" if where else str(key)
                raise self.fail(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in data:
                hint = f": {_MISSING_HINTS[key]}" if key in _MISSING_HINTS else ""
                raise self.fail(f"{where}.{key}" if where else key, f"required key is missing{hint}")
        return data

    def text(self, value: Any, key: str, *, empty: bool = False, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {type(value).__name__} {value!r}")
        value = value.strip()
        if not value:
            if empty:
                return ""
            raise self.fail(key, "must not be empty")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{value!r} does not match {pattern.pattern}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            raise self.fail(key, f"{value!r} is not one of: {', '.join(choices)}")
        return value

    def year(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer year, got {type(value).__name__} {value!r}")
        if not MIN_YEAR <= value <= MAX_YEAR:
            raise self.fail(key, f"{value} is outside {MIN_YEAR}-{MAX_YEAR}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {type(value).__name__} {value!r}")
        return float(value)

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {type(value).__name__} {value!r}")
        return value

    def legal_date(self, value: Any, key: str, from_period: int | None, period_key: str) -> str:
        """Check the date format and that ``from_period`` agrees with it (unless None); return the date as text."""
        if isinstance(value, dt.datetime):
            raise self.fail(key, f"expected a date, got a timestamp {value!r}")
        if isinstance(value, dt.date):  # unquoted YAML dates arrive as date objects
            value = value.isoformat()
        text = self.text(value, key)
        if m := _FY_RE.match(text):
            first, second = int(m.group(1)), int(m.group(2))
            if (first + 1) % 100 != second:
                raise self.fail(key, f"{text!r} is not a fiscal year (expected FY{first}-{(first + 1) % 100:02d})")
            if from_period is not None and from_period != first:
                raise self.fail(period_key, f"{from_period} must be {first}, the first year of {text}")
            return text
        if m := _MONTH_RE.match(text):
            year, month = int(m.group(1)), int(m.group(2))
            if not 1 <= month <= 12:
                raise self.fail(key, f"{text!r} has no month {month}")
        elif m := _YEAR_RE.match(text):
            year = int(m.group(1))
        else:
            try:
                year = dt.date.fromisoformat(text).year
            except ValueError:
                raise self.fail(key, f"{text!r} is not YYYY-MM-DD, YYYY-MM, YYYY or FYYYYY-YY") from None
            if len(text) != 10:
                raise self.fail(key, f"{text!r} is not YYYY-MM-DD, YYYY-MM, YYYY or FYYYYY-YY")
        if from_period is not None and from_period not in (year, year + 1):
            raise self.fail(period_key, f"{from_period} must be {year} or {year + 1} for legal_date {text!r}")
        return text

    def confirmation(self, entry: Mapping[str, Any], where: str) -> tuple[str, bool]:
        confidence = self.choice(entry["confidence"], f"{where}.confidence", CONFIDENCES)
        needs = self.flag(entry["needs_confirmation"], f"{where}.needs_confirmation")
        if confidence == "M" and not needs:
            raise self.fail(f"{where}.needs_confirmation", "must be true when confidence is M (from memory)")
        return confidence, needs

    def provenance(self, entry: Mapping[str, Any], where: str, from_period: int) -> dict[str, Any]:
        """The columns shared by targets and bans."""
        confidence, needs = self.confirmation(entry, where)
        return {
            "from_period": from_period,
            "legal_date": self.legal_date(entry["legal_date"], f"{where}.legal_date", from_period,
                                          f"{where}.from_period"),
            "source": self.text(entry["source"], f"{where}.source"),
            "confidence": confidence,
            "needs_confirmation": needs,
            "base": self.text(entry["base"], f"{where}.base"),
            "note": self.text(entry.get("note", ""), f"{where}.note", empty=True),
        }


def _parse_target(c: _Checker, entry: Any, where: str) -> dict[str, Any]:
    entry = c.keys(entry, where, _TARGET_REQUIRED, _TARGET_OPTIONAL)
    metric = c.choice(entry["metric"], f"{where}.metric", TARGET_METRICS)
    material = c.text(entry.get("material", ""), f"{where}.material", empty=True, pattern=_MATERIAL_RE)
    if metric in MATERIAL_METRICS and not material:
        raise c.fail(f"{where}.material", f"required for metric {metric}")
    if metric not in MATERIAL_METRICS and material:
        raise c.fail(f"{where}.material", f"must be empty for metric {metric}")
    summed = material.split(MATERIAL_SUM_SEPARATOR)
    if len(summed) > 1 and metric != "material_recovery":
        raise c.fail(f"{where}.material", f"a sum of materials ('+') is a material_recovery rate, not {metric}")
    if len(set(summed)) < len(summed):
        raise c.fail(f"{where}.material", f"{material} names a material twice")
    value = c.number(entry["value"], f"{where}.value")
    if metric in RATE_METRICS and not 0.0 <= value <= 1.0:
        raise c.fail(f"{where}.value", f"{value} is not a share in [0, 1] (metric {metric})")
    if value < 0.0:
        raise c.fail(f"{where}.value", f"{value} must not be negative")
    # what the rate is measured on (network_opt.inputs.schema: the targets table's scope column)
    scope = c.choice(entry.get("scope", "jurisdiction"), f"{where}.scope", TARGET_SCOPES)
    if metric not in SCOPE_METRICS[scope]:
        raise c.fail(f"{where}.scope", f"scope {scope} is for {' and '.join(SCOPE_METRICS[scope])} only, "
                     f"not {metric}")
    # the processes of the facilities a per-facility rule applies to (the targets table's process column)
    process = c.text(entry.get("process", ""), f"{where}.process", empty=True)
    if process and scope not in PER_FACILITY_SCOPES:
        raise c.fail(f"{where}.process", f"only rules of scope {', '.join(PER_FACILITY_SCOPES)} name a process, "
                     f"not scope {scope}")
    for part in process.split(PROCESS_SEPARATOR) if process else []:
        if part not in RECYCLING_PROCESSES:
            raise c.fail(f"{where}.process", f"{part!r} is not one of: {', '.join(RECYCLING_PROCESSES)} "
                         f"(several separated by '{PROCESS_SEPARATOR}')")
    from_period = c.year(entry["from_period"], f"{where}.from_period")
    return {"metric": metric, "material": material, "value": value, "scope": scope, "process": process,
            **c.provenance(entry, where, from_period)}


def _parse_ban(c: _Checker, entry: Any, where: str) -> dict[str, Any]:
    entry = c.keys(entry, where, _BAN_REQUIRED, _BAN_OPTIONAL)
    kind = c.choice(entry["kind"], f"{where}.kind", BAN_KINDS)
    commodity = c.text(entry.get("commodity", ""), f"{where}.commodity", empty=True)
    to = c.text(entry.get("to", ""), f"{where}.to", empty=True)
    application = c.text(entry.get("application", ""), f"{where}.application", empty=True)
    needed = {"export": ("commodity", "to"), "import": ("commodity",), "application": ("application",),
              "landfill": ()}[kind]
    for key, value in (("commodity", commodity), ("to", to), ("application", application)):
        if key in needed and not value:
            raise c.fail(f"{where}.{key}", f"required for kind {kind}")
        if key not in needed and value:
            raise c.fail(f"{where}.{key}", f"must be empty for kind {kind}")
    if commodity:
        c.choice(commodity, f"{where}.commodity", COMMODITIES)
    if to and not _TO_RE.match(to):
        raise c.fail(f"{where}.to", f"{to!r} is not a jurisdiction, a group or not:GROUP")
    if application:
        c.choice(application, f"{where}.application", APPLICATIONS)
    from_period = c.year(entry["from_period"], f"{where}.from_period")
    until_period, end_date = _ban_end(c, entry, where, from_period)
    return {"kind": kind, "commodity": commodity, "to": to, "application": application,
            **c.provenance(entry, where, from_period), "until_period": until_period, "legal_end_date": end_date}


def _ban_end(c: _Checker, entry: Mapping[str, Any], where: str, from_period: int) -> tuple[int, str]:
    """``until_period`` and ``legal_end_date`` of a ban, both given or neither: (0, "") for no end."""
    given = [k for k in ("until_period", "legal_end_date") if k in entry]
    if not given:
        return 0, ""
    if len(given) == 1:
        other = "legal_end_date" if given[0] == "until_period" else "until_period"
        raise c.fail(f"{where}.{other}", f"required with {given[0]} (a ban that ends needs both)")
    until = c.year(entry["until_period"], f"{where}.until_period")
    if until < from_period:
        raise c.fail(f"{where}.until_period", f"{until} is before from_period {from_period}")
    start = c.legal_date(entry["legal_date"], f"{where}.legal_date", from_period, f"{where}.from_period")
    end = c.legal_date(entry["legal_end_date"], f"{where}.legal_end_date", None, "")
    first_day = _first_day(end)
    if first_day <= _first_day(start):
        raise c.fail(f"{where}.legal_end_date", f"{end!r} is not after legal_date {start!r}")
    # the last modelled year in force: the end's year if the rule held part of it, else the year before
    allowed = (first_day.year - 1,) if (first_day.month, first_day.day) == (1, 1) else (first_day.year - 1,
                                                                                        first_day.year)
    if until not in allowed:
        raise c.fail(f"{where}.until_period", f"{until} must be {' or '.join(map(str, allowed))} for legal_end_date "
                     f"{end!r} (the last year in force, whole or in part)")
    return until, end


def _first_day(text: str) -> dt.date:
    """The first day a legal date (as :meth:`_Checker.legal_date` accepts it) names: a fiscal year
    FYyyyy-yy starts on 1 April of its first year (India's), a month on its first, a year on 1 January."""
    if m := _FY_RE.match(text):
        return dt.date(int(m.group(1)), 4, 1)
    if m := _MONTH_RE.match(text):
        return dt.date(int(m.group(1)), int(m.group(2)), 1)
    if m := _YEAR_RE.match(text):
        return dt.date(int(m.group(1)), 1, 1)
    return dt.date.fromisoformat(text)


def _parse_not_modelled(c: _Checker, entry: Any, where: str) -> dict[str, Any]:
    entry = c.keys(entry, where, _NOT_MODELLED_REQUIRED, ())
    confidence, needs = c.confirmation(entry, where)
    return {
        "rule": c.text(entry["rule"], f"{where}.rule"),
        "citation": c.text(entry["citation"], f"{where}.citation"),
        "legal_date": c.legal_date(entry["legal_date"], f"{where}.legal_date", None, ""),
        "base": c.text(entry["base"], f"{where}.base"),
        "confidence": confidence,
        "needs_confirmation": needs,
        "why": c.text(entry["why"], f"{where}.why"),
    }


def _rules(c: _Checker, data: Mapping[str, Any], key: str, parse: Callable[[_Checker, Any, str], dict[str, Any]],
           columns: tuple[str, ...], unique: tuple[str, ...]) -> pd.DataFrame:
    entries = data.get(key, [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise c.fail(key, f"expected a list, got {type(entries).__name__}")
    rows = [parse(c, entry, f"{key}[{i}]") for i, entry in enumerate(entries)]
    seen: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(rows):
        ident = tuple(row[k] for k in unique)
        if ident in seen:
            raise c.fail(f"{key}[{i}]", f"duplicates {key}[{seen[ident]}] ({', '.join(unique)} = {ident})")
        seen[ident] = i
    frame = pd.DataFrame(rows, columns=list(columns))
    dtypes = {"value": "float64", "from_period": "int64", "until_period": "int64", "needs_confirmation": "bool"}
    return frame.astype({k: v for k, v in dtypes.items() if k in frame.columns})


def parse_preset(data: Mapping[str, Any], origin: str, expected_id: str | None = None) -> Preset:
    """Validate one preset mapping (as read by ``yaml.safe_load``) and build a :class:`Preset`.

    ``origin`` names the source in error messages (usually the file name). With ``expected_id``
    (the file stem), ``id`` must equal it. Raises :class:`PresetError` naming the offending key.
    """
    c = _Checker(origin)
    data = c.keys(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    preset_id = c.text(data["id"], "id", pattern=_ID_RE)
    if expected_id is not None and preset_id != expected_id:
        raise c.fail("id", f"{preset_id!r} must equal the file name stem {expected_id!r}")
    targets = _rules(c, data, "targets", _parse_target, TARGET_COLUMNS,
                     ("metric", "material", "from_period", "process"))
    bans = _rules(c, data, "bans", _parse_ban, BAN_COLUMNS, ("kind", "commodity", "to", "application", "from_period"))
    not_modelled = _rules(c, data, "not_modelled", _parse_not_modelled, NOT_MODELLED_COLUMNS, ("rule", "legal_date"))
    return Preset(
        id=preset_id,
        name=c.text(data["name"], "name"),
        applies_to=c.text(data["applies_to"], "applies_to", pattern=_CODE_RE),
        legal_source=c.text(data["legal_source"], "legal_source"),
        url=c.text(data["url"], "url", empty=True, pattern=_URL_RE),
        notes=c.text(data["notes"], "notes", empty=True),
        targets=targets,
        bans=bans,
        not_modelled=not_modelled,
    )


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_preset_file(path: Path) -> Preset:
    """Read and validate one ``<id>.yaml`` file."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as exc:
        raise PresetError(path.name, exc.dotted, f"line {exc.line}: {exc.message}") from exc
    except yaml.YAMLError as exc:
        raise PresetError(path.name, "", f"not valid YAML: {exc}") from exc
    return parse_preset(data, path.name, expected_id=path.stem)


@cache
def _load_all(folder: Path) -> tuple[Preset, ...]:
    presets = [load_preset_file(path) for path in sorted(folder.glob("*.yaml"))]
    return tuple(sorted(presets, key=lambda p: p.id))


def available_presets() -> dict[str, Preset]:
    """Every shipped preset by id, sorted by id. Files are read and validated once per process."""
    return {p.id: p for p in _load_all(PRESETS_DIR)}


def get_preset(preset_id: str) -> Preset:
    """The shipped preset ``preset_id``; ``KeyError`` listing the available ids when unknown."""
    presets = available_presets()
    try:
        return presets[preset_id]
    except KeyError:
        raise KeyError(f"unknown policy preset {preset_id!r}; available: {', '.join(presets)}") from None


def presets_table() -> pd.DataFrame:
    """One row per target and ban across all presets (columns :data:`TABLE_COLUMNS`), for listings."""
    rows: list[dict[str, Any]] = []
    for p in available_presets().values():
        for t in p.targets.itertuples(index=False):
            rows.append({"preset": p.id, "applies_to": p.applies_to, "rule": "target", "metric_or_kind": t.metric,
                         "material_or_commodity": t.material, "value": t.value, "scope": t.scope,
                         "process": t.process, "to": "",
                         "application": "",
                         "from_period": t.from_period, "until_period": 0, "legal_date": t.legal_date,
                         "legal_end_date": "", "confidence": t.confidence,
                         "needs_confirmation": t.needs_confirmation, "source": t.source, "base": t.base,
                         "note": t.note})
        for b in p.bans.itertuples(index=False):
            rows.append({"preset": p.id, "applies_to": p.applies_to, "rule": "ban", "metric_or_kind": b.kind,
                         "material_or_commodity": b.commodity, "value": math.nan, "scope": "", "process": "",
                         "to": b.to,
                         "application": b.application, "from_period": b.from_period,
                         "until_period": b.until_period, "legal_date": b.legal_date,
                         "legal_end_date": b.legal_end_date,
                         "confidence": b.confidence, "needs_confirmation": b.needs_confirmation, "source": b.source,
                         "base": b.base, "note": b.note})
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return frame.astype({"value": "float64", "from_period": "int64", "until_period": "int64",
                         "needs_confirmation": "bool"})


# --------------------------------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------------------------------

_CHECK = "**needs confirmation**"


def _cell(value: Any) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if text else "—"


#: what each scope measures, for listings (``network-opt policies``, docs/policies.md)
SCOPE_MEANINGS = {
    "jurisdiction": "pooled over the jurisdiction",
    "facility": "per recycler / refiner, on its own input",
    "chain": "per recycler / refiner, on the packs its input was made from",
    "step": "per recycler / refiner, on the input of its smelting / refining step",
    "placed_on_market": "collected tonnes over the tonnes placed on the market (placed_on_market table)",
}


def describe_scope(scope: str, process: str = "") -> str:
    """``scope X (meaning)``, with ``, process Y`` for a rule narrowed to some processes."""
    text = f"scope {scope} ({SCOPE_MEANINGS.get(scope, scope)})"
    if process:
        text += f", process {process}"
    elif scope in PER_FACILITY_SCOPES:
        text += ", every process"
    return text


def _value(metric: str, value: float) -> str:
    if metric in RATE_METRICS:
        return f"{value * 100:g}%"
    return f"{value:g} t/yr"


def _preset_section(p: Preset) -> list[str]:
    lines = [
        f'<a id="{p.id}"></a>',
        "",
        f"## `{p.id}`: {p.name}",
        "",
        f"- **Applies to:** `{p.applies_to}`",
        f"- **Legal source:** {p.legal_source}",
        f"- **URL:** {f'<{p.url}>' if p.url else '(none)'}",
        "",
        p.notes or "(no notes)",
        "",
    ]
    if p.targets.empty and p.bans.empty:
        lines += ["No targets and no bans.", ""]
    else:
        lines += [
            "| Rule | Metric / kind | Material / commodity | Value / to | From period | Legal date | Citation "
            "(source) | Base (the law's wording) | Confidence | Check | Note |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    t: Any  # rows of the targets and bans tables: their fields are the tables' columns
    b: Any
    for t in p.targets.itertuples(index=False):
        metric = f"`{t.metric}`" + ("" if t.scope == "jurisdiction" else f" (scope {t.scope}"
                                     + (f", process {t.process})" if t.process else ")"))
        cells = ["target", metric, t.material, _value(t.metric, t.value), t.from_period, t.legal_date,
                 t.source, t.base, t.confidence, _CHECK if t.needs_confirmation else "", t.note]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    for b in p.bans.itertuples(index=False):
        what = f"to `{b.to}`" if b.kind == "export" else (f"into `{b.application}`" if b.application else "")
        periods = f"{b.from_period}–{b.until_period}" if b.until_period else b.from_period
        dates = f"{b.legal_date} → {b.legal_end_date}" if b.legal_end_date else b.legal_date
        cells = ["ban", f"`{b.kind}`", f"`{b.commodity}`" if b.commodity else "", what, periods,
                 dates, b.source, b.base, b.confidence, _CHECK if b.needs_confirmation else "", b.note]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    if not p.targets.empty or not p.bans.empty:
        lines.append("")
    if not p.not_modelled.empty:
        lines += [
            f"Not modelled yet (rules of this instrument that `{p.id}` cannot express):",
            "",
            "| Rule | Citation | Legal date | Base (the law's wording) | Confidence | Confirmation "
            "| Why not modelled |",
            "|---|---|---|---|---|---|---|",
        ]
        n: Any
        for n in p.not_modelled.itertuples(index=False):
            cells = [n.rule, n.citation, n.legal_date, n.base, n.confidence, "needed" if n.needs_confirmation else "",
                     n.why]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        lines.append("")
    return lines


def render_markdown() -> str:
    """The full text of ``docs/policies.md``, generated from the shipped presets."""
    presets = available_presets()
    table = presets_table()
    lines = [
        "# Policy presets",
        "",
        "<!-- Generated by network_opt.inputs.policies.render_markdown(); edit the YAML files in",
        "     network_opt/inputs/policies/presets/ instead, then regenerate this page. -->",
        "",
        "Regulatory targets and bans shipped as data in `network_opt/inputs/policies/presets/<id>.yaml`, "
        "with their legal sources and dates. Load them with `network_opt.inputs.policies.get_preset(id)` "
        "or list them all with `presets_table()`.",
        "",
        "Conventions:",
        "",
        "- **From period** is the first modelled year in force: a deadline of 31 Dec 2025 gives 2026; "
        "an Indian fiscal year FY2024-25 gives 2024 (its first calendar year).",
        "- **Legal date** is the date as written in law (`YYYY-MM-DD`, `YYYY-MM`, `YYYY` or a fiscal year "
        "`FYYYYY-YY`).",
        "- A ban that ends shows its periods as `from–until` (`until_period`, the last modelled year in force: "
        "the year of its legal end date, when it held for part of that year, or the year before) and its legal "
        "dates as `start → end` (the end: the first day it no longer applies).",
        "- Rates are shares of mass: `collection_rate` = collected / generated; `recycling_efficiency` = "
        "share of the battery input recycled (EU Annex XII; India's minimum recovery of dry weight); "
        "`material_recovery` = share of a material in the recycled input that is recovered. "
        "`domestic_recovery` is in t/yr.",
        "- Bans: `export` forbids moving the commodity from the jurisdiction to `to` (`not:GROUP` = "
        "everywhere outside the group); `import` forbids moving it into the jurisdiction from anywhere "
        "outside it; `application` forbids selling packs into that second-life application; `landfill` "
        "forbids disposal.",
        "- Built-in groups, known to every instance that declares one of their parts: "
        + "; ".join(f"`{name}` = {' ∪ '.join(f'`{x}`' for x in g.parts)} ({g.meaning}; source: {g.source})"
                    for name, g in BUILTIN_GROUPS.items()) + ".",
        "- **Base** is the law's own wording of what a percentage is *of* (for a ban: what the law forbids), "
        "as checked in `docs/legal-review.md`. The rule's **scope** says how the model measures it: "
        + "; ".join(f"`{k}` {v}" for k, v in SCOPE_MEANINGS.items())
        + " (`targets.scope` in docs/instance-format.md); a per-facility rule may name the technology "
        "**process**(es) it applies to. Where the model's measure still differs from the law's base, the "
        "**Note** says so.",
        "- **Citation (source)** gives the article or annex, then where the text was read.",
        "- **Confidence** (research-brief marks): "
        + "; ".join(f"`{k}` {v}" for k, v in CONFIDENCE_MEANINGS.items())
        + f". Rows marked {_CHECK} still need checking against the official text.",
        "",
        "| Preset | Applies to | Targets | Bans | Needing confirmation |",
        "|---|---|---|---|---|",
    ]
    for p in presets.values():
        rows = table[table["preset"] == p.id]
        lines.append(f"| [`{p.id}`](#{p.id}) | `{p.applies_to}` | {len(p.targets)} | {len(p.bans)} | "
                     f"{int(rows['needs_confirmation'].sum())} |")
    lines.append("")
    for p in presets.values():
        lines += _preset_section(p)
    return "\n".join(lines).rstrip("\n") + "\n"
