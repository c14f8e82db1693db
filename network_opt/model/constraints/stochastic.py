"""Rows of the two-stage stochastic design: the CVaR excess of a scenario and non-anticipativity.

Both are built on scenario blocks (:mod:`network_opt.model.stochastic`), not by
:func:`network_opt.model.build.build_model`; docs/stochastic.md states them.
"""

from __future__ import annotations

from typing import Any

import pyomo.environ as pyo

from network_opt.model.stages import first_stage_components


def add_cvar_excess(b: Any, var_at_risk: Any) -> None:
    r"""The cost of scenario :math:`\omega` above the value at risk :math:`\eta`
    (Rockafellar-Uryasev), in currency:

    .. math:: e_\omega \ge C_\omega - \eta, \qquad e_\omega \ge 0

    where :math:`C_\omega` is the scenario's net cost (its ``total_cost`` expression). Pyomo:
    ``excess`` (variable) and ``cvar_excess`` (constraint) on the scenario block ``b``;
    ``var_at_risk`` is the first-stage :math:`\eta` (currency, free).
    """
    b.excess = pyo.Var(domain=pyo.NonNegativeReals)
    b.cvar_excess = pyo.Constraint(expr=b.excess - b.total_cost.expr + var_at_risk >= 0)


def add_nonanticipativity(m: Any, blocks: list[Any]) -> None:
    r"""Every scenario makes the first-stage decisions of the first scenario block:

    .. math:: y^\omega_{j,p} = y^{\omega_0}_{j,p}, \quad n^\omega_{f,p} = n^{\omega_0}_{f,p},
              \quad z^\omega_{f,p} = z^{\omega_0}_{f,p} \qquad \forall \omega \ne \omega_0

    (the first-stage components are those of :func:`network_opt.model.stages.first_stage_components`).
    Used only when the extensive form is built with ``nonanticipativity="equality"``; with
    ``"shared"`` the blocks use the first block's variables themselves and no row is needed.
    Pyomo: ``nonanticipativity[k]`` on ``m``, one row per first-stage variable of the other blocks.
    """
    first = [v for comp in first_stage_components(blocks[0]) for v in comp.values()]
    pairs: list[tuple[Any, Any]] = []
    for b in blocks[1:]:
        mine = [v for comp in first_stage_components(b) for v in comp.values()]
        pairs.extend(zip(mine, first, strict=True))
    m.NONANT = pyo.Set(initialize=range(len(pairs)), ordered=True)
    m.nonanticipativity = pyo.Constraint(m.NONANT, rule=lambda _m, k: pairs[k][0] - pairs[k][1] == 0)
