"""Which investment period each variable of a built model belongs to: what the Lagrangian bound by
period (:mod:`network_opt.solver.lagrange`) splits the model by.

Variables indexed by an investment period (levels, spend, closings, modules, capacity added) carry
it as the last element of their index; those indexed by a row of a table of :class:`ModelData`
(flows, supply left uncollected or disposed, target shortfalls, stock) take that row's operating
year, mapped to the investment period it falls in (``ModelData.period_of``). Anything else (e.g.
recycled-content credits, the value at risk) has no period (-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from network_opt.model.data import ModelData

#: variables whose index ends with the investment period
BY_INDEX: tuple[str, ...] = ("level_open", "investment", "closed", "modules", "added_capacity")
#: variables indexed by a row of a ModelData table -> that table's attribute (its ``period`` column:
#: the operating year)
BY_TABLE: dict[str, str] = {"flow": "flows", "uncollected": "supply", "disposed": "supply",
                            "shortfall": "targets", "stock": "stock"}
#: no period known
NONE = -1


def column_periods(columns: Sequence[Any], d: ModelData) -> np.ndarray:
    """The investment period (a year) of each variable in ``columns`` (Pyomo variables of the model
    built from ``d``, e.g. :attr:`network_opt.solver.handoff.HighsModel.columns`), :data:`NONE`
    where there is none."""
    years = {name: _investment_periods(getattr(d, table), d) for name, table in BY_TABLE.items()}
    out = np.full(len(columns), NONE, dtype=np.int64)
    for k, v in enumerate(columns):
        name = v.parent_component().local_name
        if name in years:
            out[k] = years[name][v.index()]
        elif name in BY_INDEX:
            out[k] = int(v.index()[-1])
    return out


def _investment_periods(table: Any, d: ModelData) -> np.ndarray:
    """Per row of ``table``: the investment period its ``period`` (operating year) falls in, NONE
    where it has none."""
    if table is None or "period" not in getattr(table, "columns", ()):
        return np.full(0 if table is None else len(table), NONE, dtype=np.int64)
    year = table["period"].to_numpy()
    return np.fromiter((NONE if y != y else d.period_of.get(int(y), int(y)) for y in year),  # y != y: NaN
                       dtype=np.int64, count=len(year))


__all__ = ["BY_INDEX", "BY_TABLE", "NONE", "column_periods"]
