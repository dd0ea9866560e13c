"""The probes against Dealix as it really answers (reference/dealix-app.md): the deep check's
vocabulary, /healthz before the deep check, 405 as proof of the API, a hung database, a wrong
app; and the simulated Dealix itself answering like the real one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbook.checks import api_routes, health
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.findings import Status
from runbook.drill.fakes.dealix import AppState, DealixApp
from runbook.drill.fakes.server import FakeService, LoopbackServer, Request, Response
from runbook.incident.rules import run_severity

FAST = Timeouts(connect=0.5, read=1.0)


def config_for(base_url: str) -> Config:
    return parse_config({"service": {"name": "dealix", "base_url": base_url}}, Path("t.toml"))


class DeepBody(FakeService):
    """/healthz 200, and a deep check answering a fixed body, as the real app writes it."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()
        self.body = body

    def handle(self, request: Request) -> Response:
        if request.arg("deep"):
            return Response(200, self.body)
        return Response(200, {"status": "ok", "service": "dealix"})


def deep(body: dict[str, Any]) -> Any:
    with LoopbackServer(DeepBody(body)) as server:
        findings = health.probe_health(config_for(server.url), FAST)
    return {f.evidence["probe"]: f for f in findings}["deep"]


def test_a_minimal_deploy_is_healthy() -> None:
    finding = deep({"status": "ok", "version": "1.4.2", "checks": {
        "postgres": {"status": "ok"}, "redis": {"status": "skip", "reason": "no REDIS_URL"},
        "sentry": {"status": "skip", "reason": "no SENTRY_DSN"},
        "llm_providers": {"status": "ok"}}})
    assert finding.code == "health.ok" and finding.status is Status.PASS
    assert finding.evidence["skipped"] == ["redis", "sentry"]
    assert run_severity([finding]) is None


def test_misconfigured_sentry_is_a_warning_not_a_severity() -> None:
    finding = deep({"status": "ok", "checks": {
        "postgres": {"status": "ok"}, "sentry": {"status": "misconfigured",
                                                 "reason": "DSN host is not *.ingest.sentry.io"},
        "llm_providers": {"status": "ok"}}})
    assert finding.status is Status.PASS
    assert finding.evidence["warnings"] == ["sentry"]
    assert "sentry misconfigured" in finding.summary
    assert run_severity([finding]) is None


@pytest.mark.parametrize("name,state", [
    ("postgres", {"status": "fail", "error": "connection refused"}),
    ("redis", {"status": "fail", "error": "Timeout connecting to server"}),
    ("dlq", {"status": "degraded", "depths": {"dlq:webhooks": 9}}),
    ("llm_providers", {"status": "fail", "error": "no LLM provider key"}),
])
def test_failing_checks_are_named_by_their_own_names(name: str, state: dict[str, Any]) -> None:
    checks = {"postgres": {"status": "ok"}, "redis": {"status": "ok"},
              "dlq": {"status": "ok"}, "sentry": {"status": "ok"},
              "llm_providers": {"status": "ok"}, name: state}
    finding = deep({"status": "degraded", "checks": checks})
    assert finding.code == "health.degraded"
    assert finding.evidence["failing"] == [name]
    assert name in finding.summary


def test_healthz_gets_its_verdict_before_the_deep_check() -> None:
    app = DealixApp(AppState())
    with LoopbackServer(app) as server:
        health.probe_health(config_for(server.url), FAST)
    paths = [(r.path, r.arg("deep")) for r in app.seen()]
    assert paths == [("/healthz", ""), ("/healthz", "1")]


@pytest.fixture
def hung_database() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"postgresql://dealix:pw@127.0.0.1:{sock.getsockname()[1]}/dealix"


@pytest.mark.slow
def test_a_hung_database_is_no_false_sev1(hung_database: str) -> None:
    app = DealixApp(AppState(database_url=hung_database))
    with LoopbackServer(app) as server:
        findings = health.probe_health(config_for(server.url), FAST)
    by_probe = {f.evidence["probe"]: f for f in findings}
    assert by_probe["healthz"].code == "health.ok"
    assert by_probe["healthz"].evidence["seconds"] < 1.0
    assert by_probe["deep"].code == "health.degraded"
    assert by_probe["deep"].evidence["failing"] == ["postgres"]
    level = run_severity(findings)
    assert level is not None and level.level == "SEV-2"


@pytest.mark.slow
def test_the_deep_check_blocks_the_single_worker(hung_database: str) -> None:
    app = DealixApp(AppState(database_url=hung_database))
    with LoopbackServer(app) as server:
        thread = threading.Thread(target=httpx.get, args=(server.url + "/healthz?deep=1",),
                                  kwargs={"timeout": 10})
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        waited = time.monotonic() - started
        thread.join()
    assert waited > 1.5   # /healthz waited for the deep check's 3 s connect


