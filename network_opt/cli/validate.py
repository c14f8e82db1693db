"""``network-opt validate``: check an instance and its declared scenarios; ``--stats`` projects the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli.app import (
    EXIT_INPUT,
    InstanceArg,
    app,
    err,
    out,
    report_problems,
)


@app.command()
def validate(
    instance: InstanceArg,
    scenario: Annotated[str | None, typer.Option(help="Check only this scenario of instance.yaml's scenarios: "
                                                 "block (and the base); default: every declared scenario.")] = None,
    stats: Annotated[bool, typer.Option("--stats", help="Also print the model's projected size (rows, columns, "
                                        "integers, nonzeros, peak memory of a solve) and the lanes per "
                                        "commodity, without building it.")] = False,
    prune: Annotated[int | None, typer.Option("--prune", metavar="K", min=0, help="With --stats: project the "
                                              "model with lanes pruned as solve --prune K would.")] = None,
) -> None:
    """Check an instance and its declared scenarios (applied, not solved); print every error as
    FILE:ROW:COLUMN: message (exit 2 if any)."""
    from network_opt.inputs.load import validate as run_validation

    problems = run_validation(instance, scenario)
    report_problems(problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        err.print(f"{len(errors)} error(s) in {instance}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    out.print(f"{instance}: valid", markup=False)
    if stats:
        _print_stats(instance, prune)


def _print_stats(instance: Path, prune: int | None) -> None:
    """``validate --stats``: the projected model of the instance as solve would build it."""
    from network_opt.inputs.load import load
    from network_opt.model.size import available_memory, format_bytes, prepare_sized

    _data, size, pruning = prepare_sized(load(instance), prune)
    avail = available_memory()
    lanes = ", ".join(f"{k} {v:,}" for k, v in size.lanes.items()) or "none"
    out.print(f"lanes: {sum(size.lanes.values()):,} ({lanes})", markup=False)
    k = int(pruning["nearest_facilities"])  # type: ignore[call-overload]
    how = {"default": "by default", "--prune": "by --prune", "instance": "by transport.nearest_facilities"}
    out.print(f"flows: {size.flows:,} (one per lane, operating year, chemistry and grade it can carry)"
              + (f"; lanes pruned to the {k} nearest facilities {how.get(str(pruning['source']), '')}" if k else ""),
              markup=False)
    out.print(f"rows: {size.rows:,}\ncolumns: {size.columns:,} ({size.continuous:,} continuous, "
              f"{size.integers:,} integer)\nnonzeros: {size.nonzeros:,}", markup=False)
    fits = "fits" if size.fits(avail) else "does NOT fit: solve would refuse without --force"
    out.print(f"memory: about {format_bytes(size.memory_bytes)} at peak (projected; {format_bytes(avail)} "
              f"available: {fits})", markup=False)
    if pruning.get("warning"):
        err.print(f"warning: {pruning['warning']}", markup=False)
