"""The app's table of workspaces and jobs: one SQLite file, ``app.sqlite``, in the data folder.

A *workspace* is an instance the planner opened, copied under ``DATA/workspaces/ID/`` (the original
is never written to). A *job* is one background run (solve, compare, sweep) with its folder
``DATA/jobs/ID/``. Ids are random (128 bits, hex); every file the app serves is found from an id
looked up here, never from a path the browser sends.

The server and each job's child process (:mod:`network_opt.app.worker`) open the same file; SQLite
in WAL mode with a busy timeout serialises their writes.

Job states: ``queued`` (waiting for a free slot), ``running``, ``done`` (the run ended and wrote
its results), ``failed`` (it ended without results, with the error), ``cancelled``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DB_NAME = "app.sqlite"
ID = re.compile(r"^[0-9a-f]{32}$")
STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    origin TEXT NOT NULL,
    entry TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    pid INTEGER,
    proc_start REAL,
    exit_code INTEGER,
    error TEXT,
    outcome TEXT,
    cancel INTEGER NOT NULL DEFAULT 0
);
"""


def new_id() -> str:
    """A random id of 32 hex digits."""
    return secrets.token_hex(16)


@dataclass
class Workspace:
    """An opened instance: ``entry`` is the instance inside the workspace folder (``instance`` for a
    folder, ``NAME.xlsx`` for a workbook), ``origin`` where it came from (for the page only)."""

    id: str
    name: str
    origin: str
    entry: str
    created: float


@dataclass
class Job:
    """One background run. ``params``: what to run (kind-specific, see :mod:`network_opt.app.jobs`);
    ``outcome``: what the run reported (status, objective, bound, gap, scenarios, warnings)."""

    id: str
    workspace: str
    kind: str
    title: str
    params: dict[str, Any]
    state: str
    created: float
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    proc_start: float | None = None
    exit_code: int | None = None
    error: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    cancel: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def elapsed(self, now: float | None = None) -> float | None:
        """Seconds since the job started (to its end when it ended), or None before it started."""
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else (now or time.time())
        return max(0.0, end - self.started)


