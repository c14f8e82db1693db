"""Flat linear expressions for the constraint builders.

Summing Pyomo variables with ``sum()`` or ``c * sum(...)`` builds the expression one ``+`` at a
time and nests products, which Pyomo's compiler then has to walk; a row with many terms costs
several times more than the same row given as one :class:`LinearExpression` of monomials.
Measured in ``benchmarks/README.md`` (build and hand-off per nonzero).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression


def var_list(var: pyo.Var) -> list[object]:
    """The data objects of an indexed variable in index order (list lookups beat ``var[k]``)."""
    return list(var.values())


def var_dict(var: pyo.Var) -> dict[object, object]:
    """Index -> data object of an indexed variable (dict lookups beat ``var[k]``)."""
    return dict(var.items())


def weighted(coefs: Sequence[float] | np.ndarray | float, variables: Sequence[object]) -> list[object]:
    """The terms c_k v_k with c_k != 0 (a scalar ``coefs`` applies to every variable)."""
    if isinstance(coefs, float | int | np.number):
        c = float(coefs)
        return [MonomialTermExpression((c, v)) for v in variables] if c != 0.0 else []
    array = np.asarray(coefs, dtype=float)
    keep = np.flatnonzero(array)
    return [MonomialTermExpression((x, variables[k])) for x, k in zip(array[keep].tolist(), keep.tolist(), strict=True)]


def linear(*parts: Iterable[object]) -> LinearExpression:
    """One linear expression of the given terms (variables, with coefficient 1, or monomials)."""
    args: list[object] = []
    for part in parts:
        args.extend(part)
    return LinearExpression(args)


def picked(variables: Sequence[object], rows: Iterable[int]) -> list[object]:
    """``variables[i]`` for each i in ``rows``."""
    return [variables[i] for i in rows]
