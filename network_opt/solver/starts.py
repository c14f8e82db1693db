"""First plans for the MIP (MIP starts): every facility open (:func:`open_all_start`), the LP
relaxation rounded and repaired (:func:`lp_round_start`), the plans near that rounding
(:func:`lp_neighbourhood_plan`), the best plan of the model restricted to the facilities the LP uses
(:func:`restricted_plan`), given integer values (:func:`start_from_integers`) or a plan already
solved (:class:`KnownPlan`); another
model's plan is carried over by :mod:`network_opt.solver.carry_over`.
The level data (facility and capacity of each level row) come from the
:class:`~network_opt.model.data.ModelData` the model was built from; the Pyomo model only supplies
its variables (optional ones looked up with ``find_component``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import highspy
import numpy as np
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.model.data import ModelData
from network_opt.model.reductions import find_reductions
from network_opt.model.screen import cover
from network_opt.solver.handoff import HighsModel, col_bounds
from network_opt.solver.options import SolveOptions, run_highs, set_time_limit
from network_opt.solver.relaxation import continuous

logger = logging.getLogger(__name__)


def largest_levels(d: ModelData) -> set[int]:
    """Level rows (the Pyomo index of ``level_open``) that are their facility's largest level."""
    largest = d.levels.sort_values(["facility", "capacity_t"]).drop_duplicates("facility", keep="last").index
    return {int(j) for j in largest}


@dataclass(frozen=True)
class KnownPlan:
    """A feasible plan of the model HiGHS holds, found before the MIP: every column's value (HiGHS
    order) and the seconds of the LP with the integer columns held that gave them (what the MIP holds
    back time for, e.g. the shadow-price LP: :func:`~network_opt.solver.highs.held_back`)."""

    values: np.ndarray
    lp_s: float


def start_from_integers(hm: HighsModel, cols: np.ndarray, values: np.ndarray, options: SolveOptions) -> bool:
    """Give HiGHS a first plan: integer columns ``cols`` fixed at ``values``, the rest from the
    LP this leaves. Works on the highspy model in place and restores it; returns whether the LP
    gave a plan (then set as HiGHS's starting solution and kept in ``hm.start_values``). A stop
    request (SIGINT/SIGTERM) ends the LP and gives no plan."""
    if not len(cols) or hm.abandoned or interrupts.requested() is not None:
        return False
    with integrality_dropped(hm, cols):
        start = fixed_lp(hm, cols, values)
    if start is None:
        return False
    set_start(hm, start)
    return True


@contextmanager
def integrality_dropped(hm: HighsModel, cols: np.ndarray) -> Iterator[None]:
    """Inside, the integer columns ``cols`` of the model ``hm`` holds are continuous and HiGHS is
    quiet; both are restored on leaving (not on a HiGHS left running after a stop request)."""
    highs = hm.h
    n = len(cols)
    highs.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kContinuous))
    console = highs.getOptionValue("log_to_console")[1]
    highs.setOptionValue("log_to_console", False)
    try:
        yield
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kInteger))
            highs.setOptionValue("log_to_console", console)


