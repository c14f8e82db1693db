r"""Slope scaling: a first plan for the MIP from a few LPs whose level costs are spread over the
throughput the previous LP gave (Kim and Pardalos 1999, "A solution approach to the fixed charge
network flow problem using a dynamic slope scaling procedure", Oper. Res. Lett. 24; Crainic,
Gendron and Hernu 2004 for capacitated network design).

The LP relaxation prices a level :math:`l` of facility :math:`f` at its cost per tonne of
capacity: with :math:`y_{f,l,q}` continuous it opens :math:`y = u / C_{f,l}` of the level for a
throughput :math:`u`, so a plant is paid for only as far as it is used, and the rounded LP opens
many plants, each far below its level. Slope scaling re-prices each level column in the next LP,

.. math:: c'_{f,l,q} = c_{f,l,q} \, \frac{C_{f,l}}{\max(\min(u_{f,q}, C_{f,l}),\ \varphi C_{f,l})}
          \qquad u_{f,q} = \sum_l C_{f,l}\, y_{f,l,q}\ \text{(the last LP's capacity of f in q)},

so that a level paid at this rate for the same throughput costs what the whole level costs
(:math:`c'\,u/C = c`); a facility the last LP did not use keeps its last rate. Each LP is warm-started
from the last (only costs change), and each LP's solution is rounded up to levels
(:func:`network_opt.solver.starts.rounded_levels`, every facility used) and its flows re-solved
with the level columns fixed; the best plan is HiGHS's start. It stops when a rounded plan repeats,
after :data:`MAX_ROUNDS`, at the start's deadline or on a stop request.

Each LP starts from the basis of the LP of its kind before it: a re-priced LP from the last
relaxation's basis by the primal simplex (only costs changed, so that basis stays primal feasible),
a rounded plan's flows from the last such LP's basis by the dual simplex (only level bounds
changed). On china-2025-2032 the rounds after the first LP take 0.2-3.5 s each instead of 4.5-10.6 s.

Measured (benchmarks/README.md, "Slope scaling"): on china-2025-2032 a plan 0.09 % from the best
known in 8 rounds (the LP relaxation rounded: 1.7 %; every facility open: 31 %), and the run to a
1 % gap ends at HiGHS's root, 64-93 s end to end against 106-161 s from every facility open; on
eu-2025-2032 its plan (1 % from the optimum) does not end the run earlier and the start adds 13-30 s,
so this is not the default start.
"""

from __future__ import annotations

import logging
from typing import Final

import highspy
import numpy as np
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.model.data import ModelData
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.starts import (
    fixed_lp,
    open_all_start,
    relaxed_model,
    rounded_levels,
    set_start,
    solved,
    time_up,
)

logger = logging.getLogger(__name__)

#: rounds at most: an LP, then the LP of its rounded plan's flows
MAX_ROUNDS: Final = 20
#: HiGHS's ``simplex_strategy`` values: the primal simplex after a change of costs, the dual after
#: a change of bounds (each keeps the last basis feasible on its side)
PRIMAL: Final = 4
DUAL: Final = 1
#: :math:`\varphi`: a level's rate is at most 1 / FLOOR times its LP rate (a level used at under
#: FLOOR of its capacity is priced as if used at FLOOR)
FLOOR: Final = 0.02


