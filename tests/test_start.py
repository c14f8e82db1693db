"""The MIP starts: every facility open (default) and the LP relaxation rounded and repaired
(``--start lp-round``). A start only changes where HiGHS begins, never the optimum."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.model.data import ModelData
from network_opt.solver.options import SolveOptions
from network_opt.solver.starts import first_plan, rounded_levels

TOY = Path(__file__).parents[1] / "instances" / "toy"


def levels_model() -> tuple[pyo.ConcreteModel, SimpleNamespace, SimpleNamespace]:
    """Facility F with levels of 50, 100 and 200 t and G with one level of 30 t, over 2025 and
    2030; columns numbered in index order (F's levels 0-2, then G's level 3, period by period).
    The level data come as the model data's ``levels`` frame, as the starts read them."""
    m = pyo.ConcreteModel()
    m.INVESTMENT_PERIODS = pyo.Set(initialize=[2025, 2030], ordered=True)  # the index of the level decisions
    m.level_open = pyo.Var(range(4), m.INVESTMENT_PERIODS, domain=pyo.Binary)
    d = SimpleNamespace(levels=pd.DataFrame({"facility": ["F", "F", "F", "G"],
                                             "capacity_t": [50.0, 100.0, 200.0, 30.0]}))
    hm = SimpleNamespace(cols={id(v): k for k, v in enumerate(m.level_open.values())})
    return m, d, hm


def lp_values(m: pyo.ConcreteModel, hm: SimpleNamespace, y: dict[tuple[int, int], float]) -> np.ndarray:
    x = np.zeros(len(hm.cols))
    for (j, p), value in y.items():
        x[hm.cols[id(m.level_open[j, p])]] = value
    return x


def test_rounding_covers_the_lp_capacity_and_never_shrinks() -> None:
    """F in 2025: y = 0.3 (50 t) + 0.2 (100 t), half open, 35 t used -> the 50 t level. In 2030:
    y = 0.4 of 200 t, 80 t used -> 100 t (covers 80, not smaller than 50). G: y = 0.1 in 2025 only,
    below the 0.5 threshold -> closed in both periods; with threshold 1e-6 -> open in both."""
    m, d, hm = levels_model()
    x = lp_values(m, hm, {(0, 2025): 0.3, (1, 2025): 0.2, (2, 2030): 0.4, (3, 2025): 0.1})
    col = {(j, p): hm.cols[id(m.level_open[j, p])] for j in range(4) for p in (2025, 2030)}
    v = rounded_levels(m, d, hm, x, 0.5)  # type: ignore[arg-type]
    assert [v[col[j, 2025]] for j in range(4)] == [1.0, 0.0, 0.0, 0.0]
    assert [v[col[j, 2030]] for j in range(4)] == [0.0, 1.0, 0.0, 0.0]
    v = rounded_levels(m, d, hm, x, 1e-6)  # type: ignore[arg-type]
    assert (v[col[3, 2025]], v[col[3, 2030]]) == (1.0, 1.0)  # opened once, G stays open


def test_rounding_takes_the_largest_level_when_none_covers() -> None:
    m, d, hm = levels_model()
    x = lp_values(m, hm, {(2, 2025): 1.0, (0, 2030): 0.9})  # 200 t, then 45 t: never below 200
    col = {(j, p): hm.cols[id(m.level_open[j, p])] for j in range(4) for p in (2025, 2030)}
    v = rounded_levels(m, d, hm, x, 0.5)  # type: ignore[arg-type]
    assert [v[col[j, 2030]] for j in range(3)] == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(("time_limit", "plan"), [(None, "none"), (60.0, "open_all")])
def test_auto_start_opens_all_only_under_a_time_limit(time_limit: float | None, plan: str) -> None:
    assert first_plan(SolveOptions(time_limit=time_limit)) == plan
    sol = no.solve(TOY, SolveOptions(time_limit=time_limit))
    assert sol.objective == pytest.approx(-1_790_500.0)
    assert sol.outcome.start == (None if plan == "none" else plan)


def test_lp_round_start_reaches_the_hand_solved_toy_optimum() -> None:
    sol = no.solve(TOY, SolveOptions(start="lp_round"))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(-1_790_500.0)
    assert sol.outcome.start == "lp_round"


@pytest.mark.parametrize("start", ["auto", "open-all", "lp-round", "restricted", "none"])
def test_start_option_on_the_command_line(tmp_path: Path, start: str) -> None:
    result = CliRunner().invoke(app, ["solve", str(TOY), "--out", str(tmp_path / "out"), "--start", start, "-q"])
    assert result.exit_code == 0, result.output
    assert "-1,790,500.00 EUR" in result.output


