"""Assemble the Pyomo model from :class:`ModelData`: variables, each constraint family, objective."""

from __future__ import annotations

import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from network_opt.model.constraints.balance import (
    add_preprocessor_output,
    add_refurbisher_output,
    add_refurbisher_rejects,
    add_returns_balance,
    add_supply_balance,
)
from network_opt.model.constraints.capacity import (
    add_capacity_growth,
    add_facility_capacity,
    add_facility_continuity,
    add_lane_link,
    add_level_choice,
    add_module_rules,
    add_opening_investment,
)
from network_opt.model.constraints.emissions import add_emissions
from network_opt.model.constraints.market import add_market_demand
from network_opt.model.constraints.targets import (
    add_target_collection_rate,
    add_target_domestic_recovery,
    add_target_material_recovery,
    add_target_recycling_efficiency,
    add_target_second_life_priority,
)
from network_opt.model.data import ModelData
from network_opt.model.objective import add_objective
from network_opt.model.variables import add_variables

#: Constraint builders in the order they are added.
CONSTRAINT_FAMILIES = (
    add_supply_balance,
    add_refurbisher_output,
    add_refurbisher_rejects,
    add_preprocessor_output,
    add_returns_balance,
    add_market_demand,
    add_level_choice,
    add_facility_continuity,
    add_capacity_growth,
    add_opening_investment,
    add_module_rules,
    add_facility_capacity,
    add_lane_link,
    add_target_collection_rate,
    add_target_recycling_efficiency,
    add_target_material_recovery,
    add_target_second_life_priority,
    add_target_domestic_recovery,
    add_emissions,
)

#: Constraint families that are regulatory targets (for shadow prices and cost of compliance).
TARGET_CONSTRAINTS = {
    "collection_rate": "target_collection_rate",
    "recycling_efficiency": "target_recycling_efficiency",
    "material_recovery": "target_material_recovery",
    "second_life_priority": "target_second_life_priority",
    "domestic_recovery": "target_domestic_recovery",
}


def build_model(d: ModelData) -> pyo.ConcreteModel:
    """The mixed-integer model of the instance behind ``d``."""
    # Millions of small expression objects, none of them garbage: Python's cyclic collector
    # would otherwise run over them again and again (about 70 % of the build time measured).
    with PauseGC():
        m = pyo.ConcreteModel(name=d.inst.name)
        add_variables(m, d)
        for add in CONSTRAINT_FAMILIES:
            add(m, d)
        add_objective(m, d)
    return m
