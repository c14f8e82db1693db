"""Independent MIPs (the blocks of :mod:`network_opt.solver.lagrange`) solved side by side in worker
processes, one per core: HiGHS's branch and bound runs mostly on one thread, so two blocks on two
cores take about half the time of one after the other.

Each worker is a spawned process that takes one block at a time (its matrix as numpy arrays, its
objective scale, gap and time limit), solves it with its own HiGHS and sends back the dual bound,
whether it was solved to its gap and HiGHS's status. Stop requests (SIGINT/SIGTERM) are the
parent's: the workers ignore SIGINT, and the parent kills them within :data:`POLL_S` seconds of a
request (:class:`MipPool.solve` then returns None). A worker that fails or dies raises
:class:`~network_opt.solver.workers.WorkerFailed` (a RuntimeError) here with its traceback or exit code.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import connection as mp_connection
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]

from network_opt.common import interrupts
from network_opt.solver.benders import highs_lp, new_highs
from network_opt.solver.workers import WorkerFailed, answer, end_workers

#: seconds between two looks at the workers and at stop requests
POLL_S = 0.1


@dataclass
class BlockTask:
    """One MIP (or LP) block: costs, column bounds and integrality, its rows (CSR) and row bounds,
    HiGHS's ``user_objective_scale`` and relative gap."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    a: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    scale: int
    gap: float

    @property
    def size(self) -> int:
        """What a block's share of the time is weighed by: its nonzeros plus its columns."""
        return int(self.a.nnz) + len(self.cost)


def time_share(left: float, size: int, waiting: int, workers: int) -> float:
    """Seconds for a block of ``size`` handed to a worker now, with ``left`` seconds of wall time
    left, ``waiting`` the size of the blocks not yet handed out (this one included) and ``workers``
    solving side by side: its share of the worker-seconds left, in proportion to its size, at most
    ``left``. Equal blocks get the time of their round; a block of a few rows beside large ones
    gets little, which it returns unused when it is solved (every share is taken from what is
    left when it is handed out). Before, every block got an equal share: among 900 tiny blocks
    the large ones got half a second each and some ended without a bound (benchmarks/README.md)."""
    if left <= 0.0:
        return 0.0
    if waiting <= 0:
        return left
    return min(left, left * max(1, workers) * size / waiting)


#: what a block gave: (dual bound or None, solved to its gap, HiGHS's model status as text)
BlockResult = tuple[float | None, bool, str]


def block_highs(task: BlockTask, threads: int | None) -> highspy.Highs:
    """A HiGHS object holding ``task``'s block, its scale and gap set."""
    h = new_highs(highs_lp(task.cost, task.col_lower, task.col_upper, task.a, task.row_lower, task.row_upper,
                           integer=task.integer), threads)
    h.setOptionValue("user_objective_scale", int(task.scale))
    h.setOptionValue("mip_rel_gap", float(task.gap))
    return h


def block_result(h: highspy.Highs, integer: bool) -> BlockResult:
    """The dual bound of the block ``h`` has just run (None: none), whether it was solved to its
    gap, and its status."""
    status = h.getModelStatus()
    text = h.modelStatusToString(status)
    info = h.getInfo()
    if integer:
        bound = float(info.mip_dual_bound)
        ended = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit,
                           highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kIterationLimit)
        finite = bound == bound and abs(bound) != float("inf")
        return (bound if ended and finite else None), status == highspy.HighsModelStatus.kOptimal, text
    if status == highspy.HighsModelStatus.kOptimal:
        return float(info.objective_function_value), True, text
    return None, False, text


def run_block(task: BlockTask, seconds: float | None, threads: int | None,
              run: Callable[[highspy.Highs], bool]) -> BlockResult | None:
    """Solve ``task`` within ``seconds`` (None: no limit) with ``run`` (False: HiGHS was left
    running; then None)."""
    from network_opt.solver.options import set_time_limit

    h = block_highs(task, threads)
    integer = bool(task.integer.any())
    set_time_limit(h, seconds, lp=not integer)
    if not run(h):
        return None
    return block_result(h, integer)


def _plain_run(h: highspy.Highs) -> bool:
    h.run()
    return True


def _worker(conn: Any, threads: int | None) -> None:
    """A worker process: solves the blocks it is sent until "close"."""
    interrupts.worker_ignores_sigint()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                return
            _, task, until = msg
            seconds = None if until is None else max(0.0, until - time.time())
            conn.send(("ok", run_block(task, seconds, threads, _plain_run)))
    except BaseException:  # reported to the parent, which raises it there
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))


class MipPool:
    """``workers`` spawned processes solving blocks side by side (see the module docstring)."""

    def __init__(self, workers: int, threads: int | None):
        ctx = multiprocessing.get_context("spawn")
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        try:
            with interrupts.starting_workers():
                for _ in range(max(1, int(workers))):
                    parent, child = ctx.Pipe()
                    p = ctx.Process(target=_worker, args=(child, threads), daemon=True, name="network-opt-block")
                    p.start()
                    child.close()
                    self.procs.append(p)
                    self.conns.append(parent)
        except BaseException:
            self.close()
            raise

    def solve(self, tasks: list[BlockTask], seconds: float | None) -> list[BlockResult] | None:
        """Solve every task, all within ``seconds`` from now (None: no limit): the largest first,
        each, when it is handed to a free worker, given its :func:`time_share` of the time left.
        Returns the results in the order of ``tasks``, or None after a stop request (the
        workers are then killed)."""
        begin = time.time()
        results: list[BlockResult | None] = [None] * len(tasks)
        sizes = [t.size for t in tasks]
        waiting = sorted(range(len(tasks)), key=lambda k: -sizes[k])  # the largest first
        left_size = sum(sizes)
        busy: dict[int, int] = {}  # worker -> task
        workers = len(self.conns)
        while waiting or busy:
            if interrupts.requested() is not None:
                self.close(wait=False)
                return None
            for w in range(workers):
                if w not in busy and waiting:
                    k = waiting.pop(0)
                    until = None
                    if seconds is not None:
                        left = max(0.0, seconds - (time.time() - begin))
                        until = time.time() + time_share(left, sizes[k], left_size, workers)
                    left_size -= sizes[k]
                    self.conns[w].send(("solve", tasks[k], until))
                    busy[w] = k
            ready = mp_connection.wait([self.conns[w] for w in busy], timeout=POLL_S)
            for w in list(busy):
                try:
                    got = answer(self.procs[w], self.conns[w], self.conns[w] in ready, f"block worker {w}")
                except WorkerFailed:
                    self.close()
                    raise
                if got is not None:
                    results[busy.pop(w)] = got[1]
        return [r if r is not None else (None, False, "not run") for r in results]

    def close(self, wait: bool = True) -> None:
        """Ask the workers to end, then kill those still alive after 2 s (an error), or at once
        (``wait`` False: a stop request, whose workers are inside HiGHS)."""
        end_workers(self.procs, self.conns, 2.0 if wait else 0.0)
        self.procs, self.conns = [], []


__all__ = ["POLL_S", "BlockResult", "BlockTask", "MipPool", "block_highs", "block_result", "run_block", "time_share"]
