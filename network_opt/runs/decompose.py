"""Scenario decomposition of the two-stage stochastic design on mpi-sppy: progressive hedging
(:func:`solve_ph`) and the L-shaped method (:func:`solve_lshaped`).

The scenario creator handed to mpi-sppy is :func:`network_opt.model.stochastic.scenario_model`, the
function the extensive form uses on its blocks: both solve the same scenario problems, with the
first-stage variables of :func:`network_opt.model.stages.first_stage_components` as mpi-sppy's
non-anticipative variables. Each scenario is solved by HiGHS through Pyomo's ``appsi_highs``.

Serially (one process) PH runs every scenario in turn. Under ``mpiexec -n K`` (mpi4py and an MPI
runtime, e.g. ``pip install 'network_opt[stochastic]'``, which brings the ``mpich`` wheel) the same
call spreads the scenarios over the K ranks (mpi-sppy's own scenario distribution); nothing in the
code changes. Bounds (PH): the outer (lower) bound is the best of mpi-sppy's trivial bound (each
scenario on its own, iteration 0) and its Lagrangian bound with the final PH weights
(``post_solve_bound``); the inner (upper) bound is the objective of the best candidate plan (the
scenarios' own first-stage solutions at the last iteration) evaluated on every scenario by
:mod:`network_opt.runs.stochastic`. L-shaped: the master problem's optimum is the outer bound and
its plan, evaluated the same way, the inner bound; it is exact when the cuts stop (every
second-stage problem is an LP). The gap between the two bounds is what the summary reports.

mpi-sppy's hub-and-spoke cylinders (``WheelSpinner``) give each bound spoke ranks of its own, so a
one-process run has no bound spoke; the plain PH and L-shaped objects used here run on one process
and spread their scenarios over any number of ranks, which is what "serially and under ``mpiexec
-n K`` unchanged" asks, and the bounds are computed as above at any rank count.

SIGINT/SIGTERM: both methods run inside :func:`stoppable_highs`, so that a stop request ends them
within :data:`network_opt.common.interrupts.GRACE_S` seconds with
:class:`~network_opt.common.interrupts.Interrupted` (no plan: :mod:`network_opt.runs.stochastic`
writes nothing then).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from network_opt.common import interrupts
from network_opt.model.data import ModelData
from network_opt.model.stages import first_stage_vars, plan_values
from network_opt.model.stochastic import first_stage_cost, scenario_model

#: Pyomo solver for the scenario problems (HiGHS through highspy, which the package needs anyway)
SOLVER = "appsi_highs"
#: environment variables an MPI launcher sets (MPICH/Hydra, Open MPI, Slurm's PMI)
MPI_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class DecompositionUnavailable(RuntimeError):
    """mpi-sppy is not installed (``pip install 'network_opt[stochastic]'``)."""


class SubproblemFailed(RuntimeError):
    """HiGHS returned no solution for a scenario subproblem of progressive hedging (mpi-sppy prints
    "Solve failed for scenario ..." and goes on with that scenario's stale values)."""


#: PH's rho of the scaled value at risk :math:`z` as a share of its objective coefficient
#: (CVaR weight x its unit, currency per unit of :math:`z`): 1.0 makes a deviation of one unit (the
#: spread of the wait-and-see costs) cost as much in the proximal term as it moves the CVaR term; on
#: the toy instance with CVaR (4 scenarios, seed 2) PH then converged in 15 iterations, with 0.1 it
#: had not in 200, with 10 it converged in 8 to a Lagrangian bound 20 times further from the optimum
ETA_RHO_SHARE = 1.0
#: mpi-sppy's ``proximal_linearization_tolerance`` (in :math:`x^2`; a new tangent of the linearised
#: proximal term is added where none lies within its square root in :math:`x`). It acts on the
#: continuous non-anticipative variables only, i.e. the scaled value at risk (binary proximal terms
#: are exact, integer ones have a tangent per integer): 1e-6 puts tangents 0.001 of the wait-and-see
#: spread apart; with mpi-sppy's 0.1 they were 0.32 apart, wider than the whole range of the
#: scenarios' values at risk, and PH never made the value at risk agree
PROX_TOL = 1e-6
#: PH iterations in a row in which a scenario subproblem may have no solution before PH is stopped
FAILED_IN_A_ROW = 10


def _fail_fast_extension() -> type:
    """An mpi-sppy PH extension that gives each iteration's subproblems the time left of PH's time
    limit (``miditer``) and counts the subproblems without a solution (``failures``) and ends
    PH with :class:`SubproblemFailed` once a scenario subproblem
    has had no solution (``solution_available`` False: HiGHS infeasible, unbounded, solve error, or a
    limit without a solution) in :data:`FAILED_IN_A_ROW` consecutive PH iterations, naming the
    scenarios and HiGHS's model status, on every MPI rank (the failures are gathered first). mpi-sppy
    only prints the failure and iterates on with the scenario's stale values, so a PH run with a
    failing subproblem went to its iteration limit. Shorter runs of failures are let pass (and noted).
    (The failures once seen on the toy instance with CVaR, tests/test_stochastic.py, 4 scenarios,
    seed 2, came from the proximal term of the value at risk in currency: :func:`solve_ph` now
    scales it, and none fails.)"""
    from mpisppy.extensions.extension import Extension

    class FailFast(Extension):
        def __init__(self, opt: Any) -> None:
            super().__init__(opt)
            self.streak: dict[str, int] = {}  # consecutive iterations without a solution, by scenario
            self.failures: dict[str, int] = {}  # iterations without a solution, by scenario (this rank's)

        def _check(self, when: str) -> None:
            failed = []
            for name, s in self.opt.local_scenarios.items():
                if getattr(s._mpisppy_data, "solution_available", True):
                    self.streak[name] = 0
                    continue
                self.streak[name] = self.streak.get(name, 0) + 1
                self.failures[name] = self.failures.get(name, 0) + 1
                if self.streak[name] < FAILED_IN_A_ROW:
                    continue
                h: Any = getattr(getattr(s, "_solver_plugin", None), "_solver_model", None)
                status = "unknown"
                with contextlib.suppress(Exception):  # no HiGHS object (another solver interface)
                    status = str(h.modelStatusToString(h.getModelStatus()))
                failed.append(f"{name} (HiGHS: {status})")
            everyone = [f for part in self.opt.mpicomm.allgather(failed) for f in part]
            if everyone:
                raise SubproblemFailed(
                    f"progressive hedging: HiGHS gave no solution for the subproblem of scenario(s) "
                    f"{', '.join(everyone[:10])}{' and more' if len(everyone) > 10 else ''} "
                    f"{FAILED_IN_A_ROW} times in a row, "
                    f"the last {when}; stopped there "
                    "(mpi-sppy would iterate on with its stale values); try --decomposition benders or none")

        def post_iter0(self) -> None:
            self._check("at iteration 0")

        def enditer(self) -> None:
            self._check(f"at iteration {getattr(self.opt, '_PHIter', '?')}")

        def miditer(self) -> None:
            """Before each PH iteration after the first: HiGHS's time limit of every subproblem is
            what is left of PH's ``time_limit`` (mpi-sppy checks it only between iterations).
            Iteration 0 runs without one: mpi-sppy stops with an error when a scenario has no
            solution there, and its solves give the candidates and the trivial bound."""
            limit = self.opt.options.get("time_limit")
            if limit is not None:
                left = max(float(limit) - (time.perf_counter() - self.opt.start_time), 0.0)
                self.opt._dynamic_solver_options_layer["options"]["time_limit"] = left

    return FailFast


@dataclass
class DecompositionOutcome:
    """What progressive hedging gave: candidate plans (first-stage values, most frequent first),
    the outer bound (currency; the best lower bound on the optimum), iterations, convergence
    metric, seconds, MPI ranks used, and PH's rho of the plan's decisions (currency per unit squared;
    None for the L-shaped method)."""

    candidates: list[dict[str, dict[Any, float]]]
    outer_bound: float | None
    trivial_bound: float | None
    iterations: int
    convergence: float | None
    seconds: float
    ranks: int = 1
    notes: list[str] = field(default_factory=list)
    rho: float | None = None


def under_mpi() -> bool:
    """True when this process was started by an MPI launcher (mpiexec) with more than one rank."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        value = os.environ.get(key)
        if value is not None:
            try:
                return int(value) > 1
            except ValueError:
                return False
    return False


def mpi_rank_size() -> tuple[int, int]:
    """(rank, size) of this process in MPI's world; (0, 1) without an MPI launcher (mpi4py is
    then not even imported)."""
    if not under_mpi():
        return 0, 1
    from mpi4py import MPI

    return int(MPI.COMM_WORLD.Get_rank()), int(MPI.COMM_WORLD.Get_size())


def require_mpisppy(decomposition: str) -> None:
    """Raise :class:`DecompositionUnavailable` when ``--decomposition`` ``decomposition`` (``ph``,
    ``lshaped``) cannot run here (mpi-sppy absent, or mpi4py without an MPI library): called before
    any scenario is solved, so that the refusal comes before the long work."""
    _mpisppy(decomposition)


def _mpisppy(decomposition: str = "ph") -> Any:
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # "Initializing mpi-sppy" on import
            import mpisppy
        from mpisppy.opt.ph import PH
        from mpisppy.utils import sputils
    except ImportError as exc:  # mpi-sppy absent, or mpi4py without an MPI library
        raise DecompositionUnavailable(
            f"--decomposition {decomposition} needs mpi-sppy: pip install 'network_opt[stochastic]' "
            f"({type(exc).__name__}: {exc})") from None
    mpisppy.tt_timer.ostream = io.StringIO()  # its progress lines, on stdout otherwise
    return PH, sputils


#: the Pyomo modules whose HiGHS interfaces mpi-sppy uses: ``appsi_highs`` (the PH subproblems) and
#: ``highs`` (the L-shaped master and Pyomo's Benders cut generator's subproblem LPs)
PYOMO_HIGHS_MODULES = ("pyomo.contrib.appsi.solvers.highs", "pyomo.contrib.solver.solvers.highs")


def _stoppable_class() -> type:
    """A subclass of ``highspy.Highs`` whose :meth:`run` goes through
    :func:`network_opt.common.interrupts.run_highs` when called from the main thread."""
    import highspy

    class StoppableHighs(highspy.Highs):
        """``highspy.Highs`` for mpi-sppy's solves. Pyomo's HiGHS interfaces call ``run()`` in the
        main thread, where Python's signal handlers cannot run until HiGHS returns (a subproblem MIP
        may take minutes), and HiGHS's interrupt callbacks then run Python in that thread, where a
        handler's exception is lost inside HiGHS (measured: a SIGINT during PH was ignored and the
        run went on for 210 s). Here ``run()`` from the main thread is
        :func:`~network_opt.common.interrupts.run_highs`: HiGHS runs in a thread, the main thread
        waits in Python (handlers run), a stop request cancels HiGHS (its interrupt callbacks) and,
        where HiGHS calls back nothing (presolve, a MIP's root LP), leaves it running after
        :data:`~network_opt.common.interrupts.GRACE_S` seconds (in the CLI, which then ends the
        process). After a stop request it raises :class:`~network_opt.common.interrupts.Interrupted`,
        which no ``except Exception`` of Pyomo or mpi-sppy catches: the decomposition ends there."""

        _network_opt_status: Any = None

        def run(self) -> Any:
            if threading.current_thread() is not threading.main_thread():  # run_highs's HiGHS thread
                self._network_opt_status = super().run()
                return self._network_opt_status
            self._network_opt_status = None
            returned = interrupts.run_highs(self)
            stop = interrupts.requested()
            if not returned or stop is not None:
                raise interrupts.Interrupted(stop if stop is not None else signal.SIGINT)
            return self._network_opt_status

    return StoppableHighs


@contextlib.contextmanager
def stoppable_highs() -> Iterator[None]:
    """While inside, the HiGHS objects that Pyomo's HiGHS interfaces (:data:`PYOMO_HIGHS_MODULES`)
    create are :func:`_stoppable_class` objects, so that SIGINT/SIGTERM stop mpi-sppy's PH and
    L-shaped runs within :data:`~network_opt.common.interrupts.GRACE_S` seconds in every phase of
    HiGHS. mpi-sppy has no hook around every solve (PH's extensions see only its subproblems, the
    L-shaped method none), and the only solver option it passes, a time limit, cannot answer a
    signal; so the class those modules look up as ``highspy.Highs`` is replaced for the length of
    the decomposition (each module's ``highspy`` name points to a view of highspy with that one class
    changed) and restored after. Their ``solve`` is wrapped too (:func:`_holding_stops`): inside it a
    first stop request is held until HiGHS's run begins (which then raises) or the solve returns (the
    wrapper then raises), not raised in the middle of Pyomo's own Python there; between two solves
    (mpi-sppy's Python, the scenario models' build) a signal raises at once. Main thread only:
    other threads (dask workers) use HiGHS as it is."""
    import importlib

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import highspy

    cls = _stoppable_class()

    class _View:
        """highspy, but ``Highs`` is the stoppable subclass."""

        Highs = cls

        def __getattr__(self, name: str) -> Any:
            return getattr(highspy, name)

    saved: list[tuple[Any, Any]] = []
    wrapped: list[tuple[type, Any]] = []  # (interface class, its own solve or None if inherited)
    for name in PYOMO_HIGHS_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an older Pyomo without this interface: mpi-sppy cannot use it either
            continue
        if hasattr(module, "highspy"):
            saved.append((module, module.highspy))
            setattr(module, "highspy", _View())  # noqa: B010 (a module attribute mypy does not know)
        interface = getattr(module, "Highs", None)
        solve = getattr(interface, "solve", None) if isinstance(interface, type) else None
        if isinstance(interface, type) and callable(solve):
            wrapped.append((interface, interface.__dict__.get("solve")))
            setattr(interface, "solve", _holding_stops(solve))  # noqa: B010
    try:
        with interrupts.handling():
            yield
    finally:
        for module, original in saved:
            setattr(module, "highspy", original)  # noqa: B010
        for interface, own in wrapped:
            if own is None:
                delattr(interface, "solve")  # the inherited one shows again
            else:
                setattr(interface, "solve", own)  # noqa: B010


def _holding_stops(solve: Callable[..., Any]) -> Callable[..., Any]:
    """``solve`` of a Pyomo HiGHS interface, with a first stop request held while it runs
    (:func:`network_opt.common.interrupts.deferred`) and raised as
    :class:`~network_opt.common.interrupts.Interrupted` when it returns; HiGHS's run inside stops at
    once or does not start (:func:`_stoppable_class`), so the solve ends within the same seconds.
    Raised at once inside the interface instead, amid its output capture and model updates, the
    stop once came out as an ``Exception`` that mpi-sppy reported as "Solve failed for scenario ...",
    then solved the scenario again with ``tee=True`` (the CI of 2026-12-07, PH, SIGINT)."""

    def holding(self: Any, *args: Any, **kwargs: Any) -> Any:
        with interrupts.deferred():
            result = solve(self, *args, **kwargs)
        interrupts.check()
        return result

    return holding


def _creator(datas: dict[str, ModelData], probabilities: dict[str, float], alpha: float,
             weight: float, eta_bounds: tuple[float, float] | None,
             constant_as_variable: bool = False, eta_unit: tuple[float, float] | None = None) -> Callable[..., Any]:
    _, sputils = _mpisppy()

    def scenario_creator(name: str, **_kwargs: Any) -> Any:
        m = scenario_model(datas[name], probabilities[name], alpha=alpha, weight=weight, name=name,
                           var_at_risk_bounds=eta_bounds, var_at_risk_unit=eta_unit)
        if constant_as_variable:
            _constant_as_variable(m)
        sputils.attach_root_node(m, first_stage_cost(m), first_stage_vars(m))
        m._mpisppy_probability = probabilities[name]
        return m

    return scenario_creator


def solve_ph(datas: Sequence[ModelData], names: Sequence[str], probabilities: Sequence[float], *,
             alpha: float = 0.9, weight: float = 0.0, iterations: int = 50, rho: float | None = None,
             mip_gap: float = 1e-4, time_limit: float | None = None, convergence: float = 1e-4,
             candidates: int = 5, eta_bounds: tuple[float, float] | None = None,
             eta_scale: float | None = None, threads: int | None = None) -> DecompositionOutcome:
    r"""Progressive hedging (mpi-sppy) on the scenarios ``datas`` (named ``names``, with
    ``probabilities``); returns the candidate plans and the outer bound on every rank.

    ``rho``: PH's penalty per unit of deviation from the consensus (currency per unit of a
    first-stage variable); default: 10 % of the mean absolute fixed plus opening cost of a
    level, a scale at which a facility's open/close decision moves within a few iterations.
    ``time_limit``: seconds for the PH iterations (checked between iterations; from iteration 1 on
    every subproblem's HiGHS run gets what is left of it; iteration 0 and the Lagrangian bound run
    without one, as before: mpi-sppy needs every scenario solved at iteration 0).
    ``threads``: HiGHS's threads in every subproblem (None: HiGHS decides), as
    :func:`network_opt.solver.highs.solve_model` sets them; ``mip_gap`` is every subproblem's
    relative MIP gap.
    ``eta_bounds``: bounds of the value at risk (currency), needed with ``weight > 0`` (the
    linearised proximal term and the Lagrangian bound need a bounded variable).
    ``eta_scale``: currency per unit of the value at risk as PH sees it (default: a tenth of the
    box; :func:`network_opt.runs.stochastic.solve_stochastic` passes the spread of the wait-and-see
    costs). The non-anticipative variable is :math:`z = (\eta - L)/s` (``L`` the box's lower end,
    ``s`` this scale), not :math:`\eta` in currency: mpi-sppy builds the linearised proximal term on
    :math:`z^2`, and an :math:`\eta` of -1.8e6 EUR (the toy instance) gave every subproblem rows with
    right-hand sides of 3e12 and an objective offset of 8e15, where HiGHS reported "Solve error" or
    "Infeasible" for 40 of the 200 subproblems of 50 iterations. Its rho is
    :data:`ETA_RHO_SHARE` x ``weight`` x ``s`` (currency per unit of :math:`z` squared); ``rho``
    applies to the plan's decisions only. The candidates' ``var_at_risk`` is given back in currency.
    """
    PH, sputils = _mpisppy()
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    logging.getLogger("mpisppy").setLevel(logging.ERROR)
    by_name = dict(zip(names, datas, strict=True))
    probs = dict(zip(names, (float(p) for p in probabilities), strict=True))
    if rho is None:
        lv = datas[0].levels
        scale = float((lv["opening_cost"].fillna(0.0) + lv["fixed_cost_per_year"].fillna(0.0)).abs().mean() or 1.0)
        rho = max(0.1 * scale, 1.0)
    eta_unit = None
    eta_rho = None
    if weight > 0:
        if eta_bounds is None:
            raise ValueError("progressive hedging with a CVaR weight needs eta_bounds (the box of the value at risk)")
        low, high = float(eta_bounds[0]), float(eta_bounds[1])
        unit = float(eta_scale) if eta_scale is not None else (high - low) / 10.0
        if not (math.isfinite(unit) and unit > 0 and math.isfinite(low) and math.isfinite(high) and high >= low):
            raise ValueError(f"progressive hedging: the value at risk needs a finite box and a unit > 0, "
                             f"got eta_bounds {eta_bounds} and eta_scale {eta_scale}")
        eta_unit = (low, unit)
        eta_rho = ETA_RHO_SHARE * weight * unit
    highs_options = _highs_options(mip_gap, threads)
    options = {
        "solver_name": SOLVER,
        "PHIterLimit": int(iterations),
        "defaultPHrho": float(rho),
        "convthresh": float(convergence),
        "verbose": False,
        "display_progress": False,
        "display_timing": False,
        "display_convergence_detail": False,
        "solver_options_layers": [sputils.solver_options_layer("default", highs_options)],
        "linearize_proximal_terms": True,  # keeps every subproblem a MILP for HiGHS
        "linearize_binary_proximal_terms": True,
        "proximal_linearization_tolerance": PROX_TOL,
        "time_limit": time_limit,
    }
    begin = time.perf_counter()
    notes: list[str] = []
    with stoppable_highs():  # SIGINT/SIGTERM end the decomposition within seconds (Interrupted)
        ph = PH(options, list(names), _creator(by_name, probs, alpha, weight, eta_bounds, eta_unit=eta_unit),
                scenario_creator_kwargs={}, extensions=_fail_fast_extension(),
                rho_setter=(lambda s: [(id(s.var_at_risk), eta_rho)]) if eta_rho is not None else None)
        conv, _eobj, trivial = ph.ph_main(finalize=False)
        plans = [plan_values(s) for s in ph.local_scenarios.values()]
        if eta_unit is not None:  # the value at risk back in currency
            for p in plans:
                p["var_at_risk"] = {k: eta_unit[0] + eta_unit[1] * v for k, v in p["var_at_risk"].items()}
        comm = ph.mpicomm
        failures = Counter[str]()
        for part in comm.allgather(dict(getattr(ph.extobject, "failures", {}))):
            failures.update(part)
        if failures:
            notes.append(f"HiGHS gave no solution for {sum(failures.values())} scenario subproblem(s) of PH ("
                         + ", ".join(f"{k} x{v}" for k, v in sorted(failures.items())[:10])
                         + "): those iterations went on with the scenarios' previous values")
        gathered = comm.allgather(plans)
        everyone = [p for part in gathered for p in part]
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # a warning for integers outside the first stage
                # every option again, time limit off (the plugins keep the last iteration's)
                bound_options = {**highs_options, "time_limit": math.inf}
                lagrangian = float(ph.post_solve_bound(solver_options=bound_options))
        except Exception as exc:  # a failed bound solve leaves the trivial bound
            lagrangian = None
            notes.append(f"Lagrangian bound not computed: {type(exc).__name__}: {exc}")
    bounds = [b for b in (trivial, lagrangian) if b is not None and math.isfinite(b)]
    counts = Counter(_key(p) for p in everyone)
    first: dict[tuple[Any, ...], dict[str, dict[Any, float]]] = {}
    for p in everyone:
        first.setdefault(_key(p), p)
    ordered = [first[k] for k, _ in counts.most_common(max(1, candidates))]
    return DecompositionOutcome(candidates=ordered, outer_bound=max(bounds) if bounds else None,
                                trivial_bound=float(trivial) if trivial is not None else None,
                                iterations=int(getattr(ph, "_PHIter", iterations)),
                                convergence=float(conv) if conv is not None else None,
                                seconds=time.perf_counter() - begin, ranks=int(comm.Get_size()), notes=notes,
                                rho=float(rho))


def _highs_options(mip_gap: float, threads: int | None) -> dict[str, Any]:
    """The HiGHS options of the decomposition's solves, as
    :func:`network_opt.solver.highs.solve_model` gives them: relative MIP gap and threads (when
    given; HiGHS's process-wide scheduler is set to them, :func:`network_opt.solver.highs.use_threads`).
    The time limit is the caller's: PH's for its iterations after the first, the L-shaped method's
    between iterations."""
    from network_opt.solver.highs import use_threads

    use_threads(threads)
    out: dict[str, Any] = {"mip_rel_gap": float(mip_gap)}
    if threads is not None:
        out["threads"] = int(threads)
    return out


def _constant_as_variable(m: Any) -> None:
    """Carry the constant of the scenario objective (collection costs of the supply, currency) on a
    second-stage variable fixed by its bounds to 1: mpi-sppy's L-shaped method counts an
    objective's constant as first-stage (the first scenario's in the root, and again unweighted in
    every subproblem), which is wrong when, as here, it differs between scenarios."""
    import pyomo.environ as pyo
    from pyomo.repn import generate_standard_repn

    constant = float(generate_standard_repn(m.scenario_total.expr, compute_values=True).constant)
    m.objective_constant = pyo.Var(bounds=(1.0, 1.0), initialize=1.0)
    m.scenario_total.set_value(m.scenario_total.expr - constant + constant * m.objective_constant)


def _same_first_stage_costs(datas: Sequence[ModelData], creator: Callable[..., Any], names: Sequence[str]) -> None:
    """Raise ValueError unless every scenario prices the first-stage decisions alike (mpi-sppy's
    L-shaped root takes those costs from the first scenario)."""
    from pyomo.repn import generate_standard_repn

    def costs(name: str) -> dict[str, float]:
        m = creator(name)
        repn = generate_standard_repn(m.scenario_total.expr, compute_values=True)
        first = {id(v) for v in first_stage_vars(m)}
        return {v.name: round(float(c), 6) for v, c in zip(repn.linear_vars, repn.linear_coefs, strict=True)
                if id(v) in first}

    ref = costs(names[0])
    for name in names[1:]:
        if costs(name) != ref:
            raise ValueError(f"scenario {name!r} prices the first-stage decisions (fixed costs of levels and modules) "
                             f"differently from {names[0]!r}: use --decomposition ph or none")


def _time_limit_converger(seconds: float | None) -> type | None:
    """A converger class for mpi-sppy's ``lshaped_algorithm``: converged (stop) once ``seconds``
    have passed since it was made, checked after each iteration's cuts; rank 0's clock decides and
    tells the other ranks, so that every rank stops at the same iteration. None without a limit."""
    if seconds is None:
        return None
    limit = float(seconds)

    class TimeLimit:
        def __init__(self, ls: Any, rank: int, n_proc: int):
            self.ls, self.start = ls, time.perf_counter()

        def convergence_value(self) -> float:
            return time.perf_counter() - self.start

        def is_converged(self) -> bool:
            out = bool(self.convergence_value() >= limit)
            return bool(self.ls.mpicomm.bcast(out, root=0))

    return TimeLimit


def solve_lshaped(datas: Sequence[ModelData], names: Sequence[str], probabilities: Sequence[float], *,
                  alpha: float = 0.9, weight: float = 0.0, iterations: int = 200, mip_gap: float = 1e-4,
                  eta_bounds: tuple[float, float] | None = None,
                  time_limit: float | None = None, threads: int | None = None) -> DecompositionOutcome:
    """The L-shaped method (mpi-sppy's ``LShapedMethod``, Benders cuts from Pyomo's
    ``contrib.benders``): a master MILP over the first-stage decisions and one cost estimate per
    scenario, cut by the LP of each scenario (the second stage is continuous: flows, disposal,
    shortfalls). The master's dual bound is a valid outer bound (its objective only when it was solved
    to optimality, ``mip_gap`` 0; otherwise a missing dual bound leaves the outer bound None); its plan
    is the candidate. Under
    ``mpiexec`` the scenario LPs are spread over the ranks. Needs the first-stage costs to be the
    same in every scenario (checked) and, with a CVaR weight, ``eta_bounds``. ``time_limit``
    (seconds): no new iteration starts after it (checked between iterations, so one iteration may
    overrun it: a master stopped by a HiGHS time limit without a plan would end the method); the
    bound and plan are then those of the last master problem. ``threads``: HiGHS's threads in the
    master and in the scenario LPs (None: HiGHS decides); ``mip_gap``: the master's relative MIP gap."""
    _mpisppy()
    from mpisppy.opt.lshaped import LShapedMethod

    logging.getLogger("pyomo").setLevel(logging.ERROR)
    by_name = dict(zip(names, datas, strict=True))
    probs = dict(zip(names, (float(p) for p in probabilities), strict=True))
    creator = _creator(by_name, probs, alpha, weight, eta_bounds, constant_as_variable=True)
    _same_first_stage_costs(datas, creator, names)
    highs_options = {**_highs_options(mip_gap, threads), "output_flag": False}
    options = {"root_solver": "highs", "sp_solver": "highs", "max_iter": int(iterations), "verbose": False,
               "tol": 1e-6, "root_solver_options": highs_options, "sp_solver_options": dict(highs_options)}
    begin = time.perf_counter()
    from pyomo.contrib.solver.common.util import NoFeasibleSolutionError

    try:
        # SIGINT/SIGTERM end the decomposition within seconds (Interrupted, not caught below)
        with stoppable_highs():
            ls = LShapedMethod(options, list(names), creator)
            with contextlib.redirect_stdout(io.StringIO()):
                res = ls.lshaped_algorithm(converger=_time_limit_converger(time_limit))
    except NoFeasibleSolutionError:
        raise ValueError("--decomposition lshaped: a scenario LP has no solution for a plan of the master problem. "
                         "mpi-sppy's L-shaped method has no feasibility cuts, so it needs every plan to be feasible "
                         "in every scenario (relatively complete recourse): let packs stay uncollected at a cost "
                         "(uncollected.allowed, uncollected.cost_per_t) or use --decomposition none or ph") from None
    except KeyError as err:
        # Pyomo's contrib.benders cut generator reads the dual of every fix_complicating_vars row; on
        # 50+ scenarios of china-east (2026-12-05) one was missing (cause not found: see
        # benchmarks/README.md). Say so instead of a traceback; Benders on the matrix has no such step.
        raise ValueError(f"--decomposition lshaped: mpi-sppy's L-shaped method failed inside Pyomo's Benders cut "
                         f"generator (no dual for {err}); a known failure on larger scenario sets whose cause was "
                         "not found. Use --decomposition benders (the in-house Benders on HiGHS's matrix, with "
                         "feasibility cuts and a proven bound) or --decomposition none") from None
    import pyomo.environ as pyo

    comm = ls.mpicomm
    found = None
    if comm.Get_rank() == 0:  # the master problem is solved on rank 0 (the value at risk is in its plan)
        # the master's best bound (its objective is within mip_gap of it): the valid outer bound; without
        # one, the objective is a bound only when the master was solved to optimality (mip_gap 0)
        bound = getattr(getattr(res, "problem", None), "lower_bound", None)
        value = float(pyo.value(ls.root.obj))
        lower = float(bound) if bound is not None else math.nan
        # (no note: runs.stochastic reads any L-shaped note as an early stop; a None bound gives no gap)
        outer: float | None = (min(lower, value) if math.isfinite(lower)
                               else value if mip_gap <= 0 else None)
        found = (outer, plan_values(ls.root))
    outer, plan = comm.bcast(found, root=0)
    seconds = time.perf_counter() - begin
    done = int(getattr(ls, "iter", iterations)) + 1
    notes = []
    if not getattr(ls, "first_stage_solution_available", False):
        notes.append(f"L-shaped stopped at its time limit ({time_limit:g} s) after {done} iterations"
                     if time_limit is not None and seconds >= time_limit and done < iterations
                     else f"L-shaped stopped at its iteration limit ({iterations})")
    return DecompositionOutcome(candidates=[plan], outer_bound=outer, trivial_bound=None, iterations=done,
                                convergence=None, seconds=seconds, ranks=int(comm.Get_size()), notes=notes)


def _key(plan: dict[str, dict[Any, float]]) -> tuple[Any, ...]:
    """A plan's decisions (without the value at risk), rounded, as a hashable key."""
    return tuple((name, tuple(sorted((str(k), round(v, 6)) for k, v in vals.items())))
                 for name, vals in sorted(plan.items()) if name != "var_at_risk")
