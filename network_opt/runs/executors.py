"""Running many solves (scenarios, sweep points): in this process, in a local process pool, or
on dask.distributed; writing each result as soon as it finishes, and skipping runs whose
results are already on disk for the same inputs (resume).

:func:`solve_one` is the one function that turns a base instance and a :class:`RunSpec` into
a :class:`RunResult` (apply the overrides, :func:`network_opt.runs.pipeline.solve`, key figures); every
executor calls it, so a faster solve path can replace it in one place. Each process (each thread,
for dask workers that are threads) keeps one :class:`~network_opt.solver.session.ResolveSession`, so
that consecutive runs there update the HiGHS model of the previous run when only numbers changed
and start from its plan (``SolveOptions.reuse``; the inline executor empties it after its batch).

Layout of an output folder: ``DIR/<name>/`` holds the run's results as
:func:`network_opt.results.write.write_results` writes them; its ``summary.json`` also carries
``scenario``, ``input_hash``, ``inputs`` and ``kpis``. A run is skipped when that file exists
with the same ``input_hash`` and a final status (optimal, feasible or infeasible, not
interrupted); runs that failed, were interrupted or found no plan within the limits are tried
again. Ctrl-C or SIGTERM stops the batch after writing what finished (the run in this process
keeps its best plan, marked interrupted; worker processes are killed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from network_opt.common import interrupts
from network_opt.common.errors import InputError, OutputExistsError, PrecheckError
from network_opt.inputs.instance import Instance
from network_opt.inputs.overrides import Override
from network_opt.solver.options import SolveOptions
from network_opt.solver.session import ResolveSession
from network_opt.solver.status import FINAL_STATUSES, SolveStatus, Termination, has_plan

EXECUTORS = ("local", "dask")


class ExecutorError(Exception):
    """An executor could not be started (e.g. the dask scheduler cannot be reached)."""


@dataclass(frozen=True)
class RunSpec:
    """One solve: a name (its folder), the overrides on the base instance, solver options, the
    hash of all its inputs, and the inputs to record (sweep values)."""

    name: str
    overrides: tuple[Override, ...]
    options: SolveOptions
    input_hash: str
    soft_targets: bool | None = None
    label: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    derivative_keys: tuple[str, ...] = ()  # target-value keys whose d objective / d value to report
    check: bool = True  # re-run the cross-table checks after the overrides (False: validated beforehand)
    #: the instance to solve, ``overrides`` already applied to it and checked (compare: the copy that
    #: :func:`~network_opt.inputs.scenarios.check_scenario` made, with the lanes its pre-check built);
    #: then :func:`solve_one` applies nothing again and ``overrides`` are only recorded (``input_hash``)
    instance: Instance | None = None


@dataclass
class RunResult:
    """What a run gave: status (optimal, feasible, infeasible, no_solution, unbounded, invalid:
    its overrides miss or leave invalid input, or error: anything else failed), objective
    (currency), seconds, error message (why an infeasible run is infeasible when the pre-check
    found it, before solving), and (fresh runs) the summary and tables. ``solution``: what is
    written into the run's folder (tables, summary, outcome and the instance for the GeoPackage;
    no prepared model data, no model), until it is written."""

    name: str
    status: str
    objective: float | None = None
    seconds: float = 0.0
    error: str | None = None
    summary: dict[str, Any] | None = None
    tables: dict[str, Any] | None = None
    skipped: bool = False
    solution: Any = None  # a network_opt.results.tables.Solution holding only what is written

    @property
    def kpis(self) -> dict[str, Any]:
        return dict((self.summary or {}).get("kpis") or {"status": self.status, "objective": self.objective})


def files_digest(inst: Instance) -> str:
    """SHA-256 of the instance's files: instance.yaml (or the workbook) and every table file."""
    h = hashlib.sha256()
    files = [inst.manifest.path, *(inst.manifest.tables[k] for k in sorted(inst.manifest.tables))]
    for path in dict.fromkeys(Path(f) for f in files):  # a workbook holds every table: hashed once
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def input_hash(inst: Instance, overrides: list[Override] | tuple[Override, ...], options: SolveOptions,
               soft_targets: bool | None = None, digest: str | None = None) -> str:
    """SHA-256 of the instance files (``digest``: :func:`files_digest`, computed when not given),
    the overrides, the solver options that change results, and the package version."""
    from network_opt.common.version import __version__

    opts = {"time_limit": options.time_limit, "mip_gap": options.mip_gap, "threads": options.threads,
            "soft_targets": soft_targets}
    payload = {"files": digest or files_digest(inst), "overrides": [o.canonical() for o in overrides],
               "options": opts, "version": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


_LOCAL = threading.local()


def process_session() -> ResolveSession:
    """The :class:`~network_opt.solver.session.ResolveSession` of this process (of this thread: a
    highspy model must not be shared between threads), created on first use."""
    session = getattr(_LOCAL, "session", None)
    if session is None:
        session = _LOCAL.session = ResolveSession()
    return session


def to_write(sol: Any, summary: Any) -> Any:
    """What of a solve (a :class:`~network_opt.results.tables.Solution`) its run's folder gets, and
    all a worker sends back: the tables of a plan, ``summary``, the outcome (without duals) and,
    for a plan, the instance (for the GeoPackage's sites) without what was derived from it (the
    lanes). No prepared model data and no model: they stay in the worker."""
    from network_opt.results.tables import Solution

    plan = sol.outcome.has_plan
    inst = sol.instance if plan else None
    return Solution(outcome=dataclasses.replace(sol.outcome, duals=None), tables=sol.tables if plan else {},
                    summary=summary, inst=dataclasses.replace(inst) if inst is not None else None)


def solve_one(instance: Instance, spec: RunSpec) -> RunResult:
    """Apply ``spec``'s overrides to ``instance``, solve with :func:`network_opt.runs.pipeline.solve`, and
    return the tables and a summary carrying the key figures. Never raises: failures come back
    as status ``invalid`` (input), ``infeasible`` (feasibility pre-check) or ``error``. With
    ``spec.options.reuse`` (default) the solve goes through this process's
    :func:`process_session`, so that a run following one of the same structure updates its HiGHS
    model and starts from its plan (``summary["resolve"]``)."""
    from network_opt.inputs.overrides import apply_overrides
    from network_opt.results.kpis import scenario_kpis, target_value_derivative
    from network_opt.runs.pipeline import solve

    start = time.perf_counter()
    try:
        inst = spec.instance if spec.instance is not None else apply_overrides(
            instance, list(spec.overrides), label=spec.label or spec.name, check=spec.check)
        session = process_session() if spec.options.reuse else None
        sol = solve(inst, spec.options, soft_targets=spec.soft_targets, session=session)
        kpis = scenario_kpis(sol)
        for key in spec.derivative_keys:
            kpis[f"shadow_price[{key}]"] = target_value_derivative(sol, key) if sol.outcome.has_plan else None
        summary = {**sol.summary, "scenario": spec.name, "input_hash": spec.input_hash, "inputs": spec.inputs,
                   "kpis": kpis}
        written = to_write(sol, summary)
        return RunResult(spec.name, sol.status, sol.objective, time.perf_counter() - start, None, written.summary,
                         written.tables, solution=written)
    except InputError as exc:  # the overrides miss or leave invalid input, or the pre-check proves it infeasible
        message = "; ".join(str(p) for p in exc.problems) or str(exc)
        status = SolveStatus.INFEASIBLE if isinstance(exc, PrecheckError) else SolveStatus.INVALID
        return RunResult(spec.name, status, None, time.perf_counter() - start, message)
    except Exception as exc:  # a failed run is reported, never stops the others
        return RunResult(spec.name, SolveStatus.ERROR, None, time.perf_counter() - start,
                         f"{type(exc).__name__}: {exc}")


# --- executors ------------------------------------------------------------------------------

class Executor:
    """Runs :func:`solve_one` over specs, or any picklable function over tasks
    (:meth:`map_tasks`); yields results as they finish."""

    name = "inline"

    def map_tasks(self, fn: Callable[[Instance, Any], Any], instance: Instance,
                  tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``fn(instance, task)`` for every task (``fn`` a module-level function, so that worker
        processes can import it); yields ``(index of the task, result)`` as each finishes. An
        exception in ``fn`` is raised here."""
        for k, task in enumerate(tasks):
            yield k, fn(instance, task)

    def run(self, instance: Instance, specs: list[RunSpec]) -> Iterator[RunResult]:
        try:
            for spec in specs:
                yield solve_one(instance, spec)
        finally:
            process_session().clear()  # do not hold the last HiGHS model in this process after the batch

    def release(self) -> None:
        """Let go of idle workers kept between batches (the executor stays usable: the next batch
        starts new ones); for a phase that needs this process's memory and cores, e.g. a large MIP."""

    def close(self) -> None:
        """Release workers or the cluster connection."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_WORKER_INSTANCE: Instance | None = None


def _init_worker(instance: Instance) -> None:
    global _WORKER_INSTANCE
    _WORKER_INSTANCE = instance
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    # a terminal's Ctrl-C reaches the whole process group: the parent answers it (it kills or closes
    # its workers), so an idle worker must not die on it with a traceback
    interrupts.worker_ignores_sigint()


def _run_in_worker(spec: RunSpec) -> RunResult:
    assert _WORKER_INSTANCE is not None
    return solve_one(_WORKER_INSTANCE, spec)


def _task_in_worker(fn: Callable[[Instance, Any], Any], task: Any) -> Any:
    assert _WORKER_INSTANCE is not None
    return fn(_WORKER_INSTANCE, task)


class LocalExecutor(Executor):
    """A pool of ``workers`` local processes (started fresh, not forked); one worker runs in
    this process.

    :meth:`map_tasks` keeps its pool between calls on the same instance until :meth:`close`: a
    started worker has paid for its imports (about 1.5 s: pandas, Pyomo, SciPy) and holds the
    instance, so a stochastic design's batches (wait-and-see, evaluations, out of sample) do not
    start new processes each."""

    name = "local"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ExecutorError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_instance: Instance | None = None

    def _task_pool(self, instance: Instance) -> ProcessPoolExecutor:
        """The pool whose workers hold ``instance`` (the one kept, or a new one)."""
        if self._pool is not None and self._pool_instance is not instance:
            self._close_pool()
        if self._pool is None:
            # processes start on demand (spawn), up to ``workers``
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(instance,))
            self._pool_instance = instance
        return self._pool

    def _close_pool(self, kill: bool = False) -> None:
        """Shut the kept pool down; ``kill``: its running tasks are abandoned (a stop request)."""
        pool, self._pool, self._pool_instance = self._pool, None, None
        if pool is not None:
            _shut_down(pool, kill)

    def map_tasks(self, fn: Callable[[Instance, Any], Any], instance: Instance,
                  tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self.workers == 1 or len(tasks) <= 1:
            yield from super().map_tasks(fn, instance, tasks)
            return
        futures: dict[Any, int] = {}
        try:
            with interrupts.starting_workers():  # submit() starts the workers (spawn) as they are needed
                pool = self._task_pool(instance)
                for k, task in enumerate(tasks):
                    futures[pool.submit(_task_in_worker, fn, task)] = k
            for fut in futures_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:  # a stop request, a failed task or the caller leaving: start nothing more
            self._close_pool(kill=True)
            raise

    def release(self) -> None:
        self._close_pool()

    def close(self) -> None:
        self._close_pool()

    def run(self, instance: Instance, specs: list[RunSpec]) -> Iterator[RunResult]:
        if self.workers == 1 or len(specs) <= 1:
            yield from super().run(instance, specs)
            return
        ctx = multiprocessing.get_context("spawn")
        pool: ProcessPoolExecutor | None = None
        futures: dict[Any, RunSpec] = {}
        try:
            with interrupts.starting_workers():  # submit() starts the workers (spawn) as they are needed
                pool = ProcessPoolExecutor(max_workers=min(self.workers, len(specs)), mp_context=ctx,
                                           initializer=_init_worker, initargs=(instance,))
                for spec in specs:
                    futures[pool.submit(_run_in_worker, spec)] = spec
            for fut in futures_completed(futures):
                yield _result_of(fut, futures[fut])
        except BaseException:  # Ctrl-C, SIGTERM or a failed write: start nothing more
            if pool is not None:
                _shut_down(pool, kill=True)  # else the shutdown waits for the running solves
                pool = None
            raise
        finally:
            if pool is not None:
                _shut_down(pool, kill=False)


def _shut_down(pool: ProcessPoolExecutor, kill: bool) -> None:
    """Shut ``pool`` down; ``kill``: its running tasks are abandoned (a stop request), else its idle
    workers are let go. Waits for the pool's manager thread, which holds its queues, so that their
    semaphores are released before this process ends: after a stop request it ends with
    ``os._exit`` (interrupts.leave_now), which runs no finalizer, and multiprocessing's resource
    tracker warned of leaked semaphores whenever that thread had not finished yet."""
    workers = _workers(pool)  # before shutdown(), which forgets them
    manager = getattr(pool, "_executor_manager_thread", None)  # the same: no public way to reach it
    pool.shutdown(wait=False, cancel_futures=True)
    if not kill:
        for w in workers:  # idle workers leave at once on shutdown
            w.join(timeout=10)
    _kill(workers)  # those still running: a stop request, or stuck
    pool.shutdown(wait=True)
    if manager is not None:
        manager.join(timeout=5)


def _workers(pool: ProcessPoolExecutor) -> list[Any]:
    """The pool's worker processes (no public way to reach them)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _kill(processes: list[Any]) -> None:
    """Kill worker processes: their running solves are abandoned (the results that finished are
    written already), so that a stop request ends the batch within a second."""
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=5)


def _result_of(fut: Any, spec: RunSpec) -> RunResult:
    try:
        return fut.result()
    except Exception as exc:  # a worker died
        return RunResult(spec.name, SolveStatus.ERROR, error=f"{type(exc).__name__}: {exc}")


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise :class:`ExecutorError` unless ``tcp://HOST:PORT`` accepts a connection."""
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme not in ("tcp", "tls") or not url.hostname or not url.port:
        raise ExecutorError(f"scheduler address {address!r} is not of the form tcp://HOST:PORT")
    try:
        with socket.create_connection((url.hostname, url.port), timeout=timeout):
            pass
    except OSError as exc:
        raise ExecutorError(f"cannot reach the dask scheduler at {address}: {exc.strerror or exc}") from None


class DaskExecutor(Executor):
    """dask.distributed: a LocalCluster of ``workers`` (processes, or threads with
    ``processes=False``) when no ``scheduler`` address is given, else the cluster at that address
    (its workers need network_opt installed; results come back to this process to be written)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 1, processes: bool = True,
                 timeout: float = 10.0):
        self.cluster = None
        if scheduler:
            check_reachable(scheduler, timeout=min(timeout, 5.0))
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("the dask executor needs dask.distributed: pip install 'network_opt[dask]'") from None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout=timeout)
            else:
                if workers < 1:
                    raise ExecutorError(f"--workers must be at least 1, got {workers}")
                # ":0": the scheduler's HTTP server (dashboard or not) on a free port; without an address
                # it takes 8787, and a second local sweep on the machine warned "Port 8787 is already in use"
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                            dashboard_address=":0", silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
        except ExecutorError:
            self.close()
            raise
        except (OSError, TimeoutError) as exc:
            self.close()
            where = scheduler or "(local cluster)"
            raise ExecutorError(f"cannot connect to the dask scheduler {where}: {exc}") from None

    def map_tasks(self, fn: Callable[[Instance, Any], Any], instance: Instance,
                  tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed

        if not tasks:
            return
        shared = self.client.scatter(instance, broadcast=True, hash=False)
        futures = {self.client.submit(fn, shared, task, pure=False): k for k, task in enumerate(tasks)}
        try:
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def run(self, instance: Instance, specs: list[RunSpec]) -> Iterator[RunResult]:
        from dask.distributed import as_completed

        if not specs:
            return
        shared = self.client.scatter(instance, broadcast=True, hash=False)
        futures = {self.client.submit(solve_one, shared, spec, pure=False): spec for spec in specs}
        try:
            for fut in as_completed(list(futures)):
                yield _result_of(fut, futures[fut])
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_executor_args(kind: str, workers: int, scheduler: str | None) -> None:
    """Raise :class:`ExecutorError` for an unknown executor, a bad worker count, or a scheduler
    address without ``--executor dask`` (checked before any work, connecting comes later)."""
    if kind not in EXECUTORS:
        raise ExecutorError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTORS)}")
    if scheduler is not None and kind != "dask":
        raise ExecutorError("--scheduler needs --executor dask")
    if workers < 1:
        raise ExecutorError(f"--workers must be at least 1, got {workers}")


def make_executor(kind: str = "local", workers: int = 1, scheduler: str | None = None,
                  processes: bool = True) -> Executor:
    """``local`` (default) or ``dask`` (a LocalCluster, or the cluster at ``scheduler``,
    tcp://HOST:PORT)."""
    check_executor_args(kind, workers, scheduler)
    if kind == "dask":
        return DaskExecutor(scheduler=scheduler, workers=workers, processes=processes)
    return LocalExecutor(workers)


# --- running a batch --------------------------------------------------------------------------

def read_summary(folder: Path) -> dict[str, Any] | None:
    """The ``summary.json`` of a results folder, or None if absent or unreadable."""
    try:
        data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_run_folders(out: Path, specs: list[RunSpec], instance: Instance | None = None) -> None:
    """Refuse an ``out`` that is a file, the working directory, ``instance`` (or contains one of
    them) or a folder holding anything but runs the tool wrote
    (:func:`network_opt.common.outdir.check_output_dir` with ``reuse``), and ``out/<name>`` folders
    that hold something other than one plan's results (with nothing else in them)."""
    from network_opt.common.outdir import check_output_dir, replace_refusal
    from network_opt.results.audit import instance_location

    protected = [instance_location(instance.manifest.path)] if instance is not None else []
    check_output_dir(out, False, protected=protected, reuse=True)
    for spec in specs:
        folder = out / spec.name
        if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and read_summary(folder) is None)):
            raise OutputExistsError(f"{folder} exists and does not hold network_opt results; move it away "
                                    "or choose another --out")
        reason = replace_refusal(folder) if folder.exists() else None
        if reason is not None:
            raise OutputExistsError(f"{folder} {reason}")


