"""The Python API the CLI and notebooks share: load -> prepare -> build -> solve -> extract."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyomo.environ as pyo

from network_opt.compliance import cost_of_compliance, shadow_prices
from network_opt.handoff import HighsModel, TriviallyInfeasible
from network_opt.instance import Instance, load
from network_opt.model import build_model, prepare
from network_opt.network import lane_count_by_commodity
from network_opt.progress import Progress
from network_opt.resolve import ResolveSession
from network_opt.results import Solution, extract, target_measures
from network_opt.solve import SolveOptions, SolveOutcome, solve_model, trivially_infeasible


def model_size(m: pyo.ConcreteModel) -> dict[str, int]:
    """Variables, binaries and constraints of a built Pyomo model (nonzeros come from HiGHS)."""
    variables = binaries = integers = constraints = 0
    for v in m.component_data_objects(pyo.Var, active=True):
        variables += 1
        binaries += int(v.is_binary())
        integers += int(v.is_integer() and not v.is_binary())
    for _ in m.component_data_objects(pyo.Constraint, active=True):
        constraints += 1
    return {"variables": variables, "binaries": binaries, "integers": integers, "constraints": constraints}


def _handoff_and_solve(m: pyo.ConcreteModel, options: SolveOptions, progress: Progress,
                       session: ResolveSession | None) -> tuple[SolveOutcome, bool, float]:
    """Hand ``m`` to HiGHS (through ``session`` if given) and solve it; return the outcome,
    whether the session's model was updated in place, and the clock when the handoff ended."""
    try:
        if session is None:
            hm, in_place = HighsModel(m), False
        else:
            hm, in_place = session.handoff(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc), False, time.perf_counter()
    handed = time.perf_counter()
    start = session.start() if session is not None and in_place and options.warm_start else None
    progress.phase("solving with HiGHS" + (", starting from the previous plan" if start is not None else ""))
    outcome = solve_model(m, options, solver=hm, progress=progress, start=start)
    if session is not None and outcome.has_plan:
        session.record(hm)  # before shadow prices and compliance re-run HiGHS on the model
    return outcome, in_place, handed


def solve(instance: str | Path | Instance, options: SolveOptions | None = None, *,
          soft_targets: bool | None = None, compliance: bool = False, progress: Progress | None = None,
          aggregate: int | None = None, session: ResolveSession | None = None) -> Solution:
    """Load (if a path is given), build and solve an instance; return its :class:`Solution`.

    ``soft_targets`` overrides the instance's ``targets.soft``; ``compliance`` also re-solves
    without each target family (table ``compliance``). Shadow prices of targets are computed
    whenever a plan is found. ``progress`` reports phases and the solver's figures.
    ``aggregate``: solve with the collection points clustered into at most this many clusters
    (:func:`network_opt.aggregate.aggregate`); the plan's ``flows`` and ``collection`` are split
    back onto the points, table ``aggregation`` holds the membership and ``summary["aggregation"]``
    the error bound (the objective stays the aggregated model's). ``session``: a
    :class:`~network_opt.resolve.ResolveSession` whose HiGHS model (of an earlier solve in this
    process) is updated in place when the new model has the same structure, the MIP then starting
    from the session's last plan; ``summary["resolve"]`` tells whether that happened (runs with
    ``aggregate`` do not use the session). Raises
    :class:`~network_opt.errors.InputError` on invalid input;
    the solution's ``status`` tells whether a plan was found (its tables are empty if not).
    """
    options = options or SolveOptions()
    progress = progress or Progress("quiet")
    t0 = time.perf_counter()
    progress.phase("loading and validating the instance")
    inst = instance if isinstance(instance, Instance) else load(instance)
    if soft_targets is not None:
        inst.manifest.settings["targets.soft"] = bool(soft_targets)
    agg = None
    if aggregate is not None:
        from network_opt.aggregate import aggregate as cluster_points

        progress.phase(f"aggregating the collection points into at most {aggregate:,} clusters")
        inst, agg = cluster_points(inst, aggregate)
    t1 = time.perf_counter()
    progress.phase("preparing lanes and coefficients")
    data = prepare(inst)
    progress.phase(f"building the model: {len(data.flows):,} flows, {len(data.levels) * len(data.years):,} "
                   f"level choices, {len(data.targets):,} targets in force")
    m = build_model(data)
    t2 = time.perf_counter()
    reuse = session if agg is None else None
    try:
        outcome, in_place, t3 = _handoff_and_solve(m, options, progress, reuse)
        t4 = time.perf_counter()
        progress.phase(f"solver finished: {outcome.status}")
        tables = {}
        if outcome.has_plan:
            tables = extract(m, data)
            if len(data.targets):
                x = np.array([m.flow[i].value or 0.0 for i in range(len(data.flows))])
                unc = (np.array([m.uncollected[s].value or 0.0 for s in range(len(data.supply))])
                       if hasattr(m, "uncollected") else np.zeros(len(data.supply)))
                base = target_measures(data, x, unc)["base"]
                tables["targets"]["shadow_price"] = shadow_prices(m, data, base, options, outcome.extra["solver"])
            if compliance and outcome.objective is not None and outcome.termination != "interrupted":
                progress.phase("re-solving without each target family (cost of compliance)")
                tables["compliance"] = cost_of_compliance(m, outcome.objective, options, outcome.extra["solver"])
    except BaseException:
        if reuse is not None:
            reuse.clear()  # a failure halfway may leave the HiGHS model changed: do not reuse it
        raise
    aggregated = tables
    if agg is not None and tables:
        from network_opt.aggregate import disaggregate

        tables = {**disaggregate(tables, agg), "aggregation": agg.membership}
    t5 = time.perf_counter()
    summary: dict[str, object] = {
        "instance": inst.name,
        "status": outcome.status,
        "termination": outcome.termination,
        "objective": outcome.objective,
        "bound": outcome.bound,
        "mip_gap": outcome.mip_gap,
        "currency": inst.setting("currency"),
        "periods": inst.years,
        "soft_targets": bool(inst.setting("targets.soft")),
        "timings": {"load_s": t1 - t0, "build_s": t2 - t1, "handoff_s": t3 - t2, "solve_s": t4 - t3,
                    "extract_s": t5 - t4},
        "resolve": {"in_place": in_place, "warm_start": in_place and outcome.extra.get("start") == "given"},
        "model": {**model_size(m), "nonzeros": outcome.extra.get("nonzeros")},
        "lanes": lane_count_by_commodity(data.lanes),
        "solver": {"name": outcome.solver_name, "version": outcome.solver_version},
        "warnings": [str(w) for w in inst.warnings] + list(outcome.extra.get("numerics", {}).get("warnings", [])),
        "numerics": {k: v for k, v in outcome.extra.get("numerics", {}).items() if k != "warnings"},
    }
    if agg is not None:
        from network_opt.aggregate import aggregation_summary

        summary["aggregation"] = aggregation_summary(agg, aggregated, tables, outcome.objective if tables else None)
    return Solution(outcome=outcome, tables=tables, summary=summary, data=data, model=m)
