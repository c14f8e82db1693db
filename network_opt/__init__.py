"""network_opt: reverse-logistics network design for end-of-life EV and power batteries.

Public API: :func:`load`, :func:`validate`, :func:`solve`, :func:`write_results`.
"""

from network_opt.api import solve
from network_opt.errors import InputError, Problem
from network_opt.instance import Instance, load
from network_opt.io.write import write_results
from network_opt.solve import SolveOptions
from network_opt.validate import validate

__version__ = "0.1.0"
__all__ = ["InputError", "Instance", "Problem", "SolveOptions", "load", "solve", "validate", "write_results"]
