"""The version of network-opt and of what it runs on (HiGHS, Pyomo, Python), as recorded in
``summary.json`` and printed by ``network-opt --version``."""

from __future__ import annotations

import platform
from importlib import metadata

__version__ = "0.1.0"


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of network-opt, HiGHS (the highspy build), Pyomo and Python."""
    return {"network_opt": __version__, "highs": _dist_version("highspy"), "pyomo": _dist_version("pyomo"),
            "python": platform.python_version()}


def version_line() -> str:
    """``network-opt X.Y.Z (HiGHS a.b.c, Pyomo x.y, Python 3.11.7)``."""
    v = versions()
    return f"network-opt {v['network_opt']} (HiGHS {v['highs']}, Pyomo {v['pyomo']}, Python {v['python']})"
