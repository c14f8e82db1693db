"""What each rule costs: shadow prices of targets at the optimal network, and the cost of
compliance (the optimum re-solved without each target family).

Shadow prices come from the LP with the integer decisions (levels, modules) fixed at their
optimal values: HiGHS returns no duals for a MIP. They are therefore the marginal cost of a
small change at *this* network: where meeting more of a target needs another facility, level or
module, the cost moves in an integer step that no dual shows (the price is 0 or that of the
current network), and a plan stopped by a time or gap limit prices its own network, not the
optimal one. With a time limit the LP gets only what the solve left of it (:func:`seconds_left`; NaN
prices when it is used up). :func:`shadow_price_notes` says so for each target (``targets.csv``
``shadow_price_note``); a sweep reports the incremental cost between its points beside them. For a target written as
``sum_i (a_i - rho b_i) x_i >= 0`` the envelope theorem gives d(objective)/d(rho) =
dual x sum_i b_i x*_i, which :func:`network_opt.results.tables.target_measures` reports as ``base``.

Both re-solves work on the HiGHS model the MIP solve left behind, changing column integrality
and bounds or row bounds in place and restoring them afterwards. Going through Pyomo's
persistent interface instead (fixing variables, deactivating constraints) makes it re-generate
every affected row in Python, which took longer than the MIP itself on mid-size instances.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.model.data import ModelData
from network_opt.model.families import TARGET_CONSTRAINTS
from network_opt.solver.handoff import HighsModel, col_bounds, row_bounds
from network_opt.solver.highs import relative_gap, solve_status
from network_opt.solver.options import SolveOptions, run_highs, set_time_limit
from network_opt.solver.status import SolveStatus

INTEGER_VARS = ("level_open", "modules")


def integrality_tolerance(h: highspy.Highs) -> float:
    """HiGHS's ``mip_feasibility_tolerance``: how far from an integer a MIP's integer column may be in
    a plan it accepts (1e-6 by default)."""
    return float(h.getOptionValue("mip_feasibility_tolerance")[1])


class HighsView:
    """The highspy model of a :class:`~network_opt.solver.handoff.HighsModel`, with its Pyomo-to-HiGHS
    index maps."""

    def __init__(self, solver: HighsModel):
        self.solver = solver
        self.h: highspy.Highs = solver.h
        self.cols: dict[int, int] = solver.cols
        self.rows: dict[object, int] = solver.rows

    @property
    def stopped(self) -> bool:
        """A stop request (SIGINT/SIGTERM) came, or HiGHS was left running: run nothing more."""
        return self.solver.abandoned or interrupts.requested() is not None

    def run(self, options: SolveOptions | None, *, lp: bool) -> bool:
        """Run HiGHS (stoppable by SIGINT/SIGTERM, :func:`network_opt.solver.options.run_highs`) within
        ``options``'s time limit (``lp``: this run is an LP, :func:`~network_opt.solver.options.set_time_limit`);
        False if it was stopped or left running, or a stop had been requested before."""
        if self.stopped:
            return False
        h = self.h
        h.setOptionValue("output_flag", bool(options and options.verbose))
        if options and options.time_limit is not None:
            set_time_limit(h, options.time_limit, lp=lp)
        return run_highs(self.solver) and not self.stopped

    @contextmanager
    def integers_fixed(self, m: pyo.ConcreteModel, tolerance: float = 0.0) -> Iterator[None]:
        """Integer columns made continuous and fixed at their rounded values (``tolerance``: within
        that much of them, and of their bounds), then restored."""
        data = [v for name in INTEGER_VARS if hasattr(m, name) for v in getattr(m, name).values()]
        data = [v for v in data if id(v) in self.cols]  # a variable in no row or cost is not passed
        cols = np.array([self.cols[id(v)] for v in data], dtype=np.int32)
        lower, upper = col_bounds(self.h, cols)
        values = np.array([round(v.value or 0.0) for v in data], dtype=float)
        n = len(cols)
        cont = np.full(n, highspy.HighsVarType.kContinuous)
        integer = np.full(n, highspy.HighsVarType.kInteger)
        try:
            if n:
                self.h.changeColsIntegrality(n, cols, cont)
                self.h.changeColsBounds(n, cols, np.maximum(values - tolerance, lower),
                                        np.minimum(values + tolerance, upper))
            yield
        finally:
            if n and not self.solver.abandoned:
                self.h.changeColsBounds(n, cols, lower, upper)
                self.h.changeColsIntegrality(n, cols, integer)

    @contextmanager
    def rows_relaxed(self, constraints: list[object]) -> Iterator[None]:
        """Rows made free (-inf, inf), then restored."""
        rows = np.array([self.rows[c] for c in constraints if c in self.rows], dtype=np.int32)
        lower, upper = row_bounds(self.h, rows)
        n = len(rows)
        inf = highspy.kHighsInf
        try:
            if n:
                # changeRowsBounds: in highspy since 1.7, missing from its stubs
                self.h.changeRowsBounds(n, rows, np.full(n, -inf), np.full(n, inf))  # type: ignore[attr-defined]
            yield
        finally:
            if n and not self.solver.abandoned:
                self.h.changeRowsBounds(n, rows, lower, upper)  # type: ignore[attr-defined]


#: seconds of --time-limit the shadow-price LP needs left at least: with less it is not run
MIN_PRICE_LP_S = 1.0
#: with targets in force, the MIP stops this many times the start's longest LP with the integer
#: columns held before the time limit (``solve_model(hold_back=...)``): the shadow-price LP is one
#: such LP, from no basis, and the plan's tables are extracted before it. Nationally the MIP used
#: the whole limit and left the prices NaN; with its start's two such LPs at 31-33 s it now holds
#: back 47 s, of which the price LP takes about 38 (benchmarks/README.md, "shadow prices within the
#: time limit")
PRICE_LP_HOLD_BACK = 1.5
#: why the shadow-price LP gave no prices when the time limit ended it (``time_up`` of :func:`shadow_price_notes`)
TIME_UP_BEFORE = "before"
TIME_UP_DURING = "during"


def seconds_left(options: SolveOptions | None, started: float | None) -> float | None:
    """Seconds left of ``options.time_limit`` counted from ``started`` (a :func:`time.perf_counter`
    clock: where the solve's own limit counts from); None without a time limit or without ``started``
    (then a re-solve gets the whole limit)."""
    if options is None or options.time_limit is None or started is None:
        return None
    return float(options.time_limit) - (time.perf_counter() - started)


def shadow_prices(m: pyo.ConcreteModel, d: ModelData, base: pd.Series, options: SolveOptions | None,
                  solver: HighsModel, started: float | None = None) -> np.ndarray:
    """Marginal cost (currency) of raising each target row's required value by one unit, at the
    optimal network; NaN where the target has no constraint, or where the time limit counted from
    ``started`` (:func:`seconds_left`) left the LP too little time."""
    return _shadow_prices(m, d, base, options, solver, started)[0]


def _shadow_prices(m: pyo.ConcreteModel, d: ModelData, base: pd.Series, options: SolveOptions | None,
                   solver: HighsModel, started: float | None = None
                   ) -> tuple[np.ndarray, bool, np.ndarray, str | None]:
    """The prices, whether the LP with the integers fixed was solved to optimality, which target
    rows have a constraint in HiGHS's model, and whether the time limit ended it
    (:data:`TIME_UP_BEFORE`: under :data:`MIN_PRICE_LP_S` seconds were left, the LP was not run;
    :data:`TIME_UP_DURING`: it ran on what was left and stopped at the limit; else None). With a time
    limit and ``started``, the LP gets only what is left of the limit (:func:`seconds_left`)."""
    prices = np.full(len(d.targets), np.nan)
    has_row = np.zeros(len(d.targets), dtype=bool)
    families = {metric: getattr(m, name) for metric, name in TARGET_CONSTRAINTS.items() if hasattr(m, name)}
    if not any(len(c) for c in families.values()):
        return prices, True, has_row, None
    view = HighsView(solver)
    duals = None
    time_up: str | None = None
    left = seconds_left(options, started)
    if left is not None and left < MIN_PRICE_LP_S:
        time_up = TIME_UP_BEFORE
    elif not view.stopped:  # after SIGINT/SIGTERM the plan is written without prices
        lp_options = dataclasses.replace(options, time_limit=left) if options is not None and left is not None \
            else options
        for tolerance in (0.0, integrality_tolerance(view.h)):
            with view.integers_fixed(m, tolerance):
                # the MIP leaves HiGHS holding the basis of the last LP before it (a start's, for other
                # levels), which the LP would start from: on eu-2025-2032 9-10 s and 20,766 iterations
                # from it, 0.6 s and 10,662 from none (benchmarks/README.md, "A run's own overheads")
                view.h.clearSolver()
                ran = view.run(lp_options, lp=True)
                status = view.h.getModelStatus() if ran else None
                ok = status == highspy.HighsModelStatus.kOptimal
                duals = np.asarray(view.h.getSolution().row_dual) if ok else None
                if status == highspy.HighsModelStatus.kTimeLimit:
                    time_up = TIME_UP_DURING
            # a plan the MIP accepted with a level column within its integrality tolerance of an integer
            # can fill a capacity past the rounded level's (by that tolerance x the largest level's
            # capacity); fixed exactly, its LP is infeasible: priced again with the columns that free
            if status != highspy.HighsModelStatus.kInfeasible:
                break
    sense = -1.0 if duals is not None and view.h.getObjectiveSense()[1] == highspy.ObjSense.kMaximize else 1.0
    for metric, con in families.items():
        sign = -1.0 if metric == "collection_rate" else 1.0  # a <= row: its dual is <= 0
        for t in con:
            row = view.rows.get(con[t])
            if row is not None:
                has_row[t] = True
                if duals is not None:
                    prices[t] = max(0.0, sense * sign * float(duals[row])) * float(base.get(t, math.nan))
    return prices, duals is not None, has_row, time_up


#: what every shadow price is (the first sentence of each note in targets.csv)
SHADOW_PRICE_MEANING = ("LP dual of this plan with its facility levels and modules fixed: the cost of a small raise "
                        "of the required value, per unit, with this network")
_STEP = ("a raise that needs another facility, level or module (an integer step) costs more and no dual shows it: "
         "sweep the target and read incremental_cost")


#: the note of every price the time limit left NaN (``time_up`` of :func:`shadow_price_notes`)
TIME_UP_NOTES = {
    TIME_UP_BEFORE: ("NaN: the time limit was used up before the LP with the facility levels and modules fixed "
                     f"could run (under {MIN_PRICE_LP_S:g} s of --time-limit left after the solve, which counts "
                     "them together): no shadow price was computed"),
    TIME_UP_DURING: ("NaN: the time limit was used up before the LP with the facility levels and modules fixed "
                     "was solved (it got what was left of --time-limit after the solve and stopped at it)"),
}


def shadow_price_notes(targets: pd.DataFrame, prices: np.ndarray, lp_solved: bool, has_row: np.ndarray,
                       status: str, time_up: str | None = None) -> list[str]:
    """One note per target row saying what its ``shadow_price`` means and why it is 0 or NaN
    (``targets``: the targets table with ``required`` and ``achieved``; ``status``: the MIP's;
    ``time_up``: :data:`TIME_UP_BEFORE` or :data:`TIME_UP_DURING` when the time limit ended the LP,
    :data:`TIME_UP_NOTES`)."""
    notes = []
    for k in range(len(targets)):
        price = prices[k]
        required, achieved = float(targets["required"].iloc[k]), float(targets["achieved"].iloc[k])
        if not has_row[k] and math.isfinite(achieved):
            # the row's coefficients all cancel: e.g. a technology whose yield is the required rate
            note = ("NaN: the target has no constraint in the model, because every plan meets it: each tonne it "
                    "measures counts exactly at the required rate (a yield equal to the rate, so the row would read "
                    "0 >= 0), or a collection target while every pack is collected")
        elif not has_row[k]:
            note = ("NaN: the target has no constraint in the model (nothing it measures can flow in this period, or "
                    "what it measures would count exactly at the required rate, a yield equal to the rate, or a "
                    "collection target holds whatever the plan: every pack is collected)")
        elif not lp_solved and time_up is not None:
            note = TIME_UP_NOTES[time_up]
        elif not lp_solved:
            note = "NaN: the LP with the facility levels and modules fixed was not solved to optimality"
        elif math.isnan(price):
            note = "NaN: the target's base quantity is unknown"
        elif price > 1e-9:
            note = f"{SHADOW_PRICE_MEANING}; {_STEP}"
        elif math.isfinite(achieved) and achieved > required + 1e-6:
            note = "0: not binding, the plan exceeds the target"
        elif not math.isfinite(achieved):
            note = ("0: nothing it measures flows in this plan (e.g. a facility that takes nothing: its row reads "
                    "0 >= 0); the row may be what keeps flows out, a cost no dual shows: see the cost of compliance")
        else:
            note = f"0: binding, but a small raise costs nothing with this network; {_STEP}"
        if status != SolveStatus.OPTIMAL:
            note += (f". The plan is {status}, not proven optimal (a time or gap limit stopped the MIP): the price "
                     "is that of this plan's network")
        notes.append(note)
    return notes


def noted_shadow_prices(m: pyo.ConcreteModel, d: ModelData, base: pd.Series, targets: pd.DataFrame, status: str,
                        options: SolveOptions | None, solver: HighsModel, started: float | None = None
                        ) -> tuple[np.ndarray, list[str], str | None]:
    """:func:`shadow_prices` and :func:`shadow_price_notes` of each target row, and a warning for
    ``summary.json`` when the time limit (counted from ``started``, :func:`seconds_left`) left them
    NaN (else None)."""
    prices, lp_solved, has_row, time_up = _shadow_prices(m, d, base, options, solver, started)
    warning = None
    if time_up is not None and not lp_solved:
        limit = options.time_limit if options is not None else None
        warning = (f"shadow prices not computed: the time limit (--time-limit {limit:g} s) was used up "
                   f"{'before' if time_up == TIME_UP_BEFORE else 'while'} the LP with the facility levels and "
                   "modules fixed " + ("could run" if time_up == TIME_UP_BEFORE else "ran")
                   + "; targets.csv shadow_price is NaN (shadow_price_note says why)")
    return prices, shadow_price_notes(targets, prices, lp_solved, has_row, status, time_up), warning


def compliance_shortfall(m: pyo.ConcreteModel, done: pd.DataFrame) -> str | None:
    """What :func:`cost_of_compliance` left undone (its table ``done`` has fewer rows than the model
    has target families), as a warning for ``summary.json``; None when every family was re-solved."""
    families = [metric for metric, name in TARGET_CONSTRAINTS.items() if len(getattr(m, name, None) or ())]
    if len(done) >= len(families):
        return None
    stop = interrupts.requested()
    why = (f"{interrupts.signal_name(stop)} stopped the re-solves" if stop is not None
           else "a re-solve ended without a result")
    missing = ", ".join(f for f in families if f not in set(done["target_family"]))
    kept = "compliance.csv holds only those done" if len(done) else "compliance.csv not written"
    return (f"cost of compliance: {len(done)} of {len(families)} target families re-solved ({why}); "
            f"missing: {missing}; {kept}")


def cost_of_compliance(m: pyo.ConcreteModel, objective: float, options: SolveOptions | None,
                       solver: HighsModel) -> pd.DataFrame:
    """Re-solve the MIP without each target family in turn; the difference in objective is what
    complying with that family costs (currency). The model's variable values are not touched.
    A stop request (SIGINT/SIGTERM) ends the re-solves: the families done before it are returned."""
    view = HighsView(solver)
    rows = []
    for metric, name in TARGET_CONSTRAINTS.items():
        con = getattr(m, name, None)
        if con is None or not len(con):
            continue
        if view.stopped:  # SIGINT/SIGTERM: the families done so far
            break
        with view.rows_relaxed(list(con.values())):
            if not view.run(options, lp=not view.solver.matrix.integer.any()):
                break
            info = view.h.getInfo()
            status = view.h.getModelStatus()
            has_plan = info.primal_solution_status == 2
            without = info.objective_function_value if has_plan else None
            gap = relative_gap(without, info.mip_dual_bound) if has_plan else None
        rows.append({"target_family": metric, "constraints": len(con), "objective_with": objective,
                     "objective_without": without, "status_without": str(solve_status(status, has_plan)),
                     "mip_gap_without": gap,
                     "cost_of_compliance": None if without is None else objective - without})
    return pd.DataFrame(rows, columns=["target_family", "constraints", "objective_with", "objective_without",
                                       "status_without", "mip_gap_without", "cost_of_compliance"])
