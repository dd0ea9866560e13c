"""Confirm buttons, secret fields and the status banner: one click runs an action once, a
headless run uses `confirm`, nothing waits for input(), secrets typed in are never echoed."""

from __future__ import annotations

import ast
import builtins
import os
from pathlib import Path

import nbformat
import pytest

from archive_files import read_lines
from mitigate_fixtures import start_session
from nbfactory import write_config, write_notebook
from runbook.core.config import load_config
from runbook.core.findings import failed, passed
from runbook.core.redaction import fingerprint, registry
from runbook.drill.fakes.server import LoopbackServer
from runbook.drill.fakes.slack import FakeSlack
from runbook.host.runner import run_notebook
from runbook.sections.kit import actions, banner, widgets
from runbook.sections.kit.actions import Action, Outcome, StepLog

LIB = Path(__file__).resolve().parents[1] / "lib" / "runbook"


class Counter:
    def __init__(self, ok: bool = True) -> None:
        self.calls = 0
        self.ok = ok

    def execute(self, log: StepLog) -> Outcome:
        self.calls += 1
        log.step("restarted")
        return Outcome(self.ok, "service restarted" if self.ok else "restart failed")


def thing(counter: Counter, blocked: str = "") -> Action:
    return Action("railway.restart", "dealix (production)", "restart deployment d-1 of dealix",
                  counter.execute, details={"deployment": "d-1"}, blocked=blocked)


