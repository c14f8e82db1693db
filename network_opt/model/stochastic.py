r"""Two-stage stochastic models built from one :class:`~network_opt.model.data.ModelData` per scenario.

One function, :func:`add_scenario`, fills a Pyomo block (or a model) with the deterministic model
of a scenario; the extensive form (:func:`build_extensive_form`) is one block per scenario, and the
decomposition's scenario creator (:func:`scenario_model`, read by mpi-sppy in
:mod:`network_opt.runs.decompose`) is the same function on a model of its own, so that both solve
the same scenario problems.

Objective (currency), with scenario probabilities :math:`p_\omega`, scenario net cost
:math:`C_\omega` and, for a risk-averse design, weight :math:`\lambda \ge 0` on the CVaR at level
:math:`\alpha` (Rockafellar-Uryasev, linear):

.. math::
    \min \sum_\omega p_\omega C_\omega + \lambda \Big( \eta + \frac{1}{1-\alpha} \sum_\omega p_\omega e_\omega \Big),
    \qquad e_\omega \ge C_\omega - \eta,\; e_\omega \ge 0

The first-stage decisions (:mod:`network_opt.model.stages`) are the same in every scenario: shared
variables (``nonanticipativity="shared"``: the blocks after the first use the first block's
variables through Pyomo References) or equality rows (``"equality"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from network_opt.common.errors import InputError, Problem
from network_opt.model.constraints.reductions import add_candidate_reductions
from network_opt.model.constraints.stochastic import add_cvar_excess, add_nonanticipativity
from network_opt.model.data import ModelData
from network_opt.model.families import CONSTRAINT_BUILDERS
from network_opt.model.objective import add_objective
from network_opt.model.stages import FIRST_STAGE_TERMS, first_stage_components, first_stage_keys
from network_opt.model.variables import add_variables

NONANTICIPATIVITY = ("shared", "equality")


def add_scenario(b: Any, d: ModelData, first: Any = None) -> None:
    """Fill ``b`` (a block or a model) with the model of the scenario behind ``d``: its variables,
    every constraint family of the registry and its cost terms; its ``total_cost`` objective is
    deactivated (the caller states the objective). With ``first`` (an earlier scenario block), the
    first-stage variable components of ``b`` are Pyomo References to those of ``first`` (shared
    variables), which must have the same index sets (:func:`check_same_first_stage`)."""
    add_variables(b, d)
    if first is not None:
        for comp in first_stage_components(b):
            name = comp.local_name
            other = first.component(name)
            if other is None or list(other.keys()) != list(comp.keys()):
                raise ValueError(f"the scenarios differ in the first-stage variables {name}")
            b.del_component(name)
            b.add_component(name, pyo.Reference(other))
    for add in CONSTRAINT_BUILDERS:
        if add is add_candidate_reductions:  # found per scenario, they could cut the shared first stage
            continue
        add(b, d)
    add_objective(b, d)
    b.total_cost.deactivate()


def first_stage_cost(b: Any) -> Any:
    """The cost terms of :data:`~network_opt.model.stages.FIRST_STAGE_TERMS` of a scenario block (an
    expression, currency): mpi-sppy's first-stage cost, for its reports."""
    return sum(b.cost[t, p] for t in FIRST_STAGE_TERMS for p in b.PERIODS)


