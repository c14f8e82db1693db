"""``network-opt solve``: validate, build and solve an instance and write the plan (exit codes:
:mod:`network_opt.cli.app`)."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from network_opt.cli.app import (
    EXIT_INFEASIBLE,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NO_SOLUTION,
    EXIT_NOT_SAVED,
    EXIT_WRITE_FAILED,
    InstanceArg,
    app,
    err,
    out,
    report_problems,
    show_diagnostics,
)
from network_opt.common import interrupts
from network_opt.common.errors import InputError, OutputExistsError, PrecheckError
from network_opt.solver.status import SolveStatus, Termination

if TYPE_CHECKING:
    from network_opt.inputs.instance import Instance


class Decomposition(StrEnum):
    """How ``solve`` (and ``solve --stochastic``) solves the model."""

    none = "none"
    ph = "ph"
    lshaped = "lshaped"
    benders = "benders"


def _positive_rho(value: float | None) -> float | None:
    """``--ph-rho``: a finite number > 0, else exit 2 naming the option."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"PH's rho must be a finite number > 0 (currency per unit of a plan "
                                 f"decision, squared), got {value}")
    return value


class Start(StrEnum):
    """The first plan ``solve --start`` gives HiGHS."""

    auto = "auto"
    open_all = "open-all"
    lp_round = "lp-round"
    restricted = "restricted"
    slope = "slope"
    none = "none"


