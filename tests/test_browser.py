"""A real Chromium against a real JupyterLab: the responder's half of the runbook.

Debian's chromium (`/usr/bin/chromium`, installed by .ci/run) is driven by Playwright, headless
and with background networking off. Under CI (CI=true) a missing browser fails these tests;
elsewhere they skip. Every server they start is stopped before they return.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from archive_files import read_lines
from conftest import RUNBOOK
from runbook.archive.record import read_record
from runbook.core.config import load_config
from runbook.drill.fakes.slack import FakeSlack, with_slack
from runbook.drill.scenarios.core import outage
from runbook.drill.target import simulated_target
from runbook.host.lab import LabOptions, LabServer
from runbook.host.runner import notebooks_dir
from runbook.sections.kit import interactive

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
LONG = 120_000   # ms: a first kernel start on a busy 2-core machine

# Cells a responder types when the notebook lacks them (see `ensure_cells`).
BANNER_CELL = "from runbook.sections.kit import banner\nbanner.status(rb)"
SLACK_CELL = ("from runbook.sections import comms\nfrom runbook.sections.kit import widgets\n"
              "widgets.confirm(rb, comms.slack_action(rb, comms.slack_text(rb)))")
ARABIC_CELL = "comms.customer_message()"


def require_chromium() -> None:
    """Fail under CI, skip elsewhere, when the browser is not there."""
    problem = ""
    if not Path(CHROMIUM).is_file():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install -r requirements.txt)"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test under CI: {problem}")
        pytest.skip(problem)


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception),
                                              ("", pytest.skip.Exception)])
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(
        monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="missing"):
        require_chromium()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium profile; closed at the end."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="runbook-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    """A copy of the runbook's notebooks: what JupyterLab saves never touches the repo."""
    copy = tmp_path / "notebooks"
    copy.mkdir()
    for path in notebooks_dir().glob("*.ipynb"):
        shutil.copy(path, copy / path.name)
    return copy


def lab_env(tmp_path: Path) -> dict[str, str]:
    """Keep JupyterLab's own settings and workspaces out of the user's home."""
    return {"JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
            "IPYTHONDIR": str(tmp_path / "ipython")}


def test_runbook_lab_serves_the_notebook_list(tmp_path: Path, browser: Any,
                                              notebooks: Path) -> None:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    command = subprocess.Popen(
        [RUNBOOK, "lab", "--config", str(config), "--notebooks", str(notebooks)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **lab_env(tmp_path)})
    try:
        url = ""
        assert command.stdout is not None
        for line in command.stdout:
            if line.strip().startswith("open:"):
                url = line.split("open:", 1)[1].strip()
                break
        assert url.startswith("http://127.0.0.1:") and "token=" in url, command.stderr
        page = browser.new_page()
        page.goto(url)
        listing = page.locator(".jp-DirListing-itemText", has_text="sev1_response.ipynb")
        listing.wait_for(timeout=LONG)
        page.screenshot(path=str(tmp_path / "notebook-list.png"))
        names = page.locator(".jp-DirListing-itemText").all_inner_texts()
        assert "sev1_response.ipynb" in names
    finally:
        command.send_signal(signal.SIGTERM)
        code = command.wait(60)
    assert code == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.split("/lab")[0] + "/api/status", timeout=2)
    assert (tmp_path / "notebook-list.png").stat().st_size > 0


# ---------------------------------------------------------------- the SEV-1 response

def ensure_cells(page: Any, source: str) -> list[str]:
    """Add, as a responder would by typing, the cells this test needs that sev1_response does
    not have yet: the status banner after the session cell, and at the end the Slack confirm
    button and the Arabic message preview. Returns what was added."""
    added = []
    if "banner.status(" not in source:
        add_cell_below(page, page.locator(".jp-CodeCell", has_text="session.start").first,
                       BANNER_CELL)
        added.append(BANNER_CELL)
    if "slack_action(" not in source:
        add_cell_below(page, page.locator(".jp-Cell").last, SLACK_CELL)
        added.append(SLACK_CELL)
    if "customer_message(" not in source:
        add_cell_below(page, page.locator(".jp-Cell").last, ARABIC_CELL)
        added.append(ARABIC_CELL)
    return added


def add_cell_below(page: Any, cell: Any, text: str) -> None:
    cell.locator(".jp-InputPrompt").first.click()   # selects the cell, command mode
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(text)
    page.keyboard.press("Escape")


