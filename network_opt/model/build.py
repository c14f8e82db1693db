"""Assemble the Pyomo model from :class:`ModelData`: variables, each constraint family, objective."""

from __future__ import annotations

import pyomo.environ as pyo

from network_opt.model.constraints.balance import (
    add_refurbisher_output,
    add_refurbisher_rejects,
    add_supply_balance,
)
from network_opt.model.constraints.capacity import add_facility_capacity, add_lane_link, add_level_choice
from network_opt.model.constraints.market import add_market_demand
from network_opt.model.constraints.targets import (
    add_target_collection_rate,
    add_target_material_recovery,
    add_target_recycling_efficiency,
)
from network_opt.model.data import ModelData
from network_opt.model.objective import add_objective
from network_opt.model.variables import add_variables

#: Constraint builders in the order they are added.
CONSTRAINT_FAMILIES = (
    add_supply_balance,
    add_refurbisher_output,
    add_refurbisher_rejects,
    add_market_demand,
    add_level_choice,
    add_facility_capacity,
    add_lane_link,
    add_target_collection_rate,
    add_target_recycling_efficiency,
    add_target_material_recovery,
)


def build_model(d: ModelData) -> pyo.ConcreteModel:
    """The mixed-integer model of the instance behind ``d``."""
    m = pyo.ConcreteModel(name=d.inst.name)
    add_variables(m, d)
    for add in CONSTRAINT_FAMILIES:
        add(m, d)
    add_objective(m, d)
    return m