def level_columns(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The level columns HiGHS holds: (column, capacity t/yr of the level, group), group numbering
    the (facility, investment period) pairs whose capacity :math:`u_{f,q}` the columns share."""
    capacity = d.levels["capacity_t"].to_numpy(dtype=float)
    facility = d.levels["facility"].tolist()
    cols, caps, groups = [], [], []
    group: dict[tuple[str, object], int] = {}
    for (j, q), v in m.level_open.items():
        c = hm.cols.get(id(v))
        if c is not None:
            cols.append(c)
            caps.append(capacity[j])
            groups.append(group.setdefault((facility[j], q), len(group)))
    return (np.asarray(cols, dtype=np.int32), np.asarray(caps, dtype=float), np.asarray(groups, dtype=np.int64))


def slope_factors(capacity: np.ndarray, groups: np.ndarray, y: np.ndarray, previous: np.ndarray) -> np.ndarray:
    r"""Each level column's cost multiplier for the next LP: :math:`C / \max(\min(u, C), \varphi C)`
    with :math:`u` the LP's capacity of the column's facility and period (t/yr, the sum of
    ``capacity * y`` over its ``groups``), or ``previous`` where :math:`u = 0`."""
    used = np.bincount(groups, weights=capacity * y, minlength=int(groups.max(initial=-1)) + 1)[groups]
    rate = capacity / np.maximum(np.minimum(used, capacity), FLOOR * capacity)
    return np.where(used > 1e-9 * capacity, rate, previous)


def _resume(highs: highspy.Highs, basis: highspy.HighsBasis | None, strategy: int) -> None:
    """Let the next LP start from ``basis`` (if any, and valid) with the simplex ``strategy``. On
    china-2025-2032 a re-priced LP took 3.8-8.1 s and a rounded plan's flow LP 0.7-2.5 s from the
    other kind's basis; from their own, 0.1-3.3 s and 0.1-0.4 s."""
    if basis is not None and basis.valid:
        highs.setBasis(basis)
    highs.setOptionValue("simplex_strategy", strategy)


def slope_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions) -> str | None:
    """The ``slope`` start: :func:`slope_scaling_start`, else every facility open
    (:func:`~network_opt.solver.starts.open_all_start`; also for a model without level columns).
    Returns the start set: "slope", "open_all" or None (none, e.g. after a stop request)."""
    if hm.matrix.integer.any() and slope_scaling_start(m, d, hm, options):
        return "slope"
    if hm.abandoned or interrupts.requested() is not None:
        return None
    return "open_all" if open_all_start(m, d, hm, options) else None


def slope_scaling_start(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, options: SolveOptions) -> bool:
    """Give HiGHS the best plan slope scaling finds (module docstring): the LPs run on the LP
    relaxation and share the start's deadline (:func:`~network_opt.solver.starts.relaxed_model`);
    the level costs are restored. Returns whether a start was set (False: no LP was solved, or no
    rounded plan had feasible flows)."""
    highs = hm.h
    cols, capacity, groups = level_columns(m, d, hm)
    if not len(cols) or hm.abandoned or interrupts.requested() is not None:
        return False
    cost = hm.matrix.cost[cols]
    best: np.ndarray | None = None
    best_value = np.inf
    strategy = highs.getOptionValue("simplex_strategy")[1]
    # the first LP by interior point (with crossover, so that the next LPs start from its basis):
    # 24 s against 55 s for the dual simplex on china-2025-2032, 15 against 20 s on eu-2025-2032
    with relaxed_model(hm, options, "ipm"):
        try:
            factor = np.ones(len(cols))
            seen: set[bytes] = set()
            relaxed: highspy.HighsBasis | None = None  # the last LP's basis
            rounded: highspy.HighsBasis | None = None  # the last rounded plan's flow LP's basis
            for rounds in range(MAX_ROUNDS):
                if rounds:
                    highs.changeColsCost(len(cols), cols, cost * factor)
                    _resume(highs, relaxed, PRIMAL)  # only costs changed: its basis stays primal feasible
                if time_up(hm) or not solved(hm):
                    break
                highs.setOptionValue("solver", "simplex")  # the LPs after the first start from its basis
                relaxed = highs.getBasis()
                x = np.asarray(highs.getSolution().col_value)
                fixed = rounded_levels(m, d, hm, x, 1e-6)
                values = np.fromiter(fixed.values(), dtype=float, count=len(fixed))  # levels and modules
                if (key := values.tobytes()) in seen:  # the rounded plan repeats: slope scaling has settled
                    break
                seen.add(key)
                # only the level bounds change from the last rounded plan: its basis stays dual feasible
                _resume(highs, rounded, DUAL)
                flows = fixed_lp(hm, np.fromiter(fixed, dtype=np.int32, count=len(fixed)), values)
                if flows is not None:
                    rounded = highs.getBasis()
                    if (value := hm.objective_of(flows)) < best_value:
                        best, best_value = flows, value
                logger.debug("slope scaling LP %d: rounded plan %s", rounds + 1,
                             "infeasible" if flows is None else f"{hm.objective_of(flows):.6g}")
                factor = slope_factors(capacity, groups, x[cols], factor)
        finally:
            if not hm.abandoned:  # a HiGHS left running must not be changed
                highs.changeColsCost(len(cols), cols, cost)
                highs.setOptionValue("simplex_strategy", strategy)
    if best is None or hm.abandoned:
        return False
    set_start(hm, best)
    return True

