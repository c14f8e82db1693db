"""Sweeps: solve an instance over a grid of parameter values (``--vary``) or over random draws
from the distributions declared under ``uncertainty:`` (``--samples``), and tabulate what each
point costs.

``--vary KEY=START:STOP:STEPS`` sets the parameter KEY (see :mod:`network_opt.inputs.overrides`) to
STEPS evenly spaced values from START to STOP; ``KEY*=START:STOP:STEPS`` multiplies it by those
factors instead; ``KEY=V1,V2,...`` lists the values. Several ``--vary`` make a full grid.

Written into ``DIR``: ``DIR/<point>/`` (each point's results, as it finishes; points are
``p0001``... for a grid, ``s0001``... for samples), ``sweep.csv`` (one row per point: inputs,
status, objective, the shadow price of each swept target, key figures, error) and
``sweep.png`` (objective and shadow price against the first swept parameter, or the
distributions of key figures over the samples).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from network_opt.common.errors import InputError, PrecheckError, Problem
from network_opt.common.files import kpi_order, remove_stale, save_figure, write_csv
from network_opt.inputs.instance import Instance
from network_opt.inputs.load import load_for_scenarios
from network_opt.inputs.overrides import Origin, Override, apply_overrides, parse_key
from network_opt.inputs.scenarios import BASE, INFEASIBLE, INVALID, check_scenario, read_scenarios, resolve
from network_opt.inputs.uncertainty import Uncertain, read_uncertainty
from network_opt.results.kpis import zero_absent_quantities
from network_opt.runs.executors import (
    RunSpec,
    check_executor_args,
    check_run_folders,
    explain_unsolved,
    files_digest,
    input_hash,
    make_executor,
    results_frame,
    run_batch,
)
from network_opt.solver.options import SolveOptions
from network_opt.solver.status import PLAN_STATUSES, has_plan

AGGREGATES = ("sweep.csv", "sweep.png")
MAX_POINTS = 100_000
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*:\s*(\d+)\s*$")


@dataclass(frozen=True)
class Vary:
    """A swept parameter: ``column`` (its name in sweep.csv: the key, with ``*`` for a factor),
    the override operation (set or scale), the key and its values."""

    column: str
    op: str
    key: str
    values: tuple[float, ...]


@dataclass
class SweepResult:
    """What :func:`sweep` wrote: the folder, one row per point, one row per run, the chart."""

    out: Path
    table: pd.DataFrame
    runs: pd.DataFrame
    chart: Path | None


def _vary_error(text: str, message: str) -> InputError:
    return InputError([Problem("--vary", 0, text, message)])


def parse_vary(text: str) -> Vary:
    """Parse ``KEY=START:STOP:STEPS``, ``KEY*=START:STOP:STEPS`` or ``KEY=V1,V2,...``; raise
    :class:`InputError` when malformed or when KEY names no parameter."""
    left, sep, right = text.rpartition("=")
    if not sep or not left.strip() or not right.strip():
        raise _vary_error(text, "expected KEY=START:STOP:STEPS (or KEY*=... to scale, or KEY=V1,V2,...)")
    op = "scale" if left.endswith("*") else "set"
    key = left[:-1].strip() if op == "scale" else left.strip()
    m = _RANGE.match(right)
    if m:
        start, stop, steps = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if steps < 1 or (steps == 1 and start != stop):
            raise _vary_error(text, f"STEPS is the number of values from START to STOP: at least 2 (or 1 when "
                              f"START = STOP), got {steps}")
        values = tuple(float(v) for v in np.linspace(start, stop, steps))
    elif ":" not in right:
        try:
            values = tuple(float(v) for v in right.split(","))
        except ValueError:
            raise _vary_error(text, f"expected numbers separated by commas, got {right!r}") from None
    else:
        raise _vary_error(text, f"expected START:STOP:STEPS with numbers and a whole STEPS, got {right!r}")
    if not all(math.isfinite(v) for v in values):
        raise _vary_error(text, "values must be finite numbers")
    key_obj = parse_key(key, Origin("--vary", 0, text))
    if key_obj.is_setting is False and key_obj.column is None:
        raise _vary_error(text, f"{key!r} names rows, not a parameter: add .COLUMN")
    return Vary(f"{key}*" if op == "scale" else key, op, key, values)


def draw(uncertain: list[Uncertain], samples: int, seed: int) -> pd.DataFrame:
    """``samples`` draws (rows) of every uncertain parameter (columns, in declared order), with
    numpy's default generator seeded by ``seed``: the same seed gives the same draws."""
    rng = np.random.default_rng(seed)
    cols = {}
    for u in uncertain:
        if u.distribution == "normal":
            v = rng.normal(u.params[0], u.params[1], samples)
        elif u.distribution == "uniform":
            v = rng.uniform(u.params[0], u.params[1], samples)
        else:
            v = rng.triangular(u.params[0], u.params[1], u.params[2], samples) if u.params[0] < u.params[2] \
                else np.full(samples, u.params[0])
        cols[u.name] = np.clip(v, -np.inf if u.low is None else u.low, np.inf if u.high is None else u.high)
    return pd.DataFrame(cols)


