"""Companion searches: the same MIP searched again in other processes, on cores HiGHS leaves idle.

HiGHS 1.16 searches its branch-and-bound tree on one thread (its parallel tree search is not
released; the MIP's only parallel work is symmetry detection and clique queries), so on a 2-core
machine one core idles through the whole search (eu-2025-2032: 96 s of CPU in 95 s of wall). A
companion is a second HiGHS in its own process on the same model with another ``random_seed``,
which changes its branching and heuristics, so the two trees differ. Each sends the other every
plan it finds (the main search takes the companion's through HiGHS's user-solution callback), and
the main process stops both as soon as the best plan of either lies within the gap asked of the
best bound of either: both bounds are bounds of the same model, so the larger one holds for both,
and a proof can come from the two searches together before either finishes alone.

A companion is a plain ``python -m network_opt.solver.companion FOLDER SEED FD`` process, in a session
of its own (a terminal's Ctrl-C reaches the main process only, which stops it): no
``multiprocessing``, whose ``spawn`` runs the user's ``__main__`` script again in the child. The
model, HiGHS's options and the start plan go through files in a temporary folder; messages (plans,
figures, the end) go as length-prefixed pickles through the child's stdin and a pipe of its own
(descriptor FD; its stdout, where HiGHS prints its banner, goes to /dev/null). The child imports
numpy and highspy only. It writes no result; it stops when asked, when its stdin closes (the main
process is gone), or
:data:`STOP_GRACE_S` seconds after either if it is inside a phase without callbacks (presolve,
the root LP), by ending its own process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import pickle
import queue
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import highspy
import numpy as np

#: seconds after a stop request (or the main process's end) at which a companion ends its own
#: process (e.g. in presolve or its root LP, where HiGHS does not call back)
STOP_GRACE_S: Final = 2.0
#: seconds the main process waits for a companion to return after the stop request before ending
#: it: nothing is lost, since a companion sends each plan when found and its figures as it goes
STOP_WAIT_S: Final = 0.5
#: seconds between two figures (best plan, bound) a companion sends
FIGURES_S: Final = 0.1
#: a plan is better than another when cheaper by more than this share of the larger |objective|
#: (HiGHS's own primal feasibility makes objectives of one plan differ in their last digits)
BETTER_SHARE: Final = 1e-9
#: the options a companion sets itself rather than take from the main search
OWN_OPTIONS: Final = ("threads", "random_seed", "time_limit", "output_flag", "log_to_console", "log_file",
                      "solution_file", "write_solution_to_file")


@dataclass
class CompanionRecord:
    """What the companion searches did, for ``summary.json`` ``solver.companions``: ``searches`` in
    all (the main one included), the companions' ``seeds``, the plans the main search took from
    them (``plans_taken``) and gave them (``plans_given``), the best plan they found themselves
    (``objective``) and their best bound (``bound``; currency), how each ended (``terminations``),
    ``proved_together``: the main search was stopped on the searches' joint figures (the best plan
    of any within the gap of the best bound of any, a companion's own proof included); ``note``:
    why they were stopped early (the memory guard)."""

    searches: int
    seeds: list[int] = field(default_factory=list)
    plans_taken: int = 0
    plans_given: int = 0
    objective: float | None = None
    bound: float | None = None
    terminations: list[str] = field(default_factory=list)
    proved_together: bool = False
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def better(a: float, b: float) -> bool:
    """Whether objective ``a`` is cheaper than ``b`` (minimisation) by more than :data:`BETTER_SHARE`."""
    if not math.isfinite(a):
        return False
    if not math.isfinite(b):
        return True
    return a < b - BETTER_SHARE * max(abs(a), abs(b), 1.0)


def proven(primal: float, dual: float, rel_gap: float, abs_gap: float = 0.0) -> bool:
    """Whether a plan of cost ``primal`` is proven within the gap asked by the bound ``dual``: HiGHS's
    rule, |primal - dual| / |primal| <= ``rel_gap`` or |primal - dual| <= ``abs_gap``
    (both finite; ``dual`` above ``primal`` by rounding counts as proven)."""
    if not (math.isfinite(primal) and math.isfinite(dual)):
        return False
    diff = primal - dual
    if diff <= abs_gap:
        return True
    return primal != 0 and diff <= rel_gap * abs(primal)


def refused(searches: int, *, is_mip: bool) -> str | None:
    """Why no companion can run here (None: they can): a model without integers; a solve outside
    the main thread (dask threads, pools), where HiGHS runs without the main thread's ticks that
    read the companions (network_opt.common.interrupts.run_highs); fewer usable cores than searches."""
    if searches <= 1:
        return "one search asked"
    if not is_mip:
        return "the model has no integer decision"
    if threading.current_thread() is not threading.main_thread():
        return "not in the main thread (a worker's solve)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < searches:
        return f"{searches} searches asked, {cores} core(s) usable"
    return None


def _write_model(h: highspy.Highs, folder: Path) -> None:
    """The model ``h`` holds now (bounds changed in place included), as arrays in ``folder``."""
    lp = h.getLp()
    a = lp.a_matrix_
    np.savez(folder / "model.npz",
             shape=np.array([lp.num_row_, lp.num_col_], dtype=np.int64), offset=np.array([lp.offset_]),
             cost=np.asarray(lp.col_cost_, dtype=float), col_lower=np.asarray(lp.col_lower_, dtype=float),
             col_upper=np.asarray(lp.col_upper_, dtype=float), row_lower=np.asarray(lp.row_lower_, dtype=float),
             row_upper=np.asarray(lp.row_upper_, dtype=float),
             rowwise=np.array([a.format_ == highspy.MatrixFormat.kRowwise]),
             start=np.asarray(a.start_, dtype=np.int32), index=np.asarray(a.index_, dtype=np.int32),
             value=np.asarray(a.value_, dtype=float),
             integer=np.array([t == highspy.HighsVarType.kInteger for t in lp.integrality_], dtype=bool))


def _lp(arrays: Any) -> highspy.HighsLp:
    """The HiGHS model of the arrays :func:`_write_model` saved."""
    lp = highspy.HighsLp()
    num_row, num_col = (int(v) for v in arrays["shape"])
    lp.num_row_, lp.num_col_ = num_row, num_col
    lp.col_cost_, lp.offset_ = arrays["cost"], float(arrays["offset"][0])
    lp.col_lower_, lp.col_upper_ = arrays["col_lower"], arrays["col_upper"]
    lp.row_lower_, lp.row_upper_ = arrays["row_lower"], arrays["row_upper"]
    rowwise = bool(arrays["rowwise"][0])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise if rowwise else highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = num_row, num_col
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = arrays["start"], arrays["index"], arrays["value"]
    kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
    lp.integrality_ = [kinds[k] for k in arrays["integer"].tolist()]
    return lp


def _send(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    """Write one message: its pickle's length (8 bytes) and the pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """Read one message (None at the end of the stream, or a message cut short)."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    size = struct.unpack("<Q", head)[0]
    data = stream.read(size)
    if len(data) < size:
        return None
    return tuple(pickle.loads(data))