def run_all(page: Any) -> None:
    """Run → Run All Cells, until a cell has started. A click that lands while JupyterLab is
    still settling can be lost; a second one is only sent when no cell ran, so nothing runs
    twice."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = page.locator(".jp-CodeCell .jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(3):
        accept_kernel(page)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            started.first.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")   # a menu left open by the lost click
    raise AssertionError("Run All Cells never started a cell")


def accept_kernel(page: Any) -> None:
    """Should JupyterLab still ask which kernel to start, take the one it proposes (this
    environment's), as a responder would."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator("button", has_text="Select").first.click()


def wait_kernel_settled(lab: LabServer, notebook: str, timeout: float = 120) -> None:
    """Until the notebook's session keeps one kernel, idle, for a few polls in a row.

    While JupyterLab is still listing the kernel specs it may start the default kernel and
    then switch to the notebook's own; cells sent during the switch are dropped. A person
    does not click that fast; a test does."""
    import time

    deadline, seen, steady = time.monotonic() + timeout, "", 0
    while time.monotonic() < deadline:
        sessions = httpx.get(f"{lab.base_url}/api/sessions", params={"token": lab.token},
                             timeout=10).json()
        kernel = next((s["kernel"] for s in sessions if s.get("path", "").endswith(notebook)),
                      None)
        current = f"{kernel['id']}:{kernel['execution_state']}" if kernel else ""
        steady = steady + 1 if current == seen and current.endswith(":idle") else 0
        seen = current
        if steady >= 4:
            return
        time.sleep(0.5)
    raise AssertionError(f"the kernel of {notebook} never settled ({seen or 'no session'})")


def wait_idle(page: Any) -> None:
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=LONG)


def test_sev1_response_in_jupyterlab(tmp_path: Path, browser: Any, notebooks: Path,
                                     runs_dir: Path) -> None:
    with simulated_target(runs_dir) as target:
        outage(target)
        slack: FakeSlack = with_slack(target)
        config = target.write_config()
        options = LabOptions(notebooks=notebooks, config=config,
                             extra_env={**target.env, **lab_env(tmp_path),
                                        "RUNBOOK_RUNS_DIR": str(runs_dir)})
        with LabServer(options) as lab:
            page = browser.new_page()
            page.goto(lab.notebook_url("sev1_response.ipynb"))
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=LONG)
            wait_kernel_settled(lab, "sev1_response.ipynb")
            wait_idle(page)
            source = (notebooks / "sev1_response.ipynb").read_text(encoding="utf-8")
            added = ensure_cells(page, source)

            run_all(page)
            severity = page.locator(".runbook-severity")
            try:
                severity.wait_for(timeout=LONG)
            except Exception:
                page.screenshot(path=str(tmp_path / "no-severity.png"), full_page=True)
                raise
            wait_idle(page)
            assert "SEV-1" in severity.text_content()
            top = page.locator(".runbook-status").first
            assert "SEV-1" in top.text_content() and "left" in top.text_content()
            # Scrolled to the end, the SEV and the time left are still on screen: the banner
            # is mirrored into the notebook's toolbar.
            page.locator(".jp-Cell").last.scroll_into_view_if_needed()
            pin = page.locator(".runbook-status-pin")
            assert pin.is_visible() and "SEV-1" in pin.text_content()
            assert "left" in pin.text_content()
            table = page.locator("table.runbook-findings").first
            assert table.is_visible()

            arabic = page.locator("[dir='rtl'][lang='ar']").first
            arabic.wait_for(timeout=LONG)
            assert arabic.evaluate("e => getComputedStyle(e).direction") == "rtl"
            assert "نواجه مشكلة فنية" in arabic.text_content()

            box = page.locator(".runbook-confirm-box", has_text="slack.post").last
            button = box.locator(".runbook-confirm")
            status = box.locator(".runbook-confirm-status")
            button.wait_for(timeout=LONG)
            assert "post to #dealix-alerts" in box.text_content()   # the plan, spelled out
            assert slack.state.posted == []             # shown, planned: nothing sent
            button.click()
            status.filter(has_text=re.compile("DONE")).wait_for(timeout=LONG)
            box.locator(".runbook-confirm", has_text="Done at").wait_for(timeout=LONG)
            button.click()
            status.filter(has_text="Refused").wait_for(timeout=LONG)
            assert "posted to #dealix-alerts" in status.text_content()
            page.screenshot(path=str(tmp_path / "sev1_response.png"), full_page=True)

            assert len(slack.state.posted) == 1
            assert "SEV-1" in slack.state.posted[0].payload["text"]

            (incident_dir,) = [p for p in runs_dir.iterdir() if p.is_dir()]
            (run_dir,) = [p for p in incident_dir.iterdir() if p.is_dir() and
                          p.name.endswith("sev1_response")]
            posts = [e["action"] for e in read_lines(run_dir / "events.jsonl")
                     if e.get("type") == "action" and e["action"]["name"] == "slack.post"]
            assert [a["status"] for a in posts] == ["dry_run", "succeeded", "refused"]

            page.keyboard.press("Control+s")
            page.wait_for_function(
                "() => !document.querySelector('.jp-mod-dirty')", timeout=LONG)
            saved = notebooks / "sev1_response.ipynb"
            for text in added:
                assert text.splitlines()[-1] in saved.read_text(encoding="utf-8")

        assert not lab.running()
        archived = interactive.archive_notebook(saved, incident_dir.name, load_config(config))
    assert archived.run_dir == run_dir
    record = read_record(run_dir / "record.json")
    assert record["status"] == "completed" and record["severity"] == "SEV-1"
    statuses = [a["status"] for a in record["actions"] if a["name"] == "slack.post"]
    assert statuses == ["dry_run", "succeeded", "refused"]
    assert (tmp_path / "sev1_response.png").stat().st_size > 0
