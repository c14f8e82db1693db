"""Nothing a user has is ever lost (issue 13, part A): safe --out and --overwrite, one writer per
folder, checks before the solve, the plan saved when writing fails, umask, audit trail, --log."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import EXIT_INPUT, EXIT_WRITE_FAILED, app
from network_opt.common.errors import OutputRefused
from network_opt.common.outdir import MARKER, lock_path, output_lock

ROOT = Path(__file__).parents[1]
TOY = ROOT / "instances" / "toy"
runner = CliRunner()


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _copy(dst: Path) -> Path:
    shutil.copytree(TOY, dst)
    return dst


def _solve(*args: str) -> Any:
    return runner.invoke(app, ["solve", *args, "-q"])


@pytest.fixture
def no_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the solve is even started (the refusal must come before any long work)."""
    import network_opt.runs.pipeline

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the instance was loaded and solved although the output was refused")

    monkeypatch.setattr(network_opt.runs.pipeline, "solve", refuse)


@pytest.fixture
def rescue_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fallback folders go to a temporary folder of the test, not the machine's /tmp."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


# --- where --out may point ----------------------------------------------------------------------


def test_overwrite_never_replaces_the_instance_folder(tmp_path: Path, no_solve: None) -> None:
    inst = _copy(tmp_path / "x")
    before = _tree(inst)
    result = _solve(str(inst), "--out", str(inst), "--overwrite")
    assert result.exit_code == EXIT_INPUT, result.output
    assert "is the instance's own folder" in result.stderr
    assert _tree(inst) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no lock, backup or temporary folder left


def test_overwrite_never_replaces_a_folder_containing_the_instance(tmp_path: Path, no_solve: None) -> None:
    parent = tmp_path / "work"
    inst = _copy(parent / "x")
    (parent / "notes.txt").write_text("my notes")
    before = _tree(parent)
    result = _solve(str(inst), "--out", str(parent), "--overwrite")
    assert result.exit_code == EXIT_INPUT
    assert "contains the instance" in result.stderr
    assert _tree(parent) == before
    # the same through the manifest file and through the Python API
    result = _solve(str(inst / "instance.yaml"), "--out", str(parent), "--overwrite")
    assert result.exit_code == EXIT_INPUT and "contains the instance" in result.stderr
    assert _tree(parent) == before


def test_the_working_directory_is_never_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   no_solve: None) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("my notes")
    monkeypatch.chdir(work)
    for out in (".", str(work), str(tmp_path)):  # the folder itself and a folder containing it
        result = _solve(str(TOY), "--out", out, "--overwrite")
        assert result.exit_code == EXIT_INPUT, result.output
        assert "current working directory" in result.stderr
        assert "Traceback" not in result.output
    assert _tree(work) == {"notes.txt": b"my notes"}


def test_an_existing_file_is_refused_and_left_alone(tmp_path: Path, no_solve: None) -> None:
    target = tmp_path / "report.docx"
    target.write_bytes(b"precious")
    for extra in ([], ["--overwrite"]):
        result = _solve(str(TOY), "--out", str(target), *extra)
        assert result.exit_code == EXIT_INPUT
        assert "is an existing file" in result.stderr
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.docx"]  # not hidden as .report.docx.old-...


def test_overwrite_replaces_a_folder_the_tool_wrote_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _solve(str(TOY), "--out", str(out)).exit_code == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["tool"] == "network-opt" and marker["version"] == no.__version__ and marker["kind"] == "solve"
    first = (out / "summary.json").read_bytes()
    result = _solve(str(TOY), "--out", str(out))
    assert result.exit_code == EXIT_INPUT and "--overwrite" in result.stderr  # not without the flag
    result = _solve(str(TOY), "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").read_bytes() != first  # replaced (the timings differ)
    assert (out / MARKER).is_file()
    # a file of the user's in a results folder: the folder is no longer the tool's alone
    (out / "notes.txt").write_text("mine")
    result = _solve(str(TOY), "--out", str(out), "--overwrite")
    assert result.exit_code == EXIT_INPUT
    assert "notes.txt" in result.stderr and "did not write" in result.stderr
    assert (out / "notes.txt").read_text() == "mine" and (out / "flows.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_overwrite_refuses_a_folder_without_the_marker(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # looks like results, but is not the tool's
    (out / "thesis.tex").write_text("chapter 1")
    result = _solve(str(TOY), "--out", str(out), "--overwrite")
    assert result.exit_code == EXIT_INPUT
    assert f"no {MARKER} marker" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "thesis.tex"]