def fixed_lp(hm: HighsModel, cols: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Column values (HiGHS order) of the model ``hm`` holds with the columns ``cols`` held at
    ``values`` (rounded, within their bounds) and every other column as it is; None if that is not
    solved to optimality (e.g. a plan without feasible flows). The columns' bounds are restored.
    ``hm.held_lp_s`` becomes the longest such LP's seconds."""
    highs = hm.h
    n = len(cols)
    lower, upper = col_bounds(highs, cols)
    held = np.clip(np.round(values), lower, upper)
    highs.changeColsBounds(n, cols, held, held)
    begin = time.perf_counter()
    try:
        return np.asarray(highs.getSolution().col_value) if solved(hm) else None
    finally:
        hm.held_lp_s = max(hm.held_lp_s, time.perf_counter() - begin)
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.changeColsBounds(n, cols, lower, upper)


def solved(hm: HighsModel) -> bool:
    """Run HiGHS on the model ``hm`` holds (stoppable, :func:`~network_opt.solver.options.run_highs`);
    whether it was solved to optimality."""
    return run_highs(hm) and hm.h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def set_start(hm: HighsModel, values: np.ndarray) -> None:
    """Give HiGHS the column values ``values`` (HiGHS order, a feasible plan) as its starting
    solution, kept in ``hm.start_values``."""
    solution = highspy.HighsSolution()
    solution.col_value = values
    solution.value_valid = True
    hm.h.setSolution(solution)
    hm.start_values = np.array(values, dtype=float)


def open_all_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions) -> bool:
    """Give HiGHS a first plan: every facility open at its largest level (and all modules) in
    every period, with the flows of the LP that this leaves. Such a plan exists whenever any plan
    does (opening more never removes an option), so a time limit always returns a plan."""
    level_open = m.find_component("level_open")
    if level_open is None or not len(level_open) or hm.abandoned or interrupts.requested() is not None:
        return False
    fixed: dict[int, float] = {}
    largest = largest_levels(d)
    # candidates model.candidate_reductions fixed closed stay closed (their rows would refuse the plan)
    shut = set(find_reductions(d).closed) if d.inst.settings.model.candidate_reductions else set()
    facility = d.levels["facility"].tolist()
    for (j, _p), v in level_open.items():
        if id(v) in hm.cols:
            fixed[hm.cols[id(v)]] = 1.0 if j in largest and facility[j] not in shut else 0.0
    modules = m.find_component("modules")
    if modules is not None:
        for v in modules.values():
            if id(v) in hm.cols:
                fixed[hm.cols[id(v)]] = float(v.ub)
    cols = np.fromiter(fixed, dtype=np.int32, count=len(fixed))
    return start_from_integers(hm, cols, np.fromiter(fixed.values(), dtype=float, count=len(fixed)), options)


def rounded_levels(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, x: np.ndarray,
                   threshold: float) -> dict[int, float]:
    r"""Integer values rounded from the LP relaxation's ``x`` (HiGHS column order): facility f
    is open in period p if :math:`\sum_l y_{f,l,p} \ge` ``threshold``, at its smallest level whose
    capacity covers the LP's :math:`\sum_l C_{f,l} y_{f,l,p}` (the largest if none does); modules
    are rounded up. Levels and modules never shrink from one period to the next (a facility
    stays open and only grows), so the plan respects continuity and growth. Returns column ->
    value for the level and module columns (``d``: the model's data; its ``levels`` frame gives
    each level row's facility and capacity)."""
    facility = d.levels["facility"].tolist()
    capacity = d.levels["capacity_t"].to_numpy(dtype=float)
    levels_of: dict[str, list[int]] = {}
    for j, f in enumerate(facility):
        levels_of.setdefault(f, []).append(j)
    years = list(m.INVESTMENT_PERIODS)  # the level and module decisions' index
    values: dict[int, float] = {}
    for levels in levels_of.values():
        by_size = sorted(levels, key=lambda j: capacity[j])
        built = -1.0  # capacity of the level chosen so far (levels only grow)
        for p in years:
            cols = [hm.cols.get(id(m.level_open[j, p])) for j in levels]
            y = np.array([x[c] if c is not None else 0.0 for c in cols])
            used = float(np.dot(y, capacity[levels]))
            if y.sum() >= threshold or built >= 0:
                need = max(used, built)
                choice = next((j for j in by_size if capacity[j] >= need - 1e-9), by_size[-1])
                built = float(capacity[choice])
            else:
                choice = None
            for j, c in zip(levels, cols, strict=True):
                if c is not None:
                    values[c] = 1.0 if j == choice else 0.0
    modules = m.find_component("modules")
    if modules is not None:
        for f in m.MODULAR:
            most = 0.0
            for p in years:
                c = hm.cols.get(id(modules[f, p]))
                if c is not None:
                    most = max(most, float(np.ceil(x[c] - 1e-6)))
                    values[c] = most
    return values


