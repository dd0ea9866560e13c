"""The Sentry client against the fake Sentry, the spike rule, and the error-spike report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.checks.sentry import assess, classify
from runbook.clients import sentry
from runbook.clients.sentry import Bucket, SentryClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.errors import (
    AuthError,
    ConfigError,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
)
from runbook.core.findings import Status
from runbook.drill.fakes.railway import with_railway
from runbook.drill.fakes.sentry import FakeSentry, with_sentry
from runbook.drill.fakes.server import LoopbackServer, json_response
from runbook.drill.target import simulated_target
from runbook.sections import error_spike

TOKEN = "sntrys_0123456789abcdef0123"
FAST = Timeouts(connect=1.0, read=0.5)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def series(counts_before: int, hot: list[int], quiet: int = 3) -> list[Bucket]:
    """A day of `quiet` errors per 5 min, then `hot` counts ending at NOW."""
    start = NOW - timedelta(minutes=5 * (counts_before + len(hot)))
    counts = [quiet] * counts_before + hot
    return [Bucket(start + timedelta(minutes=5 * i), c) for i, c in enumerate(counts)]


def test_rule_normal_day() -> None:
    result = assess(series(280, [3, 4, 3]), NOW)
    assert not result.spike and result.threshold == 15.0
    assert classify(result, None).code == "errors.normal"


def test_rule_needs_both_thresholds() -> None:
    # 10× a quiet baseline of 1 is still within the alert rule (not more than 10).
    assert not assess(series(280, [10, 10, 10], quiet=1), NOW).spike
    # Over the alert rule but within k× a busy baseline.
    assert not assess(series(280, [40, 40, 40], quiet=10), NOW).spike


def test_rule_spike_start_walks_back() -> None:
    data = series(270, [30] * 12)  # an hour of errors: it began before the recent window
    result = assess(data, NOW)
    assert result.spike and result.started_at == NOW - timedelta(minutes=60)


def test_spike_after_deploy_versus_unrelated() -> None:
    result = assess(series(280, [30, 31, 32, 33]), NOW)
    assert result.started_at == NOW - timedelta(minutes=20)
    after = classify(result, NOW - timedelta(minutes=22), "abc1234 Merge #9")
    assert after.code == "errors.spike_after_deploy" and after.status is Status.FAIL
    assert "roll back" in after.fix and after.evidence["deploy"] == "abc1234 Merge #9"
    unrelated = classify(result, NOW - timedelta(hours=5))
    assert unrelated.code == "errors.spike" and "scale" in unrelated.fix
    assert classify(result, None).code == "errors.spike"


class Env:
    def __init__(self, fake: FakeSentry, server: LoopbackServer) -> None:
        self.fake, self.server = fake, server

    def config(self, project_id: str = "") -> Config:
        return parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "sentry": {"api_url": self.server.url + "/api/0", "org": "dealix",
                       "project": "dealix-backend", "token_env": "TEST_SENTRY_TOKEN",
                       "project_id": project_id}}, Path("runbook.toml"))

    def client(self) -> SentryClient:
        return SentryClient.from_config(self.config(), FAST)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("TEST_SENTRY_TOKEN", TOKEN)
    fake = FakeSentry(TOKEN)
    with LoopbackServer(fake) as server:
        yield Env(fake, server)


def test_series_from_events_stats(env: Env) -> None:
    buckets = env.client().error_series()
    assert len(buckets) == 24 * 12 + 1
    assert buckets == sorted(buckets, key=lambda b: b.at)
    stats = env.fake.seen("GET", "/api/0/organizations/dealix/events-stats/")[0]
    assert stats.arg("project") == env.fake.project_id
    assert stats.arg("query") == "event.type:error" and stats.arg("interval") == "5m"
    assert stats.arg("yAxis") == "count()" and stats.arg("statsPeriod") == "24h"
    assert stats.headers["Authorization"] == f"Bearer {TOKEN}"
    assert env.fake.seen("GET", "/api/0/projects/dealix/dealix-backend/")


def test_configured_project_id_skips_the_lookup(env: Env) -> None:
    SentryClient.from_config(env.config(project_id=env.fake.project_id), FAST).error_series()
    assert not env.fake.seen("GET", "/api/0/projects/")


def test_fake_spike_is_detected(env: Env) -> None:
    env.fake.spike_since(datetime.now(UTC) - timedelta(minutes=20), 10)
    result = assess(env.client().error_series(), datetime.now(UTC))
    assert result.spike and result.recent_max > 10


def test_wrong_token(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SENTRY_TOKEN", "wrong-token-xyz")
    with pytest.raises(AuthError, match=r"Invalid token.*\$TEST_SENTRY_TOKEN"):
        env.client().error_series()


def test_forbidden(env: Env) -> None:
    env.fake.faults.inject(json_response({"detail": "You do not have permission"}, 403))
    with pytest.raises(AuthError, match=r"403.*\$TEST_SENTRY_TOKEN"):
        env.client().error_series()


def test_unknown_org_names_the_config_keys(env: Env) -> None:
    env.fake.org = "someone-else"
    with pytest.raises(ServiceError, match=r"org = 'dealix'"):
        env.client().error_series()


def test_429(env: Env) -> None:
    env.fake.faults.rate_limit(retry_after=0.1)
    assert env.client().error_series()
    env.fake.faults.rate_limit(retry_after=99)
    with pytest.raises(RateLimited):
        env.client().error_series()


def test_server_error_malformed_timeout(env: Env) -> None:
    client = env.client()
    env.fake.faults.server_error(503)
    with pytest.raises(ServiceUnavailable, match="503"):
        client.error_series()
    env.fake.faults.malformed()
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        client.error_series()
    env.fake.faults.inject(json_response({"data": [["x", "y"]]}))
    with pytest.raises(ServiceUnavailable, match="not understood"):
        SentryClient.from_config(env.config(project_id="1"), FAST).error_series()
    env.fake.hang = True
    with pytest.raises(ServiceUnavailable, match="within the timeout"):
        client.error_series()


def test_report_ties_the_spike_to_the_deploy(tmp_path: Path) -> None:
    with simulated_target(tmp_path / "runs") as target:
        railway = with_railway(target)
        fake = with_sentry(target)
        deploy_at = datetime.now(UTC) - timedelta(minutes=20)
        railway.add_deployment(target.extras["railway"].dealix.id, "SUCCESS", deploy_at,
                               commit_hash="f" * 40, commit_message="Risky change")
        fake.spike_since(deploy_at, 10)
        config = parse_config(target.sections, tmp_path / "runbook.toml")
        with target.environment():
            report = error_spike.check_errors(config, FAST)
        verdict = report.verdict
        assert verdict is not None and verdict.code == "errors.spike_after_deploy"
        assert report.deployment is not None and report.deployment.commit_hash == "f" * 40
        png = report.chart()._repr_png_()
        assert png.startswith(b"\x89PNG")
        assert "deploy at" in repr(report.chart())


def test_report_when_sentry_hangs_is_an_error(tmp_path: Path) -> None:
    with simulated_target(tmp_path / "runs") as target:
        fake = with_sentry(target)
        fake.hang = True
        config = parse_config(target.sections, tmp_path / "runbook.toml")
        with target.environment():
            report = error_spike.check_errors(config, FAST)
        codes = {f.code: f.status for f in report.findings}
        assert codes == {"errors.normal": Status.ERROR, "deploy.recent": Status.SKIPPED}


def test_report_unconfigured() -> None:
    bare = parse_config({"service": {"name": "d", "base_url": "http://127.0.0.1:9"}},
                        Path("runbook.toml"))
    report = error_spike.check_errors(bare, FAST)
    assert [f.status for f in report.findings] == [Status.SKIPPED]
    assert sentry.configured(bare)


def test_the_error_query_is_a_setting(env: Env) -> None:
    config = parse_config({
        "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
        "sentry": {"api_url": env.server.url + "/api/0", "org": "dealix",
                   "project": "dealix-backend", "token_env": "TEST_SENTRY_TOKEN",
                   "error_query": "event.type:error level:fatal"}}, Path("runbook.toml"))
    assert config.sentry is not None and env.config().sentry is not None
    assert env.config().sentry.error_query == "event.type:error"   # the default
    SentryClient.from_config(config, FAST).error_series()
    stats = env.fake.seen("GET", "/api/0/organizations/dealix/events-stats/")[0]
    assert stats.arg("query") == "event.type:error level:fatal"


@pytest.mark.parametrize("query", ["", "   ", "a\nb"])
def test_a_bad_error_query_is_refused(query: str) -> None:
    with pytest.raises(ConfigError, match="error_query"):
        parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
                      "sentry": {"org": "o", "project": "p", "error_query": query}},
                     Path("runbook.toml"))


def test_the_token_hint_names_the_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SENTRY_TOKEN", raising=False)
    config = parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
                           "sentry": {"org": "o", "project": "p",
                                      "token_env": "TEST_SENTRY_TOKEN"}}, Path("runbook.toml"))
    with pytest.raises(AuthError) as raised:
        SentryClient.from_config(config, FAST)
    assert all(scope in str(raised.value) for scope in ("org:read", "project:read",
                                                        "event:read", "project_id"))
