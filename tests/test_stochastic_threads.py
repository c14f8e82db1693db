"""A fixed plan evaluated through the dask executor with threads equals the serial evaluation
(issue 18, open item 3), and the Pyomo build of a scenario is never run in two threads at once.

The micro instance of ``test_stochastic.py``: the plan 'S' (R open at 100 t/yr) costs 1200 in low
(1000 + 10 x 20) and 4000 in high (1000 + 10 x 100 + 25 x 80 uncollected), by hand.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_stochastic import TOY, micro

import network_opt as no
import network_opt.model as model_pkg
from network_opt.model.data import prepare
from network_opt.runs.executors import Executor, make_executor
from network_opt.runs.stochastic import ScenarioTask, run_scenario_task, scenario_set
from network_opt.solver.options import SolveOptions


def _micro_tasks(folder: Path) -> tuple[Any, list[ScenarioTask]]:
    inst = no.load(folder)
    sset = scenario_set(inst)
    d = prepare(inst)
    small = int(d.levels.index[d.levels["level"] == "S"][0])
    plan = {"level_open": {(j, 2025): float(j == small) for j in d.levels.index}}
    return inst, [ScenarioTask(n, o, plan, SolveOptions()) for n, o in zip(sset.names, sset.overrides, strict=True)]


def test_dask_threads_evaluate_a_plan_as_serially(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    inst, tasks = _micro_tasks(micro(tmp_path / "m"))
    # and eight sampled scenarios of the toy instance with its own optimal plan, not solved by hand
    toy = no.load(TOY)
    sset = scenario_set(toy, 8, seed=3)
    own = run_scenario_task(toy, ScenarioTask("base", (), None, SolveOptions()))
    assert own.plan is not None
    toy_tasks = [ScenarioTask(n, o, own.plan, SolveOptions()) for n, o in zip(sset.names, sset.overrides, strict=True)]
    serial = dict(Executor().map_tasks(run_scenario_task, toy, toy_tasks))
    with make_executor("dask", workers=3, processes=False) as executor:  # three threads of this process
        micro_done = dict(executor.map_tasks(run_scenario_task, inst, tasks))
        threaded = dict(executor.map_tasks(run_scenario_task, toy, toy_tasks))
    assert [micro_done[k].cost for k in range(2)] == pytest.approx([1200.0, 4000.0], abs=1e-6)
    assert len(threaded) == len(serial) == 8
    for k, ref in serial.items():
        got = threaded[k]
        assert (got.status, got.error) == (ref.status, ref.error), k
        assert got.cost == pytest.approx(ref.cost, rel=1e-9, abs=1e-6), k
        assert got.unused_capacity_t == pytest.approx(ref.unused_capacity_t, rel=1e-9, abs=1e-6), k


def test_two_local_dask_clusters_at_once_take_free_ports() -> None:
    """Two local dask executors open at once (two sweeps on one machine, or two test workers) each
    host their scheduler's HTTP server on a free port: no "Port 8787 is already in use" warning
    (the scheduler takes 8787 when given no address)."""
    pytest.importorskip("dask.distributed")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with make_executor("dask", workers=1, processes=False), make_executor("dask", workers=1, processes=False):
            pass
    assert not [w for w in caught if "already in use" in str(w.message)]


def test_the_pyomo_build_runs_in_one_thread_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inst, tasks = _micro_tasks(micro(tmp_path / "m"))
    real = model_pkg.build_model
    active, most = [0], [0]
    guard = threading.Lock()

    def watched(d: Any) -> Any:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.2)  # long enough for another thread to start its build if it could
        try:
            return real(d)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(model_pkg, "build_model", watched)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda t: run_scenario_task(inst, t), tasks * 2))
    assert most[0] == 1
    assert [r.cost for r in done] == pytest.approx([1200.0, 4000.0] * 2, abs=1e-6)
