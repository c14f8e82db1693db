"""``network-opt app``: start the local web workspace (:mod:`network_opt.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli.app import EXIT_INPUT, EXIT_OK, app, err, out
from network_opt.common import interrupts


@app.command("app")
def app_command(
    host: Annotated[str, typer.Option(help="Address to listen on. The default answers only this machine; "
                                      "another (e.g. 0.0.0.0) requires a token, printed with the address.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8050,
    data: Annotated[Path | None, typer.Option(help="Folder of the app's workspaces, jobs and job table "
                                              "(default: $NETWORK_OPT_APP_DATA or ~/.network-opt/app).")] = None,
    token: Annotated[str | None, typer.Option(help="Token every request must carry (default: none on this "
                                              "machine, a random one on any other address).")] = None,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", min=0.001,
                                                 help="Largest upload accepted, MiB.")] = 50.0,
    max_jobs: Annotated[int, typer.Option(min=1, help="Jobs run at once (the others wait in the queue).")] = 1,
) -> None:
    """Start the web workspace: open, check and edit instances, solve, compare and sweep them as
    background jobs, and read the results, in a browser (fully offline). Stop it with Ctrl-C;
    running jobs go on and are found again at the next start."""
    try:
        from network_opt.app.config import AppConfig, default_data_dir
        from network_opt.app.server import address, check_listen, serve
    except ImportError as exc:
        err.print(f"error: the app needs its extra packages ({exc.name}): pip install 'network_opt[app]'",
                  markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    if token is not None and len(token) < 16:
        err.print("error: --token: use at least 16 characters", markup=False)
        raise typer.Exit(EXIT_INPUT)
    config = AppConfig(data_dir=data or default_data_dir(), host=host, port=port, token=token,
                       max_upload_bytes=int(max_upload_mb * 2**20), max_jobs=max_jobs).resolved()
    try:
        check_listen(host, port)
    except OSError as exc:
        err.print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    out.print(f"network-opt app: open {address(config)}\n  data: {config.data_dir}\n"
              "  stop with Ctrl-C (running jobs go on)", markup=False)
    try:
        serve(config)
    except interrupts.Interrupted:
        pass
    except SystemExit as exc:  # uvicorn gives up at start-up (exit 3): not an infeasible model
        if exc.code not in (0, None):
            err.print(f"error: the app could not start on {host}:{port}", markup=False)
            raise typer.Exit(EXIT_INPUT) from None
    out.print("network-opt app stopped", markup=False)
    raise typer.Exit(EXIT_OK)