def _search(folder: Path, seed: int, channel: IO[bytes]) -> None:
    """A companion's process: solve the model in ``folder`` with ``seed``, sending every improving
    plan (``("plan", objective, x)``), its figures every :data:`FIGURES_S` seconds
    (``("figures", primal, dual)``) and at the end ``("done", termination, primal, dual)``;
    taking the plans the main search sends (``("plan", objective, x)``) until ``("stop",)`` or the
    end of stdin. Objectives and bounds in currency (HiGHS reports them x 2**user_objective_scale)."""
    params = json.loads((folder / "params.json").read_text())
    unscale, seconds = float(params["unscale"]), params["seconds"]
    stop = threading.Event()
    offers: queue.Queue[tuple[float, np.ndarray]] = queue.Queue()

    def listen() -> None:  # the main process's messages; its end (or a stop) stops this search
        stdin = sys.stdin.buffer
        while (message := _receive(stdin)) is not None and message[0] != "stop":
            offers.put((float(message[1]), message[2]))
        stop.set()
        time.sleep(STOP_GRACE_S)  # in a phase without callbacks HiGHS would not see the stop
        os._exit(0)

    threading.Thread(target=listen, daemon=True).start()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    with np.load(folder / "model.npz") as arrays:
        cost, offset = np.array(arrays["cost"]), float(arrays["offset"][0])
        h.passModel(_lp(arrays))
    h.readOptions(str(folder / "options.set"))
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("random_seed", int(seed))
    h.setOptionValue("threads", 1)  # the core HiGHS's search leaves idle, not a share of the main one's
    h.setOptionValue("time_limit", highspy.kHighsInf if seconds is None else max(0.1, float(seconds)))
    if (folder / "start.npy").is_file():
        start = highspy.HighsSolution()
        start.col_value = np.load(folder / "start.npy")
        start.value_valid = True
        h.setSolution(start)
    best = [math.inf]
    sent = [-math.inf]

    def check(event: Any) -> None:
        if stop.is_set():
            event.data_in.user_interrupt = True
        now = time.monotonic()
        if now - sent[0] >= FIGURES_S:
            sent[0] = now
            o = event.data_out
            _send(channel, ("figures", o.mip_primal_bound * unscale, o.mip_dual_bound * unscale))

    def improved(event: Any) -> None:
        x = np.array(event.data_out.mip_solution, dtype=float)
        objective = float(np.dot(cost, x) + offset)
        best[0] = min(best[0], objective)
        _send(channel, ("plan", objective, x))

    def offered(event: Any) -> None:
        plan = None
        with contextlib.suppress(queue.Empty):
            while True:
                got = offers.get_nowait()
                if plan is None or got[0] < plan[0]:
                    plan = got
        if plan is not None and better(plan[0], best[0]):
            best[0] = plan[0]
            event.data_in.setSolution(plan[1])

    h.cbMipInterrupt.subscribe(check)
    h.cbMipImprovingSolution.subscribe(improved)
    h.cbMipUserSolution.subscribe(offered)
    h.run()
    info = h.getInfo()
    primal = float(info.objective_function_value) if info.primal_solution_status == 2 else math.inf  # 2: feasible
    dual = float(info.mip_dual_bound) * unscale if math.isfinite(info.mip_dual_bound) else -math.inf
    _send(channel, ("done", h.modelStatusToString(h.getModelStatus()), primal, dual))


