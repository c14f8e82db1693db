"""Command-line interface (``network-opt``): argument parsing, exit codes, messages.

Exit codes: 0 a plan was written (or the instance is valid); 2 invalid input or refused
output (nothing written; checked before any long work: --out may not replace the instance, the
working directory, a file or a folder network-opt did not write, must be writable with room for
the results, and no other run may be writing it); 3 infeasible; 4 no feasible plan within the
limits; 5 a plan was found but could not be written to --out (disk full, read-only, ...): it was
saved to the fallback folder printed (``network-opt-rescue-TIME-PID`` in the temporary folder,
else the home or working directory); 6 a plan was found but could not be saved anywhere; 130
interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, in any phase within about 2 s (the best plan found
so far is written if there is one; see network_opt.interrupts).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from network_opt import interrupts
from network_opt.errors import InputError, OutputExistsError, OutputRefused, Problem


class Start(StrEnum):
    """The first plan ``solve --start`` gives HiGHS."""

    auto = "auto"
    open_all = "open-all"
    lp_round = "lp-round"
    none = "none"

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_WRITE_FAILED, EXIT_NOT_SAVED = 5, 6  # plan saved to a fallback folder instead of --out; saved nowhere

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Design reverse-logistics networks for end-of-life EV batteries.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

def _print_version(value: bool) -> None:
    if value:
        from network_opt.audit import version_line

        out.print(version_line(), markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the versions of network-opt, HiGHS, Pyomo and Python.")]
    = False,
) -> None:
    """Design reverse-logistics networks for end-of-life EV batteries."""


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
    from network_opt.validate import validate as run_validation

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
    from network_opt.instance import load
    from network_opt.model.size import available_memory, format_bytes, prepare_sized

    _data, size, pruning = prepare_sized(load(instance), prune)
    avail = available_memory()
    lanes = ", ".join(f"{k} {v:,}" for k, v in size.lanes.items()) or "none"
    out.print(f"lanes: {sum(size.lanes.values()):,} ({lanes})", markup=False)
    k = int(pruning["nearest_facilities"])  # type: ignore[call-overload]
    how = {"default": "by default", "--prune": "by --prune", "instance": "by transport.nearest_facilities"}
    out.print(f"flows: {size.flows:,} (one per lane and period)"
              + (f"; lanes pruned to the {k} nearest facilities {how.get(str(pruning['source']), '')}" if k else ""),
              markup=False)
    out.print(f"rows: {size.rows:,}\ncolumns: {size.columns:,} ({size.continuous:,} continuous, "
              f"{size.integers:,} integer)\nnonzeros: {size.nonzeros:,}", markup=False)
    fits = "fits" if size.fits(avail) else "does NOT fit: solve would refuse without --force"
    out.print(f"memory: about {format_bytes(size.memory_bytes)} at peak (projected; {format_bytes(avail)} "
              f"available: {fits})", markup=False)
    if pruning.get("warning"):
        err.print(f"warning: {pruning['warning']}", markup=False)


@app.command()
def solve(
    ctx: typer.Context,
    instance: InstanceArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the results into.")],
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit in seconds.", min=0)] = None,
    mip_gap: Annotated[float, typer.Option(help="Relative MIP gap at which to stop.", min=0, max=1)] = 1e-4,
    threads: Annotated[int | None, typer.Option(help="Solver threads (default: HiGHS decides).", min=1)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder, if network-opt wrote it and "
                                            "it holds nothing else (and an existing --write-model file).")] = False,
    write_model: Annotated[Path | None, typer.Option(help="Also write the model as an MPS file.")] = None,
    log_file: Annotated[Path | None, typer.Option("--log", help="Append every progress line, the HiGHS log and "
                                                  "the final messages to this file.")] = None,
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
    prune: Annotated[int | None, typer.Option(
        "--prune", metavar="K", min=0, help="Keep only the lanes to the K nearest destinations of each facility "
        "kind and technology per origin (sets transport.nearest_facilities; explicit lanes stay); 0: no pruning, "
        "not even the default pruning of instances above 1,000,000 flows.")] = None,
    memory_limit: Annotated[str | None, typer.Option(
        "--memory-limit", metavar="SIZE", help="Memory the solve may use, e.g. 8G or 512M (default: the memory "
        "available now, or NETWORK_OPT_MEMORY_LIMIT); a model projected to need more is refused (exit 2) "
        "with the options that fit.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Solve even when the projected memory exceeds the "
                                        "memory available.")] = False,
) -> None:
    """Validate, build and solve an instance; write the plan into --out."""
    from network_opt.api import solve as run_solve
    from network_opt.model.size import ModelTooLarge
    from network_opt.progress import Progress
    from network_opt.solve import SolveOptions

    limit = _memory_limit(memory_limit)
    progress = Progress.for_terminal(quiet=quiet or verbose)
    try:
        _check_outputs(ctx, instance, out_dir, overwrite, write_model, log_file, progress)
        target = instance
        if scenario is not None:
            from network_opt.instance import load
            from network_opt.scenarios import apply_scenario

            target = apply_scenario(load(instance), scenario)
        sol = run_solve(target, SolveOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                                               verbose=verbose, write_model=write_model,
                                               warm_start=start != Start.none, start=start.replace("-", "_")),
                        soft_targets=True if soft_targets else None, compliance=cost_of_compliance,
                        progress=progress, aggregate=aggregate, prune=prune, force=force,
                        memory_limit=limit)
    except ModelTooLarge as exc:
        progress.close()
        err.print(f"error: {instance}: {exc.problems[0].message}", markup=False)
        progress.record(f"error: {exc.problems[0].message}")
        raise typer.Exit(EXIT_INPUT) from None
    except OutputExistsError as exc:
        progress.close()
        err.print(f"error: {exc}", markup=False)
        progress.record(f"error: {exc}")
        raise typer.Exit(EXIT_INPUT) from None
    except InputError as exc:
        progress.close()
        report_problems(exc.problems + exc.warnings)
        for p in exc.problems:
            progress.record(str(p))
        err.print(f"{len(exc.problems)} error(s) in {instance}; nothing written", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    progress.close()
    for w in sol.summary.get("warnings", []):  # type: ignore[union-attr]
        err.print(f"warning: {w}", markup=False)
        progress.record(f"warning: {w}")
    if progress.log_error:
        err.print(f"warning: {progress.log_error}", markup=False)
    if "aggregation" in sol.summary:
        _report_aggregation(sol.summary["aggregation"], str(sol.summary["currency"]))  # type: ignore[arg-type]
    stop = interrupts.requested()  # SIGINT/SIGTERM while HiGHS ran (it stopped and returned its best plan)
    if sol.outcome.termination == "interrupted" or stop is not None:
        code = interrupts.exit_code(stop) if stop is not None else EXIT_INTERRUPTED
        by = f" ({interrupts.signal_name(stop)})" if stop is not None else ""
        if sol.outcome.has_plan:  # a second signal aborts this write (nothing left half-written)
            if scenario is not None:
                sol.summary["scenario"] = scenario
            _write_plan(sol, out_dir, overwrite, progress, code)
            gap = "unknown" if sol.outcome.mip_gap is None else f"{sol.outcome.mip_gap:.2%}"
            what = ("the best plan found so far" if sol.outcome.termination == "interrupted"
                    else f"the {sol.status} plan (the re-solves after it were stopped)")
            done = f"interrupted: {what} (gap {gap}) was written to {out_dir}{by}"
        else:
            done = f"interrupted before any plan was found; nothing written{by}"
        err.print(done, markup=False)
        progress.record(done)
        raise typer.Exit(code)
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
    _write_plan(sol, out_dir, overwrite, progress)
    gap = sol.outcome.mip_gap
    done = (f"{sol.status}: net cost {sol.objective:,.2f} {sol.summary['currency']} (gap {gap:.2%}) -> {out_dir}"
            if gap is not None else f"{sol.status} -> {out_dir}")
    out.print(done, markup=False)
    progress.record(done)


def _check_outputs(ctx: typer.Context, instance: Path, out_dir: Path, overwrite: bool, write_model: Path | None,
                   log_file: Path | None, progress: object) -> None:
    """Before any long work: refuse an unsafe or unwritable --out, --write-model or --log
    (:mod:`network_opt.io.outdir`), lock --out until the command ends (a second run into it is
    refused) and open the --log file. Raises OutputExistsError / OutputRefused."""
    from network_opt.audit import instance_location
    from network_opt.instance import manifest_path
    from network_opt.io.outdir import (
        check_file_target,
        check_output_dir,
        estimate_result_bytes,
        output_lock,
        preflight,
    )

    protected = [instance_location(manifest_path(instance))]
    check_output_dir(out_dir, overwrite, protected=protected)
    preflight(out_dir, estimate_result_bytes(instance))
    if write_model is not None:
        check_file_target(write_model, overwrite, "--write-model", protected, inside=[out_dir])
    if log_file is not None:  # appended to, never replaced
        check_file_target(log_file, True, "--log", protected, inside=[out_dir])
    ctx.with_resource(output_lock(out_dir))
    if log_file is not None:
        try:
            progress.open_log(log_file)  # type: ignore[attr-defined]
        except OSError as exc:
            from network_opt.errors import OutputRefused

            raise OutputRefused(f"cannot write --log {log_file}: {exc.strerror or exc}") from None
        ctx.call_on_close(progress.close_log)  # type: ignore[attr-defined]


def _write_plan(sol: object, out_dir: Path, overwrite: bool, progress: object,
                code_if_rescued: int = EXIT_WRITE_FAILED) -> None:
    """Write the results into --out; if that fails (disk full, read-only, the GeoPackage writer, a
    folder that appeared meanwhile), save them into a fallback folder, say where, and exit with
    ``code_if_rescued`` (:data:`EXIT_WRITE_FAILED` by default; :data:`EXIT_NOT_SAVED` if nothing
    could be saved anywhere)."""
    from network_opt.io.write import describe_error, rescue_results, write_results

    try:
        write_results(sol, out_dir, overwrite=overwrite)  # type: ignore[arg-type]
        return
    except Exception as exc:  # any failure to write: the plan must not be lost
        failure = exc
    lines = [f"error: the plan could not be written to {out_dir}: {describe_error(failure)}"]
    folder, notes = rescue_results(sol, out_dir, failure)  # type: ignore[arg-type]
    if folder is None:
        lines += [f"error: {n}" for n in notes] + ["error: the plan could not be saved anywhere; nothing written"]
        code_if_rescued = EXIT_NOT_SAVED
    else:
        lines += [f"warning: {n}" for n in notes]
        lines.append(f"the plan was saved to {folder} instead; move it where it belongs")
    for line in lines:
        err.print(line, markup=False)
        progress.record(line)  # type: ignore[attr-defined]
    raise typer.Exit(code_if_rescued)


def _memory_limit(text: str | None) -> int | None:
    """Bytes of ``--memory-limit`` (None: not given); exit 2 on a value that is not a size."""
    if text is None:
        return None
    from network_opt.model.size import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as exc:
        err.print(f"error: --memory-limit: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None


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
    from network_opt.io.write import describe_error, rescue_results, write_results
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
    try:
        write_results(sol, out_dir, overwrite=overwrite)  # type: ignore[arg-type]
    except Exception as exc:  # the diagnosis must not be lost: saved to a fallback folder
        folder, _ = rescue_results(sol, out_dir, exc)  # type: ignore[arg-type]
        where = f"saved to {folder} instead" if folder is not None else "not saved anywhere"
        err.print(f"error: the diagnosis could not be written to {out_dir}: {describe_error(exc)}; {where}",
                  markup=False)
        return
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
    from network_opt.io.outdir import check_output_dir, output_lock

    try:
        with output_lock(out_dir):  # a second generate into the same folder is refused
            check_output_dir(out_dir, False)  # new or empty; never a file or the working directory
            spec = GeneratorSpec(seed=seed, collection_points=collection_points, candidates=candidates,
                                 periods=periods, chemistries=chemistries, markets=markets, region=region,
                                 max_lane_km=max_lane_km)
            run_generate(out_dir, spec)
    except OutputRefused as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except OutputExistsError:
        err.print(f"error: {out_dir} exists and is not empty; choose a new folder", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
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
    """Entry point of the ``network-opt`` console script. SIGINT and SIGTERM are handled for the
    whole command (:mod:`network_opt.interrupts`): while HiGHS runs they stop it and the best plan
    is written; elsewhere the command stops at once with nothing written. Exit code 130 (SIGINT)
    or 143 (SIGTERM)."""
    code: int | str | None = EXIT_OK
    with interrupts.handling(ending=True):
        try:
            app()
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


if __name__ == "__main__":
    main()
