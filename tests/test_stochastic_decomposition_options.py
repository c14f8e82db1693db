"""Every HiGHS run of a stochastic design gets the solve options: ``--threads``, ``--mip-gap`` and
``--time-limit`` (PH's iterations after the first) reach the highspy objects of progressive hedging
and the L-shaped method (made by
Pyomo's HiGHS interfaces inside mpi-sppy), as they reach those of the wait-and-see solves, the
extensive form and the plan evaluations (:func:`network_opt.solver.highs.solve_model`).

Each HiGHS run is recorded by wrapping ``highspy.Highs.run``: the options read back with
``getOptionValue`` when the run starts. mpi-sppy's objects are the ``StoppableHighs`` of
:func:`network_opt.runs.decompose.stoppable_highs`; the others come from ``solve_model``.

The instance is the CVaR micro of ``test_stochastic_ph_cvar.py`` (optimum 6400, plan L, by hand in
``test_stochastic.py``): the options must not change it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import highspy
import pytest
from test_stochastic import micro

from network_opt.runs.stochastic import StochasticOptions, solve_stochastic
from network_opt.solver.options import SolveOptions

RISK = {"scenarios": {"low": 0.5, "high": 0.5}, "cvar_alpha": 0.5, "cvar_weight": 1.0}
THREADS, GAP, LIMIT = 1, 0.002, 100.0


def _value(h: Any, name: str) -> Any:
    got = h.getOptionValue(name)
    return got[1] if isinstance(got, tuple) else got  # highspy 1.16: (status, value)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    real = highspy.Highs.run

    def recorded(self: Any) -> Any:
        seen.append({"mpisppy": type(self).__name__ == "StoppableHighs", "threads": _value(self, "threads"),
                     "gap": _value(self, "mip_rel_gap"), "time_limit": _value(self, "time_limit"),
                     "integer": any(int(t) for t in self.getLp().integrality_)})
        return real(self)

    monkeypatch.setattr(highspy.Highs, "run", recorded)
    return seen


@pytest.mark.parametrize("method", ["none", "ph", "lshaped"])
def test_solve_options_reach_every_highs_object(tmp_path: Path, runs: list[dict[str, Any]], method: str) -> None:
    folder = micro(tmp_path / "m", RISK)
    solve = SolveOptions(threads=THREADS, mip_gap=GAP, time_limit=LIMIT)
    res = solve_stochastic(folder, StochasticOptions(decomposition=method, regret_limit=0, solve=solve))
    assert res is not None and res.solution.objective == pytest.approx(6400.0, abs=1e-6)
    assert runs
    assert {r["threads"] for r in runs} == {THREADS}
    assert {r["gap"] for r in runs} == {GAP}
    ours = [r for r in runs if not r["mpisppy"]]  # wait-and-see, extensive form, evaluations
    assert ours
    mpisppy = [r for r in runs if r["mpisppy"]]
    if method == "none":
        assert not mpisppy
        return
    assert mpisppy
    limits = [r["time_limit"] for r in mpisppy]
    if method == "ph":
        # iteration 0 (one run per scenario, the first two) and the Lagrangian bound (the last two): no
        # limit; the iterations between: what is left of it, below the limit
        assert all(math.isinf(t) for t in limits[:2] + limits[-2:])
        assert len(limits) > 4 and all(0.0 <= t < LIMIT for t in limits[2:-2])
    else:
        # the method checks it between iterations: no HiGHS run of the master or the scenario LPs is cut
        assert all(math.isinf(t) for t in limits)


def test_without_threads_highs_decides(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    """No --threads: mpi-sppy's HiGHS objects keep HiGHS's own default (0: HiGHS decides) and no time
    limit; the MIP gap is still the option's (default 1e-4)."""
    folder = micro(tmp_path / "m", RISK)
    res = solve_stochastic(folder, StochasticOptions(decomposition="ph", regret_limit=0))
    assert res is not None
    mpisppy = [r for r in runs if r["mpisppy"]]
    assert mpisppy and {r["threads"] for r in mpisppy} == {0}
    assert all(math.isinf(r["time_limit"]) for r in mpisppy)
    assert {r["gap"] for r in mpisppy} == {1e-4}


@pytest.mark.parametrize("decomposition", ["ph", "lshaped"])
def test_a_missing_mpi_sppy_is_refused_before_any_scenario_is_solved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decomposition: str) -> None:
    """Without mpi-sppy the refusal comes first (it came after every scenario's own solve)."""
    import sys

    import network_opt.runs.stochastic as stochastic
    from network_opt.runs.decompose import DecompositionUnavailable

    folder = micro(tmp_path / "inst", RISK)
    monkeypatch.setitem(sys.modules, "mpisppy", None)  # importing it raises ImportError
    prepared: list[object] = []
    monkeypatch.setattr(stochastic, "scenario_data", lambda *a, **k: prepared.append(a))
    with pytest.raises(DecompositionUnavailable, match=f"--decomposition {decomposition} needs mpi-sppy"):
        solve_stochastic(folder, StochasticOptions(decomposition=decomposition))
    assert prepared == []