def main(argv: list[str]) -> int:
    """``python -m network_opt.solver.companion FOLDER SEED FD``: one companion search, its messages
    written to descriptor FD; a failure is sent as its termination (``error: ...``), not printed on
    the user's terminal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process answers a Ctrl-C and stops this one
    folder, seed = Path(argv[0]), int(argv[1])
    channel = os.fdopen(int(argv[2]), "wb")
    try:
        _search(folder, seed, channel)
    except BrokenPipeError:  # the main process is gone
        return 0
    except Exception as exc:  # the main search goes on without this one
        with contextlib.suppress(Exception):
            _send(channel, ("done", f"error: {type(exc).__name__}: {exc}", math.inf, -math.inf))
        return 1
    return 0


class _Child:
    """One companion process and what the main process knows of it: its messages are read by a
    thread into ``messages``; ``write`` sends it one (from any thread)."""

    def __init__(self, proc: subprocess.Popen[bytes], seed: int, channel: IO[bytes]):
        self.proc, self.seed, self.channel = proc, seed, channel
        self.primal, self.dual = math.inf, -math.inf
        self.termination: str | None = None
        self.messages: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True, name=f"companion {seed} reader")
        self.reader.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # a message cut short by the companion's end
            while (message := _receive(self.channel)) is not None:
                self.messages.put(message)

    def write(self, message: tuple[Any, ...]) -> bool:
        """Send ``message``; False if the companion no longer reads."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            _send(self.proc.stdin, message)
            return True
        return False


