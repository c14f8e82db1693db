"""The app's job table, job parameters, progress parsing, lost-job reconciliation and the writing of
scenarios into instance.yaml (network_opt.app.store, .jobs, .workspaces); no web server, no solve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from network_opt.app import jobs, workspaces
from network_opt.app.store import Job, Store, new_id
from network_opt.app.workspaces import WorkspaceError, _insert_yaml, build_override, in_force


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data")


def test_job_lifecycle_and_end_states(store: Store) -> None:
    ws = store.add_workspace(new_id(), "toy", "test", "instance")
    job = store.add_job(ws.id, "solve", "solve toy", {"scenario": "base"})
    assert job.state == "queued" and job.elapsed() is None
    assert store.claim(job.id, pid=123, proc_start=1.0)
    assert not store.claim(job.id, pid=456, proc_start=1.0), "a running job cannot be claimed twice"
    running = store.job(job.id)
    assert running is not None and running.state == "running" and running.pid == 123
    assert store.finish(job.id, "done", exit_code=0, outcome={"status": "optimal", "objective": -1.0})
    # a later report (the watcher of a process that ended) does not overwrite the recorded end
    assert not store.finish(job.id, "failed", error="late")
    done = store.job(job.id)
    assert done is not None and done.state == "done" and done.error is None and done.outcome["objective"] == -1.0
    elapsed = done.elapsed()
    assert elapsed is not None and elapsed >= 0
    with pytest.raises(ValueError, match="not an end state"):
        store.finish(job.id, "running")
    # ids are checked before any folder is named from them
    assert store.job("../../etc") is None and store.workspace("x") is None
    with pytest.raises(ValueError, match="not a job id"):
        store.job_dir("../app.sqlite")
    # the table is the file on disk: a second Store (the restarted app) sees the same jobs
    again = Store(store.data_dir)
    assert [j.id for j in again.jobs()] == [job.id]
    assert again.jobs(workspace=ws.id, states=("done",))[0].outcome == {"status": "optimal", "objective": -1.0}


def test_reconcile_marks_jobs_whose_process_is_gone(store: Store) -> None:
    """After a restart: a job recorded as running whose process no longer exists is marked failed
    (interrupted); one whose pid now belongs to another program (not this job's worker) too; a queued
    job stays queued; a finished job is left alone."""
    ws = store.add_workspace(new_id(), "toy", "test", "instance")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lost = store.add_job(ws.id, "solve", "lost", {})
    store.claim(lost.id, pid=dead.pid, proc_start=time.time())
    reused = store.add_job(ws.id, "solve", "pid reused", {})
    store.claim(reused.id, pid=os.getpid(), proc_start=time.time())  # alive, but pytest is not its worker
    store.add_job(ws.id, "solve", "waiting", {})
    finished = store.add_job(ws.id, "solve", "finished", {})
    store.claim(finished.id, pid=dead.pid, proc_start=time.time())
    store.finish(finished.id, "done", exit_code=0)
    jobs.Runner(store).reconcile()
    states = {j.title: (j.state, j.error or "") for j in store.jobs()}
    assert states["lost"][0] == "failed" and "interrupted" in states["lost"][1]
    assert states["pid reused"][0] == "failed"
    assert states["waiting"] == ("queued", "")
    assert states["finished"] == ("done", "")


def test_cancel_of_a_queued_job_needs_no_process(store: Store) -> None:
    ws = store.add_workspace(new_id(), "toy", "test", "instance")
    job = store.add_job(ws.id, "solve", "waiting", {})
    jobs.Runner(store).cancel(job.id)
    got = store.job(job.id)
    assert got is not None and got.state == "cancelled" and got.cancel


def test_job_parameters_are_checked() -> None:
    names = ["base", "li-70"]
    p = jobs.check_params("solve", {"scenario": "li-70", "time_limit": "60", "mip_gap": "", "cost_of_compliance": "1"},
                          names)
    assert p == {"time_limit": 60.0, "mip_gap": None, "soft_targets": False, "scenario": "li-70",
                 "cost_of_compliance": True}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("solve", {"scenario": "nope"}, "unknown scenario 'nope'"),
        ("solve", {"time_limit": "-1"}, r"time limit \(s\): expected a number in \[0, inf\]"),
        ("solve", {"mip_gap": "2"}, r"MIP gap: expected a number in \[0, 1\]"),
        ("compare", {"scenarios": ["base"]}, "at least two scenarios"),
        ("compare", {"scenarios": ["base", "x"]}, "unknown scenario"),
        ("sweep", {}, "either a parameter to vary"),
        ("sweep", {"vary": "a=1:2:3", "samples": "5"}, "not both"),
        # the vary text is parsed on the form, not in a job that then fails
        ("sweep", {"vary": "nonsense"}, "nonsense"),
        ("sweep", {"vary": "supply.tonnes=abc:def:3"}, "supply.tonnes"),
        ("sweep", {"vary": "supply.tonnes*=1:2:100000"}, "100,000 points; at most 10,000"),
        ("sweep", {"samples": "2.5"}, "samples: expected a whole number"),
        ("optimise", {}, "unknown job 'optimise'"),
    ]
    for kind, raw, message in cases:
        with pytest.raises(jobs.JobError, match=message):
            jobs.check_params(kind, raw, names)


def test_job_commands_are_the_cli_commands(tmp_path: Path) -> None:
    """A job runs exactly the command a planner would type (printed on the job page)."""
    job = Job("a" * 32, "b" * 32, "solve", "t", {"instance": "toy.xlsx", "scenario": "li-70", "time_limit": 30.0,
                                                   "mip_gap": None, "cost_of_compliance": True}, "queued", 0.0)
    assert jobs.command(job, tmp_path) == [
        "solve", str(tmp_path / "toy.xlsx"), "--out", str(tmp_path / "results"), "--log",
        str(tmp_path / "progress.log"), "--scenario", "li-70", "--cost-of-compliance", "--time-limit", "30"]
    job.kind, job.params = "compare", {"instance": "instance", "scenarios": ["base", "li-70"], "mip_gap": 0.01}
    assert jobs.command(job, tmp_path) == ["compare", str(tmp_path / "instance"), "--out", str(tmp_path / "results"),
                                           "--scenarios", "base,li-70", "--mip-gap", "0.01"]
    job.kind, job.params = "sweep", {"instance": "instance", "vary": "k=1:2:5", "scenario": "base"}
    assert jobs.command(job, tmp_path)[-2:] == ["--vary", "k=1:2:5"]
    assert jobs.sweep_size("k=0.5:0.9:5", None) == 5
    assert jobs.sweep_size("k=1,2,3", None) == 3
    assert jobs.sweep_size(None, 7) == 7


def test_progress_is_read_from_the_solve_log(tmp_path: Path) -> None:
    """Elapsed time from the job's start, phase and the solver's last best plan, bound and gap from
    the ``--log`` lines that network_opt.common.progress writes."""
    (tmp_path / "progress.log").write_text(
        "=== 2026-01-01 network-opt 0.1.0\n"
        "[   0.0s] loading and validating the instance\n"
        "[   0.9s] solving with HiGHS\n"
        "[   1.9s] solving: 1.0s in HiGHS, best plan -, bound -1.2e+06, gap -\n"
        "Presolving model\n"
        "[   2.9s] solving: 2.0s in HiGHS, best plan -1,000,000, bound -1,100,000, gap 10.00%\n")
    job = Job("a" * 32, "b" * 32, "solve", "t", {}, "running", time.time() - 5, started=time.time() - 3)
    p = jobs.read_progress(job, tmp_path)
    assert (p.phase, p.best, p.bound, p.gap) == ("solving with HiGHS", "-1,000,000", "-1,100,000", "10.00%")
    assert p.elapsed is not None and p.elapsed >= 3
    assert p.log[0] == "[   0.0s] loading and validating the instance" and "Presolving model" not in p.log
    # the log's 6-digit figures in whole units, as the rest of the pages show money
    assert jobs._figure("-1.14043e+11") == "-114,043,000,000" and jobs._figure("-") == "-"
    assert jobs._figure(0.25) == "0.25" and jobs._figure(None) == "-"
    # once the job has ended its figures come from summary.json (recorded as the outcome)
    job.state, job.finished = "done", time.time()
    job.outcome = {"status": "optimal", "objective": -1_050_000.0, "bound": -1_050_000.0, "mip_gap": 0.0}
    p = jobs.read_progress(job, tmp_path)
    assert (p.phase, p.best, p.bound, p.gap) == ("done: optimal", "-1,050,000", "-1,050,000", "0.00%")


# --- scenarios written into instance.yaml --------------------------------------------------------

MANIFEST = """\
# An instance (comments must survive)
name: t
periods: [2025]

# Named variants
scenarios:
  a:
    overrides:
      - close: X   # no X here

# Distributions
uncertainty:
  v: {scale: supply.tonnes, distribution: uniform, low: 0.9, high: 1.1}
"""


def test_a_scenario_is_inserted_into_its_block_keeping_everything_else() -> None:
    body = {"description": "no refurbisher", "overrides": [{"close": "REF-EAST"}]}
    text = _insert_yaml(MANIFEST, "b", body)
    assert text.startswith(MANIFEST.split("# Distributions")[0].rstrip("\n"))
    assert "# Distributions\nuncertainty:" in text and "# no X here" in text
    data = yaml.safe_load(text)
    assert data["scenarios"] == {"a": {"overrides": [{"close": "X"}]}, "b": body}
    assert data["uncertainty"] == yaml.safe_load(MANIFEST)["uncertainty"]
    # no block yet: one is appended; an empty flow-style block is turned into a block
    assert yaml.safe_load(_insert_yaml("name: t\n", "b", body))["scenarios"] == {"b": body}
    assert yaml.safe_load(_insert_yaml("name: t\nscenarios: {}\nx: 1\n", "b", body)) == {
        "name": "t", "scenarios": {"b": body}, "x": 1}
    with pytest.raises(WorkspaceError, match="flow style"):
        _insert_yaml("scenarios: {a: {overrides: []}}\n", "b", body)


def test_form_rows_become_overrides() -> None:
    assert build_override("close", " REF-EAST ", "") == {"close": "REF-EAST"}
    assert build_override("set", "targets[TOY,material_recovery,Li,2025].value", "0.7") == {
        "set": "targets[TOY,material_recovery,Li,2025].value", "value": 0.7}
    assert build_override("set", "transport.explicit_lanes_only", "false")["value"] is False
    assert build_override("scale", "supply.tonnes", "1.3") == {"scale": "supply.tonnes", "by": 1.3}
    assert build_override("policies", "EU27", "eu-2023-1542; x") == {"policies": {"EU27": ["eu-2023-1542", "x"]}}
    assert build_override("policies", "EU27", "") == {"policies": {"EU27": []}}
    # a value that YAML would read as a tag or a structure stays text (never evaluated)
    assert build_override("set", "k", "!!python/object/apply:os.system [ls]")["value"] == \
        "!!python/object/apply:os.system [ls]"
    for op, key, value, message in [("scale", "supply.tonnes", "a lot", "expected a number"),
                                    ("set", "k", "", "expected a value"), ("close", "", "", "expected a facility id"),
                                    ("delete", "k", "1", "unknown operation"),
                                    ("scale", "supply.tonnes", "nan", "factor must be a finite number"),
                                    ("set", "supply.tonnes", ".nan", "value must be a finite number")]:
        with pytest.raises(WorkspaceError, match=message):
            build_override(op, key, value)


def test_targets_in_force_per_period() -> None:
    """A later row of the same target replaces the earlier one from its own year (schema: targets)."""
    import pandas as pd

    t = pd.DataFrame({"jurisdiction": ["EU27"] * 3, "metric": ["material_recovery"] * 3, "material": ["Li"] * 3,
                      "scope": ["jurisdiction"] * 3, "value": [0.5, 0.8, 0.9], "from_period": [2028, 2032, 2040]})
    assert in_force(t, 2025).empty
    assert in_force(t, 2030)["value"].tolist() == [0.5]
    assert in_force(t, 2035)["value"].tolist() == [0.8]


def test_shipped_instances_are_listed_and_unknown_names_refused(store: Store) -> None:
    root = Path(__file__).resolve().parents[1] / "instances"
    names = workspaces.shipped_instances(root)
    assert {"toy", "toy-scenarios", "china-east"} <= set(names)
    with pytest.raises(WorkspaceError, match=r"no shipped instance '\.\./toy'"):
        workspaces.open_shipped(store, root, "../toy")


def test_year_columns_are_shown_as_written_and_numbers_grouped() -> None:
    """Years are ids, not quantities: every period column (facilities' investment_period, cascade's
    period_sold, ...) is shown as 2025, not 2,025; a quantity keeps its thousands separator."""
    import pandas as pd

    from network_opt.app.views import table

    frame = pd.DataFrame({"period": [2025], "investment_period": [2025], "period_sold": [2027],
                          "return_period": [2033], "from_period": [2028], "tonnes": [12345.0]})
    shown = table(frame, "t", "T")
    cells = dict(zip(shown.columns, shown.rows[0], strict=True))
    assert {c: cells[c] for c in frame.columns if c != "tonnes"} == {
        "period": "2025", "investment_period": "2025", "period_sold": "2027", "return_period": "2033",
        "from_period": "2028"}
    assert cells["tonnes"] != "12345" and "," in cells["tonnes"]


def test_money_in_the_billions_is_shown_to_the_unit() -> None:
    """Key figures: -3,086,288,089.6 CNY was shown as -3.08629e+09 (6 significant digits)."""
    from network_opt.app.views import fmt

    assert fmt(-3086288089.6) == "-3,086,288,090"
    assert fmt(94262843.09) == "94,262,843"
    assert fmt(12.3456789) == "12.3457" and fmt(0.5) == "0.5" and fmt(2000) == "2,000" and fmt(float("nan")) == ""


def test_a_stopped_sweep_or_comparison_shows_the_runs_written_so_far(tmp_path: Path) -> None:
    """A cancelled sweep writes no sweep.csv: the job page shows its finished points instead (docs/app.md:
    "the runs written so far"); likewise a comparison without comparison.csv."""
    import json

    from network_opt.app.views import comparison, sweep_table

    for name, value, objective in (("p0001", 0.5, -10.0), ("p0002", 0.6, -9.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({
            "status": "optimal", "objective": objective, "inputs": {"targets[X].value": value},
            "kpis": {"status": "optimal", "objective": objective, "cost:fixed": 100.0}}))
    table = sweep_table(tmp_path)
    assert table is not None and "stopped: the 2 point(s) written before it" in table.title
    assert table.columns[:4] == ["point", "targets[X].value", "status", "objective"]
    assert [r[0] for r in table.rows] == ["p0001", "p0002"]
    comp, diff = comparison(tmp_path)
    assert comp is not None and diff is None and "stopped: the 2 scenario(s)" in comp.title
    assert comp.columns == ["kpi", "p0001", "p0002"]


def test_the_scenarios_of_a_folder_and_of_its_workbook_are_read_alike(tmp_path: Path) -> None:
    """What Replace keeps: the scenarios block, from instance.yaml or from the workbook's settings sheet."""
    from network_opt.app.workspaces import _scenarios_of
    from network_opt.inputs.convert import convert

    folder = Path(__file__).resolve().parents[1] / "instances" / "toy-scenarios"
    book = convert(folder, "xlsx", tmp_path / "t.xlsx")
    assert _scenarios_of(book) == _scenarios_of(folder)
    assert _scenarios_of(folder)["no-refurbisher"]["overrides"] == [{"close": "REF-EAST"}]
    assert _scenarios_of(tmp_path / "missing") == {}


def test_a_cancelled_comparison_does_not_give_terminal_advice() -> None:
    """compare and sweep tell a terminal user to run the same command again (it resumes from the
    runs in --out); a new job of the app starts in a folder of its own, so its error says so."""
    from network_opt.app.worker import cancelled_error
    from network_opt.common.interrupts import RESUME_HINT

    cli = f"interrupted during the comparison (SIGTERM): the runs that finished are in results; {RESUME_HINT}"
    text = cancelled_error(cli, "")
    assert RESUME_HINT not in text and "run the same command" not in text
    assert text.startswith("cancelled\ninterrupted during the comparison (SIGTERM): the runs that finished are in "
                           "results\nThe runs that finished are shown below; a new job solves every run again.")
    assert cancelled_error("other message", " (x)") == "cancelled (x)\nother message"
    assert cancelled_error(None, "") == "cancelled"