@pytest.fixture(autouse=True)
def no_input(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> str:
        raise AssertionError("input() was called")
    monkeypatch.setattr(builtins, "input", refuse)


def events(rb: object, kind: str = "action") -> list[dict[str, object]]:
    run_dir = rb.run_dir  # type: ignore[attr-defined]
    return [e[kind] for e in read_lines(run_dir / "events.jsonl") if e.get("type") == kind]


# ---------------------------------------------------------------- headless: the parameter

def test_headless_without_confirm_is_a_recorded_dry_run(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    result = widgets.confirm(rb, thing(counter), interactive=False)
    assert isinstance(result, actions.ActionResult)
    assert result.status == actions.DRY_RUN and counter.calls == 0
    assert [a["status"] for a in events(rb)] == ["dry_run"]


def test_headless_with_confirm_runs_once(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    first = widgets.confirm(rb, thing(counter), confirm=True, interactive=False)
    again = widgets.confirm(rb, thing(counter), confirm=True, interactive=False)
    assert counter.calls == 1
    assert isinstance(first, actions.ActionResult) and first.status == actions.SUCCEEDED
    assert isinstance(again, actions.ActionResult) and again.status == actions.ALREADY_DONE


def test_outside_a_kernel_there_is_no_button(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    assert rb.mode == "interactive"
    assert not widgets.widget_frontend(rb)       # plain Python: nobody can click
    assert isinstance(widgets.confirm(rb, thing(Counter())), actions.ActionResult)


# ---------------------------------------------------------------- interactive: the button

def test_button_shows_the_plan_and_records_it_as_a_dry_run(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    button = widgets.confirm(rb, thing(counter), interactive=True)
    assert isinstance(button, widgets.ConfirmButton)
    assert "restart deployment d-1 of dealix" in button.plan.value
    assert counter.calls == 0
    assert [a["status"] for a in events(rb)] == ["dry_run"]
    bundle = button._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "restart deployment d-1" in bundle["text/html"]
    assert "needs a click" in bundle["text/plain"]


def test_one_click_runs_it_once_and_later_clicks_are_refused(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    button = widgets.confirm(rb, thing(counter), interactive=True)
    assert isinstance(button, widgets.ConfirmButton)
    button.button.click()
    assert counter.calls == 1
    assert button.result is not None and button.result.status == actions.SUCCEEDED
    assert "DONE" in button.status.value
    button.button.click()
    button.button.click()
    assert counter.calls == 1
    assert "Refused" in button.status.value and "service restarted" in button.status.value
    statuses = [a["status"] for a in events(rb)]
    assert statuses == ["dry_run", "succeeded", "refused", "refused"]
    assert "already ran it" in str(events(rb)[-1]["result"])


def test_a_failed_run_is_not_retried_by_the_same_button(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter(ok=False)
    button = widgets.confirm(rb, thing(counter), interactive=True)
    assert isinstance(button, widgets.ConfirmButton)
    button.click()
    button.click()
    assert counter.calls == 1
    assert button.result is not None and button.result.status == actions.FAILED
    assert "restart failed" in button.status.value


def test_a_click_while_another_responder_holds_it_does_nothing_and_stays_armed(
        tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    action = thing(counter)
    button = widgets.confirm(rb, action, interactive=True)
    assert isinstance(button, widgets.ConfirmButton)
    with actions.held(rb, action.name, action.target):
        assert button.click() is None
    assert counter.calls == 0 and button.result is None
    assert "Refused" in button.status.value and "already running" in button.status.value
    button.click()
    assert counter.calls == 1


def test_a_blocked_action_gets_no_button(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    result = widgets.confirm(rb, thing(Counter(), blocked="the tree is dirty"), interactive=True)
    assert isinstance(result, actions.ActionResult) and result.status == actions.BLOCKED


def test_a_click_posts_to_slack_exactly_once(tmp_path: Path) -> None:
    from runbook.sections import comms

    fake = FakeSlack()
    server = LoopbackServer(fake)
    try:
        os.environ["TEST_SLACK_URL"] = server.url + fake.path
        rb = start_session(tmp_path, {"slack": {"webhook_url_env": "TEST_SLACK_URL",
                                                "channel": "#dealix-alerts"}})
        rb.report(failed("health.down", "/healthz answers 502"))
        button = widgets.confirm(rb, comms.slack_action(rb, comms.slack_text(rb)),
                                 interactive=True)
        assert isinstance(button, widgets.ConfirmButton)
        assert fake.state.posted == []          # showing the plan sends nothing
        button.click()
        button.click()
        assert len(fake.state.posted) == 1
        assert "SEV-1" in fake.state.posted[0].payload["text"]
        assert fake.path not in button.status.value + button.plan.value   # the URL is secret
    finally:
        os.environ.pop("TEST_SLACK_URL", None)
        server.stop()


def test_nothing_in_the_library_calls_input() -> None:
    for path in sorted(LIB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id == "input"]
        assert not calls, f"{path} calls input()"


# ---------------------------------------------------------------- secrets typed in

def test_a_typed_secret_is_registered_put_in_the_env_and_wiped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TYPED_TOKEN", raising=False)
    field = widgets.secret_field("TYPED_TOKEN", "Railway token", interactive=True)
    assert "not set" in repr(field)
    value = "rw-typed-4f9a8c2e1b7d"
    field.field.value = value
    assert os.environ["TYPED_TOKEN"] == value
    assert field.field.value == ""                # not kept in the widget (nor its state)
    assert registry().redact(f"token={value}") == "token=[redacted:TYPED_TOKEN]"
    shown = repr(field) + field.status.value + str(field._repr_mimebundle_())
    assert value not in shown and fingerprint(value) in shown
    monkeypatch.delenv("TYPED_TOKEN")


def test_headless_secret_field_only_reports_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADLESS_TOKEN", "hd-1234567890abcdef")
    field = widgets.secret_field("HEADLESS_TOKEN", interactive=False)
    assert field.box is None
    assert fingerprint("hd-1234567890abcdef") in repr(field)
    assert "hd-1234567890abcdef" not in repr(field) + field._repr_html_()
    monkeypatch.delenv("HEADLESS_TOKEN")
    assert "export it before the run" in repr(widgets.secret_field("HEADLESS_TOKEN",
                                                                   interactive=False))


# ---------------------------------------------------------------- the status banner

def test_banner_follows_the_findings(tmp_path: Path) -> None:
    rb = start_session(tmp_path, notebook="sev1_response")
    top = banner.status(rb, interactive=True)
    assert "No SEV yet" in top.widget.value
    rb.report(passed("uptime.up", "UptimeRobot sees it up"))
    assert top.state()["level"] is None
    rb.report(failed("health.down", "/healthz answers 502"))
    state = top.state()
    assert state["level"] == "SEV-1" and state["time_left"].endswith("left")
    assert "SEV-1" in top.widget.value and "left" in top.widget.value
    assert "SEV-1" in repr(top) and rb.incident_id in repr(top)


def test_banner_counts_down_and_says_overdue(tmp_path: Path) -> None:
    from datetime import timedelta

    rb = start_session(tmp_path, notebook="sev1_response")
    rb.report(failed("health.down", "/healthz answers 502"))
    top = banner.status(rb, interactive=False)
    assert "overdue by" in top.text(rb.incident_started + timedelta(hours=2))
    assert top.state(rb.incident_started)["time_left"] == "15m 00s left"


@pytest.mark.slow
def test_headless_banner_at_the_top_shows_the_final_sev(tmp_path: Path) -> None:
    """papermill: the banner displayed before the probes ends up showing their outcome."""
    config = write_config(tmp_path)
    notebook = write_notebook(
        tmp_path, "banner_nb",
        "from runbook.sections.kit import banner, session\n"
        "rb = session.start('banner_nb', incident_id=incident_id)\nbanner.status(rb)",
        "from runbook.core.findings import failed\n"
        "rb.report(failed('health.down', '/healthz answers 502'))")
    result = run_notebook(str(notebook), [], load_config(config), progress=False)
    assert result.status == "completed", result.error
    nb = nbformat.read(str(result.run_dir / "notebook.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "banner.status(rb)" in c.source)
    top = cell.outputs[0]["data"]
    assert "SEV-1" in top["text/plain"] and "left" in top["text/plain"]
    assert "runbook-status" in top["text/html"]


# ---------------------------------------------------------------- the archive button

def test_archive_button_seals_the_saved_notebook(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rb = start_session(tmp_path, notebook="sev1_response")
    rb.report(failed("health.down", "/healthz answers 502"))
    saved = write_notebook(tmp_path, "sev1_response", "rb.report(...)")
    monkeypatch.setenv("JPY_SESSION_NAME", str(saved))
    assert widgets.saved_notebook_path(rb) == saved
    button = widgets.archive_button(rb, interactive=True)
    assert isinstance(button, widgets.ArchiveButton)
    assert "Save the notebook first" in button.status.value
    # Saved before any cell ran: nothing to archive yet.
    assert button.click() is None and "no executed cell" in button.status.value
    nb = nbformat.read(str(saved), as_version=4)
    for count, cell in enumerate(nb.cells, start=1):
        cell.execution_count = count
    nbformat.write(nb, str(saved))
    archived = button.click()
    assert archived is not None and archived.run_dir == rb.run_dir
    assert archived.record["status"] == "completed"
    assert "health.down" in button.status.value
    assert "runner archives" in str(widgets.archive_button(rb, interactive=False))


def test_archive_button_shows_why_it_could_not(tmp_path: Path) -> None:
    rb = start_session(tmp_path, notebook="sev1_response")
    button = widgets.archive_button(rb, str(tmp_path / "not-saved.ipynb"), interactive=True)
    assert isinstance(button, widgets.ArchiveButton)
    assert button.click() is None and "Not archived" in button.status.value


def test_an_unknown_earlier_outcome_needs_the_act_anyway_button(tmp_path: Path) -> None:
    from runbook.core.errors import OutcomeUnknown

    rb = start_session(tmp_path)
    counter = Counter()

    def lost(log: StepLog) -> Outcome:
        log.sending("deploymentRestart(d-1)")
        raise OutcomeUnknown("Railway", "no answer from 127.0.0.1 within the timeout")

    first = actions.run(rb, Action("railway.restart", "dealix (production)", "restart d-1",
                                   lost), confirm=True)
    assert first.status == actions.UNKNOWN
    button = widgets.confirm(rb, thing(counter), interactive=True)
    assert isinstance(button, widgets.ConfirmButton)
    assert button.anyway.layout.display == "none"
    refused = button.click()
    assert refused is not None and refused.status == actions.REFUSED and counter.calls == 0
    assert button.result is None and button.anyway.layout.display == ""
    assert "REFUSED" in button.status.value
    done = button.anyway.click()
    assert counter.calls == 1
    assert button.result is not None and button.result.status == actions.SUCCEEDED
    assert button.result.despite_unknown == [first.attempt]
    assert events(rb)[-1]["despite_unknown"] == [first.attempt]
    assert done is None  # ipywidgets' click returns nothing; the result is on the button