class Companions:
    """The companion searches of one MIP solve, driven from the main process: :meth:`poll` (every
    tick of the main run) reads what they sent; :meth:`offer` gives them a plan of the main search;
    :meth:`take` hands the main search their best plan when it is better than its own; :meth:`stop`
    ends them. ``best`` (objective, column values) is the best plan any of them sent, ``dual`` the
    best bound any of them reported (currency)."""

    def __init__(self, record: CompanionRecord, folder: Path):
        self.record, self.folder = record, folder
        self.children: list[_Child] = []
        self.best: tuple[float, np.ndarray] | None = None
        self._taken = math.inf  # objective of the last plan handed to the main search
        self.dual = -math.inf
        self.running = True  # until stop()

    @classmethod
    def start(cls, h: highspy.Highs, searches: int, seconds: float | None, start: np.ndarray | None,
              unscale: float) -> Companions:
        """Start ``searches - 1`` companions of the MIP ``h`` holds, with HiGHS's options as set on
        ``h`` (gap, objective scale, ...) except :data:`OWN_OPTIONS`: ``random_seed`` 1, 2, ... past
        ``h``'s, one thread each, ``seconds`` of time limit; ``start`` (column values) is their
        first plan."""
        folder = Path(tempfile.mkdtemp(prefix="network-opt-companion-"))
        companions = cls(CompanionRecord(searches=searches), folder)
        try:
            h.writeOptions(str(folder / "options.set"))  # every option as set on h
            _drop_option(folder / "options.set", OWN_OPTIONS)
            _write_model(h, folder)
            if start is not None:
                np.save(folder / "start.npy", np.asarray(start, dtype=float))
            (folder / "params.json").write_text(json.dumps({"seconds": seconds, "unscale": unscale}))
            own_seed = int(h.getOptionValue("random_seed")[1])
            root = str(Path(__file__).resolve().parents[2])  # where this package is imported from
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            for k in range(1, searches):
                seed = own_seed + k
                read, write = os.pipe()  # the companion's messages
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "network_opt.solver.companion", str(folder), str(seed), str(write)],
                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                        pass_fds=(write,), start_new_session=True)  # a terminal's Ctrl-C reaches the main process only
                except BaseException:
                    os.close(read)
                    raise
                finally:
                    os.close(write)  # the companion's copy only: its end closes the pipe
                companions.children.append(_Child(proc, seed, os.fdopen(read, "rb")))
                companions.record.seeds.append(seed)
        except BaseException:
            companions.stop()  # none left running
            raise
        return companions

    def poll(self) -> None:
        """Read what the companions sent since the last call (never blocks)."""
        for child in self.children:
            with contextlib.suppress(queue.Empty):
                while True:
                    kind, *rest = child.messages.get_nowait()
                    if kind == "plan":
                        objective, x = float(rest[0]), rest[1]
                        child.primal = min(child.primal, objective)
                        if self.best is None or better(objective, self.best[0]):
                            self.best = (objective, x)
                    elif kind in ("figures", "done"):
                        if kind == "done":
                            child.termination = str(rest[0])
                            rest = rest[1:]
                        child.primal = min(child.primal, float(rest[0]))
                        child.dual = max(child.dual, float(rest[1]))
            self.dual = max(self.dual, child.dual)

    @property
    def primal(self) -> float:
        return self.best[0] if self.best is not None else math.inf

    def finished(self) -> str | None:
        """A companion's termination if one ended on its own with a proof (HiGHS's "Optimal" or
        "Infeasible"), else None."""
        for child in self.children:
            if child.termination in ("Optimal", "Infeasible"):
                return child.termination
        return None

    def offer(self, objective: float, x: np.ndarray) -> None:
        """Give the companions a plan of the main search (currency, column values)."""
        for child in self.children:
            if child.termination is None and better(objective, child.primal) and child.write(("plan", objective, x)):
                self.record.plans_given += 1

    def take(self, main_primal: float) -> np.ndarray | None:
        """The companions' best plan if it is better than ``main_primal`` and not handed over yet."""
        if self.best is None or not better(self.best[0], main_primal) or not better(self.best[0], self._taken):
            return None
        self._taken = self.best[0]
        self.record.plans_taken += 1
        return self.best[1]

    def resident(self) -> int:
        """Bytes the companions hold resident now (0 where ``/proc`` does not tell)."""
        total = 0
        for child in self.children:
            with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{child.proc.pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return total

    def stop(self, note: str | None = None) -> None:
        """Ask every companion to stop, wait at most :data:`STOP_WAIT_S` seconds for it to return
        (else end its process), read what it sent, and remove the temporary folder; ``note`` says
        why they stopped early (kept in the record)."""
        if not self.running:
            return
        self.running = False
        if note is not None and self.record.note is None:
            self.record.note = note
        for child in self.children:
            child.write(("stop",))
        deadline = time.monotonic() + STOP_WAIT_S
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
            child.reader.join(1.0)
            for stream in (child.proc.stdin, child.channel):
                with contextlib.suppress(OSError, ValueError):
                    if stream is not None:
                        stream.close()
        self.poll()
        for child in self.children:
            self.record.terminations.append(child.termination or "stopped")
        self.record.objective = self.primal if math.isfinite(self.primal) else None
        self.record.bound = self.dual if math.isfinite(self.dual) else None
        shutil.rmtree(self.folder, ignore_errors=True)  # the folder start() made, nothing else


def _drop_option(path: Path, names: tuple[str, ...]) -> None:
    """Remove the lines setting ``names`` from a HiGHS options file (the companion sets its own)."""
    lines = path.read_text().splitlines()
    kept = [ln for ln in lines if ln.split("=")[0].strip() not in names]
    path.write_text("\n".join(kept) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
