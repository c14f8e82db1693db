"""The Python API the CLI and notebooks share: load -> prepare -> build -> solve -> extract."""

from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pandas as pd
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.common.progress import Progress
from network_opt.inputs.instance import Instance
from network_opt.inputs.lanes import lane_count_by_commodity
from network_opt.inputs.load import load
from network_opt.model import build_model
from network_opt.model.data import ModelData
from network_opt.model.objective import COST_TERMS, OBJECTIVE_LABEL
from network_opt.model.reductions import find_reductions
from network_opt.model.screen import without_facilities
from network_opt.model.size import (
    MEMORY_LIMIT_ENV,
    ModelTooLarge,
    available_memory,
    limit_set,
    prepare_sized,
    what_fits,
    with_prune,
)
from network_opt.results.audit import audit_record
from network_opt.results.summary import Summary
from network_opt.results.tables import Solution, extract, target_bases
from network_opt.runs.heuristic import Heuristic, Screen, heuristic_solve, keep, relaxed_screen, screened_by
from network_opt.runs.redispatch import Redispatch, clustered_options
from network_opt.runs.redispatch import redispatch as redispatch_plan
from network_opt.solver.compliance import (
    PRICE_LP_HOLD_BACK,
    compliance_shortfall,
    cost_of_compliance,
    noted_shadow_prices,
)
from network_opt.solver.handoff import HighsModel, TriviallyInfeasible
from network_opt.solver.highs import SolveOutcome, relative_gap, solve_model, trivially_infeasible
from network_opt.solver.options import SolveOptions
from network_opt.solver.session import ResolveSession
from network_opt.solver.status import SolveStatus, Termination

if TYPE_CHECKING:
    from network_opt.model.aggregate import Aggregation


#: ``shadow_price_note`` of a clustered plan's targets under ``--redispatch``: not priced, since the
#: re-dispatch's full model prices the plan written; seen only when the re-dispatch found no plan
UNPRICED_NOTE = ("NaN: not computed for the clustered plan, which --redispatch was to replace by the full "
                 "model's (summary.json warnings say why it did not)")


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


def _cost_terms(costs: pd.DataFrame | None) -> dict[str, float]:
    """Each cost term of the ``costs`` table summed over the periods (currency, discounted; revenues
    negative), in the order of :data:`~network_opt.model.objective.COST_TERMS`; empty without a plan."""
    if costs is None or not len(costs):
        return {}
    total = costs.groupby("term")["value"].sum()
    return {t: float(total.get(t, 0.0)) + 0.0 for t in COST_TERMS}


def _handoff_and_solve(m: pyo.ConcreteModel, data: ModelData, options: SolveOptions, progress: Progress,
                       session: ResolveSession | None, hold_back: float = 0.0
                       ) -> tuple[SolveOutcome, HighsModel | None, bool, float]:
    """Hand ``m`` (built from ``data``, which the MIP starts read) to HiGHS (through ``session`` if
    given) and solve it (``hold_back``: :func:`~network_opt.solver.highs.solve_model`'s); return the
    outcome, the HiGHS model solved (None when ``m`` could not be compiled; for shadow prices and the
    cost of compliance, never kept in the results), whether the session's model was updated in
    place, and the clock when the handoff ended."""
    try:
        if session is None:
            hm, in_place = HighsModel(m), False
        else:
            hm, in_place = session.handoff(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc), None, False, time.perf_counter()
    handed = time.perf_counter()
    if options.decomposition == "benders":
        return _benders(m, hm, options, progress), hm, False, handed
    start = session.start() if session is not None and in_place and options.warm_start else None
    progress.phase("solving with HiGHS" + (", starting from the previous plan" if start is not None else ""))
    with progress.solver_log(hm.h):  # HiGHS's log into the --log file as it comes
        outcome = solve_model(m, options, solver=hm, progress=progress, start=start, data=data, hold_back=hold_back)
    if session is not None and outcome.has_plan:
        session.record(hm)  # before shadow prices and compliance re-run HiGHS on the model
    return outcome, hm, in_place, handed


