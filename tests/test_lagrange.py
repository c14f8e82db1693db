"""The Lagrangian bound by period (network_opt.solver.lagrange): hand-solved, against independent
solves of generated instances (LP <= bound <= optimum), and through ``solve --heuristic --lagrangian``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_multi_period import growth_instance
from typer.testing import CliRunner

import network_opt as no
import network_opt.cli  # registers the commands
from network_opt.cli.app import app
from network_opt.inputs.load import load
from network_opt.model.build import build_model
from network_opt.model.data import ModelData, prepare
from network_opt.runs.heuristic import Heuristic
from network_opt.runs.pipeline import solve as run_solve
from network_opt.solver import lagrange
from network_opt.solver.block_pool import BlockTask, MipPool
from network_opt.solver.handoff import HighsModel
from network_opt.solver.lagrange import linking_rows, multipliers, period_bound
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation

H_100 = [{"level": "a", "capacity_t": 100, "fixed_cost_per_year": 50, "opening_cost": 100}]


def _held(path: Path) -> tuple[HighsModel, ModelData]:
    d = prepare(load(path))
    return HighsModel(build_model(d)), d


@pytest.mark.parametrize("solver", ["ipm", "simplex", "choose"])
def test_the_lp_relaxation_by_each_solver_gives_the_hand_solved_bound_and_restores_the_model(
        tmp_path: Path, solver: str) -> None:
    """The two-period case below (LP 3,100, optimum 3,200) by interior point (the default),
    simplex and HiGHS's choice: the same bound and the same vertex (H at y = 0.5 in both years,
    the LP's only optimum); afterwards HiGHS's solver option is back to what it was and the
    integers are integer again (the MIP then solves to 3,200 on the same HiGHS model)."""
    path = growth_instance(tmp_path, {2025: 150, 2026: 150}, H_100)
    hm, d = _held(path)
    hm.h.setOptionValue("solver", "simplex")
    bound, x = lp_relaxation(hm, SolveOptions(), solver)
    assert bound == pytest.approx(3100.0)
    assert x is not None
    facility = d.levels["facility"].tolist()
    m = hm.model
    h_open = [x[hm.cols[id(v)]] for (j, _p), v in m.level_open.items() if facility[j] == "H"]
    assert h_open == pytest.approx([0.5, 0.5])
    assert hm.h.getOptionValue("solver")[1] == "simplex"
    hm.h.setOptionValue("solver", "choose")
    hm.h.setOptionValue("output_flag", False)
    hm.h.run()
    assert hm.h.getInfo().objective_function_value == pytest.approx(3200.0)


def test_hand_solved_two_periods(tmp_path: Path) -> None:
    """150 t in 2025 and in 2026; P (existing, 100 t, 10 per t) and candidate H (100 t, fixed 50 a
    year, opening 100, 10 per t). Every tonne must go somewhere, so H opens in 2025: 300 t x 10 +
    2 x 50 + 100 = 3,200 (the optimum). The LP opens H at y = 0.5 in both years (50 t of 100):
    3,000 + 2 x 25 + 50 = 3,100. Each period's block alone must open H whole (50 t do not fit P),
    so the Lagrangian bound is 3,200: the LP's gap closed, in two blocks."""
    path = growth_instance(tmp_path, {2025: 150, 2026: 150}, H_100)
    assert no.solve(path).objective == pytest.approx(3200.0)
    hm, d = _held(path)
    assert lp_relaxation(hm, SolveOptions())[0] == pytest.approx(3100.0)
    result = period_bound(hm, d, SolveOptions(), None)
    assert result.lp_bound == pytest.approx(3100.0)
    assert result.bound == pytest.approx(3200.0)
    assert (result.blocks, result.proven) == (2, 2)
    assert sum(result.block_bounds) == pytest.approx(3200.0)  # no constant left: lambda.b and free columns 0 here


def test_one_period_gives_no_bound() -> None:
    """The toy instance has one period: no row links two, the model would be its own one block,
    whose MIP is no shortcut to a bound: none, with the reason (the LP's is kept)."""
    hm, d = _held(Path("instances/toy"))
    assert not linking_rows(hm, d).any()
    result = period_bound(hm, d, SolveOptions(), None)
    assert result.bound is None and result.note == "no rows link periods"
    assert result.lp_bound == pytest.approx(-1_807_879.88, abs=0.01)


