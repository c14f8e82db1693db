"""What the pages show of a results folder (as ``network-opt solve`` / ``compare`` / ``sweep`` wrote
it) and the map of an instance's sites.

Tables are read from the CSV files; money is in the instance's currency (discounted over the horizon
where the objective is), tonnes per year within a period, as in ``docs/getting-started.md``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from network_opt.common.outdir import RESULT_TABLES

#: Rows of a result table shown on a page (the rest is in results.xlsx and the CSV files).
MAX_ROWS = 300
#: Result tables the page shows, in order, with their headings.
SHOWN_TABLES = {"facilities": "Facilities", "targets": "Targets (shadow prices)", "compliance": "Cost of compliance",
                "costs": "Costs and revenues", "flows": "Flows", "collection": "Collection",
                "cascade": "Cascade (second life and returns)", "emissions": "Emissions",
                "materials": "Materials", "diagnosis": "Why it is infeasible", "aggregation": "Aggregation"}
#: Files of a results folder that may be downloaded (by name; nothing else is served).
RESULT_DOWNLOADS = frozenset({"results.xlsx", "network.gpkg", "summary.json",
                              *(f"{t}.csv" for t in RESULT_TABLES)})
#: Files of a comparison or sweep folder that may be downloaded.
RUNS_DOWNLOADS = frozenset({"comparison.csv", "facility_diff.csv", "objective.png", "costs.png", "capacity.png",
                            "sweep.csv", "sweep.png"})
#: Charts the job's worker draws for a solved plan (network_opt.app.worker.CHARTS).
JOB_CHARTS = ("costs.png", "capacity.png", "targets.png", "sankey.png")


@dataclass
class Table:
    """A table for a page: column names, rows of text, how many rows in all, which columns are numbers."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    total: int
    numeric: list[bool] = field(default_factory=list)


def fmt(v: Any) -> str:
    """A cell as text: numbers with thousands separators, whole units from 1,000 up (money in the
    billions keeps every unit, not 6 significant digits in scientific notation), else 6 significant
    digits; blanks empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float):
        x = float(v)
        if math.isnan(x):
            return ""
        if (x.is_integer() or abs(x) >= 1000) and abs(x) < 1e15:
            return f"{round(x):,}"
        return f"{x:,.6g}" if abs(x) >= 1e-4 else f"{x:.4g}"
    return str(v)


#: Columns holding years or ids written as numbers: shown as they are (2025, not 2,025).
PLAIN_COLUMNS = frozenset({"year", "level", "returns_in", "seed"})  # and every period column: _plain


def _plain(column: str) -> bool:
    """A column shown as it is: ids and years (``period``, ``from_period``, ``investment_period``,
    ``period_sold``, ...), not numbers to format with thousands separators ("2,025")."""
    return column in PLAIN_COLUMNS or column == "period" or column.endswith("_period") or column.startswith("period_")


def _number_text(v: Any) -> Any:
    """A cell of a table read as text (comparison.csv mixes statuses and numbers): numbers as floats."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def table(frame: pd.DataFrame, name: str, title: str, limit: int = MAX_ROWS) -> Table:
    """A frame as a :class:`Table` (at most ``limit`` rows); numbers formatted by :func:`fmt`, year
    columns (:data:`PLAIN_COLUMNS`) as they are."""
    shown = frame.head(limit)
    plain = [_plain(str(c)) for c in frame.columns]
    rows = [[str(v) if p and v is not None and v == v else fmt(_number_text(v))
             for v, p in zip(r, plain, strict=True)] for r in shown.itertuples(index=False, name=None)]
    numeric = [not p and len(shown) > 0
               and all(isinstance(_number_text(v), int | float) and not isinstance(v, bool) for v in shown[c])
               for c, p in zip(frame.columns, plain, strict=True)]
    return Table(name, title, [str(c) for c in frame.columns], rows, len(frame), numeric)


def read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError):
        return None