def _benders(m: pyo.ConcreteModel, hm: HighsModel, options: SolveOptions, progress: Progress) -> SolveOutcome:
    """``--decomposition benders``: Benders decomposition of ``m`` held by ``hm``, the first-stage
    (investment) decisions of :mod:`network_opt.model.stages` in the master
    (:mod:`network_opt.solver.benders`); its record goes into ``outcome.numerics["benders"]``."""
    from network_opt.model.stages import first_stage_vars
    from network_opt.solver.benders import benders_solve, first_stage_mask

    progress.phase("solving by Benders decomposition (investment in the master, operations in LP subproblems)")
    outcome, record = benders_solve(hm, first_stage_mask(hm, first_stage_vars(m)), options, progress=progress.phase)
    outcome.numerics["benders"] = record.as_dict()
    return outcome


def write_model_file(m: pyo.ConcreteModel, path: Path, progress: Progress) -> str | None:
    """Write ``m`` as an MPS file at ``path`` (``--write-model``); on failure return a warning
    (also reported as a phase) instead of raising: the solve goes on without the file."""
    progress.phase(f"writing the model to {path}")
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        m.write(str(path), io_options={"symbolic_solver_labels": True})
    except (OSError, RuntimeError, ValueError) as exc:
        Path(path).unlink(missing_ok=True)  # no partial file that looks like a model
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        text = f"the model could not be written to {path} ({reason}); solving without it"
        progress.phase(f"warning: {text}")
        return text
    return None


def _report_disaggregated(outcome: SolveOutcome, record: dict[str, object], mip_gap: float) -> None:
    """An aggregated solve reports the plan it writes, a plan of the instance: its objective the
    cost of the disaggregated plan, its bound the instance's (``bound_disaggregated`` of ``record``,
    :func:`network_opt.model.aggregate.aggregation_summary`; None when B does not hold) and the gap
    between them; optimal only when that gap is within ``mip_gap``."""
    bound = record["bound_disaggregated"]
    outcome.objective = float(cast(float, record["objective_disaggregated"]))
    outcome.bound = None if bound is None else float(cast(float, bound))
    outcome.mip_gap = relative_gap(outcome.objective, outcome.bound)
    if outcome.status == SolveStatus.OPTIMAL and (outcome.mip_gap is None or outcome.mip_gap > mip_gap + 1e-12):
        outcome.status = SolveStatus.FEASIBLE  # optimal for the clustered model only


def _redispatched(moved: Redispatch, agg: Aggregation, record: dict[str, object], split: dict[str, pd.DataFrame],
                  progress: Progress, price_warnings: list[str]
                  ) -> tuple[dict[str, pd.DataFrame], ModelData | None, pyo.ConcreteModel | None]:
    """The tables, data and model an aggregated run with ``--redispatch`` reports: the re-dispatch's
    (``moved``) when it solved, with the membership table and the clustered model's compliance
    table; else the plan split back (``split``) and a warning why. ``record`` (``summary.json``
    ``aggregation``) gets ``redispatch`` and, when solved, ``objective_disaggregated`` and
    ``bound_disaggregated`` of the plan written (the larger of the clustered bound minus B, when B
    holds, and the full model's search's bound), the split plan's cost moving to ``objective_split``.
    The data and model returned are the full model's when it solved, else None."""
    split_objective = cast("float | None", record.get("objective_disaggregated"))
    record["redispatch"] = moved.record(split_objective)
    if not moved.solved or moved.outcome is None or moved.outcome.objective is None:
        if split:
            text = f"re-dispatch: {moved.note}; the plan written is the clustered plan split back onto the points"
            progress.phase(f"warning: {text}")
            record.setdefault("plan_warnings", [])
            cast(list[str], record["plan_warnings"]).append(text)
        return split, None, None
    objective = moved.outcome.objective  # the plan written: the search's when it ran, else the LP's
    held = cast(float, cast(dict[str, object], record["redispatch"])["objective_held"])
    progress.phase(f"re-dispatch: the clustered plan's facilities operated by the full model cost {held:,.2f}"
                   + (f" (split back: {split_objective:,.2f})" if split_objective is not None else ""))
    price_warnings += moved.warnings
    clustered_bound = record.get("bound_aggregated")
    record["objective_split"] = split_objective  # the plan split back, no longer the plan written
    record["objective_disaggregated"] = objective
    bounds = [b for b in ((float(cast(float, clustered_bound)) - agg.error_bound
                           if clustered_bound is not None and agg.bound_holds else None),
                          moved.search.bound if moved.search is not None else None) if b is not None]
    # both bound the instance: the larger (B's when it holds, the full model's search's)
    record["bound_disaggregated"] = min(max(bounds), objective) if bounds else None
    record["plan_warnings"] = []  # the split plan's: the plan written is the re-dispatch's, a plan of the instance
    tables = {**moved.tables, "aggregation": agg.membership}
    if "compliance" in split:
        tables["compliance"] = split["compliance"]
    return tables, moved.data, moved.model