def check_same_first_stage(datas: Sequence[ModelData], names: Sequence[str]) -> None:
    """Raise :class:`InputError` naming each scenario whose first-stage decisions (facilities,
    capacity levels, modules, closings, periods) differ from the first scenario's: a scenario of a
    stochastic design may change numbers, not which facilities can be built."""
    def key(d: ModelData) -> tuple[Any, ...]:
        fac = d.facilities
        closable = tuple(sorted(fac.loc[fac["closing_cost"].notna(), "id"]))
        modular = tuple(sorted(fac.loc[(fac["max_modules"] > 0) & (fac["module_capacity_t"] > 0), "id"]))
        levels = tuple(map(tuple, d.levels[["facility", "capacity_t"]].itertuples(index=False)))
        return (tuple(d.years), levels, closable, modular,
                tuple(fac.set_index("id").loc[list(modular), "max_modules"].astype(int)) if modular else ())

    ref = key(datas[0])
    problems = [Problem("stochastic", 0, name, f"scenario {name!r} changes the facilities, their capacity levels, "
                        f"modules, closing options or the periods of scenario {names[0]!r}: the first-stage "
                        "decisions must be the same in every scenario (a scenario may change numbers, "
                        "not which facilities can be built)")
                for name, d in zip(names[1:], datas[1:], strict=True) if key(d) != ref]
    if problems:
        raise InputError(problems)


def build_extensive_form(datas: Sequence[ModelData], probabilities: Sequence[float], *, alpha: float = 0.9,
                         weight: float = 0.0, nonanticipativity: str = "shared") -> pyo.ConcreteModel:
    r"""The extensive form: block ``scenario[k]`` holds scenario k's model (:func:`add_scenario`);
    the first-stage decisions are shared (``"shared"``) or tied by ``nonanticipativity`` rows
    (``"equality"``). Objective ``expected_total``: expected net cost plus ``weight`` x CVaR at
    level ``alpha`` (currency); expressions ``expected_cost`` and ``cvar`` give the two parts
    (``cvar`` only when ``weight > 0``, with the root variable ``var_at_risk`` :math:`\eta`)."""
    if nonanticipativity not in NONANTICIPATIVITY:
        raise ValueError(f"nonanticipativity must be one of {NONANTICIPATIVITY}, got {nonanticipativity!r}")
    if len(datas) != len(probabilities) or not datas:
        raise ValueError("one probability per scenario, at least one scenario")
    check_risk(alpha, weight)
    prob = [float(p) for p in probabilities]
    m = pyo.ConcreteModel(name="extensive_form")
    m.SCENARIOS = pyo.Set(initialize=range(len(datas)), ordered=True)
    m.scenario = pyo.Block(m.SCENARIOS)
    with PauseGC():
        blocks: list[Any] = []
        for k, d in enumerate(datas):
            b = m.scenario[k]
            add_scenario(b, d, blocks[0] if blocks and nonanticipativity == "shared" else None)
            blocks.append(b)
        if nonanticipativity == "equality":
            add_nonanticipativity(m, blocks)
        m.expected_cost = pyo.Expression(expr=sum(p * b.total_cost.expr for p, b in zip(prob, blocks, strict=True)))
        if weight > 0:
            m.var_at_risk = pyo.Var(domain=pyo.Reals)
            for b in blocks:
                add_cvar_excess(b, m.var_at_risk)
            m.cvar = pyo.Expression(expr=m.var_at_risk + sum(p * b.excess for p, b in zip(prob, blocks, strict=True))
                                    / (1.0 - alpha))
            m.expected_total = pyo.Objective(expr=m.expected_cost + weight * m.cvar, sense=pyo.minimize)
        else:
            m.expected_total = pyo.Objective(expr=m.expected_cost, sense=pyo.minimize)
    return m