def sweep(instance: str | Path | Instance, out: str | Path, vary: list[str] | tuple[str, ...] = (),
          samples: int | None = None, seed: int = 0, scenario: str | None = None, *, workers: int = 1,
          executor: str = "local", scheduler: str | None = None, options: SolveOptions | None = None,
          soft_targets: bool | None = None, progress: bool = False, dask_processes: bool = True) -> SweepResult:
    """Solve an instance (or one of its scenarios) at every point of a grid (``vary``) or at
    ``samples`` random draws of its ``uncertainty:`` block; write the points, ``sweep.csv`` and
    ``sweep.png`` into ``out``. Points already solved there for the same inputs are skipped.
    Raises :class:`InputError` or :class:`~network_opt.runs.executors.ExecutorError` before writing."""
    check_executor_args(executor, workers, scheduler)
    if bool(vary) == bool(samples):
        raise InputError([Problem("sweep", 0, "--vary/--samples", "give --vary (a grid) or --samples N (random "
                                  "draws from instance.yaml's uncertainty: block), not both or neither")])
    for text in vary:  # malformed expressions fail before the instance is even read
        parse_vary(text)
    inst = load_for_scenarios(instance)
    options = options or SolveOptions()
    base = scenario or BASE
    read_scenarios(inst)  # the whole block is well formed (as for compare)
    checked = check_scenario(inst, base)
    if checked.status == INVALID:
        raise InputError(list(checked.problems))
    base_overrides = tuple(resolve(inst, base))
    # the scenario's overrides are applied once (check_scenario): each point applies only its own
    # to that copy, which is the instance of the batch
    scenario_inst = checked.instance
    assert scenario_inst is not None  # given unless the status is invalid
    # a base that fails the feasibility pre-check can still have points that pass (e.g. less supply)
    precheck = checked.status == INFEASIBLE
    ends: dict[float, Instance] = {}  # a one-key grid: the ends checked, solved as they are
    points, derivative_keys, precheck_failed = (_grid(scenario_inst, (), list(vary), ends) if vary
                                                else (*_samples(scenario_inst, (), int(samples or 0), seed), True))
    precheck = precheck or precheck_failed
    specs = []
    digest = files_digest(inst)
    for name, inputs, overrides in points:
        all_overrides = base_overrides + overrides
        key = input_hash(inst, all_overrides, options, soft_targets, digest)
        # a grid was checked at the ends of each range beforehand; random draws were not, and where
        # the feasibility pre-check failed somewhere, each point is checked (failing: status infeasible)
        ready = ends.get(next(iter(inputs.values()))) if len(inputs) == 1 else None
        specs.append(RunSpec(name, overrides, options, key, soft_targets, label=f"point {name}", inputs=inputs,
                             derivative_keys=derivative_keys, check=precheck, instance=ready))
    out = Path(out)
    check_run_folders(out, specs, inst)
    with make_executor(executor, workers, scheduler, processes=dask_processes) as ex:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale(out / name for name in AGGREGATES)
        results = run_batch(scenario_inst, specs, out, ex, progress=progress, description="points")
    explain_unsolved(results)
    rows = []
    figures = [{k: v for k, v in r.kpis.items() if k not in ("status", "objective")} for r in results]
    zero_absent_quantities(figures, [has_plan(r.status) for r in results])
    for spec, r, kpis in zip(specs, results, figures, strict=True):
        row: dict[str, Any] = {"point": spec.name, **spec.inputs, "status": r.status, "objective": r.objective}
        row.update({k: kpis.pop(k) for k in [k for k in kpis if k.startswith("shadow_price[")]})
        row.update(kpis)
        row["error"] = r.error or ""
        rows.append(row)
    table = pd.DataFrame(rows)
    swept = list(points[0][1].keys()) if points else []
    lead = ["point", *swept, "status", "objective"] if points else []
    if vary:  # beside each swept key's shadow price, the cost of each step of that key
        for column, values in incremental_costs(table, swept).items():
            table[column] = values
            price = f"shadow_price[{column.removeprefix('incremental_cost[')[:-1]}]"
            lead += [c for c in (price, column) if c in table.columns]
    lead += [c for c in table.columns if c.startswith("shadow_price[") and c not in lead]
    rest = [c for c in table.columns if c not in lead and c != "error"]
    table = table[[*lead, *kpi_order(rest), "error"]]
    write_csv(table, out / "sweep.csv")
    chart = sweep_chart(table, [*points[0][1].keys()], out, inst.settings.currency, bool(vary))
    return SweepResult(out, table, results_frame(results), chart)


