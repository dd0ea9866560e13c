"""The monthly monitoring check against the fakes: Sentry's ingest and API through the real
sentry_sdk, UptimeRobot, Slack, and the contacts' verified dates; each failure on its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config, load_config
from runbook.core.findings import Finding, Status
from runbook.drill.fakes.sentry import FakeSentry
from runbook.drill.fakes.slack import FakeSlack
from runbook.drill.fakes.uptimerobot import FakeUptimeRobot
from runbook.drill.run import run_drill
from runbook.drill.scenarios.monitoring import monitoring_services
from runbook.drill.target import Target, simulated_target
from runbook.sections.monitoring_check import (
    Checklist,
    check_contacts,
    check_sentry,
    check_slack,
    check_uptime,
    record,
    run_checks,
)

TIMEOUTS = Timeouts(2.0, 3.0)


@pytest.fixture
def target(runs_dir: Path) -> Iterator[Target]:
    with simulated_target(runs_dir) as made:
        monitoring_services(made)
        yield made


def config_of(target: Target) -> Config:
    return load_config(target.write_config())


def statuses(findings: list[Finding]) -> dict[str, Status]:
    return {f.code: f.status for f in findings}


def test_all_healthy(target: Target) -> None:
    with target.environment():
        findings = run_checks(config_of(target), TIMEOUTS, incident_id="inc-month",
                              sentry_wait_seconds=10)
    assert {f.status for f in findings} == {Status.PASS}, findings
    sentry: FakeSentry = target.extras["sentry"]
    event_id = next(f for f in findings if f.code == "sentry.test_event_received"
                    ).evidence["event_id"]
    stored = sentry.ingest.events[event_id].event
    assert stored["level"] == "error" and "inc-month" in stored["message"]
    assert stored["tags"]["runbook.check"] == "monitoring_check"
    slack: FakeSlack = target.extras["slack"]
    assert "Monthly monitoring check" in slack.state.posted[0].payload["text"]
    assert len(findings) == 6  # sentry, 2 monitors, slack, 2 contacts
    assert "pass" in repr(Checklist(findings)) and "runbook-checklist" in \
        Checklist(findings)._repr_html_()


def test_sentry_event_arrives_late_is_polled_for(target: Target) -> None:
    sentry: FakeSentry = target.extras["sentry"]
    sentry.ingest.delay = 1.5
    with target.environment():
        finding = check_sentry(config_of(target), TIMEOUTS, wait_seconds=10, poll_every=0.5)
    assert finding.code == "sentry.test_event_received", finding
    assert finding.evidence["polls"] >= 3
    lookups = sentry.seen("GET", "/api/0/projects/dealix/dealix-backend/events/")
    assert len(lookups) == finding.evidence["polls"]
    assert all(r.headers["Authorization"].startswith("Bearer sntrys_") for r in lookups)


def test_sentry_event_that_never_arrives_fails_within_the_bound(target: Target) -> None:
    sentry: FakeSentry = target.extras["sentry"]
    sentry.ingest.drop = True
    with target.environment():
        finding = check_sentry(config_of(target), TIMEOUTS, wait_seconds=1.5, poll_every=0.5)
    assert finding.code == "sentry.test_event_missing" and finding.status is Status.FAIL
    assert "alerts would not fire" in finding.summary and finding.fix
    assert sentry.ingest.envelopes  # it was sent; Sentry just never showed it


def test_sentry_wrong_dsn_key_and_bad_dsn(target: Target) -> None:
    sentry: FakeSentry = target.extras["sentry"]
    server = target.servers["sentry"]
    target.secret("DRILL_SENTRY_DSN", sentry.ingest.dsn(server.url, sentry.project_id)
                  .replace(sentry.ingest.public_key, "0" * 32))
    with target.environment():
        finding = check_sentry(config_of(target), TIMEOUTS, wait_seconds=1, poll_every=0.5)
    assert finding.code == "sentry.test_event_missing"
    assert sentry.ingest.events == {}
    target.secret("DRILL_SENTRY_DSN", "not a dsn")
    with target.environment():
        bad = check_sentry(config_of(target), TIMEOUTS, wait_seconds=1)
    assert bad.code == "sentry.dsn_invalid" and bad.status is Status.FAIL
    assert "not a dsn" not in bad.summary + bad.fix


def test_sentry_token_refused_is_an_error_not_a_pass(target: Target) -> None:
    target.secret("DRILL_SENTRY_AUTH_TOKEN", "sntrys_wrong")
    with target.environment():
        findings = run_checks(config_of(target), TIMEOUTS, sentry_wait_seconds=2)
    sentry = next(f for f in findings if f.code.startswith("sentry."))
    assert sentry.status is Status.ERROR and "DRILL_SENTRY_AUTH_TOKEN" in sentry.summary


def test_sentry_not_configured_is_skipped(target: Target) -> None:
    del target.env["DRILL_SENTRY_DSN"]
    with target.environment():
        finding = check_sentry(config_of(target), TIMEOUTS)
    assert finding.status is Status.SKIPPED and "DRILL_SENTRY_DSN" in finding.summary


@pytest.mark.parametrize(("change", "code"), [
    ("paused", "uptime.paused"), ("not_checked", "uptime.not_checked"),
    ("stopped_polling", "uptime.stale")])
def test_uptime_monitor_failures(target: Target, change: str, code: str) -> None:
    uptime: FakeUptimeRobot = target.extras["uptimerobot"]
    monitor = uptime.monitors[0]
    if change == "paused":
        monitor.status = 0
    elif change == "not_checked":
        monitor.status = 1
    else:
        monitor.last_checked = clock.now() - timedelta(hours=5)
    with target.environment():
        findings = check_uptime(config_of(target), TIMEOUTS)
    assert [f.code for f in findings] == [code, "uptime.polling"]
    assert findings[0].status is Status.FAIL and findings[0].fix
    form = uptime.requests[-1].form()
    assert form["response_times"] == "1" and form["logs"] == "1"


def test_uptime_bad_key_is_an_error(target: Target) -> None:
    target.secret("DRILL_UPTIMEROBOT_API_KEY", "u000-wrong")
    with target.environment():
        findings = run_checks(config_of(target), TIMEOUTS, sentry_wait_seconds=5)
    uptime = [f for f in findings if f.code.startswith("uptime.")]
    assert [f.status for f in uptime] == [Status.ERROR]
    assert "DRILL_UPTIMEROBOT_API_KEY" in uptime[0].summary


def test_uptime_without_monitors_fails(target: Target) -> None:
    target.extras["uptimerobot"].monitors.clear()
    with target.environment():
        findings = check_uptime(config_of(target), TIMEOUTS)
    assert statuses(findings) == {"uptime.no_monitors": Status.FAIL}


@pytest.mark.parametrize(("fault", "code"), [
    ("no_service", "slack.no_service"), ("channel_is_archived", "slack.channel_is_archived"),
    ("invalid_token", "slack.invalid_token")])
def test_slack_refusals(target: Target, fault: str, code: str) -> None:
    target.extras["slack"].state.fault = fault
    with target.environment():
        finding = check_slack(config_of(target), TIMEOUTS, "test")
    assert finding.code == code and finding.status is Status.FAIL
    assert "DRILL_SLACK_WEBHOOK_URL" in finding.fix
    assert target.env["DRILL_SLACK_WEBHOOK_URL"] not in finding.summary + finding.fix


def test_slack_rate_limit_is_waited_out_then_server_error_is_an_error(target: Target) -> None:
    slack: FakeSlack = target.extras["slack"]
    slack.state.rate_limited, slack.state.retry_after = 1, 1
    with target.environment():
        assert check_slack(config_of(target), TIMEOUTS, "x").code == "slack.posted"
    slack.state.fault = "rollup_error"
    with target.environment():
        assert check_slack(config_of(target), TIMEOUTS, "x").status is Status.ERROR


def test_slack_unreachable_is_an_error(target: Target) -> None:
    target.secret("DRILL_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T/B/x")
    with target.environment():
        finding = check_slack(config_of(target), TIMEOUTS, "x")
    assert finding.status is Status.ERROR and "refused" in finding.summary


def test_contacts_ages(target: Target) -> None:
    today = date(2026, 3, 31)
    target.sections["contacts"] = [
        {"name": "A", "role": "r", "issue": "backend", "verified": "2026-02-28"},   # 31 days
        {"name": "B", "role": "r", "issue": "dns", "verified": "2026-02-27"},      # 32 days
        {"name": "C", "role": "r", "issue": "hosting"},
        {"name": "D", "role": "r", "issue": "payments", "verified": "last week"},
    ]
    findings = check_contacts(config_of(target), today)
    assert [(f.code, f.status.value) for f in findings] == [
        ("contacts.verified", "pass"), ("contacts.stale", "fail"),
        ("contacts.unverified", "fail"), ("contacts.unverified", "fail")]
    assert "2026-03-31" in findings[1].fix
    target.sections.pop("contacts")
    assert [f.code for f in check_contacts(config_of(target), today)] == ["contacts.none"]


def test_not_configured_services_are_skipped(runs_dir: Path) -> None:
    with simulated_target(runs_dir) as bare:
        findings = run_checks(config_of(bare), TIMEOUTS)
    assert statuses(findings) == {"sentry.test_event": Status.SKIPPED,
                                  "uptime.monitors": Status.SKIPPED,
                                  "slack.webhook": Status.SKIPPED,
                                  "contacts.none": Status.FAIL}


class _Recorder:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.actions: list[dict[str, object]] = []

    def report(self, findings: object, title: str = "") -> object:
        self.findings.extend(findings)  # type: ignore[call-overload]
        return None

    def record_action(self, action: dict[str, object]) -> dict[str, object]:
        self.actions.append(action)
        return action


def test_record_keeps_the_test_error_and_message_as_actions(target: Target) -> None:
    with target.environment():
        findings = run_checks(config_of(target), TIMEOUTS, sentry_wait_seconds=5)
    recorder = _Recorder()
    checklist = record(recorder, findings)  # type: ignore[arg-type]
    assert [a["name"] for a in recorder.actions] == ["sentry.test_error", "slack.test_message"]
    assert checklist.status is Status.PASS and recorder.findings == findings


@pytest.mark.slow
def test_drill_monitoring_stale(runs_dir: Path) -> None:
    result = run_drill("monitoring-stale", runs_dir)
    assert result.run.status == "completed", result.run.error
    assert result.matched, result.reasons
    failing = {f.code for f in result.run.findings if f.status is Status.FAIL}
    assert failing == {"uptime.paused", "contacts.stale"}
    actions = [a["name"] for a in result.run.record["actions"]]
    assert actions == ["sentry.test_error", "slack.test_message"]
    assert "runbook-checklist" in (result.run.run_dir / "notebook.ipynb").read_text()
