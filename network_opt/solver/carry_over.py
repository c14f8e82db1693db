"""A first plan for a MIP carried over from another model's plan, e.g. the clustered relaxation's
(:func:`plan_start`): its levels as they are, raised where this model's routing finds them short
(:func:`repaired_plan_start`), sized by this model's LP (:func:`sized_plan_start`) or enlarged
(:func:`plan_columns` ``up``). Each try is one LP with the integer columns held
(:mod:`network_opt.solver.starts`)."""

from __future__ import annotations

import logging
import math
from typing import Final

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.model.data import ModelData
from network_opt.solver.handoff import HighsModel, col_bounds, row_bounds
from network_opt.solver.options import SolveOptions
from network_opt.solver.starts import (
    fixed_lp,
    integrality_dropped,
    open_all,
    relaxed_lp,
    rounded_levels,
    set_start,
    start_from_integers,
    time_up,
)

logger = logging.getLogger(__name__)


#: ``up`` of :func:`plan_columns` for each facility's largest level, whatever the level chosen
LARGEST: Final = None


def plan_columns(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, plan: pd.DataFrame,
                 up: int | None = 0) -> dict[int, float]:
    """Column -> value of every level and module column of ``m`` (built from ``d``, held by ``hm``)
    for the levels and modules ``plan`` opens: a ``facilities`` result table (facility,
    investment_period, open, level, modules) of a model with the same facilities and levels, e.g.
    a clustered model's. ``up``: each level chosen replaced by the one ``up`` places larger in its
    facility's levels by capacity (the largest if there is none), or by the largest
    (:data:`LARGEST`, None), so that the plan, which never shrinks a facility from one period to the
    next, still does not."""
    rows = plan.loc[plan["open"]].drop_duplicates(["facility", "investment_period"])
    facility, level = d.levels["facility"].tolist(), d.levels["level"].tolist()
    order = {f: [level[j] for j in sizes] for f, sizes in levels_by_size(d).items()}
    chosen = set()
    for f, lvl, q in zip(rows["facility"], rows["level"], rows["investment_period"].astype(int), strict=True):
        sizes = order.get(f, [lvl])
        if up is LARGEST or lvl not in sizes:
            chosen.add((f, sizes[-1], q))
        else:
            chosen.add((f, sizes[min(sizes.index(lvl) + up, len(sizes) - 1)], q))
    counts = {(f, int(q)): float(k) for f, q, k in zip(rows["facility"], rows["investment_period"], rows["modules"],
                                                       strict=True)}
    values: dict[int, float] = {}
    for (j, q), v in m.level_open.items():
        c = hm.cols.get(id(v))
        if c is not None:
            values[c] = 1.0 if (facility[j], level[j], int(q)) in chosen else 0.0
    modules = m.find_component("modules")
    if modules is not None:
        for (f, q), v in modules.items():
            c = hm.cols.get(id(v))
            if c is not None:
                values[c] = counts.get((f, int(q)), 0.0)
    return values