def lp_round_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions,
                   relaxed: np.ndarray | None = None) -> str | None:
    """Give HiGHS a first plan from its LP relaxation: solve the LP with every integer column
    continuous (or take ``relaxed``, its column values already solved, HiGHS order), round
    (:func:`rounded_levels`, facilities the LP opens at least halfway, then, if that plan has no
    feasible flows, every facility it uses at all: always feasible when the LP is, each level
    covering the capacity the LP opened) and repair the flows with the LP the rounded decisions
    leave. Falls back to :func:`open_all_start`. Returns the start set: "lp_round", "open_all" (the
    fallback) or None (no start)."""
    if not hm.matrix.integer.any() or not len(d.levels):
        return open_all(m, d, hm, options)
    if hm.abandoned or interrupts.requested() is not None:
        return None
    if relaxed is not None:
        return _round_and_repair(m, d, hm, relaxed, options)
    x = relaxed_lp(hm, options)
    if x is None:
        logger.debug("the LP relaxation gave no solution; starting with every facility open")
        return open_all(m, d, hm, options)  # does nothing after a stop request
    return _round_and_repair(m, d, hm, x, options)


#: an integer column's LP value and its rounded value agree within this (:func:`lp_neighbourhood_plan`)
AGREE: Final = 1e-6


def lp_neighbourhood_plan(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions,
                          relaxed: np.ndarray, seconds: float) -> tuple[np.ndarray | None, dict[str, object]]:
    r"""A first plan at least as good as the LP relaxation rounded: round and repair the LP's column
    values ``relaxed`` (HiGHS order; :func:`lp_round_start`), then solve the MIP over the
    neighbourhood where the LP and its rounding :math:`\bar s` agree, every integer column
    :math:`j` with :math:`|x^{LP}_j - \bar s_j| \le` :data:`AGREE` held at :math:`\bar s_j` and the
    others free (relaxation induced neighbourhood search, RINS: Danna, Rothberg and Le Pape,
    *Math. Programming* 102, 2005), from :math:`\bar s`, within ``seconds`` and to
    ``options.mip_gap``. HiGHS runs RINS itself, but only after the root's cut rounds: on the
    national clustered model those took 104-158 s of the screen's 240 s, and its sub-MIP's plan came at
    221 s in one run and never in another (benchmarks/README.md). Any plan of the neighbourhood is a
    plan of the model. The held columns' bounds are restored.

    Returns the integer columns' values (HiGHS's integer columns in column order, as
    :func:`~network_opt.solver.highs.solve_model` takes ``start``) of the better of the rounded and the
    neighbourhood's plans; where the rounding fell back to every facility open
    (:func:`open_all_start`), that plan's, unsearched; None without a plan (or after a stop request).
    And a record: ``start`` (which plan is returned: "lp_round", "lp_neighbourhood", "open_all" or
    None), ``rounded`` (objective of the rounded plan, currency), ``objective`` (of the plan
    returned), ``held`` and ``integers`` (columns), ``status`` (HiGHS's, on the neighbourhood) and ``s``."""
    begin = time.perf_counter()
    used = lp_round_start(m, d, hm, options, relaxed)
    rounded = hm.start_values
    integers = np.flatnonzero(hm.matrix.integer)
    if hm.abandoned or interrupts.requested() is not None or rounded is None:
        return None, {"rounded": None, "start": None}
    if used != "lp_round":  # the rounding fell back to every facility open: that plan, not searched
        return np.round(rounded[integers]), {"rounded": None, "start": used}
    held = integers[np.abs(relaxed[integers] - rounded[integers]) <= AGREE].astype(np.int32)
    best, best_objective = rounded, hm.objective_of(rounded)
    rounded_objective = best_objective
    record: dict[str, object] = {"rounded": rounded_objective, "held": len(held), "integers": len(integers)}
    highs = hm.h
    lower, upper = col_bounds(highs, held)
    highs.changeColsBounds(len(held), held, rounded[held], rounded[held])
    try:
        set_time_limit(highs, seconds, lp=False)
        highs.setOptionValue("mip_rel_gap", float(options.mip_gap))
        set_start(hm, rounded)
        if run_highs(hm):
            record["status"] = highs.modelStatusToString(highs.getModelStatus())
            if highs.getInfo().primal_solution_status == 2:  # 2: feasible
                x = np.asarray(highs.getSolution().col_value)
                if hm.objective_of(x) < best_objective:
                    best, best_objective = x, hm.objective_of(x)
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.changeColsBounds(len(held), held, lower, upper)
    record.update({"objective": best_objective, "s": time.perf_counter() - begin,
                   "start": "lp_neighbourhood" if best_objective < rounded_objective else "lp_round"})
    return np.round(best[integers]), record


