"""Stopping on SIGINT (Ctrl-C) and SIGTERM (batch schedulers, ``docker stop``, CI timeouts) in
every phase, keeping the best plan found.

While :func:`handling` is active (the CLI holds it for the whole command; :func:`run_highs`
takes it for the length of a solve when nobody does) both signals are handled the same way:

- outside HiGHS (loading, building, handing the model to HiGHS, extracting) the signal raises
  :class:`Interrupted` at once in the main thread; it carries the signal, so that the CLI exits
  with 128 + its number (130 for SIGINT, 143 for SIGTERM);
- while HiGHS runs (:func:`run_highs`) the signal asks HiGHS to stop (``cancelSolve``, seen by
  the simplex, interior-point and MIP interrupt callbacks) and HiGHS returns with its incumbent.
  HiGHS does not call back during presolve or during the LP of the MIP's root node (a separate
  solver object without callbacks), nor between some of the root's cut rounds, so :func:`run_highs`
  runs HiGHS in a thread and, if it has not returned :data:`GRACE_S` seconds after the signal,
  leaves it running and returns: the caller keeps the best plan it knows of (the start plan, or
  the last improving solution HiGHS reported). In the CLI (``handling(ending=True)``) the process
  then ends with :func:`os._exit`; elsewhere (the Python API, e.g. a notebook's interrupt button)
  the HiGHS run left behind, asked to stop, ends at its next check of the request, and the next
  HiGHS run of the process, or the interpreter's exit, waits for it first (:func:`await_left_running`);
- inside :func:`deferred` (HiGHS running, the results being written) the first signal only asks
  to stop (the callbacks given are called); a second signal raises :class:`Interrupted` there too,
  for a user who does not want to wait. The same signal again within :data:`REPEAT_S` seconds of
  the first is the same request (``timeout`` sends it to the process and to its process group).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

#: Seconds HiGHS gets to return after a stop request before it is left running (see the module doc).
GRACE_S = 1.0
#: Seconds between two looks at a running HiGHS (stop requests, progress heartbeat).
POLL_S = 0.05
#: Seconds within which the same signal again is the same stop request, not a second one: GNU
#: ``timeout`` and wrapper scripts send it to the process and then to its process group, so it
#: arrives twice within milliseconds, and a second request would abort writing the plan
REPEAT_S = 1.0
#: HiGHS runs the Python API left running after a stop request (asked to stop, not yet ended): the
#: next run waits for them, so that two runs never share HiGHS's task scheduler, and so does the
#: interpreter's exit, which a thread still inside HiGHS would make abort
_left_running: list[threading.Thread] = []
_left_lock = threading.Lock()  # runs in dask threads may wait at the same time
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop request (SIGINT or SIGTERM). Not an :class:`Exception` (like KeyboardInterrupt), so
    ``except Exception`` blocks let it through; not a KeyboardInterrupt either, so that the
    command-line framework does not turn it into exit code 130 whatever the signal."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)
        #: the phase it stopped, when the code that saw it knows better than :func:`phase_of`
        self.phase: str | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM (the shell's convention)."""
        return exit_code(self.signum)

    def __str__(self) -> str:
        return f"interrupted by {signal_name(self.signum)}"


def exit_code(signum: int) -> int:
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _State:
    def __init__(self) -> None:
        self.requested: int | None = None  # the first signal received
        self.requested_at = 0.0  # when (time.monotonic())
        self.count = 0  # stop requests received (a repeat within REPEAT_S not counted)
        self.depth = 0  # nested handling() contexts
        self.previous: dict[int, Any] = {}
        self.deferrals: list[Callable[[], None]] = []
        self.abandoned = False
        self.ending = False  # the process ends after the command (the CLI): see handling()


_state = _State()


def requested() -> int | None:
    """The signal that asked to stop (the first one), or None."""
    return _state.requested


def abandoned() -> bool:
    """Whether a HiGHS run was left running after a stop request (the CLI then ends the process
    with os._exit; the Python API waits for it before the next run, :func:`await_left_running`)."""
    return _state.abandoned


def check() -> None:
    """Raise :class:`Interrupted` if a stop was requested (for the points between two phases
    where a deferred request must take effect)."""
    if _state.requested is not None:
        raise Interrupted(_state.requested)


