"""The HTTP edge of `runbook serve`, in process (Starlette's TestClient over the real app, a
real archive): the checks made before a body is read, Slack's and Sentry's replays, honest
health, escaped Slack text, and a log with no secret in it."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from runbook.archive.location import open_archive
from runbook.clients import slack as slack_client
from runbook.clients.transport import Timeouts
from runbook.core.config import load_config, parse_config
from runbook.core.redaction import registry
from runbook.drill.fakes.server import LoopbackServer
from runbook.drill.fakes.slack import FakeSlack
from runbook.host.serve import buttons, logs, verdict
from runbook.host.serve.app import ServeState, build_app
from runbook.host.serve.dispatch import Dispatcher
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.plans import Plan
from runbook.host.serve.presses import PressDesk
from runbook.host.serve.slack import SlackPost, SlackStatus, post_to_slack
from serve_fixtures import SENTRY_SECRET, TOKEN, config_text, sentry_headers

SIGNING_SECRET = "slack-signing-secret-0123456789abcdef"
EVIL = "<!channel> <https://evil.example|Roll back to 1a2b3c4d> & co"
EVENT_ALERT = {"action": "triggered",
               "data": {"event": {"issue_id": "1", "title": "KeyError: 'plan'",
                                  "datetime": "2026-11-27T09:00:00Z"},
                        "triggered_rule": "Errors after deploy"}}


@dataclass
class Edge:
    client: TestClient
    state: ServeState

    def sentry(self, body: bytes, **headers: str) -> httpx.Response:
        return self.client.post("/alerts/sentry", content=body,
                                headers={**sentry_headers(body), **headers})


@pytest.fixture
def edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Edge]:
    """The app over a real archive, its dispatcher not started (alerts are queued, never
    run), a Slack app's desk for presses, Slack counted as configured."""
    text = config_text().replace("[slack]\n", '[slack]\nbot_token_env = "TEST_SLACK_BOT"\n'
                                 'signing_secret_env = "TEST_SLACK_SIGNING"\n'
                                 'responders = ["U0RESPONDER"]\n')
    config_path = tmp_path / "runbook.toml"
    config_path.write_text(text)
    monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T1/B1/xyz")
    config = load_config(config_path)
    book = IncidentBook(open_archive(config))
    dispatcher = Dispatcher(config, book, {})
    desk = PressDesk(config, book, None, SIGNING_SECRET, {})
    state = ServeState(dispatcher, book, TOKEN, SENTRY_SECRET, lambda: None, lambda: None,
                       desk, SlackStatus(""), lambda: None)
    client = TestClient(build_app(state), raise_server_exceptions=False)
    try:
        yield Edge(client, state)
    finally:
        desk.stop()


# ------------------------------------------------------------------ break 12: /slack/actions

