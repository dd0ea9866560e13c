"""`runbook serve`: authentication, parsing, the storm, the bounded queue, failed and timed-out
runs, recovery, the schedule (its app in-process, its runs real `runbook run` processes); and
as a real process on 127.0.0.1 for SIGTERM and a restart, the access log, a missing token."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from conftest import incident_events
from runbook.archive import record as records
from runbook.core.config import load_config
from runbook.core.errors import BadInput, ConfigError
from runbook.drill.fakes.server import LoopbackServer
from runbook.drill.fakes.slack import FakeSlack
from runbook.host.serve import alerts, schedule
from runbook.host.serve.auth import redact_path
from runbook.host.serve.slack import post_to_slack
from runbook.incident.log import IncidentLog
from runbook.sections.postmortem.history import load_history
from serve_fixtures import (
    TOKEN,
    client,
    config_text,
    down_alert,
    notebooks,
    sentry_headers,
    serve_env,
    serving,
    serving_process,
    start_serve,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)

EVENT_ALERT = {"action": "triggered", "actor": {"id": "sentry", "name": "Sentry",
                                                "type": "application"},
               "data": {"event": {"issue_id": "1117540176", "title": "KeyError: 'plan'",
                                  "web_url": "https://sentry.io/organizations/dealix/issues/1",
                                  "datetime": "2026-11-27T09:00:00Z"},
                        "triggered_rule": "Errors after deploy"}}


def _incidents(runs: Path) -> list[str]:
    return records.Archive(runs).incidents()


def _runs(runs: Path, incident: str) -> list[records.RunRow]:
    return records.list_runs(records.Archive(runs), incident)


def _post_alert(http: httpx.Client | TestClient, **extra: str) -> httpx.Response:
    return http.post("/alerts/uptimerobot", params={"token": TOKEN, **down_alert(), **extra})


def test_missing_or_wrong_credentials_get_401_and_nothing_is_stored(
        tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path) as (http, slack):
        assert http.post("/alerts/uptimerobot", params=down_alert()
                         ).status_code == 401
        assert http.post("/alerts/uptimerobot",
                         params={"token": "wrong-" + TOKEN, **down_alert()}).status_code == 401
        assert http.post("/alerts/uptimerobot/not-the-token",
                         params=down_alert()).status_code == 401
        assert http.post("/alerts/railway", json={"type": "DEPLOY"}
                         ).status_code == 401
        body = json.dumps(EVENT_ALERT).encode()
        bad = sentry_headers(body, secret="not-the-secret")
        assert http.post("/alerts/sentry", content=body, headers=bad
                         ).status_code == 401
        unsigned = {k: v for k, v in bad.items() if k != "Sentry-Hook-Signature"}
        assert http.post("/alerts/sentry", content=body, headers=unsigned
                         ).status_code == 401
        health = http.get("/healthz").json()
    assert health["counters"]["alerts"] == 0
    assert _incidents(runs_dir) == []
    assert slack.state.posted == []


def test_malformed_bodies_get_400(tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path) as (http, _):
        assert _post_alert(http, alertType="9").status_code == 400
        assert http.post("/alerts/uptimerobot", params={"token": TOKEN},
                         content=b"{not json", headers={"Content-Type": "application/json"}
                         ).status_code == 400
        assert http.post(f"/alerts/railway/{TOKEN}", content=b"[1, 2]",
                         headers={"Content-Type": "application/json"}).status_code == 400
        body = b'{"action": "triggered", "data": {}}'
        assert http.post("/alerts/sentry", content=body,
                         headers=sentry_headers(body)).status_code == 400
    assert _incidents(runs_dir) == []


@pytest.mark.slow
def test_a_storm_gives_one_run_and_one_slack_message(tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path) as (http, slack):
        first = _post_alert(http)
        assert first.status_code == 202 and first.json()["outcome"] == "queued"
        incident = first.json()["incident"]
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda _: _post_alert(http), range(200)))
        assert {a.status_code for a in answers} == {202}
        assert {a.json()["incident"] for a in answers} == {incident}
        assert wait_for(lambda: slack.state.posted, 90)
        assert wait_for(lambda: all(r.status != "running" for r in _runs(runs_dir, incident)))
        health = http.get("/healthz").json()
    assert len(_runs(runs_dir, incident)) == 1
    assert len(slack.state.posted) == 1
    text = slack.state.posted[0].payload["text"]
    for part in ("SEV-1 · ", "API down", "left to mitigate", "*Next*", "`rollback`",
                 f"runbook run rollback --incident {incident}",
                 f"Incident `{incident}`", "chain `", "Diagnosis only", "Riyadh"):
        assert part in text, part
    assert "record.json" not in text and str(runs_dir) not in text
    assert health["counters"]["runs_started"] == 1
    assert health["last_run"]["severity"] == "SEV-1"
    assert health["archive"]["reachable"] is True
    alerts_seen = [e for e in incident_events(records.Archive(runs_dir), incident)
                   if e["event"] == "alert"]
    assert len(alerts_seen) == 201
    assert sum(1 for e in alerts_seen if e["outcome"] == "run") == 1


def test_a_full_queue_answers_503_and_stores_nothing(tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path, sleep=6, queue_size=1) as (http, _):
        assert _post_alert(http).status_code == 202        # taken: in flight
        assert wait_for(lambda: http.get("/healthz").json()["runs_in_flight"] == 1)
        body = json.dumps(EVENT_ALERT).encode()
        queued = http.post("/alerts/sentry", content=body,
                           headers=sentry_headers(body))
        assert queued.status_code == 202 and queued.json()["notebook"] == "error_spike"
        failed_deploy = {"type": "Deployment.failed", "details": {"status": "FAILED"},
                         "resource": {"service": {"id": "s1", "name": "dealix"},
                                      "deployment": {"id": "d1"}},
                         "timestamp": "2026-11-27T09:00:00.000Z"}
        refused = http.post("/alerts/railway", params={"token": TOKEN},
                            json=failed_deploy)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        incident = queued.json()["incident"]
    kinds = [e.get("source") for e in incident_events(records.Archive(runs_dir), incident)]
    assert kinds == ["uptimerobot", "sentry"]


def test_a_failed_run_is_still_reported(tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path, fail=True) as (http, slack):
        incident = _post_alert(http).json()["incident"]
        assert wait_for(lambda: slack.state.posted, 90)
    text = slack.state.posted[0].payload["text"]
    assert "RUN FAILED" in text and "the probe broke" in text
    assert f"runbook run sev1_response --incident {incident}" in text
    assert [r.status for r in _runs(runs_dir, incident)] == ["failed"]


@pytest.mark.slow
def test_a_run_past_its_deadline_is_reported_timed_out(tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path, sleep=60, run_deadline_seconds=4.0) as (http, slack):
        incident = _post_alert(http).json()["incident"]
        assert wait_for(lambda: slack.state.posted, 90)
    assert "TIMED OUT" in slack.state.posted[0].payload["text"]
    assert [r.status for r in _runs(runs_dir, incident)] == ["timed_out"]


def test_an_up_alert_is_kept_and_closes_nothing_while_health_fails(
        tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path) as (http, slack):
        incident = _post_alert(http).json()["incident"]
        assert wait_for(lambda: slack.state.posted, 90)
        up = _post_alert(http, alertType="2", alertDuration="240")
        assert up.json() == {**up.json(), "outcome": "recovered", "incident": incident}
        log = IncidentLog(records.Archive(runs_dir), incident)
        # /healthz (a closed port in this config) does not pass: the incident stays open,
        # and the monitor's next down alert joins it.
        assert wait_for(lambda: any(e.kind == "check.observed" for e in log.events()), 30)
        again = _post_alert(http).json()
        assert again["incident"] == incident
    assert [e["event"] for e in incident_events(records.Archive(runs_dir), incident)] == \
        ["alert", "recovered", "alert"]
    state = log.fold()
    assert state.state == "open" and state.recovered_at is None   # down again since
    history = load_history(records.Archive(runs_dir), incident)
    assert history.detected is not None and history.started <= history.detected


@pytest.mark.slow
def test_sigterm_aborts_the_run_in_flight_and_a_restart_resumes_it(
        tmp_path: Path, runs_dir: Path) -> None:
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        config = tmp_path / "runbook.toml"
        config.write_text(config_text())
        env = serve_env(tmp_path, server.url + slack.path, sleep=120)
        serve = start_serve(config, env)
        with client(serve.url) as http:
            incident = _post_alert(http).json()["incident"]
        assert wait_for(lambda: any(r.status == "running" for r in _runs(runs_dir, incident)))
        assert wait_for(lambda: "rb.report" in (_notebook(runs_dir, incident) or ""), 60)
        assert serve.stop() == 0
        assert [r.status for r in _runs(runs_dir, incident)] == ["aborted"]
        assert "STOPPED" in slack.state.posted[0].payload["text"]
        # Restarted: the archive says the alert's diagnosis never finished, so it runs again.
        env["RUNBOOK_NOTEBOOKS"] = str(notebooks(tmp_path / "quick"))
        again = start_serve(config, env)
        try:
            assert wait_for(lambda: len(slack.state.posted) == 2, 90)
        finally:
            again.stop()
    assert [r.status for r in _runs(runs_dir, incident)] == ["aborted", "completed"]
    assert "SEV-1" in slack.state.posted[1].payload["text"]


def _notebook(runs: Path, incident: str) -> str | None:
    found = sorted((runs / incident).glob("*/notebook.ipynb"))
    return found[-1].read_text() if found else None


def test_tokens_never_reach_the_access_log(tmp_path: Path) -> None:
    with serving_process(tmp_path) as (serve, _), client(serve.url) as http:
        assert _post_alert(http).status_code == 202
        assert http.post(f"/alerts/uptimerobot/{TOKEN}", params=down_alert()
                         ).status_code == 202
        assert http.post("/alerts/uptimerobot",
                         params={"token": TOKEN + "x", **down_alert()}).status_code == 401
    serve.stop()
    output = serve.text()
    assert "/alerts/uptimerobot?token=[redacted]" in output
    assert "/alerts/uptimerobot/[redacted]" in output
    assert TOKEN not in output


@pytest.mark.slow
def test_a_rate_limited_slack_post_is_retried_until_it_gets_through(
        tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path, slack_attempts=3) as (http, slack):
        slack.state.rate_limited, slack.state.retry_after = 2, 30   # longer than comms waits
        incident = _post_alert(http).json()["incident"]
        assert wait_for(lambda: slack.state.posted, 90)    # the third attempt got through
    notices = [e for e in incident_events(records.Archive(runs_dir), incident)
               if e["event"] == "notice"]
    assert notices == []
    assert [r.status for r in _runs(runs_dir, incident)] == ["completed"]


def test_post_to_slack_retries_with_backoff_and_gives_up_on_a_removed_webhook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", server.url + slack.path)
        config = load_config(_write(tmp_path, config_text()))
        slept: list[float] = []
        slack.state.fault = "rollup_error"
        result = post_to_slack(config, "hello", attempts=3, backoff=0.5, sleep=slept.append)
        assert (result.ok, result.attempts, slept) == (False, 3, [0.5, 1.0])
        slack.state.fault, slept[:] = "no_service", []
        result = post_to_slack(config, "hello", attempts=3, backoff=0.5, sleep=slept.append)
        assert (result.ok, result.attempts, slept) == (False, 1, [])
        assert "no longer exists" in result.error
        slack.state.fault = ""
        assert post_to_slack(config, "hello", attempts=3, sleep=slept.append).ok


def test_a_removed_webhook_is_recorded_in_the_incident(tmp_path: Path, runs_dir: Path) -> None:
    with serving(tmp_path) as (http, slack):
        slack.state.fault = "no_service"
        incident = _post_alert(http).json()["incident"]
        assert wait_for(lambda: any(e["event"] == "notice" for e in incident_events(
            records.Archive(runs_dir), incident)), 90)
    notice = next(e for e in incident_events(records.Archive(runs_dir), incident)
                  if e["event"] == "notice")
    assert notice["kind"] == "slack_failed" and "SEV-1" in notice["message"]
    assert [r.status for r in _runs(runs_dir, incident)] == ["completed"]


def _write(directory: Path, text: str) -> Path:
    path = directory / "runbook.toml"
    path.write_text(text)
    return path


def test_schedules_follow_the_serve_section(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, config_text()))
    jobs = schedule.build_scheduler(config, lambda: None, lambda: None).get_jobs()
    assert {j.id: str(j.trigger) for j in jobs} == {
        "monitoring_check": "cron[month='*', day='1', day_of_week='*', hour='6', minute='0']",
        "postmortems_due": "cron[month='*', day='*', day_of_week='*', hour='7', minute='0']"}
    config = load_config(_write(tmp_path, config_text(monitoring_check_cron="",
                                                      due_cron="30 8 * * 1-5")))
    jobs = schedule.build_scheduler(config, lambda: None, lambda: None).get_jobs()
    assert [(j.id, str(j.trigger)) for j in jobs] == [
        ("postmortems_due", "cron[month='*', day='*', day_of_week='mon-fri', hour='8', "
                            "minute='30']")]
    config = load_config(_write(tmp_path, config_text(due_cron="every day")))
    with pytest.raises(BadInput, match="due_cron"):
        schedule.build_scheduler(config, lambda: None, lambda: None)


def test_the_serve_section_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(_write(tmp_path, config_text(tokn_env="X")))
    with pytest.raises(ConfigError, match="queue_size must be an integer"):
        load_config(_write(tmp_path, config_text(queue_size="ten")))
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        load_config(_write(tmp_path, config_text(token_env="s3cr3t-value!")))
    config = load_config(_write(tmp_path, config_text()))
    assert config.serve is not None and "TEST_SERVE_TOKEN" in config.secret_env_names()


def test_serve_refuses_to_start_without_its_token(tmp_path: Path) -> None:
    from conftest import run_cli

    config = _write(tmp_path, config_text())
    result = run_cli("serve", "--config", str(config), "--port", "0",
                     env={"TEST_SERVE_TOKEN": ""})
    assert result.returncode == 2 and "TEST_SERVE_TOKEN is not set" in result.stderr


def test_payload_shapes() -> None:
    now = alerts.clock.now()
    json_body = json.dumps(down_alert()).encode()
    fields = alerts.uptimerobot_fields({"token": TOKEN}, "application/json", json_body)
    assert "token" not in fields
    assert alerts.parse_uptimerobot(fields, now).kind == alerts.DOWN
    form = b"monitorID=1&monitorFriendlyName=Dealix&alertType=2&alertDateTime=1795000000"
    up = alerts.parse_uptimerobot(alerts.uptimerobot_fields(
        {}, "application/x-www-form-urlencoded", form), now)
    assert (up.kind, up.at.year) == (alerts.RECOVERED, 2026)
    ssl = alerts.parse_uptimerobot({**down_alert(), "alertType": "3"}, now)
    assert ssl.kind == alerts.IGNORED
    crashed = alerts.parse_railway(json.dumps({
        "type": "Deployment.crashed", "details": {"status": "CRASHED", "commitHash": "abc123"},
        "resource": {"service": {"id": "s", "name": "dealix"}, "deployment": {"id": "d"},
                     "environment": {"id": "e", "name": "production"}},
        "timestamp": "2026-11-27T09:00:00.000Z"}).encode(), now)
    assert (crashed.kind, crashed.trigger, crashed.subject) == (alerts.DOWN, "crashed", "dealix")
    legacy = alerts.parse_railway(json.dumps({
        "type": "DEPLOY", "status": "FAILED", "timestamp": "2026-11-27T09:00:00.000Z",
        "project": {"id": "p", "name": "dealix"}, "service": {"id": "s", "name": "web"},
        "deployment": {"id": "d", "meta": {"commitHash": "def456"}}}).encode(), now)
    assert (legacy.kind, legacy.trigger) == (alerts.DOWN, "failed")
    success = alerts.parse_railway(b'{"type": "Deployment.success", "resource": {}}', now)
    assert success.kind == alerts.IGNORED
    unknown = alerts.parse_railway(b'{"event": "something else"}', now)
    assert unknown.kind == alerts.UNKNOWN and unknown.details["keys"] == ["event"]
    resolved = alerts.parse_sentry("metric_alert", json.dumps({
        "action": "resolved", "data": {"metric_alert": {"alert_rule": {"name": "Errors"}},
                                       "description_title": "Resolved: Errors"}}).encode(), now)
    assert resolved.kind == alerts.RECOVERED
    assert alerts.parse_sentry("issue", b'{"action": "created", "data": {}}', now).kind == \
        alerts.IGNORED
    event = alerts.parse_sentry("event_alert", json.dumps(EVENT_ALERT).encode(), now)
    assert event.kind == alerts.DOWN and "KeyError" in event.summary


def test_redact_path() -> None:
    line = f"POST /alerts/railway/{TOKEN}?x=1 and /alerts/uptimerobot?a=1&token={TOKEN}&b=2"
    redacted = redact_path(line, TOKEN)
    assert TOKEN not in redacted and redacted.count("[redacted]") == 2
