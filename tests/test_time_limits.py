"""Time limits on re-used HiGHS objects (network_opt.solver.options.set_time_limit).

HiGHS (1.16) checks an LP's ``time_limit`` against the object's run clock, which adds up over all its
runs, and a MIP's against the MIP's own start. Without an offset, an LP re-solved on an object that
has run longer than the limit stops at once: the shadow-price LP after a MIP that used its whole time
limit gave NaN shadow prices, and start LPs in re-used sweep models gave no start."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from builders import objective_of, two_technology_tables, write_instance

import network_opt as no
from network_opt.datasets.generate import GeneratorSpec, generate
from network_opt.inputs.load import load
from network_opt.inputs.schema import RATE_METRICS
from network_opt.model import build_model
from network_opt.model.data import ModelData, prepare
from network_opt.results.tables import extract, target_bases, target_measures
from network_opt.runs import pipeline
from network_opt.runs.heuristic import Heuristic
from network_opt.solver.compliance import (
    PRICE_LP_HOLD_BACK,
    TIME_UP_BEFORE,
    TIME_UP_DURING,
    TIME_UP_NOTES,
    noted_shadow_prices,
    seconds_left,
    shadow_price_notes,
)
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import HELD_BACK_SHARE, HOLD_BACK_FLOOR_S, held_back, solve_model
from network_opt.solver.options import set_time_limit


def _burn(h: highspy.Highs, seconds: float) -> None:
    """Re-solve the model held by ``h`` until its run clock passes ``seconds``."""
    while h.getRunTime() <= seconds:
        h.clearSolver()
        h.run()


def _lp_model() -> pyo.ConcreteModel:
    """min x, x >= 0.5, 0 <= x <= 1 (optimum 0.5): an LP, no integer column."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x >= 0.5)
    m.o = pyo.Objective(expr=m.x)
    return m


def _lp() -> HighsModel:
    return HighsModel(_lp_model())


def test_an_lp_re_solved_after_the_run_clock_passed_its_limit_is_solved() -> None:
    """min x, x >= 0.5, 0 <= x <= 1: optimum 0.5, within a 0.2 s limit set after 0.3 s of runs."""
    hm = _lp()
    _burn(hm.h, 0.3)
    clock = hm.h.getRunTime()
    set_time_limit(hm.h, 0.2, lp=True)
    assert hm.h.getOptionValue("time_limit")[1] == pytest.approx(clock + 0.2)
    hm.h.clearSolver()
    hm.h.run()
    assert hm.h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert hm.h.getInfo().objective_function_value == pytest.approx(0.5)


def test_a_mip_limit_is_its_own_and_none_is_no_limit() -> None:
    hm = _lp()
    _burn(hm.h, 0.05)
    set_time_limit(hm.h, 5.0, lp=False)
    assert hm.h.getOptionValue("time_limit")[1] == pytest.approx(5.0)
    set_time_limit(hm.h, None, lp=True)
    assert hm.h.getOptionValue("time_limit")[1] == highspy.kHighsInf


def test_shadow_prices_after_a_mip_that_used_its_time_limit(tmp_path: Path) -> None:
    """A generated 100 x 20 x 3 x 3 instance whose MIP cannot be proven in 2 s (it stops at its time
    limit with a plan, status feasible; 677 % gap at 3 s when this was written): the LP with the
    levels fixed then runs on an object whose run clock is past 2 s. Given a limit of its own (2 s, no
    ``started``), its shadow prices must come from that LP, not be NaN with 'not solved to optimality'
    (what they were before the offset). Counted from the MIP's start, the 2 s are used up: the
    pipeline does not run the LP (NaN, and the note and summary say so)."""
    folder = generate(tmp_path / "g", GeneratorSpec(collection_points=100, candidates=20, periods=3,
                                                    chemistries=3, seed=1))
    d = prepare(load(folder))
    m = build_model(d)
    hm = HighsModel(m)
    options = no.SolveOptions(time_limit=2.0)
    began = time.perf_counter()
    outcome = solve_model(m, options, solver=hm, data=d)
    assert outcome.has_plan
    targets = extract(m, d, hm)["targets"]
    assert len(targets)
    base = target_measures(d, hm.values_of(m.flow), hm.values_of(m.uncollected) if hasattr(m, "uncollected")
                           else np.zeros(len(d.supply)))["base"]
    prices, notes, warning = noted_shadow_prices(m, d, base, targets, outcome.status, options, hm)
    assert np.isfinite(prices).all() and warning is None
    assert not any("not solved" in n for n in notes)
    if outcome.status == "feasible":  # the MIP used its 2 s: nothing left for the LP counted from its start
        prices, notes, warning = noted_shadow_prices(m, d, base, targets, outcome.status, options, hm, began)
        assert np.isnan(prices).all() and warning is not None
        assert all(n.startswith(TIME_UP_NOTES[TIME_UP_BEFORE]) for n in notes)


