"""Assemble the Pyomo model from :class:`ModelData`: variables, each constraint family, objective."""

from __future__ import annotations

import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from network_opt.model.data import ModelData
from network_opt.model.families import CONSTRAINT_BUILDERS, TARGET_CONSTRAINTS
from network_opt.model.objective import add_objective
from network_opt.model.variables import add_variables

#: Constraint builders in the order they are added (from the registry, :mod:`network_opt.model.families`).
CONSTRAINT_FAMILIES = CONSTRAINT_BUILDERS

__all__ = ["CONSTRAINT_FAMILIES", "TARGET_CONSTRAINTS", "build_model"]


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
