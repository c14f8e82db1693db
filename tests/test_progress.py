"""Progress lines on stderr (network_opt.common.progress)."""

from __future__ import annotations

import pytest

from network_opt.common.progress import Progress


def test_a_long_phase_line_is_one_line_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Redirected to a file or a pipe (batch jobs, CI logs, `2>run.log`), a phase is one line for
    grep and log readers: rich's default 80-column wrap split e.g. "... 7,200 integer)" onto a line
    of its own."""
    progress = Progress.for_terminal()
    assert progress.mode == "plain"
    text = "projected model: " + ", ".join(f"{n:,} things" for n in range(1000, 1020))
    assert len(text) > 200
    progress.phase(text)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and text in err
