"""Compress and filter (``solve --heuristic``, network_opt.runs.heuristic) on hand-solved micro
instances: the plan is a plan of the full model (objective >= the true optimum) and the reported
bound is a bound of the full model (<= the true optimum), with a visible gap when the screen drops
the optimal site and none when it keeps it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import of_type
from test_cflp import cflp_instance
from typer.testing import CliRunner

import network_opt as no
import network_opt.cli  # registers the commands
from network_opt.cli.app import app
from network_opt.runs.heuristic import Heuristic
from network_opt.runs.pipeline import solve as run_solve

# One customer of 10 t; P0 100 t of capacity, fixed 100, free transport; P1 10 t, fixed 50,
# 1 per t. Optimum: P1, 50 + 10 = 60 (P0 alone costs 100; both cost more).
DEMAND, CAPACITY, FIXED = [10.0], [100.0, 10.0], [100.0, 50.0]
COST = np.array([[0.0], [1.0]])


def micro(folder: Path, linking: bool) -> Path:
    path = cflp_instance(folder, DEMAND, CAPACITY, FIXED, COST)
    if not linking:
        yaml = path / "instance.yaml"
        yaml.write_text(yaml.read_text() + "model:\n  strong_linking: false\n")
    return path


def open_facilities(sol: no.Solution) -> set[str]:
    return set(sol["facilities"].query("open")["facility"])


def test_exact_optimum_of_the_micro_instance(tmp_path: Path) -> None:
    sol = no.solve(micro(tmp_path, linking=False))
    assert sol.objective == pytest.approx(60.0)
    assert open_facilities(sol) == {"P1"}


def test_filter_drops_the_optimal_site_gap_visible(tmp_path: Path) -> None:
    """Without strong linking the LP relaxation opens P0 a tenth (x0 <= 100 y0: 100 x 0.1 = 10 for
    the 10 t, free transport; P1 costs 50/10 + 1 = 6 per t): LP = 10, using P0 only. The filter
    keeps P0 (no neighbours), so the plan is P0 alone: 100 >= 60 (the optimum); bound 10 <= 60;
    gap (100 - 10) / 100 = 0.9."""
    sol = run_solve(micro(tmp_path, linking=False), heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(100.0)
    assert open_facilities(sol) == {"P0"}
    assert sol.summary["bound"] == pytest.approx(10.0)
    assert sol.summary["mip_gap"] == pytest.approx(0.9)
    assert sol.status == "feasible"  # optimal over P0 only, not proven for the full model
    h = sol.summary["heuristic"]
    assert (h["screened"], h["kept"], h["closed"]) == (1, 1, 1)
    assert h["lp_bound"] == pytest.approx(10.0)
    assert h["restricted_bound"] == pytest.approx(100.0)  # not a bound of the full model: not reported
    assert h["bound_source"] == "LP relaxation of the full model"
    # the LP rounded at 1/2 opens nothing (no flows fit); at 1e-6 it opens P0 (y0 = 0.1) at its
    # only level: the start is the plan P0, 100
    assert h["start"] == "lp_round"


def test_neighbour_brings_the_optimal_site_back(tmp_path: Path) -> None:
    """The same screen with one neighbour keeps P1 (the other recycler): nothing is closed, so the
    restricted model is the full one and its MIP bound (60) is valid: objective 60, gap 0."""
    sol = run_solve(micro(tmp_path, linking=False), heuristic=Heuristic(neighbours=1))
    assert sol.objective == pytest.approx(60.0)
    assert sol.summary["bound"] == pytest.approx(60.0)
    assert sol.summary["mip_gap"] == pytest.approx(0.0, abs=1e-9)
    assert sol.status == "optimal"
    assert sol.summary["heuristic"]["closed"] == 0


def test_filter_keeps_the_optimal_site_gap_zero(tmp_path: Path) -> None:
    """With strong linking x0 <= min(100, 10) y0 = 10 y0, so P0 costs 100/10 = 10 per t in the LP
    and P1 50/10 + 1 = 6: the LP puts the 10 t on P1 with y1 = 1, y0 = 0 (integral): LP = 60. The
    filter keeps P1 only (P0 closed), the plan is P1: 60; bound 60 (the LP): gap 0, optimal."""
    sol = run_solve(micro(tmp_path, linking=True), heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(60.0)
    assert open_facilities(sol) == {"P1"}
    assert sol.summary["bound"] == pytest.approx(60.0)
    assert sol.summary["mip_gap"] == pytest.approx(0.0, abs=1e-9)
    assert sol.status == "optimal"
    assert sol.summary["heuristic"]["closed"] == 1
    assert sol.summary["heuristic"]["start"] == "lp_round"  # the LP's y1 = 1 rounded: P1, the optimum


def _two_customers(tmp_path: Path, cost: np.ndarray) -> Path:
    """Customers C0, C1 of 5 t each at one spot, P0 (100 t, fixed 100) and P1 (10 t, fixed 50) with
    the explicit lane costs ``cost[facility, customer]``; lanes may be generated (aggregation needs
    it; every site is at (0, 0), so each explicit lane's cost stands), strong linking on."""
    path = cflp_instance(tmp_path, [5.0, 5.0], CAPACITY, FIXED, cost)
    yaml = path / "instance.yaml"
    yaml.write_text(yaml.read_text().replace("explicit_lanes_only: true", "explicit_lanes_only: false"))
    return path


def _forbid(path: Path, origin: str, destination: str) -> None:
    """Forbid the explicit lane origin -> destination (sites) in ``path``'s lanes.csv."""
    lanes_csv = path / "lanes.csv"
    text = lanes_csv.read_text().splitlines()
    header = text[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in text[1:]]
    for r in rows:
        r["allowed"] = "false" if (r["origin"], r["destination"]) == (origin, destination) else "true"
    cols = [*header, "allowed"] if "allowed" not in header else header
    lanes_csv.write_text("\n".join([",".join(cols), *[",".join(str(r.get(c, "")) for c in cols) for r in rows]]) + "\n")


def test_clustered_relaxation_screens_and_bounds(tmp_path: Path) -> None:
    """Screen and bound with the collection points in one cluster, built as a relaxation: the
    micro instance's 10 t split into C0, C1 (5 t each, same lanes). The cluster reaches P0 at 0 and
    P1 at 1 per t, like both members: relaxed optimum P1, 60 (as the full model). The full model over
    P1 alone gives 60; the bound is the relaxed MIP's 60: gap 0, optimal; the LP is not solved."""
    path = _two_customers(tmp_path, np.array([[0.0, 0.0], [1.0, 1.0]]))
    sol = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(60.0)
    assert open_facilities(sol) == {"P1"}
    assert sol.summary["bound"] == pytest.approx(60.0)
    assert sol.status == "optimal"
    h = sol.summary["heuristic"]
    assert (h["screen"], h["aggregate"], h["screened"], h["closed"]) == ("clustered relaxation", 1, 1, 1)
    assert h["lp_bound"] is None and h["relaxed_bound"] == pytest.approx(60.0)
    assert h["bound_source"] == "clustered relaxation's MIP bound"
    assert h["start"] == "plan"  # the relaxed plan's levels
    assert h["relaxation"]["clusters"] == 1 and h["relaxation"]["holds"]
    assert "aggregation" not in sol.summary  # the plan is the full model's, not split from clusters


def test_clustered_relaxation_takes_the_members_least_cost(tmp_path: Path) -> None:
    """Members with different lane costs to P1: C0 1 per t, C1 3 per t (P0 free for both). Full
    model: P1 alone 50 + 5 x 1 + 5 x 3 = 70, P0 alone 100, both 150: optimum P1, 70. The relaxed
    cluster ships its 10 t to P1 at min(1, 3) = 1 per t: 60 (the weighted-mean aggregation would give
    the exact 70, which is no bound in general). Reported: plan 70 (P1), bound 60, gap 10/70."""
    path = _two_customers(tmp_path, np.array([[0.0, 0.0], [1.0, 3.0]]))
    sol = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(70.0)
    assert open_facilities(sol) == {"P1"}
    assert sol.summary["bound"] == pytest.approx(60.0)
    assert sol.summary["mip_gap"] == pytest.approx(10.0 / 70.0)
    assert sol.status == "feasible"
    assert no.solve(path).objective == pytest.approx(70.0)  # the full model's optimum, for the record


def test_clustered_relaxation_caps_the_union_of_the_members_lanes(tmp_path: Path) -> None:
    """C1's lane to P1 forbidden (C0's at 1 per t, P0 free for both). Full model: C1 can only go
    to P0, so P0 alone, 100 (P0 + P1: 150). The cluster reaches P1 through C0 (union of the
    members' lanes), but that lane carries at most C0's 5 t (``member_reach``): P1 alone cannot take
    the cluster's 10 t, so the relaxed optimum is P0 alone, 100 = the bound = the optimum (without
    the cap the cluster sent all 10 t to P1: relaxed optimum 60, a bound 40 below). The screen keeps
    P0, closes P1, and the restricted plan P0, 100, meets the bound: gap 0, proven."""
    path = _two_customers(tmp_path, np.array([[0.0, 0.0], [1.0, 1.0]]))
    _forbid(path, "C1", "S1")
    assert no.solve(path).objective == pytest.approx(100.0)
    sol = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0))
    h = sol.summary["heuristic"]
    assert h["relaxed_bound"] == pytest.approx(100.0)
    assert (h["screened"], h["kept"], h["closed"]) == (1, 1, 1)
    assert sol.objective == pytest.approx(100.0)
    assert open_facilities(sol) == {"P0"}
    assert sol.summary["bound"] == pytest.approx(100.0)
    assert sol.status == "optimal"
    assert h["bound_source"] == "clustered relaxation's MIP bound"
    assert h["start"] == "plan"