def test_results_written_by_a_version_before_the_marker_may_be_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _solve(str(TOY), "--out", str(out)).exit_code == 0
    (out / MARKER).unlink()  # as an older version wrote it: summary.json and result files only
    assert _solve(str(TOY), "--out", str(out), "--overwrite").exit_code == 0
    assert (out / MARKER).is_file()


def test_the_python_api_protects_the_instance_too(tmp_path: Path) -> None:
    inst = _copy(tmp_path / "x")
    sol = no.solve(inst)
    before = _tree(inst)
    with pytest.raises(OutputRefused, match="is the instance's own folder"):
        no.write_results(sol, inst, overwrite=True)
    assert _tree(inst) == before


# --- preflight: refused before any long work -----------------------------------------------------


def test_an_unwritable_out_is_refused_before_solving(tmp_path: Path, no_solve: None) -> None:
    """Tests run as root, which chmod cannot stop, so two unwritable places stand in for a
    read-only folder: a path under a regular file, and /sys (sysfs: no file can be created
    there, even by root)."""
    blocker = tmp_path / "somefile"
    blocker.write_text("")
    result = _solve(str(TOY), "--out", str(blocker / "out"))
    assert result.exit_code == EXIT_INPUT, result.output
    assert f"{blocker} is a file, not a folder" in result.stderr
    assert "loading" not in result.output and "Traceback" not in result.output
    sysfs = Path("/sys")
    if sysfs.is_dir() and _cannot_create_in(sysfs):
        result = _solve(str(TOY), "--out", "/sys/network-opt-out")
        assert result.exit_code == EXIT_INPUT
        assert "cannot write --out /sys/network-opt-out" in result.stderr and "not writable" in result.stderr


def _cannot_create_in(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(name)
    return False


def test_too_little_free_space_is_refused_before_solving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         no_solve: None) -> None:
    import network_opt.common.outdir as outdir

    real = shutil.disk_usage

    def nearly_full(path: object) -> object:
        usage = real(path)  # type: ignore[arg-type]
        return type(usage)(usage.total, usage.total - 1_000_000, 1_000_000)  # 1 MB free

    monkeypatch.setattr(outdir.shutil, "disk_usage", nearly_full)
    result = _solve(str(TOY), "--out", str(tmp_path / "out"))
    assert result.exit_code == EXIT_INPUT
    assert "not enough free space for --out" in result.stderr and "1.0 MB free" in result.stderr
    assert not (tmp_path / "out").exists()


def test_write_model_location_is_checked_before_solving(tmp_path: Path, no_solve: None) -> None:
    blocker = tmp_path / "somefile"
    blocker.write_text("")
    result = _solve(str(TOY), "--out", str(tmp_path / "out"), "--write-model", str(blocker / "m.mps"))
    assert result.exit_code == EXIT_INPUT and "cannot write --write-model" in result.stderr
    existing = tmp_path / "old.mps"
    existing.write_text("keep")
    result = _solve(str(TOY), "--out", str(tmp_path / "out"), "--write-model", str(existing))
    assert result.exit_code == EXIT_INPUT and "--overwrite" in result.stderr
    assert existing.read_text() == "keep"
    inst = _copy(tmp_path / "x")
    result = _solve(str(inst), "--out", str(tmp_path / "out"), "--write-model", str(inst / "supply.csv"),
                    "--overwrite")
    assert result.exit_code == EXIT_INPUT and "is a file of the instance" in result.stderr
    result = _solve(str(TOY), "--out", str(tmp_path / "out"), "--write-model", str(tmp_path / "out" / "m.mps"))
    assert result.exit_code == EXIT_INPUT and "inside --out" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_failing_write_model_does_not_cost_the_solve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyomo.environ as pyo

    def full(self: object, filename: str, **_k: object) -> None:
        Path(filename).write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(pyo.ConcreteModel, "write", full)
    mps, out = tmp_path / "m.mps", tmp_path / "out"
    result = _solve(str(TOY), "--out", str(out), "--write-model", str(mps))
    assert result.exit_code == 0, result.output
    assert "the model could not be written" in result.stderr and "No space left on device" in result.stderr
    assert not mps.exists()  # no partial file that looks like a model
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert any("could not be written" in w for w in summary["warnings"])


