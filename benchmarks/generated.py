"""Shared by the benchmark scripts: the machine they ran on, and the generated instance of a size."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path


def machine() -> str:
    """One line naming the machine and Python."""
    return (f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
            f"python {platform.python_version()}")


def generated_instance(work: Path, size: str) -> Path:
    """The instance ``network-opt generate`` makes for SIZE = collection points x candidates x
    periods (3 chemistries, seed 1) in ``work``; generated once, then reused."""
    cp, cand, periods = (int(x) for x in size.split("x"))
    folder = work / f"i{size}"
    if not folder.exists():
        subprocess.run([sys.executable, "-m", "network_opt", "generate", "--out", str(folder), "--seed", "1",
                        "--collection-points", str(cp), "--candidates", str(cand), "--periods", str(periods),
                        "--chemistries", "3"], check=True, capture_output=True)
    return folder
