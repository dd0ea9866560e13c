"""Every request has a total deadline and a cap on the body it reads, against real servers:
a /healthz that drips one byte every half second, and one that sends gigabytes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runbook.checks import health
from runbook.clients.transport import Timeouts, client, get_once, request
from runbook.core.config import load_config, parse_config
from runbook.core.errors import ServiceUnavailable
from runbook.drill.fakes.dealix import AppState, DealixApp
from runbook.drill.fakes.server import FakeService, LoopbackServer, Request, Response
from runbook.drill.scenarios.mitigate import bad_deploy
from runbook.drill.target import simulated_target
from runbook.host.runner import run_notebook

FAST = Timeouts(connect=0.5, read=1.0)


class Dripping(FakeService):
    """Answers 200 at once, then sends its body one byte every half second."""

    name = "dripping"

    def __init__(self) -> None:
        super().__init__()
        self.drip = 0.5

    def handle(self, request: Request) -> Response:
        return Response(200, {"status": "ok", "padding": "x" * 200})


class Huge(FakeService):
    """Answers 200 with a 2 GiB body, streamed (the fake never holds it)."""

    name = "huge"
    SIZE = 2 * 1024 ** 3

    def handle(self, request: Request) -> Response:
        chunk = b"x" * (1024 * 1024)
        return Response(200, chunks=(chunk for _ in range(self.SIZE // len(chunk))),
                        length=self.SIZE)


def test_a_dripping_body_is_cut_at_the_total_deadline() -> None:
    with LoopbackServer(Dripping()) as server:
        started = time.monotonic()
        response, kind, _ = get_once(server.url + "/healthz", FAST)
        elapsed = time.monotonic() - started
    assert response is None and kind == "timeout"
    assert elapsed < FAST.total + 1.0


def test_request_and_plain_client_calls_are_bounded_too() -> None:
    with LoopbackServer(Dripping()) as server, client(FAST) as http:
        started = time.monotonic()
        try:
            request(http, "dripping", "GET", server.url + "/x")
        except ServiceUnavailable as exc:
            assert "within the timeout" in str(exc)
        else:  # pragma: no cover - the failure this test exists for
            raise AssertionError("a dripping answer was read to its end")
        assert time.monotonic() - started < FAST.total + 1.0


def test_a_huge_body_is_cut_at_the_cap() -> None:
    small = Timeouts(connect=1.0, read=5.0, max_body=1024 * 1024)
    with LoopbackServer(Huge()) as server:
        started = time.monotonic()
        response, kind, _ = get_once(server.url + "/healthz", small)
    assert response is None and kind == "too_large"
    assert time.monotonic() - started < small.total


def test_the_health_probe_names_a_huge_body() -> None:
    with LoopbackServer(Huge()) as server:
        config = parse_config({"service": {"name": "dealix", "base_url": server.url}},
                              Path("t.toml"))
        finding = health.probe_healthz(config, Timeouts(connect=1.0, read=5.0,
                                                        max_body=1024 * 1024))
    assert finding.code == "health.down"
    assert "larger than" in finding.summary


def test_an_ordinary_answer_still_reads_whole() -> None:
    with LoopbackServer(DealixApp(AppState())) as server:
        response, kind, _ = get_once(server.url + "/healthz", FAST)
    assert kind == "" and response is not None and response.status_code == 200


@pytest.mark.slow
def test_the_rollback_notebooks_health_checks_are_bounded(runs_dir: Path) -> None:
    """The notebook's before and after /healthz checks, against a /healthz that drips: the
    whole confirmed run stays within a few deadlines, not minutes."""
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        handles = bad_deploy(target, step=0.3)
        target.app.drip = 0.5
        config_path = target.write_config()
        with target.environment():
            config = load_config(config_path)
            started = time.monotonic()
            run = run_notebook("rollback", [("confirm", "true"), ("wait_seconds", "20")],
                               config, incident_id="inc-drip", mode="drill", deadline=120)
            elapsed = time.monotonic() - started
    assert run.status in ("completed", "failed"), run.error
    assert handles.fake.mutation_names() == ["deploymentRollback"]
    health_findings = [f for f in run.record["findings"] if f["code"].startswith("health.")]
    assert health_findings and health_findings[0]["code"] == "health.timeout"
    assert health_findings[-1]["code"] == "health.timeout"
    assert elapsed < 90
