"""The local executor keeps its worker processes between batches of scenario tasks on one instance
(a stochastic design runs several: wait-and-see, evaluations, out of sample), starts new ones for
another instance, after a failed batch or when released, and leaves none behind when closed; its
idle workers ignore SIGINT (the parent answers a stop request)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import network_opt as no
from network_opt.runs.executors import LocalExecutor

TOY = Path(__file__).resolve().parents[1] / "instances" / "toy"


def worker_pid(instance: Any, task: int) -> int:
    """The process a task ran in (module level: spawned workers import it)."""
    time.sleep(0.2)  # long enough for both workers to take tasks
    if task < 0:
        raise ValueError("a failing task")
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_are_kept_between_batches_and_end_with_the_executor() -> None:
    inst, other = no.load(TOY), no.load(TOY)
    ex = LocalExecutor(workers=2)
    try:
        first = set(dict(ex.map_tasks(worker_pid, inst, range(4))).values())
        again = set(dict(ex.map_tasks(worker_pid, inst, range(4))).values())
        assert os.getpid() not in first
        assert again & first and len(first | again) <= 2  # the same two processes, none started anew
        for pid in first | again:  # a terminal's Ctrl-C reaches idle workers too: they leave it to the parent
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        assert all(_alive(p) for p in first | again)
        assert set(dict(ex.map_tasks(worker_pid, inst, range(4))).values()) <= first | again
        third = set(dict(ex.map_tasks(worker_pid, other, range(4))).values())
        assert not third & first  # another instance: new workers holding it
        assert not any(_alive(p) for p in first)  # ... and the old ones ended
        with pytest.raises(ValueError, match="a failing task"):
            dict(ex.map_tasks(worker_pid, other, [0, -1, 2, 3]))
        assert not any(_alive(p) for p in third)  # a failed batch kills its workers
        fourth = set(dict(ex.map_tasks(worker_pid, other, range(4))).values())
        assert fourth and not fourth & third
        ex.release()  # idle workers let go, the executor still usable
        assert not any(_alive(p) for p in fourth)
        fifth = set(dict(ex.map_tasks(worker_pid, other, range(4))).values())
        assert fifth and not fifth & fourth
    finally:
        ex.close()
    assert not any(_alive(p) for p in fifth)
    ex.close()  # twice: nothing left to close