def test_lp_round_start_from_a_given_relaxation() -> None:
    """``relaxed`` (the LP relaxation already solved, as --heuristic has it) gives the same start as
    the LP lp_round_start solves itself; solve_model(relaxed=...) uses it unless --start none, and
    the optimum stays the toy's hand-solved -1,790,500."""
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.solver.handoff import HighsModel
    from network_opt.solver.highs import solve_model
    from network_opt.solver.relaxation import lp_relaxation
    from network_opt.solver.starts import lp_round_start

    d = prepare(no.load(TOY))
    m = build_model(d)
    hm = HighsModel(m)
    _, x = lp_relaxation(hm, SolveOptions())
    assert x is not None
    assert lp_round_start(m, d, hm, SolveOptions(), relaxed=x) == "lp_round"
    given = np.asarray(hm.start_values).copy()
    own = HighsModel(m)
    assert lp_round_start(m, d, own, SolveOptions()) == "lp_round"
    # an LP solution that opens nothing rounds to a plan without feasible flows (every pack must be
    # collected): the start falls back to every facility open and says so
    fallback = HighsModel(m)
    assert lp_round_start(m, d, fallback, SolveOptions(), relaxed=np.zeros_like(x)) == "open_all"
    assert np.allclose(given, np.asarray(own.start_values))
    out = solve_model(m, SolveOptions(), solver=HighsModel(m), data=d, relaxed=x)
    assert (out.start, out.objective) == ("lp_round", pytest.approx(-1_790_500.0))
    out = solve_model(m, SolveOptions(start="none"), solver=HighsModel(m), data=d, relaxed=x)
    assert (out.start, out.objective) == (None, pytest.approx(-1_790_500.0))


def test_the_start_lps_share_one_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The LP relaxation of a start runs within a third of the time limit and never past the
    deadline already set for the start's LPs, and leaves that deadline as it was (re-basing it let
    a national run's start chain take 512 s of a 220-s limit); once HiGHS's run clock reaches it,
    no further start LP is tried."""
    from network_opt.solver import carry_over, starts
    from network_opt.solver.handoff import HighsModel

    m = pyo.ConcreteModel()
    m.y = pyo.Var(domain=pyo.Binary)
    m.x = pyo.Var(bounds=(0, 4))
    m.c = pyo.Constraint(expr=m.x <= 4 * m.y)
    m.cost = pyo.Objective(expr=m.y - m.x)
    hm = HighsModel(m)
    clock = hm.h.getRunTime()
    hm.h.setOptionValue("time_limit", clock + 5.0)  # the deadline solve_model sets (set_time_limit, lp=True)
    seen: list[float] = []

    def run(model: HighsModel, tick: object = None) -> bool:
        seen.append(float(model.h.getOptionValue("time_limit")[1]))
        model.h.run()
        return True

    monkeypatch.setattr(starts, "run_highs", run)
    x = starts.relaxed_lp(hm, SolveOptions(time_limit=300.0))  # a third of it (100 s) is past the deadline
    assert x is not None and x[hm.cols[id(m.x)]] == pytest.approx(4.0)  # the LP optimum: y = 1, x = 4
    assert seen and seen[0] <= clock + 5.0 + 1e-9
    assert float(hm.h.getOptionValue("time_limit")[1]) == pytest.approx(clock + 5.0)  # restored, not re-based
    assert not starts.time_up(hm)
    hm.h.setOptionValue("time_limit", 0.0)  # the run clock is past it
    assert starts.time_up(hm)
    plan = pd.DataFrame({"facility": [], "investment_period": [], "open": [], "level": [], "modules": []})
    no_data = cast(ModelData, SimpleNamespace())  # a stand-in: the time is up before the data is read
    assert carry_over.plan_start(m, no_data, hm, plan, SolveOptions(time_limit=300.0)) is None


def test_restricted_start_reaches_the_hand_solved_toy_optimum() -> None:
    sol = no.solve(TOY, SolveOptions(start="restricted", time_limit=60))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(-1_790_500.0)
    assert sol.outcome.start == "restricted"


def test_restricted_start_is_only_a_start_the_full_model_finds_the_facility_the_lp_leaves_out(
        tmp_path: Path) -> None:
    """100 t at C, free lanes, two candidate recyclers: A with one level of 1,000 t at 2,000 a year
    (2 per t of capacity), B with one level of 100 t at 500 a year (5 per t); no per-lane linking
    (``model.strong_linking: false``, which would make the LP exact here). The LP relaxation opens A
    at 0.1 (cost 200) and leaves B at 0, so the model restricted to the facilities the LP
    uses keeps only A: its plan costs 2,000. From that start the full model finds B, 500: the
    optimum, as HiGHS alone finds it."""
    from builders import candidate_recyclers

    folder = candidate_recyclers(tmp_path / "i", 100.0, [("A", "a", 1000.0, 2000.0), ("B", "b", 100.0, 500.0)],
                                 {"A": 0.0, "B": 0.0}, strong_linking=False)
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.solver.handoff import HighsModel
    from network_opt.solver.starts import restricted_plan

    d = prepare(no.load(folder))
    m = build_model(d)
    hm = HighsModel(m)
    values = restricted_plan(m, d, hm, SolveOptions(time_limit=30))
    assert values is not None
    facility = d.levels["facility"].tolist()
    opened = {facility[j]: round(float(values[hm.cols[id(v)]])) for (j, _p), v in m.level_open.items()}
    assert opened == {"A": 1, "B": 0}  # the restricted model's plan: B was closed
    assert hm.objective_of(values) == pytest.approx(2000.0)  # every column: A's plan, its flows included
    from network_opt.solver.handoff import col_bounds

    _, upper = col_bounds(hm.h, np.array([hm.cols[id(m.level_open[1, 2025])]], dtype=np.int32))
    assert upper[0] == 1.0  # B reopened for the full model
    sol = no.solve(folder, SolveOptions(start="restricted", time_limit=30))
    alone = no.solve(folder, SolveOptions(start="none"))
    assert sol.outcome.start == "restricted"
    assert sol.objective == pytest.approx(500.0) and alone.objective == pytest.approx(500.0)
    f = sol["facilities"]
    assert set(f.loc[f["open"].astype(bool), "facility"]) == {"B"}