def incremental_costs(table: pd.DataFrame, inputs: list[str]) -> dict[str, pd.Series]:
    """``incremental_cost[KEY]`` for each swept column KEY of a grid: (objective - objective at
    the next lower value of KEY, the other keys equal) / (the difference of the values), in
    currency per unit of KEY; NaN at the lowest value and where either point has no plan. Unlike
    a shadow price (an LP dual at one point's network), it includes the integer steps between
    the points: facilities opened, levels or modules added."""
    ok = table["status"].isin(PLAN_STATUSES)
    objective = pd.to_numeric(table["objective"], errors="coerce").where(ok)
    out = {}
    for key in inputs:
        others = [c for c in inputs if c != key]
        step = pd.Series(np.nan, index=table.index, dtype=float)
        groups = table.groupby(others, dropna=False) if others else [((), table)]
        for _, g in groups:
            order = g[key].astype(float).sort_values(kind="stable").index
            dv = table.loc[order, key].astype(float).diff()
            dz = objective.loc[order].diff()
            step.loc[order] = (dz / dv).where(dv.abs() > 0)
        out[f"incremental_cost[{key}]"] = step
    return out


def _grid(inst: Instance, base: tuple[Override, ...], vary: list[str], ends: dict[float, Instance] | None = None
          ) -> tuple[list[tuple[str, dict[str, float], tuple[Override, ...]]], tuple[str, ...], bool]:
    """The points of the grid, the target-value keys whose derivative to report, and whether
    the feasibility pre-check failed at an end of a range (then every point is checked). With one
    key varied, ``ends`` receives the instance checked at each end that passed (value -> instance)."""
    parsed = [parse_vary(v) for v in vary]
    columns = [v.column for v in parsed]
    if len(set(columns)) != len(columns):
        raise _vary_error(vary[0], "the same parameter is varied twice")
    size = math.prod(len(v.values) for v in parsed)
    if size > MAX_POINTS:
        raise _vary_error(" ".join(vary), f"{size} points; at most {MAX_POINTS}")
    # every value range is checked against the instance at its ends before anything is solved;
    # an end that is well formed but fails the feasibility pre-check is a point reported infeasible
    precheck_failed = False
    for v, text in zip(parsed, vary, strict=True):
        for value in {min(v.values), max(v.values)}:
            try:
                end = apply_overrides(inst, [*base, Override(v.op, v.key, value, Origin("--vary", 0, text))],
                                      label=f"--vary {text} at {value:g}")
                if ends is not None and len(parsed) == 1:
                    ends[value] = end
            except PrecheckError:
                precheck_failed = True
            except InputError as exc:
                raise InputError([Problem("--vary", 0, text, p.message) if p.file == "--vary" else p
                                  for p in exc.problems]) from None
    points = []
    for n, combo in enumerate(itertools.product(*(v.values for v in parsed)), start=1):
        overrides = tuple(Override(v.op, v.key, value, Origin("--vary", 0, v.column))
                          for v, value in zip(parsed, combo, strict=True))
        points.append((f"p{n:04d}", {v.column: value for v, value in zip(parsed, combo, strict=True)}, overrides))
    derivative = tuple(v.key for v in parsed if v.op == "set" and parse_key(v.key, Origin("", 0, "")).table == "targets"
                       and v.key.endswith(".value"))
    return points, derivative, precheck_failed


