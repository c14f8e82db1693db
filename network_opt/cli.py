"""Command-line interface (``network-opt``): argument parsing, exit codes, messages.

Exit codes: 0 a plan was written (or the instance is valid); 2 invalid input or refused
output folder (nothing written); 3 infeasible; 4 no feasible plan within the limits; 130
interrupted (Ctrl-C; the best plan found so far is written if there is one).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from network_opt.errors import InputError, OutputExistsError, Problem


class Start(StrEnum):
    """The first plan ``solve --start`` gives HiGHS."""

    auto = "auto"
    open_all = "open-all"
    lp_round = "lp-round"
    none = "none"

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERRUPTED = 0, 2, 3, 4, 130

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Design reverse-logistics networks for end-of-life EV batteries.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

InstanceArg = Annotated[Path, typer.Argument(help="Instance folder holding instance.yaml, that file, or an .xlsx "
                                                  "workbook.")]


def report_problems(problems: list[Problem]) -> None:
    """Print errors (sorted, one per line) then warnings to stderr."""
    for p in sorted(problems):
        if p.severity == "error":
            err.print(str(p), markup=False)
    for p in problems:
        if p.severity == "warning":
            err.print(f"warning: {p}", markup=False)


_report = report_problems  # older name, still used by some command modules


@app.command()
def validate(instance: InstanceArg) -> None:
    """Check an instance; print every error as FILE:ROW:COLUMN: message (exit 2 if any)."""
    from network_opt.validate import validate as run_validation

    problems = run_validation(instance)
    report_problems(problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        err.print(f"{len(errors)} error(s) in {instance}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    out.print(f"{instance}: valid", markup=False)


@app.command()
def solve(
    instance: InstanceArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the results into.")],
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit in seconds.", min=0)] = None,
    mip_gap: Annotated[float, typer.Option(help="Relative MIP gap at which to stop.", min=0, max=1)] = 1e-4,
    threads: Annotated[int | None, typer.Option(help="Solver threads (default: HiGHS decides).", min=1)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder.")] = False,
    write_model: Annotated[Path | None, typer.Option(help="Also write the model as an MPS file.")] = None,
    soft_targets: Annotated[bool, typer.Option("--soft-targets", help="Turn every target into a penalised "
                                                "shortfall so that a plan always comes back.")] = False,
    cost_of_compliance: Annotated[bool, typer.Option("--cost-of-compliance", help="Also re-solve without each "
                                                     "target family; writes compliance.csv.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the HiGHS log.")] = False,
    scenario: Annotated[str | None, typer.Option(help="Solve this scenario of instance.yaml's scenarios: "
                                                 "block (default: the instance as written).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")] = False,
    aggregate: Annotated[int | None, typer.Option(
        "--aggregate", metavar="N", help="Cluster the collection points into at most N clusters (never mixing "
        "jurisdictions), solve that smaller model and split the plan back onto the points; writes "
        "aggregation.csv and the error bound into summary.json.")] = None,
    start: Annotated[Start, typer.Option(
        "--start", help="First plan given to HiGHS: open-all (every facility open, one LP), lp-round (the LP "
        "relaxation rounded up and repaired, two LPs: better where most candidates should stay closed), none, "
        "or auto: open-all with --time-limit (so that the limit always leaves a plan), none without.")
    ] = "auto",  # type: ignore[assignment]
) -> None:
    """Validate, build and solve an instance; write the plan into --out."""
    from network_opt.api import solve as run_solve
    from network_opt.io.write import check_output_dir, write_results
    from network_opt.progress import Progress
    from network_opt.solve import SolveOptions

    progress = Progress.for_terminal(quiet=quiet or verbose)
    try:
        check_output_dir(out_dir, overwrite)
        target = instance
        if scenario is not None:
            from network_opt.instance import load
            from network_opt.scenarios import apply_scenario

            target = apply_scenario(load(instance), scenario)
        sol = run_solve(target, SolveOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                                               verbose=verbose, write_model=write_model,
                                               warm_start=start != Start.none, start=start.replace("-", "_")),
                        soft_targets=True if soft_targets else None, compliance=cost_of_compliance,
                        progress=progress, aggregate=aggregate)
    except OutputExistsError as exc:
        progress.close()
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except InputError as exc:
        progress.close()
        report_problems(exc.problems + exc.warnings)
        err.print(f"{len(exc.problems)} error(s) in {instance}; nothing written", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    progress.close()
    for w in sol.summary.get("warnings", []):  # type: ignore[union-attr]
        err.print(f"warning: {w}", markup=False)
    if "aggregation" in sol.summary:
        _report_aggregation(sol.summary["aggregation"], str(sol.summary["currency"]))  # type: ignore[arg-type]
    if sol.outcome.termination == "interrupted":
        if sol.outcome.has_plan:
            write_results(sol, out_dir, overwrite=overwrite)
            gap = "unknown" if sol.outcome.mip_gap is None else f"{sol.outcome.mip_gap:.2%}"
            err.print(f"interrupted: the best plan found so far (gap {gap}) was written to {out_dir}", markup=False)
        else:
            err.print("interrupted before any plan was found; nothing written", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if sol.status == "infeasible":
        _explain_infeasible(sol, out_dir, overwrite, time_limit)
        raise typer.Exit(EXIT_INFEASIBLE)
    if not sol.outcome.has_plan:
        err.print(f"no feasible plan found within the limits ({sol.outcome.termination}); nothing written",
                  markup=False)
        raise typer.Exit(EXIT_NO_SOLUTION)
    if scenario is not None:
        sol.summary["scenario"] = scenario
    progress.phase(f"writing the results to {out_dir}")
    progress.close()
    write_results(sol, out_dir, overwrite=overwrite)
    gap = sol.outcome.mip_gap
    out.print(f"{sol.status}: net cost {sol.objective:,.2f} {sol.summary['currency']}"
              f" (gap {gap:.2%}) -> {out_dir}" if gap is not None else f"{sol.status} -> {out_dir}",
              markup=False)


def _report_aggregation(agg: dict[str, object], currency: str) -> None:
    """One line: points -> clusters and the error bound; a warning when the bound's assumptions fail."""
    points, clusters = int(agg["points"]), int(agg["clusters"])  # type: ignore[call-overload]
    out.print(f"aggregated {points:,} collection point{'s' * (points != 1)} -> {clusters:,} "
              f"cluster{'s' * (clusters != 1)}; error bound |z_agg - z_orig| <= {agg['error_bound']:,.2f} {currency}",
              markup=False)
    if not agg["bound_holds"]:
        err.print(f"warning: the aggregation bound is not guaranteed here: {agg['bound_assumptions']}", markup=False)