# --- the shadow-price LP within --time-limit ------------------------------------------------
# two_technology_tables: 100 t of X at C1 to the existing PYRO (10/t, Li yield 0) or HYDRO (30/t, Li
# yield 0.9). With Li recovery >= 0.5: 0.9 x_H = 0.5 x 100, x_H = 500/9, x_P = 400/9, objective
# (10 x 400 + 30 x 500)/9 = 19000/9; the cost is 1000 + 2000 rho / 0.9, so the shadow price of the
# target (per unit of rho) is 2000 / 0.9.

LI_TARGET = {"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.5,
             "from_period": 2025}


def _micro(folder: Path) -> Path:
    return write_instance(folder, {**two_technology_tables(), "targets": [LI_TARGET]})


def _spy(monkeypatch: pytest.MonkeyPatch, shift_s: float) -> list[float | None]:
    """Wrap the pipeline's shadow prices so that the start they count the time limit from lies
    ``shift_s`` seconds earlier than the pipeline's (a solve that took that long); returns the
    starts the pipeline passed."""
    seen: list[float | None] = []

    def shifted(m: pyo.ConcreteModel, d: ModelData, base: pd.Series, targets: pd.DataFrame, status: str,
                options: no.SolveOptions | None, solver: HighsModel, started: float | None,
                **kwargs: Any) -> tuple[np.ndarray, list[str], str | None]:
        seen.append(started)
        assert started is not None
        return noted_shadow_prices(m, d, base, targets, status, options, solver, started - shift_s, **kwargs)

    monkeypatch.setattr(pipeline, "noted_shadow_prices", shifted)
    return seen


@pytest.mark.parametrize("heuristic", [None, Heuristic()])
def test_shadow_prices_skipped_when_the_time_limit_is_used_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             heuristic: Heuristic | None) -> None:
    """--time-limit 60 and a start 60 s back: nothing is left for the LP, so it is not run: the price
    is NaN, its note and summary.json say why, and the plan is the same (objective 19000/9)."""
    seen = _spy(monkeypatch, 60.0)
    before = time.perf_counter()
    sol = no.solve(_micro(tmp_path / "i"), no.SolveOptions(time_limit=60.0), heuristic=heuristic)
    assert len(seen) == 1 and seen[0] is not None and before < seen[0] < time.perf_counter()
    assert sol.objective == pytest.approx(19000 / 9)
    row = sol["targets"].iloc[0]
    assert math.isnan(row["shadow_price"])
    assert row["shadow_price_note"] == TIME_UP_NOTES[TIME_UP_BEFORE]
    assert row["shadow_price_note"].startswith("NaN: the time limit was used up before the LP")
    assert [w for w in sol.summary.warnings if w.startswith("shadow prices not computed")] == [
        "shadow prices not computed: the time limit (--time-limit 60 s) was used up before the LP with the "
        "facility levels and modules fixed could run; targets.csv shadow_price is NaN (shadow_price_note says why)"]


