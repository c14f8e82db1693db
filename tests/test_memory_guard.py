"""The memory guard of the MIP's search (``--memory-limit``, ``SolveOptions.memory_limit``): at
90 % of the limit HiGHS is asked to stop and the best plan is kept, with termination
``memoryLimit``; without a limit set, or with one far above, nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from network_opt.cli.app import app
from network_opt.common.memory import resident_bytes
from network_opt.runs.pipeline import solve
from network_opt.solver.options import SolveOptions

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "instances" / "toy"
#: the toy's optimum (tests/regression/objectives.json pins it too)
TOY_OPTIMUM = -1_790_500.0


def test_resident_bytes_agrees_with_the_kernel() -> None:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc")
    kib = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS"))
    assert resident_bytes() == pytest.approx(kib * 1024, rel=0.1)


def test_a_limit_below_the_process_stops_the_search_with_the_start_plan() -> None:
    # 1 byte: the first check (before HiGHS's first step) stops the search; the time limit asks
    # for the open_all start (one LP, every facility open), so that plan is what is kept
    stopped = solve(TOY, SolveOptions(time_limit=60), memory_limit=1, force=True)
    s = stopped.summary
    assert s["termination"] == "memoryLimit" and s["status"] == "feasible"
    assert s["objective"] > TOY_OPTIMUM + 1.0  # the start plan, not the optimum
    assert not stopped.tables["facilities"].empty and stopped.tables["facilities"]["open"].any()
    assert "stopped at the memory limit" in stopped.outcome.log
    free = solve(TOY, SolveOptions(time_limit=60), memory_limit=2**50)
    assert free.summary["termination"] == "convergenceCriteriaSatisfied"
    assert free.summary["objective"] == pytest.approx(TOY_OPTIMUM, abs=1e-6 * abs(TOY_OPTIMUM))


def test_cli_memory_limit_with_force_writes_the_plan_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["solve", str(TOY), "--out", str(out), "--memory-limit", "1", "--force",
                                      "--time-limit", "60", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["termination"] == "memoryLimit" and summary["status"] == "feasible"
    assert (out / "results.xlsx").exists()
