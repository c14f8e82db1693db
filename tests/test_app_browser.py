"""``network-opt app`` end to end in a real headless browser (Playwright driving Debian's chromium,
as the HTML-map test does), against the app started as a planner would start it
(``network-opt app --port P --data DIR``, a separate process).

One planner's session (issue 19): upload a broken copy of the toy workbook and see its validation
error (file, row, column, message) with a link that opens the cell; upload the corrected workbook;
look at the sites map and the tables; solve and watch the progress; see the flow map and the
targets table with shadow prices; download results.xlsx and check that its objective is the one
``network-opt solve instances/toy`` gives (-1,790,500 EUR, instances/toy/README.md); make a
scenario that closes the candidate refurbisher REF-EAST; compare the two side by side with the
facility diff. Every request the pages make is intercepted: none may leave 127.0.0.1. A screenshot
of each page is saved under the test's temporary folder (``screens/``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-default-apps", "--metrics-recording-only", "--no-default-browser-check"]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
#: the toy's optimum, worked out by hand in instances/toy/README.md
TOY_OBJECTIVE = -1_790_500.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "network_opt", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app on a free port with an empty data folder; stopped (SIGTERM) after the module."""
    tmp = tmp_path_factory.mktemp("app")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "network_opt", "app", "--port", str(port), "--data",
                             str(tmp / "data")], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"the app did not start:\n{(tmp / 'server.log').read_text()}")
            time.sleep(0.2)
    try:
        yield url, tmp
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_planner_session_in_a_browser(server: Any, tmp_path: Path) -> None:
    from openpyxl import load_workbook
    from playwright.sync_api import expect, sync_playwright

    url, _ = server
    screens = tmp_path / "screens"
    screens.mkdir()
    # the toy instance as a workbook, a broken copy (a negative tonnage in supply, row 3 = CP-NORTH NCM)
    r = _cli("convert", str(ROOT / "instances" / "toy"), "--to", "xlsx", "--out", str(tmp_path / "toy.xlsx"),
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    book = load_workbook(tmp_path / "toy.xlsx")
    assert book["supply"]["D3"].value == 300
    book["supply"]["D3"] = -300
    book.save(tmp_path / "toy-broken.xlsx")
    # what the command line gives for the same instance
    r = _cli("solve", str(ROOT / "instances" / "toy"), "--out", str(tmp_path / "cli"), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cli_objective = json.loads((tmp_path / "cli" / "summary.json").read_text())["objective"]
    assert cli_objective == pytest.approx(TOY_OBJECTIVE)

    outside: list[str] = []
    seen: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)

            def guard(route: Any) -> None:
                seen.append(route.request.url)
                if route.request.url.startswith(url + "/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)

            def shot(name: str) -> None:
                page.screenshot(path=str(screens / f"{name}.png"), full_page=True)

            # 1. home, upload of the broken workbook: the problem with file, row, column, message
            page.goto(url + "/")
            expect(page.locator("h1")).to_contain_text("reverse-logistics network")
            shot("01-home")
            page.set_input_files("#open-upload input[type=file]", str(tmp_path / "toy-broken.xlsx"))
            page.click("#open-upload button[type=submit]")
            expect(page.locator("#problems")).to_be_visible()
            row = page.locator("table.problems tbody tr").first
            cells = row.locator("td")
            assert cells.nth(0).inner_text() == "toy-broken.xlsx[supply]"
            assert cells.nth(1).inner_text() == "3"
            assert cells.nth(2).inner_text() == "D"
            assert "must be >= 0" in cells.nth(3).inner_text()
            expect(page.locator("#run")).to_have_count(0)  # nothing can be solved yet
            shot("02-problems")
            workspace_url = page.url
            # ... the link opens the cell
            row.locator("a.cell-link").click()
            expect(page.locator("#cell")).to_have_text("-300")
            expect(page.locator("#source thead th.col-hit")).to_have_text("tonnes")
            shot("03-cell")
            page.goto(workspace_url)

            # 2. the corrected workbook replaces it: valid, with map and tables
            page.set_input_files("#replace input[type=file]", str(tmp_path / "toy.xlsx"))
            page.click("#replace button[type=submit]")
            expect(page.locator("#valid")).to_be_visible()
            sites = page.frame_locator("#map iframe")
            expect(sites.locator("circle.cp")).to_have_count(2)
            expect(sites.locator("path.land").first).to_be_attached()
            supply = page.locator("#tables details[data-name='supply'] tbody tr")
            expect(supply).to_have_count(4)
            expect(page.locator("#tables details[data-name='targets in force']")).to_contain_text("material_recovery")
            shot("04-instance")

            # 3. solve the base: progress, then the map, the targets with shadow prices, results.xlsx
            page.click("#run-solve button[type=submit]")
            expect(page.locator("#progress")).to_be_visible()
            # live: the page polls the job and shows the solve's phases while it runs
            expect(page.locator("#p-state")).to_have_text("running", timeout=60_000)
            expect(page.locator("#p-log")).to_contain_text("loading and validating the instance", timeout=60_000)
            expect(page.locator("#p-elapsed")).not_to_be_empty()
            shot("05-job-progress")
            expect(page.locator("#p-state")).to_have_text("done", timeout=90_000)
            expect(page.locator("#p-gap")).to_have_text("0.00%")
            assert any("/api/jobs/" in u for u in seen), "the page did not poll the job's progress"
            plan = page.frame_locator("#plan-map iframe")
            expect(plan.locator("path.flow").first).to_be_attached()
            targets = page.locator("#table-targets")
            expect(targets).to_contain_text("shadow_price")
            expect(targets).to_contain_text("material_recovery")
            expect(page.locator("#figures")).to_contain_text("-1,790,500 EUR")
            shot("06-job-results")
            with page.expect_download() as info:
                page.click("a[data-file='results.xlsx']")
            saved = tmp_path / "downloaded-results.xlsx"
            info.value.save_as(saved)
            summary = {row[0]: row[1] for row in load_workbook(saved)["summary"].iter_rows(min_row=2, values_only=True)}
            assert summary["objective (net cost)"] == pytest.approx(cli_objective, rel=1e-9)

            # 4. a scenario that closes the refurbisher, written into the instance
            page.goto(workspace_url + "#scenarios")
            page.fill("#scenario-form input[name=name]", "no-refurbisher")
            page.fill("#scenario-form input[name=description]", "The candidate refurbisher cannot be built")
            first = page.locator("#changes tr.change").first
            first.locator("select[name=op]").select_option("close")
            first.locator("input[name=key]").fill("REF-EAST")
            page.click("#save-scenario")
            expect(page.locator("#scenario-list")).to_contain_text("no-refurbisher")
            shot("07-scenario")

            # 5. compare base and the scenario: side by side, facility diff
            boxes = page.locator("#run-compare input[name=scenarios]")
            expect(boxes).to_have_count(2)
            page.click("#run-compare button[type=submit]")
            expect(page.locator("#p-state")).to_have_text("done", timeout=90_000)
            comparison = page.locator("#comparison table.grid").first
            expect(comparison).to_contain_text("no-refurbisher")
            expect(comparison).to_contain_text("objective")
            expect(page.locator("#comparison")).to_contain_text("REF-EAST")
            shot("08-compare")
            page.click("#runs a:has-text('no-refurbisher')")
            expect(page.locator("#figures")).to_contain_text("scenario")
            shot("09-compare-scenario")
            page.goto(url + "/jobs")
            expect(page.locator("table.jobs tbody tr")).to_have_count(2)
            shot("10-jobs")
        finally:
            browser.close()
    assert outside == [], f"requests outside the app: {outside}"
    assert problems == [], problems
    assert {p.name for p in screens.glob("*.png")} >= {"01-home.png", "04-instance.png", "06-job-results.png",
                                                       "08-compare.png"}


def test_typed_input_survives_the_live_job_list(server: Any, tmp_path: Path) -> None:
    """While a job runs, the workspace page reloads itself every 2 s to show it; once the planner has
    typed into a form (and clicked elsewhere) it stops and says so, rather than erase what was typed."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post';
                f.action = '/open/shipped'; const i = document.createElement('input'); i.name = 'name';
                i.value = 'china-east'; f.appendChild(i); document.body.appendChild(f); f.submit(); }""")
            page.wait_for_url("**/w/*")
            workspace = page.url
            # a sweep long enough to stay running through the test (cancelled at the end)
            job = page.evaluate("""async (w) => { const body = new URLSearchParams({kind: 'sweep',
                vary: 'facility_levels[R-FOSHAN,30kt].capacity_t*=0.5:1.5:200', time_limit: '30'});
                const r = await fetch(w + '/run', {method: 'POST', body, redirect: 'follow'});
                return r.url; }""", workspace)
            assert "/jobs/" in job
            page.goto(workspace)
            active = "table.jobs [data-state='running'], table.jobs [data-state='queued']"
            expect(page.locator(active)).not_to_have_count(0)
            page.fill("#scenario-form input[name=name]", "kept-name")
            page.click("h1")  # focus leaves the form
            page.wait_for_timeout(4500)  # two reload periods
            assert page.url == workspace
            assert page.input_value("#scenario-form input[name=name]") == "kept-name"
            expect(page.locator("#live-paused")).to_be_visible()
            page.evaluate("(j) => fetch(j + '/cancel', {method: 'POST'})", job)
        finally:
            browser.close()
