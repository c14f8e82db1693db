"""Background jobs of the app: solve one scenario, compare several, or sweep a parameter.

Each job runs as a child process of its own session (:mod:`network_opt.app.worker`), which runs the
same ``network-opt solve`` / ``compare`` / ``sweep`` command a planner would type, on a copy of the
workspace's instance taken when the job was made, with ``--out`` a fresh folder of the job. So:

- cancel = SIGTERM to the job's process group: the command stops HiGHS and writes the best plan
  found so far (exit 143), as on a terminal; a job still alive :data:`KILL_AFTER_S` seconds later is
  killed;
- a crash (of the command or of the worker) marks that job ``failed`` with its error; nothing else
  (other jobs, the app, the workspaces) is touched;
- progress is read from the command's ``--log`` file (phases, and elapsed time, best plan, bound
  and gap of the solver at most every second) and, for compare and sweep, from the run folders
  written so far;
- jobs outlive the app: a restarted app finds them in the job table; one whose process is gone
  without recording its end is marked ``failed`` (interrupted), one still running is followed.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network_opt.app.store import Job, Store, Workspace

#: Seconds between SIGTERM and SIGKILL when a job is cancelled.
KILL_AFTER_S = 15.0
#: Seconds a job may stay ``running`` without a process id before it counts as lost.
START_GRACE_S = 30.0
KINDS = ("solve", "compare", "sweep")
LOG = "progress.log"
OUT, ERR = "cli.out", "cli.err"
RESULTS = "results"
_PHASE = re.compile(r"^\[\s*(?P<t>[\d.]+)s\] (?P<text>.*)$")
_SOLVER = re.compile(r"solving: (?P<s>[\d.]+)s in HiGHS, best plan (?P<best>\S+), bound (?P<bound>\S+), "
                     r"gap (?P<gap>\S+)")


class JobError(ValueError):
    """A job that cannot be made: the message says which parameter is wrong and what is expected."""


def _number(value: Any, what: str, *, lo: float = 0.0, hi: float = math.inf, integer: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise JobError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(x) or x < lo or x > hi or (integer and not x.is_integer()):
        raise JobError(f"{what}: expected {'a whole number' if integer else 'a number'} in [{lo:g}, {hi:g}], "
                       f"got {value!r}")
    return x


#: the most points one sweep of the app may have (steps of --vary, or samples)
MAX_SWEEP_POINTS = 10_000


def check_params(kind: str, raw: dict[str, Any], scenarios: list[str]) -> dict[str, Any]:
    """The parameters of a new job, checked: ``time_limit`` (s), ``mip_gap`` (relative); solve:
    ``scenario`` and ``cost_of_compliance``; compare: ``scenarios`` (at least one); sweep: ``vary``
    (``KEY=START:STOP:STEPS``, ``KEY*=...`` or ``KEY=V1,V2,...``) or ``samples``, around ``scenario``."""
    if kind not in KINDS:
        raise JobError(f"unknown job {kind!r}; expected one of {', '.join(KINDS)}")
    params: dict[str, Any] = {"time_limit": _number(raw.get("time_limit"), "time limit (s)"),
                              "mip_gap": _number(raw.get("mip_gap"), "MIP gap", hi=1.0)}
    params["soft_targets"] = bool(raw.get("soft_targets"))
    if kind in ("solve", "sweep"):
        scenario = str(raw.get("scenario") or "base")
        if scenario not in scenarios:
            raise JobError(f"unknown scenario {scenario!r}; expected one of {', '.join(scenarios)}")
        params["scenario"] = scenario
    if kind == "solve":
        params["cost_of_compliance"] = bool(raw.get("cost_of_compliance"))
    elif kind == "compare":
        chosen = [str(s) for s in raw.get("scenarios") or []]
        unknown = [s for s in chosen if s not in scenarios]
        if unknown:
            raise JobError(f"unknown scenario(s) {', '.join(unknown)}; expected some of {', '.join(scenarios)}")
        if len(chosen) < 2:
            raise JobError("a comparison needs at least two scenarios (base counts as one)")
        params["scenarios"] = list(dict.fromkeys(chosen))
    elif kind == "sweep":
        vary = str(raw.get("vary") or "").strip()
        samples = _number(raw.get("samples"), "samples", lo=1, hi=MAX_SWEEP_POINTS, integer=True)
        if vary and samples is not None:
            raise JobError("a sweep varies a parameter (KEY=START:STOP:STEPS) or draws samples, not both: "
                           "clear one of the two")
        if not vary and samples is None:
            raise JobError("a sweep needs either a parameter to vary (KEY=START:STOP:STEPS) or a number of samples")
        if vary:  # checked here, on the form, rather than in a job that fails
            from network_opt.common.errors import InputError
            from network_opt.runs.sweep import parse_vary

            try:
                points = len(parse_vary(vary).values)
            except InputError as exc:
                raise JobError(f"vary {vary!r}: " + "; ".join(p.message for p in exc.problems)) from None
            if points > MAX_SWEEP_POINTS:
                raise JobError(f"vary: {points:,} points; at most {MAX_SWEEP_POINTS:,} in the app (as for samples)")
        params["vary"] = vary or None
        params["samples"] = int(samples) if samples is not None else None
        params["seed"] = int(_number(raw.get("seed"), "seed", hi=2**31, integer=True) or 0)
    return params


def title_of(kind: str, params: dict[str, Any], ws: Workspace) -> str:
    """A line for the job list."""
    if kind == "solve":
        return f"solve {ws.name} · {params['scenario']}"
    if kind == "compare":
        return f"compare {ws.name} · {', '.join(params['scenarios'])}"
    what = params["vary"] or f"{params['samples']} samples"
    return f"sweep {ws.name} · {params['scenario']} · {what}"


def command(job: Job, folder: Path) -> list[str]:
    """The ``network-opt`` arguments of a job whose folder is ``folder``."""
    p = job.params
    inst = str(folder / p["instance"])
    out = str(folder / RESULTS)
    if job.kind == "solve":
        args = ["solve", inst, "--out", out, "--log", str(folder / LOG)]
        if p.get("scenario") and p["scenario"] != "base":
            args += ["--scenario", p["scenario"]]
        if p.get("cost_of_compliance"):
            args.append("--cost-of-compliance")
    elif job.kind == "compare":
        args = ["compare", inst, "--out", out, "--scenarios", ",".join(p["scenarios"])]
    else:
        args = ["sweep", inst, "--out", out]
        args += ["--vary", p["vary"]] if p.get("vary") else ["--samples", str(p["samples"]), "--seed", str(p["seed"])]
        if p.get("scenario") and p["scenario"] != "base":
            args += ["--scenario", p["scenario"]]
    if p.get("time_limit") is not None:
        args += ["--time-limit", f"{p['time_limit']:g}"]
    if p.get("mip_gap") is not None:
        args += ["--mip-gap", f"{p['mip_gap']:g}"]
    if p.get("soft_targets"):
        args.append("--soft-targets")
    return args


def sweep_size(vary: str | None, samples: int | None) -> int | None:
    """Points of a sweep: the samples, or the steps of ``KEY=START:STOP:STEPS`` / values of ``KEY=V1,V2``."""
    if samples:
        return samples
    if not vary or "=" not in vary:
        return None
    spec = vary.split("=", 1)[1]
    parts = spec.split(":")
    if len(parts) == 3:
        with contextlib.suppress(ValueError):
            return int(parts[2])
        return None
    return len([v for v in spec.split(",") if v.strip()])


# --- progress -----------------------------------------------------------------------------------


@dataclass
class Progress:
    """What the job page shows while a job runs (and after)."""

    state: str
    elapsed: float | None
    phase: str
    best: str
    bound: str
    gap: str
    runs_done: int | None
    runs_total: int | None
    log: list[str]
    outcome: dict[str, Any]
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _figure(value: Any) -> str:
    """An objective or bound for the page: whole units with thousands separators (``-114,043,000,000``),
    ``-`` when there is none."""
    try:
        x = float(str(value).replace(",", "")) if value is not None else math.nan
    except ValueError:
        return str(value)
    if not math.isfinite(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.6g}"


def _tail(path: Path, lines: int, max_bytes: int = 64 * 1024) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    out = text.splitlines()
    if size > max_bytes and out:
        out = out[1:]  # the first line may be cut
    return out[-lines:]


def read_progress(job: Job, folder: Path) -> Progress:
    """The job's progress from its files: the last phase and solver line of the ``--log`` file (a
    solve), the run folders written (compare, sweep), the last lines of output."""
    phase, best, bound, gap = "", "-", "-", "-"
    log = _tail(folder / LOG, 400) if job.kind == "solve" else _tail(folder / ERR, 400)
    for line in log:
        m = _PHASE.match(line)
        if not m:
            continue
        text = m.group("text")
        s = _SOLVER.search(text)
        if s:
            best, bound, gap = _figure(s.group("best")), _figure(s.group("bound")), s.group("gap")
            phase = "solving with HiGHS"
        else:
            phase = text
    if job.kind == "solve":
        shown = [ln for ln in log if _PHASE.match(ln)][-20:]
    else:
        shown = [ln for ln in log if ln.strip()][-20:]
    done = total = None
    if job.kind in ("compare", "sweep"):
        results = folder / RESULTS
        done = sum(1 for p in results.iterdir() if (p / "summary.json").is_file()) if results.is_dir() else 0
        total = len(job.params["scenarios"]) if job.kind == "compare" else \
            sweep_size(job.params.get("vary"), job.params.get("samples"))
    o = job.outcome
    if o.get("objective") is not None and job.kind == "solve":
        best, bound = _figure(o["objective"]), _figure(o.get("bound"))
        gap = "-" if o.get("mip_gap") is None else f"{o['mip_gap']:.2%}"
    if not job.active:
        phase = job.state + (f": {o['status']}" if o.get("status") else "")
    return Progress(job.state, job.elapsed(), phase or job.state, best, bound, gap, done, total, shown, o, job.error)


# --- processes ----------------------------------------------------------------------------------


def _cmdline(pid: int) -> str | None:
    """The command line of process ``pid`` (None: no such process; "" where /proc is missing)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""