def _resumed(out: Path, spec: RunSpec) -> RunResult | None:
    summary = read_summary(out / spec.name)
    if summary is None or summary.get("input_hash") != spec.input_hash:
        return None
    status = str(summary.get("status"))
    if status not in FINAL_STATUSES or summary.get("termination") == Termination.INTERRUPTED:
        return None
    return RunResult(spec.name, status, summary.get("objective"), 0.0, None, summary, None, skipped=True)


def _write(out: Path, result: RunResult) -> None:
    from network_opt.results.write import write_results

    write_results(result.solution, out / result.name, overwrite=True)  # the Solution the run returned


def drop_stale(folder: Path, current: str) -> None:
    """Remove the results a failed run leaves behind from other inputs (they would be misread as
    this run's); results of the same inputs stay."""
    summary = read_summary(folder)
    if summary is not None and summary.get("input_hash") != current:
        shutil.rmtree(folder, ignore_errors=True)


def run_batch(instance: Instance, specs: list[RunSpec], out: Path, executor: Executor,
              progress: bool = False, description: str = "solving", keep: tuple[str, ...] = ()) -> list[RunResult]:
    """Run every spec not already solved in ``out`` for the same inputs; write each result into
    ``out/<name>/`` as soon as it finishes (failed runs write nothing). Results in spec order; of
    their tables only those named in ``keep`` stay in memory once written."""
    from network_opt.common.outdir import output_lock, read_marker, write_marker

    with output_lock(out):  # re-entrant: compare and sweep on the command line hold it already
        out.mkdir(parents=True, exist_ok=True)
        check_run_folders(out, specs, instance)
        if read_marker(out) is None:
            write_marker(out, "runs")
        return _run_batch(instance, specs, out, executor, progress, description, keep)


