"""Re-solve without rebuild (network_opt.solver.session): a scenario solved by updating the HiGHS model
of the previous solve in place, and starting from its plan, gives what a fresh build and solve
gives; a structural change falls back to a new model; HighsModel.update leaves HiGHS holding
exactly the LP a fresh handoff gives; sweeps give the same objectives with and without reuse."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_scenarios import TOY, override
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.inputs.overrides import apply_overrides
from network_opt.model import build_model, prepare
from network_opt.runs.executors import process_session
from network_opt.solver.handoff import HighsModel, compile_model
from network_opt.solver.options import SolveOptions
from network_opt.solver.session import ResolveSession

EXACT = SolveOptions(mip_gap=1e-9)
LI_KEY = "targets[TOY,material_recovery,Li,2025].value"

# one change of each kind, with (some of) the arrays it changes in the compiled model
NUMBER_CHANGES = {
    "price": (override("scale", "material_prices[Li].price_per_t", 3.0), {"cost"}),
    "demand": (override("scale", "market_demand.demand_kwh", 0.2), {"row_upper"}),
    "target": (override("set", LI_KEY, 0.8), {"value"}),
}


@pytest.fixture(scope="module")
def toy() -> no.Instance:
    return no.load(TOY)


def plan(sol: no.results.Solution) -> list[tuple[str, int, bool, str]]:
    """(facility, period, open, level) of every facility, sorted."""
    fac = sol["facilities"]
    return sorted((str(f), int(p), bool(o), str(lv)) for f, p, o, lv in
                  fac[["facility", "period", "open", "level"]].itertuples(index=False))


def assert_same_solution(sol: no.results.Solution, fresh: no.results.Solution) -> None:
    assert sol.status == fresh.status == "optimal"
    assert sol.objective == pytest.approx(fresh.objective, rel=1e-6)
    assert plan(sol) == plan(fresh)


def changed_arrays(a: no.Instance, b: no.Instance) -> set[str]:
    """Which arrays of the compiled model differ between two instances (same structure assumed)."""
    x, _, _ = compile_model(build_model(prepare(a)))
    y, _, _ = compile_model(build_model(prepare(b)))
    assert x.same_pattern(y)
    return {k for k in ("cost", "col_lower", "col_upper", "row_lower", "row_upper", "value")
            if not np.array_equal(getattr(x, k), getattr(y, k))}


@pytest.mark.parametrize("kind", list(NUMBER_CHANGES))
def test_a_number_change_is_solved_in_place_and_equals_a_fresh_solve(toy: no.Instance, kind: str) -> None:
    change, arrays = NUMBER_CHANGES[kind]
    changed = apply_overrides(toy, [change])
    assert changed_arrays(toy, changed) >= arrays  # the change is of the kind named
    session = ResolveSession()
    first = no.solve(toy, EXACT, session=session)
    assert first.summary["resolve"] == {"in_place": False, "warm_start": False}
    assert session.plan is not None and session.highs is not None
    held = session.highs
    again = no.solve(changed, EXACT, session=session)
    assert again.summary["resolve"]["in_place"] is True
    assert session.highs is held  # the same highspy model, updated
    assert not any(isinstance(v, HighsModel) for v in vars(again.outcome).values())  # held by the session only
    fresh = no.solve(changed, EXACT)
    assert fresh.summary["resolve"] == {"in_place": False, "warm_start": False}
    assert_same_solution(again, fresh)
    # the target tables (with shadow prices, from the same highspy model) agree too
    assert np.allclose(again["targets"]["shadow_price"].to_numpy(dtype=float),
                       fresh["targets"]["shadow_price"].to_numpy(dtype=float), rtol=1e-6, equal_nan=True)
    # and back to the base: in place again, the base's solution
    back = no.solve(toy, EXACT, session=session)
    assert back.summary["resolve"]["in_place"] is True
    assert_same_solution(back, first)


def test_the_changes_move_the_plan(toy: no.Instance) -> None:
    """The changes above are not idle: each gives another plan or objective than the base."""
    base = no.solve(toy, EXACT)
    for change, _ in NUMBER_CHANGES.values():
        sol = no.solve(apply_overrides(toy, [change]), EXACT)
        assert sol.objective != pytest.approx(base.objective, rel=1e-6)


def test_the_previous_plan_is_the_start_when_it_fits(toy: no.Instance) -> None:
    session = ResolveSession()
    no.solve(toy, EXACT, session=session)
    cheap = no.solve(apply_overrides(toy, [override("scale", "material_prices[Li].price_per_t", 0.5)]), EXACT,
                     session=session)
    assert cheap.summary["resolve"] == {"in_place": True, "warm_start": True}
    assert cheap.outcome.start == "given"
    # without warm starts the model is still updated in place, HiGHS starts on its own
    cold = no.solve(toy, SolveOptions(mip_gap=1e-9, warm_start=False), session=session)
    assert cold.summary["resolve"] == {"in_place": True, "warm_start": False}
    assert cold.outcome.start is None


def test_more_volume_than_the_old_plan_can_take_starts_from_every_facility_open(toy: no.Instance) -> None:
    session = ResolveSession()
    no.solve(toy, EXACT, session=session)
    up = apply_overrides(toy, [override("scale", "supply.tonnes", 1.3)])
    sol = no.solve(up, replace(EXACT, start="open_all"), session=session)
    assert sol.summary["resolve"] == {"in_place": True, "warm_start": False}  # the old plan has too little capacity
    assert sol.outcome.start == "open_all"
    assert_same_solution(sol, no.solve(up, EXACT))


@pytest.mark.parametrize("change", [
    override("close", "REF-EAST"),
    override("remove", "lanes[CP-SOUTH,FS-EAST]"),
], ids=["facility closed", "lane removed"])
def test_a_structural_change_falls_back_to_a_new_model(toy: no.Instance, change: object) -> None:
    session = ResolveSession()
    no.solve(toy, EXACT, session=session)
    changed = apply_overrides(toy, [change])  # type: ignore[list-item]
    sol = no.solve(changed, EXACT, session=session)
    assert sol.summary["resolve"] == {"in_place": False, "warm_start": False}
    assert session.highs is not None and session.highs.model is sol.model  # the session keeps the new model
    assert_same_solution(sol, no.solve(changed, EXACT))
    # the next number change reuses the new model
    cheap = apply_overrides(changed, [override("scale", "material_prices[Li].price_per_t", 3.0)])
    again = no.solve(cheap, EXACT, session=session)
    assert again.summary["resolve"]["in_place"] is True
    assert_same_solution(again, no.solve(cheap, EXACT))


def test_a_period_added_falls_back(tmp_path: Path) -> None:
    from test_scenarios import li, two_tech

    one = no.load(two_tech(tmp_path / "one", targets=[li(0.5)], periods=(2025,)))
    two = no.load(two_tech(tmp_path / "two", targets=[li(0.5)], periods=(2025, 2027)))
    session = ResolveSession()
    no.solve(one, EXACT, session=session)
    sol = no.solve(two, EXACT, session=session)
    assert sol.summary["resolve"]["in_place"] is False
    fresh = no.solve(two, EXACT)
    assert sol.objective == pytest.approx(fresh.objective, rel=1e-6)


def test_threads_option_with_a_reused_model(toy: no.Instance) -> None:
    """solve_model resets HiGHS's global scheduler when threads are given; the held model still runs."""
    session = ResolveSession()
    opts = SolveOptions(mip_gap=1e-9, threads=1)
    no.solve(toy, opts, session=session)
    changed = apply_overrides(toy, [NUMBER_CHANGES["target"][0]])
    sol = no.solve(changed, opts, session=session)
    assert sol.summary["resolve"]["in_place"] is True
    assert_same_solution(sol, no.solve(changed, SolveOptions(mip_gap=1e-9)))
    assert session.highs is not None and session.highs.h.getOptionValue("threads")[1] == 1
    sol = no.solve(toy, EXACT, session=session)  # threads not given: back to HiGHS's choice
    assert session.highs.h.getOptionValue("threads")[1] == 0
    assert sol.status == "optimal"