def solve(instance: str | Path | Instance, options: SolveOptions | None = None, *,
          soft_targets: bool | None = None, compliance: bool = False, progress: Progress | None = None,
          aggregate: int | None = None, session: ResolveSession | None = None, prune: int | None = None,
          memory_limit: int | None = None, force: bool = False, heuristic: Heuristic | None = None,
          redispatch: bool = False) -> Solution:
    """Load (if a path is given), build and solve an instance; return its :class:`Solution`.

    ``soft_targets`` overrides the instance's ``targets.soft``; ``compliance`` also re-solves
    without each target family (table ``compliance``). Shadow prices of targets are computed
    whenever a plan is found. ``progress`` reports phases and the solver's figures.
    ``aggregate``: solve with the collection points clustered into at most this many clusters
    (:func:`network_opt.model.aggregate.aggregate`); the plan's ``flows`` and ``collection`` are split
    back onto the points (a plan of the instance), table ``aggregation`` holds the membership and
    ``summary["aggregation"]`` the error bound B and the clustered model's objective; the solution's
    objective is the cost of the plan split back, its bound the clustered model's minus B (only when
    B holds) and its status optimal only when that gap is within ``options.mip_gap``. ``session``: a
    :class:`~network_opt.solver.session.ResolveSession` whose HiGHS model (of an earlier solve in this
    process) is updated in place when the new model has the same structure, the MIP then starting
    from the session's last plan; ``summary["resolve"]`` tells whether that happened (runs with
    ``aggregate`` do not use the session). Raises
    :class:`~network_opt.common.errors.InputError` on invalid input;
    the solution's ``status`` tells whether a plan was found (its tables are empty if not).

    Size known before building: after preparing the data the model's size and the peak memory
    of the solve are projected (:func:`network_opt.model.size.project_size`, ``summary["projected"]``
    next to the built ``summary["model"]``); above ``memory_limit`` bytes (default: the memory
    available, :func:`~network_opt.model.size.available_memory`) it raises
    :class:`~network_opt.model.size.ModelTooLarge`, listing the remedies that fit, unless ``force``.
    ``heuristic``: compress and filter (:mod:`network_opt.runs.heuristic`): the full model solved over
    the facilities a screening model keeps, with the bound of the full model's LP relaxation, so
    that ``bound`` and ``mip_gap`` hold for the full model (``summary["heuristic"]``); with it,
    ``aggregate`` is the clustering of the screening model, a relaxation whose MIP bound bounds the
    full model (:mod:`network_opt.model.relax`), not the model solved.
    ``prune``: keep the lanes to the K nearest destinations of each kind and technology
    (``transport.nearest_facilities``; 0: no pruning, not even the default pruning of very large
    instances, :func:`~network_opt.model.size.prepare_sized`); ``summary["pruning"]`` says which.
    ``redispatch`` (with ``aggregate``, not ``heuristic``): the clustered plan's facility decisions
    held in the full model, whose operations are then solved (:mod:`network_opt.runs.redispatch`):
    the tables and objective are the instance's own (``summary["aggregation"]["redispatch"]``); the
    clustered MIP gets half of ``options.time_limit`` (the rest: the re-dispatch and, with a time
    limit, the full model's search from its plan, whose bound is the instance's). The full model's
    projected memory is checked first (:class:`~network_opt.model.size.ModelTooLarge` unless
    ``force``).
    """
    options = options or SolveOptions()
    progress = progress or Progress("quiet")
    if redispatch and (aggregate is None or heuristic is not None):
        raise ValueError("redispatch re-dispatches an aggregated plan: it needs aggregate, without heuristic")
    if options.concurrent_mip > 1 and options.decomposition == "benders":
        raise ValueError("concurrent_mip searches one MIP side by side; Benders decomposition solves its master its "
                         "own way: give one of them")
    t0 = time.perf_counter()
    progress.phase("loading and validating the instance")
    inst = instance if isinstance(instance, Instance) else load(instance)
    more: dict[str, object] = {} if heuristic is None else {"heuristic": dataclasses.asdict(heuristic)}
    if redispatch:
        more["redispatch"] = True
    audit = audit_record(inst, options, soft_targets=soft_targets, compliance=compliance, aggregate=aggregate,
                         **more)
    if soft_targets is not None:  # a copy with the setting: the caller's instance is left as it is
        inst = inst.with_settings({"targets.soft": bool(soft_targets)})
    agg = None
    full_inst: Instance | None = None  # the instance the re-dispatch solves, before clustering
    screen: Screen | None = None
    kept: set[str] | None = None
    full_flows = 0
    if heuristic is not None and aggregate is not None:  # the clustered relaxation screens (below)
        heuristic, aggregate = dataclasses.replace(heuristic, aggregate=aggregate), None
    if aggregate is not None:
        from network_opt.model.aggregate import aggregate as cluster_points

        progress.phase(f"aggregating the collection points into at most {aggregate:,} clusters")
        # --prune K ranks each point's own destinations: a cluster gets the lanes its pruned points share
        full_inst = inst if prune is None else with_prune(inst, prune)
        inst, agg = cluster_points(full_inst, aggregate)
    t1 = time.perf_counter()
    progress.phase("preparing lanes and coefficients")
    data, projected, pruning = prepare_sized(inst, prune, progress=progress)
    progress.phase(f"projected model: {projected.describe()}")
    if pruning.get("warning"):
        progress.phase(f"warning: {pruning['warning']}")
        if agg is not None:
            agg.bound_holds = False
            agg.bound_assumptions += ("; lanes pruned by default after aggregating, so B holds only for the "
                                      "unpruned network")
    available = available_memory() if memory_limit is None else int(memory_limit)
    limit = "--memory-limit" if memory_limit is not None else MEMORY_LIMIT_ENV if limit_set() is not None else None
    if options.memory_limit is None and (guard := memory_limit if memory_limit is not None else limit_set()):
        options = dataclasses.replace(options, memory_limit=int(guard))  # the search's guard (solver.highs)
    if not force and not projected.fits(available):
        raise ModelTooLarge(str(inst.manifest.path), projected, available, what_fits(data, available, aggregate),
                            limit)
    full_data: ModelData | None = None
    search_bytes: int | None = None  # the full model's projected peak with HiGHS's search (--redispatch)
    full_model: pyo.ConcreteModel | None = None
    asked = options
    if redispatch and full_inst is not None:  # prepared, and its size checked, before the clustered solve
        progress.phase("preparing the full model's lanes and coefficients for the re-dispatch")
        full_data, full_projected, _ = prepare_sized(full_inst, prune, progress=progress)
        search_bytes = full_projected.memory_bytes
        if not force and not full_projected.fits(available):
            raise ModelTooLarge(str(inst.manifest.path), full_projected, available, [("without --redispatch",
                                                                                      projected)], limit)
        options = clustered_options(options)  # the rest of the time limit is the re-dispatch's
    began = time.perf_counter()
    # one stop request holds for every phase from here to the prices: in the Python API too, where each
    # HiGHS run's own handling would forget it on return (the CLI holds one for the whole command)
    with interrupts.handling():
        if heuristic is not None and heuristic.aggregate is not None:
            screen = relaxed_screen(data, heuristic.aggregate, dataclasses.replace(options, write_model=None), progress,
                                    lagrangian=heuristic.bound_by_period)
            gc.collect()  # the clustered model's Pyomo blocks hold reference cycles: free them before the full build
            # the facilities kept are known before the build: the restricted MIP is built without the flows
            # of the others (zero once they are closed), so that its build, hand-off and memory shrink
            kept = keep(data, screened_by(screen, data), heuristic.neighbours)
            full_flows = len(data.flows)
            data = without_facilities(data, set(data.facilities["id"]) - kept)
            progress.phase(f"heuristic: {len(kept):,} of {len(data.facilities):,} facilities kept; "
                           f"{len(data.flows):,} of {full_flows:,} flows built")
        choices = len(data.levels) * len(data.investment_years or data.years)
        progress.phase(f"building the model: {len(data.flows):,} flows, {choices:,} "
                       f"level choices, {len(data.targets):,} target{'' if len(data.targets) == 1 else 's'} in force")
        m = build_model(data)
        reductions = find_reductions(data) if inst.settings.model.candidate_reductions else None  # found for the build
        if reductions is not None:
            progress.phase(reductions.describe())
        write_warnings: list[str] = []
        if options.write_model is not None:  # written here so that a failure to write it costs no solve
            problem = write_model_file(m, options.write_model, progress)
            write_warnings = [problem] if problem else []
            options = dataclasses.replace(options, write_model=None)
        t2 = time.perf_counter()
        reuse = session if agg is None and heuristic is None else None
        heuristic_record: dict[str, object] | None = None
        moved: Redispatch | None = None
        price_warnings: list[str] = []
        # with targets in force the MIP leaves time for the shadow-price LP, which the time limit covers too;
        # not with --redispatch, whose full model prices its own plan (the clustered prices would be dropped)
        priced = bool(len(data.targets)) and full_data is None
        hold_back = PRICE_LP_HOLD_BACK if priced else 0.0
        try:
            if heuristic is not None:
                outcome, hm, t3, heuristic_record = heuristic_solve(m, data, options, progress, heuristic, screen,
                                                                    began, kept, hold_back)
                if kept is not None:  # the restricted MIP built without the flows of the facilities closed
                    heuristic_record.update({"flows_built": len(data.flows), "flows_full": full_flows})
                in_place = False
            else:
                outcome, hm, in_place, t3 = _handoff_and_solve(m, data, options, progress, reuse, hold_back)
            t4 = time.perf_counter()
            progress.phase(f"solver finished: {outcome.status}")
            tables = {}
            # a plan exists: a signal now only asks to stop (the re-solves below are skipped) and the CLI
            # writes the plan; a second signal raises (network_opt.common.interrupts.deferred)
            with interrupts.deferred():
                if outcome.has_plan and hm is not None:
                    tables = extract(m, data, hm)  # the plan's values copied from HiGHS's column values
                    if len(data.targets) and not priced:
                        tables["targets"]["shadow_price"] = float("nan")
                        tables["targets"]["shadow_price_note"] = UNPRICED_NOTE
                    elif priced:
                        base = target_bases(tables["targets"])  # measured once, by extract
                        # the LP gets what is left of --time-limit, counted from where the solve's limit counts
                        # (the heuristic's: the end of the data preparation; else the hand-off to HiGHS)
                        clock = began if heuristic is not None else t3
                        prices, notes, price_warning = noted_shadow_prices(m, data, base, tables["targets"],
                                                                           outcome.status, options, hm, clock)
                        if price_warning is not None:
                            progress.phase(f"warning: {price_warning}")
                            price_warnings.append(price_warning)
                        tables["targets"]["shadow_price"] = prices
                        tables["targets"]["shadow_price_note"] = notes
                    if (compliance and outcome.objective is not None and outcome.termination != Termination.INTERRUPTED
                            and interrupts.requested() is None):
                        progress.phase("re-solving without each target family (cost of compliance)")
                        done = cost_of_compliance(m, outcome.objective, options, hm)
                        short = compliance_shortfall(m, done)
                        if short is not None:  # a stop request (or a failed re-solve) ended the re-solves
                            progress.phase(f"warning: {short}")
                            price_warnings.append(short)
                        if len(done):  # no table rather than an empty one, which would read "no targets"
                            tables["compliance"] = done
                if full_data is not None and tables:  # --redispatch: the instance's own operations
                    moved = redispatch_plan(full_data, tables["facilities"], asked, progress, t3, search_bytes)
        except BaseException:
            if reuse is not None:
                reuse.clear()  # a failure halfway may leave the HiGHS model changed: do not reuse it
            raise
    aggregated = tables
    agg_record: dict[str, object] | None = None
    if agg is not None:
        from network_opt.model.aggregate import aggregation_summary, disaggregate

        if tables:
            tables = {**disaggregate(tables, agg), "aggregation": agg.membership}
        agg_record = aggregation_summary(agg, aggregated, tables, outcome.objective if tables else None,
                                         outcome.bound)
        if moved is not None:
            tables, full_data, full_model = _redispatched(moved, agg, agg_record, tables, progress, price_warnings)
        if moved is not None and moved.solved and moved.search is not None and moved.search.has_plan:
            # the full model's search ended the run: its status and termination are the run's
            outcome.status, outcome.termination = moved.search.status, moved.search.termination
        if agg_record.get("objective_disaggregated") is not None:
            _report_disaggregated(outcome, agg_record, options.mip_gap)
    t5 = time.perf_counter()
    summary = Summary(
        instance=inst.name,
        status=outcome.status,
        termination=outcome.termination,
        objective=outcome.objective,
        bound=outcome.bound,
        mip_gap=outcome.mip_gap,
        currency=inst.settings.currency,
        objective_label=OBJECTIVE_LABEL,
        cost_terms=_cost_terms(tables.get("costs")),
        periods=list(inst.years),
        soft_targets=inst.settings.targets.soft,
        timings={"load_s": t1 - t0, "build_s": t2 - t1, "handoff_s": t3 - t2, "solve_s": t4 - t3,
                 "extract_s": t5 - t4},
        resolve={"in_place": in_place, "warm_start": in_place and outcome.start == "given"},
        model={**model_size(m), "nonzeros": outcome.nonzeros,
               **({"candidate_reductions": reductions.as_dict()} if reductions is not None else {})},
        projected={**projected.as_dict(), "available_memory_bytes": available, "forced": force},
        pruning=pruning,
        lanes=lane_count_by_commodity(data.lanes),
        solver={"name": outcome.solver_name, "version": outcome.solver_version, "start": outcome.start,
                "held_back_s": outcome.held_back_s,
                **({"companions": outcome.companions} if outcome.companions is not None else {})},
        warnings=[str(w) for w in inst.warnings] + outcome.numeric_warnings
        + write_warnings + price_warnings + ([str(pruning["warning"])] if pruning.get("warning") else [])
        + [str(w) for w in cast(list[str], (agg_record or {}).get("plan_warnings", []))],
        numerics={k: v for k, v in outcome.numerics.items() if k not in ("warnings", "benders")},
        tool=audit["tool"], command=audit["command"], options=audit["options"],
        instance_path=audit["instance_path"], input_files=audit["input_files"],
    )
    summary.heuristic = heuristic_record
    if "benders" in outcome.numerics:
        summary["decomposition"] = outcome.numerics["benders"]
    summary.aggregation = agg_record
    if full_model is not None:  # --redispatch: the plan written is the full model's
        return Solution(outcome=outcome, tables=tables, summary=summary, data=full_data, model=full_model)
    return Solution(outcome=outcome, tables=tables, summary=summary, data=data, model=m)
