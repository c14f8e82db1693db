"""Issue 17 item 1, the tighter formulation: dominance and symmetry among candidates
(``model.candidate_reductions``), flow bounds (``model.flow_bounds``) and objective scaling
(``model.objective_scale``), each on a hand-solved micro instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import candidate_recyclers

import network_opt as no
from network_opt.model import build_model
from network_opt.model.data import prepare
from network_opt.model.reductions import find_reductions
from network_opt.model.size import project_size
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation


def candidates(folder: Path, supply_t: float = 20.0, **model: Any) -> Path:
    """C: ``supply_t`` t of X. Candidate recyclers of technology T, one level of 20 t each:

    - A (site SA, jurisdiction XX): fixed 50, lane 1 per t;
    - A2 (site SA2, XX): a twin of A (same level, cost, lane);
    - D (site SD, XX): fixed 60, lane 2 per t: dominated by A and A2;
    - F (site SF, jurisdiction YY): as A but fixed 55: not comparable (another jurisdiction).

    No revenue (Li price 0), no targets. With 20 t: one facility suffices; A or A2 costs
    50 + 20 x 1 = 70, F 75, D 60 + 40 = 100: optimum 70 (A or A2). With 30 t two are needed: A + A2
    = 100 + 30 = 130; A + F = 105 + 30 = 135; A + D = 110 + 20 + 20 = 150: optimum 130."""
    return candidate_recyclers(
        folder, supply_t, [("A", "only", 20.0, 50.0), ("A2", "only", 20.0, 50.0), ("D", "only", 20.0, 60.0),
                           ("F", "only", 20.0, 55.0)],
        {"A": 1.0, "A2": 1.0, "D": 2.0, "F": 1.0}, jurisdiction={"F": "YY"}, **model)


def test_twin_and_dominated_fixed_closed(tmp_path: Path) -> None:
    """20 t: A's level (20 t) covers all the supply that reaches A, A2 or D, so A2 (twin, merged
    into A: the order is A, A2, D by how many each dominates, then id) and D (dominated; its order
    into A2 moves to A) are fixed closed; F is left alone. Same optimum 70 with and without, A open."""
    plain = no.solve(candidates(tmp_path / "plain"))
    path = candidates(tmp_path / "reduced", candidate_reductions=True)
    d = prepare(no.load(path))
    found = find_reductions(d)
    assert found.closed == {"A2": "A", "D": "A"}
    assert found.orders == []
    m = build_model(d)
    assert sorted(m.candidate_closed) == [("A2", 2025), ("D", 2025)]
    assert len(m.candidate_order) == 0
    size = project_size(d)
    assert (size.rows_by_family["candidate_closed"], size.nonzeros_by_family["candidate_closed"]) == (2, 2)
    sol = no.solve(path)
    assert plain.objective == pytest.approx(70.0)
    assert sol.objective == pytest.approx(70.0)
    assert set(sol["facilities"].query("open")["facility"]) == {"A"}
    assert sol.summary["model"]["candidate_reductions"] == {"twins": [], "dominated": [],
                                                           "fixed_closed": [["A2", "A"], ["D", "A"]]}


def test_orderings_when_two_are_needed(tmp_path: Path) -> None:
    """30 t: no level covers all the supply, nothing is fixed; the order rows are A2 <= A (twins)
    and D <= A2 (dominated, single period). Optimum 130 (A + A2) with and without. LP relaxation:
    per tonne through A or A2 50/20 + 1 = 3.5, F 55/20 + 1 = 3.75, D 60/20 + 2 = 5, so 30 t at 3.5 =
    105 (e.g. A = 1, A2 = 1/2: the rows A2 <= A, D <= A2 hold there), with the rows no weaker."""
    plain_path = candidates(tmp_path / "plain", supply_t=30.0)
    path = candidates(tmp_path / "reduced", supply_t=30.0, candidate_reductions=True)
    found = find_reductions(prepare(no.load(path)))
    assert found.closed == {}
    assert found.orders == [("A2", "A", "twin"), ("D", "A2", "dominated")]
    lp_plain, _ = lp_relaxation(HighsModel(build_model(prepare(no.load(plain_path)))), SolveOptions())
    lp_red, _ = lp_relaxation(HighsModel(build_model(prepare(no.load(path)))), SolveOptions())
    assert lp_plain == pytest.approx(105.0)
    assert lp_red is not None and lp_plain is not None and lp_red >= lp_plain - 1e-9
    assert no.solve(plain_path).objective == pytest.approx(130.0)
    sol = no.solve(path)
    assert sol.objective == pytest.approx(130.0)
    assert set(sol["facilities"].query("open")["facility"]) == {"A", "A2"}


def test_no_reduction_across_jurisdictions_or_a_missing_lane(tmp_path: Path) -> None:
    """F (jurisdiction YY) is identical to A but for its fixed cost; made equal, it is still no twin
    of A. D without A's lane... (D given a second lane from C2 that A lacks) is no longer dominated."""
    path = candidates(tmp_path / "f", supply_t=30.0, candidate_reductions=True)
    text = (path / "facility_levels.csv").read_text().replace("F,only,20.0,55.0", "F,only,20.0,50.0")
    (path / "facility_levels.csv").write_text(text)
    found = find_reductions(prepare(no.load(path)))
    assert all("F" not in (lo, hi) for lo, hi, _ in found.orders)
    # D gets a lane from a second collection point that only D can serve
    sites = (path / "sites.csv").read_text() + "C2,C2,collection_point,0.0,0.0,,XX\n"
    (path / "sites.csv").write_text(sites)
    (path / "supply.csv").write_text((path / "supply.csv").read_text() + "C2,2025,X,1.0\n")
    (path / "lanes.csv").write_text((path / "lanes.csv").read_text() + "C2,SD,,2.0\n")
    found = find_reductions(prepare(no.load(path)))
    assert found.orders == [("A2", "A", "twin")]
    assert found.closed == {}


