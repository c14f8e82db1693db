"""Further CLI commands, one module each, registered on :data:`network_opt.cli.app` at import.

Every module here is imported by :mod:`network_opt.cli` (discovered with pkgutil, so adding a
command touches no shared file). A module defines functions decorated with ``@app.command()``,
importing ``app``, ``err``, ``out`` and the exit codes from :mod:`network_opt.cli`.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all() -> None:
    """Import every command module of this package (which registers its commands)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        importlib.import_module(f"{__name__}.{info.name}")
