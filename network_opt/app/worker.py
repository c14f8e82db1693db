"""The child process of one app job: ``python -m network_opt.app.worker DATA_DIR JOB_ID``.

It runs the job's ``network-opt`` command (:func:`network_opt.app.jobs.command`) as a subprocess in
its own process group, with its output in the job's folder; then draws the maps and charts of the
plan(s) written, and records the end of the job in the job table: ``done`` (results written),
``failed`` (the command's error messages kept as the job's error) or ``cancelled``. SIGTERM (cancel)
reaches the command too (same process group); the worker waits for it to write its best plan.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from network_opt.app.jobs import ERR, OUT, RESULTS, command
from network_opt.app.store import Job, Store
from network_opt.common.interrupts import RESUME_HINT

#: Exit codes of ``network-opt`` (network_opt.cli.app), repeated here: the app does not import the CLI.
EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_WRITE_FAILED = 0, 2, 3, 4, 5
INTERRUPTED = (130, 143)
#: charts drawn for a solved plan: file name -> function of network_opt.plotting.charts
CHARTS = {"costs.png": "cost_chart", "capacity.png": "capacity_chart", "targets.png": "targets_chart",
          "sankey.png": "sankey"}

_stop: list[int] = []


def _on_signal(signum: int, _frame: Any) -> None:
    _stop.append(signum)


def _error_lines(path: Path, most: int = 40) -> str:
    """The command's messages (stderr without the progress lines), last ``most`` lines."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    kept = [ln for ln in lines if ln.strip() and not ln.startswith("[")]
    return "\n".join(kept[-most:])


def cancelled_error(messages: str | None, plan: str) -> str:
    """The error of a cancelled job: ``cancelled`` and ``plan`` (what was written), then the
    command's messages. The command's advice to run it again (compare and sweep resume from the
    runs in their folder) is the terminal's: a new job of the app runs in a folder of its own and
    solves every run again, so the app says that instead."""
    if messages and RESUME_HINT in messages:
        messages = messages.replace(f"; {RESUME_HINT}", "") + ("\nThe runs that finished are shown below; a new job "
                                                              "solves every run again.")
    return f"cancelled{plan}" + (f"\n{messages}" if messages else "")


def _summary(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _has_plan(summary: dict[str, Any] | None) -> bool:
    from network_opt.solver.status import has_plan

    return summary is not None and has_plan(str(summary.get("status", "")))


def draw(job: Job, folder: Path) -> list[str]:
    """Maps (``map.html``; a comparison: ``maps/SCENARIO.html``) and charts (``charts/*.png``) of the
    plans written; returns warnings for what could not be drawn (the results stay)."""
    from network_opt.plotting import charts
    from network_opt.plotting.figures import save_figure
    from network_opt.plotting.interactive import write_html_map
    from network_opt.results.read import from_folder

    warnings: list[str] = []
    results = folder / RESULTS
    if job.kind == "solve":
        plans = {"": results} if _has_plan(_summary(results)) else {}
    else:
        plans = {p.name: p for p in sorted(results.iterdir()) if p.is_dir() and _has_plan(_summary(p))} \
            if results.is_dir() else {}
    for name, plan_dir in plans.items():
        try:
            res = from_folder(plan_dir)
            if name:
                (folder / "maps").mkdir(exist_ok=True)
                write_html_map(res, folder / "maps" / f"{name}.html")
                continue
            write_html_map(res, folder / "map.html")
            (folder / "charts").mkdir(exist_ok=True)
            for file, func in CHARTS.items():
                try:
                    save_figure(getattr(charts, func)(res), folder / "charts" / file)
                except Exception as exc:  # one chart failing leaves the others
                    warnings.append(f"chart {file} could not be drawn: {exc}")
        except Exception as exc:  # a map failing leaves the results
            warnings.append(f"the map of {name or 'the plan'} could not be drawn: {exc}")
    return warnings


def outcome_of(job: Job, folder: Path) -> dict[str, Any]:
    """What the job page and list show of a finished run: status, objective, bound, gap (a
    solve), or the scenarios / points and their status (compare, sweep)."""
    results = folder / RESULTS
    if job.kind == "solve":
        s = _summary(results) or {}
        return {k: s.get(k) for k in ("status", "termination", "objective", "bound", "mip_gap", "currency",
                                      "warnings", "scenario")}
    import pandas as pd

    out: dict[str, Any] = {}
    table = results / ("comparison.csv" if job.kind == "compare" else "sweep.csv")
    if table.is_file():
        try:
            frame = pd.read_csv(table, keep_default_na=False)
        except (OSError, ValueError):
            return out
        if job.kind == "compare" and "kpi" in frame:
            rows = frame.set_index("kpi")
            names = [c for c in frame.columns if c not in ("kpi", "unit")]
            out["scenarios"] = {n: {"status": str(rows.at["status", n]) if "status" in rows.index else "",
                                    "objective": str(rows.at["objective", n]) if "objective" in rows.index else ""}
                                for n in names}
        else:
            out["points"] = len(frame)
            if "status" in frame:
                out["with_plan"] = int(frame["status"].isin(["optimal", "feasible"]).sum())
    return out


def run(data_dir: Path, jid: str) -> int:
    """Run job ``jid`` to its end and record it; returns the command's exit code."""
    store = Store(data_dir)
    job = store.job(jid)
    if job is None:
        return 2
    folder = store.job_dir(jid)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    argv = [sys.executable, "-m", "network_opt", *command(job, folder)]
    (folder / "command.txt").write_text("network-opt " + " ".join(argv[3:]) + "\n", encoding="utf-8")
    with open(folder / OUT, "wb") as out, open(folder / ERR, "wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=folder)
        code = proc.wait()  # a signal handled here does not interrupt the wait (PEP 475)
    job = store.job(jid) or job
    cancelled = job.cancel or bool(_stop)
    warnings: list[str] = []
    try:
        warnings = draw(job, folder)
    except Exception as exc:  # drawing is a bonus; the results are what counts
        warnings = [f"maps and charts could not be drawn: {exc}"]
    outcome = outcome_of(job, folder)
    if warnings:
        outcome["drawing_warnings"] = warnings
    error = _error_lines(folder / ERR) or None
    if code in INTERRUPTED or (cancelled and code != EXIT_OK):
        state = "cancelled"
        plan = " (the best plan found so far was written)" if _has_plan(_summary(folder / RESULTS)) else ""
        error = cancelled_error(error, plan)
    elif code == EXIT_OK:
        state = "done"
    else:
        state = "failed"
        error = error or f"network-opt exited with code {code}"
    store.finish(jid, state, exit_code=code, error=error if state != "done" else (error if warnings else None),
                 outcome=outcome)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``DATA_DIR JOB_ID``. A crash is recorded as the job's error."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m network_opt.app.worker DATA_DIR JOB_ID\n")
        return 2
    data_dir, jid = Path(args[0]), args[1]
    try:
        return run(data_dir, jid)
    except BaseException:
        text = traceback.format_exc()
        sys.stderr.write(text)
        with contextlib.suppress(Exception):
            Store(data_dir).finish(jid, "failed", error=f"the job's worker crashed:\n{text[-3000:]}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