def _run_batch(instance: Instance, specs: list[RunSpec], out: Path, executor: Executor,
               progress: bool, description: str, keep: tuple[str, ...] = ()) -> list[RunResult]:
    results: dict[str, RunResult] = {}
    hashes = {spec.name: spec.input_hash for spec in specs}
    todo = []
    for spec in specs:
        done = _resumed(out, spec)
        if done is not None:
            results[spec.name] = done
        else:
            todo.append(spec)
    runs = executor.run(instance, todo)
    with _Progress(progress, len(specs), description) as bar, _closed_after(runs):
        bar.advance(len(results), f"{len(results)} already solved" if results else "")
        for res in runs:
            if res.solution is not None:
                _write(out, res)
            else:
                drop_stale(out / res.name, hashes[res.name])
            # written; do not keep every plan in memory, only the tables asked for (compare: facilities)
            res.solution = None
            res.tables = {k: v for k, v in res.tables.items() if k in keep} if res.tables else None
            results[res.name] = res
            bar.advance(1, f"{res.name}: {res.status}")
            if (res.summary or {}).get("termination") == "interrupted":
                # SIGINT/SIGTERM stopped a solve: stop the batch (its plan is kept, not trusted)
                raise interrupts.Interrupted(interrupts.requested() or signal.SIGINT)
    return [results[s.name] for s in specs]


