"""The verdict read in five seconds, and mitigation that counts only once verified: composed
from a fold and Railway's deployments, laid out as Block Kit (validated with slack_sdk's
models), updated after a press; the pre-/post-check of an action; a second action of a kind
only for another target with its short id typed; a dry run's plan in one line."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from blockkit import validate_blocks
from mitigate_fixtures import start_session
from runbook.clients.railway import DEPLOY_STATES, Deployment, explain_status
from runbook.core import clock
from runbook.core.config import Config, parse_config
from runbook.core.findings import Finding, failed, passed
from runbook.host.runner import action_line
from runbook.host.serve import buttons
from runbook.host.serve.changes import WhatChanged
from runbook.host.serve.plans import Plan
from runbook.host.serve.presses import parse_press
from runbook.host.serve.verdict import (
    NO_ACTION_YET,
    UUID,
    RunReport,
    compose,
    local_time,
    plain,
)
from runbook.incident.events import Event
from runbook.incident.fold import fold
from runbook.sections.kit import actions
from runbook.sections.kit.actions import Action, Outcome, StepLog
from runbook.sections.kit.verification import Verification

NOW = datetime(2026, 12, 5, 0, 16, tzinfo=UTC)         # 03:16 in Riyadh
DOWN_SINCE = NOW - timedelta(minutes=11)                 # 03:05 in Riyadh


def _config(**oncall: Any) -> Config:
    sections: dict[str, Any] = {"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"}}
    if oncall:
        sections["oncall"] = {"responders": [{"name": "Sami", "slack_id": "U0SAMI",
                                              "email": "sami@dealix.example"}], **oncall}
    return parse_config(sections, Path("/srv/runbook/runbook.toml"))


def _deployment(status: str, minutes_ago: float, message: str, author: str = "",
                commit: str = "") -> Deployment:
    return Deployment(str(uuid.uuid4()), status, NOW - timedelta(minutes=minutes_ago), "", "",
                      True, status in ("SUCCESS", "REMOVED"), {},
                      commit or uuid.uuid4().hex, message, author)


CRASHED = _deployment("CRASHED", 12, "Switch lead export to async worker", "Faisal")
GOOD = _deployment("REMOVED", 60 * 6, "Merge pull request #212 from dealix/lead-export")
CHANGES = WhatChanged([CRASHED, GOOD])
FINDINGS = [
    failed("health.down", "healthz answered 502 (Railway's edge: the app is not running)",
           http_status=502, url="http://127.0.0.1:9/healthz"),
    failed("deploy.crashed", f"Railway: deployment {CRASHED.id} CRASHED, logs in "
           "/var/lib/runbook/runs/inc-1/logs.txt"),
    failed("uptime.down", "UptimeRobot: Dealix API is down"),
    passed("deploy.recent", "a deploy 12 min ago"),
]


def _event(kind: str, at: datetime, actor: str = "", **body: Any) -> Event:
    return Event(kind, at, body, actor)


def _incident(*more: Event) -> Any:
    events = [_event("incident.opened", DOWN_SINCE + timedelta(minutes=1), "alert uptimerobot",
                     service="dealix", opened_by="alert uptimerobot", signal="uptimerobot:1"),
              _event("alert.received", DOWN_SINCE + timedelta(minutes=1),
                     signal="uptimerobot:1", down_since=clock.iso(DOWN_SINCE)),
              *[_event("finding.observed", NOW - timedelta(minutes=2), **f.to_dict())
                for f in FINDINGS if f.failed],
              _event("run.sealed", NOW - timedelta(minutes=1), run="r1",
                     notebook="sev1_response", status="completed", severity="SEV-1"),
              *more]
    return fold("inc-20261205-0306-ab12", events, NOW, chain_head="9f" * 32)


def _report(status: str = "completed") -> RunReport:
    record = {"status": status, "severity": "SEV-1",
              "findings": [f.to_dict() for f in FINDINGS],
              "next": [{"notebook": "rollback", "because": ["health.down"]}]}
    return RunReport("inc-20261205-0306-ab12", "sev1_response",
                     "UptimeRobot: Dealix API is down (HTTP 502 - Bad Gateway)",
                     Path("/srv/runbook/runbook.toml"), record,
                     "/srv/runbook/runs/inc-20261205-0306-ab12/r1/record.json", 0)


def _plan(kind: str, label: str, **extra: Any) -> Plan:
    return Plan("0123456789ab", "inc-20261205-0306-ab12", kind, "rollback", {}, label,
                f"{label}: deployment {GOOD.id} in place of {CRASHED.id}", CRASHED.id, NOW,
                dict(extra))


def _texts(blocks: list[dict[str, Any]]) -> str:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                found.append(value["text"])
            for key, item in value.items():
                if key not in ("value", "action_id", "block_id"):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(blocks)
    return "\n".join(found)


def test_the_first_line_is_sev_service_what_is_broken_since_and_time_left() -> None:
    verdict = compose(_report(), _incident(), NOW, _config(), CHANGES)
    assert verdict.headline == ("SEV-1 · dealix API down (502) since 03:05 Riyadh · "
                                "4m left to mitigate")


def test_utc_is_shown_on_request_and_the_zone_is_the_configured_one() -> None:
    shown = compose(_report(), _incident(), NOW, _config(show_utc=True), CHANGES).headline
    assert "since 03:05 Riyadh (00:05 UTC)" in shown
    london = compose(_report(), _incident(), NOW, _config(timezone="Europe/London"), CHANGES)
    assert "since 00:05 London" in london.headline


def test_what_changed_names_the_last_deploy_before_impact_and_the_rollback_target() -> None:
    text = compose(_report(), _incident(), NOW, _config(), CHANGES).text
    assert "*What changed*" in text
    assert (f"• Last deploy, 1 min before impact: “Switch lead export to async worker” by "
            f"Faisal (commit `{CRASHED.short_commit}`, 03:04 Riyadh, CRASHED (it started, then "
            "crashed))") in text
    assert f"Rollback target: `{GOOD.id[:8]}` “Merge pull request #212" in text
    assert "REMOVED (replaced by a newer deployment (it had been active))" in text


def test_a_config_change_is_the_same_commit_deployed_again() -> None:
    sha = uuid.uuid4().hex
    again = _deployment("SUCCESS", 20, "Tune weights", commit=sha)
    before = _deployment("REMOVED", 200, "Tune weights", commit=sha)
    text = compose(_report(), _incident(), NOW, _config(), WhatChanged([again, before])).text
    assert f"Config change: Railway deployed commit `{sha[:7]}` again at 02:56 Riyadh" in text


def test_every_railway_status_is_explained_in_words() -> None:
    for status in (*DEPLOY_STATES, "SOMETHING_NEW"):
        explained = explain_status(status)
        assert explained.startswith(f"{status} (") and len(explained) > len(status) + 10


def test_the_top_two_failing_findings_in_plain_words_without_paths_or_uuids() -> None:
    verdict = compose(_report(), _incident(), NOW, _config(), CHANGES)
    text = verdict.text
    assert "*Failing*" in text and "• … and 1 more in the record" in text
    assert "healthz answered 502" in text and "`health.down`" not in text
    assert not UUID.search(text), UUID.search(text)
    assert "/var/lib" not in text and "/srv/" not in text and "record.json" not in text
    assert "logs.txt" in text                       # the path's last part stands for it
    assert f"Incident `inc-20261205-0306-ab12` · chain `{'9f' * 6}`" in verdict.footer
    assert NO_ACTION_YET in text


def test_the_blocks_are_block_kit_with_one_primary_button() -> None:
    verdict = compose(_report(), _incident(), NOW, _config(), CHANGES)
    plans = [_plan("rollback", f"Roll back to {GOOD.id[:8]}"),
             _plan("restart", f"Restart {CRASHED.id[:8]}"),
             _plan("redeploy", f"Redeploy {CRASHED.id[:8]}")]
    ack = {"type": "button", "action_id": "runbook.ack", "value": "inc-20261205-0306-ab12",
           "text": {"type": "plain_text", "text": "Acknowledge"}}
    blocks = buttons.verdict_blocks(verdict, plans, secondary=[ack])
    validate_blocks(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text",
                                                    "text": verdict.headline}}
    elements = next(b for b in blocks if b["type"] == "actions")["elements"]
    styles = [e.get("style") for e in elements]
    assert styles == ["primary", None, None, None] and "danger" not in styles
    assert elements[-1]["text"]["text"] == "Acknowledge"
    shown = _texts(blocks)
    assert not UUID.search(shown) and "/srv/" not in shown
    assert "*Recommended:* Roll back" in shown
    assert blocks[-1]["type"] == "context"


def test_a_second_action_of_a_kind_carries_an_input_for_its_short_id() -> None:
    plan = _plan("rollback", "Roll back to 11223344", confirm_again="11223344")
    blocks = buttons.verdict_blocks(compose(_report(), _incident(), NOW, _config()), [plan])
    validate_blocks(blocks)
    typed = next(b for b in blocks if b["type"] == "input")
    assert typed["label"]["text"] == "Type 11223344 to confirm a second rollback"
    validate_blocks(buttons.plan_blocks("A fresh plan", plan))


def test_a_press_carries_what_was_typed() -> None:
    payload = {"type": "block_actions", "user": {"id": "U0SAMI"},
               "actions": [{"action_id": "runbook.plan.0",
                            "value": "inc-20261205-0306-ab12/0123456789ab"}],
               "state": {"values": {buttons.CONFIRM_AGAIN_BLOCK: {
                   buttons.CONFIRM_AGAIN_ACTION: {"type": "plain_text_input",
                                                  "value": " 11223344 "}}}}}
    press = parse_press(urlencode({"payload": json.dumps(payload)}).encode(), NOW)
    assert press.typed == "11223344"


def test_after_a_press_the_message_says_what_was_done_and_drops_what_became_untrue() -> None:
    verdict = compose(_report(), _incident(), NOW, _config(), CHANGES)
    before = buttons.verdict_blocks(verdict, [_plan("rollback", "Roll back")])
    after = buttons.outcome_blocks(before, ":white_check_mark: pressed: *DONE* — rolled back")
    validate_blocks(after)
    shown = _texts(after)
    assert NO_ACTION_YET not in shown and "*DONE* — rolled back" in shown
    assert not any(b["type"] in ("actions", "input") for b in after)
    assert after[-1]["type"] == "context"           # the incident's line stays last


def test_a_done_action_that_did_not_fix_it_is_shown_and_not_proposed_again() -> None:
    incident = _incident(
        _event("action.intent", NOW - timedelta(seconds=50), "U0SAMI",
               name="railway.rollback", target="svc", attempt="a1"),
        _event("check.observed", NOW - timedelta(seconds=30), ok=False),
        _event("action.outcome", NOW - timedelta(seconds=20), "U0SAMI",
               name="railway.rollback", target="svc", attempt="a1", outcome="done",
               verified=False, result="rolled back dealix to 5e6f7a8b, service still 502"))
    assert incident.state == "open"
    text = compose(_report(), incident, NOW, _config(), CHANGES).text
    assert "rolled back dealix to 5e6f7a8b, service still 502 by <@U0SAMI>" in text
    assert NO_ACTION_YET not in text
    nexts = re.search(r"\*Next\*: (.*)", text)
    assert nexts is not None and "`rollback`" not in nexts.group(1)
    assert "`db_refused`" in nexts.group(1) and "`error_spike`" in nexts.group(1)


def test_a_failed_run_says_so_first() -> None:
    verdict = compose(_report("timed_out"), _incident(), NOW, _config(), None)
    assert verdict.headline.startswith("RUN TIMED OUT · SEV-1 · dealix")
    assert "runbook run sev1_response --incident inc-20261205-0306-ab12" in verdict.text
    assert "--config" not in verdict.text


def test_plain_keeps_urls_and_short_paths() -> None:
    assert plain("see https://railway.com/a/b and /healthz") == \
        "see https://railway.com/a/b and /healthz"
    assert plain("kept in /tmp/runbook-x/runs/record.json") == "kept in record.json"


def test_local_time_reads_the_zone() -> None:
    assert local_time(DOWN_SINCE, _config()) == "03:05 Riyadh"


# ---------------------------------------------------------------- verified mitigation

def _probe(*states: bool) -> Any:
    seen = list(states)

    def probe() -> Finding:
        ok = seen.pop(0) if len(seen) > 1 else seen[0]
        return passed("health.ok", "healthz answered 200") if ok else \
            failed("health.down", "healthz answered 502", http_status=502)
    return probe


def _verification(*states: bool, window: float = 0.2) -> tuple[Verification, list[str]]:
    notes: list[str] = []
    return Verification(_probe(*states), timedelta(seconds=window),
                        lambda phase, f: notes.append(f"{phase} {f.code}"), 3, 0.0), notes


def test_the_post_check_holds_for_the_window() -> None:
    check, notes = _verification(True)
    post = check.post()
    assert post.ok and post.probes >= 2 and notes[0] == "post-check health.ok"
    failing, _ = _verification(False)
    assert failing.post().state == "502" and not failing.post().ok
    relapse, _ = _verification(True, False)
    post = relapse.post()
    assert not post.ok and "again within the" in post.summary


class Done:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def execute(self, log: StepLog) -> Outcome:
        with self.lock:
            self.calls += 1
        return Outcome(True, "rollback done: deployment is Active", done="rolled back to X")


def _action(done: Done, aim: str, *states: bool) -> Action:
    verification, _ = _verification(*states)
    return Action("railway.rollback", "svc", f"would roll back to {aim}", done.execute,
                  verification=verification, aim=aim,
                  headline=f"roll back dealix from 00000000 to {aim[:8]}")


def test_done_at_the_provider_but_still_down_is_done_not_failed(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    done = Done()
    result = actions.run(rb, _action(done, "aaaaaaaa-1", False), confirm=True)
    assert result.status == actions.DONE_UNVERIFIED and result.outcome == "done"
    assert result.summary == "rolled back to X, service still 502"
    assert result.pre_check is not None and result.post_check is not None
    assert result.verified is False and rb.actions[-1]["verified"] is False
    again = actions.run(rb, _action(done, "aaaaaaaa-1", True), confirm=True)
    assert again.status == actions.ALREADY_DONE and done.calls == 1


def test_a_second_action_of_a_kind_needs_another_target_and_its_short_id(
        tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    done = Done()
    actions.run(rb, _action(done, "aaaaaaaa-1", False), confirm=True)
    dry = actions.run(rb, _action(done, "bbbbbbbb-2", True))
    assert dry.status == actions.DRY_RUN and 'confirm_again = "bbbbbbbb"' in dry.summary
    pressed = actions.run(rb, _action(done, "bbbbbbbb-2", True), confirm=True)
    assert pressed.status == actions.REFUSED and done.calls == 1
    wrong = actions.run(rb, _action(done, "bbbbbbbb-2", True), confirm=True,
                        confirm_again="aaaaaaaa")
    assert wrong.status == actions.REFUSED and done.calls == 1
    typed = actions.run(rb, _action(done, "bbbbbbbb-2", True), confirm=True,
                        confirm_again="bbbbbbbb")
    assert typed.status == actions.SUCCEEDED and done.calls == 2


def test_a_dry_run_says_what_it_would_do_in_one_line(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    result = actions.run(rb, _action(Done(), "bbbbbbbb-2", True))
    line = action_line(result.to_record())
    assert line == ("  action  railway.rollback (dry run): would roll back dealix from "
                    "00000000 to bbbbbbbb")
    assert "would roll back dealix from 00000000 to bbbbbbbb" in repr(result)


@pytest.mark.parametrize("status", ["succeeded", "done_unverified", "failed"])
def test_a_confirmed_action_line_says_what_came_of_it(status: str) -> None:
    line = action_line({"name": "railway.rollback", "dry_run": False, "status": status,
                        "outcome": "done" if status != "failed" else "failed",
                        "result": "rolled back to X, service still 502"})
    assert line.endswith("rolled back to X, service still 502")
    assert ("not a fix" in line) == (status == "done_unverified")


def test_serve_offers_no_action_twice_and_a_second_of_a_kind_only_typed() -> None:
    from runbook.host.serve.plans import _second, done_targets

    incident = _incident(
        _event("action.intent", NOW - timedelta(seconds=50), "U0SAMI",
               name="railway.rollback", target="svc", attempt="a1"),
        _event("action.outcome", NOW - timedelta(seconds=20), "U0SAMI",
               name="railway.rollback", target="svc", attempt="a1", outcome="done",
               verified=False, aim=GOOD.id, result="rolled back, service still 502"))
    done = done_targets(incident)
    assert done == {"railway.rollback": {GOOD.id}}
    assert _second(done, "rollback", GOOD.id) is None                 # never the same again
    assert _second(done, "rollback", CRASHED.id) == {"confirm_again": CRASHED.id[:8]}
    assert _second(done, "restart", CRASHED.id) == {}                 # a first restart


def test_the_verdict_says_whether_the_incident_was_seen_before() -> None:
    line = ("Seen before: FREQUENT: trigger deploy frequent (3 before). Alike: inc-20261101-0200"
            "-aa11 (2026-11-01, SEV-1; alike: deploy.crashed): mitigated by railway.rollback "
            "in 6m 00s.")
    verdict = compose(_report(), _incident(), NOW, _config(), CHANGES, seen_before=line)
    assert "Seen before: FREQUENT" in verdict.text
    assert "mitigated by railway.rollback" in verdict.text
    blocks = buttons.verdict_blocks(verdict, [])
    validate_blocks(blocks)
    assert "Seen before" in _texts(blocks)
    assert "Seen before" not in compose(_report(), _incident(), NOW, _config(), CHANGES).text


def test_serve_compares_with_the_incidents_before_within_its_budget(tmp_path: Path) -> None:
    from runbook.archive.record import Archive
    from runbook.host.serve.dispatch import Dispatcher
    from runbook.incident.log import IncidentLog, open_incident

    archive = Archive(tmp_path / "runs")
    for incident_id, at in (("inc-20261101-0200-aa11", NOW - timedelta(days=34)),
                            ("inc-20261205-0306-ab12", DOWN_SINCE)):
        open_incident(archive, incident_id, opened_at=at, opened_by="alert uptimerobot",
                      started_at=at, service="dealix")
        IncidentLog(archive, incident_id).append("finding.observed", FINDINGS[1].to_dict(),
                                                 at=at)

    class Book:       # the one attribute _seen_before reads
        pass

    book = Book()
    book.archive = archive  # type: ignore[attr-defined]
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.book = book  # type: ignore[assignment]
    line = dispatcher._seen_before("inc-20261205-0306-ab12")
    assert line.startswith("Seen before: RARE") and "inc-20261101-0200-aa11" in line, line
    assert dispatcher._seen_before("inc-20261205-0306-zz99") == ""   # unknown: nothing said
