r"""Re-dispatch an aggregated plan on the instance itself (``network-opt solve --aggregate N
--redispatch``).

``--aggregate N`` solves a model whose collection points are clustered and splits its plan back
onto the points in proportion to their supply (:func:`network_opt.model.aggregate.disaggregate`):
a plan of the instance, but each member ships its share of every flow of its cluster, stock sits in
the cluster's pooled caps, and every table but flows, collection, costs and emissions is the
clustered model's. The re-dispatch keeps the clustered plan's facility decisions (each facility's
level and modules in each investment period: :func:`~network_opt.solver.carry_over.plan_columns`)
and solves the full model's operations with them held: an LP over every flow, stock and target of
the instance,

.. math:: z^{re} = \min_{x} \{ c^\top x + f^\top \bar y : (x, \bar y) \text{ feasible in the full model} \}

with :math:`\bar y` the clustered plan's integer columns. The split plan is a point of that LP
whenever it is a plan of the instance (docs/aggregation.md: always, unless pooled stock exceeds a
member's own cap or the members' lanes emit past ``emissions.cap_t``), so then
:math:`z^{orig} \le z^{re} \le z^{split}`; each point ships on its own best lanes, stock respects
each point's cap, and targets, shadow prices (of this LP, as for any MIP: the facility decisions
held) and materials are the instance's. The full model must be built: its projected memory is
checked before the clustered solve starts, so that a re-dispatch that cannot fit fails first.

With a time limit, what is left of it after that LP goes to **the full model's search**: its MIP
(facility decisions free again) started from the re-dispatched plan. HiGHS keeps that plan as its
incumbent, so the plan written is never dearer than :math:`z^{re}`, and the search's dual bound is a
bound of the instance itself: the gap reported is true, whether or not points lost lanes in the
clustered model (the error bound B rarely holds). Without a time limit there is no search (the full
model's MIP would run to the gap asked, however long), and no bound unless B holds.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Final

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.common.progress import Progress
from network_opt.model import build_model
from network_opt.model.data import ModelData
from network_opt.results.tables import extract, target_bases
from network_opt.solver.carry_over import plan_columns
from network_opt.solver.compliance import PRICE_LP_HOLD_BACK, integrality_tolerance, noted_shadow_prices
from network_opt.solver.handoff import HighsModel, TriviallyInfeasible, col_bounds
from network_opt.solver.highs import SolveOutcome, solve_model
from network_opt.solver.options import SolveOptions
from network_opt.solver.starts import KnownPlan
from network_opt.solver.status import SolveStatus

#: share of ``--time-limit`` kept for the re-dispatch (the full model's build, hand-off, LP, search and
#: shadow prices): the clustered MIP gets the rest. Half: on 600 x 60 x 8 x 3 (120 clusters) the
#: clustered MIP had its final plan at 270 s and spent 160 s more proving it, while the full model's
#: search needs about 190 s for its root LP, the first bound of the instance (benchmarks/README.md)
REDISPATCH_SHARE: Final = 0.5
#: seconds the re-dispatch needs at least; with less left of the time limit it is not started
MIN_REDISPATCH_S: Final = 1.0
#: seconds of the time limit the full model's search needs at least after the re-dispatch's LP (its
#: presolve and a first LP); with less left the LP's plan is written without the full model's bound
MIN_SEARCH_S: Final = 10.0
#: seconds the search leaves of the time limit besides its hold-back for the shadow-price LP: HiGHS
#: notices its limit only between iterations of a large root LP (2.3 s late on 600 x 60 x 8 x 3), and
#: the plan is extracted before the prices
SEARCH_RESERVE_S: Final = 5.0


class BuildInterrupted(interrupts.Interrupted):
    """A stop request while the re-dispatch builds the full model: the build is abandoned (an
    :class:`~network_opt.common.interrupts.Interrupted` whose name holds "Interrupted", so Pyomo's
    report of the rule it ended is dropped as for any stop)."""


def _stop_build() -> None:
    """What a first stop request does while the full model is built (:func:`redispatch`)."""
    signum = interrupts.requested()
    raise BuildInterrupted(signum if signum is not None else 2)


def clustered_options(options: SolveOptions) -> SolveOptions:
    """``options`` for the clustered MIP when a re-dispatch follows: its time limit (if any) less
    :data:`REDISPATCH_SHARE` of it."""
    if options.time_limit is None:
        return options
    return dataclasses.replace(options, time_limit=float(options.time_limit) * (1.0 - REDISPATCH_SHARE))


@dataclass
class Redispatch:
    """What the re-dispatch did: ``tables`` of the full model's plan (empty when it found none,
    ``note`` then says why), the ``lp`` with the clustered facility decisions held, the full model's
    ``search`` from its plan (None when it did not run, ``search_note`` then says why), ``outcome``
    the plan written (the search's when it ran, else the LP's), the model and data behind the
    tables, and seconds from its start to the end of its shadow prices."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    outcome: SolveOutcome | None = None
    lp: SolveOutcome | None = None
    search: SolveOutcome | None = None
    search_note: str = ""
    model: pyo.ConcreteModel | None = None
    data: ModelData | None = None
    seconds: float = 0.0
    note: str = ""
    #: how far from the plan's integers the levels and modules were held (0: exactly)
    tolerance: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def solved(self) -> bool:
        """Whether the LP with the facility decisions held was solved to optimality (and so a plan of
        the instance written)."""
        return bool(self.tables) and self.lp is not None and self.lp.status == SolveStatus.OPTIMAL

    def record(self, split_objective: float | None) -> dict[str, object]:
        """Figures for ``summary.json`` ``aggregation.redispatch``: status, the objective of the plan
        written (currency, discounted as the objective) and that of the LP with the clustered
        facilities held (:math:`z^{re}`), the latter's change from the split plan's (negative:
        cheaper), the full model's search (objective, bound, gap, nodes, seconds, termination) or why
        it did not run, seconds in all, the full model's size and why there is no plan (``note``)."""
        objective = self.outcome.objective if self.solved and self.outcome is not None else None
        held = self.lp.objective if self.solved and self.lp is not None else None
        change = None if held is None or split_objective is None else held - split_objective
        search = None if self.search is None or not self.solved else {
            "objective": self.search.objective if self.search.has_plan else None, "bound": self.search.bound,
            "mip_gap": self.search.mip_gap, "termination": str(self.search.termination),
            "nodes": self.search.mip_node_count, "seconds": self.search.solve_s}
        return {"solved": self.solved, "objective": objective, "objective_held": held,
                "change_from_split": change, "search": search, "search_note": self.search_note,
                "seconds": self.seconds, "note": self.note, "integrality_tolerance": self.tolerance,
                "nonzeros": self.outcome.nonzeros if self.outcome is not None else None}