def test_a_deep_check_that_times_out_is_not_an_outage() -> None:
    class SlowDeep(DeepBody):
        def handle(self, request: Request) -> Response:
            if request.arg("deep"):
                time.sleep(1.5)
            return super().handle(request)

    with LoopbackServer(SlowDeep({"status": "ok", "checks": {}})) as server:
        original = health.DEEP_READ_TIMEOUT
        health.DEEP_READ_TIMEOUT = 0.5
        try:
            findings = health.probe_health(config_for(server.url), Timeouts(0.5, 0.5))
        finally:
            health.DEEP_READ_TIMEOUT = original
    codes = {f.code for f in findings if f.failed}
    assert codes == {"health.deep_timeout"}
    level = run_severity(findings)
    assert level is not None and level.level == "SEV-2"


def test_405_proves_the_api_answers_like_401() -> None:
    app = DealixApp(AppState(api_keys=set()))     # API_KEYS unset: the router answers
    with LoopbackServer(app) as server:
        finding = api_routes.probe_protected(config_for(server.url), FAST)
        unknown = httpx.get(server.url + "/api/v1/nothing-here")
    assert finding.code == "api.ok" and finding.evidence["http_status"] == 405
    assert unknown.status_code == 404


def test_a_wrong_app_answers_404_everywhere() -> None:
    app = DealixApp(AppState(serves_api=False))
    with LoopbackServer(app) as server:
        assert httpx.get(server.url + "/healthz").status_code == 404
        assert httpx.get(server.url + "/api/v1/pricing/plans").status_code == 404
        findings = health.probe_health(config_for(server.url), FAST)
        app.state.other_app = "static"
        assert httpx.post(server.url + "/api/v1/webhooks/moyasar", json={}).status_code == 501
    assert {f.code for f in findings if f.failed} == {"health.wrong_app", "api.not_found"}


def deep_body(state: AppState) -> dict[str, Any]:
    with LoopbackServer(DealixApp(state)) as server:
        body: dict[str, Any] = httpx.get(server.url + "/health/deep").json()
    return body


def test_simulated_deep_check_objects() -> None:
    full = deep_body(AppState())
    assert full["status"] == "ok"
    assert list(full["checks"]) == ["postgres", "redis", "dlq", "sentry", "llm_providers"]
    assert all(isinstance(c, dict) and c["status"] == "ok" for c in full["checks"].values())
    minimal = deep_body(AppState(redis_configured=False, sentry_dsn=""))
    assert minimal["status"] == "ok"
    assert "dlq" not in minimal["checks"]          # dlq only when Redis is configured
    assert minimal["checks"]["redis"] == {"status": "skip", "reason": "no REDIS_URL"}
    assert minimal["checks"]["sentry"]["status"] == "skip"
    wrong_dsn = deep_body(AppState(sentry_dsn="https://k@sentry.example.com/1"))
    assert wrong_dsn["status"] == "ok" and wrong_dsn["checks"]["sentry"]["status"] == \
        "misconfigured"
    backlog = deep_body(AppState(dlq_depths={"dlq:webhooks": 6}))
    assert backlog["status"] == "degraded" and backlog["checks"]["dlq"]["status"] == "degraded"
    no_llm = deep_body(AppState(llm_providers=()))
    assert no_llm["status"] == "degraded"
    assert no_llm["checks"]["llm_providers"]["status"] == "fail"


def test_simulated_webhook_dedupes_persists_and_dlqs() -> None:
    state = AppState(webhook_secret="s3cret")
    with LoopbackServer(DealixApp(state)) as server:
        url = server.url + "/api/v1/webhooks/moyasar"
        event = {"id": "evt-1", "type": "payment_paid", "secret_token": "s3cret",
                 "data": {"id": "pay-1", "status": "paid"}}
        first = httpx.post(url, json=event).json()
        again = httpx.post(url, json=event).json()
        assert first["status"] == "ok" and again == {"status": "duplicate", "id": "evt-1"}
        assert httpx.get(url).status_code == 405
        assert httpx.post(url, json=[event]).status_code == 500
        assert httpx.post(url, json={**event, "secret_token": "s3cret\n"}).status_code == 401
        state.webhook_processing_fails = True
        dlq = httpx.post(url, json={**event, "id": "evt-2"}).json()
    assert dlq["status"] == "dlq"
    assert [e.event_id for e in state.payment_events] == ["evt-1", "evt-2"]
    assert len([s for s in state.side_effects if s.startswith("receipt:")]) == 1


def test_a_landing_page_answering_healthz_is_still_a_wrong_app() -> None:
    class Landing(FakeService):
        def handle(self, request: Request) -> Response:
            if request.path == "/healthz" and not request.arg("deep"):
                return Response(200, {"status": "ok", "service": "dealix-landing"})
            return Response(404, {"detail": "Not Found"})

    with LoopbackServer(Landing()) as server:
        findings = health.probe_health(config_for(server.url), FAST)
    assert {f.code for f in findings if f.failed} == {"health.wrong_app", "api.not_found"}
