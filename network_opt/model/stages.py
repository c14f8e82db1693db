"""The one place that splits a built model into its two stages (two-stage stochastic design).

**First stage** (decided now, the same in every scenario): which capacity level each facility has
in each period (``level_open``), the modules installed (``modules``), the closings (``closed``) and,
in a risk-averse model, the value at risk of the CVaR term (``var_at_risk``). **Second stage**
(per scenario): everything else, flows, disposal, uncollected packs, target shortfalls, and the
spend ``investment[f, p]``, which the first-stage decisions determine (the opening-investment rows
bound it from below and its cost pushes it down to them) but which is priced with the scenario's
opening costs, so that an uncertain opening cost is allowed.

When the time structure changes (investment periods vs operating years), this module is the only
one that names the first-stage components: the extensive form
(:mod:`network_opt.model.stochastic`), the decomposition (:mod:`network_opt.runs.decompose`) and the
evaluation of a fixed plan all read :func:`first_stage_components`.
"""

from __future__ import annotations

from typing import Any

import pyomo.environ as pyo

#: Variable components that are first-stage decisions, in this order (those a model has).
FIRST_STAGE: tuple[str, ...] = ("level_open", "modules", "closed", "var_at_risk")
#: Cost terms (:data:`network_opt.model.objective.COST_TERMS`) that depend on first-stage decisions only
#: when opening costs are certain: the fixed yearly costs of what is open, the opening and closing costs.
FIRST_STAGE_TERMS: tuple[str, ...] = ("opening", "closing", "fixed")


def first_stage_components(m: Any) -> list[pyo.Var]:
    """The first-stage variable components of a built model or scenario block ``m`` (those of
    :data:`FIRST_STAGE` it has), in that order."""
    out = []
    for name in FIRST_STAGE:
        comp = m.component(name)
        if comp is not None:
            out.append(comp)
    return out


def first_stage_names(m: Any) -> list[str]:
    """Names of :func:`first_stage_components` of ``m``."""
    return [c.local_name for c in first_stage_components(m)]


def first_stage_vars(m: Any) -> list[Any]:
    """Every first-stage variable (VarData) of ``m``, component by component, in index order."""
    return [v for comp in first_stage_components(m) for v in comp.values()]


def plan_values(m: Any) -> dict[str, dict[Any, float]]:
    """The first-stage decisions of a solved model: component name -> index -> value (integers
    rounded, as HiGHS returns them within its integrality tolerance)."""
    out: dict[str, dict[Any, float]] = {}
    for comp in first_stage_components(m):
        vals = {}
        for k, v in comp.items():
            x = v.value if v.value is not None else 0.0
            vals[k] = float(round(x)) if v.is_integer() else float(x)
        out[comp.local_name] = vals
    return out


def fix_plan(m: Any, plan: dict[str, dict[Any, float]], names: tuple[str, ...] = ("level_open", "modules",
                                                                                   "closed")) -> None:
    """Fix the first-stage variables of ``m`` named in ``names`` to the values of ``plan``
    (:func:`plan_values` of another model with the same first-stage index sets). Raises
    ``KeyError`` naming a variable the plan does not cover. The rows of ``model.candidate_reductions``
    are deactivated: they keep an optimum, not every plan one may want to evaluate."""
    for name in ("candidate_order", "candidate_closed"):
        rows = m.find_component(name)
        if rows is not None:
            rows.deactivate()
    for comp in first_stage_components(m):
        if comp.local_name not in names:
            continue
        values = plan.get(comp.local_name)
        if values is None:
            raise KeyError(f"the plan has no values of {comp.local_name}")
        for k, v in comp.items():
            if k not in values:
                raise KeyError(f"the plan has no value of {comp.local_name}[{k}]")
            v.fix(values[k])


def first_stage_keys(m: Any) -> dict[str, list[Any]]:
    """Component name -> index keys of the first-stage variables of ``m`` (to check that two
    scenarios decide the same things)."""
    return {comp.local_name: list(comp.keys()) for comp in first_stage_components(m)}
