"""Shared by ``linking.py`` and ``tightening.py``: solve one instance with some settings in a fresh
process and return what the tables print (HiGHS seconds, size, status, objective, gap, nodes, the
cost coefficient range HiGHS received). A fresh process per run keeps one run's memory and caches
out of the next one's time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys
from network_opt import load, solve
from network_opt.solver.options import SolveOptions
folder, settings, start = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
limit, gap = float(sys.argv[4]), float(sys.argv[5])
inst = load(folder).with_settings(settings) if settings else load(folder)
sol = solve(inst, SolveOptions(time_limit=limit, mip_gap=gap, warm_start=start != "none", start=start))
s = sol.summary
print(json.dumps({"solve_s": s["timings"]["solve_s"], "build_s": s["timings"]["build_s"],
                  "objective": sol.objective, "bound": sol.outcome.bound, "gap": sol.outcome.mip_gap,
                  "nodes": sol.outcome.mip_node_count, "rows": s["model"]["constraints"],
                  "nonzeros": s["model"]["nonzeros"], "status": sol.status,
                  "cost_range": s.get("numerics", {}).get("cost_range"),
                  "reductions": s["model"].get("candidate_reductions")}))
"""


def timed_solve(folder: Path, settings: dict[str, Any], time_limit: float, gap: float,
                start: str = "none") -> dict[str, Any]:
    """The figures of one solve of ``folder`` with ``settings`` (dotted keys) in a fresh process;
    ``start``: the MIP start (``none``: HiGHS finds its own first plan). Raises RuntimeError with the
    child's last error line if it failed."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), json.dumps(settings), start,
                           str(time_limit), str(gap)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(no error output)"]
        raise RuntimeError(lines[-1][:80])
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def fmt_gap(gap: float | None) -> str:
    return "-" if gap is None else f"{gap:.2%}"


def fmt_objective(objective: float | None, digits: int = 8) -> str:
    return "-" if objective is None else f"{objective:.{digits}g}"
