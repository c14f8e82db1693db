"""network_opt: reverse-logistics network design for end-of-life EV and power batteries.

Public API: :func:`load`, :func:`validate`, :func:`solve`, :func:`write_results`; many solves
side by side: :func:`compare` (scenarios) and :func:`sweep` (grids and random samples); maps and
charts of a plan: :func:`plot`. An instance is a folder, its ``instance.yaml`` or an ``.xlsx`` workbook.

The names are imported on first use (module ``__getattr__``), so ``import network_opt`` loads
neither pandas, Pyomo, HiGHS nor matplotlib. The stages live in packages, lowest first:
``common``, ``inputs``, ``datasets``, ``model``, ``solver``, ``results``, ``runs``, ``plotting``,
``cli``, ``docs_tools``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from network_opt.common.version import __version__ as __version__

if TYPE_CHECKING:  # type-only: the names as type checkers see them, imported lazily below
    from network_opt.common.errors import InputError, Problem
    from network_opt.inputs.instance import Instance
    from network_opt.inputs.load import load, validate
    from network_opt.plotting.api import plot
    from network_opt.results.write import write_results
    from network_opt.runs.compare import compare
    from network_opt.runs.pipeline import solve
    from network_opt.runs.sweep import sweep
    from network_opt.solver.options import SolveOptions

#: public name -> the module defining it
_LAZY = {
    "InputError": "network_opt.common.errors",
    "Problem": "network_opt.common.errors",
    "Instance": "network_opt.inputs.instance",
    "load": "network_opt.inputs.load",
    "validate": "network_opt.inputs.load",
    "SolveOptions": "network_opt.solver.options",
    "solve": "network_opt.runs.pipeline",
    "write_results": "network_opt.results.write",
    "plot": "network_opt.plotting.api",
    "compare": "network_opt.runs.compare",
    "sweep": "network_opt.runs.sweep",
}

__all__ = ["InputError", "Instance", "Problem", "SolveOptions", "compare", "load", "plot", "solve", "sweep",
           "validate", "write_results"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # the next access does not come here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
