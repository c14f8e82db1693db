"""With one chemistry, no second life, no targets and explicit lane costs, the model is the
textbook capacitated facility-location problem (split assignment). Checked against a hand-solved
case and against an independent formulation passed straight to highspy."""

from __future__ import annotations

from pathlib import Path

import highspy
import numpy as np
import pytest
from builders import lanes, one_material_tables, site, write_instance

import network_opt as no


def cflp_instance(folder: Path, demand: list[float], capacity: list[float], fixed: list[float],
                  cost: np.ndarray) -> Path:
    """Customers C0.. with ``demand`` (t), candidate plants P0.. with ``capacity`` (t) and
    ``fixed`` cost, cost[i, j] per tonne from customer j to plant i."""
    m, n = len(capacity), len(demand)
    tables = {
        "sites": [site(f"C{j}", "collection_point") for j in range(n)] + [site(f"S{i}", "facility") for i in range(m)],
        **one_material_tables(),
        "supply": [{"site": f"C{j}", "period": 2025, "chemistry": "X", "tonnes": demand[j]} for j in range(n)],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [{"id": f"P{i}", "site": f"S{i}", "kind": "recycler", "technology": "T", "status": "candidate"}
                       for i in range(m)],
        "facility_levels": [{"facility": f"P{i}", "level": "only", "capacity_t": capacity[i],
                             "fixed_cost_per_year": fixed[i]} for i in range(m)],
        "lanes": lanes(*[(f"C{j}", f"S{i}", float(cost[i, j])) for i in range(m) for j in range(n)]),
    }
    return write_instance(folder, tables)


def textbook_cflp(demand: list[float], capacity: list[float], fixed: list[float], cost: np.ndarray) -> float:
    """min sum f_i y_i + sum c_ij x_ij  s.t. sum_i x_ij = d_j, sum_j x_ij <= s_i y_i,
    x_ij <= d_j y_i, x >= 0, y binary -- built directly as a highspy matrix."""
    m, n = len(capacity), len(demand)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    x = [[h.addVariable(lb=0.0, ub=inf, obj=float(cost[i, j])) for j in range(n)] for i in range(m)]
    y = [h.addVariable(lb=0.0, ub=1.0, obj=float(fixed[i]), type=highspy.HighsVarType.kInteger) for i in range(m)]
    for j in range(n):
        h.addConstr(sum(x[i][j] for i in range(m)) == demand[j])
    for i in range(m):
        h.addConstr(sum(x[i][j] for j in range(n)) - capacity[i] * y[i] <= 0)
        for j in range(n):
            h.addConstr(x[i][j] - demand[j] * y[i] <= 0)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


def test_hand_solved_cflp(tmp_path: Path) -> None:
    """Two customers of 10 t. P0 and P1: 12 t each, fixed 10, 1 per t. P2: 25 t, fixed 50, free.
    P2 alone costs 50; P0 + P1 cost 20 + 20 t x 1 = 40, with customer flows split. Optimum 40."""
    cost = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    sol = no.solve(cflp_instance(tmp_path, [10, 10], [12, 12, 25], [10, 10, 50], cost))
    assert sol.objective == pytest.approx(40.0)
    opened = set(sol["facilities"].query("open")["facility"])
    assert opened == {"P0", "P1"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_independent_textbook_formulation(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = 5, 8
    demand = rng.integers(5, 35, n).astype(float).tolist()
    capacity = rng.integers(20, 90, m).astype(float).tolist()
    fixed = rng.integers(100, 400, m).astype(float).tolist()
    pts_f, pts_c = rng.random((m, 2)), rng.random((n, 2))
    cost = np.round(10 * np.linalg.norm(pts_f[:, None, :] - pts_c[None, :, :], axis=2), 3)
    sol = no.solve(cflp_instance(tmp_path, demand, capacity, fixed, cost))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(textbook_cflp(demand, capacity, fixed, cost), rel=1e-6)
    # the same structure: m*n flows + m binaries; n balances, m capacities, m*n links
    size = sol.summary["model"]
    assert size["variables"] == m * n + m
    assert size["binaries"] == m
    assert size["constraints"] == n + m + m * n