@dataclass
class HeldPlan:
    """The level and module columns of a plan (HiGHS order), the values it gives them (rounded, within
    the columns' bounds) and the columns' own bounds."""

    cols: np.ndarray
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, plan: pd.DataFrame) -> HeldPlan:
        """The columns of ``m`` (built from ``d``, held by ``hm``) and values for ``plan`` (a
        ``facilities`` result table of a model with the same facilities and levels,
        :func:`~network_opt.solver.carry_over.plan_columns`)."""
        chosen = plan_columns(m, d, hm, plan)
        cols = np.fromiter(chosen, dtype=np.int32, count=len(chosen))
        lower, upper = col_bounds(hm.h, cols)
        values = np.clip(np.round(np.fromiter(chosen.values(), dtype=float, count=len(chosen))), lower, upper)
        return cls(cols, values, lower, upper)

    def _integer(self, hm: HighsModel, integer: bool) -> None:
        """Make the columns integer or continuous, in HiGHS and in ``hm.matrix`` (which tells the
        solve whether the model is a MIP)."""
        kind = highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
        hm.h.changeColsIntegrality(len(self.cols), self.cols, np.full(len(self.cols), kind))
        flags = hm.matrix.integer.copy()
        flags[self.cols] = integer
        hm.matrix.integer = flags

    def hold(self, hm: HighsModel, tolerance: float = 0.0) -> None:
        """Make the columns continuous (the model is an LP now) and hold each within ``tolerance`` of
        its value (and within its bounds)."""
        self._integer(hm, False)
        hm.h.changeColsBounds(len(self.cols), self.cols, np.maximum(self.values - tolerance, self.lower),
                              np.minimum(self.values + tolerance, self.upper))

    def release(self, hm: HighsModel) -> None:
        """Undo :meth:`hold`: the columns integer again, within their own bounds (the model is the
        full MIP again)."""
        self._integer(hm, True)
        hm.h.changeColsBounds(len(self.cols), self.cols, self.lower, self.upper)