def test_member_reach_caps_cluster_lanes_at_the_members_bounds(tmp_path: Path) -> None:
    """The same instance: the cluster's lane to P1 (S1) gets U = C0's 5 t (C1 has no lane there),
    its lane to P0 (S0) U = 5 + 5 = 10 t (the cluster's own bound, min(10 t supply, 100 t capacity),
    is no smaller)."""
    from network_opt.inputs.load import load
    from network_opt.model.data import prepare
    from network_opt.model.relax import member_reach, relaxed_aggregate

    path = _two_customers(tmp_path, np.array([[0.0, 0.0], [1.0, 1.0]]))
    _forbid(path, "C1", "S1")
    full = prepare(load(path))
    inst, relax = relaxed_aggregate(full.inst, 1, full.lanes)
    d = prepare(inst)
    cap = member_reach(full, d, relax.clustering.cluster)
    eol = (d.flows["commodity"] == "eol_packs").to_numpy()
    got = dict(zip(d.flows.loc[eol, "destination"], cap[eol], strict=True))
    assert got == pytest.approx({"P0": 10.0, "P1": 5.0})
    assert dict(zip(d.flows.loc[eol, "destination"], d.flows.loc[eol, "upper_bound_t"], strict=True)) == \
        pytest.approx({"P0": 10.0, "P1": 10.0})  # before the cap: the cluster's supply