def _explain_infeasible(sol: object, out_dir: Path, overwrite: bool, time_limit: float | None) -> None:
    """Print why a model is infeasible (elastic re-solve) and write summary.json + diagnosis.csv."""
    from network_opt.diagnose import diagnose_model
    from network_opt.io.write import write_results
    from network_opt.solve import SolveOptions

    err.print("infeasible: no plan satisfies every constraint. Re-solving with elastic slack to find "
              "what is short...", markup=False)
    try:
        findings = diagnose_model(sol.data, SolveOptions(time_limit=time_limit, mip_gap=1e-6))  # type: ignore[attr-defined]
    except RuntimeError as exc:
        err.print(f"  {exc}", markup=False)
        return
    for text in findings["explanation"]:
        err.print(f"  - {text}", markup=False)
    sol.tables = {"diagnosis": findings}  # type: ignore[attr-defined]
    write_results(sol, out_dir, overwrite=overwrite)  # type: ignore[arg-type]
    err.print(f"no plan written; summary.json and diagnosis.csv in {out_dir}", markup=False)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the instance into (new or empty).")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 0,
    collection_points: Annotated[int, typer.Option(min=1, help="Collection points.")] = 50,
    candidates: Annotated[int, typer.Option(min=1, help="Candidate facility sites.")] = 20,
    periods: Annotated[int, typer.Option(min=1, max=20, help="Periods (2 years each).")] = 3,
    chemistries: Annotated[int, typer.Option(min=1, max=5, help="Chemistries (LFP, NCM, NCA, LMO, other).")] = 3,
    markets: Annotated[int, typer.Option(min=1, help="Second-life markets.")] = 5,
    region: Annotated[str, typer.Option(help="china, europe or us.")] = "china",
    max_lane_km: Annotated[float, typer.Option(min=1, help="Longest lane (widened if a point would be cut off).")]
    = 1500.0,
) -> None:
    """Write a synthetic instance of any size, drawn around real cities of a region."""
    from network_opt.datasets.generate import REGIONS, GeneratorSpec
    from network_opt.datasets.generate import generate as run_generate

    if region not in REGIONS:
        err.print(f"error: unknown region {region!r}; expected one of {', '.join(REGIONS)}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        err.print(f"error: {out_dir} exists and is not empty; choose a new folder", markup=False)
        raise typer.Exit(EXIT_INPUT)
    spec = GeneratorSpec(seed=seed, collection_points=collection_points, candidates=candidates, periods=periods,
                         chemistries=chemistries, markets=markets, region=region, max_lane_km=max_lane_km)
    run_generate(out_dir, spec)
    out.print(f"wrote {out_dir}", markup=False)


@app.command()
def policies(
    preset: Annotated[str | None, typer.Argument(help="Show one preset (default: list them all).")] = None,
) -> None:
    """List the shipped policy presets with their targets, bans, dates and sources."""
    from network_opt.policies import available_presets, presets_table

    presets = available_presets()
    if preset is not None and preset not in presets:
        err.print(f"error: unknown preset {preset!r}; expected one of {', '.join(sorted(presets))}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    rules = presets_table()
    for pid, p in sorted(presets.items()):
        if preset is not None and pid != preset:
            continue
        out.print(f"[bold]{pid}[/bold]: {p.name} (suggested for {p.applies_to})")
        out.print(f"  legal source: {p.legal_source} {p.url}", markup=False)
        for r in rules.loc[rules["preset"] == pid].itertuples(index=False):
            if r.rule == "target":
                what = f"target {r.metric_or_kind} {r.material_or_commodity} >= {r.value:g}".replace("  ", " ")
            elif r.metric_or_kind == "export":
                what = f"ban export of {r.material_or_commodity} to {r.to}"
            elif r.metric_or_kind == "application":
                what = f"ban second-life sales into {r.application}"
            else:
                what = f"ban {r.metric_or_kind}"
            confirm = ", TO BE CONFIRMED" if r.needs_confirmation else ""
            out.print(f"  - {what} from {r.from_period} (legal date {r.legal_date}; confidence "
                      f"{r.confidence}{confirm})", markup=False)
            out.print(f"      source: {r.source}", markup=False)
        out.print("")


def _register_commands() -> None:
    from network_opt.commands import register_all

    register_all()


_register_commands()


def main() -> None:
    """Entry point of the ``network-opt`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted; nothing written", markup=False)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
