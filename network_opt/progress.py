"""Progress of a long solve: phase messages and one updating line with the solver's figures.

Three modes: ``live`` (a terminal: one line rewritten in place with elapsed time, best plan,
bound and gap), ``plain`` (not a terminal, e.g. CI logs: a line per phase and a solver line at
most every :data:`PLAIN_INTERVAL_S` seconds) and ``quiet`` (nothing).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Literal

from rich.console import Console
from rich.status import Status

PLAIN_INTERVAL_S = 10.0
LIVE_INTERVAL_S = 0.25
Mode = Literal["live", "plain", "quiet"]


def _stderr_console() -> Console:
    try:
        stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
    except (AttributeError, OSError, ValueError):  # no real descriptor (e.g. a test runner's capture)
        return Console(stderr=True, highlight=False)
    return Console(file=stream, highlight=False)


def _fmt(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.6g}"


class Progress:
    """Reports phases and solver figures to a console (stderr by default)."""

    def __init__(self, mode: Mode = "plain", console: Console | None = None):
        self.mode = mode
        self.console = console or Console(stderr=True, highlight=False)
        self.start = time.perf_counter()
        self._last = -math.inf
        self._status: Status | None = None

    @classmethod
    def for_terminal(cls, quiet: bool = False, console: Console | None = None) -> Progress:
        """``quiet`` if asked, ``live`` on a terminal, else ``plain``. Without ``console`` it writes
        to a duplicate of the process's stderr descriptor: Pyomo redirects descriptors 1 and 2 to
        capture the solver's log while HiGHS runs, which would swallow the updates."""
        console = console or _stderr_console()
        if quiet:
            return cls("quiet", console)
        return cls("live" if console.is_terminal else "plain", console)

    def phase(self, text: str) -> None:
        """A new phase (loading, validating, building, solving, writing)."""
        if self.mode == "quiet":
            return
        line = f"[{time.perf_counter() - self.start:6.1f}s] {text}"
        if self.mode == "live":
            if self._status is None:
                self._status = self.console.status(line)
                self._status.start()
            else:
                self._status.update(line)
            self.console.print(line, markup=False)
        else:
            self.console.print(line, markup=False)

    def solver(self, seconds: float, best: float, bound: float, gap: float) -> None:
        """Solver figures: seconds in HiGHS, best plan's objective, bound and relative gap."""
        if self.mode == "quiet":
            return
        now = time.perf_counter()
        interval = LIVE_INTERVAL_S if self.mode == "live" else PLAIN_INTERVAL_S
        if now - self._last < interval:
            return
        self._last = now
        gap_text = "-" if gap is None or not math.isfinite(gap) else f"{gap:.2%}"
        line = (f"[{now - self.start:6.1f}s] solving: {seconds:.1f}s in HiGHS, best plan {_fmt(best)}, "
                f"bound {_fmt(bound)}, gap {gap_text}")
        if self.mode == "live" and self._status is not None:
            self._status.update(line)
        else:
            self.console.print(line, markup=False)

    def close(self) -> None:
        """Stop the live line."""
        if self._status is not None:
            self._status.stop()
            self._status = None
