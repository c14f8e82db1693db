"""What a solve is asked for (:class:`SolveOptions`) and running HiGHS under it: shared by the
MIP starts (:mod:`network_opt.solver.starts`), the driver (:mod:`network_opt.solver.highs`) and the
compliance re-solves."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import highspy
import numpy as np

from network_opt.common import interrupts
from network_opt.solver.handoff import HighsModel

#: ``model.objective_scale: auto`` brings the largest cost to at most 2 to this power (about 1e6):
#: the scale HiGHS's own "excessively large costs" warning advises (HiGHS 1.16); on the three real
#: instances 0.88 of the time to 1 % (geometric mean of seven runs, 0.75-1.19; benchmarks/README.md)
AUTO_COST_EXP = 20


def cost_scale(cost: np.ndarray, target_exp: int = AUTO_COST_EXP) -> int:
    """The power of 2 for HiGHS's ``user_objective_scale`` that brings the largest |cost| (currency)
    to at most ``2**target_exp``; never up (at most 0), at least -60; 0 for no cost."""
    top = float(np.max(np.abs(cost))) if len(cost) else 0.0
    if not math.isfinite(top) or top <= 0.0:
        return 0
    return max(-60, min(0, target_exp - math.ceil(math.log2(top))))


@dataclass
class SolveOptions:
    """Solver settings: seconds, relative MIP gap, threads (None: HiGHS decides)."""

    time_limit: float | None = None
    mip_gap: float = 1e-4
    threads: int | None = None
    verbose: bool = False
    write_model: Path | None = None
    # start the MIP from a plan (``start`` says which), or a re-solve's previous plan
    # (network_opt.solver.session); False: HiGHS starts on its own
    warm_start: bool = True
    # how the first plan is made when there is no previous one: "open_all" (one LP),
    # "lp_round" (LP relaxation, rounded up to levels covering its capacity, repaired by an LP;
    # two LPs, a far better plan where most candidates should stay closed; see lp_round_start),
    # "restricted" (the MIP over the facilities the LP relaxation uses, within half the time limit:
    # network_opt.solver.starts.restricted_plan),
    # "slope" (slope scaling, network_opt.solver.slope: up to 20 rounds of two LPs, the best rounded plan),
    # "none", or "auto": open_all when a time limit is set (so that the limit always leaves a
    # plan), none otherwise (HiGHS's own heuristics were faster there: benchmarks/README.md)
    start: str = "auto"
    # compare and sweep: update the HiGHS model of the previous run in the same process when only
    # numbers changed, and start from its plan (network_opt.solver.session)
    reuse: bool = True
    # "none": HiGHS on the whole model; "benders": Benders decomposition on HiGHS's matrix, investment
    # decisions in the master, the rest in LP subproblems (network_opt.solver.benders)
    decomposition: str = "none"
    # bytes: the MIP's search stops, keeping its best plan, once this process's resident memory
    # reaches MEMORY_GUARD_SHARE of it (network_opt.solver.highs; --memory-limit); None: no guard
    memory_limit: int | None = None
    # HiGHS searches of the MIP side by side, each in its own process on its own core with its own
    # random seed, sharing plans and bounds (network_opt.solver.companion; --concurrent-mip); 1: one
    concurrent_mip: int = 1


def set_time_limit(highs: highspy.Highs, seconds: float | None, *, lp: bool) -> None:
    """Let the next run of ``highs`` take at most ``seconds`` (None: no limit); ``lp``: that run is an
    LP (no integer column), else a MIP.

    Why the two cases: HiGHS (1.16, measured) checks an LP's ``time_limit`` against the object's run
    clock, which adds up over all its runs, but a MIP's against the start of that MIP. An LP re-solved
    on an object that has already run longer than ``seconds`` (the shadow-price LP after a MIP that
    hit its limit, a start LP in a re-used sweep model, a Benders block) would stop at once; so for an
    LP the limit is set past that clock."""
    if seconds is None:
        highs.setOptionValue("time_limit", highspy.kHighsInf)
        return
    offset = highs.getRunTime() if lp else 0.0
    highs.setOptionValue("time_limit", offset + max(0.0, float(seconds)))


def set_limits(highs: highspy.Highs, options: SolveOptions, *, lp: bool = False) -> None:
    """Set HiGHS's time limit (:func:`set_time_limit`; ``lp``: the next run is an LP) and relative MIP
    gap from ``options``."""
    set_time_limit(highs, options.time_limit, lp=lp)
    highs.setOptionValue("mip_rel_gap", float(options.mip_gap))


def run_highs(hm: HighsModel, tick: Callable[[float], None] | None = None) -> bool:
    """Run HiGHS on ``hm`` so that SIGINT/SIGTERM stop it within about
    :data:`network_opt.common.interrupts.GRACE_S` seconds in every phase (presolve and the MIP's root LP
    included, :func:`network_opt.common.interrupts.run_highs`). Returns False if HiGHS was left running
    after a stop request (``hm.abandoned`` is then set: the highspy object must not be touched)."""

    def abandon() -> None:
        hm.abandoned = True

    return interrupts.run_highs(hm.h, tick, on_abandon=abandon)
