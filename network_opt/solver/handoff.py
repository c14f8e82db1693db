"""Handing a Pyomo model to HiGHS: Pyomo's linear standard-form compiler turns the model into
sparse arrays, which go to highspy in one ``passModel`` call.

This is the fastest of the routes measured in ``benchmarks/interfaces.py`` (see
``benchmarks/README.md``): it avoids the per-row Python work of Pyomo's persistent HiGHS
interfaces, and it keeps the arrays, so that a scenario which changes only numbers can update the
HiGHS model in place (:meth:`HighsModel.update`) instead of passing a new one.

Row convention (the compiler's "mixed form"): every constraint gives one row, ``==`` rows have
equal bounds; a ranged constraint gives two rows (its upper and its lower side).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.common.gc_manager import PauseGC
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.var import VarData
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

INF = highspy.kHighsInf


class TriviallyInfeasible(Exception):
    """The model holds a constraint with no variables that cannot hold (e.g. supply nothing can take)."""


@dataclass
class MatrixModel:
    """The numbers of a compiled model: column costs and bounds, row bounds and the CSR matrix.

    Costs in the objective's currency; bounds in the variables' units (t/yr, 0/1, ...)."""

    cost: np.ndarray
    offset: float
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # bool per column
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray  # CSR row starts
    index: np.ndarray  # CSR column indices
    value: np.ndarray  # CSR values

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_lower), len(self.cost)

    def same_pattern(self, other: MatrixModel) -> bool:
        """Same shape, integrality and sparsity pattern."""
        return (self.shape == other.shape and np.array_equal(self.integer, other.integer)
                and np.array_equal(self.start, other.start) and np.array_equal(self.index, other.index))


def _labels(items: list[VarData] | list[ConstraintData]) -> list[tuple[str, object]]:
    """(component name, index) of each variable or constraint: what a column or row stands for."""
    return [(c.parent_component().local_name, c.index()) for c in items]


def compile_model(m: pyo.ConcreteModel) -> tuple[MatrixModel, list[VarData], list[ConstraintData]]:
    """Compile ``m`` (minimisation, linear) into a :class:`MatrixModel`; also return its columns
    (Pyomo variables) and its rows' constraints, in HiGHS order. Raises
    :class:`TriviallyInfeasible` for a constant constraint that cannot hold."""
    try:
        with PauseGC():  # as in the model build: no garbage, only many new objects
            sf = LinearStandardFormCompiler().write(m, mixed_form=True)
    except InfeasibleConstraintException as exc:
        raise TriviallyInfeasible(str(exc)) from exc
    columns = sf.columns
    n = len(columns)
    lower = np.fromiter((-INF if v.lb is None else v.lb for v in columns), dtype=float, count=n)
    upper = np.fromiter((INF if v.ub is None else v.ub for v in columns), dtype=float, count=n)
    integer = np.fromiter((v.is_integer() for v in columns), dtype=bool, count=n)
    cost = np.asarray(sf.c.toarray(), dtype=float).ravel() if sf.c.shape[0] else np.zeros(n)
    offset = float(np.sum(sf.c_offset)) if len(sf.c_offset) else 0.0
    kind = np.fromiter((r.bound_type for r in sf.rows), dtype=np.int8, count=len(sf.rows))
    rhs = np.asarray(sf.rhs, dtype=float)
    a = sf.A.tocsr()
    a.sort_indices()
    matrix = MatrixModel(
        cost=cost, offset=offset, col_lower=lower, col_upper=upper, integer=integer,
        row_lower=np.where(kind == 1, -INF, rhs), row_upper=np.where(kind == -1, INF, rhs),
        start=a.indptr.astype(np.int32), index=a.indices.astype(np.int32), value=a.data.astype(float))
    return matrix, columns, [r.constraint for r in sf.rows]


def _lp(mm: MatrixModel) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = mm.shape
    lp.col_cost_ = mm.cost
    lp.offset_ = mm.offset
    lp.col_lower_ = mm.col_lower
    lp.col_upper_ = mm.col_upper
    lp.row_lower_ = mm.row_lower
    lp.row_upper_ = mm.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = mm.shape
    lp.a_matrix_.start_ = mm.start
    lp.a_matrix_.index_ = mm.index
    lp.a_matrix_.value_ = mm.value
    if mm.integer.any():
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[k] for k in mm.integer.tolist()]
    return lp


def col_bounds(h: highspy.Highs, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper bounds HiGHS holds now for the columns ``cols`` (any order, repeats
    allowed), read for those columns alone: ``getLp()`` would copy the whole model (2.2 M columns
    at national scale) to read a few thousand bounds."""
    return _bounds(h.getCols, cols, first=3)


