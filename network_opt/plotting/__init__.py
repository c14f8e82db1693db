"""Maps and charts of a plan (matplotlib + geopandas, fully offline).

Every function takes a :class:`~network_opt.results.tables.Solution`, a results folder written by
``network-opt solve`` or a :class:`~network_opt.results.read.PlotResult`:

- :func:`flow_map` (one period), :func:`flow_maps` (small multiples over periods or scenarios on
  the same extent and scales);
- :func:`cost_chart`, :func:`capacity_chart`, :func:`targets_chart`, :func:`sankey`;
- :func:`write_html_map`: a self-contained interactive HTML map;
- :func:`plot`: one entry point for all of them.

Submodules are imported on first use; reading a plan back (:mod:`network_opt.results.read`, below
this package) needs no matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "flow_map": "maps", "flow_maps": "maps", "plot": "api", "cost_chart": "charts", "capacity_chart": "charts",
    "targets_chart": "charts", "sankey": "charts", "sankey_links": "charts", "write_html_map": "interactive",
    "html_map": "interactive", "save_figure": "api",
    # a plan read back (results folder, Solution): network_opt.results.read, below plot
    "PlotResult": "network_opt.results.read", "as_result": "network_opt.results.read",
    "from_folder": "network_opt.results.read", "ResultsError": "network_opt.results.read",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = _EXPORTS[name]
        return getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
