"""Companion searches (``--concurrent-mip N``, network_opt.solver.companion): the same MIP searched
in other processes with other random seeds, plans shared both ways, the run stopped once the best
plan of any search is within the gap of the best bound of any. Checked: HiGHS's gap rule on hand
figures, the merge of the searches' plans and bounds on a two-column model, optima against an
independent formulation, infeasibility, the refusals, and that no companion outlives its solve
(also after a Ctrl-C, in tests/test_interrupts.py)."""

from __future__ import annotations

import math
import multiprocessing as mp
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyomo.environ as pyo
import pytest
from test_cflp import cflp_instance, textbook_cflp

import network_opt as no
from network_opt.solver.companion import better, proven, refused
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import _merge, solve_model
from network_opt.solver.options import SolveOptions


def test_proven_follows_highs_gap_rule() -> None:
    """|primal - dual| / |primal| <= gap: -100 against -100.5 is 0.5 %, proven at 1 % and not at
    0.1 %; a bound above the plan by rounding counts as proven; no plan or no bound proves nothing."""
    assert proven(-100.0, -100.5, 0.01)
    assert not proven(-100.0, -100.5, 0.001)
    assert proven(-100.0, -99.999999, 0.0)
    assert proven(0.0, 0.0, 0.0)
    assert not proven(math.inf, -100.0, 0.5)
    assert not proven(-100.0, -math.inf, 0.5)
    assert proven(200.0, 199.0, 0.0, abs_gap=1.0)


def test_better_ignores_differences_in_the_last_digits() -> None:
    assert better(-101.0, -100.0) and not better(-100.0, -101.0)
    assert not better(-100.0 - 1e-9, -100.0)  # within BETTER_SHARE: the same plan
    assert better(5.0, math.inf) and not better(math.inf, 5.0)


def _two_columns() -> HighsModel:
    """min 10 y + x, x + 5 y >= 3, y binary, x >= 0 (optimum 3: y = 0, x = 3)."""
    m = pyo.ConcreteModel()
    m.y = pyo.Var(domain=pyo.Binary)
    m.x = pyo.Var(domain=pyo.NonNegativeReals)
    m.c = pyo.Constraint(expr=m.x + 5 * m.y >= 3)
    m.obj = pyo.Objective(expr=10 * m.y + m.x)
    return HighsModel(m)


def test_merge_takes_the_cheaper_plan_and_the_larger_bound() -> None:
    """The main search holds y = 1, x = 0 (cost 10) with bound 2.5; a companion sent y = 0, x = 3
    (cost 3) and reported bound 2.98. The merged plan is the companion's, loaded into the model's
    variables, with bound 2.98: 0.67 %, proven at 1 % and not at 0.1 %."""
    hm = _two_columns()
    cols = {v.name: j for j, v in enumerate(hm.columns)}
    x = np.zeros(2)
    x[cols["x"]] = 3.0
    fake = SimpleNamespace(best=(3.0, x), dual=2.98)
    objective, bound, done = _merge(hm, fake, 10.0, 2.5, 0.01)  # type: ignore[arg-type]
    assert objective == pytest.approx(3.0) and bound == pytest.approx(2.98) and done
    assert hm.model.x.value == pytest.approx(3.0) and hm.model.y.value == pytest.approx(0.0)
    assert not _merge(hm, fake, 10.0, 2.5, 0.001)[2]  # type: ignore[arg-type]


def test_merge_keeps_the_main_plan_and_caps_the_bound_at_it() -> None:
    """The main search's plan costs 3 with bound 2.9; a companion's plan costs 10 and its bound,
    3.0000001, lies above 3 by rounding: the main plan stays, and the bound is 3 (proven at gap 0)."""
    hm = _two_columns()
    fake = SimpleNamespace(best=(10.0, np.array([1.0, 0.0])), dual=3.0000001)
    objective, bound, done = _merge(hm, fake, 3.0, 2.9, 0.0)  # type: ignore[arg-type]
    assert objective == 3.0 and bound == 3.0 and done


def _cflp(tmp_path: Path, seed: int, m: int, n: int) -> tuple[Path, float]:
    rng = np.random.default_rng(seed)
    demand = rng.integers(5, 35, n).astype(float).tolist()
    capacity = rng.integers(100, 250, m).astype(float).tolist()
    fixed = rng.integers(300, 900, m).astype(float).tolist()
    pts_f, pts_c = rng.random((m, 2)), rng.random((n, 2))
    cost = np.round(10 * np.linalg.norm(pts_f[:, None, :] - pts_c[None, :, :], axis=2), 3)
    return cflp_instance(tmp_path, demand, capacity, fixed, cost), textbook_cflp(demand, capacity, fixed, cost)