def test_cover_and_reaching_plan(tmp_path: Path) -> None:
    """The screen's repairs on the same instance: C0 reaches P0 and P1, C1 only P0. Kept {P1}: the
    cover adds P0 (C1's recycler). A plan opening P1 in 2025 gets P0 at its smallest level from
    2025; a plan opening P0 needs nothing (both reach it)."""
    import pandas as pd

    from network_opt.inputs.load import load
    from network_opt.model.data import prepare
    from network_opt.model.screen import cover, reaching_plan

    path = _two_customers(tmp_path, np.array([[0.0, 0.0], [1.0, 1.0]]))
    _forbid(path, "C1", "S1")
    d = prepare(load(path))
    assert cover(d, {"P1"}) == {"P0"}
    assert cover(d, {"P0"}) == set()
    plan = pd.DataFrame({"facility": ["P1"], "investment_period": [2025], "period": [2025], "open": [True],
                         "level": ["only"], "modules": [0]})
    fixed = reaching_plan(d, plan, {"P0", "P1"})
    assert sorted(fixed.loc[fixed["open"], "facility"]) == ["P0", "P1"]
    assert fixed.loc[fixed["facility"] == "P0", "level"].tolist() == ["only"]
    assert reaching_plan(d, plan, {"P1"}) is plan  # nothing allowed reaches C1: left to the fallbacks
    assert reaching_plan(d, plan.assign(facility="P0"), {"P0", "P1"}).shape[0] == 1


def test_capacity_shortfall_by_maximum_flow() -> None:
    """Items a (5 t, lanes to P0 and P1) and b (5 t, lane to P1 only). P1 alone at 6 t: at most 6 of
    the 10 t placed, 4 short, both items stuck (a's lane to P0 leads nowhere open). P0 (100 t) too:
    a goes to P0, b to P1, nothing short. P0 alone: b reaches nothing, its 5 t short, b stuck; a is
    placed."""
    import pandas as pd

    from network_opt.model.screen import capacity_shortfall

    supply = pd.Series({"a": 5.0, "b": 5.0})
    lanes = pd.DataFrame({"item": ["a", "a", "b"], "destination": ["P0", "P1", "P1"]})
    short, stuck = capacity_shortfall(supply, lanes, pd.Series({"P1": 6.0}))
    assert short == pytest.approx(4.0) and stuck == {"a", "b"}
    short, stuck = capacity_shortfall(supply, lanes, pd.Series({"P0": 100.0, "P1": 6.0}))
    assert short == pytest.approx(0.0) and stuck == set()
    short, stuck = capacity_shortfall(supply, lanes, pd.Series({"P0": 100.0}))
    assert short == pytest.approx(5.0) and stuck == {"b"}


def test_repairs_open_capacity_the_plan_cannot_route(tmp_path: Path) -> None:
    """C0 and C1, 5 t each; C0 reaches P0 (100 t) and P1 (6 t), C1 only P1. Every point reaches a
    recycler of the plan "P1" or of the kept set {P1}, but 10 t cannot go through 6 t: 4 t short,
    and only P0 can take C0's 5 t, so the cover keeps P0 and the plan's repair opens it from 2025
    (its one level). A plan with P0 and P1 places all: unchanged. Where packs may stay uncollected,
    a shortfall is a plan too: nothing is added. The restricted heuristic then
    finds the optimum (P0 alone cannot serve C1): both open, 100 + 50 = 150 with free lanes."""
    import pandas as pd

    from network_opt.inputs.load import load
    from network_opt.model.data import prepare
    from network_opt.model.screen import cover, reaching_plan

    path = cflp_instance(tmp_path, [5.0, 5.0], [100.0, 6.0], FIXED, np.zeros((2, 2)))
    yaml = path / "instance.yaml"
    yaml.write_text(yaml.read_text().replace("explicit_lanes_only: true", "explicit_lanes_only: false"))
    _forbid(path, "C1", "S0")
    d = prepare(load(path))
    assert cover(d, {"P1"}) == {"P0"}
    assert cover(d, {"P0", "P1"}) == set()
    plan = pd.DataFrame({"facility": ["P1"], "investment_period": [2025], "period": [2025], "open": [True],
                         "level": ["only"], "modules": [0]})
    fixed = reaching_plan(d, plan, {"P0", "P1"})
    assert sorted(fixed.loc[fixed["open"], "facility"]) == ["P0", "P1"]
    both = pd.concat([plan, plan.assign(facility="P0")], ignore_index=True)
    assert reaching_plan(d, both, {"P0", "P1"}) is both
    assert reaching_plan(d, plan, {"P1"}) is plan  # nothing allowed can take the 4 t: left to the fallbacks
    escape = prepare(load(path).with_settings({"uncollected.allowed": True}))
    assert cover(escape, {"P1"}) == set()  # 4 t may stay uncollected: nothing to repair
    assert reaching_plan(escape, plan, {"P0", "P1"}) is plan
    sol = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(150.0)
    assert open_facilities(sol) == {"P0", "P1"}
    assert no.solve(path).objective == pytest.approx(150.0)