def test_shadow_prices_with_time_left_or_without_a_limit_are_as_before(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """10 s of a 60 s limit used (50 s left), or a start 1000 s back without --time-limit: the LP runs,
    the price is the dual 2000 / 0.9 and no warning is added."""
    folder = _micro(tmp_path / "i")
    for options, shift_s in ((no.SolveOptions(time_limit=60.0), 10.0), (no.SolveOptions(), 1000.0)):
        _spy(monkeypatch, shift_s)
        sol = no.solve(folder, options)
        assert sol.objective == pytest.approx(19000 / 9)
        row = sol["targets"].iloc[0]
        assert row["shadow_price"] == pytest.approx(2000 / 0.9)
        assert row["shadow_price_note"].startswith("LP dual of this plan")
        assert not [w for w in sol.summary.warnings if w.startswith("shadow prices")]


def test_seconds_left_counts_from_the_start_given() -> None:
    now = time.perf_counter()
    assert seconds_left(no.SolveOptions(), now - 5) is None  # no limit
    assert seconds_left(no.SolveOptions(time_limit=10.0), None) is None  # no start: the whole limit
    left = seconds_left(no.SolveOptions(time_limit=10.0), now - 4)
    assert left is not None and 5.0 < left <= 6.0
    assert seconds_left(no.SolveOptions(time_limit=10.0), now - 20) < 0  # type: ignore[operator]


def test_note_of_a_shadow_price_lp_stopped_by_the_time_limit() -> None:
    """The LP ran on what was left and stopped at the limit: its own note (the status suffix still
    follows for a plan not proven optimal)."""
    targets = pd.DataFrame({"required": [0.5], "achieved": [0.5]})
    nan, row = np.full(1, np.nan), np.array([True])
    during = shadow_price_notes(targets, nan, False, row, "optimal", TIME_UP_DURING)
    assert during == [TIME_UP_NOTES[TIME_UP_DURING]]
    assert during[0].startswith("NaN: the time limit was used up before the LP with the facility levels and "
                                "modules fixed was solved")
    limited = shadow_price_notes(targets, nan, False, row, "feasible", TIME_UP_BEFORE)
    assert limited[0].startswith(TIME_UP_NOTES[TIME_UP_BEFORE] + ". The plan is feasible")
    # the time limit is named only when the LP was not solved
    assert shadow_price_notes(targets, nan, False, row, "optimal")[0].startswith("NaN: the LP with the facility")


def _generated(folder: Path) -> Path:
    return generate(folder, GeneratorSpec(collection_points=12, candidates=4, periods=2, chemistries=2, seed=3))


def _collection_rate(folder: Path) -> Path:
    from test_collection_pom import pom_instance  # a collection-rate target on packs placed on the market

    return pom_instance(folder)


def _recycled_content(folder: Path) -> Path:
    from test_recycled_content import _obligation, instance  # a recycled-content obligation, in tonnes

    return instance(folder, [_obligation("IN", "domestic", 20.0)])


@pytest.mark.parametrize(("make", "metric"), [(_generated, "material_recovery"), (_collection_rate, "collection_rate"),
                                              (_recycled_content, "recycled_content")])
def test_target_bases_read_back_what_target_measures_computed(tmp_path: Path, make: Any, metric: str) -> None:
    """The pipeline takes the shadow prices' bases from the targets table extract wrote
    (:func:`target_bases`) instead of measuring the plan a second time: on instances with a rate
    measured on flows (material_recovery), on the packs generated (collection_rate) and a target in
    tonnes (recycled_content) it yields the same numbers as :func:`target_measures`."""
    d = prepare(load(make(tmp_path / "i")))
    m = build_model(d)
    hm = HighsModel(m)
    outcome = solve_model(m, no.SolveOptions(time_limit=60.0), solver=hm, data=d)
    assert outcome.has_plan
    targets = extract(m, d, hm)["targets"]
    assert (targets["metric"] == metric).any()
    measured = target_measures(d, hm.values_of(m.flow), hm.values_of(m.uncollected) if hasattr(m, "uncollected")
                               else np.zeros(len(d.supply)))["base"]
    pd.testing.assert_series_equal(target_bases(targets), measured, check_names=False)
    assert (target_bases(targets)[targets["metric"].isin(RATE_METRICS)] > 0).all()


def test_target_bases_is_one_for_targets_in_tonnes() -> None:
    """A target in tonnes (domestic_recovery, recycled_content) has no base_t; its base is 1."""
    table = pd.DataFrame({"metric": ["collection_rate", "domestic_recovery", "recycled_content"],
                          "base_t": [80.0, np.nan, np.nan]})
    assert target_bases(table).tolist() == [80.0, 1.0, 1.0]


# --- the MIP leaves time for the shadow-price LP ------------------------------------------------

def test_held_back_is_what_is_wanted_up_to_half_of_what_is_left() -> None:
    assert held_back(10.0, 100.0) == 10.0
    assert held_back(80.0, 100.0) == HELD_BACK_SHARE * 100.0 == 50.0
    assert held_back(10.0, -5.0) == 0.0  # the start used the whole limit: nothing to hold
    assert held_back(0.0, 100.0) == 0.0


def _mip_limits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the limits solve_model sets for its MIP (``set_time_limit`` with ``lp=False``)."""
    import network_opt.solver.highs as highs_module

    limits: list[float] = []

    def spy(highs: highspy.Highs, seconds: float | None, *, lp: bool) -> None:
        if not lp and seconds is not None:
            limits.append(seconds)
        set_time_limit(highs, seconds, lp=lp)

    monkeypatch.setattr(highs_module, "set_time_limit", spy)
    return limits


@pytest.mark.parametrize("hold_back", [0.0, 1.5])
def test_the_mip_stops_hold_back_times_the_starts_held_lp_before_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold_back: float) -> None:
    """With a 600 s limit (not binding the cap: the start takes well under a second) the MIP's limit
    is 600 s less the start's seconds less ``hold_back`` x the start's longest LP with the integer
    columns held, which the LP rounding start ran (so it is > 0), but at least HOLD_BACK_FLOOR_S.
    The plan does not depend on it."""
    limits = _mip_limits(monkeypatch)
    d = prepare(load(_generated(tmp_path / "i")))
    m = build_model(d)
    hm = HighsModel(m)
    began = time.perf_counter()
    outcome = solve_model(m, no.SolveOptions(time_limit=600.0, start="lp_round"), solver=hm, data=d,
                          hold_back=hold_back)
    assert outcome.start == "lp_round" and outcome.has_plan
    assert hm.held_lp_s > 0.0
    assert outcome.held_back_s == pytest.approx(max(hold_back * hm.held_lp_s, HOLD_BACK_FLOOR_S) if hold_back else 0.0)
    assert len(limits) == 1
    start_s = 600.0 - limits[0] - outcome.held_back_s  # what the start took, by the limit set
    assert 0.0 < start_s < time.perf_counter() - began


def test_the_mip_keeps_half_of_what_the_start_left_however_much_is_wanted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold-back far above the limit: the MIP gets half of what the start left, the other half is
    held back (the two equal)."""
    limits = _mip_limits(monkeypatch)
    d = prepare(load(_generated(tmp_path / "i")))
    m = build_model(d)
    outcome = solve_model(m, no.SolveOptions(time_limit=60.0, start="lp_round"), data=d, hold_back=1e9)
    assert len(limits) == 1 and 25.0 < limits[0] < 30.0
    assert outcome.held_back_s == pytest.approx(limits[0])


def test_nothing_is_held_back_without_a_time_limit_or_from_an_lp(tmp_path: Path) -> None:
    d = prepare(load(_generated(tmp_path / "i")))
    m = build_model(d)
    assert solve_model(m, no.SolveOptions(start="lp_round"), data=d, hold_back=1.5).held_back_s == 0.0
    assert solve_model(_lp_model(), no.SolveOptions(time_limit=60.0), hold_back=1.5).held_back_s == 0.0


@pytest.mark.parametrize("heuristic", [None, Heuristic()])
def test_the_pipeline_holds_back_time_for_the_prices_when_targets_are_in_force(
        tmp_path: Path, heuristic: Heuristic | None) -> None:
    """A generated instance with recovery targets: with --time-limit the solve holds back
    PRICE_LP_HOLD_BACK x its start's held LP (summary.json solver.held_back_s, > 0) and the prices are
    computed; without targets nothing is held back."""
    folder = _generated(tmp_path / "i")
    sol = no.solve(folder, no.SolveOptions(time_limit=600.0, start="lp_round"), heuristic=heuristic)
    assert len(sol["targets"]) and np.isfinite(sol["targets"]["shadow_price"]).all()
    assert 0.0 < float(sol.summary.solver["held_back_s"] or 0.0) < 0.5 * 600.0
    (folder / "targets.csv").write_text((folder / "targets.csv").read_text().splitlines()[0] + "\n")
    bare = no.solve(folder, no.SolveOptions(time_limit=600.0, start="lp_round"), heuristic=heuristic)
    assert bare.data is not None and not len(bare.data.targets)
    assert bare.summary.solver["held_back_s"] == 0.0
    z = objective_of(sol)
    assert objective_of(bare) <= z + 1e-6 * abs(z)  # fewer rules cost no more


def test_the_solve_help_states_the_hold_back_figures() -> None:
    """The --time-limit help writes the figures out (the CLI does not import the solver); they must
    be the constants'."""
    import typer

    from network_opt.cli.app import app

    solve_command = typer.main.get_command(app).commands["solve"]  # type: ignore[attr-defined]
    text = " ".join(next(p.help for p in solve_command.params if p.name == "time_limit").split())
    assert f"the MIP stops {PRICE_LP_HOLD_BACK:g} times" in text
    assert f"most {HELD_BACK_SHARE:.0%} of what the start left" in text
    assert f"(at least {HOLD_BACK_FLOOR_S:g} s) before the limit" in text