def is_job_process(pid: int | None, jid: str) -> bool:
    """Whether ``pid`` is alive and is the worker of job ``jid`` (not a process that got its id later)."""
    if pid is None:
        return False
    cmd = _cmdline(pid)
    if cmd is None:
        return False
    if cmd and ("network_opt.app.worker" not in cmd or jid not in cmd):
        return False
    with contextlib.suppress(OSError, ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # a zombie child of this process counts as gone
        if done == pid:
            return False
    return True


class Runner:
    """Starts queued jobs (at most ``max_jobs`` at once), watches them, cancels them, and on start
    reconciles the job table with the processes that still exist."""

    def __init__(self, store: Store, max_jobs: int = 1, poll_s: float = 0.5):
        self.store = store
        self.max_jobs = max(1, int(max_jobs))
        self.poll_s = poll_s
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- making jobs

    def submit(self, ws: Workspace, instance: Path, kind: str, params: dict[str, Any]) -> Job:
        """A queued job with a copy of the instance (``instance``: the workspace's folder or workbook)."""
        job = self.store.add_job(ws.id, kind, title_of(kind, params, ws), params)
        folder = self.store.job_dir(job.id)
        folder.mkdir(parents=True)
        if instance.is_dir():
            shutil.copytree(instance, folder / "instance", symlinks=False,
                            ignore=lambda src, names: [n for n in names if Path(src, n).is_symlink()])
            entry = "instance"
        else:
            entry = instance.name
            shutil.copyfile(instance, folder / entry)
        self.store.update_job(job.id, params={**params, "instance": entry})
        self._wake.set()
        out = self.store.job(job.id)
        assert out is not None
        return out

    # --- the loop

    def start(self) -> None:
        """Reconcile once, then run the scheduling loop in a daemon thread."""
        self.reconcile()
        self._thread = threading.Thread(target=self._loop, name="network-opt-app-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop (running jobs go on in their own processes)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop must survive a locked or damaged table; tried again next tick
                import logging

                logging.getLogger(__name__).exception("job loop")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def tick(self) -> None:
        """Notice lost jobs and start queued ones while slots are free."""
        self.reconcile()
        running = len(self.store.jobs(states=("running",)))
        for job in reversed(self.store.jobs(states=("queued",))):  # oldest first
            if running >= self.max_jobs:
                break
            if self._launch(job):
                running += 1

    def _launch(self, job: Job) -> bool:
        folder = self.store.job_dir(job.id)
        if not self.store.claim(job.id, pid=0, proc_start=None):
            return False
        log = open(folder / "worker.log", "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
            # the child runs the same network_opt as this process (not another installed copy)
            root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
            proc = subprocess.Popen([sys.executable, "-m", "network_opt.app.worker", str(self.store.data_dir), job.id],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env, cwd=folder)
        except OSError as exc:
            self.store.finish(job.id, "failed", error=f"the job could not be started: {exc}")
            return False
        finally:
            log.close()
        self.store.update_job(job.id, pid=proc.pid, proc_start=time.time())
        with self._lock:
            self._children[job.id] = proc
        threading.Thread(target=self._watch, args=(job.id, proc), daemon=True).start()
        return True

    def _watch(self, jid: str, proc: subprocess.Popen[bytes]) -> None:
        """Wait for a job's process; if it ended without recording how, the job failed."""
        code = proc.wait()
        with self._lock:
            self._children.pop(jid, None)
        job = self.store.job(jid)
        if job is not None and job.active:
            tail = "\n".join(_tail(self.store.job_dir(jid) / "worker.log", 15))
            state = "cancelled" if job.cancel else "failed"
            self.store.finish(jid, state, exit_code=code,
                              error=f"the job's process ended ({_ended(code)}) without recording a result"
                              + (f":\n{tail}" if tail else ""))
        self._wake.set()

    def reconcile(self) -> None:
        """Jobs recorded as running whose process is gone (the app or the machine stopped, the
        process was killed) are marked failed; those still running are left to finish."""
        for job in self.store.jobs(states=("running",)):
            with self._lock:
                if job.id in self._children:
                    continue
            if job.pid == 0 and job.started is not None and time.time() - job.started < START_GRACE_S:
                continue  # being started right now
            if not is_job_process(job.pid, job.id):
                self.store.finish(job.id, "cancelled" if job.cancel else "failed",
                                  error="interrupted: the job's process is gone (the app or the machine was stopped, "
                                  "or the process was killed, while it ran); files it wrote are kept")

    # --- cancel

    def cancel(self, jid: str) -> None:
        """Cancel a job: a queued one at once; a running one by SIGTERM to its process group (the
        command writes the best plan it has), SIGKILL after :data:`KILL_AFTER_S` seconds."""
        job = self.store.job(jid)
        if job is None or not job.active:
            return
        self.store.update_job(jid, cancel=True)
        if job.state == "queued" and self.store.finish(jid, "cancelled", error="cancelled before it started"):
            return
        job = self.store.job(jid)
        if job is None or not job.pid or not is_job_process(job.pid, jid):
            return
        pid = job.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)

        def escalate() -> None:
            deadline = time.monotonic() + KILL_AFTER_S
            while time.monotonic() < deadline:
                if not is_job_process(pid, jid):
                    return
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

        threading.Thread(target=escalate, daemon=True).start()


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"