@contextmanager
def _closed_after(runs: Iterator[RunResult]) -> Iterator[None]:
    """Close the executor's generator on leaving: a failure or a stop request in the loop over it
    then stops its workers at once (the CLI may end the process before it would be collected)."""
    try:
        yield
    finally:
        close = getattr(runs, "close", None)
        if close is not None:
            close()


class _Progress:
    """A rich progress bar on stderr (done/total, elapsed, time left), or nothing."""

    def __init__(self, enabled: bool, total: int, description: str):
        self.enabled, self.total, self.description = enabled, total, description
        self.progress: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                     TextColumn("{task.fields[last]}"), console=Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=self.total, last="")
        return self

    def advance(self, n: int, last: str = "") -> None:
        if self.progress is not None and n:
            self.progress.update(self.task, advance=n, last=last)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def explain_unsolved(results: list[RunResult], diagnose: str = "") -> None:
    """Give every run without a plan and without a message one saying why (the solver proved it
    infeasible, a limit stopped it, ...); ``diagnose``: a command that explains an infeasible run
    (``{name}`` is replaced by the run's name)."""
    for r in results:
        if r.error or has_plan(r.status):
            continue
        termination = str((r.summary or {}).get("termination") or r.status)
        if r.status == SolveStatus.INFEASIBLE:
            r.error = "the solver proved that no plan satisfies every constraint" + (
                f"; `{diagnose.format(name=r.name)}` says what is short" if diagnose else "")
        elif r.status == SolveStatus.UNBOUNDED:
            r.error = "the model is unbounded: a revenue can grow without limit (check prices and capacities)"
        else:
            r.error = f"no plan was found within the limits ({termination})"


def results_frame(results: list[RunResult]) -> Any:
    """One row per run: name, status, objective, seconds, skipped, error (a pandas DataFrame)."""
    import pandas as pd

    rows = [{"name": r.name, "status": r.status, "objective": r.objective, "seconds": r.seconds, "error": r.error,
             "skipped": r.skipped} for r in results]
    return pd.DataFrame(rows, columns=["name", "status", "objective", "seconds", "error", "skipped"])