def test_aggregated_runs_bypass_the_session(tmp_path: Path) -> None:
    from builders import write_instance
    from test_aggregate import HAND_SETTINGS, _hand_tables

    inst = no.load(write_instance(tmp_path / "hand", _hand_tables(), **HAND_SETTINGS))
    session = ResolveSession()
    base = no.solve(inst, EXACT, session=session)
    held = session.highs
    agg = no.solve(inst, EXACT, session=session, aggregate=1)
    assert agg.status == "feasible"  # the plan split back: optimal for the clustered model only
    assert agg.summary["resolve"] == {"in_place": False, "warm_start": False}
    assert session.highs is held and held is not None and held.model is base.model
    assert not any(isinstance(v, HighsModel) for v in vars(agg.outcome).values())


def test_a_trivially_infeasible_model_leaves_the_session_usable(toy: no.Instance) -> None:
    session = ResolveSession()
    no.solve(toy, EXACT, session=session)
    held = session.highs
    from network_opt.solver.handoff import TriviallyInfeasible

    def boom(m: object) -> bool:
        raise TriviallyInfeasible("0 >= 1")

    assert held is not None
    held.update = boom  # type: ignore[method-assign]
    sol = no.solve(toy, EXACT, session=session)
    assert sol.status == "infeasible" and session.highs is held
    del held.update
    again = no.solve(toy, EXACT, session=session)
    assert again.summary["resolve"]["in_place"] is True and again.status == "optimal"


