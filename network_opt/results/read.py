"""A plan read back: a solved plan's tables plus where every network node stands (what maps and
charts draw, and the node layers the GeoPackage writes).

A :class:`PlotResult` comes from a :class:`~network_opt.results.tables.Solution` (in memory) or from a
results folder written by ``network-opt solve`` (its CSV tables, ``summary.json`` and
``network.gpkg``, whose layers give the coordinates). Flows name their ends by *node*: a
collection point by its site id, a facility by its facility id, a market by its market id; the
``nodes`` table maps each node to its site, role and WGS84 longitude/latitude (degrees).

This module needs only pandas (no matplotlib); it sits in :mod:`network_opt.results` so that
writing results never imports :mod:`network_opt.plotting`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from network_opt.common.outdir import PLAN_TABLES

#: columns of the nodes table
NODE_COLUMNS = ["node", "site", "role", "name", "kind", "technology", "status", "application", "jurisdiction",
                "region", "longitude", "latitude"]
#: result tables read from a results folder (those present)
TABLES = PLAN_TABLES


class ResultsError(ValueError):
    """A results folder cannot be drawn (missing or unreadable file); the message names the file."""


@dataclass
class PlotResult:
    """A plan ready to draw.

    ``nodes``: one row per collection point, facility and market (:data:`NODE_COLUMNS`; ``role``
    is ``collection_point``, ``market`` or the facility kind); ``tables``: the result tables
    (tonnes per year within a period, money in ``currency``).
    """

    name: str
    scenario: str
    currency: str
    years: list[int]
    nodes: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """A result table, or an empty frame when the plan has none."""
        return self.tables.get(name, pd.DataFrame())

    def period(self, period: int | None) -> int:
        """``period`` checked against the plan's periods; the last period when None."""
        if not self.years:
            raise ResultsError(f"{self.name}: the plan has no periods")
        if period is None:
            return self.years[-1]
        if int(period) not in self.years:
            raise ResultsError(f"period {period} is not in the plan; its periods are "
                               f"{', '.join(map(str, self.years))}")
        return int(period)

    @property
    def label(self) -> str:
        """``instance · scenario`` for titles."""
        return f"{self.name} · {self.scenario}"


def assemble_nodes(sites: pd.DataFrame, facilities: pd.DataFrame, markets: pd.DataFrame) -> pd.DataFrame:
    """The nodes table from ``sites`` (indexed by site id: name, kind, jurisdiction, region,
    longitude, latitude in degrees), ``facilities`` (id, site, kind, technology, status) and
    ``markets`` (id, site, application)."""
    cps = sites.loc[sites["kind"] == "collection_point"]
    parts = [pd.DataFrame({"node": cps.index, "site": cps.index, "role": "collection_point", "kind": "",
                           "technology": "", "status": "", "application": ""})]
    if len(facilities):
        parts.append(pd.DataFrame({"node": facilities["id"], "site": facilities["site"], "role": facilities["kind"],
                                   "kind": facilities["kind"], "technology": facilities["technology"].fillna(""),
                                   "status": facilities["status"], "application": ""}))
    if len(markets):
        parts.append(pd.DataFrame({"node": markets["id"], "site": markets["site"], "role": "market", "kind": "",
                                   "technology": "", "status": "", "application": markets["application"]}))
    nodes = pd.concat(parts, ignore_index=True)
    at = sites.reindex(nodes["site"])
    nodes["name"] = at["name"].fillna("").astype(str).to_numpy()
    nodes["name"] = np.where(nodes["name"] == "", nodes["site"], nodes["name"])
    for col in ("jurisdiction", "region"):
        nodes[col] = at[col].fillna("").astype(str).to_numpy()
    nodes["longitude"] = at["longitude"].astype(float).to_numpy()
    nodes["latitude"] = at["latitude"].astype(float).to_numpy()
    return nodes[NODE_COLUMNS].reset_index(drop=True)


def nodes_from_instance(inst: Any) -> pd.DataFrame:
    """Nodes of an :class:`~network_opt.inputs.instance.Instance`: collection points, facilities, markets."""
    sites = inst["sites"].drop(columns="_row", errors="ignore").set_index("id")
    return assemble_nodes(sites, inst["facilities"], inst["markets"])


