"""The app's web API with FastAPI's TestClient: uploads checked like any instance, the token, the
host and origin checks, upload limits, files reachable only through ids, scenarios written as
overrides, and jobs as child processes (a toy solve, a cancel, a crash that loses nothing else)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import stat
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx
    from fastapi.testclient import TestClient

from network_opt.app.config import AppConfig
from network_opt.app.server import create_app

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "instances" / "toy"
LOCAL = "http://127.0.0.1:8050"


def client_for(data: Path, **options: Any) -> TestClient:
    config = AppConfig(data_dir=data, instances_dir=ROOT / "instances", poll_s=0.2, **options)
    return TestClient(create_app(config), base_url=LOCAL)


def wait_for(client: TestClient, jid: str, states: tuple[str, ...], limit_s: float = 240) -> dict[str, Any]:
    """Poll the job until it is in one of ``states`` (a bound on the wait, not an assertion on time)."""
    deadline = time.monotonic() + limit_s
    while True:
        p = client.get(f"/api/jobs/{jid}").json()
        if p["state"] in states or time.monotonic() > deadline:
            return p
        time.sleep(0.2)


def open_toy(client: TestClient) -> str:
    r = client.post("/open/shipped", data={"name": "toy"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def zip_of(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def toy_zip(**changes: bytes) -> bytes:
    files = {f"toy/{p.name}": p.read_bytes() for p in TOY.iterdir() if p.is_file()}
    files.update({f"toy/{k}": v for k, v in changes.items()})
    return zip_of(files)


def upload(client: TestClient, name: str, data: bytes, url: str = "/open/upload") -> Any:
    return client.post(url, files={"file": (name, data)}, follow_redirects=True)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path / "data") as c:
        yield c


# --- uploads are checked like any instance ------------------------------------------------------


def test_uploaded_zip_with_escaping_manifest_path_is_a_problem_row(client: TestClient) -> None:
    """instance.yaml naming a table outside the folder: the loader's containment check reports it
    (file, row, column) and nothing outside is read."""
    manifest = (TOY / "instance.yaml").read_text().replace("sites: sites.csv", "sites: ../../../../etc/passwd")
    r = upload(client, "toy.zip", toy_zip(**{"instance.yaml": manifest.encode()}))
    assert r.status_code == 200
    assert "leads outside the instance folder" in r.text and "tables.sites" in r.text
    assert 'id="run"' not in r.text  # nothing can be solved


def test_yaml_tags_are_not_executed(client: TestClient, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    manifest = (TOY / "instance.yaml").read_text().replace(
        "name: toy", f"name: !!python/object/apply:os.system ['touch {marker}']")
    r = upload(client, "toy.zip", toy_zip(**{"instance.yaml": manifest.encode()}))
    assert r.status_code == 200 and "problem" in r.text
    assert not marker.exists()


def test_workbook_formulas_are_not_evaluated(client: TestClient, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from network_opt.inputs.convert import convert

    convert(TOY, "xlsx", tmp_path / "toy.xlsx")
    wb = load_workbook(tmp_path / "toy.xlsx")
    wb["supply"]["D3"] = "=D2*2"  # saved by openpyxl without a computed value
    wb.save(tmp_path / "formula.xlsx")
    r = upload(client, "formula.xlsx", (tmp_path / "formula.xlsx").read_bytes())
    assert r.status_code == 200
    text = re.sub(r"\s+", " ", r.text)
    assert "formula.xlsx[supply]" in text and "formula" in text.lower()
    assert re.search(r"<td class=\"num\">3</td><td>D</td>", text), "the problem names row 3, column D"


@pytest.mark.parametrize("members,links,message", [
    ({"toy/instance.yaml": b"name: x", "../evil.csv": b"x"}, None, "outside the folder"),
    ({"/etc/evil.csv": b"x"}, None, "outside the folder"),
    ({"toy/instance.yaml": b"name: x"}, {"toy/sites.csv": "/etc/passwd"}, "is a link"),
    ({"toy/bomb.csv": b"0" * (4 * 2**20)}, None, "zip bomb"),
    ({"readme.txt": b"hello"}, None, "no instance.yaml"),
])
def test_unsafe_or_empty_zips_are_refused(client: TestClient, tmp_path: Path, members: dict[str, bytes],
                                          links: dict[str, str] | None, message: str) -> None:
    r = upload(client, "x.zip", zip_of(members, links))
    assert r.status_code == 400 and message in r.text
    assert not list((tmp_path / "data" / "workspaces").iterdir()), "nothing is kept of a refused upload"
    assert not (tmp_path / "evil.csv").exists()


def test_other_files_are_refused(client: TestClient) -> None:
    r = upload(client, "toy.csv", b"a,b\n")
    assert r.status_code == 400 and "expected an .xlsx workbook or a .zip" in r.text


def test_upload_size_limit(tmp_path: Path) -> None:
    """Refused from Content-Length by the body limit, or while the file is saved (its own limit)."""
    with client_for(tmp_path / "data", max_upload_bytes=10_000) as c:
        r = c.post("/open/upload", files={"file": ("big.xlsx", b"x" * 200_000)})
        assert r.status_code == 413 and "larger than the limit of" in r.text
        r = c.post("/open/upload", files={"file": ("big.xlsx", b"x" * 12_000)})  # within the form's margin
        assert r.status_code == 413 and "larger than the upload limit" in r.text
        assert not list((tmp_path / "data" / "workspaces").iterdir())
        assert not list((tmp_path / "data").glob(".upload-*"))


# --- who may talk to the app --------------------------------------------------------------------


def test_token_required_beyond_localhost(tmp_path: Path) -> None:
    """--host 0.0.0.0 without --token: a token is generated; requests without it are refused, the
    link with ?token= sets a cookie; opening folders by path is switched off there."""
    app = create_app(AppConfig(data_dir=tmp_path / "data", host="0.0.0.0", instances_dir=ROOT / "instances"),
                     start_runner=False)
    token = app.state.config.token
    assert token and len(token) >= 24 and not app.state.config.allow_folders
    with TestClient(app, base_url="http://192.0.2.10:8050") as c:
        assert c.get("/").status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get(f"/?token={token}", follow_redirects=False)
        assert r.status_code == 303 and "token" not in r.headers["location"]
        assert c.get("/").status_code == 200  # the cookie now
        assert c.post("/open/folder", data={"path": str(TOY)}).status_code == 403
    with TestClient(app, base_url="http://192.0.2.10:8050") as c:
        assert c.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_localhost_app_refuses_other_host_names_and_foreign_forms(client: TestClient) -> None:
    assert client.get("/", headers={"host": "attacker.example:8050"}).status_code == 403  # DNS rebinding
    assert client.get("/", headers={"host": "localhost:8050"}).status_code == 200
    r = client.post("/open/shipped", data={"name": "toy"}, headers={"origin": "http://attacker.example"})
    assert r.status_code == 403
    # a sandboxed frame of another site posts with Origin: null: refused as well
    r = client.post("/open/shipped", data={"name": "toy"}, headers={"origin": "null"})
    assert r.status_code == 403
    assert client.get("/jobs").status_code == 200


def test_files_are_reached_only_through_ids(client: TestClient, tmp_path: Path) -> None:
    ws = open_toy(client)
    for url in ["/w/../../app.sqlite", "/w/0123/source?file=x", f"{ws}/source?file=../../app.sqlite",
                f"{ws}/source?file=/etc/passwd", "/jobs/" + "0" * 32, "/jobs/" + "0" * 32 + "/download/results.xlsx",
                "/jobs/..%2F..%2Fapp.sqlite/map"]:
        r = client.get(url)
        assert r.status_code == 404, url
        assert "SQLite" not in r.text and "root:" not in r.text


# --- scenarios ----------------------------------------------------------------------------------


def test_scenario_is_written_into_the_copy_as_overrides(client: TestClient, tmp_path: Path) -> None:
    """The shipped folder is never touched; the workspace's instance.yaml gets the scenario (and keeps
    its comments); an override that names nothing is refused with its problem and nothing written."""
    before = (TOY / "instance.yaml").read_text()
    ws = open_toy(client)
    wid = ws.rsplit("/", 1)[1]
    manifest = tmp_path / "data" / "workspaces" / wid / "instance" / "instance.yaml"
    r = client.post(f"{ws}/scenario", data={"name": "bad", "op": ["close"], "key": ["NO-SUCH"], "value": [""]})
    assert r.status_code == 400 and "NO-SUCH" in r.text
    assert manifest.read_text() == before
    r = client.post(f"{ws}/scenario", data={"name": "no-ref", "description": "no refurbisher", "op": ["close", "set"],
                                           "key": ["REF-EAST", "targets[TOY,material_recovery,Li,2025].value"],
                                           "value": ["", "0.6"]}, follow_redirects=False)
    assert r.status_code == 303
    text = manifest.read_text()
    assert text.startswith(before) and "# A toy instance small enough" in text
    assert yaml.safe_load(text)["scenarios"]["no-ref"] == {
        "description": "no refurbisher",
        "overrides": [{"close": "REF-EAST"}, {"set": "targets[TOY,material_recovery,Li,2025].value", "value": 0.6}]}
    assert (TOY / "instance.yaml").read_text() == before
    r = client.post(f"{ws}/scenario", data={"name": "no-ref", "op": ["close"], "key": ["REF-EAST"], "value": [""]})
    assert r.status_code == 400 and "exists already" in r.text
    # downloadable instead of written
    r = client.post(f"{ws}/scenario", data={"name": "li", "action": "download", "op": ["scale"],
                                           "key": ["material_prices[Li].price_per_t"], "value": ["0.5"]})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert yaml.safe_load(r.text) == {"scenarios": {"li": {"overrides": [
        {"scale": "material_prices[Li].price_per_t", "by": 0.5}]}}}
    assert "li:" not in manifest.read_text()
    r = client.post(f"{ws}/scenario", data={"name": "../../x", "action": "download", "op": ["scale"],
                                           "key": ["material_prices[Li].price_per_t"], "value": ["0.5"]})
    assert r.status_code == 400 and "expected 1 to 64 letters" in r.text  # downloaded names are checked too
    page = client.get(ws).text
    assert "no-ref" in page
    assert 'id="created"' in client.get(f"{ws}?created=no-ref").text  # said after saving
    assert 'id="created"' not in client.get(f"{ws}?created=nope").text  # only a scenario that exists


def test_replace_keeps_the_scenarios_made_in_the_app(client: TestClient, tmp_path: Path) -> None:
    """A corrected upload replaces the copy; a scenario saved in the app that the upload lacks is
    added to it (and named on the page), one the upload has keeps the upload's version."""
    ws = open_toy(client)
    wid = ws.rsplit("/", 1)[1]
    r = client.post(f"{ws}/scenario", data={"name": "closed-ref", "op": ["close"], "key": ["REF-EAST"],
                                           "value": [""]}, follow_redirects=False)
    assert r.status_code == 303
    corrected = (TOY / "instance.yaml").read_text().replace("name:", "name: corrected", 1)
    r = upload(client, "toy.zip", toy_zip(**{"instance.yaml": corrected.encode()}), url=f"{ws}/replace")
    assert r.status_code == 200, r.text
    manifest = tmp_path / "data" / "workspaces" / wid / "instance" / "instance.yaml"
    replaced = yaml.safe_load(manifest.read_text())
    assert replaced["name"] == "corrected toy"  # the upload's
    assert replaced["scenarios"]["closed-ref"] == {"overrides": [{"close": "REF-EAST"}]}
    assert "scenarios kept from before: closed-ref" in r.text


