"""EEV when the expected-value plan leaves a scenario infeasible (issue 18, open item 1): the strict
figure (infinite, with the number of such scenarios) and the finite variant with the recourse the
instance declares (``stochastic.recourse``), checked by hand.

The micro instance of ``test_stochastic.py`` (supply 100 t in the base, ``low`` x 0.2 = 20 t and
``high`` x 1.8 = 180 t, probability 0.5 each; recycler R with level S 100 t/yr at 1000 or L 200 t/yr
at 1800, processing 10/t), but packs may **not** stay uncollected: every plan must take all the
supply.

=========  =====================  ==========================  ==========  ============
plan       low (20 t)             high (180 t)                expected    base (100 t)
=========  =====================  ==========================  ==========  ============
none       infeasible             infeasible                  inf         infeasible
S          1000 + 10 x 20 = 1200  infeasible (100 t < 180 t)  inf         2000
L          1800 + 10 x 20 = 2000  1800 + 10 x 180 = 3600      2800        2800
=========  =====================  ==========================  ==========  ============

Expected-value plan: S (2000 < 2800 in the base). Stochastic plan: L, RP = 2800. Wait-and-see:
S in low, L in high, WS = 0.5 x 1200 + 0.5 x 3600 = 2400; EVPI = 400. EEV strict: S is infeasible
in high, EEV = inf, VSS = inf, one infeasible scenario.

Recourse ``uncollected_cost_per_t: 40``: in high, S takes 100 t (processing 10/t < 40/t) and leaves
80 t uncollected: 1000 + 10 x 100 + 40 x 80 = 5200; low stays 1200 (S is feasible there, the
recourse is not used). EEV_recourse = 0.5 x 1200 + 0.5 x 5200 = 3200, VSS_recourse = 3200 - 2800
= 400; recourse used in 1 scenario of probability 0.5, expected 0.5 x 80 = 40 t left uncollected.

Degenerate price, ``uncollected_cost_per_t: 25``: high with S costs 1000 + 1000 + 25 x 80 = 4000,
EEV_recourse = 0.5 x 1200 + 0.5 x 4000 = 2600 < RP: VSS_recourse = -200. The recourse is cheaper
than building for the high scenario, so the figure says so (negative), it is not clipped.

Disposal instead, ``disposal_cost_per_t: 30``: disposed packs are collected (no collection cost in
this instance) and cost 30/t: high with S = 1000 + 1000 + 30 x 80 = 4400, EEV_recourse = 2800,
VSS_recourse = 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from test_stochastic import micro, opened

import network_opt as no
from network_opt.common.errors import InputError
from network_opt.inputs.stochastic import read_stochastic
from network_opt.model.data import prepare
from network_opt.runs.stochastic import StochasticOptions, solve_stochastic

TOL = 1e-6
SOURCE = "modelling assumption: test price"


def strict(folder_root: Path, recourse: dict[str, Any] | None = None) -> Path:
    block: dict[str, Any] = {"scenarios": {"low": 0.5, "high": 0.5}}
    if recourse is not None:
        block["recourse"] = recourse
    return micro(folder_root, block, uncollected={"allowed": False})


def test_strict_eev_is_infinite_and_the_recourse_makes_it_finite(tmp_path: Path) -> None:
    folder = strict(tmp_path / "m", {"uncollected_cost_per_t": 40, "source": SOURCE})
    res = solve_stochastic(folder, StochasticOptions(regret_limit=0))
    assert res is not None
    d = prepare(no.load(folder))
    assert opened(res.plan, d) == "L" and opened(res.ev_plan, d) == "S"
    m = res.metrics
    assert m["RP"] == pytest.approx(2800.0, abs=TOL)
    assert m["WS"] == pytest.approx(2400.0, abs=TOL)
    assert m["EVPI"] == pytest.approx(400.0, abs=TOL)
    # strict: infinite, and in how many scenarios
    assert m["EEV"] == math.inf and m["VSS"] == math.inf
    assert m["expected_value_plan_infeasible_scenarios"] == 1
    # with the recourse
    assert m["EEV_recourse"] == pytest.approx(3200.0, abs=TOL)
    assert m["VSS_recourse"] == pytest.approx(400.0, abs=TOL)
    r = m["recourse"]
    assert r["expected_value_plan_scenarios"] == 1
    assert r["expected_value_plan_probability"] == pytest.approx(0.5)
    assert r["expected_value_plan_expected_t"] == pytest.approx(40.0, abs=TOL)
    assert r["expected_value_plan_still_infeasible"] == 0
    assert r["source"] == SOURCE and "uncollected at 40/t" in r["description"]
    t = res["stochastic"].set_index("scenario")
    assert t.loc["high", "cost_expected_value_plan"] == math.inf
    assert t.loc["high", "cost_expected_value_plan_recourse"] == pytest.approx(5200.0, abs=TOL)
    assert t.loc["low", "cost_expected_value_plan_recourse"] == pytest.approx(1200.0, abs=TOL)
    assert t.loc["high", "recourse_t"] == pytest.approx(80.0, abs=TOL)
    assert t.loc["low", "recourse_t"] == pytest.approx(0.0, abs=TOL)
    assert res.solution.summary["stochastic"]["VSS_recourse"] == pytest.approx(400.0, abs=TOL)


def test_a_cheap_recourse_gives_a_negative_vss(tmp_path: Path) -> None:
    folder = strict(tmp_path / "m", {"uncollected_cost_per_t": 25, "source": SOURCE})
    res = solve_stochastic(folder, StochasticOptions(regret_limit=0))
    assert res is not None
    assert res.metrics["EEV_recourse"] == pytest.approx(2600.0, abs=TOL)
    assert res.metrics["VSS_recourse"] == pytest.approx(-200.0, abs=TOL)


def test_disposal_as_the_recourse(tmp_path: Path) -> None:
    folder = strict(tmp_path / "m", {"disposal_cost_per_t": 30, "source": SOURCE})
    res = solve_stochastic(folder, StochasticOptions(regret_limit=0))
    assert res is not None
    assert res.metrics["EEV_recourse"] == pytest.approx(2800.0, abs=TOL)
    assert res.metrics["VSS_recourse"] == pytest.approx(0.0, abs=TOL)
    assert res.metrics["recourse"]["expected_value_plan_expected_t"] == pytest.approx(40.0, abs=TOL)


def test_recourse_unused_when_the_expected_value_plan_is_feasible(tmp_path: Path) -> None:
    # the module docstring of test_stochastic.py: packs may stay uncollected at 25/t, EEV = 2600 everywhere
    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.5, "high": 0.5},
                                    "recourse": {"uncollected_cost_per_t": 1000, "source": SOURCE}})
    res = solve_stochastic(folder, StochasticOptions(regret_limit=0))
    assert res is not None
    assert res.metrics["EEV"] == pytest.approx(2600.0, abs=TOL)
    assert res.metrics["EEV_recourse"] == pytest.approx(2600.0, abs=TOL)
    assert res.metrics["VSS_recourse"] == pytest.approx(res.metrics["VSS"], abs=TOL)
    assert res.metrics["recourse"]["expected_value_plan_scenarios"] == 0


def test_command_line_prints_both_figures(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import network_opt.cli  # noqa: F401  (registers the commands)
    from network_opt.cli.app import app

    folder = strict(tmp_path / "m", {"uncollected_cost_per_t": 40, "source": SOURCE})
    res = CliRunner().invoke(app, ["solve", str(folder), "--out", str(tmp_path / "out"), "--stochastic", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "EEV inf" in res.output and "(EEV infeasible in 1 scenarios)" in res.output
    assert "with the recourse: EEV 3,200.00, VSS 400.00" in res.output


@pytest.mark.parametrize(("block", "message"), [
    ({"uncollected_cost_per_t": 40}, "stochastic.recourse: expected source"),
    ({"source": SOURCE}, "stochastic.recourse: expected uncollected_cost_per_t and/or disposal_cost_per_t"),
    ({"uncollected_cost_per_t": -1, "source": SOURCE}, "stochastic.recourse.uncollected_cost_per_t: a price per "
                                                        "tonne is >= 0, got -1"),
    ({"disposal_cost_per_t": "high", "source": SOURCE}, "stochastic.recourse.disposal_cost_per_t: expected a price"),
    ({"uncollected_cost": 40, "source": SOURCE}, "stochastic.recourse.uncollected_cost: unknown key"),
    (40, "stochastic.recourse: expected a mapping"),
])
def test_bad_recourse_names_file_line_and_key(tmp_path: Path, block: Any, message: str) -> None:
    folder = strict(tmp_path / "m", block)
    with pytest.raises(InputError) as exc:
        read_stochastic(no.load(folder))
    problems = [str(p) for p in exc.value.problems]
    assert any(message in p for p in problems), problems
    assert all(p.startswith("instance.yaml:") and int(p.split(":")[1]) > 0 for p in problems), problems


# --- the decomposition on scenarios a plan leaves infeasible -------------------------------------

def test_a_scenario_infeasible_whatever_the_plan_makes_the_decomposed_design_infeasible(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a scenario's wait-and-see solve is infeasible no plan serves it, so the design is
    infeasible: the decomposition reports it (naming the scenario) instead of failing inside
    mpi-sppy. Scenario 'high' is made infeasible on its own by a stand-in solve (a supply the
    capacity cannot take is already refused by the feasibility pre-check before any solve)."""
    import network_opt.runs.stochastic as stochastic_run
    from network_opt.runs.stochastic import ScenarioOutcome

    real = stochastic_run.run_scenario_task

    def alone_infeasible(inst: Any, task: Any) -> Any:
        if task.plan is None and task.name == "high":
            return ScenarioOutcome("high", "infeasible", math.inf)
        return real(inst, task)

    monkeypatch.setattr(stochastic_run, "run_scenario_task", alone_infeasible)
    folder = micro(tmp_path / "m")
    for method in ("lshaped", "ph"):
        res = solve_stochastic(folder, StochasticOptions(decomposition=method, regret_limit=0))
        assert res is not None and res.status == "infeasible" and res.plan is None
        notes = res.solution.summary["stochastic"]["decomposition"]["notes"]
        assert notes == ["infeasible whatever the plan: scenario(s) high"]


def test_lshaped_on_scenarios_some_plans_leave_infeasible(tmp_path: Path) -> None:
    """Without uncollected packs, 'none' is infeasible in both scenarios and S in high; the
    L-shaped method still reaches the hand-solved design (L, RP = 2800) and, with the recourse
    declared, the same EEV figures as the extensive form."""
    folder = strict(tmp_path / "m", {"uncollected_cost_per_t": 40, "source": SOURCE})
    res = solve_stochastic(folder, StochasticOptions(decomposition="lshaped", regret_limit=0))
    assert res is not None
    assert opened(res.plan, prepare(no.load(folder))) == "L"
    assert res.metrics["RP"] == pytest.approx(2800.0, abs=TOL)
    assert res.metrics["EEV"] == math.inf
    assert res.metrics["EEV_recourse"] == pytest.approx(3200.0, abs=TOL)