def test_reductions_need_two_candidates(tmp_path: Path) -> None:
    """Degenerate: one candidate only (the others made existing): nothing to compare, no rows."""
    path = candidates(tmp_path, candidate_reductions=True)
    text = (path / "facilities.csv").read_text()
    for f in ("A2", "D", "F"):
        text = text.replace(f"{f},S{f},recycler,T,candidate", f"{f},S{f},recycler,T,existing")
    (path / "facilities.csv").write_text(text)
    d = prepare(no.load(path))
    found = find_reductions(d)
    assert (found.orders, found.closed) == ([], {})
    m = build_model(d)
    assert len(m.candidate_order) == 0 and len(m.candidate_closed) == 0


def bounded(folder: Path, **model: Any) -> Path:
    """C: 20 t. A: 30 t, fixed 30, free lane; B: 15 t, fixed 1, 1 per t.
    MIP: A alone 30 (x_A = 20); B 15 t + A 5 t = 1 + 15 + 30 = 46: optimum 30 with x_A = 20, at its
    bound U_A = min(capacity 30, supply 20) = 20 (U_B = min(15, 20) = 15).
    LP (links on): x_A <= 20 a: 1.5 per t through A, x_B <= 15 b: 1 + 1/15 per t through B: B 15 t
    (16) + A 5 t (a = 1/4: 7.5) = 23.5; the bounds are implied by the rows, so the same with them."""
    return candidate_recyclers(folder, 20.0, [("A", "only", 30.0, 30.0), ("B", "only", 15.0, 1.0)],
                               {"A": 0.0, "B": 1.0}, **model)


@pytest.mark.parametrize("linking", [True, False])
def test_flow_bounds_tight_at_the_optimum_and_lp_no_weaker(tmp_path: Path, linking: bool) -> None:
    """Without links the LP: x_A <= 30 a costs 1 per t through A (B: 1 + 1/15): all 20 t through A, LP
    20; the flow bounds (20, 15) are implied by supply and capacity rows: LP the same, never weaker."""
    lps = {}
    for on in (False, True):
        path = bounded(tmp_path / f"b{on}", flow_bounds=on, strong_linking=linking)
        m = build_model(prepare(no.load(path)))
        ubs = [v.ub for v in m.flow.values()]
        assert sorted(ubs) == [15.0, 20.0] if on else ubs == [None, None]
        lp, _ = lp_relaxation(HighsModel(m), SolveOptions())
        lps[on] = lp
        sol = no.solve(path)
        assert sol.objective == pytest.approx(30.0)
        assert set(sol["facilities"].query("open")["facility"]) == {"A"}
        assert sol["flows"]["tonnes"].sum() == pytest.approx(20.0)  # all into A: x_A = U_A = 20
    assert lps[False] == pytest.approx(23.5 if linking else 20.0)
    assert lps[True] == pytest.approx(lps[False])


def test_objective_scale_reports_the_same_objective(tmp_path: Path) -> None:
    """model.objective_scale = -10: HiGHS works on the objective / 1024 and reports it unscaled:
    the objective (30), bound and every cost term are those of the unscaled run."""
    from network_opt.solver.highs import solve_model

    base = no.solve(bounded(tmp_path / "a"))
    path = bounded(tmp_path / "b", objective_scale=-10)
    d = prepare(no.load(path))
    hm = HighsModel(build_model(d))
    assert solve_model(hm.model, SolveOptions(), solver=hm, data=d).objective == pytest.approx(30.0)
    assert hm.h.getOptionValue("user_objective_scale")[1] == -10
    scaled = no.solve(path)
    assert scaled.objective == pytest.approx(30.0) == base.objective
    assert scaled.outcome.bound == pytest.approx(base.outcome.bound)
    assert json.dumps(scaled.summary["cost_terms"], sort_keys=True) == json.dumps(base.summary["cost_terms"],
                                                                                  sort_keys=True)


