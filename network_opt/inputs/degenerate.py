"""Checks for degenerate instances: input that is well formed but leaves little or nothing to plan.

An instance with no data at all (the empty template) or with neither supply nor facilities is an
error: the model would be empty. The rest are warnings, as a planner may intend them (a period
before any supply, a market not yet open): no supply at all, a period without supply, no
facility, a market without demand, a facility without capacity.
"""

from __future__ import annotations

from network_opt.common.errors import Problem
from network_opt.inputs.instance import Instance
from network_opt.inputs.read import ROW
from network_opt.inputs.schema import TABLES

#: what to fill in first, in order, in an empty instance
FIRST_TABLES = ("sites", "chemistries", "supply", "technologies", "facilities", "facility_levels")


def degenerate(inst: Instance) -> list[Problem]:
    """Errors for an instance with nothing to plan, warnings for degenerate data."""
    if not any(len(inst[name]) for name in TABLES):
        where = inst.table_file("supply")
        guide = ("the README sheet and the comments on each column name describe them" if where.endswith("]")
                 else "docs/instance-format.md describes every column")
        return [Problem(where, 0, "", f"the instance has no data yet: fill in {', '.join(FIRST_TABLES)} first "
                        f"(collection points, chemistries, tonnes per period, recycling technologies, facilities "
                        f"and their capacity levels); {guide}")]
    problems: list[Problem] = []
    supply, fac = inst["supply"], inst["facilities"]
    supply_file, fac_file = inst.table_file("supply"), inst.table_file("facilities")
    total = float(supply["tonnes"].sum()) if len(supply) else 0.0
    if total <= 0 and not len(fac):
        return [Problem(supply_file, 0 if len(supply) else 1, "", "nothing to plan: no supply and no facility; "
                        f"fill in supply (tonnes per collection point and period) and facilities with their "
                        f"facility_levels ({fac_file})")]
    if not len(supply):
        problems.append(_warn(supply_file, 1, "", "no supply in any period (the table has only its header): "
                              "the plan will only carry fixed costs"))
    elif total <= 0:
        problems.append(_warn(supply_file, 0, "tonnes", "no supply in any period (every tonnes value is 0): "
                              "the plan will only carry fixed costs"))
    else:
        by_period = supply.groupby("period")["tonnes"].sum()
        for year in inst.years:
            if float(by_period.get(year, 0.0)) <= 0:
                problems.append(_warn(supply_file, 0, "period", f"period {year} has no supply: in that period "
                                      "the plan will only carry fixed costs"))
    if not len(fac):
        problems.append(_warn(fac_file, 1, "", "no facility, existing or candidate: packs can only be left "
                              "uncollected or disposed of"))
    problems += _idle_facilities(inst)
    problems += _markets_without_demand(inst)
    return problems


def _warn(file: str, row: int, column: str, message: str) -> Problem:
    return Problem(file, row, column, message, severity="warning")


def _idle_facilities(inst: Instance) -> list[Problem]:
    """Facilities whose every level has no capacity and that may add no module."""
    fac, levels = inst["facilities"], inst["facility_levels"]
    if not len(fac):
        return []
    best = levels.groupby("facility")["capacity_t"].max()
    modules = fac["module_capacity_t"] * fac["max_modules"]
    idle = (fac["id"].map(best).fillna(0.0) <= 0) & (modules <= 0) & fac["id"].isin(levels["facility"])
    return [_warn(inst.table_file("facilities"), int(r[ROW]), "id",
                  f"facility {r['id']!r} has no capacity at any level (facility_levels.capacity_t is 0) and no "
                  "modules: it can process nothing") for _, r in fac.loc[idle].iterrows()]


def _markets_without_demand(inst: Instance) -> list[Problem]:
    markets, demand = inst["markets"], inst["market_demand"]
    if not len(markets):
        return []
    wanted = set(demand.loc[demand["demand_kwh"] > 0, "market"])
    return [_warn(inst.table_file("markets"), int(r[ROW]), "id",
                  f"market {r['id']!r} has no demand in any period ({inst.table_file('market_demand')}): it can "
                  "take no packs") for _, r in markets.loc[~markets["id"].isin(wanted)].iterrows()]
