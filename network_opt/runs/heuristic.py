r"""Compress and filter (``network-opt solve --heuristic``): a fast plan of a very large model with a
true gap.

1. **Bound.** The LP relaxation of the *full* model (every integer column continuous) is solved;
   its optimum :math:`z^{LP}` is a lower bound on the full model's optimum :math:`z^*` (every plan
   of the MIP is a plan of the LP; the model minimises). With ``--time-limit`` T the LP gets at most
   :data:`LP_SHARE` x T; if it does not finish, there is no LP bound, nothing is screened unless
   ``aggregate`` screened, and the summary's ``heuristic.note`` says so.
2. **Screen.** A compressed model names the facilities worth keeping: by default that same LP
   (facilities with :math:`\sum_l y_{f,l,p} > 10^{-6}` in some investment period), or, with
   ``aggregate``, the MIP of the collection points clustered into at most that many clusters
   (facilities its plan opens).
3. **Filter.** The full model is solved with every other candidate closed
   (:math:`y_{f,l,p} = 0`, and no modules), keeping the screened facilities, every existing one
   and the ``neighbours`` nearest facilities of the same kind to each
   (:func:`network_opt.model.screen.kept_facilities`). Its plan is a plan of the full model, so its
   objective :math:`z^H \ge z^*`. HiGHS starts from the LP of step 1 rounded and repaired
   (:func:`network_opt.solver.starts.lp_round_start` given that LP's solution: facilities the LP
   opens at least halfway, else every facility it uses, at the smallest level covering the LP's
   capacity), unless ``--start none``.

``--time-limit`` bounds the two HiGHS solves together: the restricted MIP gets what the LP left
(at least :data:`MIN_LEFT_S` seconds, so that it can return a plan).

Reported: objective :math:`z^H`, bound :math:`\underline z = z^{LP}` (or the restricted MIP's own
bound when nothing was closed: the restricted model is then the full one; the larger of the two),
gap :math:`(z^H - \underline z) / |z^H|`. Hence :math:`\underline z \le z^* \le z^H`: the gap is
true for the full model. The status is ``optimal`` only when that gap is within the MIP gap asked
for.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from network_opt.common import interrupts
from network_opt.common.progress import Progress
from network_opt.model.data import ModelData
from network_opt.model.screen import kept_facilities
from network_opt.solver.handoff import HighsModel, TriviallyInfeasible
from network_opt.solver.highs import SolveOutcome, relative_gap, solve_model, trivially_infeasible
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation
from network_opt.solver.status import SolveStatus

#: an LP value of sum_l y above this counts as "used" by the screening LP
USED = 1e-6
#: seconds the restricted MIP gets at least when the LP used up the time limit
MIN_LEFT_S = 1.0
#: share of --time-limit the LP relaxation may use: on a national-scale model the LP alone can take
#: the whole budget (644 s, benchmarks/README.md), which left the MIP about a second and no plan
LP_SHARE = 0.5


def remaining(options: SolveOptions, spent_s: float) -> SolveOptions:
    """``options`` with the time limit less ``spent_s`` seconds (at least :data:`MIN_LEFT_S`);
    unchanged without a time limit."""
    if options.time_limit is None:
        return options
    return dataclasses.replace(options, time_limit=max(float(options.time_limit) - spent_s, MIN_LEFT_S))


@dataclass(frozen=True)
class Heuristic:
    """How ``solve --heuristic`` screens: ``neighbours`` nearest facilities of the same kind kept
    next to each screened one; ``aggregate``: screen with the MIP of at most this many clusters of
    collection points instead of the LP relaxation."""

    neighbours: int = 2
    aggregate: int | None = None


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


def close_others(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel, kept: set[str]) -> int:
    """Fix, in HiGHS, the level (and module) columns of every facility not in ``kept`` to 0;
    returns how many facilities were closed."""
    facility = d.levels["facility"].tolist()
    cols = [hm.cols[id(v)] for (j, _p), v in m.level_open.items() if facility[j] not in kept and id(v) in hm.cols]
    modules = m.find_component("modules")
    if modules is not None:
        cols += [hm.cols[id(v)] for (f, _p), v in modules.items() if f not in kept and id(v) in hm.cols]
    if cols:
        idx = np.asarray(sorted(set(cols)), dtype=np.int32)
        zero = np.zeros(len(idx))
        hm.h.changeColsBounds(len(idx), idx, zero, zero)
    return len(set(d.facilities["id"]) - kept)


def heuristic_solve(m: pyo.ConcreteModel, d: ModelData, options: SolveOptions, progress: Progress,
                    heuristic: Heuristic, screened: set[str] | None = None
                    ) -> tuple[SolveOutcome, HighsModel | None, float, dict[str, object]]:
    """Steps 1-3 of the module docstring on the full model ``m`` built from ``d``; ``screened``:
    the facilities an aggregated screening MIP opened (None: screen with the LP). Returns the
    outcome (objective of the restricted plan, bound and gap for the full model), the HiGHS model,
    the clock when the hand-off ended and the record for ``summary["heuristic"]``."""
    try:
        hm = HighsModel(m)
    except TriviallyInfeasible as exc:
        return trivially_infeasible(exc), None, time.perf_counter(), {}
    handed = time.perf_counter()
    progress.phase("heuristic: solving the LP relaxation of the full model (its bound)")
    begin = time.perf_counter()
    lp_options = options if options.time_limit is None else dataclasses.replace(
        options, time_limit=LP_SHARE * float(options.time_limit))
    lp_bound, x = lp_relaxation(hm, lp_options)
    lp_s = time.perf_counter() - begin
    note = ""
    if x is None and interrupts.requested() is None:
        note = (f"the LP relaxation of the full model did not finish within {LP_SHARE:.0%} of the time limit: "
                "no bound for the full model" + ("" if screened is not None else
                                                  " and no screen (every facility kept); give --aggregate N "
                                                  "to screen with a clustered model"))
    if screened is None:
        screened = used_by_lp(m, d, hm, x) if x is not None else set(d.facilities["id"])
    kept = kept_facilities(d, screened, heuristic.neighbours)
    closed = close_others(m, d, hm, kept)
    progress.phase(f"heuristic: solving the full model over {len(kept):,} of {len(d.facilities):,} facilities")
    outcome = solve_model(m, remaining(options, time.perf_counter() - begin), solver=hm, progress=progress,
                          data=d, relaxed=x)
    restricted_bound = outcome.bound
    bounds = [b for b in (lp_bound, restricted_bound if closed == 0 else None) if b is not None]
    bound = max(bounds) if bounds else None
    if outcome.objective is not None and bound is not None:
        bound = min(bound, outcome.objective)  # a bound above the plan is LP round-off
    gap = relative_gap(outcome.objective, bound)
    outcome.bound, outcome.mip_gap = bound, gap
    if outcome.status == SolveStatus.OPTIMAL and (gap is None or gap > options.mip_gap + 1e-12):
        outcome.status = SolveStatus.FEASIBLE  # optimal for the restricted model only
    elif outcome.status in (SolveStatus.INFEASIBLE, SolveStatus.UNBOUNDED) and closed:
        # proven for the restricted model only: say nothing about the full one
        note = "; ".join(n for n in (note, f"the model over the facilities kept is {outcome.status}; solve "
                                     "without --heuristic or keep more neighbours") if n)
        outcome.status = SolveStatus.NO_SOLUTION
    record: dict[str, object] = {
        "screen": "aggregated MIP" if heuristic.aggregate is not None else "LP relaxation",
        "aggregate": heuristic.aggregate, "neighbours": heuristic.neighbours,
        "facilities": len(d.facilities), "screened": len(screened), "kept": len(kept), "closed": closed,
        "lp_bound": lp_bound, "lp_s": lp_s, "restricted_bound": restricted_bound,
        "bound_source": ("LP relaxation of the full model" if closed or restricted_bound is None
                         or (lp_bound is not None and lp_bound >= restricted_bound)
                         else "MIP bound (nothing closed: the full model)"),
        "start": outcome.start, "note": note,
    }
    return outcome, hm, handed, record


__all__ = ["LP_SHARE", "MIN_LEFT_S", "USED", "Heuristic", "close_others", "heuristic_solve", "remaining", "used_by_lp"]