def test_linking_rows_are_those_spanning_two_periods(tmp_path: Path) -> None:
    """The two-period case: rows tying 2025 to 2026 are the facility's continuity and capacity
    growth and the opening spend of 2026 (which reads both years' levels); every other row (supply,
    capacity, the 2025 opening spend, which reads 2025 alone) stays in its period's block."""
    hm, d = _held(growth_instance(tmp_path, {2025: 150, 2026: 150}, H_100))
    names = [c.parent_component().local_name for c in hm.row_constraints]
    linked = sorted((names[r], hm.row_constraints[r].index()) for r in np.flatnonzero(linking_rows(hm, d)))
    assert {n for n, _ in linked} <= {"facility_continuity", "capacity_growth", "opening_investment"}
    assert all(2026 in (i if isinstance(i, tuple) else (i,)) for _, i in linked), linked


def test_multipliers_keep_the_sign_of_a_finite_bound(tmp_path: Path) -> None:
    """A positive dual presses on a row's lower bound and a negative one on its upper bound; where
    that bound is infinite the multiplier is 0 (else the relaxed term could be positive); rows that
    do not link periods get none."""
    hm, d = _held(growth_instance(tmp_path, {2025: 150, 2026: 150}, H_100))
    link = linking_rows(hm, d)
    mm = hm.matrix
    rng = np.random.default_rng(0)
    duals = rng.choice([-2.0, 2.0], size=len(link))
    lam, lam_b = multipliers(hm, link, duals)
    assert np.all(lam[~link] == 0.0)
    assert np.all(np.isfinite(mm.row_lower[lam > 0])) and np.all(np.isfinite(mm.row_upper[lam < 0]))
    rhs = np.where(lam > 0, mm.row_lower, np.where(lam < 0, mm.row_upper, 0.0))
    assert lam_b == pytest.approx(float(lam @ rhs))


@pytest.mark.parametrize("seed", [1, 4, 5])
def test_bound_between_lp_and_optimum_on_generated_instances(tmp_path: Path, seed: int) -> None:
    """Against independent solves: on generated instances (12 points, 4 candidates, 3 periods, 2
    chemistries, second-life returns linking the years) the bound is at least the LP relaxation's
    and at most the MIP's proven optimum, and the model falls apart into one block per period."""
    from network_opt.datasets.generate import GeneratorSpec, generate

    spec = GeneratorSpec(seed=seed, collection_points=12, candidates=4, periods=3, chemistries=2, markets=2)
    path = generate(tmp_path / "gen", spec)
    z = no.solve(path, SolveOptions(mip_gap=0.0)).objective
    hm, d = _held(path)
    result = period_bound(hm, d, SolveOptions(), None)
    assert result.bound is not None and result.lp_bound is not None and z is not None
    tol = 1e-6 * abs(z)
    assert result.lp_bound - tol <= result.bound <= z + tol, (result.lp_bound, result.bound, z)
    assert result.blocks == 3 and result.proven == 3


def test_an_infeasible_model_has_no_bound(tmp_path: Path) -> None:
    """Seed 2 of the same shape is infeasible (found so by the MIP): its LP is too, and there is no
    bound, with the reason."""
    from network_opt.datasets.generate import GeneratorSpec, generate

    spec = GeneratorSpec(seed=2, collection_points=12, candidates=4, periods=3, chemistries=2, markets=2)
    hm, d = _held(generate(tmp_path / "gen", spec))
    result = period_bound(hm, d, SolveOptions(), None)
    assert result.bound is None and result.lp_bound is None
    assert "not solved to optimality" in result.note