@app.command()
def solve(
    ctx: typer.Context,
    instance: InstanceArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the results into.")],
    time_limit: Annotated[float | None, typer.Option(help=(
        "Solver time limit in seconds, counted from the hand-off to HiGHS (with --heuristic: from the end of the "
        "data preparation). The shadow-price LP after the solve gets only what is left of it: with targets in force "
        # the figures are solver.compliance.PRICE_LP_HOLD_BACK, solver.highs.HOLD_BACK_FLOOR_S and HELD_BACK_SHARE
        # (not imported: the CLI starts without Pyomo and HiGHS; tests/test_time_limits.py checks they agree)
        "the MIP stops 1.5 times its start's longest LP with the levels held (at least 3 s) before the limit "
        "(at most 50% of "
        "what the start left; summary.json solver.held_back_s), and with under 1 s left the LP is not run and the "
        "shadow prices are NaN (targets.csv shadow_price_note and summary.json warnings say so). The "
        "--cost-of-compliance re-solves get it each."), min=0)] = None,
    mip_gap: Annotated[float, typer.Option(help="Relative MIP gap at which to stop.", min=0, max=1)] = 1e-4,
    threads: Annotated[int | None, typer.Option(help="Solver threads (default: HiGHS decides).", min=1)] = None,
    concurrent_mip: Annotated[int, typer.Option(
        "--concurrent-mip", metavar="N", min=1, help="Search the MIP N times side by side, each HiGHS in its own "
        "process on its own core with its own random seed (HiGHS searches its tree on one core): the searches "
        "share every plan they find, and the solve stops once the best plan of any is within --mip-gap of the best "
        "bound of any (summary.json solver.companions). Each holds its own copy of the model (memory x N; the "
        "--memory-limit guard stops the companions first). Only where N cores are free; 1: one search. With "
        "--stochastic: the extensive form's MIP (--decomposition none).")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder, if network-opt wrote it and "
                                            "it holds nothing else (and an existing --write-model file).")] = False,
    write_model: Annotated[Path | None, typer.Option(
        help="Also write the model as an MPS file (with --heuristic --aggregate: the restricted model, built "
             "without the flows of the facilities the screen closes).")] = None,
    log_file: Annotated[Path | None, typer.Option("--log", help="Append every progress line, the HiGHS log and "
                                                  "the final messages to this file.")] = None,
    soft_targets: Annotated[bool, typer.Option("--soft-targets", help="Turn every target into a penalised "
                                                "shortfall, so that targets alone never make the instance "
                                                "infeasible (supply and capacity still bind: `diagnose` says "
                                                "what else is short).")] = False,
    cost_of_compliance: Annotated[bool, typer.Option("--cost-of-compliance", help="Also re-solve without each "
                                                     "target family; writes compliance.csv.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Show the HiGHS log and the package's diagnostics.")] = False,
    scenario: Annotated[str | None, typer.Option(help="Solve this scenario of instance.yaml's scenarios: "
                                                 "block (default: the instance as written).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")] = False,
    aggregate: Annotated[int | None, typer.Option(
        "--aggregate", metavar="N", help="Cluster the collection points into at most N clusters (never mixing "
        "jurisdictions; each with only the lanes all its members have), solve that smaller model and split the "
        "plan back onto the points: a plan of the instance, whose cost is the net cost reported; writes "
        "aggregation.csv and the error bound into summary.json.")] = None,
    redispatch: Annotated[bool, typer.Option(
        "--redispatch", help="With --aggregate N: keep the clustered plan's facility decisions and solve the full "
        "model's operations with them held (one LP over every point's own lanes, stock caps and targets), so that "
        "every table and the net cost are the instance's own; the clustered MIP gets half of --time-limit. With "
        "--time-limit, what is left after that LP goes to the full model's search from its plan, whose bound is "
        "the instance's (a true gap). Needs the full model to fit in memory (checked before the clustered "
        "solve).")] = False,
    start: Annotated[Start, typer.Option(
        "--start", help="First plan given to HiGHS: open-all (every facility open, one LP), lp-round (the LP "
        "relaxation rounded up and repaired, two LPs: better where most candidates should stay closed), restricted "
        "(the MIP over the facilities the LP relaxation uses, searched within half of --time-limit, as --heuristic "
        "does, then the full model from its plan: a true bound), slope "
        "(slope scaling: up to 20 rounds of LPs re-pricing each level by its use, the best rounded plan; within a "
        "third of --time-limit), none, or auto: open-all with --time-limit (so that the limit always leaves a "
        "plan), none without. With --heuristic --aggregate N, auto and lp-round start the clustered relaxation's "
        "MIP from its LP rounded; the full model's restricted MIP starts from the clustered plan unless none.")
    ] = "auto",  # type: ignore[assignment]
    prune: Annotated[int | None, typer.Option(
        "--prune", metavar="K", min=0, help="Keep only the lanes to the K nearest destinations of each facility "
        "kind and technology per origin (sets transport.nearest_facilities; explicit lanes stay); 0: no pruning, "
        "not even the default pruning of instances above 1,000,000 flows.")] = None,
    memory_limit: Annotated[str | None, typer.Option(
        "--memory-limit", metavar="SIZE", help="Memory the solve may use, e.g. 8G or 512M (default: the memory "
        "available now, or NETWORK_OPT_MEMORY_LIMIT); a model projected to need more is refused (exit 2) "
        "with the options that fit. When set (here or in the environment) it also guards the search: at 90 % of "
        "it HiGHS stops and the best plan is kept (termination memoryLimit).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Solve even when the projected memory exceeds the "
                                        "memory available.")] = False,
    heuristic: Annotated[bool, typer.Option(
        "--heuristic", help="Compress and filter, for very large instances: solve the full model only over the "
        "facilities its LP relaxation uses and every existing facility (and --heuristic-neighbours); bound and gap in "
        "summary.json are those of the full model (its LP relaxation), so the gap is true. With --aggregate N the "
        "collection points in N clusters, built as a relaxation (each cluster at its members' least lane costs), "
        "screen instead and give the bound, without the full model's LP (for national-scale models).")] = False,
    neighbours: Annotated[int | None, typer.Option(
        "--heuristic-neighbours", metavar="K", min=0, show_default=False, help="With --heuristic: also keep the K "
        "nearest facilities of the same kind to each facility kept (default 0: on the five instances measured the "
        "restricted MIP found plans as good or better, sooner, over fewer facilities; a screen that may miss a site "
        "the optimum needs is what K > 0 insures against).")] = None,
    lagrangian: Annotated[bool | None, typer.Option(
        "--lagrangian/--no-lagrangian", help="With --heuristic: also bound by Lagrangian relaxation by period: the "
        "rows that tie periods together priced by the LP relaxation's duals (the full model's, or with --aggregate "
        "the clustered relaxation's), then one MIP per investment period; the larger bound is reported. Uses up to "
        "30 % of --time-limit (docs/performance.md). Default: on without --aggregate, off with it.",
        show_default=False)] = None,
    stochastic: Annotated[bool, typer.Option(
        "--stochastic", help="Two-stage stochastic design: one plan of facilities for every scenario "
        "(stochastic.scenarios of instance.yaml, or --scenarios N draws of its uncertainty: block); writes "
        "stochastic.csv, regret.csv, robustness.csv and RP, EEV, WS, VSS, EVPI into summary.json "
        "(docs/stochastic.md).")] = False,
    scenarios: Annotated[int | None, typer.Option(
        "--scenarios", metavar="N", min=1, help="With --stochastic: draw N scenarios from the uncertainty: block "
        "(default: the declared stochastic.scenarios).")] = None,
    seed: Annotated[int, typer.Option(help="With --stochastic --scenarios: seed of the draws (the same seed "
                                           "gives the same scenarios).")] = 0,
    cvar_alpha: Annotated[float | None, typer.Option(
        "--cvar-alpha", min=0, max=1, help="With --stochastic: CVaR level in [0, 1) (default: stochastic.cvar_alpha, "
        "else 0.9).")] = None,
    cvar_weight: Annotated[float | None, typer.Option(
        "--cvar-weight", min=0, help="With --stochastic: weight of the CVaR in the objective, expected cost + "
        "weight x CVaR (default: stochastic.cvar_weight, else 0).")] = None,
    decomposition: Annotated[Decomposition, typer.Option(
        "--decomposition", help="none (HiGHS on the whole model; with --stochastic the extensive form), "
        "benders (Benders decomposition on HiGHS's matrix: investment decisions in a MIP master, operations in "
        "LP subproblems per block of rows, per scenario with --stochastic; the bound reported is the master's "
        "dual bound; docs/decomposition.md), or with --stochastic only: ph (progressive hedging) or lshaped "
        "(the L-shaped method), both on mpi-sppy; under `mpiexec -n K` the scenarios are spread over K "
        "processes.")] = "none",  # type: ignore[assignment]
    out_of_sample: Annotated[int | None, typer.Option(
        "--out-of-sample", metavar="M", min=0, help="With --stochastic --scenarios: evaluate the plan on M fresh "
        "draws (default max(N, 30); 0: none) for a confidence interval of its cost.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="With --stochastic: processes for the scenario solves (evaluations, wait-and-see, regret; "
        "default 1) and, with --decomposition benders and no CVaR weight, for the scenario blocks (default: the "
        "machine's cores; 1: in this process).")] = None,
    executor: Annotated[str, typer.Option(help="With --stochastic: local (processes) or dask.")] = "local",
    ph_iterations: Annotated[int | None, typer.Option(
        "--ph-iterations", metavar="N", min=1, help="With --stochastic --decomposition ph: most progressive "
        "hedging iterations (default 50); PH stops earlier when the scenarios' decisions agree or at "
        "--time-limit.")] = None,
    ph_rho: Annotated[float | None, typer.Option(
        "--ph-rho", metavar="R", callback=_positive_rho, help="With --stochastic --decomposition ph: PH's "
        "penalty on a plan decision's deviation from the scenarios' mean (open/close, modules; currency per "
        "unit squared, > 0; default: 10 % of the mean opening plus fixed yearly cost of a capacity level). "
        "The value at risk of a CVaR has its own (docs/stochastic.md).")] = None,
) -> None:
    """Validate, build and solve an instance; write the plan into --out."""
    from network_opt.common.progress import Progress
    from network_opt.model.size import ModelTooLarge
    from network_opt.runs.heuristic import Heuristic
    from network_opt.runs.pipeline import solve as run_solve
    from network_opt.solver.options import SolveOptions

    limit = _memory_limit(memory_limit)
    progress = Progress.for_terminal(quiet=quiet or verbose)
    if verbose:
        show_diagnostics()
    given = {"--scenarios": scenarios is not None, "--cvar-alpha": cvar_alpha is not None,
             "--cvar-weight": cvar_weight is not None,
             "--decomposition " + str(decomposition): decomposition in (Decomposition.ph, Decomposition.lshaped),
             "--out-of-sample": out_of_sample is not None, "--workers": workers is not None,
             "--executor": executor != "local", "--seed": seed != 0,
             "--ph-iterations": ph_iterations is not None, "--ph-rho": ph_rho is not None}
    if not stochastic and any(given.values()):
        err.print(f"error: {', '.join(k for k, v in given.items() if v)} need --stochastic", markup=False)
        raise typer.Exit(EXIT_INPUT)
    ph_given = [k for k in ("--ph-iterations", "--ph-rho") if given[k]]
    if stochastic and ph_given and decomposition != Decomposition.ph:
        err.print(f"error: {', '.join(ph_given)} need --decomposition ph", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if heuristic and decomposition == Decomposition.benders:
        err.print("error: --heuristic cannot be combined with --decomposition benders", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if redispatch and (aggregate is None or heuristic):
        err.print("error: --redispatch needs --aggregate, without --heuristic (whose full-model MIP is already the "
                  "instance's)", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if neighbours is not None and not heuristic:
        err.print("error: --heuristic-neighbours needs --heuristic", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if lagrangian is not None and not heuristic:
        err.print(f"error: --{'' if lagrangian else 'no-'}lagrangian needs --heuristic", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if concurrent_mip > 1 and decomposition != Decomposition.none:  # a decomposition solves its master its own way
        err.print(f"error: --concurrent-mip searches one MIP side by side; it cannot be combined with --decomposition "
                  f"{decomposition}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if start != Start.auto and decomposition == Decomposition.benders:  # Benders starts from its own plans
        err.print(f"error: --start {start} cannot be combined with --decomposition benders", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if stochastic:
        _solve_stochastic(ctx, instance, out_dir, overwrite, log_file, progress, SolveOptions(
            time_limit=time_limit, mip_gap=mip_gap, threads=threads, verbose=verbose, concurrent_mip=concurrent_mip,
            warm_start=start != Start.none, start=start.replace("-", "_")),
            soft_targets=True if soft_targets else None, scenarios=scenarios, seed=seed, cvar_alpha=cvar_alpha,
            cvar_weight=cvar_weight, decomposition=str(decomposition), out_of_sample=out_of_sample, workers=workers,
            executor=executor, ph_iterations=ph_iterations, ph_rho=ph_rho,
            refused={"--scenario": scenario is not None, "--aggregate": aggregate is not None,
                     "--cost-of-compliance": cost_of_compliance,
                     "--write-model": write_model is not None, "--heuristic": heuristic,
                     "--lagrangian/--no-lagrangian": lagrangian is not None,
                     "--prune": prune is not None, "--memory-limit": memory_limit is not None,
                     "--force": force})
        return
    try:
        _check_outputs(ctx, instance, out_dir, overwrite, write_model, log_file, progress)
        target: Path | Instance = instance  # the folder, or the instance with the scenario applied
        if scenario is not None:  # the base may fail the pre-check where the scenario passes it
            from network_opt.inputs.load import load_for_scenarios
            from network_opt.inputs.scenarios import apply_scenario

            target = apply_scenario(load_for_scenarios(instance), scenario)
        sol = run_solve(target, SolveOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                                               verbose=verbose, write_model=write_model, concurrent_mip=concurrent_mip,
                                               warm_start=start != Start.none, start=start.replace("-", "_"),
                                               decomposition=str(decomposition)),
                        soft_targets=True if soft_targets else None, compliance=cost_of_compliance,
                        progress=progress, aggregate=aggregate, prune=prune, force=force,
                        memory_limit=limit, redispatch=redispatch,
                        heuristic=Heuristic(lagrangian=lagrangian, **({} if neighbours is None else
                                                                      {"neighbours": neighbours}))
                        if heuristic else None)
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
    except PrecheckError as exc:  # well formed, but no plan can exist: infeasible, found before building
        progress.close()
        report_problems(exc.problems + exc.warnings)
        for p in exc.problems:
            progress.record(str(p))
        what = f"{instance}" + (f" --scenario {scenario}" if scenario is not None else "")
        done = (f"infeasible before solving (feasibility pre-check): no plan exists; nothing written. "
                f"`network-opt diagnose {what}` re-solves with elastic slack and says what is short")
        err.print(done, markup=False)
        progress.record(done)
        raise typer.Exit(EXIT_INFEASIBLE) from None
    except InputError as exc:
        progress.close()
        report_problems(exc.problems + exc.warnings)
        for p in exc.problems:
            progress.record(str(p))
        err.print(f"{len(exc.problems)} error(s) in {instance}; nothing written", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    progress.close()
    for w in sol.summary.get("warnings", []):
        err.print(f"warning: {w}", markup=False)
        progress.record(f"warning: {w}")
    if progress.log_error:
        err.print(f"warning: {progress.log_error}", markup=False)
    if "aggregation" in sol.summary:
        _report_aggregation(sol.summary["aggregation"], str(sol.summary["currency"]))
    stop = interrupts.requested()  # SIGINT/SIGTERM while HiGHS ran (it stopped and returned its best plan)
    if sol.outcome.termination == Termination.INTERRUPTED or stop is not None:
        code = interrupts.exit_code(stop) if stop is not None else EXIT_INTERRUPTED
        by = f" ({interrupts.signal_name(stop)})" if stop is not None else ""
        if sol.outcome.has_plan:  # a second signal aborts this write (nothing left half-written)
            if scenario is not None:
                sol.summary["scenario"] = scenario
            _write_plan(sol, out_dir, overwrite, progress, code)
            gap = "unknown" if sol.outcome.mip_gap is None else f"{sol.outcome.mip_gap:.2%}"
            what = ("the best plan found so far" if sol.outcome.termination == Termination.INTERRUPTED
                    else f"the {sol.status} plan (the re-solves after it were stopped)")
            done = f"interrupted: {what} (gap {gap}) was written to {out_dir}{by}"
        else:
            done = f"interrupted before any plan was found; nothing written{by}"
        err.print(done, markup=False)
        progress.record(done)
        raise typer.Exit(code)
    if sol.status == SolveStatus.INFEASIBLE:
        _explain_infeasible(sol, out_dir, overwrite, time_limit)
        raise typer.Exit(EXIT_INFEASIBLE)
    if not sol.outcome.has_plan:
        _no_plan(sol, out_dir, overwrite, progress)
        raise typer.Exit(EXIT_NO_SOLUTION)
    if scenario is not None:
        sol.summary["scenario"] = scenario
    progress.phase(f"writing the results to {out_dir}")
    progress.close()
    _write_plan(sol, out_dir, overwrite, progress)
    reached = sol.outcome.mip_gap
    gap = "unknown" if reached is None else f"{reached:.2%}"
    done = (f"{sol.status}: net cost {sol.objective:,.2f} {sol.summary['currency']} (gap {gap}) -> {out_dir}"
            if sol.objective is not None else f"{sol.status} -> {out_dir}")
    out.print(done, markup=False)
    progress.record(done)
    pruned = sol.summary.get("pruning") or {}
    if pruned.get("nearest_facilities") and pruned.get("source") in ("--prune", "instance"):
        by = "--prune" if pruned["source"] == "--prune" else "transport.nearest_facilities"
        note = (f"note: lanes pruned to the {pruned['nearest_facilities']} nearest facilities of each kind and "
                f"technology per origin ({by}): {sol.status} for the lanes kept; --prune 0 solves the whole network")
        out.print(note, markup=False)
        progress.record(note)


def _solve_stochastic(ctx: typer.Context, instance: Path, out_dir: Path, overwrite: bool, log_file: Path | None,
                      progress: object, options: object, *, soft_targets: bool | None, scenarios: int | None,
                      seed: int, cvar_alpha: float | None, cvar_weight: float | None, decomposition: str,
                      out_of_sample: int | None, workers: int | None, executor: str,
                      refused: dict[str, bool], ph_iterations: int | None = None,
                      ph_rho: float | None = None) -> None:
    """``solve --stochastic``: the design of :mod:`network_opt.runs.stochastic`, written into --out.
    Under ``mpiexec`` only rank 0 checks, locks and writes --out; the other ranks take part in
    the decomposition and end."""
    from network_opt.runs.decompose import DecompositionUnavailable, SubproblemFailed, mpi_rank_size
    from network_opt.runs.executors import ExecutorError, check_executor_args
    from network_opt.runs.stochastic import StochasticOptions, solve_stochastic

    bad = [k for k, v in refused.items() if v]
    if bad:
        err.print(f"error: --stochastic cannot be combined with {', '.join(bad)}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    rank, _size = mpi_rank_size() if decomposition in ("ph", "lshaped") else (0, 1)
    try:
        check_executor_args(executor, workers or 1, None)
        if rank == 0:
            _check_outputs(ctx, instance, out_dir, overwrite, None, log_file, progress)
        res = solve_stochastic(instance, StochasticOptions(
            scenarios=scenarios, seed=seed, cvar_alpha=cvar_alpha, cvar_weight=cvar_weight,
            decomposition=decomposition, out_of_sample=out_of_sample, solve=options,  # type: ignore[arg-type]
            workers=workers or 1, executor=executor, benders_workers=workers,
            ph_iterations=ph_iterations if ph_iterations is not None else StochasticOptions.ph_iterations,
            ph_rho=ph_rho),
            soft_targets=soft_targets,
            progress=progress)  # type: ignore[arg-type]
    except SubproblemFailed as exc:  # a PH subproblem without a solution: stopped early, nothing written
        progress.close()  # type: ignore[attr-defined]
        err.print(f"error: {exc}; nothing written", markup=False)
        raise typer.Exit(EXIT_NO_SOLUTION) from None
    except (OutputExistsError, ExecutorError, DecompositionUnavailable, ValueError) as exc:
        progress.close()  # type: ignore[attr-defined]
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except PrecheckError as exc:  # no plan can exist: infeasible (exit 3), as a plain solve says it
        progress.close()  # type: ignore[attr-defined]
        report_problems(exc.problems + exc.warnings)
        err.print("infeasible before solving (feasibility pre-check): no plan exists; nothing written. "
                  f"`network-opt diagnose {instance}` re-solves with elastic slack and says what is short",
                  markup=False)
        raise typer.Exit(EXIT_INFEASIBLE) from None
    except InputError as exc:
        progress.close()  # type: ignore[attr-defined]
        report_problems(exc.problems + exc.warnings)
        err.print(f"{len(exc.problems)} error(s) in {instance}; nothing written", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    progress.close()  # type: ignore[attr-defined]
    stop = interrupts.requested()  # SIGINT/SIGTERM after the plan was found: the plan, no measure
    if stop is not None:
        _stochastic_interrupted(res, out_dir, overwrite, progress, stop)
    if res is None:  # another MPI rank: rank 0 writes
        return
    sol = res.solution
    if not sol.outcome.has_plan:
        if sol.status == SolveStatus.INFEASIBLE:
            err.print("stochastic design: infeasible; nothing written", markup=False)
            raise typer.Exit(EXIT_INFEASIBLE)
        # e.g. progressive hedging at its iteration limit, no candidate plan serving every scenario:
        # its outer bound is kept in summary.json alone, as a plain solve keeps a bound without a plan
        for note in sol.summary.get("stochastic", {}).get("decomposition", {}).get("notes", []):
            err.print(f"stochastic design: {note}", markup=False)
        _no_plan(sol, out_dir, overwrite, progress)
        raise typer.Exit(EXIT_NO_SOLUTION)
    _write_plan(sol, out_dir, overwrite, progress)
    m, cur = res.metrics, sol.summary["currency"]
    gap = sol.outcome.mip_gap
    done = (f"{sol.status}: RP {m['RP']:,.2f} {cur}, EEV {m['EEV']:,.2f}, WS {m['WS']:,.2f}, VSS {m['VSS']:,.2f}, "
            f"EVPI {m['EVPI']:,.2f}"
            + (f" (EEV infeasible in {m['expected_value_plan_infeasible_scenarios']} scenarios)"
               if m.get("expected_value_plan_infeasible_scenarios") else "")
            + (f"; with the recourse: EEV {m['EEV_recourse']:,.2f}, VSS {m['VSS_recourse']:,.2f}"
               if "EEV_recourse" in m else "")
            + f" ({len(res.scenarios.names)} scenarios, "
            f"gap {'unknown' if gap is None else f'{gap:.2%}'}) -> {out_dir}")
    out.print(done, markup=False)
    progress.record(done)  # type: ignore[attr-defined]


def _stochastic_interrupted(res: object, out_dir: Path, overwrite: bool, progress: object, stop: int) -> None:
    """``solve --stochastic`` stopped by ``stop`` (a signal) once its plan was found
    (:func:`network_opt.runs.stochastic.solve_stochastic`): write that plan's summary, as a plain solve
    writes its best plan, and exit 130 / 143; a second signal aborts the write (nothing half-written).
    Without a result (another MPI rank) nothing is written."""
    code = interrupts.exit_code(stop)
    by = f" ({interrupts.signal_name(stop)})"
    sol = getattr(res, "solution", None)
    if sol is not None and sol.outcome.has_plan:
        _write_plan(sol, out_dir, overwrite, progress, code)
        gap = "unknown" if sol.outcome.mip_gap is None else f"{sol.outcome.mip_gap:.2%}"
        done = (f"interrupted: the stochastic plan (gap {gap}) was written to {out_dir}; its measures (RP, EEV, WS, "
                f"VSS, EVPI, regret, out-of-sample) were not computed{by}")
    else:
        done = f"interrupted before any plan was found; nothing written{by}"
    if res is not None:  # rank 0 (another MPI rank says nothing)
        err.print(done, markup=False)
        progress.record(done)  # type: ignore[attr-defined]
    raise typer.Exit(code)


def _check_outputs(ctx: typer.Context, instance: Path, out_dir: Path, overwrite: bool, write_model: Path | None,
                   log_file: Path | None, progress: object) -> None:
    """Before any long work: refuse an unsafe or unwritable --out, --write-model or --log
    (:mod:`network_opt.common.outdir`), lock --out until the command ends (a second run into it is
    refused) and open the --log file. Raises OutputExistsError / OutputRefused."""
    from network_opt.common.outdir import check_file_target, check_output_dir, output_lock, preflight
    from network_opt.inputs.load import manifest_path
    from network_opt.results.audit import instance_location
    from network_opt.results.write import estimate_result_bytes

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
            from network_opt.common.errors import OutputRefused

            raise OutputRefused(f"cannot write --log {log_file}: {exc.strerror or exc}") from None
        ctx.call_on_close(progress.close_log)  # type: ignore[attr-defined]


def _no_plan(sol: object, out_dir: Path, overwrite: bool, progress: object) -> None:
    """Say that no plan was found within the limits. When the solve still proved a bound of the
    optimum (HiGHS's dual bound, or the heuristic's bound of the full model), write summary.json
    (and results.xlsx with its summary sheet) into --out, so that minutes of solving leave the bound,
    the timings and the heuristic's record (no result table: there is no plan)."""
    outcome = sol.outcome  # type: ignore[attr-defined]
    line = f"no feasible plan found within the limits ({outcome.termination})"
    if outcome.bound is None or not math.isfinite(outcome.bound):
        err.print(f"{line}; nothing written", markup=False)
        progress.record(f"{line}; nothing written")  # type: ignore[attr-defined]
        return
    source = (sol.summary.get("heuristic") or {}).get("bound_source")  # type: ignore[attr-defined]
    line += (f"; the optimum is at least {outcome.bound:,.2f} {sol.summary['currency']}"  # type: ignore[attr-defined]
             + (f" ({source})" if source else ""))
    sol.tables = {}  # type: ignore[attr-defined]
    _write_plan(sol, out_dir, overwrite, progress)
    line += f"; no plan written, summary.json in {out_dir}"
    err.print(line, markup=False)
    progress.record(line)  # type: ignore[attr-defined]


def _write_plan(sol: object, out_dir: Path, overwrite: bool, progress: object,
                code_if_rescued: int = EXIT_WRITE_FAILED) -> None:
    """Write the results into --out; if that fails (disk full, read-only, the GeoPackage writer, a
    folder that appeared meanwhile), save them into a fallback folder, say where, and exit with
    ``code_if_rescued`` (:data:`EXIT_WRITE_FAILED` by default; :data:`EXIT_NOT_SAVED` if nothing
    could be saved anywhere)."""
    from network_opt.results.write import describe_error, rescue_results, write_results

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
    """Points -> clusters and the error bound; the clustered model's objective next to the cost of the
    plan split back (the net cost reported); a warning when the bound's assumptions fail."""
    points, clusters = int(agg["points"]), int(agg["clusters"])  # type: ignore[call-overload]
    out.print(f"aggregated {points:,} collection point{'s' * (points != 1)} -> {clusters:,} "
              f"cluster{'s' * (clusters != 1)}; error bound |z_agg - z_orig| <= {agg['error_bound']:,.2f} {currency}",
              markup=False)
    split = agg.get("objective_split", agg.get("objective_disaggregated"))  # objective_split: re-dispatched
    if split is not None:
        out.print(f"clustered model: z_agg = {agg['objective_aggregated']:,.2f} {currency}; the plan split back onto "
                  f"the points, a plan of the instance, costs {split:,.2f} {currency}", markup=False)
    moved = agg.get("redispatch")
    if isinstance(moved, dict) and moved.get("objective") is not None:
        held, change = moved["objective_held"], moved.get("change_from_split")
        out.print(f"re-dispatch: the clustered plan's facilities operated by the full model cost "
                  f"{held:,.2f} {currency}"
                  + (f" ({change:+,.2f} {currency} against the plan split back)" if change is not None else ""),
                  markup=False)
        found = moved.get("search")
        if isinstance(found, dict):
            gap = found.get("mip_gap")
            out.print(f"full model's search from that plan ({found['seconds']:.0f} s, {found['termination']}): plan "
                      f"{moved['objective']:,.2f} {currency}, bound "
                      + (f"{found['bound']:,.2f} {currency}" if found.get("bound") is not None else "none")
                      + (f", gap {gap:.2%}" if gap is not None else ""), markup=False)
        elif moved.get("search_note"):
            out.print(f"full model's search: {moved['search_note']}", markup=False)
    if not agg["bound_holds"]:
        err.print(f"warning: the aggregation bound is not guaranteed here: {agg['bound_assumptions']}", markup=False)


def _explain_infeasible(sol: object, out_dir: Path, overwrite: bool, time_limit: float | None) -> None:
    """Print why a model is infeasible (elastic re-solve) and write summary.json + diagnosis.csv."""
    from network_opt.results.write import describe_error, rescue_results, write_results
    from network_opt.solver.diagnose import diagnose_model
    from network_opt.solver.options import SolveOptions

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
