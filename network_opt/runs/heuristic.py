r"""Compress and filter (``network-opt solve --heuristic``): a fast plan of a very large model with a
true gap.

1. **Bound and screen.** Two ways:

   - *LP* (default): the LP relaxation of the *full* model (every integer column continuous) is
     solved; its optimum :math:`z^{LP}` is a lower bound on the full model's optimum :math:`z^*`
     (every plan of the MIP is a plan of the LP; the model minimises). Facilities with
     :math:`\sum_l y_{f,l,p} > 10^{-6}` in some investment period are screened. With
     ``--time-limit`` T the LP gets at most :data:`LP_SHARE` x T; if it does not finish, there is no
     LP bound, nothing is screened, and the summary's ``heuristic.note`` says so.
   - *Clustered relaxation* (``aggregate`` N): the collection points in at most N clusters, built as a
     relaxation of the full model (:mod:`network_opt.model.relax`: each cluster reaches every
     destination a member reaches, at the members' least distance and cost, carrying at most what
     those members can send; strong linking on, objective unscaled: :data:`RELAXED_SETTINGS`), solved as a MIP within
     :data:`SCREEN_SHARE` x T (its own build included), to :data:`INNER_GAP_SHARE` x the MIP gap asked
     for (the restricted MIP below too). With ``--start`` auto or lp_round that MIP starts from its
     LP relaxation (dual simplex, within :data:`SCREEN_LP_SHARE` x T) rounded and repaired
     (:func:`network_opt.solver.starts.lp_round_start`) and, with a time limit, improved by a search
     of the plans near it, those whose integer columns agree with the LP's integral values, within
     :data:`NEIGHBOURHOOD_SHARE` x T (:func:`network_opt.solver.starts.lp_neighbourhood_plan`, RINS
     before the root's cut rounds), so that the screen's plan does not hang on
     which plans HiGHS's sub-MIPs reach in the time its root cut rounds leave (on the national model
     -4.1457e12 in one run of three, -3.6172e12 in two, from which the restricted MIP found no start;
     rounded, -4.0957e12 in every run measured). With a time limit and its plan not proven, the
     clustered model is searched once more over the facilities that plan opens, from it, until
     :data:`REFINE_SHARE` x T (:func:`refine`; only a cheaper plan is kept, and its bound is not
     used). Its dual bound (or that LP's, the larger)
     :math:`\underline z^R` (less
     the relaxation's correction :math:`\Delta`) bounds :math:`z^*`; the facilities its plan opens are
     screened, and its plan is the restricted MIP's first plan. The full model's LP is not solved:
     on a national model it alone takes longer than the whole budget (``benchmarks/README.md``).
2. **Filter.** The full model is solved with every other candidate closed
   (:math:`y_{f,l,p} = 0`, and no modules), keeping the screened facilities, every existing one
   and the ``neighbours`` nearest facilities of the same kind to each (none by default)
   (:func:`network_opt.model.screen.kept_facilities`). Its plan is a plan of the full model, so its
   objective :math:`z^H \ge z^*`. With the clustered screen the facilities kept are known before
   the full model is built, so it is built without the flows into or out of the others
   (:func:`network_opt.model.screen.without_facilities`: zero once they are closed, so the same
   plans and optimum): on the national model 144 of 300 facilities kept left 1.07 M of 2.25 M flows
   to build, hand off and presolve. HiGHS starts from the LP of step 1 rounded and repaired
   (:func:`network_opt.solver.starts.lp_round_start` given that LP's solution: facilities the LP
   opens at least halfway, else every facility it uses, at the smallest level covering the LP's
   capacity), or from the clustered plan's levels and modules, unless ``--start none``. The kept
   set and that plan are first completed so that every tonne has somewhere to go
   (:func:`network_opt.model.screen.cover`, :func:`network_opt.model.screen.reaching_plan`: a
   recycler in reach of every supply key, and a maximum flow placing each year's supply into the
   open facilities at their largest capacities); if the full model still cannot route its flows
   over the plan's levels, they are sized by its LP, then enlarged
   (:func:`network_opt.solver.starts.plan_start`).

With the Lagrangian bound (``lagrangian``; by default on with the LP screen, off with the
clustered one: ``--lagrangian/--no-lagrangian``), the LP of step 1 (the full model's, or the
clustered relaxation's) also prices the rows that tie periods together in a Lagrangian relaxation
whose blocks, one MIP per investment period, give a bound at least as tight as that LP
(:mod:`network_opt.solver.lagrange`), within :data:`LAGRANGE_SHARE` x T; the larger bound is
reported. On 600 x 60 x 8 x 3 it turned the LP screen's 1.57 % into 0.30 %; at national scale with
clusters its time left the clustered MIP without a plan (``benchmarks/README.md``).

``--time-limit`` bounds the whole, counted from the end of the data preparation (the full model's
build and hand-off included): step 1 gets its share of it, the restricted MIP what is left, at least
:data:`MIN_LEFT_S` seconds, so that it can return a plan.

Reported: objective :math:`z^H`, bound :math:`\underline z` = :math:`z^{LP}` or
:math:`\underline z^R - \Delta` (or the restricted MIP's own bound when nothing was closed: the
restricted model is then the full one; the larger of the two), gap
:math:`(z^H - \underline z) / |z^H|`. Hence :math:`\underline z \le z^* \le z^H`: the gap is true for
the full model. The status is ``optimal`` only when that gap is within the MIP gap asked for.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import pandas as pd
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.common.progress import Progress
from network_opt.model import build_model
from network_opt.model.data import ModelData, prepare
from network_opt.model.relax import member_reach, relaxed_aggregate
from network_opt.model.screen import cover, kept_facilities, reaching_plan
from network_opt.results.tables import facilities_table
from network_opt.solver.companion import better
from network_opt.solver.handoff import HighsModel, TriviallyInfeasible
from network_opt.solver.highs import SolveOutcome, relative_gap, solve_model, trivially_infeasible
from network_opt.solver.lagrange import period_bound
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_solution
from network_opt.solver.starts import USED, KnownPlan, close_others, lp_neighbourhood_plan, used_by_lp
from network_opt.solver.status import SolveStatus

#: seconds the restricted MIP gets at least when the LP used up the time limit
MIN_LEFT_S = 1.0
#: share of --time-limit the LP relaxation may use: on a national-scale model the LP alone can take
#: the whole budget (644 s, benchmarks/README.md), which left the MIP about a second and no plan
LP_SHARE = 0.5
#: share of --time-limit the clustered relaxation (its preparation, build and MIP) may use
SCREEN_SHARE = 0.5
#: share of --time-limit the Lagrangian bound by period may use (``lagrangian``), counted from its
#: start after the full model's LP; with the clustered relaxation from the screen's start, the
#: clustered model's build and LP included
LAGRANGE_SHARE = 0.3
#: share of --mip-gap each of the two MIPs with the clustered relaxation stops at: the gap reported
#: is the restricted plan's against the relaxed bound, which holds both MIPs' own gaps (and the
#: relaxation's); each stopping at the whole gap asked for ended 1.7 % apart when 1 % was asked
INNER_GAP_SHARE = 0.25


#: HiGHS's heuristics that solve a sub-MIP, off in the restricted MIP under a memory limit: HiGHS
#: calls no callback inside a sub-MIP, so the memory guard (network_opt.solver.highs) cannot stop
#: one; nationally a restricted MIP's sub-MIPs grew the process from 5.4 to 8.1 GiB past a guard
#: asked to stop at 6.75 GiB, and in no national or 600x60 run measured did they improve its
#: start (benchmarks/README.md, "the restricted MIP built over the facilities kept")
SUB_MIP_HEURISTICS = ("mip_heuristic_run_rins", "mip_heuristic_run_rens", "mip_heuristic_run_root_reduced_cost")


def remaining(options: SolveOptions, spent_s: float) -> SolveOptions:
    """``options`` with the time limit less ``spent_s`` seconds (at least :data:`MIN_LEFT_S`);
    unchanged without a time limit."""
    if options.time_limit is None:
        return options
    return dataclasses.replace(options, time_limit=max(float(options.time_limit) - spent_s, MIN_LEFT_S))


@dataclass(frozen=True)
class Heuristic:
    """How ``solve --heuristic`` screens: ``neighbours`` nearest facilities of the same kind kept
    next to each screened one; ``aggregate``: bound and screen with the clustered relaxation of at
    most this many clusters of collection points (:mod:`network_opt.model.relax`) instead of the
    full model's LP relaxation; ``lagrangian``: also bound by Lagrangian relaxation by period
    (:mod:`network_opt.solver.lagrange`) from that LP's duals, within :data:`LAGRANGE_SHARE` of the
    time limit (None: with the full model's LP only, i.e. without ``aggregate``).

    ``neighbours`` is 0 by default: on the five instances measured (china-2025-2032, eu-2025-2032,
    generated 200x20x8x3, 600x60x8x3 and the national 3000x300x8x3) the restricted MIP over the
    facilities screened alone found the same plan or a better one, sooner (600x60: 0.52 % in 6:51
    against 1.23 % in 10:02 with 2; eu 0.61 % against 0.84 %; nationally 1.83 % in 3.6 GiB against
    1.88 % in 6.2; benchmarks/README.md, "shadow prices within the time limit")."""

    neighbours: int = 0
    aggregate: int | None = None
    lagrangian: bool | None = None

    @property
    def bound_by_period(self) -> bool:
        """Whether the Lagrangian bound by period is computed (``lagrangian``, or its default)."""
        return self.aggregate is None if self.lagrangian is None else self.lagrangian


#: where the clustered relaxation's bound comes from (``summary["heuristic"]["bound_source"]``)
RELAXED_MIP = "clustered relaxation's MIP bound"
RELAXED_LAGRANGIAN = "clustered relaxation's Lagrangian bound by period"
RELAXED_LP = "clustered relaxation's LP bound"


@dataclass
class Screen:
    """What the clustered relaxation gave the heuristic: ``opened`` the facilities its plan opens
    (None: no plan), ``plan`` its ``facilities`` table (per facility and operating year: open,
    level, modules), ``bound`` a lower bound of the full model (currency; None: none), ``infeasible``
    whether the relaxation was proven infeasible (then so is the full model), ``record`` the
    figures for ``summary["heuristic"]["relaxation"]``, ``source`` which bound of the relaxation
    ``bound`` is."""

    opened: set[str] | None
    plan: pd.DataFrame | None
    bound: float | None
    infeasible: bool
    record: dict[str, object]
    source: str = RELAXED_MIP


#: share of --time-limit the clustered relaxation's LP may use, counted from the screen's start: its
#: MIP starts from that LP rounded (:func:`network_opt.solver.starts.lp_round_start`) with ``--start``
#: auto or lp_round, and the Lagrangian bound prices its rows from that LP's duals
SCREEN_LP_SHARE = 1 / 6
#: share of --time-limit the search of the plans near that LP's rounding may use
#: (:func:`network_opt.solver.starts.lp_neighbourhood_plan`, RINS), counted as the LP's from the
#: screen's start (after the LP's own share): nationally it found -4.1428e12 in 67 s from the rounded
#: -4.0957e12, where HiGHS's own sub-MIPs, after the root's cut rounds, found -4.1375e12 at 221 s of the
#: clustered MIP in one run and nothing in another (benchmarks/README.md)
NEIGHBOURHOOD_SHARE = 1 / 6
#: HiGHS's solver for that LP: on the national 3000x300x8x3 model at 150 clusters (objective unscaled),
#: the dual simplex took 48 s, the interior point 147 s (benchmarks/README.md, "a first plan for the
#: screen"); the interior point stays the full model's (faster there)
SCREEN_LP_SOLVER = "simplex"
#: settings of the clustered relaxation's model (:func:`relaxed_screen`): its flows' bounds, cut by
#: :func:`network_opt.model.relax.member_reach`, as column bounds and in strong-linking rows; its
#: objective unscaled: on the national 3000x300x8x3 model at 150 clusters, with ``objective_scale``
#: auto (2^-12) HiGHS spent the whole screen (289 s) in root cut rounds and never reached a sub-MIP,
#: so the screen's only plan was every facility open and the run ended without a plan; unscaled, the
#: rounds ended after 137 s and sub-MIPs found plans (benchmarks/README.md, "the screen's objective")
RELAXED_SETTINGS = {"model.flow_bounds": True, "model.strong_linking": True, "model.objective_scale": 0}


def relaxed_screen(full: ModelData, n: int, options: SolveOptions, progress: Progress,
                   lagrangian: bool = False) -> Screen:
    """Solve the clustered relaxation of the full model's data ``full`` (at most ``n`` clusters,
    :func:`network_opt.model.relax.relaxed_aggregate` on ``full``'s lanes, pruning included) within
    :data:`SCREEN_SHARE` of ``options.time_limit`` counted from now, its MIP started from its LP
    relaxation rounded (``options.start`` auto or lp_round; the LP within :data:`SCREEN_LP_SHARE` by
    :data:`SCREEN_LP_SOLVER`) and, with a time limit, the plans near that rounding searched within
    :data:`NEIGHBOURHOOD_SHARE` more (``record["neighbourhood"]``; ``record["start"]``
    "lp_neighbourhood" when that search improved the rounded plan); ``lagrangian``: first bound it by
    Lagrangian relaxation by period within :data:`LAGRANGE_SHARE` of the limit, from that LP's duals
    (the screen's share includes it). A stop request (SIGINT/SIGTERM) during it raises
    :class:`~network_opt.common.interrupts.Interrupted` afterwards: without a plan of the full
    model there is nothing to keep."""
    begin = time.perf_counter()
    progress.phase(f"heuristic: the collection points in at most {n:,} clusters, as a relaxation (its bound)")
    relaxed_inst, relax = relaxed_aggregate(full.inst, n, full.lanes)
    # strong linking on in the clustered model whatever the full model's setting: valid, and at
    # 150 clusters of a national model it gave a tighter bound in the same time (benchmarks/README.md)
    d = prepare(relaxed_inst.with_settings(RELAXED_SETTINGS))
    d.flows["upper_bound_t"] = member_reach(full, d, relax.clustering.cluster)  # see network_opt.model.relax
    m = build_model(d)
    record: dict[str, object] = {"clusters": relax.clustering.n_clusters, "lanes": relax.lanes,
                                 "correction": relax.correction, "holds": relax.holds, "caveats": relax.caveats}
    try:
        hm = HighsModel(m)
    except TriviallyInfeasible:
        interrupts.check()
        return Screen(None, None, None, relax.holds, {**record, "status": "infeasible", "s": _since(begin)})
    lagrange, lp, x = None, None, None
    rounds = options.warm_start and options.start in ("auto", "lp_round")
    with progress.solver_log(hm.h):  # HiGHS's log of the clustered model into the --log file too
        if rounds or lagrangian:
            progress.phase("heuristic: the clustered relaxation's LP (its first plan rounded from it)")
            lp_begin = time.perf_counter()
            objective, x, duals = lp_solution(hm, dataclasses.replace(
                options, time_limit=_share(options, SCREEN_LP_SHARE, begin)), SCREEN_LP_SOLVER)
            interrupts.check()
            lp = (objective, duals) if objective is not None and duals is not None else None
            record.update({"lp_bound": objective, "lp_s": _since(lp_begin)})
        if lagrangian:
            progress.phase("heuristic: bounding the clustered relaxation by Lagrangian relaxation by period")
            lagrange = period_bound(hm, d, options, _share(options, LAGRANGE_SHARE, begin), lp=lp)
            interrupts.check()
            record["lagrangian"] = lagrange.record()
        start = None
        if rounds and x is not None and (seconds := _share(options, SCREEN_LP_SHARE + NEIGHBOURHOOD_SHARE, begin)):
            progress.phase("heuristic: the clustered relaxation's LP rounded, then the plans near it (RINS)")
            start, record["neighbourhood"] = lp_neighbourhood_plan(
                m, d, hm, dataclasses.replace(options, mip_gap=INNER_GAP_SHARE * options.mip_gap), x, seconds)
            interrupts.check()
        progress.phase(f"heuristic: solving the clustered relaxation ({len(d.flows):,} flows)")
        limit = _share(options, SCREEN_SHARE, begin)
        outcome = solve_model(m, dataclasses.replace(options, time_limit=limit,
                                                     mip_gap=INNER_GAP_SHARE * options.mip_gap), solver=hm, data=d,
                              start=start, relaxed=x if rounds and start is None else None)
        interrupts.check()
        plan = facilities_table(m, d, hm) if outcome.has_plan else None  # the one table the screen needs
        opened = set(plan.loc[plan["open"], "facility"]) if plan is not None else None
        if (plan is not None and opened is not None and outcome.objective is not None
                and outcome.status != SolveStatus.OPTIMAL):  # a plan proven to the gap asked needs no search
            refined, record["refine"] = refine(m, d, hm, options, outcome.objective, opened, begin, progress)
            interrupts.check()
            plan = refined if refined is not None else plan
    infeasible = outcome.status == SolveStatus.INFEASIBLE and relax.holds
    bound, source = outcome.bound, RELAXED_MIP
    if lp is not None and (bound is None or lp[0] > bound):  # the MIP stopped before its root LP
        bound, source = lp[0], RELAXED_LP
    if lagrange is not None and lagrange.bound is not None and (bound is None or lagrange.bound > bound):
        bound, source = lagrange.bound, RELAXED_LAGRANGIAN
    neighbourhood = record.get("neighbourhood")
    first = outcome.start
    if first == "given" and isinstance(neighbourhood, dict):  # the plan lp_neighbourhood_plan gave
        first = neighbourhood["start"]
    record.update({"status": str(outcome.status), "objective": outcome.objective, "bound": outcome.bound,
                   "start": first, "s": _since(begin)})
    return Screen(opened, plan, relax.full_bound(bound), infeasible, record, source)


#: share of --time-limit, counted from the screen's start, until which the clustered relaxation is
#: searched once more over the facilities its plan opens (:func:`refine`), after its MIP's share
#: (:data:`SCREEN_SHARE`): nationally the whole clustered MIP (7,200 binaries) spends its time in its
#: root's cut rounds, where over its plan's 53 facilities (1,207 binaries after presolve) HiGHS
#: branches (892 nodes in 300 s) and found a plan 0.50 % better (benchmarks/README.md, "the
#: clustered plan refined over its own facilities"); the restricted MIP of the full model, which
#: gets the time after it, kept its start in every national run measured
REFINE_SHARE = 0.7
#: seconds the refinement needs at least to be tried: below it HiGHS would end in its presolve
REFINE_MIN_S = 10.0


def refine(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions, objective: float,
           opened: set[str], begin: float, progress: Progress) -> tuple[pd.DataFrame | None, dict[str, object]]:
    """Search the clustered relaxation ``m`` (held by ``hm``, its MIP's plan of value ``objective``
    loaded) once more with every facility but ``opened`` closed, from that plan, until
    :data:`REFINE_SHARE` of ``options.time_limit`` counted from ``begin`` (not without a time
    limit, nor with less than :data:`REFINE_MIN_S` left, nor when nothing would be closed).

    The model over ``opened`` is a restriction of the clustered relaxation: every plan it finds is a
    plan of the relaxation that opens only facilities of ``opened`` (so the facilities the full
    model keeps do not change), and its bound is *not* a bound of the full model (it is neither
    returned nor used). Returns the plan's ``facilities`` table when the search found one cheaper
    than ``objective`` (else None) and the record for ``summary["heuristic"]["relaxation"]["refine"]``."""
    record: dict[str, object] = {"facilities": len(opened), "from": objective, "objective": None, "s": 0.0}
    seconds = _share(options, REFINE_SHARE, begin)
    if seconds is None or seconds < REFINE_MIN_S or hm.abandoned or interrupts.requested() is not None:
        record["note"] = "not run: no time limit" if seconds is None else "not run: no time left"
        return None, record
    values = hm.values  # the plan loaded (a companion search's when it was cheaper), not HiGHS's own
    if values is None:
        record["note"] = "not run: no plan loaded"
        return None, record
    if close_others(m, d, hm, opened) == 0:
        record["note"] = "not run: the plan opens every facility"
        return None, record
    progress.phase(f"heuristic: the clustered relaxation over the {len(opened):,} facilities its plan opens, "
                   "from that plan")
    start = time.perf_counter()
    outcome = solve_model(m, dataclasses.replace(options, time_limit=seconds,
                                                 mip_gap=INNER_GAP_SHARE * options.mip_gap),
                          solver=hm, data=d, known=KnownPlan(values, hm.held_lp_s))
    record.update({"objective": outcome.objective, "status": str(outcome.status), "nodes": outcome.mip_node_count,
                   "s": _since(start)})
    if outcome.objective is None or not better(outcome.objective, objective):
        return None, record
    return facilities_table(m, d, hm), record


def _share(options: SolveOptions, share: float, begin: float) -> float | None:
    """Seconds left of ``share`` x the time limit counted from ``begin`` (at least
    :data:`MIN_LEFT_S`; None without a time limit)."""
    if options.time_limit is None:
        return None
    return max(share * float(options.time_limit) - _since(begin), MIN_LEFT_S)


def _since(begin: float) -> float:
    return time.perf_counter() - begin


def screened_by(screen: Screen, d: ModelData) -> set[str]:
    """The facilities the clustered relaxation's plan opens; every facility of ``d`` without a plan."""
    return screen.opened if screen.opened is not None else set(d.facilities["id"])


def keep(d: ModelData, screened: set[str], neighbours: int) -> set[str]:
    """The facilities the restricted MIP keeps: ``screened``, every existing facility and their
    ``neighbours`` nearest of the same kind (:func:`network_opt.model.screen.kept_facilities`), and
    those :func:`network_opt.model.screen.cover` adds so that every tonne has somewhere to go (the
    restricted model can be feasible)."""
    kept = kept_facilities(d, screened, neighbours)
    return kept | cover(d, kept)


def heuristic_solve(m: pyo.ConcreteModel, d: ModelData, options: SolveOptions, progress: Progress,
                    heuristic: Heuristic, screen: Screen | None = None, began: float | None = None,
                    kept: set[str] | None = None, hold_back: float = 0.0
                    ) -> tuple[SolveOutcome, HighsModel | None, float, dict[str, object]]:
    """Steps 1-2 of the module docstring on the full model ``m`` built from ``d``; ``screen``: what
    the clustered relaxation gave (None: bound and screen with the full model's LP); ``began``:
    the clock when the heuristic began (the time limit counts from it; default: now); ``kept``: the
    facilities kept, when known before the build (:func:`keep` of ``screen``; ``m`` and ``d`` may
    then be :func:`network_opt.model.screen.without_facilities` the others); ``hold_back``: the
    restricted MIP's (:func:`~network_opt.solver.highs.solve_model`). Returns the
    outcome (objective of the restricted plan, bound and gap for the full model), the HiGHS model,
    the clock when the hand-off ended and the record for ``summary["heuristic"]``."""
    began = time.perf_counter() if began is None else began
    try:
        hm = HighsModel(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc), None, time.perf_counter(), {}
    with progress.solver_log(hm.h):  # HiGHS's log of the full model into the --log file, as for a plain solve
        return _screened_solve(m, d, hm, options, progress, heuristic, screen, began, kept, hold_back)


def _screened_solve(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions, progress: Progress,
                    heuristic: Heuristic, screen: Screen | None, began: float, kept: set[str] | None,
                    hold_back: float = 0.0) -> tuple[SolveOutcome, HighsModel | None, float, dict[str, object]]:
    """:func:`heuristic_solve` on the HiGHS model ``hm`` of ``m``, handed off just now."""
    handed = time.perf_counter()
    lp_bound, x, lp_s, note = None, None, 0.0, ""
    plan, lagrange = None, None
    if screen is None:
        progress.phase("heuristic: solving the LP relaxation of the full model (its bound)")
        begin = time.perf_counter()
        lp_options = options if options.time_limit is None else dataclasses.replace(
            options, time_limit=max(LP_SHARE * float(options.time_limit) - (begin - began), MIN_LEFT_S))
        lp_bound, x, duals = lp_solution(hm, lp_options)
        lp_s = time.perf_counter() - begin
        if x is None and interrupts.requested() is None:
            note = (f"the LP relaxation of the full model did not finish within {LP_SHARE:.0%} of the time limit: "
                    "no bound for the full model and no screen (every facility kept); give --aggregate N "
                    "to bound and screen with a clustered relaxation")
        if heuristic.bound_by_period and lp_bound is not None and duals is not None:
            progress.phase("heuristic: bounding the full model by Lagrangian relaxation by period")
            lagrange = period_bound(hm, d, options, _share(options, LAGRANGE_SHARE, time.perf_counter()),
                                    lp=(lp_bound, duals))
        screened = used_by_lp(m, d, hm, x) if x is not None else set(d.facilities["id"])
    else:
        screened = screened_by(screen, d)
        if screen.infeasible:
            note = "the clustered relaxation is infeasible, so the full model is"
        elif screen.opened is None:
            note = "the clustered relaxation found no plan in its time: no screen (every facility kept)"
        plan = screen.plan
    if kept is None:
        kept = keep(d, screened, heuristic.neighbours)
    if plan is not None:
        plan = reaching_plan(d, plan, kept)
    closed = close_others(m, d, hm, kept)
    progress.phase(f"heuristic: solving the full model over {len(kept):,} of {len(d.facilities):,} facilities")
    inner = options if screen is None else dataclasses.replace(options, mip_gap=INNER_GAP_SHARE * options.mip_gap)
    unguarded = SUB_MIP_HEURISTICS if options.memory_limit is not None and closed else ()
    was = {name: hm.h.getOptionValue(name)[1] for name in unguarded}
    for name in unguarded:
        hm.h.setOptionValue(name, False)
    try:
        outcome = solve_model(m, remaining(inner, time.perf_counter() - began), solver=hm, progress=progress,
                              data=d, relaxed=x, plan=plan, hold_back=hold_back)
    finally:
        for name, value in was.items():
            if not hm.abandoned:  # a HiGHS left running is not touched
                hm.h.setOptionValue(name, value)
    restricted_bound = outcome.bound
    relaxed_bound = screen.bound if screen is not None else None
    # the bounds of the full model at hand; the largest is reported (the first listed on a tie)
    sources = {"LP relaxation of the full model": lp_bound,
               screen.source if screen is not None else RELAXED_MIP: relaxed_bound,
               "Lagrangian relaxation by period of the full model": lagrange.bound if lagrange is not None else None,
               "MIP bound (nothing closed: the full model)": restricted_bound if closed == 0 else None}
    held = [(name, b) for name, b in sources.items() if b is not None]
    source, bound = max(held, key=lambda nb: nb[1]) if held else (None, None)
    if outcome.objective is not None and bound is not None:
        bound = min(bound, outcome.objective)  # a bound above the plan is round-off
    gap = relative_gap(outcome.objective, bound)
    outcome.bound, outcome.mip_gap = bound, gap
    if outcome.status == SolveStatus.OPTIMAL and (gap is None or gap > options.mip_gap + 1e-12):
        outcome.status = SolveStatus.FEASIBLE  # optimal for the restricted model only
    elif outcome.status in (SolveStatus.INFEASIBLE, SolveStatus.UNBOUNDED) and closed:
        # proven for the restricted model only: say nothing about the full one
        note = "; ".join(n for n in (note, f"the model over the facilities kept is {outcome.status}; solve "
                                     "without --heuristic or keep neighbours (--heuristic-neighbours K)") if n)
        outcome.status = SolveStatus.NO_SOLUTION
    record: dict[str, object] = {
        "screen": "clustered relaxation" if screen is not None else "LP relaxation",
        "aggregate": heuristic.aggregate, "neighbours": heuristic.neighbours,
        "lagrangian": lagrange.record() if lagrange is not None else None,
        "facilities": len(d.facilities), "screened": len(screened), "kept": len(kept), "closed": closed,
        "lp_bound": lp_bound, "lp_s": lp_s, "relaxed_bound": relaxed_bound, "restricted_bound": restricted_bound,
        "bound_source": source,
        "relaxation": screen.record if screen is not None else None,
        "start": outcome.start, "note": note,
    }
    return outcome, hm, handed, record


__all__ = ["INNER_GAP_SHARE", "LAGRANGE_SHARE", "LP_SHARE", "MIN_LEFT_S", "NEIGHBOURHOOD_SHARE", "REFINE_MIN_S",
           "REFINE_SHARE", "SCREEN_LP_SHARE", "SCREEN_LP_SOLVER",
           "SCREEN_SHARE", "USED", "Heuristic", "Screen",
           "close_others", "heuristic_solve", "keep", "refine", "relaxed_screen", "remaining", "screened_by",
           "used_by_lp"]
