"""SIGINT and SIGTERM in every phase (issue 13): the process ends within seconds with exit code
130 / 143, nothing half-written, and the best plan written when one exists.

The solves run in real subprocesses (``python -m network_opt``); the phase is read from their
progress lines. The instance (200 points x 40 candidates x 3 periods, about 80,000 flows) builds
in about 2 s and its MIP's root LP takes about 20 s on a 2-core machine, with 1.4 GB peak memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from network_opt.common import interrupts

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: seconds from the signal to the end of the process when nothing is to be written
PROMPT_S = 5.0
#: seconds from the signal to HiGHS having stopped ("solver finished" on stderr)
HONOURED_S = 3.0


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from network_opt.datasets.generate import GeneratorSpec, generate

    return generate(tmp_path_factory.mktemp("interrupts") / "g200",
                    GeneratorSpec(seed=0, collection_points=200, candidates=40, periods=3))


class Run:
    """A ``network-opt solve`` subprocess (or ``command``) whose stderr (and stdout) lines are
    timestamped."""

    def __init__(self, *args: str, command: tuple[str, ...] = ("-m", "network_opt", "solve")):
        self.proc = subprocess.Popen([sys.executable, *command, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(s,), daemon=True)
                        for s in (self.proc.stdout, self.proc.stderr)]
        for t in self.readers:
            t.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self.cond:
                self.lines.append((time.perf_counter(), line))
                self.cond.notify_all()

    def wait_for(self, text: str, timeout: float = 120.0) -> float:
        """Block until a line holding ``text`` appears; return when it did."""
        end = time.perf_counter() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if text in line:
                        return t
                left = end - time.perf_counter()
                if left <= 0 or (self.proc.poll() is not None and not any(r.is_alive() for r in self.readers)):
                    raise AssertionError(f"no line with {text!r}:\n{self.text}")
                self.cond.wait(min(left, 0.5))

    def signal(self, sig: int) -> float:
        now = time.perf_counter()
        self.proc.send_signal(sig)
        return now

    def finish(self, timeout: float = 120.0) -> tuple[int, float]:
        """Exit code and the time the process ended."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        ended = time.perf_counter()
        for t in self.readers:
            t.join(timeout=10)
        return code, ended

    @property
    def text(self) -> str:
        return "".join(line for _, line in self.lines)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_model_is_built_stops_at_once_with_nothing_written(
        instance: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "out"
    run = Run(str(instance), "--out", str(out))
    run.wait_for("building the model")
    time.sleep(0.3)  # inside the build (about 2 s here), not at its first line
    sent = run.signal(sig)
    code, ended = run.finish()
    assert code == 128 + sig, run.text
    assert ended - sent < PROMPT_S, run.text
    assert f"interrupted during building the model ({signal.Signals(sig).name}); nothing written" in run.text
    assert "Traceback" not in run.text and "ERROR" not in run.text, run.text  # no Pyomo construction error
    assert not out.exists() or not any(out.iterdir()), "nothing may be written"
    assert _leftovers(out) == []


def _leftovers(out: Path) -> list[str]:
    """Temporary folders or lock files of ``out`` left beside it."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _plan_or_nothing(out: Path, text: str) -> dict[str, Any] | None:
    """The summary of a written plan (checked complete), or None when the output says none exists."""
    assert _leftovers(out) == []
    if "before any plan was found; nothing written" in text:
        assert not out.exists() or not any(out.iterdir()), text
        return None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["termination"] == "interrupted"
    assert summary["status"] == "feasible"
    assert (out / "flows.csv").is_file() and (out / "facilities.csv").is_file()
    return summary


def test_sigterm_in_the_root_lp_writes_the_start_plan_and_exits_143(instance: Path, tmp_path: Path) -> None:
    """--start open-all gives HiGHS a plan at once; the signal comes in the MIP's root LP, where
    HiGHS calls back nothing (the issue's `HEkkDual::iterate` under `evaluateRootLp`). It comes
    twice, 20 ms apart, as GNU ``timeout`` sends it (to the process, then to its process group):
    one stop request, the plan written (a second request would abort the write)."""
    out = tmp_path / "out"
    run = Run(str(instance), "--out", str(out), "--start", "open-all")
    run.wait_for("solving with HiGHS")
    time.sleep(6.0)  # the start's LP and the presolve take about 2 s here, the root LP about 20 s
    sent = run.signal(signal.SIGTERM)
    time.sleep(0.02)
    run.signal(signal.SIGTERM)
    code, ended = run.finish()
    finished = run.wait_for("solver finished", timeout=1)
    assert code == 143, run.text
    assert finished - sent < HONOURED_S, run.text
    assert ended - sent < 60, run.text  # writing included
    summary = _plan_or_nothing(out, run.text)
    assert summary is not None, "the start plan (open-all) must be written"
    assert "interrupted: the best plan found so far" in run.text and "(SIGTERM)" in run.text
    assert summary["objective"] is not None and float(summary["objective"]) > 0  # open-all: costs, no revenue


def test_sigint_in_the_root_lp_is_honoured_within_seconds(instance: Path, tmp_path: Path) -> None:
    """Without --verbose the progress lines tell when HiGHS stops; the line keeps moving while
    the root LP runs (HiGHS reports nothing there)."""
    out = tmp_path / "out"
    run = Run(str(instance), "--out", str(out), "--start", "none")
    began = run.wait_for("solving with HiGHS")
    time.sleep(6.0)  # presolve takes well under a second here: this is the root LP
    sent = run.signal(signal.SIGINT)
    code, ended = run.finish()
    finished = run.wait_for("solver finished", timeout=1)
    assert code == 130, run.text
    assert finished - sent < HONOURED_S, run.text
    _plan_or_nothing(out, run.text)
    assert ended - sent < 60, run.text
    del began


#: the Python API's solve of a ``Run``-like subprocess: prints when ``no.solve`` returned, then exits
API_SCRIPT = """
import sys
import network_opt as no
from network_opt.common.progress import Progress
sol = no.solve(sys.argv[1], no.SolveOptions(start="open_all"), progress=Progress("plain"))
print("returned", sol.summary.status, sol.summary.termination, flush=True)
"""


def test_the_python_api_returns_the_start_plan_within_seconds_of_a_signal_in_the_root_lp(instance: Path) -> None:
    """``no.solve`` (a notebook's interrupt button sends SIGINT) in the MIP's root LP, where HiGHS
    calls back nothing: it returns the start plan (open-all) within seconds, as the CLI does, instead
    of waiting for HiGHS to end its root LP (about 20 s here); the HiGHS run left behind, asked to
    stop, is waited for at the interpreter's exit, which ends cleanly (exit 0, no abort)."""
    run = Run(str(instance), command=("-c", API_SCRIPT))
    run.wait_for("solving with HiGHS")
    time.sleep(6.0)  # the start's LP and the presolve take about 2 s here, the root LP about 20 s
    sent = run.signal(signal.SIGINT)
    returned = run.wait_for("returned", timeout=60)
    finished = run.wait_for("solver finished", timeout=1)
    code, _ = run.finish()
    assert finished - sent < HONOURED_S, run.text  # as for the CLI
    # then the plan's tables, beside the HiGHS left running on the other core (2 s under the suite's
    # load); the API used to return when HiGHS ended its root LP, 11 s after the signal here
    assert returned - sent < 2 * HONOURED_S, run.text
    assert "returned feasible interrupted" in run.text, run.text
    assert code == 0, run.text
    assert "Fatal Python error" not in run.text and "Traceback" not in run.text, run.text


# --- the mechanism, in this process --------------------------------------------------------------

def test_outside_a_deferral_a_signal_raises_with_its_exit_code() -> None:
    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at the next bytecode
        assert caught.value.exit_code == 143
        assert interrupts.requested() == signal.SIGTERM
    assert interrupts.requested() is None  # the outermost context forgets it
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_in_a_deferral_the_first_signal_asks_and_the_second_raises() -> None:
    asked: list[int] = []
    with interrupts.handling(), interrupts.deferred(lambda: asked.append(1)):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        assert asked == [1] and interrupts.requested() == signal.SIGINT
        with pytest.raises(interrupts.Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert caught.value.exit_code == 130  # the first signal's code


def test_the_same_signal_again_at_once_is_the_same_request() -> None:
    """Within REPEAT_S the same signal is one request (``timeout`` delivers it twice); later, or
    another signal, is a second request and raises."""
    asked: list[int] = []
    with interrupts.handling(), interrupts.deferred(lambda: asked.append(1)):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        assert asked == [1] and interrupts.requested() == signal.SIGTERM
        time.sleep(interrupts.REPEAT_S)
        with pytest.raises(interrupts.Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert caught.value.exit_code == 143


def test_run_highs_leaves_a_highs_that_does_not_answer_after_the_grace_period() -> None:
    class Stuck:  # HiGHS in presolve or the root LP: no callback sees cancelSolve
        HandleKeyboardInterrupt = False
        cancelled = False

        def run(self) -> None:
            time.sleep(30)

        def cancelSolve(self) -> None:  # highspy's name
            self.cancelled = True

    stuck = Stuck()
    left: list[bool] = []
    with interrupts.handling(ending=True):  # as in the CLI
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        begin = time.perf_counter()
        assert interrupts.run_highs(stuck, on_abandon=lambda: left.append(True)) is False
        took = time.perf_counter() - begin
    assert stuck.cancelled and left == [True]
    assert took < 0.3 + interrupts.GRACE_S + 0.5


def test_phase_of_names_where_the_signal_came() -> None:
    from network_opt.model import linear

    try:
        linear.picked(_Raising(), [0])  # type: ignore[arg-type]
    except interrupts.Interrupted as exc:
        assert interrupts.phase_of(exc) == "building the model"
    else:
        raise AssertionError("not raised")


class _Raising:
    def __getitem__(self, _i: int) -> object:
        raise interrupts.Interrupted(signal.SIGINT)


def test_a_run_after_an_interrupted_one_is_not_interrupted() -> None:
    """HiGHS keeps a callback's ``user_interrupt`` between runs: a re-used model (compare, sweep,
    notebooks) must not stop at once in every run after one was interrupted."""
    import highspy

    from network_opt.inputs.load import load
    from network_opt.model import build_model, prepare
    from network_opt.solver.handoff import HighsModel

    hm = HighsModel(build_model(prepare(load(Path(__file__).parents[1] / "instances" / "toy"))))

    def stop(event: object) -> None:
        event.data_in.user_interrupt = True  # type: ignore[attr-defined]

    hm.h.cbMipInterrupt.subscribe(stop)
    hm.h.run()
    assert hm.h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    hm.h.cbMipInterrupt.unsubscribe(stop)
    assert interrupts.run_highs(hm.h)
    assert hm.h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _frames_of(*modules: str) -> BaseException:
    """An Interrupted raised through one frame per module name, outermost first (each frame's
    globals carry that ``__name__``, which is all phase_of reads)."""
    inner: object = None
    for module in reversed(modules):
        scope: dict[str, object] = {"__name__": module, "inner": inner, "interrupts": interrupts}
        exec("def call():\n    return inner() if inner else (_ for _ in ()).throw(interrupts.Interrupted())",
             scope)
        inner = scope["call"]
    try:
        inner()  # type: ignore[operator]
    except interrupts.Interrupted as exc:
        return exc
    raise AssertionError("not raised")


def test_phase_is_the_outermost_stage_on_the_stack() -> None:
    # the constraint rules call ModelData.prev (model/data.py): still building, not preparing
    exc = _frames_of("network_opt.runs.pipeline", "network_opt.model.build", "network_opt.model.constraints.capacity",
                     "network_opt.model.data")
    assert interrupts.phase_of(exc) == "building the model"
    exc = _frames_of("network_opt.runs.pipeline", "network_opt.model.size", "network_opt.model.data",
                     "network_opt.inputs.lanes")
    assert interrupts.phase_of(exc) == "preparing lanes and coefficients"
    assert interrupts.phase_of(_frames_of("network_opt.cli.solve", "network_opt.results.write",
                                          "network_opt.results.read")) == "writing the results"


def test_a_signal_while_workers_start_is_raised_once_they_are_known() -> None:
    """Inside ``starting_workers`` the request waits until the block ends (before, it could come
    between a worker's start and its registration by the pool, which then left it running)."""
    done: list[str] = []
    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted) as caught, interrupts.starting_workers():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            done.append("registered")
        assert done == ["registered"] and caught.value.exit_code == 130


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_process_started_inside_holds_sigint_back_until_it_ignores_it() -> None:
    """A terminal's Ctrl-C reaches every process of the group: a worker still importing (before its
    initializer) died of it with a KeyboardInterrupt traceback. Started inside ``starting_workers``
    it has SIGINT blocked from its first instruction; ``worker_ignores_sigint`` drops what came."""
    code = ("import os, signal, time\n"
            "blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])\n"
            "os.kill(os.getpid(), signal.SIGINT)\n"  # the Ctrl-C while the worker imports
            "time.sleep(0.1)\n"
            "from network_opt.common import interrupts\n"
            "interrupts.worker_ignores_sigint()\n"
            "time.sleep(0.1)\n"
            "print('alive', blocked, signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))\n")
    with interrupts.starting_workers():
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split() == ["alive", "True", "False"]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # released in this process


class Slow:
    """A HiGHS that answers a stop request only after ``seconds`` (as in its root LP)."""

    HandleKeyboardInterrupt = False

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started: float | None = None
        self.ended: float | None = None

    def run(self) -> None:
        self.started = time.perf_counter()
        time.sleep(self.seconds)
        self.ended = time.perf_counter()

    def cancelSolve(self) -> None:  # highspy's name
        pass


def test_outside_the_cli_a_run_left_running_is_waited_for_before_the_next() -> None:
    """The Python API (``handling()`` without ``ending``) leaves a HiGHS that does not answer
    after the grace period, as the CLI does; the next run starts only once it has ended, so that
    two runs never share HiGHS's scheduler."""
    slow = Slow(2.0)
    with interrupts.handling():
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        begin = time.perf_counter()
        assert interrupts.run_highs(slow) is False
        assert time.perf_counter() - begin < 0.2 + interrupts.GRACE_S + 0.5
    assert slow.ended is None  # still running
    after = Slow(0.0)
    with interrupts.handling():
        assert interrupts.run_highs(after) is True
    assert slow.ended is not None and after.started is not None and after.started >= slow.ended


def test_a_stop_request_while_waiting_for_a_run_left_running_starts_nothing() -> None:
    """As in ``solve_model``, the next run is asked for inside ``deferred()``: a signal while it
    waits for the one left running is a stop request, and it then runs nothing."""
    slow = Slow(3.0)
    with interrupts.handling():
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        assert interrupts.run_highs(slow) is False
    after = Slow(0.0)
    with interrupts.handling(), interrupts.deferred():
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        begin = time.perf_counter()
        assert interrupts.run_highs(after) is True  # asked to stop before it started: ran nothing
        assert time.perf_counter() - begin < 1.5
    assert after.started is None and slow.ended is None
    interrupts.await_left_running()  # the next waits (here: the test, so that no run outlives it)
    assert slow.ended is not None


def test_in_the_python_api_a_stop_request_in_one_phase_holds_for_the_next(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``no.solve(heuristic=Heuristic(aggregate=...))``: a SIGINT that arrives while the clustered
    relaxation's LP runs (noted by that HiGHS run, which then returns) must stop the screen after
    that LP, as in the CLI: no.solve raises Interrupted (without a plan of the full model there is
    nothing to keep) instead of going on to the clustered MIP and the full model. Before, each HiGHS
    run's own handling forgot the request when it returned, outside the CLI."""
    import network_opt as no
    from network_opt.datasets.generate import GeneratorSpec, generate
    from network_opt.runs import heuristic as heuristic_module
    from network_opt.runs.heuristic import Heuristic

    real = heuristic_module.lp_solution

    def lp_then_a_signal(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        with interrupts.handling(), interrupts.deferred():  # as a signal during that LP's HiGHS run
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        return result

    import io

    from rich.console import Console

    from network_opt.common.progress import Progress

    lines = io.StringIO()
    monkeypatch.setattr(heuristic_module, "lp_solution", lp_then_a_signal)
    folder = generate(tmp_path / "g", GeneratorSpec(collection_points=30, candidates=6, periods=2, chemistries=2,
                                                    seed=2))
    with pytest.raises(interrupts.Interrupted):
        no.solve(folder, no.SolveOptions(time_limit=60.0), heuristic=Heuristic(aggregate=5),
                 progress=Progress("plain", Console(file=lines, width=400)))
    phases = lines.getvalue()
    assert "heuristic: the clustered relaxation's LP" in phases, phases
    assert "solving the clustered relaxation" not in phases and "building the model" not in phases, phases
    assert interrupts.requested() is None  # forgotten once no.solve has returned


def test_a_signal_while_the_redispatch_builds_writes_the_plan_split_back(instance: Path, tmp_path: Path) -> None:
    """``--aggregate 60 --redispatch``: a SIGINT while the full model is built for the re-dispatch
    (after the clustered MIP, about 1 s of build here) ends that build at once; the clustered plan
    split back onto the points is written, with the reason, and the exit code is 130."""
    out = tmp_path / "out"
    run = Run(str(instance), "--out", str(out), "--aggregate", "60", "--redispatch", "--time-limit", "60",
              "--mip-gap", "0.01")
    run.wait_for("re-dispatch: building the full model", timeout=240)
    time.sleep(0.3)
    sent = run.signal(signal.SIGINT)
    stopped = run.wait_for("re-dispatch: not run: stopped", timeout=30)
    code, ended = run.finish()
    assert code == 130, run.text
    assert stopped - sent < HONOURED_S, run.text
    assert ended - sent < 60, run.text  # writing included
    assert "Traceback" not in run.text and "ERROR" not in run.text, run.text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "feasible" and summary["aggregation"]["redispatch"]["note"] == "not run: stopped"
    assert summary["objective"] == pytest.approx(summary["aggregation"]["objective_disaggregated"])
    assert (out / "flows.csv").is_file() and (out / "aggregation.csv").is_file()
    assert _leftovers(out) == []


def test_a_signal_during_the_search_after_the_redispatch_writes_its_best_plan(instance: Path, tmp_path: Path) -> None:
    """``--aggregate 60 --redispatch --time-limit 60 --mip-gap 0``: a SIGINT while the full model's
    search runs from the re-dispatched plan stops HiGHS; the best plan it has (at worst the
    re-dispatched one) is written with the instance's tables, and the exit code is 130."""
    out = tmp_path / "out"
    run = Run(str(instance), "--out", str(out), "--aggregate", "60", "--redispatch", "--time-limit", "60",
              "--mip-gap", "0")
    run.wait_for("re-dispatch: searching the full model", timeout=240)
    time.sleep(0.5)
    sent = run.signal(signal.SIGINT)
    code, ended = run.finish()
    assert code == 130, run.text
    assert ended - sent < 60, run.text  # writing included
    assert "Traceback" not in run.text and "ERROR" not in run.text, run.text
    summary = json.loads((out / "summary.json").read_text())
    moved = summary["aggregation"]["redispatch"]
    assert moved["solved"] and moved["search"]["termination"] == "interrupted", moved
    assert summary["objective"] == pytest.approx(moved["objective"]) and moved["objective"] <= moved["objective_held"]
    assert (out / "flows.csv").is_file() and (out / "aggregation.csv").is_file()
    assert _leftovers(out) == []


def _children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").is_file() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_signal_during_companion_searches_writes_the_plan_and_leaves_no_process(
        instance: Path, tmp_path: Path) -> None:
    """``--concurrent-mip 2``: a SIGINT while both searches run (the companion ignores it, the main
    process stops it) writes the best plan, exits 130, and leaves no companion running."""
    out = tmp_path / "out"
    run = Run(str(instance), "--out", str(out), "--start", "open-all", "--concurrent-mip", "2")
    run.wait_for("solving with HiGHS")
    time.sleep(6.0)  # both searches in their root LP
    children = _children_of(run.proc.pid)
    assert children, "the companion runs beside the solve, a child of its process"
    sent = run.signal(signal.SIGINT)
    code, ended = run.finish()
    finished = run.wait_for("solver finished", timeout=1)
    assert code == 130, run.text
    assert finished - sent < HONOURED_S, run.text
    assert ended - sent < 60, run.text  # writing included
    assert "Traceback" not in run.text and "KeyboardInterrupt" not in run.text, run.text
    summary = _plan_or_nothing(out, run.text)
    assert summary is not None, "the start plan (open-all) must be written"
    deadline = time.perf_counter() + 5.0
    while any(_alive(p) for p in children) and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in children), children


def test_a_stop_while_modules_are_imported_names_the_start_up_not_the_module() -> None:
    """A signal during the imports of a command: the frame of a module's own code ("<module>")
    of e.g. runs/heuristic.py is an import, not the heuristic running; an import inside a phase
    (a lazy import while solving) stays that phase."""
    body = ("def call():\n"
            "    try:\n"
            "        exec(compile('raise interrupts.Interrupted()', 'imported.py', 'exec'),"
            " {'__name__': imported, 'interrupts': interrupts})\n"
            "    except interrupts.Interrupted as exc:\n"
            "        return exc\n")

    def stop_in(caller: str, imported: str) -> BaseException:
        scope: dict[str, object] = {"__name__": caller, "imported": imported, "interrupts": interrupts}
        exec(body, scope)
        return scope["call"]()  # type: ignore[operator]

    assert interrupts.phase_of(stop_in("network_opt.cli", "network_opt.runs.heuristic")) == interrupts.IMPORTING
    assert interrupts.phase_of(stop_in("network_opt.solver.highs", "network_opt.solver.diagnose")) == "solving"


def test_a_ctrl_c_while_the_cli_modules_load_exits_130_without_a_traceback() -> None:
    """Before main() installs its handlers a SIGINT is a KeyboardInterrupt inside an import; the
    package catches it: one line, exit 130 (it printed a traceback and exited 1). The import of a
    command module is made to raise it, as a signal at that moment does."""
    import subprocess
    import sys

    code = ("import sys, importlib.abc\n"
            "class Stop(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'network_opt.cli.generate':\n"
            "            raise KeyboardInterrupt\n"
            "        return None\n"
            "sys.meta_path.insert(0, Stop())\n"
            "import network_opt.cli\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "interrupted while starting; nothing written"
