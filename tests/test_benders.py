"""Benders decomposition on HiGHS's matrix (network_opt.solver.benders, ``--decomposition benders``),
checked by hand on micro models.

Hand-made Pyomo models (first-stage binaries x1, x2 of cost 10 and 20 with x1 + x2 <= 1 in the
master; one block: deliver y >= 150 t at 1/t through capacity y <= a1 x1 + a2 x2):

- ``a = (100, 200)``: iteration 1, the master (thetas at their lower bound 150, the block with x
  free in [0, 1]) opens nothing; the block is infeasible, its phase-1 LP has violation
  v = 150 - 100 x1 - 200 x2 = 150 with reduced costs (-100, -200): feasibility cut
  0 >= 150 + (-100)(x1 - 0) + (-200)(x2 - 0), i.e. 100 x1 + 200 x2 >= 150. Iteration 2: only
  x2 = 1 satisfies it (cost 20), the block costs 150 = theta's lower bound (no optimality cut), so
  upper bound 20 + 150 = 170 = the master's bound: optimal 170, one feasibility cut.
- ``a = (100, 100)``: the same first cut reads 100 x1 + 100 x2 >= 150, which with x1 + x2 <= 1 no
  plan meets: the master is infeasible at iteration 2 and so is the model, although the block
  alone (x relaxed to [0, 1], capacity 200) is feasible.

Both sequences are those of the MIP master from the start (``lp_iterations=0``);
:func:`test_lp_phase_first` follows the default, which starts on the master's LP relaxation.

Micro instances (written as CSV): one collection point C1 with 80 t in 2025 and 150 t in 2026,
candidates A (100 t/yr, opening 100, fixed 50/yr) and B (200 t/yr, opening 400, fixed 20/yr), both
10/t, free lanes, no revenue, no discounting; packs may stay uncollected at 25/t (or not at all).
Every plan (opened facilities stay open):

==================  =============================================================  =====
plan                cost                                                           total
==================  =============================================================  =====
none                25 x 230                                                       5750
B from 2025         400 + 20 x 2 + 10 x 230                                        2740
A from 2025         100 + 50 x 2 + 10 x (80 + 100) + 25 x 50                       3250
B from 2026         25 x 80 + 400 + 20 + 10 x 150                                  3920
A 2025, B 2026      100 + 50 x 2 + 400 + 20 + 10 x 230                             2920
A and B from 2025   100 + 400 + (50 + 20) x 2 + 10 x 230                           2940
==================  =============================================================  =====

Optimum: B from 2025, 2740 (with or without uncollected packs: that plan collects every pack).
Without uncollected packs, the first master plan (nothing open) leaves the blocks infeasible:
feasibility cuts come first, then the plan above.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
import yaml
from builders import lanes, one_material_tables, site, write_instance
from test_stochastic import micro
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.runs.stochastic import StochasticOptions, solve_stochastic
from network_opt.solver.benders import BendersOptions, benders_solve, first_stage_mask, split_model
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions

TOL = 1e-6
BENDERS = SolveOptions(decomposition="benders")


def capacity_model(a1: float, a2: float) -> pyo.ConcreteModel:
    """The hand-made model of the module docstring."""
    m = pyo.ConcreteModel()
    m.x1 = pyo.Var(domain=pyo.Binary)
    m.x2 = pyo.Var(domain=pyo.Binary)
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.one = pyo.Constraint(expr=m.x1 + m.x2 <= 1)
    m.cap = pyo.Constraint(expr=m.y <= a1 * m.x1 + a2 * m.x2)
    m.demand = pyo.Constraint(expr=m.y >= 150)
    m.obj = pyo.Objective(expr=10 * m.x1 + 20 * m.x2 + m.y)
    return m


def test_feasibility_cut_then_the_right_plan() -> None:
    m = capacity_model(100, 200)
    hm = HighsModel(m)
    out, rec = benders_solve(hm, first_stage_mask(hm, [m.x1, m.x2]), settings=BendersOptions(lp_iterations=0))
    assert out.status == "optimal"
    assert out.objective == pytest.approx(170.0, abs=TOL)
    assert out.bound == pytest.approx(170.0, abs=TOL)
    assert (rec.feasibility_cuts, rec.optimality_cuts, rec.iterations) == (1, 0, 2)
    assert (m.x1.value, m.x2.value, m.y.value) == pytest.approx((0.0, 1.0, 150.0))
    assert rec.master_rows == 1 and rec.blocks == 1  # x1 + x2 <= 1 alone in the master


def test_lp_phase_first() -> None:
    """The default starts on the master's LP: iteration 1 (LP) opens nothing and brings the same
    feasibility cut; iteration 2 (LP) has min 10 x1 + 20 x2 s.t. 100 x1 + 200 x2 >= 150,
    x1 + x2 <= 1, value 15 (e.g. x2 = 0.75), where the block delivers 150 t at 150 = theta: no cut,
    so on to the MIP master, whose plan x2 = 1 closes the gap at 170 (iteration 3)."""
    m = capacity_model(100, 200)
    hm = HighsModel(m)
    out, rec = benders_solve(hm, first_stage_mask(hm, [m.x1, m.x2]))
    assert out.objective == pytest.approx(170.0, abs=TOL) and out.bound == pytest.approx(170.0, abs=TOL)
    assert (rec.lp_iterations, rec.iterations, rec.feasibility_cuts, rec.optimality_cuts) == (2, 3, 1, 0)
    assert rec.lower[:2] == pytest.approx([150.0, 165.0])  # LP bounds: theta >= 150 alone, then 15 + 150


def test_infeasible_after_a_feasibility_cut() -> None:
    m = capacity_model(100, 100)
    hm = HighsModel(m)
    out, rec = benders_solve(hm, first_stage_mask(hm, [m.x1, m.x2]), settings=BendersOptions(lp_iterations=0))
    assert out.status == "infeasible"
    assert out.objective is None and not out.has_plan
    assert (rec.feasibility_cuts, rec.iterations) == (1, 2)


def test_a_stop_request_ends_the_loop_at_the_next_check() -> None:
    """SIGINT after iteration 1 (sent from the progress callback, i.e. between HiGHS runs): the
    request is noted, not raised, and the loop ends before the next master solve; the model of
    test_feasibility_cut_then_the_right_plan has no plan yet at that point."""
    m = capacity_model(100, 200)
    hm = HighsModel(m)

    def stop(_text: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    out, rec = benders_solve(hm, first_stage_mask(hm, [m.x1, m.x2]), settings=BendersOptions(lp_iterations=0),
                             progress=stop)
    assert rec.iterations == 1 and rec.feasibility_cuts == 1
    assert out.termination == "interrupted" and out.status == "no_solution" and out.objective is None


def test_blocks_follow_the_rows_that_link_the_years() -> None:
    """Two years of flows y1, y2 under one binary x: separate rows give two blocks; a stock s
    carried from year 1 into year 2 (y2 <= s, s <= y1) joins them into one."""
    for stock, blocks in ((False, 2), (True, 1)):
        m = pyo.ConcreteModel()
        m.x = pyo.Var(domain=pyo.Binary)
        m.y1 = pyo.Var(bounds=(0, None))
        m.y2 = pyo.Var(bounds=(0, None))
        m.c1 = pyo.Constraint(expr=m.y1 <= 10 * m.x)
        m.c2 = pyo.Constraint(expr=m.y2 <= 10 * m.x)
        if stock:
            m.s = pyo.Var(bounds=(0, None))
            m.carry = pyo.Constraint(expr=m.y2 <= m.s)
            m.keep = pyo.Constraint(expr=m.s <= m.y1)
        m.obj = pyo.Objective(expr=m.x - m.y1 - m.y2)
        hm = HighsModel(m)
        split = split_model(hm.matrix, first_stage_mask(hm, [m.x]))
        assert len(split.block_rows) == blocks
        assert len(split.master_rows) == 0
        assert all(len(lk) == 1 for lk in split.block_linking)  # x in every block


def test_second_stage_integers_are_refused() -> None:
    m = capacity_model(100, 200)
    hm = HighsModel(m)
    with pytest.raises(ValueError, match="integer columns outside the first stage"):
        split_model(hm.matrix, first_stage_mask(hm, [m.x1]))


def two_candidates(folder: Path, uncollected: bool = True, targets: str | None = None) -> Path:
    """The micro instance of the module docstring."""
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility"), site("S2", "facility")],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": p, "chemistry": "X", "tonnes": t} for p, t in ((2025, 80), (2026, 150))],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": f, "site": s, "kind": "recycler", "technology": "T", "status": "candidate",
                        "variable_cost_per_t": 10} for f, s in (("A", "S1"), ("B", "S2"))],
        "facility_levels": [
            {"facility": "A", "level": "a", "capacity_t": 100, "fixed_cost_per_year": 50, "opening_cost": 100},
            {"facility": "B", "level": "b", "capacity_t": 200, "fixed_cost_per_year": 20, "opening_cost": 400}],
        "lanes": lanes(("C1", "S1", 0), ("C1", "S2", 0)),
    }
    extra: dict[str, Any] = {"uncollected": {"allowed": True, "cost_per_t": 25}} if uncollected else {}
    folder = write_instance(folder, tables, periods=[2025, 2026], **extra)
    if targets is not None:
        (folder / "targets.csv").write_text(targets, encoding="utf-8")
        manifest = yaml.safe_load((folder / "instance.yaml").read_text(encoding="utf-8"))
        manifest["tables"]["targets"] = "targets.csv"
        (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return folder


def _open(sol: Any) -> list[tuple[str, int]]:
    f = sol["facilities"]
    return sorted((str(r.facility), int(r.period)) for r in f.itertuples() if r.open)


@pytest.mark.parametrize("uncollected", [True, False])
def test_two_facilities_two_periods_reach_the_milp_optimum(tmp_path: Path, uncollected: bool) -> None:
    folder = two_candidates(tmp_path / "m", uncollected)
    mono = no.solve(folder)
    dec = no.solve(folder, BENDERS)
    assert mono.status == dec.status == "optimal"
    assert mono.objective == pytest.approx(2740.0, abs=TOL)
    assert dec.objective == pytest.approx(2740.0, abs=TOL)
    assert dec.outcome.bound == pytest.approx(mono.objective, abs=TOL)  # the bound is the MILP optimum
    assert _open(dec) == [("B", 2025), ("B", 2026)]
    rec = dec.summary["decomposition"]
    assert rec["method"] == "benders" and rec["first_stage_columns"] == 4  # level_open of A, B x 2 periods
    assert rec["blocks"] >= 2  # the years' flows separate (nothing is stored from one year to the next)
    if uncollected:
        assert rec["feasibility_cuts"] == 0  # every plan leaves the flows feasible
    else:
        assert rec["feasibility_cuts"] >= 1  # the first master plan opens nothing: infeasible blocks
    # the bounds are monotone: the master's dual bound never falls, the best plan never worsens
    assert all(b >= a - TOL for a, b in zip(rec["lower_bounds"], rec["lower_bounds"][1:], strict=False))
    assert dec["costs"]["value"].sum() == pytest.approx(2740.0, abs=TOL)  # the written plan is the optimum's


def test_truly_infeasible_instance_is_reported_infeasible(tmp_path: Path) -> None:
    """Every pack collected and a Li recovery target of 95 % in 2026 with a Li yield of 90 %: no
    plan meets it; the block holding 2026 is infeasible even with every facility open (the first
    stage free within its bounds), so the decomposition says so before any master solve."""
    folder = two_candidates(tmp_path / "m", False, targets="jurisdiction,metric,material,value,from_period\n"
                            "XX,material_recovery,Li,0.95,2026\n")
    assert no.solve(folder).status == "infeasible"
    dec = no.solve(folder, BENDERS)
    assert dec.status == "infeasible" and dec.objective is None
    assert any("infeasible for every first-stage plan" in n for n in dec.summary["decomposition"]["notes"])


@pytest.mark.parametrize(("weight", "expected", "level"), [(0.0, 2500.0, "none"), (0.25, 3600.0, "S"),
                                                           (1.0, 6400.0, "L")])
def test_stochastic_extensive_form_and_benders_agree(tmp_path: Path, weight: float, expected: float,
                                                     level: str) -> None:
    """The micro instance of tests/test_stochastic.py (two scenarios, 20 t and 180 t): risk neutral
    the plan opens nothing (2500); with CVaR at alpha 0.5 and weight 0.25 the small level S
    (2600 + 0.25 x 4000 = 3600), with weight 1 the large level L (2800 + 3600 = 6400)."""
    from test_stochastic import opened

    from network_opt.model.data import prepare

    folder = micro(tmp_path / "m")
    opts = dict(regret_limit=0, cvar_alpha=0.5, cvar_weight=weight)
    ef = solve_stochastic(folder, StochasticOptions(**opts))  # type: ignore[arg-type]
    bd = solve_stochastic(folder, StochasticOptions(decomposition="benders", **opts))  # type: ignore[arg-type]
    assert ef is not None and bd is not None
    assert ef.solution.objective == pytest.approx(expected, abs=TOL)
    assert bd.solution.objective == pytest.approx(expected, abs=TOL)
    assert bd.solution.outcome.bound == pytest.approx(expected, abs=TOL)
    assert bd.status == "optimal"
    assert opened(bd.plan, prepare(no.load(folder))) == level
    dec = bd.solution.summary["stochastic"]["decomposition"]
    assert dec["method"] == "benders" and dec["blocks"] >= 2  # one block (at least) per scenario
    assert bd.metrics["RP"] == pytest.approx(ef.metrics["RP"], abs=TOL)


def test_command_line(tmp_path: Path) -> None:
    folder = two_candidates(tmp_path / "m")
    runner = CliRunner()
    res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "out"), "--decomposition", "benders",
                              "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(2740.0, abs=TOL)
    assert summary["bound"] == pytest.approx(2740.0, abs=TOL)
    assert summary["solver"]["name"] == "benders + highs"
    assert summary["decomposition"]["lower_bound_is"].startswith("the master's dual bound")
    res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "o2"), "--decomposition", "ph"])
    assert res.exit_code != 0 and "need --stochastic" in res.output
    res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "o3"), "--decomposition", "benders",
                              "--heuristic"])
    assert res.exit_code != 0 and "cannot be combined" in res.output


def test_time_limit_keeps_a_true_bound(tmp_path: Path) -> None:
    """With no time at all the loop stops before a plan: no objective, no false bound."""
    folder = two_candidates(tmp_path / "m")
    sol = no.solve(folder, SolveOptions(decomposition="benders", time_limit=0.0))
    assert not sol.outcome.has_plan
    assert sol.outcome.bound is None or sol.outcome.bound <= 2740.0 + TOL
    assert np.isfinite(sol.summary["decomposition"]["subproblem_s"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