def test_objective_scale_leaves_the_progress_figures_in_currency(tmp_path: Path) -> None:
    """HiGHS's MIP callbacks report the objective x 2**user_objective_scale; the progress line (and
    the bound kept for a HiGHS left running after a stop request) shows currency: with
    model.objective_scale = -10 the last best plan reported is the objective of the run, as
    unscaled (it showed the objective / 1024 before). Generated 14 x 5 x 2 x 2 (seed 1): small, and
    its search reports figures before it ends."""
    from network_opt.datasets.generate import GeneratorSpec, generate
    from network_opt.solver.highs import solve_model

    class Figures:
        def __init__(self) -> None:
            self.rows: list[tuple[float, float, float]] = []

        def solver(self, _seconds: float, best: float, bound: float, gap: float) -> None:
            self.rows.append((best, bound, gap))

        def phase(self, _text: str) -> None:
            pass

    spec = GeneratorSpec(seed=1, collection_points=14, candidates=5, periods=2, chemistries=2, markets=2)
    path = generate(tmp_path / "gen", spec)
    seen = {}
    for scale in (0, -10):
        d = prepare(no.load(path).with_settings({"model.objective_scale": scale}))
        figures = Figures()
        outcome = solve_model(build_model(d), SolveOptions(mip_gap=0.0, start="none"), progress=figures, data=d)
        reported = [(best, bound) for best, bound, _ in figures.rows if np.isfinite(best)]
        assert reported, "the search reported no plan: pick an instance whose search runs"
        best, bound = reported[-1]
        assert outcome.objective is not None
        assert best == pytest.approx(outcome.objective, rel=1e-9)
        assert bound <= best and bound == pytest.approx(outcome.objective, rel=1e-2)
        seen[scale] = reported[-1]
    assert seen[-10] == pytest.approx(seen[0], rel=1e-9)


def test_objective_scale_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="objective_scale"):
        no.load(bounded(tmp_path, objective_scale=99))


def test_open_all_start_and_a_fixed_plan_respect_the_reductions(tmp_path: Path) -> None:
    """The open-all MIP start keeps the candidates fixed closed closed (else its LP is infeasible
    and HiGHS gets no start); evaluating a given plan (stages.fix_plan, as the stochastic regret
    does) drops the reduction rows: D alone (60 + 20 x 2 = 100) can still be evaluated."""
    from network_opt.model.stages import fix_plan
    from network_opt.solver.highs import solve_model

    path = candidates(tmp_path, candidate_reductions=True)
    sol = no.solve(path, SolveOptions(start="open_all"))
    assert sol.outcome.start == "open_all"
    assert sol.objective == pytest.approx(70.0)
    d = prepare(no.load(path))
    m = build_model(d)
    row = {f: j for j, f in enumerate(d.levels["facility"])}
    fix_plan(m, {"level_open": {(j, 2025): float(j == row["D"]) for j in range(len(d.levels))}})
    assert not m.candidate_closed.active
    assert solve_model(m, SolveOptions(), data=d).objective == pytest.approx(100.0)


def stocked(folder: Path, **model: Any) -> Path:
    """One investment period 2025-2026 operated yearly, stock allowed at C (cap 100 t, holding 1 per
    t and year). C: 10 t of X in 2025 and 10 t in 2026 (10 kg Li/t). Li sells at 0 in 2025 and
    10,000 per t in 2026; T recovers 0.9 of it: 90 per t of packs treated in 2026. Candidates of T,
    one level of 10 t/yr, fixed 50 per year open: A (free lane) and D (lane 1 per t, dominated by A).

    A alone: 10 t each year, 2 x 50 - 10 x 90 = -800 (A's 10 t cannot take 2025's packs in 2026).
    A and D: 2025's 10 t held at C (10), 20 t treated in 2026 (10 through D: 10 lane), revenue
    20 x 90 = 1800: 2 x 2 x 50 + 10 + 10 - 1800 = -1580, the optimum. The supply in each year
    (10 t) fits A's level, but with the stock released in 2026 the flows into A and D reach 20 t:
    D is not fixed closed (it was, before the stock counted, and the reduced model gave -800)."""
    return candidate_recyclers(
        folder, 10.0, [("A", "only", 10.0, 50.0), ("D", "only", 10.0, 50.0)], {"A": 0.0, "D": 1.0},
        tables={"material_prices": [{"material": "Li", "period": 2025, "price_per_t": 0.0},
                                    {"material": "Li", "period": 2026, "price_per_t": 10_000.0}],
                "supply": [{"site": "C", "period": p, "chemistry": "X", "tonnes": 10.0} for p in (2025, 2026)],
                "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
                "storage": [{"site": "C", "cap_t": 100.0, "holding_cost_per_t_year": 1.0, "source": "test"}]},
        settings={"stock": {"allowed": True}, "periods": [{"year": 2025, "length": 2, "operations": "yearly"}]},
        **model)


