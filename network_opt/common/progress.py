"""Progress of a long solve: phase messages and one updating line with the solver's figures.

Three modes: ``live`` (a terminal: one line rewritten in place with elapsed time, best plan,
bound and gap), ``plain`` (not a terminal, e.g. CI logs: a line per phase and a solver line at
most every :data:`PLAIN_INTERVAL_S` seconds) and ``quiet`` (nothing).

Whatever the mode, a log file (``--log FILE``, :meth:`Progress.open_log`) receives every phase,
a solver line at most every :data:`LOG_INTERVAL_S` seconds, HiGHS's own log as it comes
(:meth:`Progress.solver_log`) and the final messages (:meth:`Progress.record`).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from rich.console import Console
from rich.status import Status

PLAIN_INTERVAL_S = 10.0
LIVE_INTERVAL_S = 0.25
LOG_INTERVAL_S = 1.0
Mode = Literal["live", "plain", "quiet"]


def _fmt(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.6g}"


class Progress:
    """Reports phases and solver figures to a console (stderr by default)."""

    def __init__(self, mode: Mode = "plain", console: Console | None = None):
        self.mode = mode
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.start = time.perf_counter()
        self._last = -math.inf
        self._status: Status | None = None
        self._log: IO[str] | None = None
        self._log_last = -math.inf
        self.log_error: str | None = None  # why the log file stopped being written, if it did

    def open_log(self, path: str | Path) -> None:
        """Append everything reported from now on to the file ``path`` (created if missing; an
        existing file is kept and added to, after a header line with the time and command)."""
        from network_opt.common.version import version_line

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close_log()
        self._log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {version_line()}\n"
                        f"=== command: {' '.join(sys.argv)}\n")

    def record(self, text: str) -> None:
        """Write ``text`` (a line; a final message or warning) to the log file only."""
        self._write_log(text.rstrip("\n") + "\n")

    def _write_log(self, text: str) -> None:
        """Append to the log file; a failing log (disk full) is closed with a warning, never fatal."""
        if self._log is None:
            return
        try:
            self._log.write(text)
        except (OSError, ValueError) as exc:
            self.log_error = f"the log file stopped being written: {exc}"
            self.close_log()

    @contextlib.contextmanager
    def solver_log(self, highs: object) -> Iterator[None]:
        """While inside, HiGHS's log lines of ``highs`` (a ``highspy.Highs``) go to the log file."""
        if self._log is None:
            yield
            return

        def write(event: object) -> None:
            self._write_log(event.message)  # type: ignore[attr-defined]

        highs.cbLogging.subscribe(write)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            highs.cbLogging.unsubscribe(write)  # type: ignore[attr-defined]

    @classmethod
    def for_terminal(cls, quiet: bool = False, console: Console | None = None) -> Progress:
        """``quiet`` if asked, ``live`` on a terminal, else ``plain``; on stderr without ``console``.
        (Nothing redirects descriptor 2 while HiGHS runs: the model goes to highspy directly, not
        through a Pyomo solver plugin, and HiGHS's log comes through its logging callback.)"""
        console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        if quiet:
            return cls("quiet", console)
        return cls("live" if console.is_terminal else "plain", console)

    def phase(self, text: str) -> None:
        """A new phase (loading, validating, building, solving, writing)."""
        line = f"[{time.perf_counter() - self.start:6.1f}s] {text}"
        self.record(line)
        if self.mode == "quiet":
            return
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
        now = time.perf_counter()
        to_log = self._log is not None and now - self._log_last >= LOG_INTERVAL_S
        interval = LIVE_INTERVAL_S if self.mode == "live" else PLAIN_INTERVAL_S
        to_console = self.mode != "quiet" and now - self._last >= interval
        if not (to_log or to_console):
            return
        gap_text = "-" if gap is None or not math.isfinite(gap) else f"{gap:.2%}"
        line = (f"[{now - self.start:6.1f}s] solving: {seconds:.1f}s in HiGHS, best plan {_fmt(best)}, "
                f"bound {_fmt(bound)}, gap {gap_text}")
        if to_log:
            self._log_last = now
            self.record(line)
        if not to_console:
            return
        self._last = now
        if self.mode == "live" and self._status is not None:
            self._status.update(line)
        else:
            self.console.print(line, markup=False)

    def close(self) -> None:
        """Stop the live line (the log file stays open until :meth:`close_log`)."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def close_log(self) -> None:
        """Close the log file, if any."""
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
