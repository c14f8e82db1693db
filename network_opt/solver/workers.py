"""The parent's side of the solver's worker processes (Benders' scenario blocks,
:mod:`network_opt.solver.benders_scenarios`; the Lagrangian's period blocks,
:mod:`network_opt.solver.block_pool`): reading one worker's answer, and ending the workers.

A worker answers each message with ``(kind, payload)``; ``("error", traceback)`` means it failed."""

from __future__ import annotations

import contextlib
import time
from typing import Any


class WorkerFailed(RuntimeError):
    """A worker process failed (its traceback in the message) or ended unexpectedly."""


def answer(proc: Any, conn: Any, ready: bool, name: str) -> tuple[str, Any] | None:
    """The answer of worker ``name`` (its process ``proc``, its end of the pipe ``conn``) when
    ``ready`` (its pipe has data), else None. Raises :class:`WorkerFailed` when it reported an
    error or has ended without answering."""
    if not ready:
        if not proc.is_alive() and not conn.poll():
            raise WorkerFailed(f"{name} ended unexpectedly (exit code {proc.exitcode})")
        return None
    try:
        kind, payload = conn.recv()
    except EOFError:
        proc.join(timeout=1.0)
        raise WorkerFailed(f"{name} ended unexpectedly (exit code {proc.exitcode})") from None
    if kind == "error":
        raise WorkerFailed(f"{name} failed:\n{payload}")
    return kind, payload


def end_workers(procs: list[Any], conns: list[Any], wait_s: float = 2.0) -> None:
    """Ask each worker to end ("close"), kill those still alive after ``wait_s`` seconds, and
    close the pipes."""
    for conn in conns:
        with contextlib.suppress(Exception):
            conn.send(("close",))
    deadline = time.monotonic() + wait_s
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
    for conn in conns:
        with contextlib.suppress(Exception):
            conn.close()


__all__ = ["WorkerFailed", "answer", "end_workers"]
