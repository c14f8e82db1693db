"""Scenario-wise Benders (``solve --stochastic --decomposition benders`` without CVaR;
network_opt.solver.benders_scenarios.scenario_benders): one block per scenario built from that scenario's own
model, in this process or in worker processes, never the extensive form. Checked by hand.

Micro instance of tests/test_stochastic.py (one collection point, one candidate recycler R with
levels S: 100 t/yr, opening 1000 and L: 200 t/yr, opening 1800; 10/t; uncollected packs 25/t),
scenario costs of each plan:

=====  =============  ==============
plan   low (20 t)     high (180 t)
=====  =============  ==============
none   500            4500
S      1200           4000
L      2000           3600
=====  =============  ==============

- probabilities 0.5 / 0.5: none 2500, S 2600, L 2800: the plan opens nothing, 2500; the
  expected-value plan (base 100 t: S 2000 < none 2500 < L 2800) is S, whose expected cost 2600 is
  the upper bound known before the first master solve;
- probabilities 0.25 / 0.75: none 0.25 x 500 + 0.75 x 4500 = 3500, S 0.25 x 1200 + 0.75 x 4000 =
  3300, L 0.25 x 2000 + 0.75 x 3600 = 3200: the plan opens L, 3200.

Hand-made scenarios (:func:`capacity_piece`): first-stage binaries x1, x2 (cost 10 and 20, x1 + x2
<= 1), deliver y >= demand at 1/t through y <= 100 x1 + 200 x2. Demand 50 (p 0.5) and 150 (p
0.5): x1 alone serves 50 but not 150, so x2 = 1 (20) is the only plan serving both; cost 20 + 0.5 x
50 + 0.5 x 150 = 120.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from test_stochastic import micro, opened

import network_opt as no
from network_opt.model.data import prepare
from network_opt.model.stages import first_stage_vars, plan_values
from network_opt.model.stochastic import build_extensive_form
from network_opt.runs.stochastic import BlockTask, StochasticOptions, scenario_block, solve_stochastic
from network_opt.solver.benders import BendersOptions, benders_solve, first_stage_mask
from network_opt.solver.benders_scenarios import ScenarioPiece, scenario_benders, scenario_piece
from network_opt.solver.handoff import INF, HighsModel, compile_model

TOL = 1e-6


def capacity_piece(task: dict[str, Any]) -> ScenarioPiece:
    """The hand-made scenario of the module docstring: ``task`` gives demand, probability, the
    first-stage names (default x1, x2) and the upper bound of x2 (default 1)."""
    m = pyo.ConcreteModel()
    m.x1 = pyo.Var(domain=pyo.Binary)
    m.x2 = pyo.Var(domain=pyo.Integers, bounds=(0, task.get("x2_upper", 1)))
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.one = pyo.Constraint(expr=m.x1 + m.x2 <= 1)
    m.cap = pyo.Constraint(expr=m.y <= 100 * m.x1 + 200 * m.x2)
    m.demand = pyo.Constraint(expr=m.y >= task["demand"])
    m.obj = pyo.Objective(expr=10 * m.x1 + 20 * m.x2 + m.y)
    mm, columns, _ = compile_model(m)
    col = {id(v): j for j, v in enumerate(columns)}
    fvars = [m.x1, m.x2]
    return scenario_piece(mm, np.array([col[id(v)] for v in fvars]), task.get("names", ["x1", "x2"]),
                          np.zeros(2), np.array([1.0, task.get("x2_upper", 1)]), np.ones(2, dtype=bool),
                          task["probability"])


def failing_piece(task: dict[str, Any]) -> ScenarioPiece:
    """A build that fails in its worker (raises) or kills it (``exit``)."""
    if task.get("exit"):
        os._exit(3)
    if task.get("sleep"):
        time.sleep(float(task["sleep"]))
    if task.get("raise"):
        raise ValueError("scenario data broken on purpose")
    return capacity_piece(task)


HAND = [{"demand": 50.0, "probability": 0.5}, {"demand": 150.0, "probability": 0.5}]


@pytest.mark.parametrize("workers", [1, 2])
def test_hand_made_scenarios(workers: int) -> None:
    """Module docstring: x2 = 1, 120, bound 120, in this process and in two workers."""
    res = scenario_benders(capacity_piece, HAND, ["low", "high"], workers=workers)
    assert res.outcome.status == "optimal"
    assert res.outcome.objective == pytest.approx(120.0, abs=TOL)
    assert res.outcome.bound == pytest.approx(120.0, abs=TOL)
    assert res.names == ["x1", "x2"]
    assert res.plan is not None and res.plan.tolist() == pytest.approx([0.0, 1.0])
    assert res.record.blocks == 2 and res.record.workers == workers
    assert res.record.master_rows == 1  # x1 + x2 <= 1, once (the same row in both scenarios)


def test_shared_highs_equals_one_highs_per_block() -> None:
    a = scenario_benders(capacity_piece, HAND, ["low", "high"])
    b = scenario_benders(capacity_piece, HAND, ["low", "high"], settings=BendersOptions(persistent=False))
    assert b.outcome.objective == pytest.approx(a.outcome.objective, abs=TOL)
    assert b.outcome.bound == pytest.approx(a.outcome.bound, abs=TOL)
    assert b.plan is not None and a.plan is not None and b.plan.tolist() == a.plan.tolist()


def test_mismatched_first_stage_is_refused() -> None:
    other = [HAND[0], {**HAND[1], "names": ["x1", "x3"]}]
    with pytest.raises(ValueError, match=r"scenario 'high' has other first-stage columns.*x3.*missing: x2"):
        scenario_benders(capacity_piece, other, ["low", "high"])
    wider = [HAND[0], {**HAND[1], "x2_upper": 2}]
    with pytest.raises(ValueError, match=r"first-stage column x2 has another upper bound in scenario 'high'"):
        scenario_benders(capacity_piece, wider, ["low", "high"])


def test_a_worker_that_raises_is_a_clear_error() -> None:
    tasks = [HAND[0], {**HAND[1], "raise": True}]
    with pytest.raises(RuntimeError, match=r"(?s)Benders worker 1 failed.*scenario data broken on purpose"):
        scenario_benders(failing_piece, tasks, ["low", "high"], workers=2)


def test_a_worker_that_dies_is_named() -> None:
    tasks = [HAND[0], {**HAND[1], "exit": True}]
    with pytest.raises(RuntimeError, match=r"Benders worker 1 ended unexpectedly \(exit code 3\)"):
        scenario_benders(failing_piece, tasks, ["low", "high"], workers=2)


def test_a_stop_request_kills_the_workers() -> None:
    """SIGINT while a worker builds for a minute: the decomposition returns at its next poll,
    interrupted and without a plan (the test would take a minute if it waited for the worker)."""
    tasks = [HAND[0], {**HAND[1], "sleep": 60}]
    timer = threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        res = scenario_benders(failing_piece, tasks, ["low", "high"], workers=2)
    finally:
        timer.cancel()
    assert res.outcome.termination == "interrupted" and res.outcome.objective is None and res.plan is None
    import multiprocessing

    assert not [p for p in multiprocessing.active_children() if p.name == "network-opt-benders"]


@pytest.mark.parametrize(("probabilities", "expected", "level"), [((0.5, 0.5), 2500.0, "none"),
                                                                  ((0.25, 0.75), 3200.0, "L")])
def test_scenario_wise_matches_the_extensive_form_and_the_matrix_split(tmp_path: Path, probabilities: tuple[float, ...],
                                                                      expected: float, level: str) -> None:
    """Module docstring: the same objective, bound and plan by the extensive form (HiGHS), the
    matrix split of the extensive form and the scenario-wise path (one and two workers)."""
    folder = micro(tmp_path / "m", {"scenarios": dict(zip(("low", "high"), probabilities, strict=True))})
    d = prepare(no.load(folder))
    opts = {"regret_limit": 0, "out_of_sample": 0}
    ef = solve_stochastic(folder, StochasticOptions(**opts))  # type: ignore[arg-type]
    assert ef is not None and ef.solution.objective == pytest.approx(expected, abs=TOL)
    results = [solve_stochastic(folder, StochasticOptions(decomposition="benders", benders_workers=w, **opts))  # type: ignore[arg-type]
               for w in (1, 2)]
    for res in results:
        assert res is not None and res.status == "optimal"
        assert res.solution.objective == pytest.approx(expected, abs=TOL)
        assert res.solution.outcome.bound == pytest.approx(expected, abs=TOL)
        assert opened(res.plan, d) == level
        assert res.plan == ef.plan
        dec = res.solution.summary["stochastic"]["decomposition"]
        assert dec["blocks"] == 2 and any("scenario-wise" in n for n in dec["notes"])
    assert [r.solution.summary["stochastic"]["decomposition"]["workers"] for r in results] == [1, 2]  # type: ignore[union-attr]
    # the matrix split of the extensive form (the path kept for CVaR) on the same scenarios
    from network_opt.runs.stochastic import scenario_data, scenario_set

    inst = no.load(folder)
    sset = scenario_set(inst)
    datas = [scenario_data(inst, o) for o in sset.overrides]
    m = build_extensive_form(datas, list(sset.probabilities))
    hm = HighsModel(m)
    out, rec = benders_solve(hm, first_stage_mask(hm, first_stage_vars(m.scenario[0])))
    assert out.objective == pytest.approx(expected, abs=TOL) and out.bound == pytest.approx(expected, abs=TOL)
    assert plan_values(m.scenario[0]) == ef.plan
    assert rec.blocks >= 2  # each scenario separates (tiny components of one may form blocks of their own)


def test_the_expected_value_plan_is_the_first_upper_bound(tmp_path: Path) -> None:
    """Probabilities 0.5 / 0.5: the expected-value plan S costs 2600 over the scenarios, the
    first upper bound, before any master solve; the loop then finds 2500."""
    folder = micro(tmp_path / "m")
    res = solve_stochastic(folder, StochasticOptions(decomposition="benders", benders_workers=1, regret_limit=0,
                                                     out_of_sample=0))
    assert res is not None
    dec = res.solution.summary["stochastic"]["decomposition"]
    assert "start plan evaluated on every block: upper bound 2,600.00" in dec["notes"]
    assert dec["upper_bounds"][-1] == pytest.approx(2500.0, abs=TOL)
    # the start plan's cuts bound each theta: no LP with the plan free was needed, yet the bound is exact
    assert res.solution.outcome.bound == pytest.approx(2500.0, abs=TOL)


def test_scenario_block_names_the_first_stage_and_keeps_no_model(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m")
    d = prepare(no.load(folder))
    piece = scenario_block(BlockTask(0.5, data=d))
    assert piece.names and all(n.split("[")[0] in ("level_open", "modules", "closed") for n in piece.names)
    assert piece.block is not None and piece.block.ns == piece.block_columns
    assert np.all(piece.lower >= -INF) and piece.integer.all()
    # costs (in the block: the model books opening costs in cost variables, second stage) are
    # weighted by the probability
    whole = scenario_block(BlockTask(1.0, data=d))
    assert whole.block is not None and np.abs(whole.block.cost).sum() > 0
    assert piece.block.cost == pytest.approx(0.5 * whole.block.cost)
    assert piece.cost == pytest.approx(0.5 * whole.cost)


def test_command_line_workers(tmp_path: Path) -> None:
    """``solve --stochastic --decomposition benders --workers 1``: the scenario-wise path in this
    process, the optimum of the module docstring (probabilities 0.5 / 0.5: 2500)."""
    import json

    from typer.testing import CliRunner

    from network_opt.cli.app import app

    folder = micro(tmp_path / "m")
    res = CliRunner().invoke(app, ["solve", str(folder), "--stochastic", "--decomposition", "benders", "--workers", "1",
                                   "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective"] == pytest.approx(2500.0, abs=TOL)
    assert summary["stochastic"]["decomposition"]["workers"] == 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