class Store:
    """The SQLite file of one data folder (created on first use)."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "workspaces").mkdir(exist_ok=True)
        (self.data_dir / "jobs").mkdir(exist_ok=True)
        self.path = self.data_dir / DB_NAME
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    # --- folders (from ids only) ---------------------------------------------------------------

    def workspace_dir(self, wid: str) -> Path:
        """``DATA/workspaces/ID`` of a well-formed id (ValueError otherwise)."""
        if not ID.match(wid):
            raise ValueError(f"not a workspace id: {wid!r}")
        return self.data_dir / "workspaces" / wid

    def job_dir(self, jid: str) -> Path:
        """``DATA/jobs/ID`` of a well-formed id (ValueError otherwise)."""
        if not ID.match(jid):
            raise ValueError(f"not a job id: {jid!r}")
        return self.data_dir / "jobs" / jid

    # --- workspaces ----------------------------------------------------------------------------

    def add_workspace(self, wid: str, name: str, origin: str, entry: str) -> Workspace:
        ws = Workspace(wid, name, origin, entry, time.time())
        with self._db() as db:
            db.execute("INSERT INTO workspaces VALUES (?, ?, ?, ?, ?)", (ws.id, ws.name, ws.origin, ws.entry,
                                                                         ws.created))
        return ws

    def workspace(self, wid: str) -> Workspace | None:
        if not ID.match(wid):
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM workspaces WHERE id = ?", (wid,)).fetchone()
        return Workspace(**dict(row)) if row else None

    def workspaces(self) -> list[Workspace]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM workspaces ORDER BY created DESC").fetchall()
        return [Workspace(**dict(r)) for r in rows]

    def update_workspace(self, wid: str, **values: Any) -> None:
        self._update("workspaces", wid, values, ("name", "origin", "entry"))

    def delete_workspace(self, wid: str) -> list[str] | None:
        """Forget a workspace and its jobs and delete their folders (the app's copy of the instance
        and the jobs' results: files the app wrote; the original the copy came from is never
        touched). Nothing is deleted, and None returned, while one of its jobs is queued or
        running; else the ids of the jobs deleted with it."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # no job of it can be queued between the check and the delete
            try:
                active = db.execute("SELECT COUNT(*) FROM jobs WHERE workspace = ? AND state IN ('queued', "
                                    "'running')", (wid,)).fetchone()[0]
                if active:
                    db.execute("ROLLBACK")
                    return None
                jids = [str(r[0]) for r in db.execute("SELECT id FROM jobs WHERE workspace = ?", (wid,))]
                db.execute("DELETE FROM jobs WHERE workspace = ?", (wid,))
                db.execute("DELETE FROM workspaces WHERE id = ?", (wid,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        for jid in jids:
            shutil.rmtree(self.job_dir(jid), ignore_errors=True)
        shutil.rmtree(self.workspace_dir(wid), ignore_errors=True)
        return jids

    # --- jobs ----------------------------------------------------------------------------------

    def add_job(self, workspace: str, kind: str, title: str, params: dict[str, Any]) -> Job:
        job = Job(new_id(), workspace, kind, title, params, "queued", time.time())
        with self._db() as db:
            db.execute("INSERT INTO jobs (id, workspace, kind, title, params, state, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (job.id, job.workspace, job.kind, job.title, json.dumps(params), job.state, job.created))
        return job

    def job(self, jid: str) -> Job | None:
        if not ID.match(jid):
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (jid,)).fetchone()
        return _job(row) if row else None

    def jobs(self, workspace: str | None = None, states: tuple[str, ...] | None = None) -> list[Job]:
        """Jobs, newest first; only a workspace's, or only in ``states``, when given."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if workspace is not None:
            sql += " AND workspace = ?"
            args.append(workspace)
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args.extend(states)
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY created DESC", args).fetchall()
        return [_job(r) for r in rows]

    def update_job(self, jid: str, **values: Any) -> None:
        """Set columns of a job (``params`` and ``outcome`` as dicts)."""
        for key in ("params", "outcome"):
            if key in values and not isinstance(values[key], str):
                values[key] = json.dumps(values[key])
        if "cancel" in values:
            values["cancel"] = int(bool(values["cancel"]))
        self._update("jobs", jid, values, ("state", "started", "finished", "pid", "proc_start", "exit_code",
                                           "error", "outcome", "cancel", "params", "title"))

    def delete_job(self, jid: str) -> bool:
        """Forget an ended job and delete its folder (its results, written by the app); False, and
        nothing deleted, while it is queued or running."""
        with self._db() as db:
            cur = db.execute("DELETE FROM jobs WHERE id = ? AND state NOT IN ('queued', 'running')", (jid,))
        if cur.rowcount != 1:
            return False
        shutil.rmtree(self.job_dir(jid), ignore_errors=True)
        return True

    def claim(self, jid: str, pid: int, proc_start: float | None) -> bool:
        """Mark a queued job running in process ``pid``; False when it is no longer queued."""
        with self._db() as db:
            cur = db.execute("UPDATE jobs SET state = 'running', started = ?, pid = ?, proc_start = ? "
                             "WHERE id = ? AND state = 'queued'", (time.time(), pid, proc_start, jid))
        return cur.rowcount == 1

    def finish(self, jid: str, state: str, *, exit_code: int | None = None, error: str | None = None,
               outcome: dict[str, Any] | None = None, only_if_active: bool = True) -> bool:
        """Record the end of a job (``state`` done, failed or cancelled); with ``only_if_active``
        nothing changes (False returned) when it already ended."""
        if state not in STATES or state in ACTIVE:
            raise ValueError(f"not an end state: {state!r}")
        sql = "UPDATE jobs SET state = ?, finished = ?, exit_code = ?, error = ?"
        args: list[Any] = [state, time.time(), exit_code, error]
        if outcome is not None:
            sql += ", outcome = ?"
            args.append(json.dumps(outcome))
        sql += " WHERE id = ?"
        args.append(jid)
        if only_if_active:
            sql += " AND state IN ('queued', 'running')"
        with self._db() as db:
            cur = db.execute(sql, args)
        return cur.rowcount == 1

    def _update(self, table: str, key: str, values: dict[str, Any], allowed: tuple[str, ...]) -> None:
        bad = set(values) - set(allowed)
        if bad:
            raise ValueError(f"cannot set {', '.join(sorted(bad))} of {table}")
        if not values:
            return
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._db() as db:
            db.execute(f"UPDATE {table} SET {cols} WHERE id = ?", [*values.values(), key])


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["params"] = json.loads(d["params"] or "{}")
    d["outcome"] = json.loads(d["outcome"] or "{}")
    d["cancel"] = bool(d["cancel"])
    return Job(**d)
