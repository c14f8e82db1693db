"""The :class:`Instance`: every input table, typed and checked, plus the manifest settings.

The data class only: reading and checking an instance is :mod:`network_opt.inputs.load`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from network_opt.common.errors import Problem
from network_opt.inputs.manifest import Manifest, OperatingYear, Period
from network_opt.inputs.settings import Settings


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
    #: what was derived from the tables once and is handed on instead of computed again (the
    #: supply by grade and the lanes, :func:`network_opt.inputs.lanes.supply_and_lanes`), each kept
    #: with a fingerprint of the inputs it was computed from, in a store copies share; private, the
    #: frames are never changed in place
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

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
    def periods(self) -> list[OperatingYear]:
        """The operating years, in order: every ``period`` of the tables names one (``year``; it stands
        for ``length`` years of identical annual flows, under the investments of
        ``investment_period``). A period of ``periods:`` operated at the mean (the default) is one
        operating year; one operated ``yearly`` gives one per calendar year."""
        return [o for p in self.manifest.periods for o in p.operating_years]

    @property
    def investment_periods(self) -> list[Period]:
        """The investment periods as ``periods:`` declares them (investments are decided per period)."""
        return self.manifest.periods

    @property
    def years(self) -> list[int]:
        """The years of the operating years (:attr:`periods`), the values a ``period`` column may take."""
        return [p.year for p in self.periods]

    @property
    def settings(self) -> Settings:
        """The frozen, typed settings (e.g. ``inst.settings.transport.max_lane_km``)."""
        return self.manifest.settings

    def with_settings(self, values: Mapping[str, Any]) -> Instance:
        """This instance with settings changed (dotted key -> value, checked as in ``instance.yaml``;
        raises :class:`~network_opt.inputs.settings.SettingError`). ``self`` is left as it is; the copy
        shares its tables (change them only on a copy from
        :func:`~network_opt.inputs.overrides.copy_instance`)."""
        out = dataclasses.replace(self, manifest=dataclasses.replace(
            self.manifest, settings=self.manifest.settings.with_values(values)))
        out._derived.update(self._derived)  # the lanes, used again only where the settings leave them as they are
        return out

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]

    def table_file(self, table: str) -> str:
        """File name used in messages about ``table``."""
        if table in self.file_labels:
            return self.file_labels[table]
        path = self.manifest.tables.get(table)
        return path.name if path is not None else f"{table}.csv"
