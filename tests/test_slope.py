"""The slope-scaling start (``--start slope``, network_opt/solver/slope.py): hand-solved, against the
LP relaxation rounded; it changes where HiGHS begins, never the optimum."""

from __future__ import annotations

import json
from pathlib import Path

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest
from builders import candidate_recyclers, lanes, site
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.common import interrupts
from network_opt.model import build_model
from network_opt.model.data import ModelData, prepare
from network_opt.solver import slope
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation
from network_opt.solver.starts import lp_round_start

TOY = Path(__file__).parents[1] / "instances" / "toy"


def two_towns(folder: Path) -> Path:
    """Collection points C1 (40 t of X in 2025) and C2 (10 t); candidate recyclers A (beside C1)
    and B (beside C2), each one level of 100 t/yr at 1,000 a year; lanes 1/t to the facility beside,
    16/t across. Every pack must be collected; no other cost or revenue. Strong linking off (with it
    the LP relaxation is already integral here: a lane's flow needs its facility's y at 1 for the
    whole supply).

    By hand: {A} costs 1,000 + 40 x 1 + 10 x 16 = 1,200 (the optimum), {B} 1,000 + 40 x 16 + 10 =
    1,650, both 2,000 + 50 = 2,050. The LP relaxation pays 10 per t of capacity at either plant:
    C1 -> A (10 + 1), C2 -> B (11 < 10 + 16), so y_A = 0.4, y_B = 0.1, LP 550. Rounded at one
    half it opens nothing (infeasible); every facility used: both, 2,050. Slope scaling prices A's
    level at 1,000 / 40 = 25 per t and B's at 1,000 / 10 = 100 per t: C2 -> A (25 + 16 = 41) beats
    C2 -> B (101), so the second LP sends all 50 t to A, rounded {A}, 1,200; the third LP gives the
    same plan, and it stops."""
    return candidate_recyclers(
        folder, 0.0, [("A", "L", 100.0, 1000.0), ("B", "L", 100.0, 1000.0)], {"A": 1.0, "B": 16.0},
        tables={
            "sites": [site("C1", "collection_point"), site("C2", "collection_point"),
                      site("SA", "facility"), site("SB", "facility")],
            "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 40.0},
                       {"site": "C2", "period": 2025, "chemistry": "X", "tonnes": 10.0}],
            "lanes": lanes(("C1", "SA", 1.0), ("C1", "SB", 16.0), ("C2", "SA", 16.0), ("C2", "SB", 1.0)),
        }, strong_linking=False)


@pytest.fixture
def towns(tmp_path: Path) -> tuple[pyo.ConcreteModel, ModelData, HighsModel]:
    d = prepare(no.load(two_towns(tmp_path / "towns")))
    m = build_model(d)
    return m, d, HighsModel(m)


def opened(m: pyo.ConcreteModel, d: ModelData, hm: HighsModel) -> set[str]:
    assert hm.start_values is not None
    facility = d.levels["facility"].tolist()
    return {facility[j] for (j, _), v in m.level_open.items() if hm.start_values[hm.cols[id(v)]] > 0.5}


def test_slope_scaling_finds_the_plan_the_rounded_lp_misses(towns: tuple[pyo.ConcreteModel, ModelData,
                                                                          HighsModel]) -> None:
    m, d, hm = towns
    bound, _ = lp_relaxation(HighsModel(m), SolveOptions())
    assert bound == pytest.approx(550.0)
    assert slope.slope_start(m, d, hm, SolveOptions()) == "slope"
    assert hm.objective_of(hm.start_values) == pytest.approx(1200.0)  # type: ignore[arg-type]
    assert opened(m, d, hm) == {"A"}
    rounded = HighsModel(m)
    assert lp_round_start(m, d, rounded, SolveOptions()) == "lp_round"
    assert rounded.objective_of(rounded.start_values) == pytest.approx(2050.0)  # type: ignore[arg-type]
    assert opened(m, d, rounded) == {"A", "B"}