def from_solution(sol: Any, scenario: str | None = None) -> PlotResult:
    """A :class:`PlotResult` from a solved :class:`~network_opt.results.tables.Solution`."""
    if sol.data is None:
        raise ResultsError("the solution carries no instance data; nothing to locate on a map")
    inst = sol.data.inst
    summary = dict(sol.summary)
    return PlotResult(name=str(summary.get("instance", inst.name)),
                      scenario=scenario or str(summary.get("scenario") or "base"),
                      currency=str(summary.get("currency", inst.settings.currency)),
                      years=list(inst.years), nodes=nodes_from_instance(inst), tables=dict(sol.tables),
                      summary=summary)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read: {exc}") from None
    for col in ("grade", "chemistry", "level", "technology", "material", "source", "return_period", "jurisdiction"):
        if col in frame:
            frame[col] = frame[col].astype(object).fillna("").astype(str)  # an all-empty column reads as float
    return frame


def nodes_from_geopackage(path: Path) -> pd.DataFrame:
    """Nodes from the ``sites``, ``facilities`` and ``markets`` layers of ``network.gpkg``."""
    import pyogrio

    if not path.is_file():
        raise ResultsError(f"{path}: missing; maps need the site coordinates written by "
                           "`network-opt solve` (re-run solve to write it)")
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        read = {name: pyogrio.read_dataframe(path, layer=name) for name in ("sites", "facilities", "markets")
                if name in layers}
    except Exception as exc:  # any GDAL failure means an unreadable file
        raise ResultsError(f"{path}: cannot read: {exc}") from None
    if "sites" not in read:
        raise ResultsError(f"{path}: no layer 'sites'")
    sites = read["sites"].set_index("id")
    sites["longitude"], sites["latitude"] = sites.geometry.x, sites.geometry.y
    fac = read.get("facilities", pd.DataFrame(columns=["facility", "site", "kind", "technology", "status"]))
    fac = fac.drop_duplicates("facility").rename(columns={"facility": "id"})
    mk = read.get("markets", pd.DataFrame(columns=["market", "site", "application"])).rename(columns={"market": "id"})
    return assemble_nodes(pd.DataFrame(sites.drop(columns="geometry")), fac, mk)


def scenario_folders(folder: Path) -> list[str]:
    """Sub-folders of ``folder`` holding a ``summary.json`` (one per scenario of a comparison)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / "summary.json").is_file())


def _summary_scenario(folder: Path) -> str | None:
    """The scenario a results folder holds (``base`` when its summary names none), or None."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(summary.get("scenario") or "base") if isinstance(summary, dict) else None


def from_folder(folder: str | Path, scenario: str | None = None) -> PlotResult:
    """A :class:`PlotResult` from a results folder (``summary.json``, CSV tables, ``network.gpkg``).

    With ``scenario``, the folder may hold one sub-folder per scenario (as ``network-opt compare``
    writes); ``folder/scenario`` is read then.
    """
    folder = Path(folder)
    if scenario is not None and (folder / scenario / "summary.json").is_file():
        folder = folder / scenario
    elif scenario is not None and _summary_scenario(folder) != scenario:
        found = scenario_folders(folder)
        raise ResultsError(f"{folder}: no scenario {scenario!r}"
                           + (f"; scenarios: {', '.join(found)}" if found else ""))
    path = folder / "summary.json"
    if not path.is_file():
        found = scenario_folders(folder)
        hint = f" (it holds scenarios {', '.join(found)}; choose one with --scenario)" if found else ""
        raise ResultsError(f"{path}: missing; not a results folder{hint}")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read: {exc}") from None
    tables = {name: _read_csv(folder / f"{name}.csv") for name in TABLES if (folder / f"{name}.csv").is_file()}
    if "flows" not in tables or "facilities" not in tables:
        raise ResultsError(f"{folder}: flows.csv and facilities.csv are needed (is this a plan that was solved?)")
    nodes = nodes_from_geopackage(folder / "network.gpkg")
    years = [int(y) for y in summary.get("periods") or sorted(tables["facilities"]["period"].unique())]
    return PlotResult(name=str(summary.get("instance", folder.name)),
                      scenario=scenario or str(summary.get("scenario") or "base"),
                      currency=str(summary.get("currency") or ""), years=years, nodes=nodes, tables=tables,
                      summary=summary)


def as_result(result: Any, scenario: str | None = None) -> PlotResult:
    """Accept a :class:`PlotResult`, a :class:`~network_opt.results.tables.Solution` or a results folder."""
    if isinstance(result, PlotResult):
        if scenario is not None:
            result.scenario = scenario
        return result
    if isinstance(result, str | Path):
        return from_folder(result, scenario)
    if hasattr(result, "tables") and hasattr(result, "data"):
        if not result.tables:
            raise ResultsError(f"no plan to draw (status {getattr(result, 'status', '?')})")
        return from_solution(result, scenario)
    raise TypeError(f"cannot draw a {type(result).__name__}; pass a Solution, a PlotResult or a results folder")