def _press_body(user: str = "U0RESPONDER") -> bytes:
    payload = {"type": "block_actions", "user": {"id": user},
               "response_url": "https://hooks.slack.com/actions/T1/123/secretpart0123456789",
               "actions": [{"action_id": "runbook.plan.0",
                            "value": "inc-20261204-0900/0123456789ab"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_slack_actions_answer_401_or_400_never_500(edge: Edge) -> None:
    """A timestamp that is not a number, or a body that is not UTF-8, is refused plainly."""
    body = _press_body()
    signed = slack_client.sign_request(SIGNING_SECRET, body, int(time.time()))
    for stamp in ("soon", "1e9", "-5", "", "１２３".encode(), "²".encode("latin-1")):
        answer = edge.client.post("/slack/actions", content=body,
                                  headers={**signed, "X-Slack-Request-Timestamp": stamp})
        assert answer.status_code == 401, (stamp, answer.text)
    latin = b"payload=caf\xe9\xff"
    answer = edge.client.post("/slack/actions", content=latin, headers={
        **slack_client.sign_request(SIGNING_SECRET, b"x", int(time.time())),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400 and "UTF-8" in answer.json()["error"]
    # slack_sdk's own verifier, called directly, says no rather than raising.
    assert slack_client.verify_request(SIGNING_SECRET, latin, {
        "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}) \
        is False
    assert slack_client.verify_request(SIGNING_SECRET, body, {
        "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}) is False


def test_odd_digits_in_a_tokened_alert_are_no_500(edge: Edge) -> None:
    answer = edge.client.post("/alerts/uptimerobot", params={
        "token": TOKEN, "monitorID": "1", "alertType": "2", "alertDuration": "²"})
    assert answer.status_code == 202, answer.text


def test_a_press_with_a_stale_timestamp_is_refused_before_its_body_is_read(
        edge: Edge) -> None:
    """401 from the headers alone: a Content-Length far over the cap gets 401, not 413."""
    stale = slack_client.sign_request(SIGNING_SECRET, b"", int(time.time()) - 3600)
    answer = edge.client.post("/slack/actions", content=b"x" * 1024,
                              headers={**stale, "Content-Length": str(10**9)})
    assert answer.status_code == 401 and "5 minutes" in answer.json()["error"]
    assert answer.headers["connection"] == "close"


def test_a_verified_press_registers_its_response_url_as_a_secret(edge: Edge) -> None:
    body = _press_body()
    answer = edge.client.post("/slack/actions", content=body, headers={
        **slack_client.sign_request(SIGNING_SECRET, body, int(time.time())),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    assert "secretpart0123456789" not in registry().redact(
        "POST https://hooks.slack.com/actions/T1/123/secretpart0123456789")


# ------------------------------------------------------------------ break 14: Sentry replays

def test_sentry_deliveries_out_of_the_window_or_seen_before_are_refused(edge: Edge) -> None:
    body = json.dumps(EVENT_ALERT).encode()
    year_ago = str(int(time.time()) - 365 * 24 * 3600)
    assert edge.sentry(body, **{"Sentry-Hook-Timestamp": year_ago}).status_code == 401
    assert edge.sentry(body, **{"Sentry-Hook-Timestamp": "yesterday"}).status_code == 401
    headers = {k: v for k, v in sentry_headers(body).items() if k != "Sentry-Hook-Timestamp"}
    assert edge.client.post("/alerts/sentry", content=body, headers=headers
                            ).status_code == 401
    assert edge.state.dispatcher.counters.alerts == 0

    first = edge.sentry(body, **{"Request-ID": "req-a"})
    assert first.status_code == 202, first.text
    # The same delivery again; again with a fresh Request-ID (the body is what is signed);
    # another body under the same Request-ID.
    assert edge.sentry(body, **{"Request-ID": "req-a"}).status_code == 409
    assert edge.sentry(body, **{"Request-ID": "req-b"}).status_code == 409
    other = json.dumps({**EVENT_ALERT, "action": "triggered", "id": 2}).encode()
    assert edge.sentry(other, **{"Request-ID": "req-a"}).status_code == 409
    assert edge.state.dispatcher.counters.alerts == 1
    assert edge.sentry(other, **{"Request-ID": "req-c"}).status_code == 202
    assert edge.state.dispatcher.counters.alerts == 2


def test_the_delivery_memory_is_bounded() -> None:
    from runbook.host.serve.replays import SeenDeliveries

    seen = SeenDeliveries(size=10)
    for n in range(100):
        assert seen.claim(seen.keys(f"id-{n}", str(n).encode()))
    assert len(seen._seen) == 10
    assert not seen.claim(seen.keys("id-99", b"new"))
    assert seen.claim(seen.keys("id-0", b"0"))        # long forgotten


# ------------------------------------------------------------------ honest health

def test_healthz_names_each_failing_part_and_livez_always_answers(
        edge: Edge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[int] = []
    reachable = edge.state.book.reachable
    monkeypatch.setattr(edge.state.book, "reachable", lambda: checks.append(1) or reachable())
    healthy = edge.client.get("/healthz")
    assert healthy.status_code == 200, healthy.json()
    assert healthy.json()["failing"] == {} and healthy.json()["status"] == "ok"
    for _ in range(20):       # anyone may ask: the archive is written to once a while only
        edge.client.get("/healthz")
    assert len(checks) == 1

    status = edge.state.slack
    assert status is not None
    status.note(SlackPost(False, 4, "Slack cannot be reached: connection refused"))
    failing = edge.client.get("/healthz")
    assert failing.status_code == 503
    assert "connection refused" in failing.json()["failing"]["slack"]
    status.note(SlackPost(True, 1))
    assert edge.client.get("/healthz").status_code == 200

    edge.state.slack = SlackStatus("$TEST_SLACK_WEBHOOK_URL is not set: no verdict can be "
                                   "posted")
    edge.state.scheduler_problem = lambda: "the scheduler is stopped"
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive should be")
    edge.state.book = IncidentBook(open_archive(edge.state.dispatcher.config,
                                                str(blocked / "runs")))
    answer = edge.client.get("/healthz")
    assert answer.status_code == 503
    assert set(answer.json()["failing"]) == {"slack", "scheduler", "archive"}
    assert "TEST_SLACK_WEBHOOK_URL" in answer.json()["failing"]["slack"]
    assert edge.client.get("/livez").status_code == 200


def test_slack_counts_as_configured_only_with_somewhere_to_post(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.host.serve.slack import unconfigured

    path = tmp_path / "runbook.toml"
    path.write_text(config_text())
    monkeypatch.delenv("TEST_SLACK_WEBHOOK_URL", raising=False)
    assert "TEST_SLACK_WEBHOOK_URL" in unconfigured(load_config(path), None)
    monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")
    assert unconfigured(load_config(path), None) == ""
    path.write_text(config_text().replace('[slack]\nwebhook_url_env = '
                                          '"TEST_SLACK_WEBHOOK_URL"\n', ""))
    assert "no [slack]" in unconfigured(load_config(path), None)


# ------------------------------------------------------------------ break 6: escaped text

def _report(reason: str, record: dict[str, Any] | None) -> verdict.RunReport:
    return verdict.RunReport("inc-20261204-0900", "sev1_response", reason, Path("runbook.toml"),
                             record, Path("runs/x/record.json") if record else None, 0,
                             "Traceback: <!here> boom")


def test_outside_text_in_a_verdict_is_escaped() -> None:
    from datetime import UTC, datetime

    record = {"status": "completed", "severity": "SEV-1", "findings": [
        {"code": "health.down", "status": "fail", "summary": f"/healthz said {EVIL}"}]}
    config = parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"}},
                          Path("runbook.toml"))
    text = verdict.compose(_report(f"Sentry alert: {EVIL}", record), None,
                           datetime.now(UTC), config).text
    failed = verdict.compose(_report(EVIL, None), None, datetime.now(UTC), config).text
    for message in (text, failed):
        assert "<!" not in message and "<http" not in message, message
        assert "&lt;!channel&gt; &lt;https://evil.example|Roll back to 1a2b3c4d&gt; &amp; co" \
            in message
    assert "&lt;!here&gt;" in failed


def test_commit_messages_in_buttons_are_escaped() -> None:
    from runbook.core import clock

    plan = Plan("0123456789ab", "inc-1", "rollback", "rollback", {}, "Roll back to 1a2b",
                f"Roll back: run deployment d1 ({EVIL}) again", "d2", clock.now())
    blocks = buttons.verdict_blocks("*SEV-1*", [plan])
    mrkdwn = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
    assert all("<!channel>" not in t and "<https://" not in t for t in mrkdwn)
    assert any("&lt;!channel&gt;" in t for t in mrkdwn)
    button = blocks[-1]["elements"][0]
    assert button["text"]["type"] == "plain_text"
    assert button["confirm"]["text"]["type"] == "plain_text"


# ------------------------------------------------------------------ break 7: quiet logs

def test_no_secret_reaches_the_log_at_debug_from_any_library(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's log set up as serve does, at DEBUG, with httpx and httpcore forced to DEBUG
    too: the Slack webhook's URL, a press's response_url and a canary secret logged by hand
    (in the message, the arguments, a traceback) never appear, whole or in part."""
    canary = "canary-Zq8xW3vN5tB7yL2pK9mR"
    monkeypatch.setenv("TEST_CANARY", canary)
    registry().read_env("TEST_CANARY")
    fake = FakeSlack()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {n: logging.getLogger(n).level for n in logs.CHATTY})
    stream = io.StringIO()
    try:
        with LoopbackServer(fake) as server:
            webhook = server.url + fake.path
            monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", webhook)
            path = tmp_path / "runbook.toml"
            path.write_text(config_text())
            config = load_config(path)
            config.register_secrets()
            logs.configure(logging.DEBUG, stream)
            for name in ("httpx", "httpcore"):       # the filter alone must hold
                logging.getLogger(name).setLevel(logging.DEBUG)
            assert post_to_slack(config, "a verdict", 1, 0).ok
            answer_id = secrets.token_hex(8)
            fake.state.responses[answer_id] = []
            response_url = f"{server.url}/response/{answer_id}"
            registry().register("SLACK_RESPONSE_URL", response_url)
            slack_client.respond(response_url, {"text": "started"}, Timeouts(2, 2))
            other = logging.getLogger("some.library")
            other.debug("calling %s with %r", webhook, {"token": canary})
            other.info(f"inline {canary}")
            try:
                raise RuntimeError(f"failed to reach {webhook}?key={canary}")
            except RuntimeError:
                other.exception("boom")
            logging.getLogger("uvicorn.access").info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST",
                f"/alerts/uptimerobot?token={canary}", "1.1", 202)
        output = stream.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    assert "HTTP Request" in output or "send_request" in output   # httpx/httpcore did log
    assert "[redacted:" in output
    for secret in (canary, fake.path, webhook, response_url):
        for start in range(0, len(secret) - 12):
            piece = secret[start:start + 12]
            if "/" not in piece and "." not in piece and ":" not in piece:
                assert piece not in output, (piece, output)
    assert registry().contains_secret(output) is None


def test_escape_mrkdwn() -> None:
    assert slack_client.escape_mrkdwn("a < b & c > d") == "a &lt; b &amp; c &gt; d"


# ------------------------------------------------------------------ break 11: the outbox

def test_the_outbox_keeps_a_verdict_until_slack_takes_it(tmp_path: Path) -> None:
    from runbook.host.serve.outbox import Outbox

    outbox = Outbox.beside(tmp_path / "runs")
    assert outbox.folder == tmp_path / ".runbook-serve-outbox" and outbox.writable() == ""
    owed = outbox.owe("inc-20261204-0900-ab12", "sev1_response", "UptimeRobot: down")
    assert [o.key for o in Outbox(outbox.folder).entries()] == [owed.key]  # on disk
    outbox.composed(owed, "*SEV-1* the verdict", str(tmp_path / "record.json"))
    outbox.failed(owed)
    from runbook.core import clock

    assert outbox.due(clock.now()) == []                     # backing off
    assert 0 < (outbox.seconds_to_next(clock.now()) or 0) <= 5
    again = Outbox(outbox.folder).entries()[0]               # as a restarted serve reads it
    assert again.text == "*SEV-1* the verdict" and again.attempts == 1
    outbox.settle(owed)
    assert outbox.entries() == [] and outbox.seconds_to_next(clock.now()) is None


def test_an_unwritable_outbox_is_reported_and_never_stops_a_verdict(tmp_path: Path) -> None:
    from runbook.host.serve.outbox import Outbox

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    outbox = Outbox(blocker / "outbox")
    assert "cannot be written" in outbox.writable()
    owed = outbox.owe("inc-1", "sev1_response", "down")      # logged, not raised
    outbox.composed(owed, "text", None)
    outbox.settle(owed)
    assert outbox.entries() == []


def test_a_slack_slower_than_a_probe_gets_the_verdict_once(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """An answer later than the probes' read timeout is waited for, not taken as lost: a retry
    would show the channel the verdict twice (the incoming webhook has no idempotency key)."""
    fake = FakeSlack()
    fake.delay = 1.5
    with LoopbackServer(fake) as server:
        monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", server.url + fake.path)
        path = tmp_path / "runbook.toml"
        path.write_text(config_text() + "[probes]\nconnect_timeout = 0.5\nread_timeout = 0.5\n")
        config = load_config(path)
        config.register_secrets()
        assert config.probes.read_timeout == 0.5
        posted = post_to_slack(config, "SEV-1 verdict", 4, 0)
    assert posted.ok and posted.attempts == 1
    assert len(fake.state.posted) == 1