def lp_arrays(h: object) -> dict[str, np.ndarray]:
    lp = h.getLp()  # type: ignore[attr-defined]
    a = lp.a_matrix_
    return {"cost": np.asarray(lp.col_cost_), "offset": np.asarray([lp.offset_]),
            "col_lower": np.asarray(lp.col_lower_), "col_upper": np.asarray(lp.col_upper_),
            "row_lower": np.asarray(lp.row_lower_), "row_upper": np.asarray(lp.row_upper_),
            "integrality": np.asarray([int(v) for v in lp.integrality_]),
            "format": np.asarray([int(a.format_)]), "start": np.asarray(a.start_), "index": np.asarray(a.index_),
            "value": np.asarray(a.value_)}


@pytest.mark.parametrize("changes", [
    [NUMBER_CHANGES["price"][0]], [NUMBER_CHANGES["demand"][0]], [NUMBER_CHANGES["target"][0]],
    [override("scale", "supply.tonnes", 1.3), override("scale", "facility_levels.fixed_cost_per_year", 1.5),
     override("set", LI_KEY, 0.6)],
], ids=["price", "demand", "target", "volumes, fixed costs and target"])
def test_update_gives_the_lp_of_a_fresh_handoff(toy: no.Instance, changes: list[object]) -> None:
    session = ResolveSession()
    no.solve(toy, EXACT, session=session)  # solved, shadow prices re-ran HiGHS on it: as in a sweep
    held = session.highs
    assert held is not None
    changed = apply_overrides(toy, changes)  # type: ignore[arg-type]
    assert held.update(build_model(prepare(changed))) is True
    fresh = HighsModel(build_model(prepare(changed)))
    got, want = lp_arrays(held.h), lp_arrays(fresh.h)
    assert set(got) == set(want)
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    before = lp_arrays(HighsModel(build_model(prepare(toy))).h)
    assert any(not np.array_equal(before[k], want[k]) for k in want)  # the update did change something


def test_sweep_gives_the_same_objectives_with_and_without_reuse(tmp_path: Path) -> None:
    vary = [f"{LI_KEY}=0.5:0.9:5", "material_prices[Li].price_per_t*=0.5,1.5"]
    reuse = no.sweep(TOY, tmp_path / "reuse", vary=vary, options=EXACT)
    cold = no.sweep(TOY, tmp_path / "cold", vary=vary, options=SolveOptions(mip_gap=1e-9, reuse=False))
    a, b = reuse.table, cold.table
    assert list(a["status"]) == list(b["status"])
    assert (a["status"] != "error").all()
    ok = a["status"] == "optimal"
    assert ok.all()
    assert np.allclose(a.loc[ok, "objective"].astype(float), b.loc[ok, "objective"].astype(float), rtol=1e-6)
    shadow = f"shadow_price[{LI_KEY}]"
    assert np.allclose(a.loc[ok, shadow].astype(float), b.loc[ok, shadow].astype(float), rtol=1e-6, atol=1e-6)
    resolve = [json.loads((tmp_path / "reuse" / p / "summary.json").read_text())["resolve"] for p in a["point"]]
    # at Li 0.9 the hydro plant's coefficient in the target row (yield 0.9 - target 0.9) vanishes:
    # another sparsity pattern, so that point starts a new model, which the next point updates
    assert [r["in_place"] for r in resolve] == [False] + [True] * 7 + [False, True]
    assert any(r["warm_start"] for r in resolve)
    assert not any(json.loads((tmp_path / "cold" / p / "summary.json").read_text())["resolve"]["in_place"]
                   for p in b["point"])
    assert process_session().highs is None  # the inline executor let the model go after the batch


def test_no_reuse_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["sweep", str(TOY), "--vary", f"{LI_KEY}=0.5,0.6,0.7"]
    on = runner.invoke(app, [*args, "--out", str(tmp_path / "on")])
    off = runner.invoke(app, [*args, "--out", str(tmp_path / "off"), "--no-reuse"])
    assert on.exit_code == 0 and off.exit_code == 0, on.output + off.output
    for folder, expected in (("on", [False, True, True]), ("off", [False, False, False])):
        got = [json.loads((tmp_path / folder / f"p000{i}" / "summary.json").read_text())["resolve"]["in_place"]
               for i in (1, 2, 3)]
        assert got == expected
    a = json.loads((tmp_path / "on" / "p0003" / "summary.json").read_text())
    b = json.loads((tmp_path / "off" / "p0003" / "summary.json").read_text())
    assert a["objective"] == pytest.approx(b["objective"], rel=1e-4)
    assert set(a["timings"]) >= {"build_s", "handoff_s", "solve_s"}
