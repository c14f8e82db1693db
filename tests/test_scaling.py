"""The matrix's spread after row and column scaling (network_opt.solver.scaling) and the numerics
warnings built on it (network_opt.solver.highs.numerics)."""

from __future__ import annotations

import highspy
import numpy as np
import pytest

from network_opt.solver.handoff import MatrixModel
from network_opt.solver.highs import SCALED_MATRIX_LIMIT, numerics
from network_opt.solver.scaling import scaled_ratio


def matrix(dense: list[list[float]], cost: list[float] | None = None) -> MatrixModel:
    """A MatrixModel of ``dense`` (rows x columns; zeros are no entries), rows ``>= 1``, columns in
    [0, 10], costs 1 unless given."""
    a = np.asarray(dense, dtype=float)
    rows, cols = np.nonzero(a)
    n_rows, n_cols = a.shape
    return MatrixModel(cost=np.asarray(cost if cost is not None else [1.0] * n_cols), offset=0.0,
                       col_lower=np.zeros(n_cols), col_upper=np.full(n_cols, 10.0),
                       integer=np.zeros(n_cols, dtype=bool), row_lower=np.ones(n_rows),
                       row_upper=np.full(n_rows, np.inf),
                       start=np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]).astype(np.int32),
                       index=cols.astype(np.int32), value=a[rows, cols])


def ratio(dense: list[list[float]]) -> float:
    a = np.asarray(dense, dtype=float)
    rows, cols = np.nonzero(a)
    return scaled_ratio(rows, cols, a[rows, cols])


def test_rows_of_different_magnitudes_scale_to_one() -> None:
    """Row 1 in 1e-4 t/t, row 2 in 1e5 t/yr: raw ratio 3e9, but a row factor each makes every
    entry 1 apart from the within-row spread (2 and 3): the ratio is what is left, at most 3."""
    dense = [[1e-4, 2e-4], [1e5, 3e5]]
    assert ratio(dense) <= 3.0 + 1e-9
    assert ratio([[5.0]]) == pytest.approx(1.0)
    assert ratio([[0.0, 0.0]]) == 1.0  # no entry


def test_what_scaling_cannot_remove_is_measured() -> None:
    """[[1, 1], [1, q]]: a11 a22 / (a12 a21) = q whatever the row and column factors, so the
    largest over the smallest entry is at least sqrt(q) after any scaling; geometric scaling
    reaches exactly sqrt(q) here (row 2 and column 2 each divided by q**(1/4))."""
    for q in (1e4, 1e8, 1e16):
        assert ratio([[1.0, 1.0], [1.0, q]]) == pytest.approx(np.sqrt(q), rel=1e-6)


def test_the_ratio_ignores_any_scaling_of_rows_and_columns_given() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2.0, (6, 5)) * (rng.random((6, 5)) < 0.6)
    a[0, 0] = 1e6  # a spread scaling cannot remove entirely
    scaled = a * 10.0 ** rng.integers(-8, 8, (6, 1)) * 10.0 ** rng.integers(-8, 8, (1, 5))
    assert ratio(scaled.tolist()) == pytest.approx(ratio(a.tolist()), rel=1e-6)


def test_a_spread_across_rows_is_no_warning_but_one_inside_the_structure_is() -> None:
    fine = numerics(matrix([[1e-4, 2e-4], [1e5, 3e5]]))
    assert fine["matrix_range"] == [1e-4, 3e5]
    assert fine["matrix_scaled_ratio"] <= 3.0 + 1e-9
    assert fine["warnings"] == []
    bad = numerics(matrix([[1.0, 1.0], [1.0, 1e14]]))
    assert bad["matrix_scaled_ratio"] == pytest.approx(1e7, rel=1e-6) and SCALED_MATRIX_LIMIT < 1e7
    assert len(bad["warnings"]) == 1 and bad["warnings"][0].startswith("matrix coefficients span 1 to 1e+14")
    assert "numerically unreliable" in bad["warnings"][0]
    # costs: a ratio above 1e9 asks to check units; it makes results "numerically unreliable" only
    # where HiGHS's tolerances reach the costs as it works on them (the objective x 2**scale): the
    # smallest below COST_FLOOR, or the largest above 1e9
    assert numerics(matrix([[1.0, 1.0]], cost=[1e-3, 1e5]))["warnings"] == []  # 1e8: nothing to say
    for cost, scale, unreliable in [([1e-3, 1e7], 0, False), ([1e-3, 1e7], -4, False),  # 1e10; 6e-5 to 6e5
                                    ([1e-6, 1e7], 0, True), ([1.0, 1e12], 0, True), ([1.0, 1e12], -20, True)]:
        warned = numerics(matrix([[1.0, 1.0]], cost=cost), scale=scale)["warnings"]
        assert [w.split(" ")[0] for w in warned] == ["cost"], (cost, scale)
        assert f"objective x 2^{scale}" in warned[0] and "check units" in warned[0]
        assert ("numerically unreliable" in warned[0]) == unreliable, warned[0]


def test_numerics_of_a_highs_model_reads_its_column_wise_matrix_the_same() -> None:
    mm = matrix([[1.0, 1.0, 0.0], [1.0, 1e14, 2.0]])  # HiGHS refuses entries above 1e15
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 3, 2
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = mm.cost, mm.col_lower, mm.col_upper
    lp.row_lower_, lp.row_upper_ = mm.row_lower, np.full(2, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = 2, 3
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = mm.start, mm.index, mm.value
    assert h.passModel(lp) == highspy.HighsStatus.kOk  # HiGHS keeps it column-wise
    assert h.getLp().a_matrix_.format_ == highspy.MatrixFormat.kColwise
    ours, theirs = numerics(mm), numerics(h)
    assert theirs["matrix_range"] == ours["matrix_range"]
    assert theirs["matrix_scaled_ratio"] == pytest.approx(ours["matrix_scaled_ratio"], rel=1e-9)
