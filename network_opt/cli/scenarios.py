"""``network-opt compare`` and ``network-opt sweep``: many solves of one instance, side by side.

Exit codes: 0 the tables were written and at least one run has a plan (every run without one,
whether invalid, infeasible or failed, is reported in its row and on stderr); 3 the tables were
written but no run has a plan and every one is infeasible; 4 the tables were written but no run
has a plan (some invalid, failed or stopped by a limit); 2 invalid input (unknown scenario,
malformed scenarios block or cycle, malformed --vary, an invalid base instance, an unreachable
scheduler, or an --out holding something else): nothing is written; 130 (SIGINT, Ctrl-C) or 143
(SIGTERM): stopped, the runs that finished are written (the same command resumes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli.app import (
    EXIT_INFEASIBLE,
    EXIT_INPUT,
    EXIT_NO_SOLUTION,
    InstanceArg,
    app,
    err,
    out,
    report_problems,
)
from network_opt.common import interrupts
from network_opt.common.errors import InputError, OutputExistsError
from network_opt.solver.status import PLAN_STATUSES, SolveStatus, has_plan

OutOption = Annotated[Path, typer.Option("--out", help="Folder to write into (reused: finished runs are skipped).")]
WorkersOption = Annotated[int, typer.Option(min=1, help="Scenarios solved at once (processes or dask workers).")]
ExecutorOption = Annotated[str, typer.Option(help="local (process pool) or dask (dask.distributed).")]
SchedulerOption = Annotated[str | None, typer.Option(help="Address of a running dask scheduler, tcp://HOST:PORT "
                                                     "(with --executor dask; default: a local cluster).")]
TimeLimitOption = Annotated[float | None, typer.Option(
    help="Solver time limit per solve, seconds, its shadow-price LP included (network-opt solve --time-limit).",
    min=0)]
GapOption = Annotated[float, typer.Option(help="Relative MIP gap at which to stop.", min=0, max=1)]
ThreadsOption = Annotated[int | None, typer.Option(help="Solver threads per solve (default: HiGHS decides).", min=1)]
SoftOption = Annotated[bool, typer.Option("--soft-targets", help="Penalised shortfalls instead of hard targets.")]
ReuseOption = Annotated[bool, typer.Option("--reuse/--no-reuse", help="Update the HiGHS model of the previous run "
                                           "in the same process when only numbers changed, and start from its plan "
                                           "(--no-reuse: hand every run to HiGHS anew).")]


def _run(what: str, instance: Path, out_dir: Path, call: object) -> object:
    """Run ``call`` holding the lock on ``out_dir`` (a second run into it is refused) and turn
    input, output-folder and executor problems into exit code 2."""
    from network_opt.common.outdir import output_lock
    from network_opt.runs.executors import ExecutorError

    try:
        with output_lock(out_dir):
            return call()  # type: ignore[operator]
    except InputError as exc:
        report_problems(exc.problems + exc.warnings)
        err.print(f"{len(exc.problems)} error(s) in {instance}; nothing written", markup=False)
    except (OutputExistsError, ExecutorError) as exc:
        err.print(f"error: {exc}; nothing written", markup=False)
    except interrupts.Interrupted as exc:  # SIGINT/SIGTERM: the runs that finished are written
        err.print(f"interrupted during {what} ({interrupts.signal_name(exc.signum)}): the runs that finished are "
                  f"in {out_dir}; {interrupts.RESUME_HINT}", markup=False)
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(EXIT_INPUT)


def _failures(runs: object) -> None:
    import pandas as pd

    assert isinstance(runs, pd.DataFrame)
    for r in runs.itertuples(index=False):
        if not has_plan(r.status):
            error = r.error if isinstance(r.error, str) else ""
            err.print(f"warning: {r.name}: {r.status}" + (f": {error}" if error else ""), markup=False)


def _exit_code(runs: object) -> None:
    """Exit 0 when a run has a plan; 3 when none has and every one is infeasible; else 4."""
    import pandas as pd

    assert isinstance(runs, pd.DataFrame)
    status = runs["status"]
    if len(runs) and not status.isin(PLAN_STATUSES).any():
        raise typer.Exit(EXIT_INFEASIBLE if (status == SolveStatus.INFEASIBLE).all() else EXIT_NO_SOLUTION)


@app.command()
def compare(
    instance: InstanceArg,
    out_dir: OutOption,
    scenarios: Annotated[str | None, typer.Option(help="Comma-separated scenario names (default: base and "
                                                  "every scenario in instance.yaml).")] = None,
    workers: WorkersOption = 1,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    time_limit: TimeLimitOption = None,
    mip_gap: GapOption = 1e-4,
    threads: ThreadsOption = None,
    soft_targets: SoftOption = False,
    reuse: ReuseOption = True,
) -> None:
    """Solve the base and scenarios of an instance; write each plan, comparison.csv,
    facility_diff.csv and charts into --out."""
    from network_opt.runs.compare import compare as run_compare
    from network_opt.solver.options import SolveOptions

    names = [s.strip() for s in scenarios.split(",") if s.strip()] if scenarios else None
    opts = SolveOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads, reuse=reuse)
    result = _run("compare", instance, out_dir, lambda: run_compare(
        instance, out_dir, names, workers=workers, executor=executor, scheduler=scheduler, options=opts,
        soft_targets=True if soft_targets else None, progress=True))
    runs = result.runs  # type: ignore[attr-defined]
    _failures(runs)
    solved = int(runs["status"].isin(PLAN_STATUSES).sum())
    skipped = int(runs["skipped"].sum())
    out.print(f"{solved} of {len(runs)} scenarios with a plan ({skipped} reused) -> {out_dir}/comparison.csv",
              markup=False)
    _exit_code(runs)


@app.command()
def sweep(
    instance: InstanceArg,
    out_dir: OutOption,
    vary: Annotated[list[str] | None, typer.Option(help="KEY=START:STOP:STEPS (set), KEY*=START:STOP:STEPS "
                                                   "(scale) or KEY=V1,V2,...; repeat for a grid. KEY as in "
                                                   "scenario overrides, e.g. targets[CN,material_recovery,Li,"
                                                   "2025,direct].value (the fifth key column: process).")] = None,
    samples: Annotated[int | None, typer.Option(min=1, help="Random draws from instance.yaml's uncertainty: "
                                                "block (instead of --vary).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for --samples: same seed, same draws.")] = 0,
    scenario: Annotated[str | None, typer.Option(help="Sweep around this scenario (default: the base).")] = None,
    workers: WorkersOption = 1,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    time_limit: TimeLimitOption = None,
    mip_gap: GapOption = 1e-4,
    threads: ThreadsOption = None,
    soft_targets: SoftOption = False,
    reuse: ReuseOption = True,
) -> None:
    """Solve an instance over a grid of parameter values or random samples; write each plan,
    sweep.csv and sweep.png into --out."""
    from network_opt.runs.sweep import sweep as run_sweep
    from network_opt.solver.options import SolveOptions

    opts = SolveOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads, reuse=reuse)
    result = _run("sweep", instance, out_dir, lambda: run_sweep(
        instance, out_dir, vary or (), samples, seed, scenario, workers=workers, executor=executor,
        scheduler=scheduler, options=opts, soft_targets=True if soft_targets else None, progress=True))
    runs = result.runs  # type: ignore[attr-defined]
    _failures(runs)
    solved = int(runs["status"].isin(PLAN_STATUSES).sum())
    out.print(f"{solved} of {len(runs)} points with a plan ({int(runs['skipped'].sum())} reused) -> "
              f"{out_dir}/sweep.csv", markup=False)
    _exit_code(runs)