def test_the_model_held_is_restored(towns: tuple[pyo.ConcreteModel, ModelData, HighsModel]) -> None:
    """Costs, integrality, solver and time limit are as before; the MIP then proves 1,200."""
    m, d, hm = towns
    h = hm.h
    h.setOptionValue("time_limit", 123.0)
    before = np.asarray(h.getLp().col_cost_).copy()
    integrality = list(h.getLp().integrality_)
    assert slope.slope_scaling_start(m, d, hm, SolveOptions(time_limit=60.0))
    assert np.array_equal(np.asarray(h.getLp().col_cost_), before)
    assert list(h.getLp().integrality_) == integrality
    assert highspy.HighsVarType.kInteger in integrality
    assert h.getOptionValue("time_limit")[1] == 123.0 and h.getOptionValue("solver")[1] == "choose"
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(1200.0)


def test_solve_with_the_slope_start(tmp_path: Path) -> None:
    sol = no.solve(two_towns(tmp_path / "towns"), SolveOptions(start="slope"))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(1200.0)
    assert sol.outcome.start == "slope"
    fac = sol["facilities"]
    assert set(fac.loc[fac["open"], "facility"]) == {"A"}


def test_slope_start_on_the_command_line_reaches_the_toy_optimum(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["solve", str(TOY), "--out", str(tmp_path / "out"), "--start", "slope", "-q"])
    assert result.exit_code == 0, result.output
    assert "-1,790,500.00 EUR" in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["solver"]["start"] == "slope"


def test_factors_spread_a_level_over_its_throughput() -> None:
    """Levels of 100 and 200 t of one facility-period used 40 t in all (the 200-t level at y = 0.2):
    rates 100/40 and 200/40; a group the LP left unused keeps its last rate; one used at 1 % of a
    level is priced as if at FLOOR (2 %)."""
    capacity = np.array([100.0, 200.0, 50.0, 1000.0])
    groups = np.array([0, 0, 1, 2])
    y = np.array([0.0, 0.2, 0.0, 0.01])
    f = slope.slope_factors(capacity, groups, y, previous=np.array([1.0, 1.0, 7.0, 1.0]))
    assert f == pytest.approx([2.5, 5.0, 7.0, 1 / slope.FLOOR])
    full = slope.slope_factors(capacity[:2], groups[:2], np.array([0.0, 1.0]), np.ones(2))
    assert full == pytest.approx([1.0, 1.0])  # u = 200 fills both levels: their own rate


def test_no_feasible_rounding_falls_back_to_every_facility_open(towns: tuple[pyo.ConcreteModel, ModelData,
                                                                             HighsModel],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    m, d, hm = towns
    monkeypatch.setattr(slope, "fixed_lp", lambda *_: None)
    assert slope.slope_start(m, d, hm, SolveOptions()) == "open_all"
    assert hm.objective_of(hm.start_values) == pytest.approx(2050.0)  # type: ignore[arg-type]


def test_a_stop_request_sets_no_start(towns: tuple[pyo.ConcreteModel, ModelData, HighsModel],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    m, d, hm = towns
    monkeypatch.setattr(interrupts, "requested", lambda: "SIGINT")
    assert slope.slope_start(m, d, hm, SolveOptions()) is None
    assert hm.start_values is None


def test_the_lps_stop_at_the_deadline_already_set(towns: tuple[pyo.ConcreteModel, ModelData, HighsModel]) -> None:
    """A deadline already passed on HiGHS's run clock: no LP runs, no start, the deadline kept."""
    m, d, hm = towns
    hm.h.setOptionValue("time_limit", 0.0)
    assert not slope.slope_scaling_start(m, d, hm, SolveOptions(time_limit=600.0))
    assert hm.start_values is None
    assert hm.h.getOptionValue("time_limit")[1] == 0.0