def test_scenario_in_a_workbook(client: TestClient, tmp_path: Path) -> None:
    from network_opt.inputs.convert import convert
    from network_opt.inputs.load import load
    from network_opt.inputs.scenarios import read_scenarios

    convert(TOY, "xlsx", tmp_path / "toy.xlsx")
    r = upload(client, "toy.xlsx", (tmp_path / "toy.xlsx").read_bytes())
    ws = "/w/" + r.url.path.rsplit("/", 1)[1]
    r = client.post(f"{ws}/scenario", data={"name": "no-ref", "op": ["close"], "key": ["REF-EAST"], "value": [""]},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    book = next((tmp_path / "data" / "workspaces").glob("*/toy.xlsx"))
    assert [(o.op, o.target) for o in read_scenarios(load(book))["no-ref"].overrides] == [("close", "REF-EAST")]
    r = client.get(f"{ws}/download")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = client.post(f"{ws}/scenario/delete", data={"name": "no-ref"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "no-ref" not in read_scenarios(load(book))


def test_a_scenario_is_deleted_from_the_copy(client: TestClient, tmp_path: Path) -> None:
    """A scenario another builds on is refused; deleting the scenarios the app added gives back the
    copy's instance.yaml byte for byte; in an instance written by hand (toy-scenarios) one
    scenario goes and the others, with their comments, stay."""
    before = (TOY / "instance.yaml").read_text()
    ws = open_toy(client)
    manifest = tmp_path / "data" / "workspaces" / ws.rsplit("/", 1)[1] / "instance" / "instance.yaml"
    for name, extends in (("a", ""), ("b", "a")):
        r = client.post(f"{ws}/scenario", data={"name": name, "extends": extends, "op": ["scale"],
                                               "key": ["material_prices[Li].price_per_t"], "value": ["0.9"]},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
    r = client.post(f"{ws}/scenario/delete", data={"name": "a"})
    assert r.status_code == 400 and "b builds on it" in r.text
    assert client.post(f"{ws}/scenario/delete", data={"name": "nope"}).status_code == 400
    r = client.post(f"{ws}/scenario/delete", data={"name": "b"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?deleted=b#scenarios")
    assert list(yaml.safe_load(manifest.read_text())["scenarios"]) == ["a"]
    assert 'id="deleted"' in client.get(f"{ws}?deleted=b").text
    assert client.post(f"{ws}/scenario/delete", data={"name": "a"}, follow_redirects=False).status_code == 303
    assert manifest.read_text() == before

    shipped = ROOT / "instances" / "toy-scenarios" / "instance.yaml"
    shipped_text = shipped.read_text()
    ws = client.post("/open/shipped", data={"name": "toy-scenarios"}, follow_redirects=False).headers["location"]
    manifest = tmp_path / "data" / "workspaces" / ws.rsplit("/", 1)[1] / "instance" / "instance.yaml"
    original = yaml.safe_load(shipped.read_text())
    victim = next(n for n, b in original["scenarios"].items()
                  if not any(o.get("extends") == n for o in original["scenarios"].values()))
    assert client.post(f"{ws}/scenario/delete", data={"name": victim}, follow_redirects=False).status_code == 303
    after = yaml.safe_load(manifest.read_text())
    assert after == {**original, "scenarios": {n: b for n, b in original["scenarios"].items() if n != victim}}
    kept = [ln for ln in shipped.read_text().splitlines() if ln.lstrip().startswith("#")]
    assert all(ln in manifest.read_text() for ln in kept if victim not in ln)
    assert shipped.read_text() == shipped_text  # the shipped original is never written


# --- jobs ---------------------------------------------------------------------------------------


def test_solve_cancel_and_crash(client: TestClient, tmp_path: Path) -> None:
    """A toy solve ends ``done`` with the CLI's objective and its files; a long solve cancelled ends
    ``cancelled``; a job whose processes are killed ends ``failed`` with the reason, and the finished
    job, its files and the workspace are untouched."""
    ws = open_toy(client)
    r = client.post(f"{ws}/run", data={"kind": "solve", "scenario": "base"}, follow_redirects=False)
    assert r.status_code == 303
    toy_job = r.headers["location"].rsplit("/", 1)[1]
    p = wait_for(client, toy_job, ("done", "failed", "cancelled"))
    assert p["state"] == "done", p
    assert p["outcome"]["objective"] == pytest.approx(-1_790_500.0)  # instances/toy/README.md
    assert p["log"][0].endswith("loading and validating the instance")
    assert client.get(f"/jobs/{toy_job}/download/results.xlsx").status_code == 200
    assert client.get(f"/jobs/{toy_job}/download/network.gpkg").status_code == 200
    assert client.get(f"/jobs/{toy_job}/map").text.startswith("<!")
    assert client.get(f"/jobs/{toy_job}/chart/costs.png").headers["content-type"] == "image/png"
    for name in ("app.sqlite", "../../app.sqlite", "cli.err", "progress.log"):
        assert client.get(f"/jobs/{toy_job}/download/{name}").status_code == 404, name
    page = client.get(f"/jobs/{toy_job}").text
    assert "-1,790,500 EUR" in page and "shadow_price" in page
    results = tmp_path / "data" / "jobs" / toy_job / "results"
    files = sorted(p.name for p in results.iterdir())

    big = client.post("/open/shipped", data={"name": "china-2025-2032"}, follow_redirects=False).headers["location"]
    jids = []
    for _ in range(2):
        r = client.post(f"{big}/run", data={"kind": "solve", "scenario": "base"}, follow_redirects=False)
        jids.append(r.headers["location"].rsplit("/", 1)[1])
    cancelled, crashed = jids
    assert wait_for(client, cancelled, ("running",))["state"] == "running"
    assert client.post(f"/jobs/{cancelled}/cancel", follow_redirects=False).status_code == 303
    p = wait_for(client, cancelled, ("done", "failed", "cancelled"))
    assert p["state"] == "cancelled", p
    assert wait_for(client, crashed, ("running",))["state"] == "running"
    job = client.app.state.store.job(crashed)  # type: ignore[attr-defined]
    while not job.pid:  # the pid is recorded right after the process starts
        time.sleep(0.05)
        job = client.app.state.store.job(crashed)  # type: ignore[attr-defined]
    os.killpg(job.pid, signal.SIGKILL)
    p = wait_for(client, crashed, ("done", "failed", "cancelled"))
    assert p["state"] == "failed" and "killed by SIGKILL" in (p["error"] or ""), p

    again = client.get(f"/api/jobs/{toy_job}").json()
    assert again["state"] == "done" and again["outcome"]["objective"] == pytest.approx(-1_790_500.0)
    assert sorted(p.name for p in results.iterdir()) == files
    assert client.get(ws).status_code == 200
    listed = {j["id"]: j["state"] for j in client.get("/api/jobs").json()}
    assert listed == {toy_job: "done", cancelled: "cancelled", crashed: "failed"}


def test_jobs_survive_a_restart(tmp_path: Path) -> None:
    """A job queued when the app stopped is run by the next app on the same data folder; the job list
    is the same."""
    data = tmp_path / "data"
    with client_for(data) as first:
        ws = open_toy(first)
        first.app.state.runner.stop()  # type: ignore[attr-defined]  # no job starts in this app
        r = first.post(f"{ws}/run", data={"kind": "solve", "scenario": "base"}, follow_redirects=False)
        jid = r.headers["location"].rsplit("/", 1)[1]
        assert first.get(f"/api/jobs/{jid}").json()["state"] == "queued"
    with client_for(data) as second:
        assert [j["id"] for j in second.get("/api/jobs").json()] == [jid]
        p = wait_for(second, jid, ("done", "failed", "cancelled"))
        assert p["state"] == "done", p
        summary = json.loads((data / "jobs" / jid / "results" / "summary.json").read_text())
        assert summary["objective"] == pytest.approx(-1_790_500.0)
    shutil.rmtree(data / "jobs" / jid / "instance")


def test_sweep_job(client: TestClient) -> None:
    """A sweep over two values of the toy's lithium target: two points, sweep.csv, its chart."""
    r = client.post("/open/shipped", data={"name": "toy-scenarios"}, follow_redirects=False)
    ws = r.headers["location"]
    r = client.post(f"{ws}/run", data={"kind": "sweep", "scenario": "base",
                                       "vary": "targets[TOY,material_recovery,Li,2025].value=0.5,0.6"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    jid = r.headers["location"].rsplit("/", 1)[1]
    p = wait_for(client, jid, ("done", "failed", "cancelled"))
    assert p["state"] == "done", p
    assert (p["runs_done"], p["runs_total"]) == (2, 2)
    assert p["outcome"]["points"] == 2
    page = client.get(f"/jobs/{jid}").text
    assert "data-table=\"sweep\"" in page and "sweep.png" in page
    assert client.get(f"/jobs/{jid}/download/sweep.csv").status_code == 200
    bad = client.post(f"{ws}/run", data={"kind": "sweep", "scenario": "base"})
    assert bad.status_code == 400 and "either a parameter to vary" in bad.text


def test_copy_with_other_periods(client: TestClient, tmp_path: Path) -> None:
    """China 2025-2032 in five investment periods operated yearly -> a new instance with 2025 and
    2027 (two years long, mean year): the rows of the other years are left out of the tables keyed
    by period, the copy is valid, and the original workspace is unchanged."""
    from network_opt.inputs.load import load

    ws = client.post("/open/shipped", data={"name": "china-2025-2032"}, follow_redirects=False).headers["location"]
    assert "[2025, 2026, {year: 2027, length: 2, operations: yearly}" in client.get(ws).text
    r = client.post(f"{ws}/periods", data={"periods": "[2025, {year: 2027, length: 2}]"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert 'id="valid"' in page and "periods 2025, 2027" in page
    new = tmp_path / "data" / "workspaces" / r.headers["location"].rsplit("/", 1)[1] / "instance"
    inst = load(new)
    assert inst.years == [2025, 2027] and [p.length for p in inst.periods] == [1, 2]
    assert set(inst["supply"]["period"]) == {2025, 2027}
    old = load(tmp_path / "data" / "workspaces" / ws.rsplit("/", 1)[1] / "instance")
    assert old.years == list(range(2025, 2033))
    # a copy that keeps 2027-28 operated yearly keeps the rows of both years
    r = client.post(f"{ws}/periods", data={"periods": "[2025, {year: 2027, length: 2, operations: yearly}]"},
                    follow_redirects=False)
    assert r.status_code == 303
    new = tmp_path / "data" / "workspaces" / r.headers["location"].rsplit("/", 1)[1] / "instance"
    assert set(load(new)["supply"]["period"]) == {2025, 2027, 2028}
    for bad, message in [("2025", "expected a list"), ("[x]", "is not a year"), ("[2025", "not valid YAML"),
                         ("[-5]", "not a plausible year"), ("[2025, 2025]", "given twice"),
                         ("[{year: 2025, length: -1}]", "length must be a whole number of years")]:
        r = client.post(f"{ws}/periods", data={"periods": bad})
        assert r.status_code == 400 and message in r.text, bad


def test_folder_problems_link_to_their_csv_cell(client: TestClient, tmp_path: Path) -> None:
    """A folder opened by its path (copied: the original is never written to): a bad number in
    supply.csv is reported as supply.csv, row 5, column tonnes, and its link shows that cell."""
    folder = shutil.copytree(TOY, tmp_path / "mine")
    lines = (folder / "supply.csv").read_text().splitlines()
    lines[4] = lines[4].replace(",200,", ",lots,")
    (folder / "supply.csv").write_text("\n".join(lines) + "\n")
    before = (folder / "supply.csv").read_text()
    r = client.post("/open/folder", data={"path": str(folder)}, follow_redirects=True)
    assert r.status_code == 200
    link = re.search(r'href="(/w/[0-9a-f]+/source\?file=supply\.csv&amp;row=5&amp;col=tonnes)#hit"', r.text)
    assert link, r.text
    assert "expected a number (t/yr), got &#39;lots&#39;" in r.text
    src = client.get(link.group(1).replace("&amp;", "&")).text
    assert re.search(r'<td class="cell-hit" id="cell">lots</td>', src)
    assert (folder / "supply.csv").read_text() == before
    r = client.post("/open/folder", data={"path": str(tmp_path / "nothing")})
    assert r.status_code == 400 and "not found" in r.text
    r = client.post("/open/folder", data={"path": "  "})
    assert r.status_code == 400 and "enter the path of an instance folder" in r.text
    r = client.post("/open/folder", data={"path": "instances/toy"})  # relative: to the server's folder
    assert r.status_code == 400 and "give the whole path" in r.text


def test_encrypted_zip_member_is_refused(client: TestClient) -> None:
    """A member flagged as encrypted cannot be read: refused with its name, nothing kept."""
    data = bytearray(zip_of({"toy/instance.yaml": b"name: x\n"}))
    # set the 'encrypted' bit (bit 0 of the general purpose flags) in the local and central headers
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + offset] |= 1
    r = upload(client, "locked.zip", bytes(data))
    assert r.status_code == 400 and "cannot be read" in r.text


def test_app_command_refuses_bad_options_before_starting(tmp_path: Path) -> None:
    """Exit 2 with the reason: a short --token, a port already in use (nothing is started)."""
    import socket

    from typer.testing import CliRunner

    from network_opt.cli.app import app as cli

    runner = CliRunner()
    r = runner.invoke(cli, ["app", "--token", "short", "--data", str(tmp_path / "d")])
    assert r.exit_code == 2 and "at least 16 characters" in r.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = runner.invoke(cli, ["app", "--port", str(port), "--data", str(tmp_path / "d")])
    assert r.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in r.output


def test_a_period_that_is_not_a_year_shows_the_first(client: TestClient) -> None:
    ws = open_toy(client)
    r = client.get(f"{ws}?period=abc")
    assert r.status_code == 200 and "int_parsing" not in r.text


def test_an_infeasible_scenario_of_a_comparison_can_be_solved_alone_to_see_why(client: TestClient) -> None:
    """toy-scenarios' no-hydro is infeasible (100 t/yr of recycling short, the Li target): the
    comparison's page for it offers to solve it alone, whose page shows the diagnosis table."""
    r = client.post("/open/shipped", data={"name": "toy-scenarios"}, follow_redirects=False)
    ws = r.headers["location"]
    r = client.post(f"{ws}/run", data={"kind": "compare", "scenarios": ["base", "no-hydro"]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    jid = r.headers["location"].rsplit("/", 1)[1]
    assert wait_for(client, jid, ("done", "failed", "cancelled"))["state"] == "done"
    page = client.get(f"/jobs/{jid}?scenario=no-hydro").text
    assert 'id="why-infeasible"' in page and 'value="no-hydro"' in page
    assert 'id="why-infeasible"' not in client.get(f"/jobs/{jid}?scenario=base").text
    r = client.post(f"{ws}/run", data={"kind": "solve", "scenario": "no-hydro"}, follow_redirects=False)
    alone = r.headers["location"].rsplit("/", 1)[1]
    wait_for(client, alone, ("done", "failed", "cancelled"))
    page = client.get(f"/jobs/{alone}").text
    assert "Why it is infeasible" in page and "REC-WEST" in page


def test_jobs_and_workspaces_are_deleted_only_when_nothing_runs(client: TestClient, tmp_path: Path) -> None:
    """A running job and the workspace it belongs to are refused (409, nothing deleted); once the job
    ended, deleting it removes its row and its folder, and deleting the workspace removes the app's
    copy and every job of it, never the files of another workspace or the original instance."""
    data = tmp_path / "data"
    store = client.app.state.store  # type: ignore[attr-defined]
    keep = open_toy(client).rsplit("/", 1)[1]
    ws = open_toy(client)
    wid = ws.rsplit("/", 1)[1]
    r = client.post(f"{ws}/run", data={"kind": "solve", "scenario": "base"}, follow_redirects=False)
    done = r.headers["location"].rsplit("/", 1)[1]
    assert wait_for(client, done, ("done", "failed", "cancelled"))["state"] == "done"
    assert 'id="delete-job"' in client.get(f"/jobs/{done}").text
    big = client.post("/open/shipped", data={"name": "china-2025-2032"}, follow_redirects=False).headers["location"]
    bid = big.rsplit("/", 1)[1]
    r = client.post(f"{big}/run", data={"kind": "solve", "scenario": "base"}, follow_redirects=False)
    running = r.headers["location"].rsplit("/", 1)[1]
    assert wait_for(client, running, ("running",))["state"] == "running"
    assert 'id="delete-job"' not in client.get(f"/jobs/{running}").text  # cancel is offered instead

    for url in (f"/jobs/{running}/delete", f"{big}/delete"):
        r = client.post(url, follow_redirects=False)
        assert r.status_code == 409 and "cancel it first" in r.text, url
    assert store.job(running) is not None and (data / "workspaces" / bid).is_dir()

    assert client.post(f"/jobs/{running}/cancel", follow_redirects=False).status_code == 303
    assert wait_for(client, running, ("done", "failed", "cancelled"))["state"] == "cancelled"
    assert client.post(f"{big}/delete", follow_redirects=False).status_code == 303
    assert store.job(running) is None and not (data / "workspaces" / bid).exists()

    r = client.post(f"/jobs/{done}/delete", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/jobs"
    assert store.job(done) is None and not (data / "jobs" / done).exists()
    assert client.get(f"/jobs/{done}").status_code == 404

    r = client.post(f"{ws}/run", data={"kind": "solve", "scenario": "base"}, follow_redirects=False)
    second = r.headers["location"].rsplit("/", 1)[1]
    assert wait_for(client, second, ("done", "failed", "cancelled"))["state"] == "done"
    r = client.post(f"{ws}/delete", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert store.workspace(wid) is None and store.job(second) is None
    assert not (data / "workspaces" / wid).exists() and not (data / "jobs" / second).exists()
    assert client.get(ws).status_code == 404
    assert (data / "workspaces" / keep).is_dir() and store.workspace(keep) is not None
    assert (TOY / "instance.yaml").is_file()