def redispatch(data: ModelData, plan: pd.DataFrame, options: SolveOptions, progress: Progress,
               clock: float, search_bytes: int | None = None) -> Redispatch:
    """Solve the full model built from ``data`` with the facility decisions of ``plan`` (the clustered
    model's ``facilities`` table) held, and extract its tables with the targets' shadow prices.
    ``options.time_limit`` counts from ``clock`` (``time.perf_counter()``, the clustered model's
    hand-off). Never raises for a plan it cannot find: the result's ``note`` says why (stopped, no
    time left, infeasible with these facilities, not solved in the time). ``search_bytes``: the full
    model's projected peak memory with HiGHS's search (:func:`~network_opt.model.size.prepare_sized`);
    above ``options.memory_limit`` (the search's guard) the search is not run, since the guard would
    stop it before its first bound."""
    begin = time.perf_counter()
    done = Redispatch(data=data)

    def left() -> float | None:
        return None if options.time_limit is None else float(options.time_limit) - (time.perf_counter() - clock)

    def ended(note: str = "") -> Redispatch:
        done.note, done.seconds = note, time.perf_counter() - begin
        return done

    if (rest := left()) is not None and rest < MIN_REDISPATCH_S:
        return ended(f"not run: {max(rest, 0.0):.1f} s of the time limit left")
    if interrupts.requested() is not None:
        return ended("not run: stopped")
    progress.phase(f"re-dispatch: building the full model ({len(data.flows):,} flows) with the clustered "
                   "plan's facilities held")
    try:
        # the full model's build can take a minute nationally: a stop request ends it at once, and the
        # split plan is written (outside, a first request is only noted until the plan is written)
        with interrupts.deferred(_stop_build):
            m = build_model(data)
            hm = HighsModel(m)
    except BuildInterrupted:
        return ended("not run: stopped")
    except TriviallyInfeasible as exc:
        return ended(f"infeasible with the clustered plan's facilities ({exc})")
    held = HeldPlan.of(m, data, hm, plan)
    outcome: SolveOutcome | None = None
    # first the plan's integers exactly; if that is infeasible, within HiGHS's integrality tolerance,
    # which the clustered MIP's plan may have used to fill a level past its rounded capacity
    for tolerance in (0.0, integrality_tolerance(hm.h)):
        rest = left()
        if interrupts.requested() is not None:
            return ended("not run: stopped")
        if rest is not None and rest < MIN_REDISPATCH_S:
            return ended("not run: the time limit was used up")
        held.hold(hm, tolerance)
        progress.phase(f"re-dispatch: solving the full model's operations ({len(held.cols):,} level and module "
                       "columns held" + (f" within {tolerance:g})" if tolerance else ")"))
        lp_options = dataclasses.replace(options, time_limit=rest, start="none", warm_start=False, write_model=None)
        with progress.solver_log(hm.h):
            outcome = solve_model(m, lp_options, solver=hm, progress=progress, data=data)
        done.tolerance = tolerance
        if outcome.status != SolveStatus.INFEASIBLE:
            break
    assert outcome is not None
    done.outcome, done.lp, done.model = outcome, outcome, m
    if outcome.status != SolveStatus.OPTIMAL or not outcome.has_plan:
        return ended(f"no plan of the instance with the clustered plan's facilities ({outcome.termination})"
                     if outcome.status == SolveStatus.INFEASIBLE else
                     f"not solved to optimality ({outcome.termination})")
    done.search_note = _search_refused(left(), search_bytes, options.memory_limit)
    if not done.search_note:
        assert hm.values is not None  # loaded by the LP's solve, which found a plan
        rest = left()
        done.search = search(m, data, hm, held, KnownPlan(hm.values.copy(), outcome.solve_s),
                             dataclasses.replace(options, time_limit=None if rest is None else rest - SEARCH_RESERVE_S),
                             progress)
        if done.search.has_plan:  # HiGHS kept the LP's plan as its incumbent: never dearer
            done.outcome = done.search
    tables = extract(m, data, hm)
    if len(data.targets):
        prices, notes, warning = noted_shadow_prices(m, data, target_bases(tables["targets"]), tables["targets"],
                                                     outcome.status, options, hm, clock)
        tables["targets"]["shadow_price"] = prices
        tables["targets"]["shadow_price_note"] = notes
        if warning is not None:
            progress.phase(f"warning: {warning}")
            done.warnings.append(warning)
    done.tables = tables
    return ended()


def _search_refused(rest: float | None, needed: int | None, guard: int | None) -> str:
    """Why the full model's search does not follow the re-dispatch's LP with ``rest`` seconds of the
    time limit left (None: no time limit), ``needed`` bytes of projected peak memory and the search's
    memory ``guard`` (bytes, None: none), or "" when it does."""
    if rest is None:
        return ("not run: no time limit (the full model's search would run to the gap asked); give "
                "--time-limit for the instance's bound")
    if interrupts.requested() is not None:
        return "not run: stopped"
    if rest < MIN_SEARCH_S:
        return f"not run: {max(rest, 0.0):.1f} s of the time limit left"
    if needed is not None and guard is not None and needed > guard:
        return (f"not run: the full model's search is projected to need {needed / 2**30:.1f} GiB, above the "
                f"memory limit of {guard / 2**30:.1f} GiB")
    return ""


def search(m: pyo.ConcreteModel, data: ModelData, hm: HighsModel, held: HeldPlan, plan: KnownPlan,
           options: SolveOptions, progress: Progress) -> SolveOutcome:
    """The full model ``m`` (built from ``data``, held by ``hm`` with ``held``'s columns held) solved as
    its MIP again, started from ``plan`` (the re-dispatch LP's solution) within ``options.time_limit``;
    it holds back time for the shadow-price LP when targets are in force. Its bound is the
    instance's."""
    held.release(hm)
    limit = options.time_limit
    progress.phase("re-dispatch: searching the full model from this plan" + (
        f" for the {limit:.0f} s left" if limit is not None else "") + " (its bound is the instance's)")
    mip_options = dataclasses.replace(options, start="none", warm_start=False, write_model=None)
    with progress.solver_log(hm.h):
        return solve_model(m, mip_options, solver=hm, progress=progress, data=data, known=plan,
                           hold_back=PRICE_LP_HOLD_BACK if len(data.targets) else 0.0)


__all__ = ["MIN_REDISPATCH_S", "MIN_SEARCH_S", "REDISPATCH_SHARE", "SEARCH_RESERVE_S", "BuildInterrupted",
           "HeldPlan", "Redispatch", "clustered_options", "redispatch", "search"]