def sized_plan_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, plan: pd.DataFrame,
                     options: SolveOptions) -> bool:
    """Give HiGHS a first plan with the facilities ``plan`` opens (a ``facilities`` result table), each
    in the investment periods it opens them, sized by this model: the LP relaxation with every other
    facility's level and module columns at 0 (:func:`~network_opt.solver.starts.relaxed_lp`), rounded
    as in :func:`~network_opt.solver.starts.lp_round_start` (each facility the LP uses at its smallest
    level that covers the capacity the LP opened, never shrinking; a facility it leaves unused stays
    closed), with the flows of the LP these levels leave
    (:func:`~network_opt.solver.starts.start_from_integers`). Feasible whenever the plan's facilities
    at their largest levels are (what the LP opens is then rounded up, never down). Returns whether a
    start was set."""
    if hm.abandoned or interrupts.requested() is not None:
        return False
    rows = plan.loc[plan["open"]]
    opened = set(zip(rows["facility"], rows["investment_period"].astype(int), strict=True))
    facility = d.levels["facility"].tolist()
    shut = [c for (j, q), v in m.level_open.items()
            if (facility[j], int(q)) not in opened and (c := hm.cols.get(id(v))) is not None]
    modules = m.find_component("modules")
    if modules is not None:
        shut += [c for (f, q), v in modules.items()
                 if (f, int(q)) not in opened and (c := hm.cols.get(id(v))) is not None]
    cols = np.asarray(sorted(set(shut)), dtype=np.int32)
    lower, upper = col_bounds(hm.h, cols)
    cols = cols[lower <= 0]  # a column held open (lower bound 1) stays so
    lower, upper = lower[lower <= 0], upper[lower <= 0]
    hm.h.changeColsBounds(len(cols), cols, lower, np.zeros(len(cols)))
    try:
        x = relaxed_lp(hm, options)
    finally:
        if not hm.abandoned:
            hm.h.changeColsBounds(len(cols), cols, lower, upper)
    if x is None:
        return False
    fixed = rounded_levels(m, d, hm, x, 1e-6)
    return start_from_integers(hm, np.fromiter(fixed, dtype=np.int32, count=len(fixed)),
                               np.fromiter(fixed.values(), dtype=float, count=len(fixed)), options)


#: base price (currency) of a tonne a year over a facility's capacity in :func:`shortfalls`' elastic
#: LP, as a multiple of the largest cost or revenue of a flow tonne: a tonne goes over capacity only
#: where the levels held leave it no other way (:func:`raise_prices` adds what the raise costs)
OVER_CAPACITY: Final = 100.0
#: that base price times this where nothing is left to raise (largest level, every module): tonnes
#: go over capacity first where a raise can hold them
FULL_FACTOR: Final = 100.0
#: tonnes a year over capacity below this are round-off
SHORT_T: Final = 1e-6
#: elastic LPs :func:`repaired_plan_start` solves at most: a raise can move flows, and ramp-up can
#: leave a raised level short in its first years
REPAIR_ROUNDS: Final = 3


def repaired_plan_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, plan: pd.DataFrame) -> str | None:
    """Give HiGHS a first plan with ``plan``'s levels and modules (:func:`plan_columns`), raised only
    where this model finds them short: the LP with them held and the capacity of every facility they
    open made elastic (:func:`shortfalls`) gives the tonnes each needs beyond its capacity; each
    facility short is raised to hold them (:func:`raised_levels`) and the LP solved again, at most
    :data:`REPAIR_ROUNDS` LPs in all. Facilities the plan leaves closed stay closed: their rows,
    elastic, would keep every flow into them in the LP, which presolve otherwise removes (nationally
    the LP after presolve went from 47 k rows and 187 k columns to 146 k and 1.07 M, and did not end
    in 7 minutes); the plan was completed before (:func:`~network_opt.model.screen.reaching_plan`:
    every tonne reaches a facility it opens). Returns "plan" (the plan's own levels route every
    tonne: that LP's flows are the start), "plan_repaired" (after raising) or None (still short,
    nothing left to raise, or no LP: infeasible even so, out of time, stopped)."""
    values = plan_columns(m, d, hm, plan)
    base = over_capacity_price(m, hm)
    for attempt in range(REPAIR_ROUNDS):
        if hm.abandoned or interrupts.requested() is not None or time_up(hm):
            return None
        elastic = shortfalls(m, d, hm, values, base)
        if elastic is None:
            return None
        x, short = elastic
        if not short:
            set_start(hm, x)
            return "plan" if attempt == 0 else "plan_repaired"
        raised = raised_levels(m, d, hm, values, short)
        logger.debug("the plan is short at %d facility-periods (%.1f t/yr at most); raised", len(short),
                     max(short.values()))
        if raised == values:
            return None  # at their largest levels and modules already
        values = raised
    return None