# --- one writer per folder ------------------------------------------------------------------------


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path: Path, no_solve: None) -> None:
    out = tmp_path / "out"
    fd = os.open(lock_path(out), os.O_RDWR | os.O_CREAT)  # another run holds the lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for command in (["solve", str(TOY), "--out", str(out)],
                        ["compare", str(TOY), "--scenarios", "base", "--out", str(out)],
                        ["generate", "--out", str(out)]):
            result = runner.invoke(app, command)
            assert result.exit_code == EXIT_INPUT, (command, result.output)
            assert "another network-opt run is writing" in result.stderr, command
        assert not out.exists()
    finally:
        os.close(fd)
    with output_lock(out):  # released: the next run may write
        pass
    assert not lock_path(out).exists() and not out.exists()


def test_two_concurrent_processes_into_one_folder_cannot_both_succeed(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "network_opt", "solve", str(TOY), "--out", str(out), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    done = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in done)
    assert codes[0] == 0 and codes[1] == EXIT_INPUT, done
    refused = next(text for code, text in done if code == EXIT_INPUT)
    # the second either found the lock held or, having started after the first finished, the folder full
    assert "another network-opt run is writing" in refused or "exists and is not empty" in refused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- a failed write after the solve ---------------------------------------------------------------


def test_a_failed_write_saves_the_plan_to_a_fallback_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           rescue_dir: Path) -> None:
    import network_opt.results.gpkg as gpkg

    out = tmp_path / "out"

    def disk_full(sol: object, path: Path) -> Path:
        if str(path).startswith(str(tmp_path / ".out")):  # only the write into --out's folder fails
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(sol, path)

    real = gpkg.write_geopackage
    monkeypatch.setattr(gpkg, "write_geopackage", disk_full)
    result = _solve(str(TOY), "--out", str(out))
    assert result.exit_code == EXIT_WRITE_FAILED, result.output
    assert "Traceback" not in result.output
    assert "No space left on device" in result.stderr
    match = re.search(r"the plan was saved to (\S+) instead", result.stderr)
    assert match, result.stderr
    saved = Path(match.group(1))
    assert saved.parent == rescue_dir and saved.name.startswith("network-opt-rescue-")
    assert {"summary.json", "flows.csv", "results.xlsx", "network.gpkg", MARKER} <= {p.name for p in saved.iterdir()}
    summary = json.loads((saved / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["rescue"]["intended_out"] == str(out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmpdir"]  # nothing half-written beside --out


def test_when_every_full_write_fails_summary_and_csvs_are_still_saved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rescue_dir: Path) -> None:
    import network_opt.results.gpkg as gpkg

    def broken(_sol: object, path: Path) -> Path:
        raise RuntimeError("sqlite3_exec(CREATE TABLE ...) failed: no such table: gpkg_contents")  # as GDAL says

    monkeypatch.setattr(gpkg, "write_geopackage", broken)
    result = _solve(str(TOY), "--out", str(tmp_path / "out"))
    assert result.exit_code == EXIT_WRITE_FAILED
    assert "gpkg_contents" in result.stderr and "Traceback" not in result.output
    match = re.search(r"the plan was saved to (\S+) instead", result.stderr)
    assert match, result.stderr
    saved = Path(match.group(1))
    names = {p.name for p in saved.iterdir()}
    assert {"summary.json", "flows.csv", "facilities.csv"} <= names
    assert "network.gpkg" not in names
    assert "results.xlsx and network.gpkg not written" in result.stderr


# --- sharing and auditing -------------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o027, 0o750)])
def test_results_folders_respect_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        assert _solve(str(TOY), "--out", str(out)).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == mode
        assert stat.S_IMODE((out / "flows.csv").stat().st_mode) == mode & 0o666
        converted = tmp_path / "conv"
        assert runner.invoke(app, ["convert", str(TOY), "--to", "folder", "--out", str(converted)]).exit_code == 0
        assert stat.S_IMODE(converted.stat().st_mode) == mode
        book = tmp_path / "toy.xlsx"
        assert runner.invoke(app, ["convert", str(TOY), "--to", "xlsx", "--out", str(book)]).exit_code == 0
        assert stat.S_IMODE(book.stat().st_mode) == mode & 0o666
    finally:
        os.umask(old)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_summary_records_versions_command_options_and_input_hashes(tmp_path: Path) -> None:
    import highspy
    import pyomo.version
    import yaml

    inst = _copy(tmp_path / "x")
    out = tmp_path / "out"
    assert _solve(str(inst), "--out", str(out), "--mip-gap", "0.01").exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    tool = summary["tool"]
    assert tool["network_opt"] == no.__version__
    assert tool["pyomo"] == pyomo.version.version
    h = highspy.Highs()
    assert tool["highs"] == f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}" == summary["solver"]["version"]
    assert re.fullmatch(r"3\.\d+\.\d+", tool["python"])
    assert isinstance(summary["command"], list) and summary["command"]
    assert summary["options"]["mip_gap"] == 0.01 and summary["options"]["time_limit"] is None
    assert summary["instance_path"] == str(inst.resolve())
    tables = yaml.safe_load((inst / "instance.yaml").read_text())["tables"]
    expected = {"instance.yaml": _sha(inst / "instance.yaml")} | {rel: _sha(inst / rel) for rel in tables.values()}
    assert {name: f["sha256"] for name, f in summary["input_files"].items()} == expected
    assert summary["input_files"]["supply.csv"]["bytes"] == (inst / "supply.csv").stat().st_size


def test_a_workbook_instance_is_hashed_as_one_file(tmp_path: Path) -> None:
    book = tmp_path / "toy.xlsx"
    assert runner.invoke(app, ["convert", str(TOY), "--to", "xlsx", "--out", str(book)]).exit_code == 0
    out = tmp_path / "out"
    assert _solve(str(book), "--out", str(out)).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["instance_path"] == str(book.resolve())
    assert {n: f["sha256"] for n, f in summary["input_files"].items()} == {"toy.xlsx": _sha(book)}
    # a folder holding the workbook is protected like an instance folder
    result = _solve(str(book), "--out", str(tmp_path), "--overwrite")
    assert result.exit_code == EXIT_INPUT and "contains the instance" in result.stderr


def test_version_prints_the_tool_solver_and_python_versions() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(rf"network-opt {re.escape(no.__version__)} \(HiGHS \d+\.\d+\.\d+, Pyomo \d+\.\d+(\.\d+)?, "
                        r"Python 3\.\d+\.\d+\)\n", result.stdout), result.stdout


def test_log_file_holds_progress_solver_log_and_outcome(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    out = tmp_path / "out"
    result = _solve(str(TOY), "--out", str(out), "--log", str(log))  # -q: the console says nothing, the log all
    assert result.exit_code == 0, result.output
    text = log.read_text()
    assert re.search(r"=== .* network-opt \S+ \(HiGHS", text)
    for phase in ("loading and validating the instance", "building the model", "solving with HiGHS",
                  "solver finished: optimal", "writing the results to"):
        assert phase in text, phase
    assert "Presolving model" in text and "Solving MIP model with" in text  # HiGHS's own log
    assert re.search(r"optimal: net cost -1,790,500\.00 EUR .* -> ", text)
    assert "loading and validating" not in result.stderr  # quiet on the console
    # a second run appends: nothing of the first is lost
    assert _solve(str(TOY), "--out", str(tmp_path / "out2"), "--log", str(log)).exit_code == 0
    assert log.read_text().startswith(text) and log.read_text().count("=== command:") == 2
    result = _solve(str(TOY), "--out", str(tmp_path / "out3"), "--log", str(tmp_path / "out3" / "x.log"))
    assert result.exit_code == EXIT_INPUT and "inside --out" in result.stderr


# --- compare, sweep, generate and convert follow the same rules ------------------------------------


def test_compare_refuses_the_instance_and_foreign_folders_and_still_resumes(tmp_path: Path) -> None:
    inst = _copy(tmp_path / "x")
    before = _tree(inst)
    result = runner.invoke(app, ["compare", str(inst), "--scenarios", "base", "--out", str(inst)])
    assert result.exit_code == EXIT_INPUT and "is the instance's own folder" in result.stderr
    assert _tree(inst) == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["sweep", str(inst), "--vary", "supply.tonnes*=1:1.1:2", "--out", str(foreign)])
    assert result.exit_code == EXIT_INPUT and "does not hold network_opt results" in result.stderr
    assert _tree(foreign) == {"notes.txt": b"mine"}
    single = tmp_path / "single"  # one solve's results: said so, not "does not hold network_opt results"
    assert runner.invoke(app, ["solve", str(inst), "--out", str(single)]).exit_code == 0
    kept = _tree(single)
    result = runner.invoke(app, ["compare", str(inst), "--scenarios", "base", "--out", str(single)])
    assert result.exit_code == EXIT_INPUT and "holds the results of one solve (network-opt solve)" in result.stderr
    assert _tree(single) == kept
    out = tmp_path / "cmp"
    assert runner.invoke(app, ["compare", str(inst), "--scenarios", "base", "--out", str(out)]).exit_code == 0
    assert json.loads((out / MARKER).read_text())["kind"] == "runs"
    assert (out / "base" / MARKER).is_file()
    result = runner.invoke(app, ["compare", str(inst), "--scenarios", "base", "--out", str(out)])
    assert result.exit_code == 0 and "(1 reused)" in result.stdout  # a rerun skips what is done


def test_generate_and_convert_never_replace_a_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("precious")
    result = runner.invoke(app, ["generate", "--out", str(target), "--collection-points", "3", "--candidates", "2"])
    assert result.exit_code == EXIT_INPUT and "is an existing file" in result.stderr
    result = runner.invoke(app, ["convert", str(TOY), "--to", "folder", "--out", str(target)])
    assert result.exit_code == EXIT_INPUT and "already exists" in result.stderr
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_log_file_holds_the_heuristic_solves_solver_logs(tmp_path: Path) -> None:
    """--heuristic --aggregate (a generated instance: toy's explicit lanes forbid clusters): HiGHS's
    log of the clustered relaxation's MIP and of the restricted MIP of the full model both reach
    --log (two MIPs, two "Solving MIP model with" reports)."""
    inst = tmp_path / "g"
    made = runner.invoke(app, ["generate", "--out", str(inst), "--seed", "1", "--collection-points", "30",
                               "--candidates", "6", "--periods", "1"])
    assert made.exit_code == 0, made.output
    log = tmp_path / "run.log"
    result = _solve(str(inst), "--out", str(tmp_path / "out"), "--log", str(log), "--heuristic", "--aggregate", "10")
    assert result.exit_code == 0, result.output
    text = log.read_text()
    screen = text.index("heuristic: solving the clustered relaxation")
    full = text.index("heuristic: solving the full model over")
    assert "Solving MIP model with" in text[screen:full]  # the clustered model's HiGHS log
    assert "Solving MIP model with" in text[full:]  # the restricted MIP's


def test_csv_tables_print_no_negative_zero(tmp_path: Path) -> None:
    import math

    import pandas as pd

    from network_opt.common.files import csv_ready, write_csv

    frame = pd.DataFrame({"investment": [-1e-12, 2.5, math.nan], "n": [1, 2, 3], "id": ["a", "b", "c"]})
    ready = csv_ready(frame)
    assert ready["investment"].iloc[0] == 0.0 and ready["investment"].iloc[1] == 2.5
    assert math.isnan(ready["investment"].iloc[2])
    assert frame["investment"].iloc[0] == -1e-12  # the caller's table is not changed
    kept = pd.DataFrame({"value": [1e-6, -1e-6]})
    assert csv_ready(kept) is kept  # values that print as non-zero stay
    write_csv(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "0.000000,1,a"