#: an LP value of sum_l y above this counts as "used" by the screening LP
USED: Final = 1e-6


def used_by_lp(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, x: np.ndarray) -> set[str]:
    """Facilities whose level binaries sum above :data:`USED` in some investment period of the LP
    solution ``x`` (HiGHS column order)."""
    facility = d.levels["facility"].tolist()
    used: set[str] = set()
    for (j, _p), v in m.level_open.items():
        c = hm.cols.get(id(v))
        if c is not None and x[c] > USED:
            used.add(facility[j])
    return used


def _facility_columns(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, facilities: set[str]) -> np.ndarray:
    """HiGHS's level (and module) columns of ``facilities``, sorted."""
    facility = d.levels["facility"].tolist()
    cols = {hm.cols[id(v)] for (j, _p), v in m.level_open.items() if facility[j] in facilities and id(v) in hm.cols}
    modules = m.find_component("modules")
    if modules is not None:
        cols |= {hm.cols[id(v)] for (f, _p), v in modules.items() if f in facilities and id(v) in hm.cols}
    return np.asarray(sorted(cols), dtype=np.int32)


def close_others(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, kept: set[str]) -> int:
    """Fix, in HiGHS, the level (and module) columns of every facility not in ``kept`` to 0;
    returns how many facilities were closed."""
    others = set(d.facilities["id"]) - kept
    idx = _facility_columns(m, d, hm, others)
    if len(idx):
        zero = np.zeros(len(idx))
        hm.h.changeColsBounds(len(idx), idx, zero, zero)
    return len(others)


#: share of ``options.time_limit`` the restricted start may take, its LP included (the rest is the
#: full model's search from its plan)
RESTRICTED_SHARE: Final = 0.5


def restricted_plan(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions,
                    relaxed: np.ndarray | None = None) -> np.ndarray | None:
    """A first plan from the model restricted to the facilities its LP relaxation uses (the filter
    step of ``--heuristic``, :mod:`network_opt.runs.heuristic`, as a start of the full model):
    solve the LP relaxation (or take ``relaxed``), close in HiGHS every facility whose levels the
    LP leaves at 0 (existing ones kept, plus those :func:`network_opt.model.screen.cover` adds so
    that every tonne has somewhere to go), search that smaller MIP from the LP rounded
    (:func:`lp_round_start`) to ``options.mip_gap`` of its own bound, within
    :data:`RESTRICTED_SHARE` of ``options.time_limit`` counted from the call, and reopen them. Any
    plan of the restricted model is a plan of the full one. Returns every column's value (HiGHS
    order) of the best plan found (the rounded one if the search found none better), to be given to
    HiGHS as it is (:func:`set_start`: no repair LP, which the start's deadline may no longer
    allow), None without a plan (or after a stop request). Where the LP uses every facility there is
    nothing to restrict: the LP rounded is returned unsearched."""
    begin = time.perf_counter()
    integers = np.flatnonzero(hm.matrix.integer)
    if not len(integers) or not len(d.levels) or hm.abandoned or interrupts.requested() is not None:
        return None
    x = relaxed if relaxed is not None else relaxed_lp(hm, options)
    if x is None or interrupts.requested() is not None:
        return None
    existing = set(d.facilities.loc[d.facilities["status"] == "existing", "id"])
    kept = used_by_lp(m, d, hm, x) | existing
    kept |= cover(d, kept)
    closed = _facility_columns(m, d, hm, set(d.facilities["id"]) - kept)
    highs = hm.h
    lower, upper = col_bounds(highs, closed)
    highs.changeColsBounds(len(closed), closed, np.zeros(len(closed)), np.zeros(len(closed)))
    try:
        if lp_round_start(m, d, hm, options, x) is None or hm.start_values is None:
            return None
        best = hm.start_values
        if len(closed) and not hm.abandoned and interrupts.requested() is None:
            seconds = (None if options.time_limit is None
                       else max(0.1, RESTRICTED_SHARE * float(options.time_limit) - (time.perf_counter() - begin)))
            set_time_limit(highs, seconds, lp=False)
            highs.setOptionValue("mip_rel_gap", float(options.mip_gap))
            set_start(hm, best)
            if run_highs(hm) and highs.getInfo().primal_solution_status == 2:  # 2: feasible
                found = np.asarray(highs.getSolution().col_value)
                if hm.objective_of(found) < hm.objective_of(best):
                    best = found
        logger.debug("restricted start: %d of %d facilities kept, plan %.6g after %.1f s", len(kept),
                     len(d.facilities), hm.objective_of(best), time.perf_counter() - begin)
        return np.asarray(best, dtype=float).copy()
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.changeColsBounds(len(closed), closed, lower, upper)


