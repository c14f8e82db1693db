"""The one registry of constraint families: every Constraint component the model builds, the
builder that adds it, where docs/formulation.md states it, and what the rest of the package does
with it.

Read by the model build (:func:`network_opt.model.build.build_model` calls the builders in this
order), the shadow prices and the cost of compliance (:mod:`network_opt.solver.compliance`: the
families with a ``target_metric``) and the infeasibility diagnosis (:mod:`network_opt.solver.diagnose`:
the ``elastic`` families). A new family is one :class:`Family` here (and its builder and its
documentation); ``tests/test_docs.py`` and ``tests/test_status_and_registries.py`` check that every
component built is listed exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyomo.environ as pyo

from network_opt.model.constraints.balance import (
    add_preprocessor_output,
    add_refurbisher_output,
    add_refurbisher_rejects,
    add_returns_balance,
    add_supply_balance,
)
from network_opt.model.constraints.capacity import (
    add_capacity_cover,
    add_capacity_growth,
    add_facility_capacity,
    add_facility_continuity,
    add_lane_link,
    add_level_choice,
    add_module_rules,
    add_opening_investment,
    add_ramp_up,
)
from network_opt.model.constraints.emissions import add_emissions
from network_opt.model.constraints.market import add_market_demand
from network_opt.model.constraints.recycled_content import add_recycled_content
from network_opt.model.constraints.reductions import add_candidate_reductions
from network_opt.model.constraints.stochastic import add_cvar_excess, add_nonanticipativity
from network_opt.model.constraints.stock import add_stock_rules
from network_opt.model.constraints.targets import (
    add_target_collection_rate,
    add_target_domestic_recovery,
    add_target_material_recovery,
    add_target_recycling_efficiency,
    add_target_second_life_priority,
)
from network_opt.model.data import ModelData

Builder = Callable[[pyo.ConcreteModel, ModelData], None]


@dataclass(frozen=True)
class Family:
    """One Constraint component of the model.

    ``name``: the component (``m.<name>``); ``builder``: the function that adds it (one builder may
    add several components, e.g. ``add_module_rules``); ``doc``: its paragraph in the "Constraints"
    section of docs/formulation.md; ``target_metric``: the ``metric`` of targets.csv it enforces
    (shadow prices, cost of compliance), None for a family that is no regulatory target;
    ``elastic``: the diagnosis relaxes its rows with slack, at this rank (the order of the slack
    columns; None: kept hard); ``placement``: a row that merely moves tonnes (supply, returns,
    black mass), whose slack the diagnosis weighs double.
    """

    name: str
    builder: Builder
    doc: str
    target_metric: str | None = None
    elastic: int | None = None
    placement: bool = False


#: Every constraint component, in the order the model adds them.
FAMILIES: tuple[Family, ...] = (
    Family("supply_balance", add_supply_balance, "Supply balance", elastic=0, placement=True),
    Family("refurbisher_output", add_refurbisher_output, "Refurbisher output"),
    Family("refurbisher_rejects", add_refurbisher_rejects, "Refurbisher rejects"),
    Family("preprocessor_output", add_preprocessor_output, "Pre-processor output", elastic=2, placement=True),
    Family("returns_balance", add_returns_balance, "Returns balance", elastic=1, placement=True),
    Family("market_demand", add_market_demand, "Market demand"),
    Family("level_choice", add_level_choice, "Level choice"),
    Family("facility_continuity", add_facility_continuity, "Facility continuity"),
    Family("capacity_growth", add_capacity_growth, "Capacity growth"),
    Family("opening_investment", add_opening_investment, "Opening investment"),
    Family("module_growth", add_module_rules, "Modules"),
    Family("module_needs_open", add_module_rules, "Modules"),
    Family("facility_capacity", add_facility_capacity, "Facility capacity", elastic=3),
    Family("lane_link", add_lane_link, "Strong linking"),
    Family("ramp_up", add_ramp_up, "Ramp-up"),
    Family("capacity_cover", add_capacity_cover, "Capacity cover"),
    Family("candidate_order", add_candidate_reductions, "Candidate reductions"),
    Family("candidate_closed", add_candidate_reductions, "Candidate reductions"),
    Family("stock_cap", add_stock_rules, "Stock"),
    Family("stock_age", add_stock_rules, "Stock"),
    Family("target_collection_rate", add_target_collection_rate, "Collection rate",
           target_metric="collection_rate", elastic=4),
    Family("target_recycling_efficiency", add_target_recycling_efficiency, "Recycling efficiency",
           target_metric="recycling_efficiency", elastic=5),
    Family("target_material_recovery", add_target_material_recovery, "Material recovery",
           target_metric="material_recovery", elastic=6),
    Family("target_second_life_priority", add_target_second_life_priority, "Second-life priority",
           target_metric="second_life_priority", elastic=7),
    Family("target_domestic_recovery", add_target_domestic_recovery, "Domestic recovery",
           target_metric="domestic_recovery", elastic=8),
    Family("recycled_content", add_recycled_content, "Recycled content",
           target_metric="recycled_content", elastic=10),
    Family("recycled_content_allocation", add_recycled_content, "Recycled content"),
    Family("emissions_cap", add_emissions, "Emissions", elastic=9),
)

#: The builders, each once, in the order the model calls them.
CONSTRAINT_BUILDERS: tuple[Builder, ...] = tuple(dict.fromkeys(f.builder for f in FAMILIES))

#: Regulatory target families: metric of targets.csv -> constraint component.
TARGET_CONSTRAINTS: dict[str, str] = {f.target_metric: f.name for f in FAMILIES if f.target_metric is not None}

#: The families the diagnosis relaxes, in the order of their slack columns.
ELASTIC_FAMILIES: tuple[str, ...] = tuple(
    f.name for f in sorted((f for f in FAMILIES if f.elastic is not None), key=lambda f: f.elastic or 0))

#: Elastic families whose rows only move tonnes (their slack weighs double in the diagnosis).
PLACEMENT_FAMILIES: tuple[str, ...] = tuple(f.name for f in FAMILIES if f.placement)

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}

#: Constraint families of the two-stage stochastic design: built on the scenario blocks of the
#: extensive form by :mod:`network_opt.model.stochastic` (not by ``build_model``, whose families are
#: :data:`FAMILIES`); component name -> (builder, its section of docs/stochastic.md).
STOCHASTIC_FAMILIES: dict[str, tuple[Callable[..., None], str]] = {
    "cvar_excess": (add_cvar_excess, "CVaR excess"),
    "nonanticipativity": (add_nonanticipativity, "Non-anticipativity"),
}


def family(name: str) -> Family:
    """The family of the constraint component ``name``."""
    return BY_NAME[name]


__all__ = ["BY_NAME", "CONSTRAINT_BUILDERS", "ELASTIC_FAMILIES", "FAMILIES", "PLACEMENT_FAMILIES",
           "STOCHASTIC_FAMILIES", "TARGET_CONSTRAINTS", "Builder", "Family", "family"]
