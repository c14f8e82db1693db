"""Two-stage stochastic design (``network-opt solve --stochastic``): one plan of facilities for
every scenario, its value measured.

Scenarios come from the instance: declared scenarios with probabilities (``stochastic.scenarios``,
:mod:`network_opt.inputs.stochastic`), or N draws of the ``uncertainty:`` block (``--scenarios N
--seed S``, equal probabilities). The design is solved as the extensive form
(:func:`network_opt.model.stochastic.build_extensive_form`, ``decomposition="none"``) or by
progressive hedging or the L-shaped method on mpi-sppy (``"ph"``, ``"lshaped"``,
:mod:`network_opt.runs.decompose`). Then, through the
executors of :mod:`network_opt.runs.executors` (local processes or dask), every scenario is solved
with a plan fixed (an LP: the first-stage decisions of :mod:`network_opt.model.stages` fixed) or on
its own (a MIP), which gives (currency, objective = expected cost + weight x CVaR):

- **RP**: the stochastic plan's objective over the scenarios;
- **EEV**: the objective of the expected-value plan (the plan of the mean scenario) over them;
  infinite when that plan leaves a scenario infeasible (the strict definition, with the number of
  such scenarios); with a declared ``stochastic.recourse``, also **EEV_recourse** and
  **VSS_recourse**: the plan priced in those scenarios with the recourse (packs it cannot take left
  uncollected or disposed of at the declared prices; a modelling assumption, stated with its source);
- **WS**: the wait-and-see objective, each scenario with its own optimal plan;
- **VSS** = EEV - RP and **EVPI** = RP - WS;
- per scenario: cost, targets met, unused capacity; the **regret table** (each scenario's own plan,
  and the stochastic and expected-value plans, evaluated in every scenario, minus that scenario's
  own optimum); the **open share** of each facility over the scenarios' own optima;
- for sampled scenarios, an **out-of-sample check**: the plan evaluated on a fresh sample, with a
  95 % confidence interval of its expected cost (sample average approximation).

Tables ``stochastic``, ``regret`` and ``robustness`` and ``summary["stochastic"]``;
``network-opt map`` draws ``robustness.csv`` (:mod:`network_opt.plotting.robustness`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from network_opt.common import interrupts
from network_opt.common.errors import InputError, Problem
from network_opt.common.progress import Progress
from network_opt.inputs.instance import Instance
from network_opt.inputs.load import load
from network_opt.inputs.overrides import Origin, Override, apply_overrides
from network_opt.inputs.scenarios import BASE, resolve
from network_opt.inputs.stochastic import Recourse, read_stochastic
from network_opt.inputs.uncertainty import Uncertain, read_uncertainty
from network_opt.model.data import ModelData
from network_opt.model.stages import FIRST_STAGE, first_stage_vars, plan_values
from network_opt.model.stochastic import NONANTICIPATIVITY, check_risk, check_same_first_stage, risk_objective
from network_opt.results.audit import audit_record
from network_opt.results.summary import Summary
from network_opt.results.tables import Solution
from network_opt.runs.executors import make_executor
from network_opt.runs.sweep import draw
from network_opt.solver.highs import SolveOutcome
from network_opt.solver.options import SolveOptions
from network_opt.solver.status import SolveStatus, Termination

DECOMPOSITIONS = ("none", "ph", "lshaped", "benders")
#: relative tolerance above which a decomposition's outer (lower) bound over the best plan's exact
#: cost is taken as invalid rather than solver round-off
BOUND_TOL = 1e-6
Plan = dict[str, dict[Any, float]]


@dataclass
class StochasticOptions:
    """What a stochastic design is asked for.

    ``scenarios``: draw this many scenarios from the ``uncertainty:`` block (None: the declared
    ``stochastic.scenarios``); ``seed``: of the draws; ``cvar_alpha``, ``cvar_weight``: the risk
    measure (None: the instance's ``stochastic.cvar_alpha`` / ``cvar_weight``); ``decomposition``:
    ``none`` (extensive form), ``ph`` (progressive hedging) or ``lshaped`` (the L-shaped method), both
    on mpi-sppy; ``nonanticipativity``: ``shared`` variables or
    ``equality`` rows in the extensive form; ``out_of_sample``: fresh draws for the SAA check (None:
    max(N, 30); 0: none); ``regret_limit``: most scenarios for the full regret table (N x N
    evaluations; above it only the stochastic and expected-value plans' rows); ``ph_iterations``
    (>= 1), ``ph_rho`` (> 0, currency per unit of a plan decision squared; None: PH's default, see
    :func:`network_opt.runs.decompose.solve_ph`): progressive hedging (``--ph-iterations``,
    ``--ph-rho``); ``lshaped_iterations``: the L-shaped method; ``solve``: HiGHS
    limits of every solve (the extensive form's
    time limit and gap; each scenario's solve); its ``concurrent_mip`` applies to the extensive form
    alone (``decomposition`` "none"; the scenario solves fill the cores with ``workers`` already, and
    a decomposition solves its master its own way); executor, workers, scheduler: where the scenario
    solves run; ``benders_workers``: processes holding the scenario blocks of ``decomposition=
    "benders"`` without CVaR (None: the machine's cores; 1: this process); ``benders_persistent``:
    one HiGHS object per block (False: one per process, re-loaded with each block and its basis)."""

    scenarios: int | None = None
    seed: int = 0
    cvar_alpha: float | None = None
    cvar_weight: float | None = None
    decomposition: str = "none"
    nonanticipativity: str = "shared"
    out_of_sample: int | None = None
    regret_limit: int = 25
    ph_iterations: int = 50
    ph_rho: float | None = None
    lshaped_iterations: int = 200
    solve: SolveOptions = field(default_factory=SolveOptions)
    executor: str = "local"
    workers: int = 1
    scheduler: str | None = None
    benders_workers: int | None = None
    benders_persistent: bool = True


@dataclass(frozen=True)
class ScenarioSet:
    """Scenarios of a stochastic design: names, probabilities, the overrides that make each from
    the instance, the drawn values (one row per scenario; no columns for declared scenarios), the
    overrides of the expected-value (mean) scenario and its label, and for sampled sets the
    distributions drawn (for the out-of-sample check)."""

    names: tuple[str, ...]
    probabilities: tuple[float, ...]
    overrides: tuple[tuple[Override, ...], ...]
    inputs: pd.DataFrame
    expected_value: tuple[Override, ...]
    expected_label: str
    uncertain: tuple[Uncertain, ...] = ()

    @property
    def sampled(self) -> bool:
        return bool(self.uncertain)


def _overrides(inst: Instance, uncertain: list[Uncertain], values: dict[str, float]) -> tuple[Override, ...]:
    name = inst.manifest.path.name
    return tuple(Override(u.op, u.key, float(values[u.name]), Origin(name, u.line, f"uncertainty.{u.name}"))
                 for u in uncertain)


def _records(draws: pd.DataFrame) -> list[dict[str, float]]:
    return [{str(k): float(v) for k, v in row.items()} for row in draws.to_dict("records")]


def sampled_uncertain(inst: Instance) -> list[Uncertain]:
    """The ``uncertainty:`` entries a sampled design draws: ``stochastic.sample``, else all."""
    spec = read_stochastic(inst)
    uncertain = read_uncertainty(inst)
    if spec.sample:
        uncertain = [u for u in uncertain if u.name in spec.sample]
    if not uncertain:
        raise InputError([Problem(inst.manifest.path.name, inst.manifest.lines.get("uncertainty", 0), "uncertainty",
                                  "--scenarios N draws from the uncertainty: block of instance.yaml, which declares "
                                  "nothing (see docs/stochastic.md)")])
    return uncertain


def scenario_set(inst: Instance, scenarios: int | None = None, seed: int = 0) -> ScenarioSet:
    """The scenarios of a stochastic design of ``inst``: ``scenarios`` draws (seeded by ``seed``;
    the same seed gives the same scenarios), or the declared ``stochastic.scenarios``. Raises
    :class:`InputError` naming instance.yaml when neither is available or the block is invalid."""
    spec = read_stochastic(inst)
    if scenarios is not None:
        if scenarios < 1:
            raise InputError([Problem("solve", 0, "--scenarios", f"expected at least 1 scenario, got {scenarios}")])
        uncertain = sampled_uncertain(inst)
        draws = draw(uncertain, scenarios, seed)
        names = tuple(f"s{k:04d}" for k in range(1, scenarios + 1))
        overrides = tuple(_overrides(inst, uncertain, row) for row in _records(draws))
        mean = {u.name: float(draws[u.name].mean()) for u in uncertain}
        return ScenarioSet(names, tuple([1.0 / scenarios] * scenarios), overrides, draws.set_axis(list(names)),
                           _overrides(inst, uncertain, mean), "sample mean", tuple(uncertain))
    if not spec.probabilities:
        raise InputError([Problem(inst.manifest.path.name, inst.manifest.lines.get("stochastic", 0), "stochastic",
                                  "a stochastic design needs scenarios: declare stochastic.scenarios with their "
                                  "probabilities in instance.yaml, or draw them with --scenarios N from the "
                                  "uncertainty: block (see docs/stochastic.md)")])
    names = tuple(spec.probabilities)
    overrides = tuple(tuple(resolve(inst, n)) for n in names)
    return ScenarioSet(names, tuple(spec.probabilities.values()), overrides, pd.DataFrame(index=list(names)),
                       tuple(resolve(inst, spec.expected_value)), spec.expected_value)


def out_of_sample_set(inst: Instance, sset: ScenarioSet, count: int, seed: int) -> ScenarioSet:
    """``count`` fresh draws of the distributions of a sampled set, from a random stream
    independent of the in-sample one (numpy's SeedSequence spawned from ``seed``)."""
    uncertain = list(sset.uncertain)
    fresh = int(np.random.SeedSequence(seed).spawn(1)[0].generate_state(1)[0])
    draws = draw(uncertain, count, fresh)
    names = tuple(f"o{k:04d}" for k in range(1, count + 1))
    overrides = tuple(_overrides(inst, uncertain, row) for row in _records(draws))
    return ScenarioSet(names, tuple([1.0 / count] * count), overrides, draws.set_axis(list(names)), (), "",
                       tuple(uncertain))


# --- one scenario solve, in a worker ------------------------------------------------------------

@dataclass(frozen=True)
class ScenarioTask:
    """Solve one scenario (``overrides`` on the instance) with the first-stage decisions fixed to
    ``plan``, or (``plan`` None) on its own; ``settings`` (dotted key -> value) change the
    instance's settings for this solve (the recourse of ``stochastic.recourse``)."""

    name: str
    overrides: tuple[Override, ...]
    plan: Plan | None
    options: SolveOptions
    soft_targets: bool | None = None
    settings: tuple[tuple[str, Any], ...] = ()


@dataclass
class ScenarioOutcome:
    """A scenario solved: status, net cost (currency; inf when the plan leaves it infeasible),
    targets met and in force, unused capacity (t/yr summed over open facilities and periods),
    facilities open in some period, its own plan (scenarios solved on their own), seconds, error,
    the tonnes left uncollected or disposed of (t, summed over supply rows and periods) and the
    solver's best bound on the cost (currency; a MIP's dual bound, the cost itself for an LP)."""

    name: str
    status: str
    cost: float
    targets_met: int = 0
    targets_total: int = 0
    unused_capacity_t: float = math.nan
    open: dict[str, bool] = field(default_factory=dict)
    capacity: dict[str, float] = field(default_factory=dict)
    plan: Plan | None = None
    seconds: float = 0.0
    error: str = ""
    escaped_t: float = 0.0
    bound: float = math.nan


def scenario_data(inst: Instance, overrides: tuple[Override, ...], soft_targets: bool | None = None,
                  settings: tuple[tuple[str, Any], ...] = ()) -> ModelData:
    """The prepared data of ``inst`` with ``overrides`` applied (and checked again), and
    ``settings`` (dotted key -> value) changed."""
    from network_opt.model.data import prepare

    scen = apply_overrides(inst, list(overrides)) if overrides else inst
    changed = dict(settings)
    if soft_targets is not None:
        changed["targets.soft"] = bool(soft_targets)
    if changed:
        scen = scen.with_settings(changed)
    return prepare(scen)


#: held while a scenario's data, Pyomo model and HiGHS matrix are built (not while HiGHS runs):
#: executors that run tasks in threads of one process (dask workers with several threads) then
#: never run Pyomo's model build and standard-form compiler in two threads at once
PYOMO_BUILD_LOCK = threading.Lock()


def run_scenario_task(inst: Instance, task: ScenarioTask) -> ScenarioOutcome:
    """Solve one :class:`ScenarioTask` (in whichever process or thread the executor chose). Never
    raises: invalid input or a failed solve comes back as status ``invalid`` / ``error``. The data
    preparation, the Pyomo build and its hand-off to HiGHS hold :data:`PYOMO_BUILD_LOCK` (they are
    pure Python, held by the interpreter lock anyway); HiGHS runs outside it."""
    import pyomo.environ as pyo

    from network_opt.model import build_model
    from network_opt.model.stages import fix_plan
    from network_opt.results.tables import extract
    from network_opt.solver.handoff import HighsModel, TriviallyInfeasible
    from network_opt.solver.highs import solve_model, trivially_infeasible

    start = time.perf_counter()
    try:
        with PYOMO_BUILD_LOCK:
            d = scenario_data(inst, task.overrides, task.soft_targets, task.settings)
            m = build_model(d)
            if task.plan is not None:
                fix_plan(m, task.plan)
            try:
                hm: HighsModel | None = HighsModel(m)
            except TriviallyInfeasible as exc:
                hm, out = None, trivially_infeasible(exc)
        if hm is not None:
            out = solve_model(m, task.options, solver=hm, data=d)
        if not out.has_plan:
            return ScenarioOutcome(task.name, str(out.status), math.inf, seconds=time.perf_counter() - start)
        tables = extract(m, d)
        fac = tables["facilities"]
        opened = fac.groupby("facility")["open"].any()
        capacity = fac.groupby("facility")["capacity_t"].max()
        unused = float((fac["capacity_t"] - fac["throughput_t"]).where(fac["open"], 0.0).clip(lower=0.0).sum())
        tg = tables["targets"]
        escaped = sum(float(pyo.value(v, exception=False) or 0.0) for name in ("uncollected", "disposed")
                      if m.find_component(name) is not None for v in m.component(name).values())
        return ScenarioOutcome(task.name, str(out.status), float(out.objective or 0.0),
                               int(tg["met"].sum()) if len(tg) else 0, len(tg), unused,
                               {str(k): bool(v) for k, v in opened.items()},
                               {str(k): float(v) for k, v in capacity.items()},
                               plan_values(m) if task.plan is None else None, time.perf_counter() - start,
                               escaped_t=escaped, bound=float(out.bound) if out.bound is not None
                               and math.isfinite(out.bound) else float(out.objective or 0.0))
    except InputError as exc:
        return ScenarioOutcome(task.name, SolveStatus.INVALID, math.nan,
                               error="; ".join(str(p) for p in exc.problems) or str(exc),
                               seconds=time.perf_counter() - start)
    except Exception as exc:  # reported in stochastic.csv, never stops the other scenarios
        return ScenarioOutcome(task.name, SolveStatus.ERROR, math.nan, error=f"{type(exc).__name__}: {exc}",
                               seconds=time.perf_counter() - start)


# --- the design ---------------------------------------------------------------------------------

@dataclass
class StochasticResult:
    """A stochastic design: the :class:`~network_opt.results.tables.Solution` to write (tables
    ``stochastic``, ``regret``, ``robustness``; ``summary["stochastic"]``), the scenarios, the
    stochastic and expected-value plans, and the figures (``metrics``: RP, EEV, WS, VSS, EVPI, ...)."""

    solution: Solution
    scenarios: ScenarioSet
    plan: Plan | None
    ev_plan: Plan | None
    metrics: dict[str, Any]

    @property
    def status(self) -> SolveStatus:
        return self.solution.status

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.solution.tables[table]


def solve_stochastic(instance: str | Path | Instance, options: StochasticOptions | None = None, *,
                     soft_targets: bool | None = None, progress: Progress | None = None) -> StochasticResult | None:
    """Design one plan for every scenario of ``instance`` and measure its value (module docstring).

    Returns None on MPI ranks other than 0 under ``mpiexec`` (they take part in the decomposition
    only). Raises :class:`InputError` on invalid input (the ``stochastic:`` block, the overrides,
    scenarios that change which facilities can be built) and ``ValueError`` on bad options.

    SIGINT and SIGTERM (:mod:`network_opt.common.interrupts`, handled for the whole design): a HiGHS
    run stops within :data:`~network_opt.common.interrupts.GRACE_S` seconds (mpi-sppy's too,
    :func:`network_opt.runs.decompose.stoppable_highs`), no later scenario is solved, and
    :class:`~network_opt.common.interrupts.Interrupted` is raised, unless the design's plan and its
    objective are known (the extensive form or Benders stopped with a plan, or the decomposition's
    candidates evaluated): then the result holds that plan, its objective, bound and gap and no
    measure (``summary["stochastic"]["interrupted"]``; no table), as a plain solve keeps its best plan.
    """
    with interrupts.handling():  # one stop request for every phase (nested in the CLI's)
        return _solve_stochastic(instance, options, soft_targets=soft_targets, progress=progress)


def _solve_stochastic(instance: str | Path | Instance, options: StochasticOptions | None, *,
                      soft_targets: bool | None, progress: Progress | None) -> StochasticResult | None:
    opts = options or StochasticOptions()
    progress = progress or Progress("quiet")
    t0 = time.perf_counter()
    inst = instance if isinstance(instance, Instance) else load(instance)
    spec = read_stochastic(inst)
    alpha = spec.cvar_alpha if opts.cvar_alpha is None else float(opts.cvar_alpha)
    weight = spec.cvar_weight if opts.cvar_weight is None else float(opts.cvar_weight)
    check_risk(alpha, weight)
    if opts.decomposition not in DECOMPOSITIONS:
        raise ValueError(f"--decomposition must be one of {', '.join(DECOMPOSITIONS)}, got {opts.decomposition!r}")
    if not (isinstance(opts.ph_iterations, int) and opts.ph_iterations >= 1):
        raise ValueError(f"--ph-iterations must be a whole number >= 1, got {opts.ph_iterations!r}")
    if opts.ph_rho is not None and not (math.isfinite(opts.ph_rho) and opts.ph_rho > 0):
        raise ValueError(f"--ph-rho must be a finite number > 0, got {opts.ph_rho!r}")
    if opts.nonanticipativity not in NONANTICIPATIVITY:
        raise ValueError(f"nonanticipativity must be one of {', '.join(NONANTICIPATIVITY)}")
    if opts.solve.concurrent_mip > 1 and opts.decomposition != "none":
        raise ValueError(f"--concurrent-mip searches the extensive form's MIP (--decomposition none), not "
                         f"--decomposition {opts.decomposition}")
    if opts.decomposition in ("ph", "lshaped"):  # refused now, not after every scenario's own solve
        from network_opt.runs.decompose import require_mpisppy

        require_mpisppy(opts.decomposition)
    design = opts.solve  # the extensive form's options; every scenario solve searches once
    opts = with_solve(opts, concurrent_mip=1)
    sset = scenario_set(inst, opts.scenarios, opts.seed)
    n = len(sset.names)
    audit = audit_record(inst, design, **_stochastic_audit(opts, n, alpha, weight), soft_targets=soft_targets)
    probs = np.asarray(sset.probabilities)
    progress.phase(f"preparing {n} scenarios")
    datas = [scenario_data(inst, o, soft_targets) for o in sset.overrides]
    check_same_first_stage(datas, list(sset.names))
    t1 = time.perf_counter()

    def tasks(plan: Plan | None, scen: ScenarioSet, prefix: str = "") -> list[ScenarioTask]:
        return [ScenarioTask(prefix + name, o, plan, opts.solve, soft_targets)
                for name, o in zip(scen.names, scen.overrides, strict=True)]

    executor = None
    from network_opt.runs.decompose import mpi_rank_size

    rank, _size = mpi_rank_size() if opts.decomposition in ("ph", "lshaped") else (0, 1)

    def run(batch: list[ScenarioTask]) -> list[ScenarioOutcome]:
        nonlocal executor
        if executor is None:
            executor = make_executor(opts.executor, opts.workers, opts.scheduler)
        results: list[ScenarioOutcome | None] = [None] * len(batch)
        for k, res in executor.map_tasks(run_scenario_task, inst, batch):
            results[k] = res
            # a stop request while HiGHS ran (deferred there: it returned its incumbent) leaves this
            # scenario's figure unfinished and would skip every later HiGHS run: stop the batch here
            interrupts.check()
        return [r for r in results if r is not None]

    found: SolveOutcome | None = None
    plan: Plan | None = None
    stopped: interrupts.Interrupted | None = None
    tw = t2 = t1
    stage = [""]

    def step(text: str) -> None:
        stage[0] = text  # the phase a stop request is reported in
        progress.phase(text)

    try:
        # wait-and-see: every scenario on its own (also the CVaR bounds of the decomposition)
        ws: list[ScenarioOutcome] = []
        if rank == 0:
            step(f"solving each of the {n} scenarios on its own (wait-and-see)")
            ws = run(tasks(None, sset))
        if executor is not None:  # the design (a large MIP, or a decomposition's own workers) runs without them
            executor.release()
        tw = time.perf_counter()
        decomposition: dict[str, Any] = {"method": opts.decomposition}
        if opts.decomposition != "none":  # a scenario infeasible on its own: no plan serves it
            alone = _infeasible_alone(ws)
            if alone:
                decomposition["notes"] = [f"infeasible whatever the plan: scenario(s) {', '.join(alone[:10])}"
                                          + (f" and {len(alone) - 10} more" if len(alone) > 10 else "")]
                if rank != 0:
                    return None
                return _no_plan(inst, sset, SolveOutcome(status=SolveStatus.INFEASIBLE,
                                                         termination=Termination.INFEASIBLE, objective=None,
                                                         bound=None, mip_gap=None,
                                                         solver_name=f"mpi-sppy {opts.decomposition} + highs"),
                                audit, decomposition, soft_targets, alpha, weight, t0, t1)
        outcome: SolveOutcome | None = None
        candidates: list[Plan] = []
        ev_alone: ScenarioOutcome | None = None
        if opts.decomposition == "none":
            step(f"solving the extensive form ({n} scenarios, {opts.nonanticipativity} first stage)")
            outcome, plan = _extensive_form(datas, probs, alpha, weight, opts, design, progress)
            decomposition.update(nonanticipativity=opts.nonanticipativity)
        elif opts.decomposition == "benders":
            start_plan = None
            if weight == 0:  # the expected-value plan: an upper bound before the first master solve
                step("solving the expected-value scenario (the start plan of the decomposition)")
                ev_alone = run([ScenarioTask("expected-value", sset.expected_value, None, opts.solve, soft_targets)])[0]
                start_plan = ev_alone.plan
            step(f"Benders decomposition on {n} scenarios (one LP subproblem per scenario)")
            outcome, plan, record = _benders(datas, probs, alpha, weight, opts, ws, start_plan,
                                             (inst, sset, soft_targets))
            decomposition.update(record)
        else:
            from network_opt.runs.decompose import solve_lshaped, solve_ph

            eta_bounds = _eta_bounds(ws) if weight > 0 else None
            eta_scale = _eta_scale(ws) if weight > 0 and opts.decomposition == "ph" else None
            if opts.decomposition == "ph":
                step(f"progressive hedging (mpi-sppy) on {n} scenarios")
                dec = solve_ph(datas, list(sset.names), list(probs), alpha=alpha, weight=weight,
                               iterations=opts.ph_iterations, rho=opts.ph_rho, mip_gap=opts.solve.mip_gap,
                               time_limit=opts.solve.time_limit, eta_bounds=eta_bounds,
                               eta_scale=eta_scale, threads=opts.solve.threads)
            else:
                step(f"L-shaped method (mpi-sppy) on {n} scenarios")
                dec = solve_lshaped(datas, list(sset.names), list(probs), alpha=alpha, weight=weight,
                                    iterations=opts.lshaped_iterations, mip_gap=opts.solve.mip_gap,
                                    eta_bounds=eta_bounds, time_limit=opts.solve.time_limit,
                                    threads=opts.solve.threads)
            if rank != 0:
                return None
            candidates = dec.candidates
            decomposition.update(iterations=dec.iterations, convergence=dec.convergence, ranks=dec.ranks,
                                 outer_bound=dec.outer_bound, trivial_bound=dec.trivial_bound, seconds=dec.seconds,
                                 notes=dec.notes, eta_bounds=list(eta_bounds) if eta_bounds else None,
                                 **({"eta_scale": eta_scale} if eta_scale is not None else {}),
                                 **({"rho": dec.rho} if dec.rho is not None else {}))
        t2 = time.perf_counter()
        if candidates:  # the decomposition's inner bound: the best candidate over every scenario
            step(f"evaluating {len(candidates)} candidate plans on every scenario")
            best = None
            for cand in candidates:
                ev = run(tasks(cand, sset))
                value = risk_objective([r.cost for r in ev], probs, alpha, weight)
                if best is None or value < best[0]:
                    best = (value, cand, ev)
            assert best is not None
            inner, plan, _ = best
            if not math.isfinite(inner):  # stopped (iteration or time limit) before the plans agreed
                failed = [r.name for r in best[2] if not math.isfinite(r.cost)]
                decomposition["notes"] = [*decomposition["notes"], (
                    f"none of the {len(candidates)} candidate plans serves every scenario (the first leaves "
                    f"{', '.join(failed[:10])}{' and more' if len(failed) > 10 else ''} infeasible): no plan; "
                    "its outer bound stands")]
            outer = decomposition["outer_bound"]
            if outer is not None and math.isfinite(inner) and outer > inner + BOUND_TOL * max(abs(inner), 1.0):
                # a lower bound above a plan's exact cost is no bound (solver tolerance far exceeded): withheld
                decomposition["notes"] = [*decomposition["notes"], (
                    f"the decomposition's outer bound {outer:,.2f} lies above the best plan's cost {inner:,.2f}: "
                    "not a valid bound, withheld")]
                decomposition["outer_bound"] = outer = None
            if outer is not None and math.isfinite(inner):
                outer = min(outer, inner)  # within BOUND_TOL: round-off of the solvers
            gap = (inner - outer) / max(abs(inner), 1e-9) if outer is not None and math.isfinite(inner) else None
            status = (SolveStatus.NO_SOLUTION if not math.isfinite(inner)
                      else SolveStatus.OPTIMAL if gap is not None and gap <= opts.solve.mip_gap
                      else SolveStatus.FEASIBLE)
            converged = (not decomposition["notes"] if opts.decomposition == "lshaped"
                         else decomposition["convergence"] is not None and decomposition["convergence"] <= 1e-4)
            outcome = SolveOutcome(status=status, termination=Termination.CONVERGED if converged
                                   else Termination.ITERATION_LIMIT, objective=inner if math.isfinite(inner) else None,
                                   bound=outer, mip_gap=gap, solver_name=f"mpi-sppy {opts.decomposition} + highs",
                                   solve_s=t2 - t1)
            if not math.isfinite(inner):
                plan = None
            if weight > 0 and eta_bounds is not None and math.isfinite(inner):
                cert = _eta_certificate(ws, probs, weight, eta_bounds, inner)
                decomposition["eta_certificate"] = cert
                if not cert["proven"]:
                    decomposition["notes"] = [*decomposition["notes"], cert["note"]]
                    outcome = dataclasses.replace(outcome, bound=None, mip_gap=None, status=SolveStatus.FEASIBLE)
        assert outcome is not None
        if plan is None:
            return _no_plan(inst, sset, outcome, audit, decomposition, soft_targets, alpha, weight, t0, t1)
        found = outcome  # the plan and its objective are known: a stop request from here keeps them

        interrupts.check()  # the design was stopped (HiGHS returned its best plan): measure nothing
        step("evaluating the stochastic plan and the expected-value plan in every scenario")
        if ev_alone is None:
            ev_alone = run([ScenarioTask("expected-value", sset.expected_value, None, opts.solve, soft_targets)])[0]
        sp = run(tasks(plan, sset))
        ev_plan = ev_alone.plan
        eev = run(tasks(ev_plan, sset, "ev:")) if ev_plan is not None else []
        eev_recourse = (_with_recourse(run, eev, sset, ev_plan, spec.recourse, opts.solve, soft_targets, "ev+recourse:")
                        if ev_plan is not None and spec.recourse is not None else [])
        regret_rows = _regret(run, tasks, sset, ws, plan, ev_plan, sp, eev, opts.regret_limit)
        oos: list[ScenarioOutcome] = []
        oos_recourse: list[ScenarioOutcome] = []
        oos_set = None
        count = (max(n, 30) if opts.out_of_sample is None else int(opts.out_of_sample)) if sset.sampled else 0
        if count > 0:
            step(f"out-of-sample check on {count} fresh scenarios")
            oos_set = out_of_sample_set(inst, sset, count, opts.seed)
            oos = run(tasks(plan, oos_set))
            if spec.recourse is not None:
                oos_recourse = _with_recourse(run, oos, oos_set, plan, spec.recourse, opts.solve, soft_targets,
                                              "recourse:")
    except interrupts.Interrupted as exc:
        if found is None or plan is None:  # no plan whose objective is known: nothing to keep
            exc.phase = exc.phase or stage[0] or None
            raise
        stopped = exc
    finally:
        if executor is not None:
            executor.close()
    if stopped is not None:
        assert plan is not None and found is not None
        return _interrupted(inst, sset, found, plan, datas[0].levels, audit, decomposition, soft_targets, alpha,
                            weight, (t0, t1, tw, t2), opts.seed, stopped)
    assert outcome is not None and ev_alone is not None
    t3 = time.perf_counter()
    metrics = _metrics(sset, sp, eev, ws, oos, alpha, weight, outcome)
    if spec.recourse is not None:
        metrics.update(_recourse_metrics(sset, eev, eev_recourse, metrics, oos, oos_recourse, spec.recourse,
                                         alpha, weight))
    tables = {
        "stochastic": _scenario_table(sset, sp, eev, ws, oos_set, oos, eev_recourse, oos_recourse),
        "regret": regret_rows,
        "robustness": _robustness(inst, datas[0], sset, ws, sp, ev_alone),
    }
    summary = _summary(inst, outcome, audit, soft_targets, t0, t1, t2, t3)
    summary.timings = {"load_s": t1 - t0, "wait_and_see_s": tw - t1, "solve_s": t2 - tw, "evaluate_s": t3 - t2}
    summary["stochastic"] = {
        "scenarios": n, "source": "sampled" if sset.sampled else "declared",
        "seed": opts.seed if sset.sampled else None,
        "expected_value_scenario": sset.expected_label, "cvar_alpha": alpha, "cvar_weight": weight,
        "objective": "expected cost + cvar_weight x CVaR(cvar_alpha)" if weight > 0 else "expected cost",
        "decomposition": decomposition, **metrics,
        "plan": _plan_json(plan, datas[0].levels), "expected_value_plan": _plan_json(ev_plan, datas[0].levels),
    }
    sol = Solution(outcome=outcome, tables=tables, summary=summary, inst=inst)
    return StochasticResult(sol, sset, plan, ev_plan, metrics)


def _infeasible_alone(ws: list[ScenarioOutcome]) -> list[str]:
    """The scenarios infeasible on their own (wait-and-see; known on rank 0, told to every rank
    under ``mpiexec``): no plan serves them, so the design is infeasible."""
    from network_opt.runs.decompose import mpi_rank_size

    names = [r.name for r in ws if r.status == SolveStatus.INFEASIBLE]
    _, size = mpi_rank_size()
    if size > 1:
        from mpi4py import MPI

        names = MPI.COMM_WORLD.bcast(names, root=0)
    return list(names)


def _wait_and_see_range(ws: list[ScenarioOutcome]) -> tuple[float, float]:
    """The lowest wait-and-see dual bound (a scenario without one: its cost) and the highest
    wait-and-see cost (currency; (0, 0) when no scenario has a cost), the same on every MPI rank
    (rank 0's)."""
    from network_opt.runs.decompose import mpi_rank_size

    costs = [r.cost for r in ws if math.isfinite(r.cost)]
    lows = [r.bound if math.isfinite(r.bound) else r.cost for r in ws if math.isfinite(r.cost)]
    bounds = (min(lows), max(costs)) if costs else (0.0, 0.0)
    _, size = mpi_rank_size()
    if size > 1:
        from mpi4py import MPI

        bounds = MPI.COMM_WORLD.bcast(bounds, root=0)
    return float(bounds[0]), float(bounds[1])


def _eta_bounds(ws: list[ScenarioOutcome]) -> tuple[float, float]:
    """Bounds of the value at risk for the decomposition (currency): from the lowest wait-and-see
    dual bound (no plan costs less in any scenario, so neither does the optimal eta, a cost of the
    optimal plan's distribution) to that plus ten times the spread and size of those costs
    (a wide box; after the solve :func:`_eta_certificate` checks that it was wide enough)."""
    low, high = _wait_and_see_range(ws)
    span = 10.0 * (high - low + abs(high) + abs(low) + 1.0)
    return low, low + span


def _eta_scale(ws: list[ScenarioOutcome]) -> float:
    """The currency amount in which progressive hedging measures the value at risk (one unit of its
    scaled variable): the spread of the wait-and-see costs, from the lowest dual bound to the highest
    cost (the range over which the scenarios' own values at risk differ), at least a thousandth of
    the largest of those amounts and at least 1 (identical scenarios)."""
    low, high = _wait_and_see_range(ws)
    return float(max(high - low, 1e-3 * max(abs(high), abs(low)), 1.0))


def _eta_certificate(ws: list[ScenarioOutcome], probs: np.ndarray, weight: float, box: tuple[float, float],
                    inner: float) -> dict[str, Any]:
    r"""Whether the box ``box`` of the value at risk :math:`\eta` that the decomposition used
    contains an optimal :math:`\eta` of an optimal plan :math:`x^*`, so that its outer bound is a
    lower bound of the design without the box (docs/stochastic.md, "CVaR in the decomposition").

    An optimal :math:`\eta` is :math:`\mathrm{VaR}_\alpha(x^*)`, a cost of :math:`x^*` in some
    scenario, so :math:`\eta \ge \min_\omega \underline{W}_\omega` (``box[0]``, the smallest
    wait-and-see dual bound) always holds; and
    :math:`\mathrm{VaR}_\alpha(x^*) \le \mathrm{CVaR}_\alpha(x^*) \le (F(\hat x) -
    \sum_\omega p_\omega \underline{W}_\omega)/\lambda` for any plan :math:`\hat x` of objective
    :math:`F(\hat x)` (``inner``, currency), since :math:`F(x^*) \le F(\hat x)` and the expected
    cost of :math:`x^*` is at least the expected wait-and-see bound. Proven when that is at most
    ``box[1]``."""
    lows = np.array([r.bound if math.isfinite(r.bound) else r.cost for r in ws], dtype=float)
    expected_low = float(np.sum(np.asarray(probs) * lows))
    most = (inner - expected_low) / weight
    proven = bool(np.all(np.isfinite(lows)) and min(lows) >= box[0] - 1e-9 * max(1.0, abs(box[0]))
                  and most <= box[1])
    out: dict[str, Any] = {"box": [float(box[0]), float(box[1])], "var_at_risk_at_least": float(min(lows)),
                           "var_at_risk_at_most": float(most), "proven": proven}
    if not proven:
        out["note"] = (f"the outer bound is not proven: the optimal value at risk may lie outside the box "
                       f"[{box[0]:,.2f}, {box[1]:,.2f}] used by the decomposition (it is at most {most:,.2f}); "
                       "bound and gap not reported")
    return out


def _extensive_form(datas: list[ModelData], probs: np.ndarray, alpha: float, weight: float,
                    opts: StochasticOptions, design: SolveOptions, progress: Progress
                    ) -> tuple[SolveOutcome, Plan | None]:
    """The design as one MIP over every scenario, solved with ``design`` (companion searches
    included, ``concurrent_mip``); ``progress`` shows HiGHS's best plan, bound and gap while it
    runs (as a plain solve does)."""
    from network_opt.model.stochastic import build_extensive_form
    from network_opt.solver.highs import solve_model

    m = build_extensive_form(datas, list(probs), alpha=alpha, weight=weight, nonanticipativity=opts.nonanticipativity)
    out = solve_model(m, design, progress=progress)
    if not out.has_plan:
        return out, None
    plan = plan_values(m.scenario[0])
    return out, plan


def _eta_low(ws: list[ScenarioOutcome], gap: float) -> float:
    """A proven lower bound of the optimal value at risk (currency): the optimal eta is at least
    the plan's lowest scenario cost, which is at least that scenario's wait-and-see optimum, which
    is at least its solve's cost less the relative gap it was solved to. Raises ValueError when a
    wait-and-see solve did not reach that gap."""
    if not ws or any(r.status != SolveStatus.OPTIMAL or not math.isfinite(r.cost) for r in ws):
        raise ValueError("--decomposition benders with a CVaR weight needs every scenario solved to optimality "
                         "on its own (the lower bound of the value at risk)")
    return min(r.cost - gap * abs(r.cost) for r in ws) - 1e-6 * (1.0 + max(abs(r.cost) for r in ws))


def _benders(datas: list[ModelData], probs: np.ndarray, alpha: float, weight: float, opts: StochasticOptions,
             ws: list[ScenarioOutcome], start: Plan | None = None,
             source: tuple[Instance, ScenarioSet, bool | None] | None = None
             ) -> tuple[SolveOutcome, Plan | None, dict[str, Any]]:
    """The stochastic design by Benders decomposition (:mod:`network_opt.solver.benders`,
    :mod:`network_opt.solver.benders_scenarios`).

    Without CVaR: **scenario-wise**, one block per scenario built from that scenario's own model
    (:func:`scenario_block`, in ``opts.benders_workers`` processes), never the extensive form;
    ``start`` (the expected-value plan) is evaluated first, an upper bound from the start.
    ``source`` (instance, scenarios, soft targets): worker processes prepare their scenarios' data
    from it rather than receive ``datas`` (tens of MB each pickled).

    With a CVaR weight: the extensive form (shared first stage) split on HiGHS's matrix (the value
    at risk ties the scenarios together in the master), the value at risk with the proven lower
    bound :func:`_eta_low` (without one the master is unbounded at its first iteration)."""
    from network_opt.model.stochastic import build_extensive_form
    from network_opt.solver.benders import BendersOptions, benders_solve, first_stage_mask
    from network_opt.solver.benders_scenarios import scenario_benders
    from network_opt.solver.handoff import HighsModel, TriviallyInfeasible
    from network_opt.solver.highs import trivially_infeasible

    if weight == 0:
        workers = opts.benders_workers if opts.benders_workers is not None else (os.cpu_count() or 1)
        labels = list(source[1].names) if source is not None else [str(k) for k in range(len(datas))]
        if source is not None and workers > 1:
            inst, sset, soft = source
            tasks = [BlockTask(float(p), start if k == 0 else None, instance=inst, overrides=o, soft_targets=soft)
                     for k, (p, o) in enumerate(zip(probs, sset.overrides, strict=True))]
        else:
            tasks = [BlockTask(float(p), start if k == 0 else None, data=d)
                     for k, (d, p) in enumerate(zip(datas, probs, strict=True))]
        try:
            res = scenario_benders(scenario_block, tasks, labels, opts.solve,
                                   BendersOptions(persistent=opts.benders_persistent), workers=workers)
        except TriviallyInfeasible as exc:
            return trivially_infeasible(exc), None, {}
        plan = plan_of(res.names, res.plan, datas[0]) if res.plan is not None else None
        return res.outcome, plan, res.record.as_dict()
    m = build_extensive_form(datas, list(probs), alpha=alpha, weight=weight, nonanticipativity="shared")
    first = first_stage_vars(m.scenario[0])
    if weight > 0:
        m.var_at_risk.setlb(_eta_low(ws, opts.solve.mip_gap))
        first.append(m.var_at_risk)
    try:
        hm = HighsModel(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc), None, {}
    out, record = benders_solve(hm, first_stage_mask(hm, first), opts.solve)
    return out, (plan_values(m.scenario[0]) if out.has_plan else None), record.as_dict()


@dataclass(frozen=True)
class BlockTask:
    """One scenario of the scenario-wise Benders decomposition: its probability, a start plan (or
    None), and its data, given (``data``) or prepared where the task runs (``instance`` with
    ``overrides`` and ``soft_targets``: a worker process then receives the instance once, not each
    scenario's data)."""

    probability: float
    start: Plan | None = None
    data: ModelData | None = None
    instance: Instance | None = None
    overrides: tuple[Override, ...] = ()
    soft_targets: bool | None = None


def scenario_block(task: BlockTask) -> Any:
    """One scenario's piece of the scenario-wise Benders decomposition
    (:func:`network_opt.solver.benders_scenarios.scenario_piece`) for a :class:`BlockTask`. Builds the
    scenario's own model (:func:`network_opt.model.stochastic.scenario_model`, objective its cost in
    currency), compiles it to arrays and drops the Pyomo model on return.
    The first-stage columns are named by their Pyomo names."""
    from network_opt.model.stochastic import scenario_model
    from network_opt.solver.benders_scenarios import scenario_piece
    from network_opt.solver.handoff import INF, compile_model

    probability, start = task.probability, task.start
    with PYOMO_BUILD_LOCK:
        if task.data is not None:
            d = task.data
        else:
            assert task.instance is not None
            d = scenario_data(task.instance, task.overrides, task.soft_targets)
        m = scenario_model(d, 1.0)
        mm, columns, _rows = compile_model(m)
        fvars = first_stage_vars(m)
        col = {id(v): j for j, v in enumerate(columns)}
        first_cols = np.fromiter((col.get(id(v), -1) for v in fvars), dtype=np.int64, count=len(fvars))
        names = [v.name for v in fvars]
        lower = np.array([v.value if v.fixed else (-INF if v.lb is None else v.lb) for v in fvars], dtype=float)
        upper = np.array([v.value if v.fixed else (INF if v.ub is None else v.ub) for v in fvars], dtype=float)
        integer = np.array([v.is_integer() for v in fvars], dtype=bool)
        values = None
        if start is not None:
            values = np.array([start[v.parent_component().local_name][v.index()] for v in fvars], dtype=float)
        del m, columns, col, fvars, d
    return scenario_piece(mm, first_cols, names, lower, upper, integer, probability, values)


def plan_of(names: list[str], values: np.ndarray, d: ModelData) -> Plan:
    """The :data:`Plan` (component -> index -> value) of first-stage values given by Pyomo name, read
    off a model of ``d`` (names and indices as :func:`scenario_block` gives them); integers rounded."""
    from network_opt.model.stochastic import scenario_model

    m = scenario_model(d, 1.0)
    where = {n: float(x) for n, x in zip(names, values.tolist(), strict=True)}
    out: Plan = {}
    for v in first_stage_vars(m):
        x = where[v.name]
        out.setdefault(v.parent_component().local_name, {})[v.index()] = float(round(x)) if v.is_integer() else x
    return out


def _interrupted(inst: Instance, sset: ScenarioSet, outcome: SolveOutcome, plan: Plan, levels: pd.DataFrame,
                 audit: dict[str, Any],
                 decomposition: dict[str, Any], soft_targets: bool | None, alpha: float, weight: float,
                 clocks: tuple[float, float, float, float], seed: int,
                 stop: interrupts.Interrupted) -> StochasticResult:
    """The design stopped by SIGINT/SIGTERM once its plan was found: that plan with its objective,
    bound and gap (``outcome``; currency), no measure and no table (they need the scenario solves
    that were stopped). ``summary["stochastic"]["interrupted"]`` says so."""
    t0, t1, tw, t2 = clocks
    now = time.perf_counter()
    summary = _summary(inst, outcome, audit, soft_targets, t0, t1, t2, now)
    summary.timings = {"load_s": t1 - t0, "wait_and_see_s": tw - t1, "solve_s": t2 - tw, "evaluate_s": now - t2}
    summary["stochastic"] = {
        "scenarios": len(sset.names), "source": "sampled" if sset.sampled else "declared",
        "seed": seed if sset.sampled else None, "expected_value_scenario": sset.expected_label,
        "cvar_alpha": alpha, "cvar_weight": weight,
        "objective": "expected cost + cvar_weight x CVaR(cvar_alpha)" if weight > 0 else "expected cost",
        "decomposition": decomposition, "plan": _plan_json(plan, levels),
        "interrupted": {"signal": interrupts.signal_name(stop.signum),
                        "note": "stopped after the plan was found: the objective, bound and gap are the design's; "
                                "RP, EEV, WS, VSS, EVPI, the regret, robustness and out-of-sample figures and the "
                                "tables stochastic.csv, regret.csv and robustness.csv were not computed"},
    }
    sol = Solution(outcome=outcome, tables={}, summary=summary, inst=inst)
    return StochasticResult(sol, sset, plan, None, {})


def _no_plan(inst: Instance, sset: ScenarioSet, outcome: SolveOutcome, audit: dict[str, Any],
             decomposition: dict[str, Any], soft_targets: bool | None, alpha: float, weight: float, t0: float,
             t1: float) -> StochasticResult:
    now = time.perf_counter()
    summary = _summary(inst, outcome, audit, soft_targets, t0, t1, now, now)
    summary["stochastic"] = {"scenarios": len(sset.names), "cvar_alpha": alpha, "cvar_weight": weight,
                             "decomposition": decomposition}
    return StochasticResult(Solution(outcome=outcome, tables={}, summary=summary, inst=inst), sset, None, None, {})


def _stochastic_audit(opts: StochasticOptions, n: int, alpha: float, weight: float) -> dict[str, Any]:
    """The ``options`` of summary.json that a stochastic run takes from ``opts`` rather than from its
    :class:`SolveOptions` (whose ``decomposition`` is the plain solve's, always "none" here): what the
    run did, i.e. ``n`` scenarios drawn or declared, the risk measure in force (``alpha``, ``weight``:
    the option or else the instance's ``stochastic:`` block), the decomposition and where the
    scenario solves ran."""
    return {"decomposition": opts.decomposition, "scenarios": n, "seed": opts.seed, "cvar_alpha": alpha,
            "cvar_weight": weight, "nonanticipativity": opts.nonanticipativity,
            "out_of_sample": opts.out_of_sample, "ph_iterations": opts.ph_iterations, "ph_rho": opts.ph_rho,
            "lshaped_iterations": opts.lshaped_iterations, "executor": opts.executor, "workers": opts.workers,
            "scheduler": opts.scheduler, "benders_workers": opts.benders_workers}


def _summary(inst: Instance, outcome: SolveOutcome, audit: dict[str, Any], soft_targets: bool | None,
             t0: float, t1: float, t2: float, t3: float) -> Summary:
    return Summary(instance=inst.name, status=outcome.status, termination=outcome.termination,
                   objective=outcome.objective, bound=outcome.bound, mip_gap=outcome.mip_gap,
                   currency=inst.settings.currency, periods=list(inst.years),
                   soft_targets=bool(inst.settings.targets.soft if soft_targets is None else soft_targets),
                   timings={"load_s": t1 - t0, "solve_s": t2 - t1, "evaluate_s": t3 - t2},
                   solver={"name": outcome.solver_name, "version": outcome.solver_version,
                           **({"companions": outcome.companions} if outcome.companions is not None else {})},
                   warnings=[str(w) for w in inst.warnings] + outcome.numeric_warnings,
                   tool=audit["tool"], command=audit["command"], options=audit["options"],
                   instance_path=audit["instance_path"], input_files=audit["input_files"])


def _costs(rows: list[ScenarioOutcome]) -> np.ndarray:
    return np.array([r.cost if r.status not in (SolveStatus.INVALID, SolveStatus.ERROR) else math.nan for r in rows])


def _metrics(sset: ScenarioSet, sp: list[ScenarioOutcome], eev: list[ScenarioOutcome], ws: list[ScenarioOutcome],
             oos: list[ScenarioOutcome], alpha: float, weight: float, outcome: SolveOutcome) -> dict[str, Any]:
    """RP, EEV, WS, VSS, EVPI (currency, objective = expected cost + weight x CVaR), the expected
    cost and CVaR of the stochastic plan, and the out-of-sample estimate."""
    from network_opt.model.stochastic import cvar

    p = np.asarray(sset.probabilities)
    c_sp, c_ev, c_ws = _costs(sp), _costs(eev), _costs(ws)
    rp = risk_objective(c_sp, p, alpha, weight)
    eev_v = risk_objective(c_ev, p, alpha, weight) if len(c_ev) else math.nan
    ws_v = risk_objective(c_ws, p, alpha, weight)
    out: dict[str, Any] = {
        "RP": rp, "EEV": eev_v, "WS": ws_v, "VSS": eev_v - rp, "EVPI": rp - ws_v,
        "expected_cost": float(np.sum(p * c_sp)), "cvar": cvar(c_sp, p, alpha),
        "expected_value_plan_expected_cost": float(np.sum(p * c_ev)) if len(c_ev) else math.nan,
        "expected_value_plan_infeasible_scenarios": int(np.sum(~np.isfinite(c_ev))) if len(c_ev) else 0,
        "solver_objective": outcome.objective,
    }
    if oos:
        c = _costs(oos)
        finite = c[np.isfinite(c)]
        mean = float(finite.mean()) if len(finite) else math.nan
        sd = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
        from scipy.stats import t as student  # type: ignore[import-untyped]

        half = float(student.ppf(0.975, len(finite) - 1) * sd / math.sqrt(len(finite))) if len(finite) > 1 else math.nan
        in_sample = out["expected_cost"]
        out["out_of_sample"] = {
            "scenarios": len(oos), "infeasible": int(np.sum(~np.isfinite(c))), "expected_cost": mean,
            "sd": sd, "ci95_low": mean - half, "ci95_high": mean + half, "in_sample_expected_cost": in_sample,
            "in_sample_within_ci95": bool(mean - half <= in_sample <= mean + half) if math.isfinite(half) else None,
            "relative_difference": (mean - in_sample) / abs(in_sample) if in_sample else math.nan,
        }
    return out


def _scenario_table(sset: ScenarioSet, sp: list[ScenarioOutcome], eev: list[ScenarioOutcome],
                    ws: list[ScenarioOutcome], oos_set: ScenarioSet | None, oos: list[ScenarioOutcome],
                    eev_recourse: list[ScenarioOutcome] | None = None,
                    oos_recourse: list[ScenarioOutcome] | None = None) -> pd.DataFrame:
    """One row per scenario (module docstring); with a declared recourse, the columns
    ``cost_expected_value_plan_recourse`` (the expected-value plan's cost with the recourse where it
    is infeasible, else its cost), ``cost_recourse`` (the same for the stochastic plan, out of
    sample) and ``recourse_t`` (tonnes left uncollected or disposed of where the recourse was used;
    0 elsewhere)."""
    def rows(scen: ScenarioSet, kind: str, plan_rows: list[ScenarioOutcome], ev_rows: list[ScenarioOutcome] | None,
             own: list[ScenarioOutcome] | None, ev_rec: list[ScenarioOutcome] | None = None,
             plan_rec: list[ScenarioOutcome] | None = None) -> pd.DataFrame:
        t = pd.DataFrame({"set": kind, "scenario": list(scen.names), "probability": list(scen.probabilities)})
        for col in scen.inputs.columns:
            t[col] = scen.inputs[col].to_numpy()
        t["status"] = [r.status for r in plan_rows]
        t["cost"] = [r.cost for r in plan_rows]
        t["targets_met"] = [r.targets_met for r in plan_rows]
        t["targets_total"] = [r.targets_total for r in plan_rows]
        t["unused_capacity_t"] = [r.unused_capacity_t for r in plan_rows]
        t["cost_expected_value_plan"] = [r.cost for r in ev_rows] if ev_rows else math.nan
        t["cost_own_optimum"] = [r.cost for r in own] if own else math.nan
        t["regret"] = t["cost"] - t["cost_own_optimum"]
        if ev_rec or plan_rec:
            t["cost_expected_value_plan_recourse"] = [r.cost for r in ev_rec] if ev_rec else math.nan
            t["cost_recourse"] = [r.cost for r in plan_rec] if plan_rec else t["cost"]
            used = ev_rec or plan_rec or []
            t["recourse_t"] = [r.escaped_t if r.name.split(":")[0].endswith("recourse") else 0.0 for r in used]
        t["error"] = [r.error for r in plan_rows]
        return t

    parts = [rows(sset, "in_sample", sp, eev, ws, eev_recourse)]
    if oos_set is not None and oos:
        parts.append(rows(oos_set, "out_of_sample", oos, None, None, None, oos_recourse))
    return pd.concat(parts, ignore_index=True)


def _with_recourse(run: Any, rows: list[ScenarioOutcome], scen: ScenarioSet, plan: Plan | None, recourse: Recourse,
                   options: SolveOptions, soft_targets: bool | None, prefix: str) -> list[ScenarioOutcome]:
    """``rows`` (a plan evaluated on ``scen``) with every scenario the plan leaves infeasible
    evaluated again with the recourse (its settings: packs the plan cannot take left uncollected or
    disposed of at the declared prices); the other rows as they are. The recourse rows are named
    ``prefix + scenario``."""
    redo = [k for k, r in enumerate(rows) if not math.isfinite(r.cost) and r.status not in
            (SolveStatus.INVALID, SolveStatus.ERROR)]
    if not redo or plan is None:
        return list(rows)
    settings = tuple(recourse.settings().items())
    again = run([ScenarioTask(prefix + scen.names[k], scen.overrides[k], plan, options, soft_targets, settings)
                 for k in redo])
    out = list(rows)
    for k, r in zip(redo, again, strict=True):
        out[k] = r
    return out


def _recourse_metrics(sset: ScenarioSet, eev: list[ScenarioOutcome], eev_recourse: list[ScenarioOutcome],
                      metrics: dict[str, Any], oos: list[ScenarioOutcome], oos_recourse: list[ScenarioOutcome],
                      recourse: Recourse, alpha: float, weight: float) -> dict[str, Any]:
    """The finite variant of EEV and VSS (currency, same objective as RP): the expected-value plan
    evaluated with the declared recourse in the scenarios it leaves infeasible, ``VSS_recourse`` =
    that minus RP; what the recourse rests on (its prices and source), in how many scenarios it was
    used, the expected tonnes it left uncollected or disposed of; out of sample, the stochastic
    plan's mean cost and 95 % interval with the recourse where it is infeasible."""
    p = np.asarray(sset.probabilities)
    used = [k for k, r in enumerate(eev_recourse) if r.name.startswith("ev+recourse:")]
    c = _costs(eev_recourse)
    value = risk_objective(c, p, alpha, weight) if len(c) else math.nan
    info: dict[str, Any] = {
        "description": recourse.describe(), "source": recourse.source,
        "uncollected_cost_per_t": recourse.uncollected_cost_per_t, "disposal_cost_per_t": recourse.disposal_cost_per_t,
        "expected_value_plan_scenarios": len(used),
        "expected_value_plan_probability": float(p[used].sum()) if used else 0.0,
        "expected_value_plan_expected_t": float(sum(p[k] * eev_recourse[k].escaped_t for k in used)),
        "expected_value_plan_still_infeasible": int(np.sum(~np.isfinite(c))) if len(c) else 0,
    }
    if oos and oos_recourse:
        co = _costs(oos_recourse)
        finite = co[np.isfinite(co)]
        mean = float(finite.mean()) if len(finite) else math.nan
        sd = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
        from scipy.stats import t as student

        half = float(student.ppf(0.975, len(finite) - 1) * sd / math.sqrt(len(finite))) if len(finite) > 1 else math.nan
        info["out_of_sample"] = {"scenarios_with_recourse": sum(r.name.startswith("recourse:") for r in oos_recourse),
                                 "still_infeasible": int(np.sum(~np.isfinite(co))), "expected_cost": mean, "sd": sd,
                                 "ci95_low": mean - half, "ci95_high": mean + half}
    return {"EEV_recourse": value, "VSS_recourse": value - metrics["RP"], "recourse": info}


def _regret(run: Any, tasks: Any, sset: ScenarioSet, ws: list[ScenarioOutcome], plan: Plan,
            ev_plan: Plan | None, sp: list[ScenarioOutcome], eev: list[ScenarioOutcome], limit: int) -> pd.DataFrame:
    """Rows: the stochastic plan, the expected-value plan and (up to ``limit`` scenarios) each
    scenario's own optimal plan; columns: the cost of that plan in each scenario minus the
    scenario's own optimum (currency), then its expected and largest regret."""
    own = _costs(ws)
    p = np.asarray(sset.probabilities)
    rows: dict[str, np.ndarray] = {"stochastic": _costs(sp) - own}
    if ev_plan is not None:
        rows["expected_value"] = _costs(eev) - own
    if len(sset.names) <= limit:
        for k, r in enumerate(ws):
            if r.plan is None:
                continue
            ev = run(tasks(r.plan, sset, f"{r.name}@"))
            rows[f"own:{sset.names[k]}"] = _costs(ev) - own
    t = pd.DataFrame(rows, index=list(sset.names)).T
    t.insert(0, "plan", t.index)
    t["expected_regret"] = (t[list(sset.names)].to_numpy() * p).sum(axis=1)
    t["max_regret"] = t[list(sset.names)].max(axis=1)
    return t.reset_index(drop=True)


def _robustness(inst: Instance, d: ModelData, sset: ScenarioSet, ws: list[ScenarioOutcome],
                sp: list[ScenarioOutcome], ev_alone: ScenarioOutcome) -> pd.DataFrame:
    """Per facility: where it is, the probability-weighted share of scenarios whose own optimum
    opens it (in some period), and whether the stochastic and expected-value plans open it (and
    their largest capacity over the periods, t/yr)."""
    fac = d.facilities[["id", "site", "kind", "technology", "status"]].rename(columns={"id": "facility"})
    sites = inst["sites"].set_index("id")
    out = fac.copy()
    out["latitude"] = sites["latitude"].reindex(out["site"]).to_numpy()
    out["longitude"] = sites["longitude"].reindex(out["site"]).to_numpy()
    p = np.asarray(sset.probabilities)
    share = np.zeros(len(out))
    for prob, r in zip(p, ws, strict=True):
        share += prob * np.array([r.open.get(f, False) for f in out["facility"]], dtype=float)
    solved = sum(prob for prob, r in zip(p, ws, strict=True) if r.open)
    out["open_share"] = share / solved if solved > 0 else math.nan
    ref = next((r for r in sp if r.open), None)
    out["stochastic_open"] = [bool(ref.open.get(f, False)) if ref else False for f in out["facility"]]
    out["stochastic_capacity_t"] = [ref.capacity.get(f, 0.0) if ref else 0.0 for f in out["facility"]]
    out["expected_value_open"] = [bool(ev_alone.open.get(f, False)) for f in out["facility"]]
    out["expected_value_capacity_t"] = [ev_alone.capacity.get(f, 0.0) for f in out["facility"]]
    return out.reset_index(drop=True)


def _plan_json(plan: Plan | None, levels: pd.DataFrame) -> dict[str, Any] | None:
    """A plan as JSON, by the ids of the instance, for its nonzero values: ``level_open`` a list of
    {facility, level, period} (``levels``: the model data's level rows, whose positions index
    ``level_open``), ``modules`` and ``closed`` lists of {facility, period, value} (modules
    installed; share closed), ``var_at_risk`` a number (currency)."""
    if plan is None:
        return None
    out: dict[str, Any] = {}
    for name, vals in plan.items():
        if name not in FIRST_STAGE:
            continue
        nonzero = [(k, v) for k, v in vals.items() if abs(v) > 1e-9]
        if name == "level_open":
            out[name] = [{"facility": str(levels["facility"].iat[int(j)]), "level": str(levels["level"].iat[int(j)]),
                          "period": int(p)} for (j, p), _ in sorted(nonzero, key=lambda kv: (kv[0][1], kv[0][0]))]
        elif name == "var_at_risk":
            out[name] = next((float(v) for _, v in vals.items()), 0.0)
        else:
            out[name] = [{"facility": str(f), "period": int(p), "value": float(v)}
                         for (f, p), v in sorted(nonzero, key=lambda kv: (kv[0][1], str(kv[0][0])))]
    return out


def write_stochastic(result: StochasticResult, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``summary.json``, ``stochastic.csv``, ``regret.csv``, ``robustness.csv`` and
    ``results.xlsx`` into ``out`` (atomically, as :func:`network_opt.results.write.write_results`)."""
    from network_opt.results.write import write_results

    return write_results(result.solution, out, overwrite=overwrite)


def with_solve(options: StochasticOptions, **changes: Any) -> StochasticOptions:
    """``options`` with fields of its :class:`SolveOptions` changed."""
    return dataclasses.replace(options, solve=dataclasses.replace(options.solve, **changes))


__all__ = [
    "BASE",
    "DECOMPOSITIONS",
    "ScenarioOutcome",
    "ScenarioSet",
    "ScenarioTask",
    "StochasticOptions",
    "StochasticResult",
    "out_of_sample_set",
    "run_scenario_task",
    "scenario_set",
    "solve_stochastic",
    "write_stochastic",
]