@pytest.mark.parametrize(("neighbours", "kept", "objective", "bound"), [
    ([], 1, 100.0, 10.0),  # the default keeps no neighbour (test_filter_drops_the_optimal_site_gap_visible)
    (["--heuristic-neighbours", "0"], 1, 100.0, 10.0),
    (["--heuristic-neighbours", "1"], 2, 60.0, 60.0),  # test_neighbour_brings_the_optimal_site_back
])
def test_cli_writes_the_true_gap(tmp_path: Path, neighbours: list[str], kept: int, objective: float,
                                 bound: float) -> None:
    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["solve", str(micro(tmp_path / "inst", linking=False)), "--out", str(out),
                                      "--heuristic", *neighbours, "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"] == pytest.approx(objective)
    assert summary["bound"] == pytest.approx(bound)
    assert summary["mip_gap"] == pytest.approx((objective - bound) / objective, abs=1e-9)
    assert summary["heuristic"]["kept"] == kept
    assert summary["heuristic"]["neighbours"] == kept - 1


def test_no_plan_in_time_still_writes_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the restricted MIP ends without a plan (here made so: its outcome stripped of the plan
    and marked a time limit), the heuristic's bound of the full model (the clustered relaxation's,
    60 on this instance) is not lost: exit 4, summary.json alone in --out with the bound and the
    heuristic's record, no result table, and the message names the bound. Without any bound
    (stripped too) nothing is written."""
    import network_opt.runs.pipeline as pipeline
    from network_opt.solver.status import SolveStatus, Termination

    real = pipeline.heuristic_solve
    keep_bound = True

    def no_plan(*args: object, **kwargs: object) -> object:
        outcome, hm, t, record = real(*args, **kwargs)  # type: ignore[arg-type]
        outcome.status, outcome.objective, outcome.mip_gap = SolveStatus.NO_SOLUTION, None, None
        outcome.termination = Termination.TIME_LIMIT
        if not keep_bound:
            outcome.bound = None
        return outcome, hm, t, record

    monkeypatch.setattr(pipeline, "heuristic_solve", no_plan)
    path = _two_customers(tmp_path / "inst", np.array([[0.0, 0.0], [1.0, 1.0]]))
    out = tmp_path / "res"
    args = ["solve", str(path), "--out", str(out), "--heuristic", "--aggregate", "1", "--heuristic-neighbours", "0",
            "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output
    assert "the optimum is at least 60.00" in result.output and "clustered relaxation's MIP bound" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "no_solution" and summary["objective"] is None
    assert summary["bound"] == pytest.approx(60.0)
    assert summary["heuristic"]["relaxed_bound"] == pytest.approx(60.0)
    assert not (out / "flows.csv").exists() and not (out / "facilities.csv").exists()

    keep_bound = False
    bare = tmp_path / "bare"
    result = CliRunner().invoke(app, [*args[:3], str(bare), *args[4:]])
    assert result.exit_code == 4, result.output
    assert "nothing written" in result.output and not bare.exists()


def test_capacity_reach_gives_the_bound_without_links(tmp_path: Path) -> None:
    """model.capacity_reach without strong linking: P0's reach is the customer's 10 t, so its
    capacity row x0 <= 100 y0 becomes x0 <= min(100, 10) y0 = 10 y0 (P1's: min(10, 10), unchanged).
    The LP then prices P0 at 100/10 = 10 per t and P1 at 50/10 + 1 = 6: 10 t on P1, y1 = 1, LP = 60
    (10 without the option, test_filter_drops_the_optimal_site_gap_visible). The screen keeps P1
    only: plan 60, bound 60, gap 0, where the same run without the option reports 100 and 0.9."""
    path = micro(tmp_path, linking=False)
    yaml = path / "instance.yaml"
    yaml.write_text(yaml.read_text() + "  capacity_reach: true\n")
    sol = run_solve(path, heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(60.0)
    assert open_facilities(sol) == {"P1"}
    assert sol.summary["bound"] == pytest.approx(60.0)
    assert sol.summary["mip_gap"] == pytest.approx(0.0, abs=1e-9)
    assert sol.status == "optimal"
    assert sol.summary["heuristic"]["lp_bound"] == pytest.approx(60.0)


def test_time_limit_covers_both_solves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--time-limit T bounds the LP and the restricted MIP together: the LP gets at most T x LP_SHARE,
    the MIP T less the LP's seconds (at least MIN_LEFT_S). The LP's clock is replaced by a fake one
    (the LP "takes" 30 s)."""
    import network_opt.runs.heuristic as heuristic

    seen: list[float | None] = []
    real_solve = heuristic.solve_model
    real_lp = heuristic.lp_solution
    clock = [0.0]

    def fake_clock() -> float:
        return clock[0]

    lp_limits: list[float | None] = []

    def slow_lp(hm, options):
        lp_limits.append(options.time_limit)
        clock[0] += 30.0
        return real_lp(hm, options)

    def spy(m, options, **kw):
        seen.append(options.time_limit)
        return real_solve(m, options, **kw)

    monkeypatch.setattr(heuristic.time, "perf_counter", fake_clock)
    monkeypatch.setattr(heuristic, "lp_solution", slow_lp)
    monkeypatch.setattr(heuristic, "solve_model", spy)
    sol = run_solve(micro(tmp_path / "a", linking=False), no.SolveOptions(time_limit=100.0),
                    heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(100.0)
    sol = run_solve(micro(tmp_path / "b", linking=False), no.SolveOptions(time_limit=20.0),
                    heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(100.0)
    assert seen == [pytest.approx(70.0), pytest.approx(heuristic.MIN_LEFT_S)]
    # the LP may use half the limit at most, so the restricted MIP keeps the other half
    assert lp_limits == [pytest.approx(50.0), pytest.approx(10.0)]
    assert heuristic.remaining(no.SolveOptions(), 30.0).time_limit is None


def test_lp_that_does_not_finish_leaves_a_plan_without_a_bound(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """When the LP relaxation stops at its share of the time limit (faked: it returns no solution),
    nothing is screened (every facility kept, i.e. the full model), the MIP still finds the optimum
    (P1 alone, 60) and neither bound nor gap is claimed beyond the full MIP's own; the summary says why."""
    import network_opt.runs.heuristic as heuristic

    monkeypatch.setattr(heuristic, "lp_solution", lambda hm, options: (None, None, None))
    sol = run_solve(micro(tmp_path / "a", linking=False), no.SolveOptions(time_limit=100.0),
                    heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(60.0)
    assert open_facilities(sol) == {"P1"}
    record = sol.summary["heuristic"]
    assert record["closed"] == 0 and record["lp_bound"] is None
    assert "did not finish" in record["note"] and "--aggregate" in record["note"]


@pytest.mark.parametrize("args, message", [
    (["--heuristic-neighbours", "0"], "--heuristic-neighbours needs --heuristic"),
    (["--decomposition", "benders", "--start", "lp-round"], "--start lp-round cannot be combined"),
])
def test_cli_refuses_options_it_would_ignore(tmp_path: Path, args: list[str], message: str) -> None:
    """Options that would be silently ignored are refused (exit 2) before anything is written."""
    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["solve", str(micro(tmp_path / "inst", linking=False)), "--out", str(out),
                                      "--quiet", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def _p1_levels(folder: Path, extra: tuple[tuple[str, float, float], ...]) -> tuple:
    """The micro instance with strong linking and P1's ``extra`` levels (name, capacity t, fixed
    cost), prepared and built: its data, model and HiGHS model, and the plan "P1 small" in 2025."""
    import pandas as pd

    from network_opt.inputs.load import load
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.solver.handoff import HighsModel

    path = micro(folder, linking=True)
    levels = path / "facility_levels.csv"
    header = levels.read_text().splitlines()[0].split(",")
    for name, cap, fixed in extra:
        row = {"facility": "P1", "level": name, "capacity_t": str(cap), "fixed_cost_per_year": str(fixed)}
        levels.write_text(levels.read_text() + ",".join(row.get(c, "") for c in header) + "\n")
    d = prepare(load(path))
    m = build_model(d)
    plan = pd.DataFrame({"facility": ["P1"], "investment_period": [2025], "period": [2025], "open": [True],
                         "level": ["small"], "modules": [0]})
    return d, m, HighsModel(m), plan


def test_plan_start_sizes_levels_the_full_model_cannot_fill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A plan from another model (e.g. the clustered relaxation) may open a level the full model's
    routing overfills. Micro instance (10 t, P0 100 t fixed 100 free lanes, P1 10 t fixed 50 at 1
    per t) with three more levels at P1: "small" 5 t fixed 30, "mid" 8 t fixed 40, "huge" 1,000 t
    fixed 500. The plan "P1 small" leaves 5 t with nowhere to go (infeasible); its completion
    (``reaching_plan``) raises P1 to "only" by a maximum flow, a feasible "plan". Uncompleted, the
    elastic LP finds P1 5 t short (P0, closed by the plan, costs ten times more to go over), so P1
    is raised to its smallest level holding 5 + 5 = 10 t, "only": 50 + 10 = 60 ("plan_repaired"),
    which the MIP then receives (HiGHS logs "Assessing feasibility of MIP solution"). Without the
    repair, it is sized by the full model's LP (P0 closed; the LP opens P1 to carry 10 t), rounded
    to the smallest level covering 10 t: "only" again, 60 ("plan_sized"). Without the sizing too
    (its LP out of time), one level up is "mid" (8 t: infeasible again), then the largest, "huge":
    500 + 10 = 510 ("plan_upgraded"). A plan HiGHS cannot route at any level of its facilities (P1
    for C1 when C1's lane to P1 is forbidden) falls back to every facility open ("open_all")."""

    import network_opt.solver.carry_over as carry_over
    from network_opt.inputs.load import load
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.model.screen import reaching_plan
    from network_opt.solver.carry_over import plan_start
    from network_opt.solver.handoff import HighsModel
    from network_opt.solver.options import SolveOptions, run_highs

    d, m, hm, plan = _p1_levels(tmp_path / "a", (("small", 5.0, 30.0), ("mid", 8.0, 40.0), ("huge", 1000.0, 500.0)))
    # the plan completed first: 10 t through P1 "small" (5 t) leaves 5 t stuck; P1 is raised to its
    # smallest level holding 10 t, "only", and nothing is added (P1 "huge" could take it all)
    completed = reaching_plan(d, plan, {"P0", "P1"})
    assert completed.loc[completed["open"], ["facility", "level"]].values.tolist() == [["P1", "only"]]
    assert plan_start(m, d, hm, completed, SolveOptions()) == "plan"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(60.0)
    hm = HighsModel(m)
    assert plan_start(m, d, hm, plan, SolveOptions()) == "plan_repaired"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(60.0)
    log: list[str] = []
    hm.h.setOptionValue("output_flag", True)
    hm.h.setOptionValue("log_to_console", False)
    hm.h.cbLogging.subscribe(lambda e: log.append(e.message))
    run_highs(hm)
    assert "Assessing feasibility of MIP solution" in "".join(log)
    assert hm.h.getInfo().objective_function_value == pytest.approx(60.0)

    monkeypatch.setattr(carry_over, "repaired_plan_start", lambda *args: None)
    hm = HighsModel(m)
    assert plan_start(m, d, hm, plan, SolveOptions()) == "plan_sized"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(60.0)
    monkeypatch.setattr(carry_over, "sized_plan_start", lambda *args: False)
    hm = HighsModel(m)
    assert plan_start(m, d, hm, plan, SolveOptions()) == "plan_upgraded"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(510.0)
    monkeypatch.undo()

    unreachable = _two_customers(tmp_path / "b", np.array([[0.0, 0.0], [1.0, 1.0]]))
    _forbid(unreachable, "C1", "S1")
    d = prepare(load(unreachable))
    m = build_model(d)
    hm = HighsModel(m)
    plan["level"] = "only"
    assert plan_start(m, d, hm, plan, SolveOptions()) == "open_all"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(150.0)


def test_relaxed_screen_reads_only_the_facilities_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The screen needs the clustered plan's facilities table alone: with every other table of
    results.tables made to fail, relaxed_screen still gives the case of
    test_clustered_relaxation_screens_and_bounds: the cluster (C0 + C1, 10 t) reaches P0 at 0 and P1
    at 1 per t; relaxed optimum P1 (fixed 50 + 10 x 1 = 60, P0 costs 100): opened {P1}, bound 60,
    plan P1 open at its level "only" (10 t of capacity, 10 t through it), P0 closed. The same table
    comes out of facilities_table on its own and of extract on the solved micro instance."""
    from network_opt.common.progress import Progress
    from network_opt.inputs.load import load
    from network_opt.model.data import prepare
    from network_opt.results import tables
    from network_opt.results.tables import facilities_table
    from network_opt.runs.heuristic import relaxed_screen
    from network_opt.solver.options import SolveOptions

    path = _two_customers(tmp_path / "a", np.array([[0.0, 0.0], [1.0, 1.0]]))
    full = prepare(load(path))

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the screen does not need this table")

    with monkeypatch.context() as patch:
        for name in ("_flows", "_collection", "_costs", "_targets", "_materials", "_cascade", "_emissions", "_stock"):
            patch.setattr(tables, name, refuse)
        screen = relaxed_screen(full, 1, SolveOptions(), Progress("quiet"))
    assert screen.opened == {"P1"} and screen.bound == pytest.approx(60.0) and not screen.infeasible
    assert screen.plan is not None
    plan = screen.plan.set_index("facility")
    row = of_type(pd.Series, plan.loc["P1", ["open", "level", "capacity_t", "throughput_t"]])
    assert row.tolist() == [True, "only", 10.0, 10.0]
    assert not plan.loc["P0", "open"] and plan.loc["P0", "throughput_t"] == 0.0

    sol = no.solve(micro(tmp_path / "b", linking=True))
    assert sol.model is not None and sol.data is not None
    alone = facilities_table(sol.model, sol.data)  # read from the Pyomo variables
    assert alone.equals(sol["facilities"])
    assert alone.set_index("facility").loc["P1", "utilisation"] == pytest.approx(1.0)


def test_relaxed_screen_starts_its_mip_from_its_lp_rounded(tmp_path: Path) -> None:
    """The clustered MIP starts from the clustered LP rounded (``--start`` auto or lp_round), not from
    every facility open. Hand-solved: the cluster (C0 + C1, 10 t) reaches P0 (100 t, fixed 100) at 0
    and P1 (6 t here, fixed 50) at 1 per t; with strong linking (x <= min(10, 100) y0, x <= 6 y1) the LP
    fills P1 first (50 / 6 + 1 = 9.33 per t against P0's 100 / 10 = 10): y1 = 1, x1 = 6 (56), y0 = 0.4,
    x0 = 4 (40): LP bound **96**. Rounded at 0.5 it opens P1 alone, which cannot hold 10 t; every
    facility the LP uses (P0 and P1) gives 150, the start ("lp_round"); the MIP's optimum is P0
    alone, **100**. With ``--start none`` no LP is solved and HiGHS starts on its own; with open_all
    the MIP starts from every facility open, as before. A MIP that stops before its root LP (no
    bound) leaves the LP's 96 as the bound."""
    from network_opt.common.progress import Progress
    from network_opt.inputs.load import load
    from network_opt.model.data import prepare
    from network_opt.runs import heuristic as heuristic_module
    from network_opt.runs.heuristic import RELAXED_LP, RELAXED_MIP, relaxed_screen
    from network_opt.solver.options import SolveOptions

    path = cflp_instance(tmp_path, [5.0, 5.0], [100.0, 6.0], FIXED, np.array([[0.0, 0.0], [1.0, 1.0]]))
    yaml = path / "instance.yaml"
    yaml.write_text(yaml.read_text().replace("explicit_lanes_only: true", "explicit_lanes_only: false"))
    full = prepare(load(path))
    for start in ("auto", "lp_round"):
        screen = relaxed_screen(full, 1, SolveOptions(mip_gap=0.0, time_limit=60.0, start=start), Progress("quiet"))
        assert screen.record["lp_bound"] == pytest.approx(96.0)
        assert screen.record["start"] == "lp_round"
        # the plans near the rounding: y1 = 1 in the LP and rounded, so held open; y0 (0.4, rounded
        # to 1) free. P1's 6 t cannot hold the 10 t, so P0 stays open: 150, no better than the rounding
        near = of_type(dict, screen.record["neighbourhood"])
        assert (near["held"], near["integers"]) == (1, 2)
        assert near["rounded"] == pytest.approx(150.0) and near["objective"] == pytest.approx(150.0)
        assert near["start"] == "lp_round"
        assert screen.record["objective"] == pytest.approx(100.0) and screen.opened == {"P0"}
        assert screen.bound == pytest.approx(100.0) and screen.source == RELAXED_MIP
    alone = relaxed_screen(full, 1, SolveOptions(mip_gap=0.0, time_limit=60.0, start="none"), Progress("quiet"))
    assert "lp_bound" not in alone.record and alone.record["start"] is None
    assert "neighbourhood" not in alone.record
    unlimited = relaxed_screen(full, 1, SolveOptions(mip_gap=0.0), Progress("quiet"))
    assert "neighbourhood" not in unlimited.record  # searched only within a time limit
    assert unlimited.record["start"] == "lp_round" and unlimited.opened == {"P0"}
    assert alone.record["objective"] == pytest.approx(100.0) and alone.opened == {"P0"}
    every = relaxed_screen(full, 1, SolveOptions(mip_gap=0.0, time_limit=60.0, start="open_all"), Progress("quiet"))
    assert every.record["start"] == "open_all" and every.opened == {"P0"}

    # a MIP stopped before its root LP reports no bound: the LP's 96 (<= 100) bounds the full model
    real = heuristic_module.solve_model

    def no_bound(*args: Any, **kwargs: Any) -> Any:
        outcome = real(*args, **kwargs)
        outcome.bound = None
        return outcome

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(heuristic_module, "solve_model", no_bound)
        early = relaxed_screen(full, 1, SolveOptions(mip_gap=0.0, time_limit=60.0), Progress("quiet"))
    assert early.bound == pytest.approx(96.0) and early.source == RELAXED_LP


def test_plan_start_upgrades_to_the_largest_level(tmp_path: Path) -> None:
    """LARGEST (None) as ``up`` of plan_columns is each facility's largest level, whatever the level
    chosen. Micro instance (10 t; P0 100 t fixed 100; P1 at 1 per t) with P1's levels "small" 3 t
    (fixed 20), "mid" 5 t (fixed 30) and "only" 10 t (fixed 50). The plan "P1 small": one place up is
    "mid", the largest "only". plan_start finds small 7 t short and raises P1 to its smallest level
    holding 3 + 7 = 10 t, "only": 50 + 10 x 1 = 60, "plan_repaired" (the steps after it:
    test_plan_start_sizes_levels_the_full_model_cannot_fill)."""

    from network_opt.solver.carry_over import LARGEST, PLAN_UPGRADES, plan_columns, plan_start
    from network_opt.solver.options import SolveOptions

    assert PLAN_UPGRADES == (1, LARGEST) and LARGEST is None
    d, m, hm, plan = _p1_levels(tmp_path, (("small", 3.0, 20.0), ("mid", 5.0, 30.0)))
    facility, level = d.levels["facility"].tolist(), d.levels["level"].tolist()

    def opened(up: int | None) -> set[tuple[str, str]]:
        values = plan_columns(m, d, hm, plan, up)
        return {(facility[j], level[j]) for (j, _q), v in m.level_open.items() if values.get(hm.cols[id(v)]) == 1.0}

    assert opened(0) == {("P1", "small")}
    assert opened(1) == {("P1", "mid")}
    assert opened(LARGEST) == {("P1", "only")}
    assert opened(5) == {("P1", "only")}  # past the largest: the largest
    assert plan_start(m, d, hm, plan, SolveOptions()) == "plan_repaired"
    assert hm.start_values is not None and hm.objective_of(hm.start_values) == pytest.approx(60.0)


@pytest.mark.parametrize("limit", [None, 64 * 2**30])
def test_restricted_mip_under_a_memory_limit_runs_no_sub_mips(tmp_path: Path, limit: int | None) -> None:
    """Under --memory-limit the restricted MIP (something closed) runs without HiGHS's sub-MIP
    heuristics, which the memory guard cannot stop; they are back on after it, and on without a
    limit. The plan is the hand-worked one either way (P0 alone, 100: the LP screen keeps P0 only)."""
    from network_opt.runs import heuristic as heuristic_module
    from network_opt.runs.heuristic import SUB_MIP_HEURISTICS

    seen: list[dict[str, bool]] = []
    highs: list[Any] = []
    real = heuristic_module.solve_model

    def spy(m: Any, options: Any, solver: Any = None, **kwargs: Any) -> Any:
        seen.append({name: solver.h.getOptionValue(name)[1] for name in SUB_MIP_HEURISTICS})
        highs.append(solver.h)
        return real(m, options, solver=solver, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(heuristic_module, "solve_model", spy)
        sol = run_solve(micro(tmp_path, linking=False), heuristic=Heuristic(neighbours=0), memory_limit=limit,
                        force=True)
    assert sol.objective == pytest.approx(100.0) and sol.summary["heuristic"]["closed"] == 1
    assert len(seen) == 1 and set(seen[0].values()) == ({False} if limit else {True})
    assert all(highs[0].getOptionValue(name)[1] for name in SUB_MIP_HEURISTICS)  # restored: HiGHS's defaults


def test_refine_drops_a_facility_the_clustered_plan_opens_needlessly(tmp_path: Path) -> None:
    """:func:`network_opt.runs.heuristic.refine` on a hand-solved model: one customer of 10 t, plants
    P0, P1, P2 (capacity 100 each, fixed 50, 80, 200, 1 per t from the customer). The plan with P0
    and P1 forced open costs 50 + 80 + 10 = 140; searched again over {P0, P1} (P2 closed) from that
    plan, the best is P0 alone, 50 + 10 = 60. The refinement returns that plan, and its record says
    where it started."""
    import time

    from network_opt.common.progress import Progress
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.runs.heuristic import refine
    from network_opt.solver.handoff import HighsModel
    from network_opt.solver.highs import solve_model

    folder = cflp_instance(tmp_path, [10.0], [100.0, 100.0, 100.0], [50.0, 80.0, 200.0], np.array([[1.0]] * 3))
    d = prepare(no.load(folder))
    m = build_model(d)
    hm = HighsModel(m)
    facility = d.levels["facility"].tolist()
    forced = np.asarray([hm.cols[id(v)] for (j, _p), v in m.level_open.items() if facility[j] in ("P0", "P1")],
                        dtype=np.int32)
    hm.h.changeColsBounds(len(forced), forced, np.ones(len(forced)), np.ones(len(forced)))
    first = solve_model(m, no.SolveOptions(), solver=hm, data=d)
    assert first.objective == pytest.approx(140.0)
    hm.h.changeColsBounds(len(forced), forced, np.zeros(len(forced)), np.ones(len(forced)))  # free again
    plan, record = refine(m, d, hm, no.SolveOptions(time_limit=60.0), 140.0, {"P0", "P1"}, time.perf_counter(),
                          Progress("quiet"))
    assert plan is not None
    assert set(plan.loc[plan["open"], "facility"]) == {"P0"}
    assert record["objective"] == pytest.approx(60.0) and record["from"] == pytest.approx(140.0)
    assert record["facilities"] == 2


def test_refine_needs_a_time_limit_and_a_facility_to_close(tmp_path: Path) -> None:
    """Without a time limit, or when the plan opens every facility, the refinement does not run and
    says why; the plan stays the clustered MIP's."""
    import time

    from network_opt.common.progress import Progress
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.runs.heuristic import refine
    from network_opt.solver.handoff import HighsModel
    from network_opt.solver.highs import solve_model

    d = prepare(no.load(micro(tmp_path, linking=False)))
    m = build_model(d)
    hm = HighsModel(m)
    assert solve_model(m, no.SolveOptions(), solver=hm, data=d).objective == pytest.approx(60.0)
    plan, record = refine(m, d, hm, no.SolveOptions(), 60.0, {"P1"}, time.perf_counter(), Progress("quiet"))
    assert plan is None and record["note"] == "not run: no time limit"
    plan, record = refine(m, d, hm, no.SolveOptions(time_limit=60.0), 60.0, {"P0", "P1"}, time.perf_counter(),
                          Progress("quiet"))
    assert plan is None and record["note"] == "not run: the plan opens every facility"
