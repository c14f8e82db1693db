"""Explaining infeasibility: re-solve with elastic slack and report what is short, and by how much.

The model is rebuilt with non-negative slack variables added to the constraints that make a
network design infeasible in practice -- supply that must be placed, returns and black mass
that must go somewhere, facility capacities, regulatory targets and the emissions cap -- and the
objective replaced by the sum of the slacks (phase one of the simplex method, on the MIP). The optimum
is the smallest total violation; every non-zero slack is a finding, in the unit of its row:

- ``supply_balance``: tonnes per year of supply that no open route can take;
- ``returns_balance`` / ``preprocessor_output``: returns or black mass that cannot be placed;
- ``facility_capacity``: tonnes per year a facility would have to take beyond its largest level;
- ``target_*``: shortfall of a target in tonnes of what it counts (material, packs, recycled mass);
- ``emissions_cap``: t CO2e per year above the cap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.visitor import identify_variables

from network_opt.inputs.instance import Instance
from network_opt.inputs.load import load
from network_opt.model import build_model, prepare
from network_opt.model.data import ModelData
from network_opt.model.families import BY_NAME, ELASTIC_FAMILIES, PLACEMENT_FAMILIES
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions

# The families relaxed (ELASTIC_FAMILIES) and those whose slack weighs double (PLACEMENT_FAMILIES:
# rows that merely move tonnes, so that where either would do, the diagnosis names the capacity or
# target to change rather than the tonnes) come from the registry, network_opt.model.families.
DIAGNOSIS_COLUMNS = ["constraint", "what", "period", "shortfall", "unit", "explanation"]


def _describe(d: ModelData, family: str, key: Any) -> tuple[str, int | None, str, str]:
    """(what, period, unit, explanation) for one relaxed row (``key``: its Pyomo index, a label or a tuple)."""
    if family == "supply_balance":
        s: Any = d.supply.loc[int(key)]  # a row (Any: pandas-stubs types its values as scalar | Series)
        what = f"collection point {s['site']} ({s['chemistry']}, grade {s['grade']})"
        return what, int(s["period"]), "t/yr", f"{what} has supply that no open route can take"
    if family == "facility_capacity":
        fac, period = key
        return f"facility {fac}", int(period), "t/yr", f"facility {fac} would need more capacity than its largest level"
    if BY_NAME[family].target_metric is not None:
        t: Any = d.targets.loc[int(key)]  # a row, as above
        material = f" {t['material']}" if t["material"] else ""
        where = f"at facility {t['facility']} in" if t.get("facility", "") else "in"
        if t.get("scope", "") == "chain" and t.get("facility", ""):
            where = f"on the chain into facility {t['facility']} in"
        if t.get("scope", "") == "step" and t.get("facility", ""):
            where = f"on the input of the smelting / refining step of facility {t['facility']} in"
        if t.get("process", ""):
            where = f"({t['process']}) {where}"
        what = f"{t['metric']}{material} {where} {t['jurisdiction']} (required {t['value']:g})"
        if t.get("scope", "") == "placed_on_market":
            what = f"{what[:-1]} of the tonnes placed on the market)"
        unit = {"collection_rate": "t/yr of packs", "second_life_priority": "t/yr of packs",
                "recycling_efficiency": "t/yr recycled"}.get(t["metric"], f"t/yr of {t['material']}")
        return what, int(t["period"]), unit, f"target {what} cannot be met"
    if family == "emissions_cap":
        return "emissions cap", int(key), "t CO2e/yr", "emissions exceed the cap"
    if family == "returns_balance":
        market, chem, period = key
        return (f"returns at market {market} ({chem})", int(period), "t/yr",
                f"packs returning from market {market} cannot reach recycling")
    market, chem, jur, period = key
    return (f"black mass at pre-processor {market} ({chem}, {jur})", int(period), "t/yr",
            f"black mass from pre-processor {market} cannot reach a refiner")


def _add_slack(m: pyo.ConcreteModel) -> list[tuple[pyo.Constraint, list[pyo.Var]]]:
    """Add non-negative slack to every row of :data:`ELASTIC_FAMILIES` (one per finite bound) and
    replace the objective with their (weighted) sum; return (row, slacks) pairs. A row built as
    trivially infeasible (``1 <= 0``: a supply row no flow can take) gets a slack of 1 here, which
    :func:`diagnose_model` reads as the whole row short."""
    rows = [c for name in ELASTIC_FAMILIES if hasattr(m, name) for c in getattr(m, name).values() if c.active]
    weight: list[float] = []
    bounds = [(c.lower is not None) + (c.upper is not None) for c in rows]
    m.ELASTIC = pyo.RangeSet(0, sum(bounds) - 1) if sum(bounds) else pyo.Set(initialize=[])
    m.elastic_slack = pyo.Var(m.ELASTIC, domain=pyo.NonNegativeReals)
    pairs, k = [], 0
    for c in rows:
        body, slacks = c.body, []
        w = 2.0 if c.parent_component().local_name in PLACEMENT_FAMILIES else 1.0
        if c.lower is not None:
            body = body + m.elastic_slack[k]
            slacks.append(m.elastic_slack[k])
            weight.append(w)
            k += 1
        if c.upper is not None:
            body = body - m.elastic_slack[k]
            slacks.append(m.elastic_slack[k])
            weight.append(w)
            k += 1
        c.set_value((c.lower, body, c.upper))
        pairs.append((c, slacks))
    m.total_cost.deactivate()
    if m.find_component("lane_link") is not None:
        m.lane_link.deactivate()  # its bounds come from capacities: keep capacity as the only limit
    m.total_violation = pyo.Objective(expr=sum(weight[i] * m.elastic_slack[i] for i in m.ELASTIC),
                                      sense=pyo.minimize)
    return pairs


def diagnose_model(d: ModelData, options: SolveOptions | None = None) -> pd.DataFrame:
    """Elastic re-solve of the model of ``d``; one row per violated constraint (largest first)."""
    m = build_model(d)
    relaxed = _add_slack(m)
    outcome = solve_model(m, options, data=d)
    if not outcome.has_plan:
        raise RuntimeError(f"the elastic model could not be solved ({outcome.termination}); the infeasibility is "
                           "structural (e.g. a facility that must stay open and must close)")
    rows = []
    for con, slacks in relaxed:
        amount = sum(float(v.value or 0.0) for v in slacks)
        if amount <= 1e-6:
            continue
        family = con.parent_component().local_name
        own = {id(v) for v in slacks}  # by identity: == on Pyomo variables builds an expression
        if family == "supply_balance" and all(id(v) in own for v in identify_variables(con.body)):
            amount = float(d.supply["tonnes"].to_numpy()[int(con.index())])  # no route at all: all of it is short
        what, period, unit, text = _describe(d, family, con.index())
        when = f" in {period}" if period is not None else ""
        rows.append((family, what, period, amount, unit, f"{text}{when}: short by {amount:,.4g} {unit}"))
    out = pd.DataFrame(rows, columns=DIAGNOSIS_COLUMNS)
    return out.sort_values(["shortfall", "constraint"], ascending=[False, True]).reset_index(drop=True)


def diagnose(instance: str | Path | Instance, options: SolveOptions | None = None) -> pd.DataFrame:
    """Load (if needed) and diagnose an instance; an empty frame means it is feasible."""
    inst = instance if isinstance(instance, Instance) else load(instance)
    return diagnose_model(prepare(inst), options)