@pytest.mark.parametrize("seed", [4, 5])
def test_two_searches_prove_the_textbook_optimum_and_leave_no_process(tmp_path: Path, seed: int) -> None:
    """A CFLP of 20 sites and 80 customers, solved with a companion to gap 0: the optimum of the
    independent textbook formulation; the record names the two searches, and the companion is gone
    when the solve returns."""
    folder, optimum = _cflp(tmp_path, seed, 20, 80)
    sol = no.solve(folder, SolveOptions(mip_gap=0.0, concurrent_mip=2))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(optimum, rel=1e-7)
    record = sol.summary["solver"]["companions"]
    assert record["searches"] == 2 and record["seeds"] == [1] and len(record["terminations"]) == 1
    if record["bound"] is not None:  # a bound of the same model: never above its optimum
        assert record["bound"] <= optimum + 1e-6 * abs(optimum)
    if record["objective"] is not None:
        assert record["objective"] >= optimum - 1e-6 * abs(optimum)
    assert mp.active_children() == []


def test_an_infeasible_model_stays_infeasible_with_companions() -> None:
    """2 y1 + 2 y2 = 3 with y integer: its LP relaxation is feasible, no integer point is."""
    m = pyo.ConcreteModel()
    m.y = pyo.Var([1, 2], domain=pyo.NonNegativeIntegers, bounds=(0, 5))
    m.x = pyo.Var(domain=pyo.NonNegativeReals)
    m.c = pyo.Constraint(expr=2 * m.y[1] + 2 * m.y[2] == 3)
    m.obj = pyo.Objective(expr=m.y[1] + m.x)
    outcome = solve_model(m, SolveOptions(concurrent_mip=2))
    assert outcome.status == "infeasible"
    assert mp.active_children() == []


def test_no_companion_outside_the_main_thread(tmp_path: Path) -> None:
    """A solve in a thread (as in a dask worker) runs one search and says why in the log."""
    folder, optimum = _cflp(tmp_path, 1, 5, 8)
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(no.solve(folder, SolveOptions(mip_gap=0.0,
                                                                                       concurrent_mip=2))))
    worker.start()
    worker.join()
    sol = got[0]
    assert sol.objective == pytest.approx(optimum, rel=1e-7)  # type: ignore[attr-defined]
    assert "companions" not in sol.summary["solver"]  # type: ignore[attr-defined]
    assert "no companion search: not in the main thread" in sol.outcome.log  # type: ignore[attr-defined]


def test_refusals_name_their_reason() -> None:
    assert refused(1, is_mip=True) == "one search asked"
    assert refused(2, is_mip=False) == "the model has no integer decision"
    assert refused(10_000, is_mip=True) is not None and "core(s) usable" in str(refused(10_000, is_mip=True))


class _FakeCompanions:
    """What ``_Watch.tick`` reads of :class:`~network_opt.solver.companion.Companions`."""

    def __init__(self, resident: int, primal: float = math.inf, dual: float = -math.inf):
        self._resident, self.primal, self.dual = resident, primal, dual
        self.running = True
        self.notes: list[str | None] = []

    def resident(self) -> int:
        return self._resident

    def stop(self, note: str | None = None) -> None:
        self.running = False
        self.notes.append(note)

    def poll(self) -> None:
        pass

    def finished(self) -> str | None:
        return None