def test_a_block_without_a_bound_leaves_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Half a sum is no bound: when one block ends without a dual bound, there is none (and why)."""
    hm, d = _held(growth_instance(tmp_path, {2025: 150, 2026: 150}, H_100))
    import network_opt.solver.block_pool as block_pool

    monkeypatch.setattr(block_pool, "block_result", lambda h, integer: (None, False, "Time limit reached"))
    result = period_bound(hm, d, SolveOptions(), None)
    assert result.bound is None and result.lp_bound == pytest.approx(3100.0)
    assert result.note == "period block 1 of 2 ended without a bound (Time limit reached)"


def _with_spare_candidate(folder: Path) -> Path:
    """The two-period case with a third recycler G (100 t, fixed 1,000 a year): never worth
    opening, so the LP does not use it and the screen closes it (the restricted model is then not
    the full one, and its MIP bound is no bound of the full model)."""
    path = growth_instance(folder, {2025: 150, 2026: 150}, H_100)
    for name, row in (("sites", "S3,S3,facility,0.0,0.0,,XX"),
                      ("facilities", "G,S3,recycler,T,candidate,10,"),
                      ("facility_levels", "G,a,100,1000,100"),
                      ("lanes", "C1,S3,,0")):
        table = path / f"{name}.csv"
        assert len(table.read_text().splitlines()[0].split(",")) == len(row.split(","))
        table.write_text(table.read_text() + row + "\n")
    return path


def test_heuristic_reports_the_lagrangian_bound(tmp_path: Path) -> None:
    """``--heuristic`` with a spare candidate G: the LP screen (no neighbours) keeps P and H, closes
    G, and the restricted MIP finds 3,200 (the optimum: G only adds cost). With ``--no-lagrangian``
    the bound is the LP's, 3,100 (gap 3.1 %); by default (the LP screen) the Lagrangian's, 3,200: gap 0."""
    path = _with_spare_candidate(tmp_path)
    assert no.solve(path).objective == pytest.approx(3200.0)
    plain = run_solve(path, heuristic=Heuristic(neighbours=0, lagrangian=False))
    assert plain.summary["heuristic"]["closed"] == 1
    assert plain.summary["bound"] == pytest.approx(3100.0)
    assert plain.summary["heuristic"]["lagrangian"] is None
    sol = run_solve(path, heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(3200.0)
    h = sol.summary["heuristic"]
    assert h["lagrangian"]["bound"] == pytest.approx(3200.0) and h["lagrangian"]["blocks"] == 2
    assert sol.summary["bound"] == pytest.approx(3200.0)
    assert h["bound_source"] == "Lagrangian relaxation by period of the full model"
    assert sol.summary["mip_gap"] == pytest.approx(0.0, abs=1e-9)


def test_heuristic_with_clusters_bounds_the_relaxation_both_ways(tmp_path: Path) -> None:
    """With ``aggregate`` (and ``lagrangian``: off by default there) the clustered relaxation is
    bounded both ways, by its MIP and by its Lagrangian; by default only by its MIP. The two-period
    case with generated lanes allowed (every site at one spot, so the
    explicit lanes' costs stand) in one cluster (one point: the relaxation is the model itself):
    both bounds are the optimum, 3,200; the larger is reported (the MIP's on a tie); gap 0."""
    path = _with_spare_candidate(tmp_path)
    yaml = path / "instance.yaml"
    yaml.write_text(yaml.read_text().replace("explicit_lanes_only: true", "explicit_lanes_only: false"))
    sol = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0, lagrangian=True))
    assert sol.objective == pytest.approx(3200.0)
    h = sol.summary["heuristic"]
    assert h["relaxation"]["lagrangian"]["bound"] == pytest.approx(3200.0)
    assert h["relaxation"]["bound"] == pytest.approx(3200.0)
    assert h["bound_source"] == "clustered relaxation's MIP bound"
    assert sol.summary["bound"] == pytest.approx(3200.0)
    default = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0))
    assert "lagrangian" not in default.summary["heuristic"]["relaxation"]
    assert default.summary["heuristic"]["lagrangian"] is None


@pytest.mark.parametrize("flag", ["--lagrangian", "--no-lagrangian"])
def test_cli_lagrangian_needs_heuristic(tmp_path: Path, flag: str) -> None:
    result = CliRunner().invoke(app, ["solve", "instances/toy", "--out", str(tmp_path / "o"), flag])
    assert result.exit_code == 2
    assert f"{flag} needs --heuristic" in result.output
    assert not (tmp_path / "o").exists()


