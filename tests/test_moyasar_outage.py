"""The Moyasar outage check against the fake Moyasar on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.checks.moyasar import check_outage
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.findings import Status
from runbook.drill.fakes.moyasar import UNAUTHORIZED, FakeMoyasar, payment
from runbook.drill.fakes.server import LoopbackServer, json_response

KEY = "sk_test_0123456789abcdef"
FAST = Timeouts(connect=1.0, read=0.5)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeMoyasar, Config]]:
    monkeypatch.setenv("TEST_MOYASAR_KEY", KEY)
    service = FakeMoyasar(KEY)
    service.payments = [payment(), payment(status="failed")]
    with LoopbackServer(service) as server:
        config = parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "moyasar": {"api_url": server.url + "/v1", "secret_key_env": "TEST_MOYASAR_KEY"}},
            Path("runbook.toml"))
        yield service, config


def test_ok_with_status_and_latency(fake: tuple[FakeMoyasar, Config]) -> None:
    service, config = fake
    finding = check_outage(config, FAST)
    assert finding.code == "moyasar.ok" and finding.status is Status.PASS
    assert finding.evidence["http_status"] == 200 and finding.evidence["seconds"] >= 0
    request = service.seen("GET", "/v1/payments")[0]
    assert request.arg("per_page") == "1"
    assert request.headers["Authorization"].startswith("Basic ")


def test_bad_key_is_a_key_problem_not_an_outage(fake: tuple[FakeMoyasar, Config],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _, config = fake
    monkeypatch.setenv("TEST_MOYASAR_KEY", "sk_test_wrongwrongwrong")
    finding = check_outage(config, FAST)
    assert finding.code == "moyasar.key_rejected" and finding.status is Status.FAIL
    assert "$TEST_MOYASAR_KEY" in finding.summary and "sk_test_wrong" not in str(finding)


def test_fake_answers_moyasars_401_body(fake: tuple[FakeMoyasar, Config]) -> None:
    import httpx

    _service, config = fake
    assert config.moyasar is not None
    response = httpx.get(config.moyasar.api_url + "/payments", auth=("nope", ""))
    assert response.status_code == 401 and response.json() == UNAUTHORIZED
    assert UNAUTHORIZED["message"] == "Invalid authorization credentials"


def test_403_is_a_key_problem(fake: tuple[FakeMoyasar, Config]) -> None:
    service, config = fake
    service.faults.inject(json_response({"type": "authentication_error"}, 403))
    assert check_outage(config, FAST).code == "moyasar.key_rejected"


@pytest.mark.parametrize("fault", ["server_error", "malformed", "hang"])
def test_outages(fake: tuple[FakeMoyasar, Config], fault: str) -> None:
    service, config = fake
    if fault == "hang":
        service.hang = True
    else:
        getattr(service.faults, fault)()
    finding = check_outage(config, FAST)
    assert finding.code == "moyasar.down" and finding.status is Status.FAIL
    assert "seconds" in finding.evidence and finding.fix


def test_429_retried_then_ok(fake: tuple[FakeMoyasar, Config]) -> None:
    service, config = fake
    service.faults.rate_limit(retry_after=0.1)
    assert check_outage(config, FAST).code == "moyasar.ok"


def test_429_past_the_bound_is_an_error_not_an_outage(fake: tuple[FakeMoyasar, Config]) -> None:
    service, config = fake
    service.faults.rate_limit(retry_after=60)
    finding = check_outage(config, FAST)
    assert finding.status is Status.ERROR


def test_unconfigured_is_skipped() -> None:
    bare = parse_config({"service": {"name": "d", "base_url": "http://127.0.0.1:9"}},
                        Path("runbook.toml"))
    assert check_outage(bare, FAST).status is Status.SKIPPED
