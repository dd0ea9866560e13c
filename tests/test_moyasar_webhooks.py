"""Moyasar's delivery log and payments against the fake Moyasar on loopback: pagination, the
401 grouping, the payments to reconcile, and a refused key as a finding."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.checks.payments import deliveries_at_risk, rejected_events, window_start
from runbook.clients.moyasar import MoyasarClient, WebhookAttempt
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.errors import ConfigError, MoyasarKeyRejected, ServiceUnavailable
from runbook.core.findings import Status
from runbook.drill.fakes.moyasar import FakeMoyasar, payment
from runbook.drill.fakes.moyasar_webhooks import WebhookLog, serve_webhook_log, webhook_attempt
from runbook.drill.fakes.server import LoopbackServer

KEY = "sk_test_moyasar-key-8a7b6c5d"
KEY_ENV = "TEST_MOYASAR_SECRET_KEY"
FAST = Timeouts(connect=1.0, read=2.0)
NOW = datetime.now(UTC)


@dataclass
class Env:
    fake: FakeMoyasar
    log: WebhookLog
    server: LoopbackServer

    def config(self) -> Config:
        return parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "moyasar": {"api_url": self.server.url + "/v1", "secret_key_env": KEY_ENV}},
            Path("runbook.toml"))

    def client(self) -> MoyasarClient:
        return MoyasarClient.from_config(self.config(), FAST)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv(KEY_ENV, KEY)
    fake = FakeMoyasar(KEY)
    log = serve_webhook_log(fake)
    with LoopbackServer(fake) as server:
        yield Env(fake, log, server)


def test_attempts_are_read_through_every_page(env: Env) -> None:
    for n in range(45):
        env.log.add_attempt(webhook_attempt(f"evt-{n}", "payment_paid", 401,
                                            NOW - timedelta(minutes=n)))
    attempts, listing = env.client().attempts()
    assert len(attempts) == 45 and listing.pages_read == 3 and not listing.truncated
    assert listing.total_count == 45
    assert {a.event_id for a in attempts} == {f"evt-{n}" for n in range(45)}
    requests = env.fake.seen("GET", "/v1/webhooks/attempts")
    assert [r.arg("page") for r in requests] == ["1", "2", "3"]
    expected = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert all(r.headers["Authorization"] == expected for r in requests)


def test_the_page_bound_is_reported_as_truncated(env: Env) -> None:
    for n in range(45):
        env.log.add_attempt(webhook_attempt(f"evt-{n}", "payment_paid", 401, NOW))
    attempts, listing = env.client().attempts(max_pages=2)
    assert len(attempts) == 40 and listing.truncated


def attempt(event: str, code: int, minutes_ago: float, kind: str = "payment_paid"
            ) -> WebhookAttempt:
    return WebhookAttempt.from_json(webhook_attempt(event, kind, code,
                                                    NOW - timedelta(minutes=minutes_ago)))


def test_rejections_are_grouped_by_event_within_the_window() -> None:
    attempts = [attempt("a", 401, 50), attempt("a", 401, 49), attempt("a", 401, 45),
                attempt("b", 401, 30, "payment_failed"), attempt("b", 200, 10, "payment_failed"),
                attempt("c", 200, 20), attempt("old", 401, 600)]
    events = rejected_events(attempts, NOW - timedelta(hours=2))
    assert [(e.event_id, e.attempts, e.delivered_later) for e in events] == [
        ("a", 3, False), ("b", 1, True)]
    assert events[1].event_type == "payment_failed"


def test_payments_to_reconcile_are_those_changed_while_rejected(env: Env) -> None:
    early = env.log.add_payment(payment(19900, "paid", NOW - timedelta(hours=3)))
    during = env.log.add_payment(payment(29900, "paid", NOW - timedelta(minutes=30)))
    later = env.log.add_payment(payment(9900, "failed", NOW - timedelta(minutes=5)))
    env.log.add_payment(payment(5000, "initiated", NOW - timedelta(minutes=4)))
    env.log.reject("payment_paid", NOW - timedelta(minutes=30), NOW)
    env.log.reject("payment_failed", NOW - timedelta(minutes=5), NOW)
    during["status"] = "refunded"  # it changed since: the re-fetch shows it as it is now
    risk = deliveries_at_risk(env.config(), FAST, NOW - timedelta(hours=1))
    (finding,) = risk.findings
    assert (finding.code, finding.status) == ("webhook.deliveries", Status.FAIL)
    assert [p.id for p in risk.payments] == [later["id"], during["id"]]
    assert risk.payments[1].status == "refunded" and risk.payments[1].amount_text == "299.00 SAR"
    assert early["id"] not in {p["id"] for p in finding.evidence["payments"]}
    assert set(finding.evidence["payments"][0]) == {"id", "amount", "currency", "status", "time"}
    fetched = {r.path for r in env.fake.seen("GET", "/v1/payments/")}
    assert fetched == {f"/v1/payments/{later['id']}", f"/v1/payments/{during['id']}"}
    assert "2 payments to reconcile" in finding.summary
    text = repr(risk) + risk._repr_html_()
    assert during["id"] in text and "299.00 SAR" in text


def test_no_rejections_is_a_pass(env: Env) -> None:
    env.log.deliver("payment_paid", NOW - timedelta(minutes=10), [200])
    risk = deliveries_at_risk(env.config(), FAST, NOW - timedelta(hours=1))
    assert risk.findings[0].status is Status.PASS and risk.payments == []
    assert not env.fake.seen("GET", "/v1/payments")


def test_a_refused_key_is_a_clear_finding_not_a_crash(env: Env,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk_test_revoked-0000")
    with pytest.raises(MoyasarKeyRejected, match=f"\\${KEY_ENV}"):
        env.client().attempts()
    (finding,) = deliveries_at_risk(env.config(), FAST, NOW).findings
    assert (finding.code, finding.status) == ("webhook.deliveries", Status.ERROR)
    assert f"refused the secret key in ${KEY_ENV}" in finding.summary
    assert "Invalid authorization credentials" in finding.summary
    assert "Settings → API Keys" in finding.summary
    assert "sk_test_revoked-0000" not in finding.summary


def test_an_unset_key_skips_with_the_reason(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    (finding,) = deliveries_at_risk(env.config(), FAST, NOW).findings
    assert finding.status is Status.SKIPPED and KEY_ENV in finding.summary


def test_moyasar_failing_is_an_error_finding(env: Env) -> None:
    env.fake.faults.server_error(503)
    (finding,) = deliveries_at_risk(env.config(), FAST, NOW).findings
    assert finding.status is Status.ERROR and "503" in finding.summary


def test_a_malformed_list_is_a_service_error(env: Env) -> None:
    env.fake.faults.malformed()
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        env.client().attempts()


def test_the_window_reaches_back_before_the_incident() -> None:
    opened = datetime.now(UTC) - timedelta(minutes=5)
    assert window_start(opened, 24) < opened - timedelta(hours=23)
    assert window_start(opened - timedelta(days=3), 24) == opened - timedelta(days=3)


def test_an_unsorted_payments_list_is_filtered_page_by_page(env: Env) -> None:
    # Old payments first: a client that stopped at the first page of old payments would miss
    # the recent ones on the later pages.
    for n in range(25):
        env.fake.payments.append(payment(1000, "paid", NOW - timedelta(days=10, minutes=n)))
    recent = [payment(2000 + n, "paid", NOW - timedelta(minutes=n)) for n in range(3)]
    env.fake.payments.extend(recent)
    found, listing = env.client().payments(NOW - timedelta(hours=1))
    assert {p.id for p in found} == {p["id"] for p in recent}
    assert [p.created_at for p in found] == sorted((p.created_at for p in found), reverse=True)
    assert listing.pages_read == 2 and not listing.truncated


def test_the_payment_page_bound_comes_from_the_config(env: Env) -> None:
    for n in range(45):
        env.fake.payments.append(payment(1000, "paid", NOW - timedelta(minutes=n)))
    config = parse_config({
        "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
        "moyasar": {"api_url": env.server.url + "/v1", "secret_key_env": KEY_ENV,
                    "max_pages": 2}}, Path("runbook.toml"))
    found, listing = MoyasarClient.from_config(config, FAST).payments(NOW - timedelta(days=1))
    assert len(found) == 40 and listing.truncated


@pytest.mark.parametrize("pages", [0, 501])
def test_max_pages_is_validated(pages: int) -> None:
    with pytest.raises(ConfigError, match="max_pages"):
        parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
                      "moyasar": {"max_pages": pages}}, Path("runbook.toml"))