def row_bounds(h: highspy.Highs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper bounds HiGHS holds now for the rows ``rows``; as :func:`col_bounds`."""
    return _bounds(h.getRows, rows, first=2)


def _bounds(get: object, index: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.asarray(index, dtype=np.int32)
    if not len(index):
        return np.zeros(0), np.zeros(0)
    # HiGHS reads an index set only in strictly increasing order
    unique, back = np.unique(index, return_inverse=True)
    out = get(len(unique), unique.astype(np.int32))  # type: ignore[operator]
    if out[0] != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS could not read the bounds of {len(unique)} columns or rows: {out[0]}")
    lower = np.asarray(out[first], dtype=float)[: len(unique)]
    upper = np.asarray(out[first + 1], dtype=float)[: len(unique)]
    return lower[back], upper[back]


def quiet_highs() -> highspy.Highs:
    """A highspy object with its log off, without the banner HiGHS prints on stdout when made."""
    # HiGHS's C++ code prints its banner with printf on descriptor 1 when the object is made (before
    # any option can turn it off), past sys.stdout: only redirecting the descriptor itself hides it
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


class HighsModel:
    """A Pyomo model held by highspy: ``h`` the highspy object, ``cols`` id(variable) -> column,
    ``rows`` constraint -> its first row, ``columns`` the Pyomo variables in column order.

    ``abandoned``: HiGHS was left running on ``h`` after a stop request
    (:func:`network_opt.common.interrupts.run_highs`): ``h`` must not be used again. ``start_values``:
    the column values of the start plan the last solve gave HiGHS, if any. ``held_lp_s``: seconds of
    the longest LP with the integer columns held that the last solve's start ran
    (:func:`network_opt.solver.starts.fixed_lp`; 0 if none), an estimate of what the shadow-price LP
    after the MIP, one such LP, will take."""

    def __init__(self, m: pyo.ConcreteModel):
        self.abandoned = False
        self.start_values: np.ndarray | None = None
        self.held_lp_s = 0.0
        #: the column values last loaded into the Pyomo variables (:meth:`load_values`)
        self.values: np.ndarray | None = None
        self.h = quiet_highs()
        self.matrix: MatrixModel
        self.columns: list[VarData] = []
        self.row_constraints: list[ConstraintData] = []
        self.cols: dict[int, int] = {}
        self.rows: dict[object, int] = {}
        self.set_model(m)

    def set_model(self, m: pyo.ConcreteModel) -> None:
        """Compile ``m`` and pass it to HiGHS, replacing whatever HiGHS held."""
        matrix, columns, constraints = compile_model(m)
        status = self.h.passModel(_lp(matrix))
        if status == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS refused the model")
        self._attach(m, matrix, columns, constraints)

    def _attach(self, m: pyo.ConcreteModel, matrix: MatrixModel, columns: list[VarData],
                constraints: list[ConstraintData]) -> None:
        self.model = m
        self._labels: tuple[list[tuple[str, object]], list[tuple[str, object]]] | None = None
        self.matrix = matrix
        self.columns = columns
        self.row_constraints = constraints
        self.cols = {id(v): j for j, v in enumerate(columns)}
        rows: dict[object, int] = {}
        for i, con in enumerate(constraints):
            rows.setdefault(con, i)
        self.rows = rows

    def update(self, m: pyo.ConcreteModel) -> bool:
        """Make HiGHS hold ``m`` by changing only the numbers that differ, when ``m`` has the
        structure of the model held (same columns, rows and sparsity); otherwise pass it anew.
        Returns True if updated in place. HiGHS keeps its options and callbacks either way."""
        matrix, columns, constraints = compile_model(m)
        old = self.matrix
        labels = None
        if old.same_pattern(matrix):
            labels = (_labels(columns), _labels(constraints))
            # the held model's labels are kept from its own update (one pass over each model)
            held = self._labels or (_labels(self.columns), _labels(self.row_constraints))
        same = labels is not None and labels == held
        if not same:
            status = self.h.passModel(_lp(matrix))
            if status == highspy.HighsStatus.kError:
                raise RuntimeError("HiGHS refused the model")
            self._attach(m, matrix, columns, constraints)
            return False
        h = self.h
        cols = np.flatnonzero(old.cost != matrix.cost).astype(np.int32)
        if len(cols):
            h.changeColsCost(len(cols), cols, matrix.cost[cols])
        cols = np.flatnonzero((old.col_lower != matrix.col_lower)
                              | (old.col_upper != matrix.col_upper)).astype(np.int32)
        if len(cols):
            h.changeColsBounds(len(cols), cols, matrix.col_lower[cols], matrix.col_upper[cols])
        rows = np.flatnonzero((old.row_lower != matrix.row_lower)
                              | (old.row_upper != matrix.row_upper)).astype(np.int32)
        if len(rows):
            # in highspy since 1.7, missing from its stubs
            h.changeRowsBounds(len(rows), rows, matrix.row_lower[rows], matrix.row_upper[rows])  # type: ignore[attr-defined]
        changed = np.flatnonzero(old.value != matrix.value)
        if len(changed):
            row_of = np.repeat(np.arange(len(old.row_lower), dtype=np.int32), np.diff(old.start))
            for k in changed:  # a sweep changes few coefficients; HiGHS takes them one by one
                h.changeCoeff(int(row_of[k]), int(matrix.index[k]), float(matrix.value[k]))
        if old.offset != matrix.offset:
            h.changeObjectiveOffset(matrix.offset)
        self._attach(m, matrix, columns, constraints)
        self._labels = labels
        return True

    def objective_of(self, values: np.ndarray) -> float:
        """The objective (currency) of column values ``values``."""
        return float(np.dot(self.matrix.cost, values) + self.matrix.offset)

    def load_values(self, values: np.ndarray) -> None:
        """Write HiGHS's column values into the Pyomo variables (and keep them as :attr:`values`)."""
        self.values = np.array(values, dtype=float)
        for v, x in zip(self.columns, self.values.tolist(), strict=True):
            v.set_value(x, skip_validation=True)

    def values_of(self, var: pyo.Var, keys: Iterable[object] | None = None) -> np.ndarray:
        """Values of ``var`` at ``keys`` (default: every index, in order) taken from :attr:`values`
        by column index, in one numpy step; a variable that is no column (fixed, or in no row and
        no objective term) gives the value it holds (0 when none)."""
        data = list(var.values()) if keys is None else [var[k] for k in keys]
        if self.values is None:  # no plan loaded through this object: what the variables hold
            return np.array([v.value or 0.0 for v in data], dtype=float)
        cols = self.cols
        pos = np.fromiter((cols.get(id(v), -1) for v in data), dtype=np.int64, count=len(data))
        out = self.values[pos] if len(pos) else np.zeros(0)
        for i in np.flatnonzero(pos < 0):
            out[i] = data[i].value or 0.0
        return out

    def constraint_duals(self, row_dual: np.ndarray) -> dict[object, float]:
        """Dual value of each constraint (the sum over its rows), HiGHS's sign convention."""
        out: dict[object, float] = {}
        for con, y in zip(self.row_constraints, row_dual.tolist(), strict=True):
            out[con] = out.get(con, 0.0) + y
        return out

    def version(self) -> str:
        return f"{self.h.versionMajor()}.{self.h.versionMinor()}.{self.h.versionPatch()}"