def test_stock_released_at_collection_points_keeps_a_dominated_candidate(tmp_path: Path) -> None:
    """Stock at collection points: D stays an ordering (D <= A), not fixed closed; same optimum
    -1580 with and without the reductions, A and D open."""
    plain = no.solve(stocked(tmp_path / "plain"))
    path = stocked(tmp_path / "reduced", candidate_reductions=True)
    found = find_reductions(prepare(no.load(path)))
    assert found.closed == {}
    assert found.orders == [("D", "A", "dominated")]
    sol = no.solve(path)
    for s in (plain, sol):
        assert s.objective == pytest.approx(-1580.0)
        assert set(s["facilities"].query("open")["facility"]) == {"A", "D"}


# --- model.objective_scale: auto (the default) ---------------------------------------------------


@pytest.mark.parametrize(("top", "power"), [(2.385e9, -12), (1e7, -4), (2.0**20, 0), (2.0**20 + 1, -1),
                                            (250_000.0, 0), (0.0, 0), (1e300, -60)])
def test_cost_scale_brings_the_largest_cost_to_at_most_2_to_the_20(top: float, power: int) -> None:
    """k = min(0, 20 - ceil(log2 max|c|)), within [-60, 0]: 2.385e9 (china-2025-2032's largest cost)
    -> -12 and 1e7 -> -4, the powers HiGHS 1.16 advises for them; never scaled up."""
    from network_opt.solver.options import cost_scale

    assert cost_scale(np.array([0.25, -top])) == power
    assert cost_scale(np.zeros(0)) == 0


def dear(folder: Path, **model: Any) -> Path:
    """:func:`bounded` at a billion times the money: fixed costs 3e10 and 1e9 a year, B's lane 1e9 per
    t. Same plan (A alone, 20 t), objective 3e10."""
    return candidate_recyclers(folder, 20.0, [("A", "only", 30.0, 3e10), ("B", "only", 15.0, 1e9)],
                               {"A": 0.0, "B": 1e9}, **model)


def test_auto_objective_scale_is_what_highs_advises_and_changes_no_result(tmp_path: Path) -> None:
    """With costs up to 3e10, HiGHS (scale 0) warns of excessively large costs and advises a power
    of 2 for user_objective_scale in its log; ``auto`` (the default) takes that power, records it in
    summary.json, and gives the same objective, bound, plan and cost terms as no scaling."""
    import re

    from network_opt.solver.highs import objective_scale
    from network_opt.solver.options import cost_scale

    plain = dear(tmp_path / "plain", objective_scale=0)
    d = prepare(no.load(plain))
    hm = HighsModel(build_model(d))
    log = tmp_path / "highs.log"
    for name, value in (("output_flag", True), ("log_to_console", False), ("log_file", str(log))):
        hm.h.setOptionValue(name, value)
    hm.h.run()
    advised = re.search(r"user_objective_scale option to (-?\d+)", log.read_text())
    assert advised is not None, log.read_text()
    assert objective_scale(hm, d) == 0
    power = cost_scale(hm.matrix.cost)
    assert power == int(advised.group(1)) < 0

    auto = no.solve(dear(tmp_path / "auto"))  # the default
    base = no.solve(plain)
    assert auto.summary["numerics"]["objective_scale"] == power
    assert base.summary["numerics"]["objective_scale"] == 0
    assert auto.objective == pytest.approx(3e10, rel=1e-9) and base.objective == pytest.approx(3e10, rel=1e-9)
    assert auto.outcome.bound == pytest.approx(base.outcome.bound, rel=1e-9)
    assert set(auto["facilities"].query("open")["facility"]) == {"A"}
    assert auto["flows"]["tonnes"].sum() == pytest.approx(20.0)
    for term, value in base.summary["cost_terms"].items():
        assert auto.summary["cost_terms"][term] == pytest.approx(value, rel=1e-9, abs=1e-6), term


@pytest.mark.parametrize(("given", "taken"), [("auto", "auto"), (" AUTO ", "auto"), ("-3", -3), (7, 7)])
def test_objective_scale_takes_a_power_or_auto(tmp_path: Path, given: object, taken: object) -> None:
    assert no.load(bounded(tmp_path, objective_scale=given)).settings.model.objective_scale == taken


@pytest.mark.parametrize("given", ["fast", 1.5, True])
def test_objective_scale_refuses_anything_else(tmp_path: Path, given: object) -> None:
    with pytest.raises(no.InputError, match=r"objective_scale.*\(or auto\)"):
        no.load(bounded(tmp_path, objective_scale=given))
