"""Benchmark: start-up time of the package and the command line (issue 14: ``import network_opt``
under 1 s, ``network-opt --help`` / ``--version`` well under a second).

Wall time of each command below, the median of N fresh processes (after one unmeasured warm-up run
that fills the OS file cache and writes the bytecode)::

    python -c "import network_opt"
    network-opt --help
    network-opt --version

then the top entries of ``python -X importtime -c "import network_opt"`` by cumulative time (a
module's own import plus everything it imports) and by self time, and which heavy libraries
(matplotlib, geopandas, pyomo, highspy, pandas, scipy, networkx, shapely) ``import network_opt``
pulls in. Never asserts times.

Usage::

    python benchmarks/import_time.py [--runs 5] [--top 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: This tree's network_opt first on the path (before an editable install's finder pointing elsewhere).
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
HEAVY = ("matplotlib", "geopandas", "pyomo", "highspy", "pandas", "scipy", "networkx", "shapely", "typer", "rich")


def network_opt_command() -> list[str]:
    """The ``network-opt`` console script next to this Python (the venv's), else on PATH, else
    ``python -m network_opt``."""
    here = Path(sys.executable).with_name("network-opt")
    found = str(here) if here.is_file() else shutil.which("network-opt")
    return [found] if found else [sys.executable, "-m", "network_opt"]


def wall(cmd: list[str], runs: int) -> tuple[float, list[float], int]:
    """Median wall seconds of ``runs`` fresh processes (one warm-up first), all runs, exit code."""
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV)
    if first.returncode:
        print(f"  ({' '.join(cmd[-2:])} exited {first.returncode}: {first.stderr.strip()[-300:]})", file=sys.stderr)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT, env=ENV)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, first.returncode


def importtime(top: int) -> tuple[list[tuple[int, int, str]], float]:
    """(self us, cumulative us, module) of ``-X importtime`` for ``import network_opt``; total s."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import network_opt"], capture_output=True,
                          text=True, cwd=ROOT, env=ENV)
    if proc.returncode:
        print(f"  (import network_opt failed: {proc.stderr.strip()[-300:]})", file=sys.stderr)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:"):].split("|", 2))
        rows.append((int(self_us), int(cum_us), name.strip()))
    rows = sorted({r[2]: r for r in sorted(rows)}.values(), key=rows.index)  # a name listed twice: keep the larger
    total = next((cum for _s, cum, name in rows if name == "network_opt"), 0) / 1e6
    return rows, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command (median reported)")
    parser.add_argument("--top", type=int, default=10, help="entries of -X importtime shown")
    args = parser.parse_args()

    cli = network_opt_command()
    commands = {
        'python -c "import network_opt"': [sys.executable, "-c", "import network_opt"],
        "network-opt --help": [*cli, "--help"],
        "network-opt --version": [*cli, "--version"],
        'python -c "pass" (interpreter alone)': [sys.executable, "-c", "pass"],
    }
    print(f"Python {sys.version.split()[0]} at {sys.executable}; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}; median of {args.runs} fresh processes\n")
    print("| command | median s | min s | max s | exit |\n|---|---|---|---|---|")
    for label, cmd in commands.items():
        median, times, code = wall(cmd, args.runs)
        print(f"| `{label}` | {median:.2f} | {min(times):.2f} | {max(times):.2f} | {code} |")

    rows, total = importtime(args.top)
    print(f"\n`python -X importtime -c \"import network_opt\"`: network_opt cumulative {total:.2f} s "
          f"({len(rows)} modules imported)\n")
    for key, title in ((1, "cumulative"), (0, "self")):
        print(f"Top {args.top} by {title} time:\n\n| module | self ms | cumulative ms |\n|---|---|---|")
        for self_us, cum_us, name in sorted(rows, key=lambda r: r[key], reverse=True)[:args.top]:
            print(f"| `{name}` | {self_us / 1e3:.0f} | {cum_us / 1e3:.0f} |")
        print()
    imported = {name.partition(".")[0] for _s, _c, name in rows}
    heavy = [m for m in HEAVY if m in imported]
    print(f"`import network_opt` imports: {', '.join(heavy) or 'none of ' + ', '.join(HEAVY)}")
    for m in HEAVY:
        top_level = next(((s, c) for s, c, name in rows if name == m), None)
        if top_level:
            print(f"  {m}: {top_level[1] / 1e3:.0f} ms cumulative")


if __name__ == "__main__":
    main()
