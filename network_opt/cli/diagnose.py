"""``network-opt diagnose``: explain why an instance (or one of its scenarios) is infeasible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli.app import EXIT_INFEASIBLE, EXIT_INPUT, InstanceArg, app, err, out, report_problems
from network_opt.common.errors import InputError


@app.command()
def diagnose(
    instance: InstanceArg,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the findings as CSV here.")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit in seconds.", min=0)] = None,
    scenario: Annotated[str | None, typer.Option(help="Diagnose this scenario of instance.yaml's scenarios: "
                                                 "block (default: the instance as written).")] = None,
) -> None:
    """Re-solve with elastic slack on supply, capacities and targets; report what is short (exit 3 if
    anything is, 0 if the instance is feasible). An instance or scenario that fails the feasibility
    pre-check (supply beyond the capacity that could be opened, a point with no lane to a recycler) is
    diagnosed too, the pre-check's findings printed first."""
    from network_opt.inputs.load import load_for_scenarios
    from network_opt.inputs.scenarios import BASE, INVALID, check_scenario
    from network_opt.solver.diagnose import diagnose as run_diagnose
    from network_opt.solver.options import SolveOptions

    if out_file is not None and out_file.exists():
        err.print(f"error: {out_file} exists; choose a new file", markup=False)
        raise typer.Exit(EXIT_INPUT)
    what = f"{instance}" if scenario is None else f"{instance} (scenario {scenario})"
    try:
        checked = check_scenario(load_for_scenarios(instance), scenario or BASE)
        if checked.status == INVALID:
            raise InputError(list(checked.problems))
        for p in checked.problems:  # the pre-check already proves it infeasible; the re-solve says by how much
            err.print(f"note: {p}", markup=False)
        assert checked.instance is not None
        findings = run_diagnose(checked.instance, SolveOptions(time_limit=time_limit, mip_gap=1e-6))
    except InputError as exc:
        report_problems(exc.problems + exc.warnings)
        raise typer.Exit(EXIT_INPUT) from None
    if out_file is not None:  # atomically, figures to 6 decimals as solve's tables
        from network_opt.common.files import write_csv

        write_csv(findings, out_file)
    if findings.empty:
        out.print(f"{what}: feasible; nothing is short", markup=False)
        return
    out.print(f"{what}: infeasible. Smallest set of shortfalls that would make it feasible:", markup=False)
    for text in findings["explanation"]:
        out.print(f"  - {text}", markup=False)
    raise typer.Exit(EXIT_INFEASIBLE)