def over_capacity_price(m: pyo.ConcreteModel, hm: HighsModel) -> float:
    """The base price (currency per t/yr) of a tonne over capacity: :data:`OVER_CAPACITY` times the
    largest cost or revenue of a flow tonne (at least 1)."""
    flows = np.fromiter((hm.cols.get(id(v), -1) for v in m.flow.values()), dtype=np.int64, count=len(m.flow))
    flows = flows[flows >= 0]
    return OVER_CAPACITY * max(float(np.abs(hm.matrix.cost[flows]).max()) if len(flows) else 0.0, 1.0)


def shortfalls(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, values: dict[int, float], base: float
               ) -> tuple[np.ndarray, dict[tuple[str, int], float]] | None:
    r"""The LP with the integer columns held at ``values`` (column -> value) and the capacity row
    (:func:`~network_opt.model.constraints.capacity.add_facility_capacity`) of each facility open
    there in the investment period :math:`P(p)` of operating year p elastic:

    .. math:: \sum_{i \in \mathrm{in}(f,p)} x_i \le \mathrm{capacity}_{f,p} + s_{f,p}, \qquad s_{f,p} \ge 0,

    each :math:`s_{f,p}` (t/yr) priced by :func:`raise_prices` for the investment period of operating
    year p, from ``base`` (:func:`over_capacity_price`). Returns the column values (HiGHS order,
    without the s columns) and the tonnes over capacity by (facility, investment period), the most
    over its operating years (none when ``values`` route every tonne); None if the LP is not solved
    (infeasible even so, out of time, stopped). The s columns are removed again."""
    capacity = m.find_component("facility_capacity")
    if capacity is None or not values:
        return None
    of = d.period_of or {}
    prices = raise_prices(m, d, hm, values, base)  # the open (facility, investment period) pairs
    pairs = [(key, hm.rows[con]) for key, con in capacity.items()
             if con in hm.rows and (key[0], of.get(key[1], key[1])) in prices]
    keys = [key for key, _ in pairs]
    costs = np.array([prices[(f, of.get(p, p))] for f, p in keys])
    rows = np.fromiter((r for _, r in pairs), dtype=np.int32, count=len(pairs))
    highs, k = hm.h, len(pairs)
    n = highs.getNumCol()
    _, upper = row_bounds(highs, rows)
    coefficient = np.where(np.isfinite(upper), -1.0, 1.0)  # the rows are "<=": s relaxes the upper bound
    cols = np.fromiter(values, dtype=np.int32, count=len(values))
    held = np.fromiter(values.values(), dtype=float, count=len(values))
    highs.addCols(k, costs, np.zeros(k), np.full(k, np.inf), k, np.arange(k, dtype=np.int32), rows, coefficient)
    try:
        with integrality_dropped(hm, cols):
            x = fixed_lp(hm, cols, held)
    finally:
        if not hm.abandoned:  # a HiGHS left running must not be changed
            highs.deleteCols(k, np.arange(n, n + k, dtype=np.int32))
    if x is None:
        return None
    short: dict[tuple[str, int], float] = {}
    for (f, p), s in zip(keys, x[n:].tolist(), strict=True):
        if s > SHORT_T:
            q = (f, of.get(p, p))
            short[q] = max(short.get(q, 0.0), s)
    return x[:n], short


def levels_by_size(d: ModelData) -> dict[str, list[int]]:
    """Each facility's level rows (the index of ``level_open``), smallest capacity first."""
    facility = d.levels["facility"].tolist()
    by_size: dict[str, list[int]] = {}
    for j in np.argsort(d.levels["capacity_t"].to_numpy(dtype=float), kind="stable").tolist():
        by_size.setdefault(facility[j], []).append(j)
    return by_size


def held_level(m: pyo.ConcreteModel, hm: HighsModel, sizes: list[int], q: object,
               values: dict[int, float]) -> tuple[list[int | None], int]:
    """The columns of one facility's level rows ``sizes`` (:func:`levels_by_size`) in investment
    period ``q``, and the place in ``sizes`` of the level ``values`` (column -> value) open (-1: none)."""
    cols = [hm.cols.get(id(m.level_open[j, q])) for j in sizes]
    return cols, next((i for i, c in enumerate(cols) if c is not None and values.get(c, 0.0) > 0.5), -1)