def _handler(signum: int, _frame: FrameType | None) -> None:
    now = time.monotonic()
    if _state.requested is None:
        _state.requested, _state.requested_at = signum, now
    elif signum == _state.requested and now - _state.requested_at < REPEAT_S:
        return  # the same request delivered again (to the process, then to its group): see REPEAT_S
    _state.count += 1
    if _state.deferrals and _state.count == 1:
        for stop in list(_state.deferrals):
            stop()
        return
    raise Interrupted(_state.requested)


class _QuietInterrupts(logging.Filter):
    """Drops Pyomo's "Constructing component ... failed: Interrupted" error: a stop request raised
    inside a component's rule is no error of the model."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Interrupted | KeyboardInterrupt):
            return False
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not ("failed" in text and ("Interrupted" in text or "KeyboardInterrupt" in text))


_FILTER = _QuietInterrupts()
_PYOMO_LOGGERS = ("pyomo.core", "pyomo.core.base.block")


@contextmanager
def handling(ending: bool = False) -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described in the module doc while inside (main thread only;
    elsewhere nothing changes). Nested uses share one state; the outermost restores the previous
    handlers and forgets the request. ``ending`` (outermost use only): the process ends when this
    context does (the CLI), so a HiGHS left running may have its threads' CPU priority lowered to
    the minimum while the plan is written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _state.depth == 0:
        _state.requested, _state.count, _state.abandoned, _state.ending = None, 0, False, ending
        _state.previous = {s: signal.signal(s, _handler) for s in SIGNALS}
        for name in _PYOMO_LOGGERS:
            logging.getLogger(name).addFilter(_FILTER)
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0:
            for s, previous in _state.previous.items():
                signal.signal(s, previous)
            for name in _PYOMO_LOGGERS:
                logging.getLogger(name).removeFilter(_FILTER)
            _state.previous = {}
            _state.requested, _state.count, _state.deferrals = None, 0, []


def active() -> bool:
    """Whether :func:`handling` is in force (in the main thread)."""
    return _state.depth > 0


@contextmanager
def deferred(stop: Callable[[], None] | None = None) -> Iterator[None]:
    """While inside, the first stop request calls ``stop`` (if given) instead of raising; a second
    raises :class:`Interrupted`. Use :func:`requested` afterwards to see whether one came. Outside
    the main thread nothing changes (signals are handled in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fn = stop or (lambda: None)
    _state.deferrals.append(fn)
    try:
        yield
    finally:
        if fn in _state.deferrals:
            _state.deferrals.remove(fn)


@contextmanager
def starting_workers() -> Iterator[None]:
    """Start worker processes (``spawn``) inside; a stop request that comes meanwhile raises
    :class:`Interrupted` when the block ends, once every worker started is known to its caller
    (who ends them), not between a worker's start and its registration, which left it running.

    SIGINT is also held back in this thread, so that a process started inside inherits it blocked:
    a terminal's Ctrl-C reaches the whole process group, and a worker still importing (before
    :func:`worker_ignores_sigint` runs in it) died of it with a KeyboardInterrupt traceback.
    (multiprocessing's resource tracker starts its process the same way, but releases SIGINT after
    it, whatever it was before: so it is started first.)"""
    before = _state.requested
    masked = hasattr(signal, "pthread_sigmask")  # not on Windows, which has no process groups to answer
    if masked:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if masked else set()
    try:
        with deferred():
            yield
    finally:
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    if before is None and _state.requested is not None and active():
        raise Interrupted(_state.requested)


def worker_ignores_sigint() -> None:
    """In a worker process: ignore SIGINT (the parent answers a terminal's Ctrl-C by ending its
    workers) and release it if it was held back at the start (:func:`starting_workers`); a Ctrl-C
    that arrived meanwhile is then dropped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


#: the phase of a stop while the modules a command needs are imported (before it loads anything)
IMPORTING = "starting up (importing the modules)"
#: what compare and sweep advise after an interrupt: the same command resumes from the runs written
RESUME_HINT = "run the same command again to solve the others"


def phase_of(exc: BaseException) -> str:
    """The phase an exception was raised in: the OUTERMOST module of its traceback that names a
    phase ("loading the instance", "building the model", "handing the model to HiGHS", "solving",
    "writing the results", ...; "preparing" if none does). Outermost, because a phase calls
    helpers of other stages (the constraint rules call ``ModelData.prev`` of model/data.py, which
    on its own would read as "preparing"). An :class:`Interrupted` that names its phase (``phase``,
    e.g. a stochastic design's "progressive hedging (mpi-sppy) on 6 scenarios") gives that."""
    if isinstance(exc, Interrupted) and exc.phase:
        return exc.phase
    names = {
        "network_opt.results.write": "writing the results", "network_opt.results.gpkg": "writing the results",
        "network_opt.common.files": "writing the results", "network_opt.common.outdir": "writing the results",
        "network_opt.solver.handoff": "handing the model to HiGHS", "pyomo.repn": "handing the model to HiGHS",
        "network_opt.solver.highs": "solving", "network_opt.solver.options": "solving",
        "network_opt.solver.starts": "solving", "network_opt.solver.compliance": "solving", "highspy": "solving",
        "network_opt.model.build": "building the model", "network_opt.model.constraints": "building the model",
        "network_opt.model.variables": "building the model", "network_opt.model.objective": "building the model",
        "network_opt.model.linear": "building the model",
        "pyomo.core": "building the model",
        "network_opt.model.data": "preparing lanes and coefficients", "network_opt.inputs.lanes": "preparing lanes and "
        "coefficients", "network_opt.model.size": "preparing lanes and coefficients",
        "network_opt.inputs.instance": "loading the instance", "network_opt.inputs.read": "loading the instance",
        "network_opt.inputs.load": "loading the instance",
        "network_opt.inputs.validate": "loading the instance", "network_opt.inputs.xlsx": "loading the instance",
        "network_opt.results.tables": "extracting the plan",
        "network_opt.model.aggregate": "aggregating the collection points",
        "network_opt.runs.decompose": "the decomposition (mpi-sppy)",
        "network_opt.runs.heuristic": "the heuristic (compress and filter)",
    }
    tb: TracebackType | None = exc.__traceback__
    frames: list[tuple[str, str]] = []
    while tb is not None:
        frames.append((str(tb.tb_frame.f_globals.get("__name__", "")), tb.tb_frame.f_code.co_name))
        tb = tb.tb_next
    for module, code in frames:  # outermost first
        if code == "<module>":  # a module's own code runs: it is being imported, before any phase of it
            return IMPORTING
        for prefix, phase in names.items():
            if module == prefix or module.startswith(prefix + "."):
                return phase
    return "preparing"


def _stop_flag(highs: Any) -> list[bool]:
    """A one-element list read by HiGHS's simplex, interior-point and MIP interrupt callbacks
    (subscribed once per highspy object): True asks HiGHS to stop. Every call sets HiGHS's
    ``user_interrupt`` to the flag, False included: HiGHS keeps that input between runs, so an
    interrupt would otherwise stop every later run on the object at once (highspy's own
    ``HandleKeyboardInterrupt`` only ever sets it)."""
    flag: list[bool] | None = getattr(highs, "_network_opt_stop", None)
    if flag is not None:
        return flag
    new: list[bool] = [False]

    def check(event: Any) -> None:
        if event.data_in is not None:
            event.data_in.user_interrupt = new[0]

    for name in ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt"):
        callback = getattr(highs, name, None)
        if callback is not None:
            callback.subscribe(check)
    highs._network_opt_stop = new
    return new


def stop_highs(highs: Any) -> None:
    """Ask the running ``highs`` to stop and return its incumbent, as a stop request does, but
    without recording a SIGINT/SIGTERM: later runs start as usual (:func:`run_highs` clears the
    flag). Safe from HiGHS's own callback thread (e.g. a memory guard)."""
    _stop_flag(highs)[0] = True


def run_highs(highs: Any, tick: Callable[[float], None] | None = None,
              on_abandon: Callable[[], None] | None = None) -> bool:
    """``highs.run()``, stoppable within about :data:`GRACE_S` seconds by SIGINT/SIGTERM in every
    phase of HiGHS. Returns True if HiGHS returned (its status says whether it was interrupted),
    False if it was left running :data:`GRACE_S` seconds after a stop request (asked to stop; the
    module doc): ``highs`` must then not be touched again; a second signal raises and leaves it
    running too. Outside the CLI the run left behind is waited for before the next one starts and
    at the interpreter's exit (:func:`await_left_running`).
    ``tick(seconds)`` is called every :data:`POLL_S` seconds from this thread while HiGHS runs
    (e.g. to keep a progress line alive where HiGHS reports nothing). ``on_abandon()`` is called
    when HiGHS is left running (after the grace period, or on a second signal, which raises).

    Outside the main thread (dask threads, pools) HiGHS runs here, as plain ``highs.run()``:
    signals reach the main thread only."""
    await_left_running()
    flag = _stop_flag(highs)
    flag[0] = False
    with contextlib.suppress(AttributeError):  # forget an earlier cancelSolve (highspy's startSolve does too)
        highs._Highs__solver_should_stop = False
    if threading.current_thread() is not threading.main_thread():
        highs.run()
        return True
    with handling():
        if _state.requested is not None:
            return True  # asked to stop before it started: run nothing (HiGHS holds no new result)
        done = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                highs.run()  # releases the GIL: this thread waits, handlers run
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            finally:
                # as highspy's own threaded solve does after each run in a thread (older: no such call)
                with contextlib.suppress(Exception):
                    type(highs).resetThreadScheduler(False)
                done.set()

        begin = time.perf_counter()
        asked: list[float] = []

        def stop() -> None:
            asked.append(time.perf_counter())
            flag[0] = True
            with contextlib.suppress(AttributeError):
                highs.cancelSolve()  # for a highspy object with HandleKeyboardInterrupt on

        if tick is not None:
            tick(0.0)
        thread = threading.Thread(target=work, name="highs", daemon=True)
        try:
            with deferred(stop):
                thread.start()
                while not done.wait(POLL_S):
                    if asked and time.perf_counter() - asked[0] > GRACE_S:
                        _abandon(on_abandon, thread)
                        return False
                    if tick is not None:
                        tick(time.perf_counter() - begin)
        except BaseException:  # a second signal (or a failing tick) while HiGHS still runs
            if not done.is_set():
                _abandon(on_abandon, thread)
            raise
        if failure:
            raise failure[0]
        return True


def _abandon(on_abandon: Callable[[], None] | None, thread: threading.Thread) -> None:
    _state.abandoned = True
    if _state.ending:
        _yield_cpu()
    else:
        with _left_lock:
            if not _left_running:
                atexit.register(await_left_running)  # once while the list holds runs (emptied: unregistered)
            _left_running.append(thread)
    if on_abandon is not None:
        on_abandon()


def await_left_running() -> None:
    """Wait for the HiGHS runs left running after a stop request (:func:`run_highs`; asked to stop,
    they end at HiGHS's next check of the request: on china-2025-2032 in the root's cut rounds
    11-17 s after the signal). A stop request while waiting ends the wait (the run that was to
    start then runs nothing, :func:`run_highs`; the next call waits again)."""
    while True:
        with _left_lock:
            while _left_running and not _left_running[0].is_alive():
                _left_running.pop(0)
            if not _left_running:
                atexit.unregister(await_left_running)
                return
            first = _left_running[0]
        first.join(POLL_S)
        if _state.requested is not None and first.is_alive():
            return


def _yield_cpu() -> None:
    """Give every other thread of this process the lowest CPU priority (Linux; elsewhere nothing):
    a HiGHS left running keeps its threads busy until the process ends, and the plan should be
    written as if it were not there."""
    main = threading.main_thread().native_id
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return
    for tid in tasks:
        if tid.isdigit() and int(tid) != main:
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, int(tid), 19)


def leave_now(code: int) -> None:
    """End the process at once with ``code`` after flushing the logs and standard streams: after
    a stop request a HiGHS run may still be going in a thread (normal interpreter shutdown could
    crash into it), and freeing a large model object by object takes seconds."""
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream: nothing to flush
            stream.flush()
    os._exit(code)
