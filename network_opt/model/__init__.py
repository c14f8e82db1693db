"""The mixed-integer model: data preparation, variables, constraint families, objective."""

from network_opt.model.build import build_model
from network_opt.model.data import ModelData, prepare

__all__ = ["ModelData", "build_model", "prepare"]