def module_capacity(d: ModelData) -> dict[str, float]:
    """Capacity of one add-on module of each facility (t/yr; 0 without modules)."""
    fac = d.facilities
    return dict(zip(fac["id"], fac["module_capacity_t"].fillna(0.0).astype(float).tolist(), strict=True))


def raise_prices(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, values: dict[int, float],
                 base: float) -> dict[tuple[str, int], float]:
    r"""Price (currency per t/yr) of a tonne over capacity at each (facility, investment period) where
    the levels ``values`` (column -> value) hold open one: ``base`` times a tier, plus what a tonne
    of the raise costs, :math:`(c_{f,l'} - c_{f,l}) / (C_{f,l'} - C_{f,l})` with :math:`l` the level
    held, :math:`l'` the next one up and :math:`c` the level columns' objective coefficients (a
    module's, per module capacity, where the level is the largest). Tier 1 where a level or module
    is left to add, :data:`FULL_FACTOR` where nothing is. So the elastic LP goes over capacity as
    little as it can, where a raise can hold the tonnes, and, between facilities that could take the
    same tonnes, where raising costs least."""
    capacity = d.levels["capacity_t"].to_numpy(dtype=float)
    cost = hm.matrix.cost
    modules = m.find_component("modules")
    module_t = module_capacity(d)
    prices: dict[tuple[str, int], float] = {}
    for f, sizes in levels_by_size(d).items():
        for q in m.INVESTMENT_PERIODS:
            cols, chosen = held_level(m, hm, sizes, q, values)
            if chosen < 0:
                continue  # closed there: no price, no elastic row
            now = cols[chosen]
            up = next((i for i in range(chosen + 1, len(sizes)) if cols[i] is not None), None)
            module_col = hm.cols.get(id(modules[f, q])) if modules is not None and f in m.MODULAR else None
            if up is not None and now is not None and (then := cols[up]) is not None:
                gained = float(capacity[sizes[up]] - capacity[sizes[chosen]])
                step, tier = (float(cost[then]) - float(cost[now])) / max(gained, 1e-9), 1.0
            elif module_col is not None and values.get(module_col, 0.0) < hm.matrix.col_upper[module_col] - 0.5:
                step, tier = float(cost[module_col]) / max(module_t[f], 1e-9), 1.0
            else:
                step, tier = 0.0, FULL_FACTOR
            prices[(f, int(q))] = tier * base + max(step, 0.0)
    return prices


def raised_levels(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, values: dict[int, float],
                  short: dict[tuple[str, int], float]) -> dict[int, float]:
    r"""``values`` (column -> value of the level and module columns) with each facility of ``short``
    ((facility, investment period) -> t/yr over capacity, :func:`shortfalls`) raised where it is
    short: to its smallest level, then (at its largest) the fewest modules, whose capacity covers
    what it has there plus the shortfall, :math:`C_{f,l} + C^{mod}_f n \ge C_{f,q} + s_{f,q}`. Levels
    only grow, so every later period keeps at least the capacity raised to while the facility stays
    open (a facility the plan closes later still closes). Other facilities and periods keep their
    values."""
    capacity = d.levels["capacity_t"].to_numpy(dtype=float)
    modules = m.find_component("modules")
    modular = set(m.MODULAR) if modules is not None else set()
    module_t = module_capacity(d)
    fac = d.facilities
    most_modules = dict(zip(fac["id"], fac["max_modules"].fillna(0).astype(int).tolist(), strict=True))
    raised = dict(values)
    by_size = levels_by_size(d)
    for f in sorted({f for f, _ in short}):
        sizes = by_size[f]
        per_module = module_t[f] if f in modular else 0.0
        most = most_modules[f] if f in modular else 0
        floor, floor_modules = -1, 0  # what the raise has built so far
        for q in m.INVESTMENT_PERIODS:
            cols, chosen = held_level(m, hm, sizes, q, values)
            module_col = hm.cols.get(id(modules[f, q])) if f in modular else None
            held = round(values.get(module_col, 0.0)) if module_col is not None else 0
            if chosen < 0:
                floor, floor_modules = -1, 0  # closed in the plan (not yet opened, or closed again)
                continue
            # the shortfall is over what ``values`` hold here, the raise never below an earlier one
            target = capacity[sizes[chosen]] + per_module * held + short.get((f, int(q)), 0.0)
            level, count = max(chosen, floor), max(held, floor_modules)
            while level < len(sizes) - 1 and capacity[sizes[level]] + per_module * count < target - 1e-9:
                level += 1
            if per_module and capacity[sizes[level]] + per_module * count < target - 1e-9:
                count = max(count, min(most, math.ceil((target - capacity[sizes[level]]) / per_module - 1e-9)))
            for i, c in enumerate(cols):
                if c is not None:
                    raised[c] = 1.0 if i == level else 0.0
            if module_col is not None:
                raised[module_col] = float(count)
            floor, floor_modules = level, count
    return raised

