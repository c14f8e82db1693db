"""``network-opt diagnose``: explain why an instance is infeasible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli import EXIT_INFEASIBLE, EXIT_INPUT, InstanceArg, app, err, out, report_problems
from network_opt.errors import InputError


@app.command()
def diagnose(
    instance: InstanceArg,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the findings as CSV here.")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit in seconds.", min=0)] = None,
) -> None:
    """Re-solve with elastic slack on supply, capacities and targets; report what is short (exit 3 if
    anything is, 0 if the instance is feasible)."""
    from network_opt.diagnose import diagnose as run_diagnose
    from network_opt.solve import SolveOptions

    if out_file is not None and out_file.exists():
        err.print(f"error: {out_file} exists; choose a new file", markup=False)
        raise typer.Exit(EXIT_INPUT)
    try:
        findings = run_diagnose(instance, SolveOptions(time_limit=time_limit, mip_gap=1e-6))
    except InputError as exc:
        report_problems(exc.problems + exc.warnings)
        raise typer.Exit(EXIT_INPUT) from None
    if out_file is not None:
        findings.to_csv(out_file, index=False)
    if findings.empty:
        out.print(f"{instance}: feasible; nothing is short", markup=False)
        return
    out.print(f"{instance}: infeasible. Smallest set of shortfalls that would make it feasible:", markup=False)
    for text in findings["explanation"]:
        out.print(f"  - {text}", markup=False)
    raise typer.Exit(EXIT_INFEASIBLE)
