"""The web application of ``network-opt app`` (FastAPI, server-rendered Jinja2 pages).

Routes (ids are the random ids of :mod:`network_opt.app.store`; no route takes a file path):

- ``/``: open a shipped instance, a folder (only when listening on this machine) or an upload; the
  workspaces and the latest jobs;
- ``/w/{id}``: a workspace: its problems (file, row, column, message, each linking to the cell) or
  its overview, sites map, tables per period, scenarios and the forms to run jobs;
- ``/jobs``, ``/jobs/{id}``: the job list and a job's progress (polled from ``/api/jobs/{id}``),
  cancel, and its results: key figures, map, tables, comparison, downloads.

Safety: a token (``--token``, or generated) is required on every request when set, given once as
``?token=`` (then kept in a cookie); on a loopback address requests must name the host as
localhost, 127.0.0.1 or [::1] (no DNS rebinding) and a form posted from another origin is refused;
request bodies above the upload limit are refused (413) while they arrive.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from network_opt.app import jobs as jobs_mod
from network_opt.app import views, workspaces
from network_opt.app.config import AppConfig, is_loopback
from network_opt.app.store import Job, Store
from network_opt.common.errors import InputError, Problem
from network_opt.inputs.scenarios import NAME as SCENARIO_NAME

COOKIE = "network_opt_app_token"
#: Bytes a request may carry beyond the upload limit (the multipart form around the file).
FORM_OVERHEAD = 16 * 1024
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request whose body exceeds ``limit`` bytes is refused with 413, from its
    ``Content-Length`` or as soon as more bytes arrive (nothing beyond the limit is kept)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send, int(length))
            return
        seen = 0
        started = False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except _TooLarge:
            if not started:
                await self._refuse(send, seen)

    async def _refuse(self, send: Send, size: int) -> None:
        text = (f"upload refused: larger than the limit of {self.limit / 2**20:,.0f} MiB "
                f"({size / 2**20:,.1f} MiB or more); start the app with a larger --max-upload-mb").encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(text)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": text})


def _problem_rows(found: list[Problem]) -> list[dict[str, Any]]:
    return [{"file": p.file, "row": p.row, "column": p.column, "message": p.message, "severity": p.severity}
            for p in found]


def create_app(config: AppConfig, *, start_runner: bool = True) -> FastAPI:
    """The application for ``config`` (its data folder is created if missing). With
    ``start_runner`` the job loop starts with the app (queued jobs are started, lost ones marked)."""
    config = config.resolved()
    store = Store(config.data_dir)
    runner = jobs_mod.Runner(store, config.max_jobs, config.poll_s)
    templates = Jinja2Templates(directory=str(resources.files("network_opt.app") / "templates"))
    templates.env.globals.update(fmt=views.fmt, config=config)
    templates.env.filters["when"] = lambda t: "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S",
                                                                                    time.localtime(t))
    templates.env.filters["duration"] = lambda s: "" if s is None else (
        f"{s:,.1f} s" if s < 120 else f"{int(s // 60)} min {int(s % 60):02d} s")

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if start_runner:
            runner.start()
        yield
        runner.stop()

    app = FastAPI(title="network-opt app", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store, app.state.runner, app.state.config = store, runner, config
    app.add_middleware(BodyLimit, limit=config.max_upload_bytes + FORM_OVERHEAD)
    app.mount("/static", StaticFiles(directory=str(resources.files("network_opt.app") / "static")), name="static")

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        host = _hostname(request.headers.get("host") or "")
        if is_loopback(config.host) and host not in LOCAL_NAMES:
            return PlainTextResponse(f"refused: this app answers only to localhost, not to {host!r}", 403)
        if request.method == "POST":
            origin = request.headers.get("origin")
            # "null" too: a sandboxed frame or a file:// page of another site posts with Origin: null
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return PlainTextResponse("refused: a form from another site was posted to this app", 403)
        if config.token:
            given = request.query_params.get("token")
            ok = any(secrets.compare_digest(t, config.token) for t in (
                request.cookies.get(COOKIE) or "", given or "",
                (request.headers.get("authorization") or "").removeprefix("Bearer ")))
            if not ok:
                return PlainTextResponse("a token is required: open the address that `network-opt app` printed "
                                         "(it ends with ?token=...)", 401)
            if given:
                response: Response = RedirectResponse(request.url.remove_query_params("token"), 303)
                response.set_cookie(COOKIE, config.token, httponly=True, samesite="strict")
                return response
        response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self' 'unsafe-inline' data: blob:; frame-ancestors 'self'")
        return response

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def error(request: Request, message: str, status: int = 400, back: str = "/") -> HTMLResponse:
        return page(request, "error.html", status, message=message, back=back)

    def workspace_or_404(wid: str) -> Any:
        ws = store.workspace(wid)
        if ws is None:
            raise _NotFound(f"no workspace {wid}")
        return ws

    def job_or_404(jid: str) -> Job:
        job = store.job(jid)
        if job is None:
            raise _NotFound(f"no job {jid}")
        return job

    @app.exception_handler(_NotFound)
    async def not_found(request: Request, exc: _NotFound) -> HTMLResponse:
        return error(request, str(exc), 404)

    async def save_upload(file: UploadFile) -> Path:
        tmp = Path(tempfile.mkstemp(prefix=".upload-", dir=config.data_dir)[1])
        size = 0
        with open(tmp, "wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > config.max_upload_bytes:
                    out.close()
                    tmp.unlink(missing_ok=True)
                    raise _TooLargeUpload(f"{file.filename}: larger than the upload limit of "
                                                    f"{config.max_upload_bytes / 2**20:,.0f} MiB")
                out.write(chunk)
        return tmp

    # --- home ------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        return page(request, "home.html", shipped=workspaces.shipped_instances(config.instances_dir),
                    workspaces=store.workspaces(), jobs=store.jobs()[:20])

    @app.post("/open/shipped")
    async def open_shipped(request: Request) -> Response:
        form = await request.form()
        try:
            ws = workspaces.open_shipped(store, config.instances_dir, str(form.get("name") or ""))
        except workspaces.WorkspaceError as exc:
            return error(request, str(exc))
        return RedirectResponse(f"/w/{ws.id}", 303)

    @app.post("/open/folder")
    async def open_folder(request: Request) -> Response:
        if not config.allow_folders:
            return error(request, "opening a folder by its path is only possible when the app listens on this "
                         "machine (localhost); upload the instance instead", 403)
        form = await request.form()
        try:
            ws = workspaces.open_folder(store, str(form.get("path") or ""))
        except (workspaces.WorkspaceError, OSError) as exc:
            return error(request, str(exc))
        return RedirectResponse(f"/w/{ws.id}", 303)

    @app.post("/open/upload")
    async def open_upload(request: Request) -> Response:
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return error(request, "choose a file to upload: an .xlsx workbook or a .zip of an instance folder")
        try:
            tmp = await save_upload(file)
            try:
                ws = workspaces.open_upload(store, tmp, file.filename)
            finally:
                tmp.unlink(missing_ok=True)
        except workspaces.WorkspaceError as exc:
            return error(request, str(exc), 413 if isinstance(exc, _TooLargeUpload) else 400)
        return RedirectResponse(f"/w/{ws.id}", 303)

    # --- workspaces ------------------------------------------------------------------------------

    @app.get("/w/{wid}", response_class=HTMLResponse)
    async def workspace(request: Request, wid: str, period: str | None = None) -> HTMLResponse:
        ws = workspace_or_404(wid)
        chosen = int(period) if period and period.strip().isdigit() else None  # else the first period, not a 422
        found = workspaces.problems(store, ws)
        errors = [p for p in found if p.severity == "error"]
        ov = None
        if not errors:
            try:
                ov = workspaces.overview(workspaces.load_instance(store, ws))
            except InputError as exc:  # the feasibility pre-check of load() (validate reports it too)
                errors = [workspaces.ProblemRow(p.file, p.row, p.column, p.message, p.severity, None)
                          for p in exc.problems]
        year = chosen if ov is not None and chosen in ov.years else (ov.years[0] if ov else None)
        return page(request, "workspace.html", ws=ws, problems=found, errors=errors, ov=ov, year=year,
                    scenarios=["base", *[name for name, _, _ in ov.scenarios]] if ov else ["base"],
                    jobs=store.jobs(workspace=ws.id), operations=workspaces.FORM_OPERATIONS,
                    scenario_problems=[], form={}, created=request.query_params.get("created"),
                    deleted=request.query_params.get("deleted"))

    @app.get("/w/{wid}/source", response_class=HTMLResponse)
    async def source(request: Request, wid: str, file: str, row: int = 1, col: str = "") -> HTMLResponse:
        ws = workspace_or_404(wid)
        try:
            view = workspaces.source_view(store, ws, file, row, col)
        except workspaces.WorkspaceError as exc:
            return error(request, str(exc), 404, back=f"/w/{wid}")
        return page(request, "source.html", ws=ws, view=view, col=col)

    @app.get("/w/{wid}/map", response_class=HTMLResponse)
    async def instance_map(request: Request, wid: str) -> HTMLResponse:
        ws = workspace_or_404(wid)
        try:
            inst = workspaces.load_instance(store, ws)
        except InputError:
            return error(request, "the instance has errors; fix them to see its map", back=f"/w/{wid}")
        return HTMLResponse(views.instance_map(inst))

    @app.get("/w/{wid}/download")
    async def download_instance(wid: str) -> Response:
        ws = workspace_or_404(wid)
        folder = store.workspace_dir(ws.id)
        path = workspaces.download_instance(store, ws, folder / ".download.zip")
        name = path.name if path.suffix == ".xlsx" else f"{workspaces._safe_filename(ws.name, '.zip')}"
        return FileResponse(path, filename=name)

    @app.post("/w/{wid}/replace")
    async def replace(request: Request, wid: str) -> Response:
        ws = workspace_or_404(wid)
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return error(request, "choose the corrected file to upload", back=f"/w/{wid}")
        try:
            tmp = await save_upload(file)
            try:
                workspaces.replace_instance(store, ws, tmp, file.filename)
            finally:
                tmp.unlink(missing_ok=True)
        except workspaces.WorkspaceError as exc:
            return error(request, str(exc), 413 if isinstance(exc, _TooLargeUpload) else 400, back=f"/w/{wid}")
        return RedirectResponse(f"/w/{wid}", 303)

    @app.post("/w/{wid}/scenario")
    async def scenario(request: Request, wid: str) -> Response:
        ws = workspace_or_404(wid)
        form = await request.form()
        ops, keys, values = form.getlist("op"), form.getlist("key"), form.getlist("value")
        name = str(form.get("name") or "").strip()
        problems: list[Problem] = []
        overrides = []
        for i, (op, key, value) in enumerate(zip(ops, keys, values, strict=False)):
            if not str(op) or (not str(key).strip() and not str(value).strip()):
                continue
            try:
                overrides.append(workspaces.build_override(str(op), str(key), str(value)))
            except workspaces.WorkspaceError as exc:
                problems.append(Problem("scenario", i + 1, "change", str(exc)))
        description, extends = str(form.get("description") or ""), str(form.get("extends") or "")
        if form.get("action") == "download" and name and not SCENARIO_NAME.match(name):  # as a saved one
            problems.append(Problem("scenario", 0, "name", f"{name!r}: expected 1 to 64 letters, digits, - or _"))
        if form.get("action") == "download" and not problems:
            body = workspaces._scenario_body(description, extends, overrides)
            file = workspaces._safe_filename(name or "scenario", ".yaml")
            return PlainTextResponse(workspaces.scenario_yaml(name or "my-scenario", body),
                                     headers={"content-disposition": f'attachment; filename="{file}"'})
        if not problems:
            try:
                problems = workspaces.add_scenario(store, ws, name, description, extends, overrides)
            except InputError:
                return error(request, "the instance has errors; fix them before adding scenarios", back=f"/w/{wid}")
            except workspaces.WorkspaceError as exc:
                return error(request, str(exc), back=f"/w/{wid}")
        if not problems:
            return RedirectResponse(f"/w/{wid}?created={name}#scenarios", 303)
        ov = workspaces.overview(workspaces.load_instance(store, ws))
        return page(request, "workspace.html", 400, ws=ws, problems=[], errors=[], ov=ov, year=ov.years[0],
                    scenarios=workspaces.scenario_names(store, ws), jobs=store.jobs(workspace=ws.id),
                    operations=workspaces.FORM_OPERATIONS, scenario_problems=_problem_rows(problems),
                    form={"name": name, "description": description, "extends": extends,
                          "rows": list(zip(ops, keys, values, strict=False))})

    @app.post("/w/{wid}/scenario/delete")
    async def delete_scenario(request: Request, wid: str) -> Response:
        ws = workspace_or_404(wid)
        name = str((await request.form()).get("name") or "")
        try:
            workspaces.delete_scenario(store, ws, name)
        except (workspaces.WorkspaceError, OSError) as exc:
            return error(request, str(exc), back=f"/w/{wid}#scenarios")
        return RedirectResponse(f"/w/{wid}?deleted={quote(name)}#scenarios", 303)

    @app.post("/w/{wid}/periods")
    async def periods(request: Request, wid: str) -> Response:
        ws = workspace_or_404(wid)
        form = await request.form()
        try:
            copy = workspaces.copy_with_periods(store, ws, str(form.get("periods") or ""))
        except workspaces.WorkspaceError as exc:
            return error(request, str(exc), back=f"/w/{wid}")
        return RedirectResponse(f"/w/{copy.id}", 303)

    @app.post("/w/{wid}/run")
    async def run(request: Request, wid: str) -> Response:
        ws = workspace_or_404(wid)
        form = await request.form()
        kind = str(form.get("kind") or "")
        raw: dict[str, Any] = {k: form.get(k) for k in ("time_limit", "mip_gap", "scenario", "cost_of_compliance",
                                                        "vary", "samples", "seed", "soft_targets")}
        raw["scenarios"] = form.getlist("scenarios")
        if any(p.severity == "error" for p in workspaces.problems(store, ws)):
            return error(request, "the instance has errors; fix them before running it", back=f"/w/{wid}")
        try:
            params = jobs_mod.check_params(kind, raw, workspaces.scenario_names(store, ws))
        except jobs_mod.JobError as exc:
            return error(request, str(exc), back=f"/w/{wid}")
        job = runner.submit(ws, workspaces.instance_path(store, ws), kind, params)
        return RedirectResponse(f"/jobs/{job.id}", 303)

    @app.post("/w/{wid}/delete")
    async def delete_workspace(request: Request, wid: str) -> Response:
        ws = workspace_or_404(wid)
        running = [j for j in store.jobs(workspace=ws.id) if await still_running(j)]
        if running or store.delete_workspace(ws.id) is None:
            return error(request, "a job of this instance is still queued or running: cancel it first, then "
                         "delete the instance", 409, back=f"/w/{ws.id}")
        return RedirectResponse("/", 303)

    # --- jobs ------------------------------------------------------------------------------------

    @app.get("/jobs", response_class=HTMLResponse)
    async def job_list(request: Request) -> HTMLResponse:
        return page(request, "jobs.html", jobs=store.jobs())

    @app.get("/api/jobs")
    async def api_jobs() -> JSONResponse:
        return JSONResponse([{"id": j.id, "title": j.title, "kind": j.kind, "state": j.state,
                              "created": j.created, "elapsed": j.elapsed(), "outcome": j.outcome}
                             for j in store.jobs()])

    @app.get("/api/jobs/{jid}")
    async def api_job(jid: str) -> JSONResponse:
        job = job_or_404(jid)
        return JSONResponse(jobs_mod.read_progress(job, store.job_dir(jid)).as_dict())

    @app.post("/jobs/{jid}/cancel")
    async def cancel(jid: str) -> Response:
        job_or_404(jid)
        runner.cancel(jid)
        return RedirectResponse(f"/jobs/{jid}", 303)

    async def still_running(job: Job) -> bool:
        """Whether ``job`` is queued or running. A job that has ended may keep its process for a
        moment (the worker records its end, then exits): that is waited for, up to 3 s."""
        if job.active:
            return True
        for _ in range(30):
            if not jobs_mod.is_job_process(job.pid, job.id):
                return False
            await asyncio.sleep(0.1)
        return True

    @app.post("/jobs/{jid}/delete")
    async def delete_job(request: Request, jid: str) -> Response:
        job = job_or_404(jid)
        if await still_running(job) or not store.delete_job(jid):
            return error(request, "this job is still queued or running: cancel it first, then delete it", 409,
                         back=f"/jobs/{jid}")
        return RedirectResponse("/jobs", 303)

    @app.get("/jobs/{jid}", response_class=HTMLResponse)
    async def job_page(request: Request, jid: str, scenario: str | None = None) -> HTMLResponse:
        job = job_or_404(jid)
        folder = store.job_dir(jid)
        results = folder / jobs_mod.RESULTS
        runs = views.run_folders(results) if job.kind != "solve" else []
        plan_dir, plan_name = results, None
        if scenario is not None:
            if scenario not in runs:
                return error(request, f"no results of {scenario!r} in this job", 404, back=f"/jobs/{jid}")
            plan_dir, plan_name = results / scenario, scenario
        show_plan = job.kind == "solve" or plan_name is not None
        comp, diff = views.comparison(results) if job.kind == "compare" and plan_name is None else (None, None)
        ws = store.workspace(job.workspace)
        return page(
            request, "job.html", job=job, ws=ws, progress=jobs_mod.read_progress(job, folder),
            plan_name=plan_name, runs=runs, show_plan=show_plan,
            figures=views.key_figures(plan_dir) if show_plan else [],
            tables=views.result_tables(plan_dir) if show_plan else [],
            downloads=sorted(n for n in views.RESULT_DOWNLOADS if (plan_dir / n).is_file()) if show_plan else [],
            run_downloads=sorted(n for n in views.RUNS_DOWNLOADS if (results / n).is_file()),
            charts=[c for c in views.JOB_CHARTS if (folder / "charts" / c).is_file()] if job.kind == "solve" else [],
            has_map=(folder / "map.html").is_file() if plan_name is None else (folder / "maps" / f"{plan_name}.html")
            .is_file(), comparison=comp, diff=diff,
            sweep=views.sweep_table(results) if job.kind == "sweep" and plan_name is None else None,
            plan_status=views.summary(plan_dir).get("status") if plan_name is not None else None,
            command=(folder / "command.txt").read_text(encoding="utf-8").strip()
            if (folder / "command.txt").is_file() else "")

    @app.get("/jobs/{jid}/map", response_class=HTMLResponse)
    async def job_map(jid: str, scenario: str | None = None) -> Response:
        job_or_404(jid)
        folder = store.job_dir(jid)
        if scenario is None:
            path = folder / "map.html"
        elif scenario in views.run_folders(folder / jobs_mod.RESULTS):
            path = folder / "maps" / f"{scenario}.html"
        else:
            raise _NotFound(f"no map of {scenario!r} in this job")
        if not path.is_file():
            raise _NotFound("no map: the job has no plan (yet)")
        return FileResponse(path, media_type="text/html")

    @app.get("/jobs/{jid}/chart/{name}")
    async def job_chart(jid: str, name: str) -> Response:
        job_or_404(jid)
        path = store.job_dir(jid) / "charts" / name
        if name not in views.JOB_CHARTS or not path.is_file():
            raise _NotFound(f"no chart {name!r}")
        return FileResponse(path, media_type="image/png")

    @app.get("/jobs/{jid}/download/{name}")
    async def job_download(jid: str, name: str, scenario: str | None = None) -> Response:
        job_or_404(jid)
        results = store.job_dir(jid) / jobs_mod.RESULTS
        if scenario is not None:
            if scenario not in views.run_folders(results):
                raise _NotFound(f"no results of {scenario!r} in this job")
            results = results / scenario
            allowed = views.RESULT_DOWNLOADS
        else:
            allowed = views.RESULT_DOWNLOADS | views.RUNS_DOWNLOADS
        path = results / name
        if name not in allowed or not path.is_file():
            raise _NotFound(f"no file {name!r} in this job's results")
        prefix = f"{scenario}-" if scenario else ""
        return FileResponse(path, filename=f"{prefix}{name}")

    @app.get("/jobs/{jid}/log")
    async def job_log(jid: str) -> Response:
        job = job_or_404(jid)
        folder = store.job_dir(jid)
        path = folder / (jobs_mod.LOG if job.kind == "solve" else jobs_mod.ERR)
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        return PlainTextResponse(text)

    return app


class _NotFound(Exception):
    pass


class _TooLargeUpload(workspaces.WorkspaceError):
    pass


def _hostname(header: str) -> str:
    """The host name of a ``Host`` header (``[::1]:8050`` -> ``::1``, ``localhost:8050`` -> ``localhost``)."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def address(config: AppConfig) -> str:
    """The address to open in a browser (with ``?token=`` when the app has a token); an app listening
    on every interface is shown at the loopback address."""
    shown = f"[{config.host}]" if ":" in config.host else config.host
    if config.host in ("0.0.0.0", "::"):
        shown = "127.0.0.1" if config.host == "0.0.0.0" else "[::1]"
    return f"http://{shown}:{config.port}/" + (f"?token={config.token}" if config.token else "")


def check_listen(host: str, port: int) -> None:
    """Raise OSError when ``host:port`` cannot be listened on (in use, no such address, not allowed)."""
    import socket

    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(sockaddr)


def serve(config: AppConfig) -> None:
    """Run the app with uvicorn until stopped (Ctrl-C). Jobs still running go on in their own
    processes and are found again by the next start on the same data folder. ``config`` should be
    :meth:`~network_opt.app.config.AppConfig.resolved` (the token shown to the user)."""
    import uvicorn

    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
