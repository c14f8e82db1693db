"""The :class:`Instance`: every input table, typed and checked, plus the manifest settings.

The data class only: reading and checking an instance is :mod:`network_opt.inputs.load`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from network_opt.common.errors import Problem
from network_opt.inputs.manifest import Manifest, Period


@dataclass
class Instance:
    """A loaded instance. Tables are pandas frames with the columns of :mod:`network_opt.inputs.schema`
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
