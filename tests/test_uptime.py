"""The UptimeRobot v2 client against the fake UptimeRobot on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.checks.uptime import check_uptime
from runbook.clients.transport import Timeouts
from runbook.clients.uptimerobot import UptimeRobotClient
from runbook.core.config import Config, parse_config
from runbook.core.errors import AuthError, RateLimited, ServiceUnavailable
from runbook.core.findings import Status
from runbook.drill.fakes.server import LoopbackServer, json_response
from runbook.drill.fakes.uptimerobot import FakeMonitor, FakeUptimeRobot

KEY = "u1234567-abcdefabcdefabcdef"
FAST = Timeouts(connect=1.0, read=0.5)


class Env:
    def __init__(self, fake: FakeUptimeRobot, server: LoopbackServer, monitor: FakeMonitor
                 ) -> None:
        self.fake, self.server, self.monitor = fake, server, monitor

    def config(self, monitor_id: int | None = None) -> Config:
        return parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "uptimerobot": {"api_url": self.server.url + "/v2", "api_key_env": "TEST_UR_KEY",
                            "monitor_id": self.monitor.id if monitor_id is None
                            else monitor_id}}, Path("runbook.toml"))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("TEST_UR_KEY", KEY)
    fake = FakeUptimeRobot(KEY)
    monitor = fake.add_monitor("Dealix /healthz", "https://api.dealix.me/healthz")
    fake.add_monitor("Dealix pricing", "https://api.dealix.me/api/v1/pricing/plans")
    with LoopbackServer(fake) as server:
        yield Env(fake, server, monitor)


def test_up_monitor(env: Env) -> None:
    [finding] = check_uptime(env.config(), FAST)
    assert finding.code == "uptime.up" and finding.status is Status.PASS
    request = env.fake.seen("POST", "/v2/getMonitors")[0]
    form = request.form()
    assert form["api_key"] == KEY and form["logs"] == "1" and form["format"] == "json"
    assert form["monitors"] == str(env.monitor.id)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_down_since_is_the_newest_down_log(env: Env) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    env.monitor.go_down(since)
    [finding] = check_uptime(env.config(), FAST)
    assert finding.code == "uptime.down" and finding.status is Status.FAIL
    assert finding.evidence["down_since"] == since.isoformat().replace("+00:00", "Z")
    assert "UTC" in finding.evidence["down_since_local"]
    assert "Riyadh" in finding.evidence["down_since_local"]
    assert finding.fix


def test_all_monitors_when_id_is_zero(env: Env) -> None:
    findings = check_uptime(env.config(monitor_id=0), FAST)
    assert len(findings) == 2
    assert "monitors" not in env.fake.seen("POST")[0].form()


def test_paused_monitor_is_a_failure(env: Env) -> None:
    env.monitor.status = 0
    [finding] = check_uptime(env.config(), FAST)
    assert finding.code == "uptime.paused" and finding.status is Status.FAIL


def test_wrong_key(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_UR_KEY", "wrong-key-123")
    with pytest.raises(AuthError, match=r"api_key not found.*\$TEST_UR_KEY"):
        UptimeRobotClient.from_config(env.config(), FAST).monitors()


@pytest.mark.parametrize("status", [401, 403])
def test_http_auth_failure(env: Env, status: int) -> None:
    env.fake.faults.inject(json_response({"stat": "fail"}, status))
    with pytest.raises(AuthError, match=r"\$TEST_UR_KEY"):
        UptimeRobotClient.from_config(env.config(), FAST).monitors()


def test_429_retried(env: Env) -> None:
    env.fake.faults.rate_limit(retry_after=0.1)
    assert len(UptimeRobotClient.from_config(env.config(), FAST).monitors()) == 2
    assert len(env.fake.seen("POST")) == 2


def test_429_past_the_bound(env: Env) -> None:
    env.fake.faults.rate_limit(retry_after=120)
    with pytest.raises(RateLimited):
        UptimeRobotClient.from_config(env.config(), FAST).monitors()


def test_server_error_malformed_and_timeout(env: Env) -> None:
    client = UptimeRobotClient.from_config(env.config(), FAST)
    env.fake.faults.server_error(500)
    with pytest.raises(ServiceUnavailable, match="server error 500"):
        client.monitors()
    env.fake.faults.malformed()
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        client.monitors()
    env.fake.hang = True
    with pytest.raises(ServiceUnavailable, match="within the timeout"):
        client.monitors()


def test_unconfigured_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = parse_config({"service": {"name": "d", "base_url": "http://127.0.0.1:9"}},
                        Path("runbook.toml"))
    [finding] = check_uptime(bare, FAST)
    assert finding.status is Status.SKIPPED and "[uptimerobot]" in finding.summary
    monkeypatch.delenv("UPTIMEROBOT_API_KEY", raising=False)
    configured = parse_config({"service": {"name": "d", "base_url": "http://127.0.0.1:9"},
                               "uptimerobot": {}}, Path("runbook.toml"))
    [finding] = check_uptime(configured, FAST)
    assert finding.status is Status.SKIPPED and "$UPTIMEROBOT_API_KEY" in finding.summary


def test_more_than_fifty_monitors_are_read_page_by_page(env: Env) -> None:
    for n in range(118):
        env.fake.add_monitor(f"extra {n}", f"https://example.com/{n}")
    monitors = UptimeRobotClient.from_config(env.config(monitor_id=0), FAST).monitors()
    assert len(monitors) == 120 and len({m.id for m in monitors}) == 120
    offsets = [r.form()["offset"] for r in env.fake.seen("POST", "/v2/getMonitors")]
    assert offsets == ["0", "50", "100"]


def test_recent_is_the_newest_log_or_check(env: Env) -> None:
    from runbook.checks.uptime import polling_finding

    now = datetime.now(UTC)
    env.monitor.last_checked = now - timedelta(hours=5)    # no recent check …
    env.monitor.log(2, now - timedelta(minutes=3))         # … but a fresh log
    [monitor] = UptimeRobotClient.from_config(env.config(), FAST).monitors(
        [env.monitor.id], response_times=3)
    assert polling_finding(monitor, now).code == "uptime.polling"
    env.monitor.logs.pop()
    [monitor] = UptimeRobotClient.from_config(env.config(), FAST).monitors(
        [env.monitor.id], response_times=3)
    assert polling_finding(monitor, now).code == "uptime.stale"
