"""``network-opt convert`` (folder <-> workbook) and ``network-opt template`` (empty documented workbook)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli.app import EXIT_INPUT, InstanceArg, app, err, out, report_problems
from network_opt.common.errors import InputError, OutputExistsError


class Target(StrEnum):
    """What ``convert`` writes."""

    xlsx = "xlsx"
    folder = "folder"


@app.command()
def convert(
    instance: InstanceArg,
    to: Annotated[Target, typer.Option("--to", help="xlsx: one workbook; folder: instance.yaml + CSV files.")],
    out_path: Annotated[Path, typer.Option("--out", help="New workbook (.xlsx) or folder to write; never "
                                           "overwritten.")],
) -> None:
    """Convert an instance between a folder and one .xlsx workbook, losslessly (same CSV text back)."""
    from network_opt.common.outdir import output_lock
    from network_opt.inputs.convert import convert as run_convert

    try:
        with output_lock(out_path):  # a second convert into the same path is refused
            run_convert(instance, to.value, out_path)
    except OutputExistsError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except InputError as exc:
        report_problems(exc.problems + exc.warnings)
        err.print(f"{len(exc.problems)} error(s) in {instance}; nothing written", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    out.print(f"wrote {out_path}", markup=False)


@app.command()
def template(
    out_path: Annotated[Path, typer.Option("--out", help="New .xlsx workbook to write; never overwritten.")],
) -> None:
    """Write an empty instance workbook: documented headers, drop-down lists, a README sheet with examples."""
    from network_opt.common.outdir import output_lock
    from network_opt.inputs.convert import write_template

    try:
        with output_lock(out_path):
            write_template(out_path)
    except OutputExistsError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except InputError as exc:
        report_problems(exc.problems)
        raise typer.Exit(EXIT_INPUT) from None
    out.print(f"wrote {out_path}; fill it in, then: network-opt validate {out_path}", markup=False)