def _samples(inst: Instance, base: tuple[Override, ...], samples: int,
             seed: int) -> tuple[list[tuple[str, dict[str, float], tuple[Override, ...]]], tuple[str, ...]]:
    if samples < 1 or samples > MAX_POINTS:
        raise InputError([Problem("sweep", 0, "--samples", f"expected 1 to {MAX_POINTS} samples, got {samples}")])
    uncertain = read_uncertainty(inst)
    if not uncertain:
        raise InputError([Problem(inst.manifest.path.name, 0, "uncertainty", "--samples needs distributions "
                                  "declared under uncertainty: in instance.yaml (see docs/scenarios.md)")])
    for u in uncertain:  # the keys must name something in this instance
        centre = u.params[0] if u.distribution == "normal" else (u.params[0] + u.params[-1]) / 2
        centre = min(max(centre, u.low if u.low is not None else centre), u.high if u.high is not None else centre)
        apply_overrides(inst, [*base, Override(u.op, u.key, centre, Origin(inst.manifest.path.name, u.line,
                                                                           f"uncertainty.{u.name}"))], check=False)
    draws = draw(uncertain, samples, seed)
    points = []
    for n, row in enumerate(draws.itertuples(index=False), start=1):
        values = {u.name: float(v) for u, v in zip(uncertain, row, strict=True)}
        overrides = tuple(Override(u.op, u.key, values[u.name], Origin(inst.manifest.path.name, u.line,
                                                                       f"uncertainty.{u.name}"))
                          for u in uncertain)
        points.append((f"s{n:04d}", values, overrides))
    return points, ()


def sweep_chart(table: pd.DataFrame, inputs: list[str], out: Path, currency: str, grid: bool) -> Path | None:
    """``sweep.png``: for a grid, the objective (and the shadow price of a swept target) against
    the first swept parameter, one line per value of the others; for samples, histograms of the
    objective and key figures."""
    from matplotlib.figure import Figure  # here: scenario workers import this module, not matplotlib

    if table.empty:
        return None
    ok = table["status"].isin(PLAN_STATUSES)
    fig = Figure(figsize=(7.5, 4.5) if grid else (9, 6), layout="constrained")
    if grid:
        x = inputs[0]
        ax = fig.add_subplot()
        others = inputs[1:]
        groups = table.groupby(others) if others else [((), table)]
        key: Any  # a tuple of the others' values (pandas-stubs: tuple[Hashable, ...])
        for key, g in groups:
            g = g.sort_values(x)
            gok = g["status"].isin(PLAN_STATUSES)
            label = ", ".join(f"{o}={v:g}" for o, v in zip(others, np.atleast_1d(key), strict=True)) or "objective"
            ax.plot(g.loc[gok, x], g.loc[gok, "objective"].astype(float), "o-", label=label)
        bad = table.loc[~ok]
        if len(bad):
            ax.plot(bad[x], np.full(len(bad), np.nan if not ok.any() else table.loc[ok, "objective"].min()), "x",
                    color="#aa3333", label="no plan (" + ", ".join(sorted(set(bad["status"]))) + ")")
        ax.set_xlabel(x)
        ax.set_ylabel(f"objective ({currency}, discounted)")
        prices = [c for c in table.columns if c.startswith("shadow_price[")]
        if prices and not others:
            ax2 = ax.twinx()
            ax2.plot(table.loc[ok, x], table.loc[ok, prices[0]].astype(float), "s--", color="#ee6677",
                     label="shadow price")
            step = f"incremental_cost[{x}]"
            if step in table.columns:  # the cost of each step, integer changes included, drawn over it
                g = table.sort_values(x)
                ax2.step(g[x], g[step].astype(float), where="pre", color="#228833", linewidth=1.2,
                         label="incremental cost")
            ax2.set_ylabel(f"shadow price, incremental cost ({currency} per unit)", color="#ee6677")
        ax.set_title("Cost of compliance" if prices else "Objective over the sweep")
        # one legend below the plot, so that no point (a "no plan" mark at an end) hides behind it
        handles, labels = [], []
        for a in fig.axes:
            h, lab = a.get_legend_handles_labels()
            handles += h
            labels += lab
        fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncols=min(4, len(labels)), frameon=False)
    else:
        wanted = ["objective", "tonnes:second_life_sold", "tonnes:to_recycling", "emissions_t",
                  "facilities:opened", "cost:fixed"]
        cols = [c for c in wanted if c in table.columns and table.loc[ok, c].astype(float).nunique() > 1][:4]
        cols = cols or ["objective"]
        for i, c in enumerate(cols, start=1):
            ax = fig.add_subplot(2, 2, i)
            ax.hist(table.loc[ok, c].astype(float), bins=min(30, max(5, int(ok.sum() ** 0.5) + 1)), color="#4477aa")
            ax.set_title(c, fontsize=9)
        fig.suptitle(f"{int(ok.sum())} of {len(table)} samples with a plan")
    return save_figure(fig, out / "sweep.png", dpi=110)
