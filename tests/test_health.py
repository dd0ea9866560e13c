"""The health probes against real local servers, for every failure class."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.checks.health import probe_health
from runbook.clients.transport import Timeouts
from runbook.core.config import parse_config
from runbook.core.findings import Status
from runbook.drill.fakes.dealix import AppState, DealixApp
from runbook.drill.fakes.server import FakeService, LoopbackServer, Request, Response

FAST = Timeouts(connect=0.5, read=0.5)


def config_for(base_url: str):  # type: ignore[no-untyped-def]
    return parse_config({"service": {"name": "dealix", "base_url": base_url}}, Path("t.toml"))


class Fixed(FakeService):
    def __init__(self, status: int, body: object) -> None:
        super().__init__()
        self.status, self.body = status, body

    def handle(self, request: Request) -> Response:
        return Response(self.status, self.body)


@pytest.fixture
def app() -> Iterator[tuple[DealixApp, LoopbackServer]]:
    fake = DealixApp(AppState())
    with LoopbackServer(fake) as server:
        yield fake, server


def by_probe(findings):  # type: ignore[no-untyped-def]
    return {f.evidence["probe"]: f for f in findings}


def test_healthy(app: tuple[DealixApp, LoopbackServer]) -> None:
    findings = by_probe(probe_health(config_for(app[1].url), FAST))
    assert findings["healthz"].code == "health.ok"
    assert findings["deep"].code == "health.ok"


def test_degraded_deep_check(app: tuple[DealixApp, LoopbackServer]) -> None:
    app[0].state.postgres = "error: OperationalError"
    findings = by_probe(probe_health(config_for(app[1].url), FAST))
    assert findings["healthz"].status is Status.PASS
    assert findings["deep"].code == "health.degraded"
    assert findings["deep"].evidence["failing"] == ["postgres"]


def test_5xx_is_down() -> None:
    with LoopbackServer(Fixed(500, "Internal Server Error")) as server:
        findings = by_probe(probe_health(config_for(server.url), FAST))
    assert findings["healthz"].code == "health.down"
    assert findings["healthz"].status is Status.FAIL
    assert findings["healthz"].evidence["http_status"] == 500


def test_slower_than_the_timeout_is_a_timeout() -> None:
    fake = Fixed(200, {"status": "ok"})
    fake.delay = 3.0
    with LoopbackServer(fake) as server:
        findings = by_probe(probe_health(config_for(server.url), FAST))
    assert findings["healthz"].code == "health.timeout"
    # /healthz gets its verdict first; a deep check to an app that did not answer is not sent.
    assert findings["deep"].status is Status.SKIPPED


def test_refused_port_is_down() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    findings = by_probe(probe_health(config_for(f"http://127.0.0.1:{port}"), FAST))
    assert findings["healthz"].code == "health.down"
    assert findings["healthz"].evidence["failure"] == "refused"


def test_unresolvable_host_is_down() -> None:
    findings = by_probe(probe_health(config_for("http://dealix.invalid"), FAST))
    assert findings["healthz"].code == "health.down"
    assert findings["healthz"].evidence["failure"] == "dns"


def test_wrong_app_answering_404_is_a_wrong_app() -> None:
    with LoopbackServer(Fixed(404, {"detail": "Not Found"})) as server:
        findings = probe_health(config_for(server.url), FAST)
    codes = {f.code: f.status for f in findings}
    assert codes["health.wrong_app"] is Status.FAIL
    assert codes["api.not_found"] is Status.FAIL
    assert "health.down" not in codes