def test_cli_no_lagrangian_keeps_the_lp_bound(tmp_path: Path) -> None:
    """``--heuristic --no-lagrangian`` on the case with a spare candidate writes the LP's bound."""
    import json

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["solve", str(_with_spare_candidate(tmp_path / "i")), "--out", str(out),
                                      "--heuristic", "--heuristic-neighbours", "0", "--no-lagrangian"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bound"] == pytest.approx(3100.0) and summary["heuristic"]["lagrangian"] is None


def test_time_limit_shares_with_the_lagrangian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --time-limit T the LP gets at most T x LP_SHARE, the Lagrangian T x LAGRANGE_SHARE from
    when it starts, the restricted MIP what is left. Clock faked: the LP "takes" 30 s and the
    Lagrangian 25 s of T = 100, so the Lagrangian is given 30 s and the MIP 45 s."""
    import network_opt.runs.heuristic as heuristic

    clock = [0.0]
    monkeypatch.setattr(heuristic.time, "perf_counter", lambda: clock[0])
    real_lp, real_bound, real_solve = heuristic.lp_solution, heuristic.period_bound, heuristic.solve_model
    given: dict[str, list[float | None]] = {"lp": [], "lagrangian": [], "mip": []}

    def slow_lp(hm, options):
        given["lp"].append(options.time_limit)
        clock[0] += 30.0
        return real_lp(hm, options)

    def slow_bound(hm, d, options, seconds, lp=None):
        given["lagrangian"].append(seconds)
        clock[0] += 25.0
        return real_bound(hm, d, options, seconds, lp=lp)

    def spy(m, options, **kw):
        given["mip"].append(options.time_limit)
        return real_solve(m, options, **kw)

    monkeypatch.setattr(heuristic, "lp_solution", slow_lp)
    monkeypatch.setattr(heuristic, "period_bound", slow_bound)
    monkeypatch.setattr(heuristic, "solve_model", spy)
    sol = run_solve(_with_spare_candidate(tmp_path), SolveOptions(time_limit=100.0),
                    heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(3200.0) and sol.summary["bound"] == pytest.approx(3200.0)
    assert given["lp"] == [pytest.approx(50.0)]
    assert given["lagrangian"] == [pytest.approx(heuristic.LAGRANGE_SHARE * 100.0)]
    assert given["mip"] == [pytest.approx(45.0)]


def test_a_stop_request_leaves_no_bound(tmp_path: Path) -> None:
    """A SIGINT before the blocks run (the LP already solved): no block runs, there is no bound, and
    the note says why; the caller goes on to keep what it has (the next phase sees the request)."""
    import os
    import signal
    import time

    from network_opt.common import interrupts
    from network_opt.solver.relaxation import lp_solution

    hm, d = _held(growth_instance(tmp_path, {2025: 150, 2026: 150}, H_100))
    lp, _x, duals = lp_solution(hm, SolveOptions())
    assert lp is not None and lp == pytest.approx(3100.0) and duals is not None
    with interrupts.handling(), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        result = period_bound(hm, d, SolveOptions(), None, lp=(lp, duals))
        assert interrupts.requested() == signal.SIGINT
    assert result.bound is None and result.note == "stopped on request" and result.block_bounds == []


def test_column_periods_map_operating_years_to_investment_periods() -> None:
    """In the EU instance the operating years 2029 and 2030 fall in the investment period 2028:
    their flows get 2028, level columns their own index's period, and every column some period."""
    from network_opt.model.periods import NONE, column_periods

    hm, d = _held(Path("instances/eu-2025-2032"))
    periods = column_periods(hm.columns, d)
    assert d.period_of[2029] == d.period_of[2030] == 2028
    names = [v.parent_component().local_name for v in hm.columns]
    flows = [k for k, n in enumerate(names) if n == "flow"]
    years = d.flows["period"].to_numpy()[[hm.columns[k].index() for k in flows]]
    assert np.array_equal(periods[flows], [d.period_of[int(y)] for y in years])
    levels = [k for k, n in enumerate(names) if n == "level_open"]
    assert all(periods[k] == hm.columns[k].index()[1] for k in levels)
    assert set(np.unique(periods)) <= set(d.period_of.values()) | {NONE}
    assert (periods != NONE).all()


def test_worker_processes_give_the_same_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks side by side in worker processes (forced here for a small model) give the bound
    the blocks give one after another, each block proven to its gap either way."""
    from network_opt.datasets.generate import GeneratorSpec, generate
    from network_opt.solver import lagrange

    spec = GeneratorSpec(seed=1, collection_points=12, candidates=4, periods=3, chemistries=2, markets=2)
    hm, d = _held(generate(tmp_path / "gen", spec))
    serial = period_bound(hm, d, SolveOptions(threads=1), None)
    assert lagrange.pool_workers(3, 10**9, 1) == 1 and lagrange.pool_workers(3, 10, None) == 1
    monkeypatch.setattr(lagrange, "POOL_MIN_NONZEROS", 0)
    monkeypatch.setattr(lagrange.os, "cpu_count", lambda: 2)
    assert lagrange.pool_workers(3, 10, None) == 2
    pooled = period_bound(hm, d, SolveOptions(), None)
    assert serial.bound is not None and pooled.bound is not None
    assert pooled.bound == pytest.approx(serial.bound, rel=2 * lagrange.BLOCK_GAP)
    assert (pooled.blocks, pooled.proven) == (serial.blocks, serial.proven) == (3, 3)


def _tiny_task(rows: int = 1) -> BlockTask:
    """min -x s.t. x <= 1.5, x integer in [0, 3]: optimum -1."""
    import scipy.sparse as sp  # type: ignore[import-untyped]

    return BlockTask(np.array([-1.0]), np.array([0.0]), np.array([3.0]), np.array([True]),
                     sp.csr_matrix(np.ones((rows, 1))), np.array([-np.inf]), np.array([1.5]), 0, 1e-4)


def test_pool_solves_stops_and_reports_a_failing_worker() -> None:
    """A pool of two: two tiny blocks give -1 each; after a stop request it returns None at once
    and its workers are gone; a block a worker cannot build (two rows, one row bound) raises with
    the worker's traceback."""
    import os
    import signal
    import time

    from network_opt.common import interrupts

    pool = MipPool(2, threads=1)
    try:
        assert pool.solve([_tiny_task(), _tiny_task()], 10.0) == [(-1.0, True, "Optimal")] * 2
        with interrupts.handling(), interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            assert pool.solve([_tiny_task()], None) is None
        assert pool.procs == []
    finally:
        pool.close()
    pool = MipPool(1, threads=1)
    try:
        with pytest.raises(RuntimeError, match="block worker 0 failed"):
            pool.solve([_tiny_task(rows=2)], None)
    finally:
        pool.close()


def test_time_share_is_by_size() -> None:
    """Equal blocks get their round's time (4 blocks, 2 workers, 100 s: 50 s each); a tiny block
    beside a large one gets its size's share; never more than what is left, nothing when nothing is."""
    from network_opt.solver.block_pool import time_share

    assert time_share(100.0, 10, 40, 2) == pytest.approx(50.0)
    assert time_share(100.0, 1, 1000, 1) == pytest.approx(0.1)
    assert time_share(100.0, 999, 999, 1) == pytest.approx(100.0)
    assert time_share(100.0, 5, 5, 2) == pytest.approx(100.0)  # at most what is left
    assert time_share(0.0, 5, 10, 2) == 0.0


def _task_of(width: int, cap: float) -> BlockTask:
    """min -sum x s.t. sum x <= cap, x integer in [0, 3] (``width`` columns): optimum -floor(cap)."""
    import scipy.sparse as sp

    return BlockTask(-np.ones(width), np.zeros(width), np.full(width, 3.0), np.ones(width, dtype=bool),
                     sp.csr_matrix(np.ones((1, width))), np.array([-np.inf]), np.array([cap]), 0, 1e-4)


def test_blocks_get_time_by_size_one_after_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process: a block of 2 (nonzeros + columns) before one of 98, 100 s left each time:
    2 s, then all 100 s (before: 50 s each)."""
    shares: list[float | None] = []

    def fake(task: BlockTask, seconds: float | None, threads: int | None, run: object) -> tuple[float, bool, str]:
        shares.append(seconds)
        return -1.0, True, "Optimal"

    monkeypatch.setattr(lagrange, "run_block", fake)
    got = lagrange._one_by_one([_task_of(1, 1.5), _task_of(49, 1.5)], lambda: 100.0, None)
    assert got == [(-1.0, True, "Optimal")] * 2
    assert shares == [pytest.approx(2.0), pytest.approx(100.0)]


def test_pool_hands_out_the_largest_block_first_and_answers_in_order() -> None:
    """Results come back in the order of the tasks whatever order they were solved in."""
    pool = MipPool(1, threads=1)
    try:
        assert pool.solve([_task_of(1, 1.5), _task_of(3, 2.5)], 20.0) == [(-1.0, True, "Optimal"),
                                                                           (-2.0, True, "Optimal")]
    finally:
        pool.close()
