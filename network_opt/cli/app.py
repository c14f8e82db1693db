"""The ``network-opt`` Typer app, its consoles, exit codes and ``report_problems``: what every command
module of :mod:`network_opt.cli` imports (this module imports none of them).

Exit codes: 0 a plan was written (or the instance is valid); 2 invalid input or refused
output (nothing written; checked before any long work: --out may not replace the instance, the
working directory, a file or a folder network-opt did not write, must be writable with room for
the results, and no other run may be writing it); 3 infeasible; 4 no feasible plan within the
limits; 5 a plan was found but could not be written to --out (disk full, read-only, ...): it was
saved to the fallback folder printed (``network-opt-rescue-TIME-PID`` in the temporary folder,
else the home or working directory); 6 a plan was found but could not be saved anywhere; 130
interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, in any phase within about 2 s (the best plan found
so far is written if there is one; see network_opt.common.interrupts).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from network_opt.common.errors import Problem

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_WRITE_FAILED, EXIT_NOT_SAVED = 5, 6  # plan saved to a fallback folder instead of --out; saved nowhere

# plain help (click's): rich's option table cuts option names short on an 80-column terminal
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Design reverse-logistics networks for end-of-life EV batteries.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def show_diagnostics(level: int = logging.DEBUG) -> None:
    """``--verbose``: the package's diagnostics (each module's ``logging.getLogger(__name__)``,
    below the ``network_opt`` logger) on stderr from ``level`` up. Messages for the user go
    through the consoles above instead."""
    logger = logging.getLogger("network_opt")
    logger.setLevel(level)
    if not any(getattr(h, "network_opt_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        handler.network_opt_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def _print_version(value: bool) -> None:
    if value:
        from network_opt.common.version import version_line

        out.print(version_line(), markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the versions of network-opt, HiGHS, Pyomo and Python.")]
    = False,
) -> None:
    """Design reverse-logistics networks for end-of-life EV batteries."""


InstanceArg = Annotated[Path, typer.Argument(metavar="INSTANCE", help="Instance folder holding instance.yaml, that "
                                                  "file, or an .xlsx workbook.")]


def report_problems(problems: list[Problem]) -> None:
    """Print errors (sorted, one per line) then warnings to stderr."""
    for p in sorted(problems):
        if p.severity == "error":
            err.print(str(p), markup=False)
    for p in problems:
        if p.severity == "warning":
            err.print(f"warning: {p}", markup=False)
