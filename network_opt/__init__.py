"""network_opt: reverse-logistics network design for end-of-life EV and power batteries.

Public API: :func:`load`, :func:`validate`, :func:`solve`, :func:`write_results`; many solves
side by side: :func:`compare` (scenarios) and :func:`sweep` (grids and random samples); maps and
charts of a plan: :func:`plot`. An instance is a folder, its ``instance.yaml`` or an ``.xlsx`` workbook.
"""

from network_opt.api import solve
from network_opt.compare import compare
from network_opt.errors import InputError, Problem
from network_opt.instance import Instance, load
from network_opt.io.write import write_results
from network_opt.plot.api import plot
from network_opt.solve import SolveOptions
from network_opt.sweep import sweep
from network_opt.validate import validate

__version__ = "0.1.0"
__all__ = ["InputError", "Instance", "Problem", "SolveOptions", "compare", "load", "plot", "solve", "sweep",
           "validate", "write_results"]