def summary(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def key_figures(folder: Path) -> list[tuple[str, str]]:
    """(label, value) pairs of a solved plan: status, net cost, bound, gap, cost terms and revenues
    over the horizon, facilities open and opened in the last period, targets met, emissions."""
    s = summary(folder)
    if not s:
        return []
    cur = str(s.get("currency") or "")
    out = [("status", str(s.get("status", ""))),
           ("net cost (objective)", f"{fmt(s.get('objective'))} {cur}" if s.get("objective") is not None else "-"),
           ("bound", f"{fmt(s.get('bound'))} {cur}" if s.get("bound") is not None else "-"),
           ("gap", "-" if s.get("mip_gap") is None else f"{float(s['mip_gap']):.2%}"),
           ("periods", ", ".join(str(p) for p in s.get("periods") or []))]
    if s.get("scenario"):
        out.insert(0, ("scenario", str(s["scenario"])))
    costs = read_csv(folder / "costs.csv")
    if costs is not None and len(costs) and {"term", "value"} <= set(costs.columns):
        by_term = costs.groupby("term", sort=False)["value"].sum()
        for term, v in by_term.items():  # revenues are negative costs in costs.csv: shown as income
            name = str(term)
            if abs(v) > 0 and name.endswith("_revenue"):
                out.append((f"revenue: {name.removesuffix('_revenue').replace('_', ' ')}", f"{fmt(-v)} {cur}"))
            elif abs(v) > 0:
                out.append((f"cost: {name.replace('_', ' ')}", f"{fmt(v)} {cur}"))
    fac = read_csv(folder / "facilities.csv")
    if fac is not None and len(fac) and "open" in fac:
        last = fac.loc[fac["period"] == fac["period"].max()]
        is_open = last["open"].astype(str).str.lower().isin(["true", "1", "1.0"])
        out.append((f"facilities open in {int(last['period'].max())}", f"{int(is_open.sum())} of {len(last)}"))
    tg = read_csv(folder / "targets.csv")
    if tg is not None and len(tg) and "met" in tg:
        met = tg["met"].astype(str).str.lower().isin(["true", "1", "1.0"])
        out.append(("targets met", f"{int(met.sum())} of {len(tg)}"))
    em = read_csv(folder / "emissions.csv")
    if em is not None and len(em):
        col = next((c for c in em.columns if "co2e" in c.lower() and pd.api.types.is_numeric_dtype(em[c])), None)
        if col is not None:
            out.append((f"emissions ({col}, summed over periods)", fmt(float(em[col].sum()))))
    return out


def result_tables(folder: Path) -> list[Table]:
    """The result tables present in a results folder, in :data:`SHOWN_TABLES` order."""
    out = []
    for name, title in SHOWN_TABLES.items():
        frame = read_csv(folder / f"{name}.csv")
        if frame is not None:
            out.append(table(frame, name, title))
    return out


def _written_runs(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """The runs of a compare or sweep folder written so far, as (name, summary): what there is to
    show when the job was stopped before it wrote its table."""
    return [(name, summary(folder / name)) for name in run_folders(folder)]


def comparison(folder: Path) -> tuple[Table | None, Table | None]:
    """``comparison.csv`` (key figures by scenario) and ``facility_diff.csv`` of a comparison; for a
    comparison stopped before it wrote them, the key figures of the scenarios written so far."""
    comp = read_csv(folder / "comparison.csv")
    diff = read_csv(folder / "facility_diff.csv")
    title = "Key figures by scenario"
    if comp is None and (runs := _written_runs(folder)):
        figures = {name: {"status": s.get("status"), "objective": s.get("objective"), **(s.get("kpis") or {})}
                   for name, s in runs}
        comp = pd.DataFrame(figures).rename_axis("kpi").reset_index()
        title += f" (stopped: the {len(runs)} scenario(s) written before it; no comparison.csv)"
    return (table(comp, "comparison", title, limit=1000) if comp is not None else None,
            table(diff, "facility_diff", "Facilities that differ from the reference", limit=1000)
            if diff is not None else None)


def sweep_table(folder: Path) -> Table | None:
    """``sweep.csv``; for a sweep stopped before it wrote it, the points written so far (their
    inputs, status, objective and key figures, from each point's summary.json)."""
    frame = read_csv(folder / "sweep.csv")
    title = "Points of the sweep"
    if frame is None and (runs := _written_runs(folder)):
        frame = pd.DataFrame([{"point": name, **(s.get("inputs") or {}), "status": s.get("status"),
                               "objective": s.get("objective"), **(s.get("kpis") or {})} for name, s in runs])
        title += f" (stopped: the {len(runs)} point(s) written before it; no sweep.csv)"
    return table(frame, "sweep", title, limit=1000) if frame is not None else None


def run_folders(folder: Path) -> list[str]:
    """Scenario (or point) folders of a comparison or sweep that hold a summary."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / "summary.json").is_file())


def instance_map(inst: Any) -> str:
    """The interactive offline map (:func:`network_opt.plotting.interactive.html_map`) of an instance
    before any solve: collection points sized by their supply, existing facilities drawn open at
    the capacity of their largest level, candidates hollow, markets; one view per period."""
    from network_opt.plotting.interactive import html_map
    from network_opt.results.read import PlotResult, nodes_from_instance

    years = list(inst.years)
    fac, levels = inst["facilities"], inst["facility_levels"]
    cap = levels.groupby("facility")["capacity_t"].max() if len(levels) else pd.Series(dtype=float)
    rows = []
    for year in years:
        for r in fac.itertuples(index=False):
            existing = str(r.status) == "existing"
            rows.append({"facility": r.id, "period": year, "open": existing,
                         "capacity_t": float(cap.get(r.id, 0.0)) if existing else 0.0, "throughput_t": 0.0,
                         "utilisation": 0.0, "level": "", "investment": 0.0})
    supply = inst["supply"]
    col = (supply.groupby(["site", "period"], as_index=False)["tonnes"].sum()
           .rename(columns={"tonnes": "supply_t"}).assign(shipped_t=0.0))
    res = PlotResult(name=inst.name, scenario="instance", currency=inst.settings.currency, years=years,
                     nodes=nodes_from_instance(inst),
                     tables={"facilities": pd.DataFrame(rows), "collection": col,
                             "flows": pd.DataFrame(columns=["origin", "destination", "commodity", "chemistry",
                                                            "grade", "period", "tonnes", "distance_km", "cost"])})
    return html_map(res, title=f"{inst.name}: sites before solving (existing facilities at their largest level, "
                    "candidates hollow; no flows yet)")