def time_up(hm: HighsModel) -> bool:
    """Whether HiGHS's run clock has reached the time limit set for the start's LPs (one deadline
    for the chain of start LPs, :func:`network_opt.solver.options.set_time_limit`): no further
    start LP is tried then."""
    return hm.h.getRunTime() >= float(hm.h.getOptionValue("time_limit")[1])


def relaxed_lp(hm: HighsModel, options: SolveOptions) -> np.ndarray | None:
    """The column values (HiGHS order) of the LP relaxation of the model ``hm`` holds, with the
    bounds it holds now, within a third of ``options.time_limit`` (the rest is left to the repair
    LP and the MIP), and never past the time limit already set for the start's LPs; None if it was
    not solved to optimality. Integrality, output and that time limit are restored for the next run,
    an LP: the start's LPs share one deadline (re-basing it here let a chain of start LPs take
    2.3 times the time left, benchmarks/README.md)."""
    # interior point with crossover (a basis for the repair LP to start from): 24 s against 55 s for
    # the dual simplex on china-2025-2032, 15 against 20 s on eu-2025-2032, 56 against 84 s on a
    # generated 600 x 60 x 8 x 3 (benchmarks/README.md)
    with relaxed_model(hm, options, "ipm"):
        return np.asarray(hm.h.getSolution().col_value) if solved(hm) else None


#: share of ``options.time_limit`` the start's LPs may take together (the rest is the MIP's)
START_SHARE: Final = 1 / 3


@contextmanager
def relaxed_model(hm: HighsModel, options: SolveOptions, solver: str) -> Iterator[None]:
    """Inside, the model ``hm`` holds is its LP relaxation (every integer column continuous), run
    quietly by HiGHS's ``solver`` within :data:`START_SHARE` of ``options.time_limit`` and never past
    the time limit already set (one deadline on HiGHS's run clock for the chain of start LPs,
    :func:`~network_opt.solver.options.set_time_limit`). Integrality, output, solver and that time
    limit are restored on leaving (not on a HiGHS left running after a stop request)."""
    highs = hm.h
    console = highs.getOptionValue("log_to_console")[1]
    highs.setOptionValue("log_to_console", False)
    deadline = float(highs.getOptionValue("time_limit")[1])
    if options.time_limit is not None:
        set_time_limit(highs, max(0.1, float(options.time_limit) * START_SHARE), lp=True)
        highs.setOptionValue("time_limit", min(float(highs.getOptionValue("time_limit")[1]), deadline))
    try:
        with continuous(hm, solver):
            yield
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.setOptionValue("log_to_console", console)
            highs.setOptionValue("time_limit", deadline)  # the repair LP or the open-all LP runs next


def open_all(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions) -> str | None:
    """:func:`open_all_start` as a start label: "open_all" if it set a start, else None."""
    return "open_all" if open_all_start(m, d, hm, options) else None


def _round_and_repair(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, x: np.ndarray,
                      options: SolveOptions) -> str | None:
    """The rounding and repair of :func:`lp_round_start` from the LP solution ``x``."""
    for threshold in (0.5, 1e-6):
        if time_up(hm):
            return None
        fixed = rounded_levels(m, d, hm, x, threshold)
        cols = np.fromiter(fixed, dtype=np.int32, count=len(fixed))
        if start_from_integers(hm, cols, np.fromiter(fixed.values(), dtype=float, count=len(fixed)), options):
            return "lp_round"
        logger.debug("the LP relaxation rounded at %g leaves no feasible flows", threshold)
    return open_all(m, d, hm, options)


def first_plan(options: SolveOptions) -> str:
    """The start ``options`` ask for, with "auto" resolved: "open_all", "lp_round", "restricted", "slope" or
    "none"."""
    if options.start == "auto":
        return "open_all" if options.time_limit is not None else "none"
    return options.start
