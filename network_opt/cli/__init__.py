"""Command-line interface (``network-opt``): argument parsing, exit codes, messages.

:mod:`network_opt.cli.app` holds the Typer app, the consoles and the exit codes; each command is a
module here (``solve``, ``validate``, ``generate``, ``policies``, ``scenarios`` (compare, sweep),
``diagnose``, ``excel`` (convert, template), ``maps``, ``workspace`` (app)) that imports :mod:`network_opt.cli.app` and
registers its commands with ``@app.command()``. This package imports the app and then every command
module, in the order of ``network-opt --help``; nothing imports back from here. Adding a command:
a module here and one line below.
"""

# ruff: noqa: I001  (the command modules are imported in the order `network-opt --help` lists them)

from __future__ import annotations

import sys

# a Ctrl-C while the modules load (about a second, before main() installs its handlers) ends the
# command with a line and exit code 130, not a KeyboardInterrupt traceback
try:
    from network_opt.cli.app import EXIT_INTERRUPTED, EXIT_OK, err
    from network_opt.cli.app import app as typer_app
    from network_opt.common import interrupts

    # importing a command module registers its commands on the app, in this order
    from network_opt.cli import validate  # noqa: F401
    from network_opt.cli import solve  # noqa: F401
    from network_opt.cli import generate  # noqa: F401
    from network_opt.cli import policies  # noqa: F401
    from network_opt.cli import diagnose  # noqa: F401
    from network_opt.cli import excel  # noqa: F401
    from network_opt.cli import maps  # noqa: F401
    from network_opt.cli import scenarios  # noqa: F401
    from network_opt.cli import workspace  # noqa: F401
except KeyboardInterrupt:
    sys.stderr.write("interrupted while starting; nothing written\n")
    raise SystemExit(130) from None


def main() -> None:
    """Entry point of the ``network-opt`` console script. SIGINT and SIGTERM are handled for the
    whole command (:mod:`network_opt.common.interrupts`): while HiGHS runs they stop it and the best plan
    is written; elsewhere the command stops at once with nothing written. Exit code 130 (SIGINT)
    or 143 (SIGTERM)."""
    code: int | str | None = EXIT_OK
    with interrupts.handling(ending=True):
        try:
            typer_app()
        except SystemExit as exc:
            code = exc.code
        except interrupts.Interrupted as exc:
            err.print(f"interrupted during {interrupts.phase_of(exc)} ({interrupts.signal_name(exc.signum)}); "
                      "nothing written", markup=False)
            code = exc.exit_code
        except KeyboardInterrupt:  # a signal before the handlers were in place
            err.print("interrupted; nothing written", markup=False)
            code = EXIT_INTERRUPTED
        if interrupts.requested() is not None:
            # at once: a HiGHS run may still be going in a thread (interrupts.abandoned()), and
            # freeing a large model object by object would take seconds of the signal's 2
            interrupts.leave_now(code if isinstance(code, int) else 1)
    sys.exit(code)