def scenario_model(d: ModelData, probability: float, *, alpha: float = 0.9, weight: float = 0.0,
                   name: str = "scenario", var_at_risk_bounds: tuple[float, float] | None = None,
                   var_at_risk_unit: tuple[float, float] | None = None) -> pyo.ConcreteModel:
    r"""The model of one scenario as the decomposition sees it: :func:`add_scenario` on a model of
    its own, with objective ``scenario_total`` :math:`C_\omega + \lambda(\eta + e_\omega / (1-\alpha))`
    (its probability-weighted sum over the scenarios is the extensive form's objective), and
    ``var_at_risk`` :math:`\eta` among the first-stage variables when ``weight > 0``, within
    ``var_at_risk_bounds`` (currency) if given: progressive hedging's linearised proximal term and
    its Lagrangian bound need a bounded :math:`\eta`.

    ``var_at_risk_unit`` = :math:`(\eta_0, s)` (currency, :math:`s > 0`): the variable
    ``var_at_risk`` is then :math:`z = (\eta - \eta_0)/s`, dimensionless, with
    :math:`\eta = \eta_0 + s z` in the excess row and the objective (and the bounds mapped alike).
    Progressive hedging needs this: its linearised proximal term :math:`\rho/2\,(x - \bar x)^2` is
    built on :math:`x^2` (tangent rows :math:`q \ge 2ax - a^2`), so an :math:`\eta` of a million
    currency units puts rows of :math:`10^{12}` and an objective offset :math:`\rho \bar x^2/2`
    near :math:`10^{16}` into every subproblem, beyond double precision (HiGHS: "Solve error")."""
    check_risk(alpha, weight)
    m = pyo.ConcreteModel(name=name)
    with PauseGC():
        add_scenario(m, d)
        if weight > 0:
            origin, unit = var_at_risk_unit if var_at_risk_unit is not None else (0.0, 1.0)
            if not (np.isfinite(origin) and np.isfinite(unit) and unit > 0):
                raise ValueError(f"var_at_risk_unit must be (a finite origin, a unit > 0), got {var_at_risk_unit}")
            bounds = (None if var_at_risk_bounds is None
                      else ((var_at_risk_bounds[0] - origin) / unit, (var_at_risk_bounds[1] - origin) / unit))
            m.var_at_risk = pyo.Var(domain=pyo.Reals, bounds=bounds)
            eta = m.var_at_risk if var_at_risk_unit is None else origin + unit * m.var_at_risk
            add_cvar_excess(m, eta)
            m.scenario_total = pyo.Objective(expr=m.total_cost.expr + weight * (eta + m.excess / (1 - alpha)),
                                             sense=pyo.minimize)
        else:
            m.scenario_total = pyo.Objective(expr=m.total_cost.expr, sense=pyo.minimize)
    m._probability = float(probability)
    return m


def check_risk(alpha: float, weight: float) -> None:
    """Raise ``ValueError`` unless 0 <= ``alpha`` < 1 and ``weight`` >= 0 (finite)."""
    if not (np.isfinite(alpha) and 0.0 <= alpha < 1.0):
        raise ValueError(f"the CVaR level alpha must be in [0, 1), got {alpha}")
    if not (np.isfinite(weight) and weight >= 0.0):
        raise ValueError(f"the CVaR weight must be a number >= 0, got {weight}")


def cvar(costs: npt.ArrayLike, probabilities: npt.ArrayLike, alpha: float) -> float:
    r"""CVaR at level ``alpha`` of a discrete cost distribution (currency):
    :math:`\min_\eta \eta + \frac{1}{1-\alpha} \sum_\omega p_\omega (C_\omega - \eta)^+`, whose
    minimum is reached at a cost of the distribution (the alpha-quantile). Infinite if a cost is."""
    c = np.asarray(costs, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if not np.all(np.isfinite(c)):
        return float("inf")
    return float(min(eta + np.sum(p * np.maximum(c - eta, 0.0)) / (1.0 - alpha) for eta in c))


def risk_objective(costs: npt.ArrayLike, probabilities: npt.ArrayLike, alpha: float, weight: float) -> float:
    """Expected cost plus ``weight`` x :func:`cvar` (the objective of the stochastic design)."""
    c = np.asarray(costs, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if not np.all(np.isfinite(c)):
        return float("inf")
    return float(np.sum(p * c) + (weight * cvar(c, p, alpha) if weight > 0 else 0.0))


__all__ = ["NONANTICIPATIVITY", "add_scenario", "build_extensive_form", "check_risk", "check_same_first_stage",
           "cvar", "first_stage_cost", "first_stage_keys", "risk_objective", "scenario_model"]