def test_the_memory_guard_stops_the_companions_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limit 100 bytes, guard at 90 %: the main process holds 20 and its companion 80, so 100 is
    over the guard but the main search alone is not: the companion is stopped, the search goes on.
    At 95 for the main process alone the search itself is stopped."""
    from network_opt.solver import highs

    hm = _two_columns()
    watch = highs._Watch(hm, None, 0.0, memory_limit=100)
    fake = _FakeCompanions(resident=80)
    watch.attach(fake)  # type: ignore[arg-type]
    monkeypatch.setattr(highs, "resident_bytes", lambda: 20)
    watch.tick(0.0)
    assert not fake.running and fake.notes and "memory limit" in str(fake.notes[0])
    assert watch.memory_stop is None
    monkeypatch.setattr(highs, "resident_bytes", lambda: 95)
    watch._checked = -math.inf
    watch.tick(0.0)
    assert watch.memory_stop == 95
    watch.close()


def test_a_joint_proof_stops_the_main_search() -> None:
    """The main search reports plan -100 and bound -103 (2.9 %); a companion holds plan -101 and
    bound -101.05: together -101 against -101.05 is 0.05 %, within a gap of 0.1 %: the main search
    is asked to stop and ``together`` is set. With a gap of 0.01 % nothing happens."""
    from network_opt.common import interrupts
    from network_opt.solver import highs

    for gap, stops in ((1e-3, True), (1e-4, False)):
        hm = _two_columns()
        hm.h.setOptionValue("mip_rel_gap", gap)
        watch = highs._Watch(hm, None, 0.0)
        watch.figures = (-100.0, -103.0, 0.029)
        watch.attach(_FakeCompanions(resident=0, primal=-101.0, dual=-101.05))  # type: ignore[arg-type]
        watch.tick(0.0)
        assert watch.together is stops
        assert interrupts._stop_flag(hm.h)[0] is stops
        watch.close()


def test_a_failing_companion_reports_its_error_as_its_termination(tmp_path: Path) -> None:
    """A companion whose folder holds no model sends ("done", "error: ...") on its channel and exits 1,
    with nothing on the terminal: the main search would go on without it."""
    import os
    import subprocess
    import sys

    from network_opt.solver.companion import _receive

    read, write = os.pipe()
    proc = subprocess.run([sys.executable, "-m", "network_opt.solver.companion", str(tmp_path), "1", str(write)],
                          input=b"", capture_output=True, timeout=120, pass_fds=(write,))
    os.close(write)
    with os.fdopen(read, "rb") as channel:
        message = _receive(channel)
    assert proc.returncode == 1
    assert proc.stderr == b"" and proc.stdout == b""
    assert message is not None and message[0] == "done" and str(message[1]).startswith("error: FileNotFoundError")


def test_the_stochastic_extensive_form_searches_with_a_companion(tmp_path: Path) -> None:
    """``--stochastic --concurrent-mip 2`` (decomposition none) solves the extensive form with a
    companion search: the micro instance of tests/test_stochastic.py with CVaR weight 1 opens L,
    RP 6400 (worked out in that module's docstring), and the summary records the two searches."""
    from test_stochastic import micro

    from network_opt.runs.stochastic import StochasticOptions, solve_stochastic

    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.5, "high": 0.5}, "cvar_alpha": 0.5, "cvar_weight": 1.0})
    res = solve_stochastic(folder, StochasticOptions(regret_limit=0, out_of_sample=0,
                                                     solve=SolveOptions(mip_gap=0.0, concurrent_mip=2)))
    assert res is not None
    assert res.metrics["RP"] == pytest.approx(6400.0, abs=1e-6)
    assert res.solution.objective == pytest.approx(6400.0, abs=1e-6)
    record = res.solution.summary["solver"]["companions"]
    assert record["searches"] == 2 and record["seeds"] == [1]
    assert res.solution.summary["options"]["concurrent_mip"] == 2  # what was asked, as asked
    assert mp.active_children() == []


@pytest.mark.parametrize("method", ["lshaped", "ph", "benders"])
def test_a_stochastic_decomposition_refuses_companions_before_any_solve(tmp_path: Path, method: str) -> None:
    """A decomposition solves its master its own way: ``concurrent_mip`` there is refused, not
    dropped, before the wait-and-see solves."""
    from test_stochastic import micro

    from network_opt.runs.stochastic import StochasticOptions, solve_stochastic

    with pytest.raises(ValueError, match="--concurrent-mip searches the extensive form"):
        solve_stochastic(micro(tmp_path / "m"), StochasticOptions(decomposition=method,
                                                                  solve=SolveOptions(concurrent_mip=2)))


def test_benders_refuses_companions(tmp_path: Path) -> None:
    """``SolveOptions(decomposition="benders", concurrent_mip=2)``: refused, not dropped."""
    folder, _ = _cflp(tmp_path, 1, 5, 8)
    with pytest.raises(ValueError, match="concurrent_mip"):
        no.solve(folder, SolveOptions(decomposition="benders", concurrent_mip=2))


@pytest.mark.parametrize("method, extra", [("benders", []), ("benders", ["--stochastic"]),
                                           ("ph", ["--stochastic"]), ("lshaped", ["--stochastic"])])
def test_the_cli_refuses_companions_with_a_decomposition(tmp_path: Path, method: str, extra: list[str]) -> None:
    """``solve [--stochastic] --decomposition M --concurrent-mip 2`` exits 2 before anything is
    written, naming both options (ph and lshaped need --stochastic anyway)."""
    from test_stochastic import micro
    from typer.testing import CliRunner

    import network_opt.cli  # noqa: F401  (registers the commands)
    from network_opt.cli.app import app

    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["solve", str(micro(tmp_path / "m")), "--out", str(out), "--quiet",
                                      "--decomposition", method, "--concurrent-mip", "2", *extra])
    assert result.exit_code == 2, result.output
    assert "--concurrent-mip" in result.output and f"--decomposition {method}" in result.output
    assert not out.exists()
