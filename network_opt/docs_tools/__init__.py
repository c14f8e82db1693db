"""Generators of the reference pages docs/cli.md and docs/instance-format.md (run with ``python -m``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def run_generator(render: Callable[[], str], argv: list[str] | None = None) -> None:
    """Write ``render()`` to the file named by the first argument, or to stdout without one."""
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
