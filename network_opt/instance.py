"""The :class:`Instance`: every input table, typed and checked, plus the manifest settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from network_opt.errors import InputError, Problem
from network_opt.io.read import empty_table, read_table
from network_opt.io.xlsx import is_workbook, read_workbook
from network_opt.manifest import MANIFEST_NAME, Manifest, Period, read_manifest
from network_opt.schema import TABLES


@dataclass
class Instance:
    """A loaded instance. Tables are pandas frames with the columns of :mod:`network_opt.schema`
    (plus ``_row``, the source line). Optional tables the instance lacks are empty frames."""

    manifest: Manifest
    tables: dict[str, pd.DataFrame]
    warnings: list[Problem] = field(default_factory=list)
    #: file label -> {column name -> label shown in messages} (e.g. spreadsheet column letters)
    column_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    #: table -> file label used in messages, where it is not the CSV file's name
    file_labels: dict[str, str] = field(default_factory=dict)
    #: file named by a problem -> label shown instead (a workbook -> its ``instance`` sheet)
    file_aliases: dict[str, str] = field(default_factory=dict)

    def relabel(self, problems: list[Problem]) -> list[Problem]:
        """Problems with files and columns shown as the source shows them (a workbook: sheet labels such as
        ``book.xlsx[supply]`` and column letters such as ``D``)."""
        if not self.column_labels and not self.file_aliases:
            return problems
        out = []
        for p in problems:
            labels = self.column_labels.get(p.file, {})
            if p.column in labels or p.file in self.file_aliases:
                p = Problem(self.file_aliases.get(p.file, p.file), p.row, labels.get(p.column, p.column),
                            p.message, p.severity)
            out.append(p)
        return out

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def periods(self) -> list[Period]:
        return self.manifest.periods

    @property
    def years(self) -> list[int]:
        return [p.year for p in self.manifest.periods]

    def setting(self, key: str) -> object:
        return self.manifest.get(key)

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]

    def table_file(self, table: str) -> str:
        """File name used in messages about ``table``."""
        if table in self.file_labels:
            return self.file_labels[table]
        path = self.manifest.tables.get(table)
        return path.name if path is not None else f"{table}.csv"


def manifest_path(instance: str | Path) -> Path:
    """``instance`` is a folder holding ``instance.yaml``, the path of that file, or an ``.xlsx``
    workbook (returned as it is: the workbook holds the settings)."""
    path = Path(instance)
    return path / MANIFEST_NAME if path.is_dir() else path


def read_instance(instance: str | Path) -> tuple[Instance | None, list[Problem]]:
    """Read the manifest and every table; per-table problems only (no cross-table checks).

    ``instance`` is a folder, its ``instance.yaml``, or an ``.xlsx`` workbook
    (:mod:`network_opt.io.xlsx`; problems then name ``WORKBOOK.xlsx[SHEET]:ROW:COLUMN``).
    """
    if is_workbook(instance):
        book, problems = read_workbook(instance)
        if book is None:
            return None, problems
        inst = Instance(book.manifest, book.tables, column_labels=book.column_labels, file_labels=book.file_labels,
                        file_aliases=book.file_aliases)
        return _with_policies(inst, problems)
    manifest, problems = read_manifest(manifest_path(instance))
    if manifest is None:
        return None, problems
    defaults = {k: v for k, v in manifest.settings.items() if k.startswith("defaults.")}
    tables: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        path = manifest.tables.get(name)
        if path is None:
            tables[name] = empty_table(table, defaults)
            continue
        frame, found = read_table(table, path, defaults, delimiter=manifest.settings["csv.delimiter"],
                                  decimal=manifest.settings["csv.decimal"])
        problems.extend(found)
        tables[name] = frame if frame is not None else empty_table(table, defaults)
    return _with_policies(Instance(manifest, tables), problems)


def _with_policies(inst: Instance, problems: list[Problem]) -> tuple[Instance, list[Problem]]:
    """Add the rows of the policy presets the manifest names (when every table read cleanly)."""
    if inst.manifest.settings.get("policies") and not problems:
        from network_opt.regulation import apply_policies

        problems.extend(apply_policies(inst))
    return inst, problems


def load(instance: str | Path) -> Instance:
    """Load and fully validate an instance; raise :class:`InputError` listing every error.

    Warnings (legal but suspicious input) are kept in ``Instance.warnings``.
    """
    from network_opt.validate import check_instance

    inst, problems = read_instance(instance)
    if inst is not None and not any(p.severity == "error" for p in problems):
        problems.extend(check_instance(inst))
    if inst is not None:
        problems = inst.relabel(problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors or inst is None:
        raise InputError(problems)
    inst.warnings = [p for p in problems if p.severity == "warning"]
    return inst
