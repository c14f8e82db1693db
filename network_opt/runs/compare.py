"""Comparing scenarios side by side: solve the base and each scenario, then write
``comparison.csv`` (key figures x scenarios), ``facility_diff.csv`` (which facilities differ
from the reference scenario, and how) and PNG charts.

Written into ``DIR``: ``DIR/<scenario>/`` (each scenario's results, written as it finishes),
``comparison.csv``, ``facility_diff.csv``, ``objective.png``, ``costs.png``, ``capacity.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from network_opt.common.errors import InputError, Problem
from network_opt.common.files import kpi_order, remove_stale, save_figure, write_csv
from network_opt.inputs.instance import Instance
from network_opt.inputs.load import load_for_scenarios
from network_opt.inputs.scenarios import BASE, VALID, check_scenario, read_scenarios, resolve
from network_opt.results.kpis import kpi_unit, zero_absent_quantities
from network_opt.runs.executors import (
    RunResult,
    RunSpec,
    check_executor_args,
    check_run_folders,
    drop_stale,
    explain_unsolved,
    files_digest,
    input_hash,
    make_executor,
    results_frame,
    run_batch,
)
from network_opt.solver.options import SolveOptions
from network_opt.solver.status import has_plan

AGGREGATES = ("comparison.csv", "facility_diff.csv", "objective.png", "costs.png", "capacity.png")
DIFF_COLUMNS = ["facility", "site", "kind", "period", "scenario", "reference", "reference_state", "state", "change"]


@dataclass
class Comparison:
    """What :func:`compare` wrote: the folder, the key figures (rows) by scenario (columns, after
    ``unit``), the facility differences, one row per run (status, objective, seconds, skipped,
    error), and the chart files."""

    out: Path
    table: pd.DataFrame
    facility_diff: pd.DataFrame
    runs: pd.DataFrame
    charts: list[Path] = field(default_factory=list)


def select_scenarios(inst: Instance, names: list[str] | None) -> list[str]:
    """The scenarios to run: ``names`` (checked) or the base and every declared scenario. Raises
    :class:`InputError` for an unknown name or a scenarios block that is malformed (unknown keys,
    an unknown ``extends``, a cycle: see :func:`network_opt.inputs.scenarios.read_scenarios`)."""
    declared = read_scenarios(inst)
    if not names:
        return [BASE, *declared]
    known = [BASE, *declared]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError([Problem(inst.manifest.path.name, inst.manifest.lines.get("scenarios", 0),
                                  "scenarios", f"unknown scenario {n!r}; expected one of {', '.join(known)}")
                          for n in unknown])
    return list(dict.fromkeys(names))


def compare(instance: str | Path | Instance, out: str | Path, scenarios: list[str] | None = None, *,
            workers: int = 1, executor: str = "local", scheduler: str | None = None,
            options: SolveOptions | None = None, soft_targets: bool | None = None, progress: bool = False,
            dask_processes: bool = True) -> Comparison:
    """Solve ``scenarios`` (default: base and every declared scenario) of an instance and write
    the comparison into ``out``; scenarios already solved there for the same inputs are not
    solved again. Each scenario is applied and checked first
    (:func:`network_opt.inputs.scenarios.check_scenario`): one whose overrides miss or leave invalid
    input (status ``invalid``) or that fails the feasibility pre-check (``infeasible``) is not
    solved and is reported in its column of the table, with the reason in its ``error`` row;
    the others still run. Raises :class:`InputError` (unknown scenario, a malformed scenarios
    block or cycle, an invalid base instance) or :class:`~network_opt.runs.executors.ExecutorError` before
    writing anything."""
    check_executor_args(executor, workers, scheduler)
    inst = load_for_scenarios(instance)
    options = options or SolveOptions()
    names = select_scenarios(inst, scenarios)
    specs, unsolved = [], {}
    digest = files_digest(inst)
    declared = read_scenarios(inst)
    for name in names:
        # each scenario's overrides are applied once, here: the run solves the checked copy (with
        # the lanes its pre-check built, or the base's when the scenario leaves them as they are)
        checked = check_scenario(inst, name, declared)
        overrides = tuple(resolve(inst, name, declared))
        key = input_hash(inst, overrides, options, soft_targets, digest)
        if checked.status != VALID:
            unsolved[name] = (key, RunResult(name, checked.status, error=checked.message))
            continue
        specs.append(RunSpec(name, overrides, options, key, soft_targets, label=f"scenario {name}",
                             check=False, instance=checked.instance))
    out = Path(out)
    check_run_folders(out, specs, inst)
    with make_executor(executor, workers, scheduler, processes=dask_processes) as ex:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale(out / name for name in AGGREGATES)
        for name, (key, _) in unsolved.items():
            drop_stale(out / name, key)  # an earlier plan under this name came from other inputs
        solved = {r.name: r for r in run_batch(inst, specs, out, ex, progress=progress, description="scenarios",
                                               keep=("facilities",))}
    results = [solved[n] if n in solved else unsolved[n][1] for n in names]
    where = str(instance) if not isinstance(instance, Instance) else "INSTANCE"
    explain_unsolved(results, f"network-opt diagnose {where} --scenario {{name}}")
    currency = inst.settings.currency
    table = comparison_table(results, currency)
    diff = facility_diff(out, results)
    write_csv(table.reset_index(), out / "comparison.csv")
    write_csv(diff, out / "facility_diff.csv")
    charts = comparison_charts(table, out, currency)
    return Comparison(out, table, diff, results_frame(results), charts)


def comparison_table(results: list[RunResult], currency: str) -> pd.DataFrame:
    """Key figures (index ``kpi``) by scenario, with a ``unit`` column first."""
    columns = {}
    for r in results:
        k = r.kpis
        k["status"] = r.status
        if r.error:
            k["error"] = r.error
        columns[r.name] = k
    zero_absent_quantities(list(columns.values()), [has_plan(r.status) for r in results])
    names = kpi_order(n for k in columns.values() for n in k)
    table = pd.DataFrame({name: [k.get(n) for n in names] for name, k in columns.items()}, index=names, dtype=object)
    table.insert(0, "unit", [kpi_unit(n, currency) for n in names])
    table.index.name = "kpi"
    return table


def _state(row: pd.Series | None) -> str:
    if row is None:
        return "absent"
    if not bool(row["open"]):
        return "closed"
    modules = f" + {int(row['modules'])} modules" if row.get("modules", 0) else ""
    return f"open {row['level']}{modules} ({float(row['capacity_t']):g} t/yr)"


def _change(ref: pd.Series | None, now: pd.Series | None) -> str:
    if ref is None:
        return "added" if now is not None and bool(now["open"]) else "added, not opened"
    if now is None:
        return "removed"
    if bool(ref["open"]) != bool(now["open"]):
        return "opened" if bool(now["open"]) else "not opened"
    if float(now["capacity_t"]) > float(ref["capacity_t"]) + 1e-9:
        return "larger"
    if float(now["capacity_t"]) < float(ref["capacity_t"]) - 1e-9:
        return "smaller"
    return "same capacity, other level" if str(now["level"]) != str(ref["level"]) else ""


def facility_diff(out: Path, results: list[RunResult]) -> pd.DataFrame:
    """Facilities (per period) whose state in a scenario differs from the reference scenario
    (``base`` if it was run with a plan, else the first scenario with a plan). The facilities
    table of a run solved now is the one kept in memory; that of a run skipped (solved before,
    same inputs) is read from its folder."""
    plans = {}
    for r in results:
        path = out / r.name / "facilities.csv"
        if not has_plan(r.status):
            continue
        if r.tables and "facilities" in r.tables:
            plans[r.name] = r.tables["facilities"]
        elif path.is_file():
            plans[r.name] = pd.read_csv(path, keep_default_na=False, dtype={"level": str})
    if not plans:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    reference = BASE if BASE in plans else next(iter(plans))
    ref = plans[reference].set_index(["facility", "period"])
    rows = []
    for name, plan in plans.items():
        if name == reference:
            continue
        now = plan.set_index(["facility", "period"])
        for key in ref.index.union(now.index):
            a = ref.loc[key] if key in ref.index else None
            b = now.loc[key] if key in now.index else None
            change = _change(a, b)
            if not change:
                continue
            info = a if a is not None else b
            assert info is not None
            rows.append([key[0], info["site"], info["kind"], key[1], name, reference, _state(a), _state(b), change])
    return pd.DataFrame(rows, columns=DIFF_COLUMNS)


def _scenario_axis(ax: Any, names: list[str], ok: list[str], status: Any) -> None:
    """Scenario names on the x axis, a zero line, and the status of each run without a plan."""
    for i, s in enumerate(names):
        if s not in ok:
            ax.annotate(str(status[s]), (i, 0), ha="center", va="bottom", fontsize=8, color="#aa3333")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")


def _numbers(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    rows = [i for i in table.index if i.startswith(prefix)]
    return table.loc[rows].drop(columns="unit").apply(pd.to_numeric, errors="coerce")


def comparison_charts(table: pd.DataFrame, out: Path, currency: str) -> list[Path]:
    """``objective.png``, ``costs.png`` (cost terms up, revenues down) and ``capacity.png``
    (capacity by facility kind in the last period), over the scenarios with a plan."""
    status = table.loc["status"].drop("unit")
    ok = [s for s in status.index if has_plan(status[s])]
    paths = []
    names = list(status.index)
    x = np.arange(len(names))

    fig = Figure(figsize=(max(5.0, 1.1 * len(names) + 2), 4))
    ax = fig.add_subplot()
    # cast: one row label gives a Series
    obj = pd.to_numeric(cast(pd.Series, table.loc["objective"]).drop("unit"), errors="coerce")
    ax.bar(x, obj.reindex(names).fillna(0.0).to_numpy(), color=["#4477aa" if s in ok else "#dddddd" for s in names])
    _scenario_axis(ax, names, ok, status)
    ax.set_ylabel(f"net cost ({currency}, discounted)")
    ax.set_title("Objective by scenario")
    paths.append(save_figure(fig, out / "objective.png", dpi=110))

    fig = Figure(figsize=(max(6.0, 1.1 * len(names) + 3), 4.5))
    ax = fig.add_subplot()
    costs = _numbers(table, "cost:").reindex(columns=names).fillna(0.0)
    revenue = -_numbers(table, "revenue:").reindex(columns=names).fillna(0.0)
    colors = iter(["#4477aa", "#66ccee", "#228833", "#ccbb44", "#ee6677", "#aa3377", "#bbbbbb", "#332288",
                   "#117733", "#999933", "#882255", "#44aa99"])
    for frame in (costs, revenue):
        bottom = np.zeros(len(names))
        for term, values in frame.iterrows():
            v = values.to_numpy(dtype=float)
            if not np.any(np.abs(v) > 0):
                continue
            ax.bar(x, v, bottom=bottom, label=str(term), color=next(colors, None))
            bottom = bottom + v
    ax.plot(x, obj.reindex(names).to_numpy(dtype=float), "k_", markersize=22, markeredgewidth=2, label="objective")
    _scenario_axis(ax, names, ok, status)
    ax.set_ylabel(f"{currency} (discounted)")
    ax.set_title("Costs (up) and revenues (down) by scenario")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    paths.append(save_figure(fig, out / "costs.png", dpi=110))

    fig = Figure(figsize=(max(5.0, 1.1 * len(names) + 3), 4))
    ax = fig.add_subplot()
    cap = _numbers(table, "capacity_t:").reindex(columns=names).fillna(0.0)
    by_kind = cap.groupby([i.split(":")[1] for i in cap.index]).sum() if len(cap) else cap
    width = 0.8 / max(1, len(by_kind))
    for n, (kind, values) in enumerate(by_kind.iterrows()):
        ax.bar(x + (n - (len(by_kind) - 1) / 2) * width, values.to_numpy(dtype=float), width, label=str(kind))
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("capacity in the last period (t/yr)")
    ax.set_title("Capacity by facility kind")
    if len(by_kind):
        ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "capacity.png", dpi=110))
    return paths
