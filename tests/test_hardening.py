"""Trustworthy under bad input and odd data: warnings, numerics, determinism, untouched inputs, fuzzing."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from network_opt.cli.app import app

ROOT = Path(__file__).parents[1]
TOY = ROOT / "instances" / "toy"
runner = CliRunner()


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    return folder


def test_suspicious_input_is_warned_about_and_kept_in_the_summary(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    sites = (folder / "sites.csv").read_text().replace("FS-WEST,West industrial park,facility,49.2,8.0",
                                                       "FS-WEST,West industrial park,facility,-33.9,151.2")
    (folder / "sites.csv").write_text(sites)
    prices = (folder / "material_prices.csv").read_text().replace("Co,2025,30000", "Co,2025,30000000000")
    (folder / "material_prices.csv").write_text(prices)
    (folder / "material_prices.csv").write_text(prices + "Li,2026,10000\nLi,2027,5\n")
    text = (folder / "instance.yaml").read_text().replace("periods: [2025]", "periods: [2025, 2026, 2027]")
    (folder / "instance.yaml").write_text(text)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "warning: facilities.csv:2:site: facility REC-WEST is" in result.stderr
    assert "warning: material_prices.csv:6:price_per_t: 5 is more than 1000 times off" in result.stderr
    assert "material_prices.csv:4" not in result.stderr  # Co has no peers to compare with
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(folder), "--out", str(out)]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert any("facility REC-WEST is" in w for w in summary["warnings"])


def test_huge_coefficient_ranges_are_reported(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    prices = (folder / "material_prices.csv").read_text().replace("Co,2025,30000", "Co,2025,3e13")
    (folder / "material_prices.csv").write_text(prices)
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    # 283 to 8.6e11 per unit: a units check (HiGHS works on them at 2.7e-4 to 8.2e5, within its tolerances)
    assert any(w.startswith("cost coefficients span") and "check units" in w for w in summary["warnings"])
    assert "check units" in result.stderr


def test_inputs_are_never_modified_and_results_are_deterministic(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    before = _tree_hash(folder)
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert runner.invoke(app, ["solve", str(folder), "--out", str(out)]).exit_code == 0
    assert _tree_hash(folder) == before
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    for name in names:
        if name.endswith(".csv"):
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    a, b = (json.loads((o / "summary.json").read_text()) for o in outs)
    for s in (a, b):  # what the machine was doing, not what was solved
        s.pop("timings")
        s["projected"].pop("available_memory_bytes")
    assert a == b


def test_failure_while_writing_leaves_the_previous_results(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "tmp"  # where the plan is rescued to, instead of the machine's /tmp
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert runner.invoke(app, ["solve", str(TOY), "--out", str(out)]).exit_code == 0
    before = _tree_hash(out)

    def broken(*_args: object, **_kw: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    result = runner.invoke(app, ["solve", str(TOY), "--out", str(out), "--overwrite"])
    assert result.exit_code != 0
    assert _tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tmp"]  # no temporary folder left behind
    rescued = [p.name for p in scratch.iterdir()]  # the plan itself, saved to the fallback folder
    assert len(rescued) == 1 and rescued[0].startswith("network-opt-rescue-"), rescued
    assert (scratch / rescued[0] / "summary.json").is_file()


# --- fuzzing: random mutations of a valid instance give a clean error or a plan, never a traceback

CELL_VALUES = st.sampled_from(["", "abc", "-1", "0", "1e400", "nan", "2025", "9999", "TOY", "LFP", "true",
                               "1.5", "  ", "\u00e9", "\"", "1,2", "-0", "inf"])


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, int, int, str]:
    files = ["sites.csv", "supply.csv", "facilities.csv", "facility_levels.csv", "technologies.csv",
             "technology_yields.csv", "chemistry_materials.csv", "market_demand.csv", "targets.csv", "lanes.csv",
             "markets.csv", "chemistries.csv"]
    name = draw(st.sampled_from(files))
    return name, draw(st.integers(0, 8)), draw(st.integers(0, 7)), draw(CELL_VALUES)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(mutation(), min_size=1, max_size=3))
def test_fuzzed_instances_fail_cleanly_or_solve(tmp_path_factory: object, edits: list) -> None:
    base = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    folder = base / "inst"
    shutil.copytree(TOY, folder)
    for name, row, col, value in edits:
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        r = min(row, len(lines) - 1)
        cells = lines[r].split(",")
        cells[min(col, len(cells) - 1)] = value
        lines[r] = ",".join(cells)
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = base / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--time-limit", "60"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2, 3, 4), result.output
    if result.exit_code == 2:
        first = next(line for line in result.stderr.splitlines() if not line.startswith("["))  # after progress
        assert ".csv:" in first or "instance.yaml" in first, result.stderr
        assert not out.exists()
    if result.exit_code == 0:
        assert (out / "flows.csv").is_file()


# --- limits and interruptions -------------------------------------------------------------------

def _hard_instance(tmp_path: Path) -> Path:
    """A synthetic instance HiGHS needs well over a few seconds to prove optimal (40 s here)."""
    from network_opt.datasets.generate import GeneratorSpec, generate

    return generate(tmp_path / "hard", GeneratorSpec(seed=1, collection_points=50, candidates=20, periods=3))


def test_time_limit_returns_the_best_plan_with_its_gap(tmp_path: Path) -> None:
    folder = _hard_instance(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--time-limit", "8", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "feasible"
    assert summary["termination"] == "maxTimeLimit"
    assert summary["mip_gap"] is None or summary["mip_gap"] > 0  # HiGHS may stop before it has a bound
    assert summary["bound"] is None or summary["objective"] >= summary["bound"]
    assert (out / "flows.csv").is_file()


def test_ctrl_c_during_the_solve_writes_the_incumbent(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    folder = _hard_instance(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "network_opt", "solve", str(folder), "--out", str(out),
                             "--start", "open-all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while True:  # plain progress lines: wait until HiGHS reports a plan, then press Ctrl-C
        line = proc.stderr.readline()
        assert line, "the solve ended before a plan was reported"
        if "solving:" in line and "best plan -" not in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=300)
    rest = proc.stderr.read()
    assert proc.returncode == 130, rest
    assert "interrupted: the best plan found so far" in rest
    summary = json.loads((out / "summary.json").read_text())
    assert summary["termination"] == "interrupted"
    assert summary["status"] == "feasible"
    assert (out / "flows.csv").is_file()
