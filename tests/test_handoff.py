"""The hand-off to HiGHS (Pyomo's standard-form compiler + one passModel) and the status mapping
of solve_model, on models small enough to write down the matrix by hand."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from network_opt.solver.handoff import HighsModel, col_bounds, quiet_highs, row_bounds
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions

INF = float("inf")


def small_mip() -> pyo.ConcreteModel:
    """min 2x + 3y + 5  s.t.  x + y >= 4,  x - 2y == 1,  1 <= x + 4y <= 9,  0 <= x <= 10, y in {0, 1, 2}."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.y = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 2))
    m.cover = pyo.Constraint(expr=m.x + m.y >= 4)
    m.balance = pyo.Constraint(expr=m.x - 2 * m.y == 1)
    m.band = pyo.Constraint(expr=pyo.inequality(1, m.x + 4 * m.y, 9))
    m.cost = pyo.Objective(expr=2 * m.x + 3 * m.y + 5)
    return m


def test_arrays_match_the_model_written_by_hand() -> None:
    m = small_mip()
    hm = HighsModel(m)
    lp = hm.h.getLp()
    assert list(lp.col_cost_) == [2.0, 3.0] and lp.offset_ == 5.0
    assert list(lp.col_lower_) == [0.0, 0.0] and list(lp.col_upper_) == [10.0, 2.0]
    # rows: cover (>=), balance (==), band as its upper then its lower side
    assert list(lp.row_lower_) == [4.0, 1.0, -INF, 1.0]
    assert list(lp.row_upper_) == [INF, 1.0, 9.0, INF]
    dense = np.zeros((4, 2))
    a = hm.h.getLp().a_matrix_
    start, index, value = list(a.start_), list(a.index_), list(a.value_)
    if a.format_ == a.format_.kColwise:
        for j in range(2):
            for k in range(start[j], start[j + 1]):
                dense[index[k], j] = value[k]
    else:
        for i in range(4):
            for k in range(start[i], start[i + 1]):
                dense[i, index[k]] = value[k]
    assert dense.tolist() == [[1, 1], [1, -2], [1, 4], [1, 4]]
    assert hm.rows[m.band] == 2 and hm.cols[id(m.y)] == 1


def test_small_mip_optimum_by_hand() -> None:
    """x = 1 + 2y; x + y >= 4 -> y >= 1; x + 4y <= 9 -> y <= 1: y = 1, x = 3, cost 6 + 3 + 5 = 14."""
    m = small_mip()
    out = solve_model(m, SolveOptions(mip_gap=0))
    assert out.status == "optimal" and out.objective == pytest.approx(14.0)
    assert (m.x.value, m.y.value) == (pytest.approx(3.0), pytest.approx(1.0))


def test_unbounded_lp() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.NonNegativeReals)
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.c = pyo.Constraint(expr=m.x - m.y <= 1)
    m.o = pyo.Objective(expr=-m.x)
    out = solve_model(m, SolveOptions())
    assert out.status in ("unbounded", "infeasible")  # HiGHS may only prove "infeasible or unbounded"
    assert out.termination in ("unbounded", "infeasibleOrUnbounded")
    assert out.objective is None


def test_infeasible_mip() -> None:
    m = small_mip()
    m.too_much = pyo.Constraint(expr=m.y >= 2)  # with y = 2: x = 5, x + 4y = 13 > 9
    out = solve_model(m, SolveOptions())
    assert out.status == "infeasible" and out.objective is None


def test_constant_constraint_that_cannot_hold_is_infeasible_without_hiGHS() -> None:
    m = small_mip()
    m.impossible = pyo.Constraint(expr=pyo.Constraint.Infeasible)
    out = solve_model(m, SolveOptions())
    assert (out.status, out.termination) == ("infeasible", "provenInfeasible")


def test_duals_of_an_lp_by_hand() -> None:
    """min x + 2y s.t. x + y >= 3 (dual 1: y costs more), y >= 1 (dual 1 = 2 - 1). Optimum x = 2, y = 1."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.NonNegativeReals)
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.total = pyo.Constraint(expr=m.x + m.y >= 3)
    m.floor = pyo.Constraint(expr=m.y >= 1)
    m.o = pyo.Objective(expr=m.x + 2 * m.y)
    out = solve_model(m, SolveOptions(), duals=True)
    assert out.objective == pytest.approx(4.0)
    assert out.duals[m.total] == pytest.approx(1.0)
    assert out.duals[m.floor] == pytest.approx(1.0)


def test_col_and_row_bounds_read_any_order_repeats_and_none() -> None:
    """col_bounds/row_bounds give what getLp() holds, for indices in any order, repeated or none."""
    h = quiet_highs()
    h.addVars(4, np.array([0.0, -1.0, 2.0, -3.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    h.addRow(-5.0, 5.0, 2, np.array([0, 1], dtype=np.int32), np.array([1.0, 1.0]))
    h.addRow(1.0, 7.0, 2, np.array([2, 3], dtype=np.int32), np.array([1.0, 1.0]))
    lower, upper = col_bounds(h, np.array([3, 0, 3, 2]))
    assert lower.tolist() == [-3.0, 0.0, -3.0, 2.0] and upper.tolist() == [4.0, 1.0, 4.0, 3.0]
    lower, upper = row_bounds(h, np.array([1, 0]))
    assert lower.tolist() == [1.0, -5.0] and upper.tolist() == [7.0, 5.0]
    assert [a.size for a in col_bounds(h, np.array([], dtype=np.int32))] == [0, 0]
    with pytest.raises(RuntimeError, match="could not read"):
        col_bounds(h, np.array([9]))