#: how far :func:`plan_start` enlarges a plan's levels, in turn, when the full model cannot route its
#: flows over them, after raising the short ones and sizing them with its LP: one level up, then the
#: largest
PLAN_UPGRADES: tuple[int | None, ...] = (1, LARGEST)


def plan_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, plan: pd.DataFrame,
               options: SolveOptions) -> str | None:
    """Give HiGHS a first plan from another model's ``plan`` (:func:`plan_columns`): its levels and
    modules with the flows of the LP they leave ("plan"); where some facility is short there (the
    other model, e.g. a relaxation whose clusters ship at their members' best lanes, could fill
    levels this one's lanes cannot), those facilities raised until they hold it
    (:func:`repaired_plan_start`, "plan_repaired"); failing that, the plan's facilities sized by this
    model's LP (:func:`sized_plan_start`, "plan_sized"), then with every level one place larger,
    then at their largest ("plan_upgraded"), then every facility open
    (:func:`~network_opt.solver.starts.open_all_start`, "open_all"). Each try is one LP with the
    integer columns held (on a national model half a minute; the repair takes one more per round,
    the sizing one more over the plan's facilities; the LP relaxation of the whole model,
    :func:`~network_opt.solver.starts.lp_round_start`, took longer than the budget). Returns the
    start set, or None."""
    if hm.abandoned or interrupts.requested() is not None or time_up(hm):
        return None
    if (label := repaired_plan_start(m, d, hm, plan)) is not None:
        return label
    logger.debug("the plan's levels raised where short leave no feasible flows")
    if hm.abandoned or interrupts.requested() is not None or time_up(hm):
        return None
    if sized_plan_start(m, d, hm, plan, options):
        return "plan_sized"
    logger.debug("the plan's facilities sized by the LP leave no feasible flows")
    for up in PLAN_UPGRADES:
        if hm.abandoned or interrupts.requested() is not None or time_up(hm):
            return None
        values = plan_columns(m, d, hm, plan, up)
        cols = np.fromiter(values, dtype=np.int32, count=len(values))
        if start_from_integers(hm, cols, np.fromiter(values.values(), dtype=float, count=len(values)), options):
            return "plan_upgraded"
        logger.debug("the plan's levels %s leave no feasible flows",
                     "at their largest" if up is LARGEST else f"{up} place(s) up")
    return open_all(m, d, hm, options)


__all__ = ["FULL_FACTOR", "LARGEST", "OVER_CAPACITY", "PLAN_UPGRADES", "REPAIR_ROUNDS", "SHORT_T", "held_level",
           "levels_by_size", "module_capacity", "over_capacity_price", "plan_columns", "plan_start", "raise_prices",
           "raised_levels", "repaired_plan_start", "shortfalls", "sized_plan_start"]
