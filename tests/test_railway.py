"""The Railway GraphQL client against the fake Railway on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.clients.railway import MAX_LOG_LINES, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.errors import (
    AuthError,
    ConfigError,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
)
from runbook.core.redaction import registry
from runbook.drill.fakes.railway import TOKEN_ENV, FakeRailway, Mutation, with_railway
from runbook.drill.fakes.server import LoopbackServer, json_response
from runbook.drill.target import simulated_target

TOKEN = "railway-token-0123456789"
FAST = Timeouts(connect=1.0, read=0.5)


class Env:
    def __init__(self, fake: FakeRailway, server: LoopbackServer, service_id: str) -> None:
        self.fake, self.server, self.service_id = fake, server, service_id

    def config(self, token_kind: str = "account", **extra: object) -> Config:
        return parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "railway": {"api_url": self.server.url + "/graphql/v2",
                        "project_id": self.fake.project_id,
                        "environment_id": self.fake.environment_id,
                        "service_id": self.service_id, "token_env": "TEST_RAILWAY_TOKEN",
                        "token_kind": token_kind, **extra}}, Path("runbook.toml"))

    def client(self, token_kind: str = "account") -> RailwayClient:
        return RailwayClient.from_config(self.config(token_kind), FAST)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("TEST_RAILWAY_TOKEN", TOKEN)
    fake = FakeRailway(TOKEN)
    service = fake.add_service("dealix")
    now = datetime.now(UTC)
    # Added out of order on purpose: the client must sort by createdAt.
    fake.add_deployment(service.id, "REMOVED", now - timedelta(days=2), commit_hash="a" * 40,
                        commit_message="older")
    fake.add_deployment(service.id, "CRASHED", now - timedelta(minutes=5),
                        commit_hash="c" * 40, commit_message="Merge pull request #9")
    fake.add_deployment(service.id, "SUCCESS", now - timedelta(days=1), commit_hash="b" * 40,
                        commit_message="previous good")
    service.variables = {"DATABASE_URL": "postgresql://u:pw-secret-123@db:5432/railway",
                         "MOYASAR_WEBHOOK_SECRET": "whsec-abcdef"}
    service.instance.start_command = "python -m landing"
    with LoopbackServer(fake) as server:
        made = Env(fake, server, service.id)
        # The service's variables are read once per process before anything else (so they are
        # registered as secrets first): read them now, so a fault a test queues meets the
        # operation under test.
        with contextlib.suppress(ServiceError):
            made.client().variables()
        fake.requests.clear()
        yield made


def test_variables_are_read_before_anything_else(env: Env) -> None:
    registry().clear()    # a fresh process: nothing read yet
    env.client().deployments()
    first, second = env.fake.seen("POST", "/graphql/v2")
    assert "variables(" in first.json()["query"] and "deployments" in second.json()["query"]
    assert "pw-secret-123" not in registry().redact("postgresql://u:pw-secret-123@db")
    env.client().deployments()
    assert len(env.fake.seen("POST", "/graphql/v2")) == 3    # once per process


def test_deployments_newest_first_with_commit(env: Env) -> None:
    client = env.client()
    deployments = client.deployments()
    assert [d.status for d in deployments] == ["CRASHED", "SUCCESS", "REMOVED"]
    latest = client.latest_deployment()
    assert latest is not None and latest.status == "CRASHED"
    assert latest.commit_hash == "c" * 40 and latest.commit_message == "Merge pull request #9"
    assert latest.created_at.tzinfo is not None
    assert client.deployment(latest.id) == latest
    request = env.fake.seen("POST", "/graphql/v2")[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json()["variables"]["input"]["serviceId"] == env.service_id


def test_project_token_goes_in_its_own_header(env: Env) -> None:
    assert env.client("project").latest_deployment() is not None
    request = env.fake.seen("POST")[-1]
    assert request.headers["Project-Access-Token"] == TOKEN
    assert "Authorization" not in request.headers


def test_logs_are_capped_to_the_tail(env: Env) -> None:
    client = env.client()
    crashed = env.fake.find_deployment(client.deployments()[0].id)
    for n in range(MAX_LOG_LINES + 50):
        crashed.log(f"line {n}", "error" if n % 2 else "info")
    logs = client.deployment_logs(crashed.id, limit=10_000)
    assert len(logs) == MAX_LOG_LINES
    assert logs[-1].message == f"line {MAX_LOG_LINES + 49}"
    assert [line.message for line in client.deployment_logs(crashed.id, limit=3)] == \
        [f"line {n}" for n in range(MAX_LOG_LINES + 47, MAX_LOG_LINES + 50)]


def test_service_instance_and_variables_registered(env: Env) -> None:
    client = env.client()
    instance = client.service_instance()
    assert instance.start_command == "python -m landing"
    assert instance.healthcheck_path == "/healthz"
    assert instance.latest_deployment_status == "CRASHED"
    variables = client.variables()
    assert variables["MOYASAR_WEBHOOK_SECRET"] == "whsec-abcdef"
    assert registry().redact("x whsec-abcdef y") == "x [redacted:MOYASAR_WEBHOOK_SECRET] y"
    assert "pw-secret-123" not in registry().redact("pw-secret-123")


def test_rollback_restart_redeploy_and_variables(env: Env) -> None:
    client = env.client()
    seen: list[Mutation] = []
    env.fake.on_mutation.append(seen.append)
    good = next(d for d in client.deployments() if d.status == "SUCCESS")
    assert good.can_rollback
    assert client.deployment_rollback(good.id) is True
    latest = client.latest_deployment()
    assert latest is not None and latest.commit_hash == "b" * 40 and latest.status == "SUCCESS"
    assert latest.id != good.id
    assert client.deployment_restart(latest.id) is True
    redeployed = client.deployment_redeploy(latest.id)
    assert redeployed.commit_hash == "b" * 40
    count = len(client.deployments())
    assert client.variable_upsert("MOYASAR_WEBHOOK_SECRET", "whsec-new-1", skip_deploys=True)
    assert len(client.deployments()) == count
    assert client.variable_upsert("APP_FLAG", "on-1234")
    assert len(client.deployments()) == count + 1
    assert env.fake.services[env.service_id].variables["MOYASAR_WEBHOOK_SECRET"] == "whsec-new-1"
    assert env.fake.mutation_names() == ["deploymentRollback", "deploymentRestart",
                                         "deploymentRedeploy", "variableUpsert",
                                         "variableUpsert"]
    assert [m.name for m in seen] == env.fake.mutation_names()


def test_rollback_refused_where_railway_refuses(env: Env) -> None:
    crashed = env.client().deployments()[0]
    assert not crashed.can_rollback
    with pytest.raises(ServiceError, match="cannot be rolled back"):
        env.client().deployment_rollback(crashed.id)


def test_status_schedule_progresses(env: Env) -> None:
    env.fake.new_deployment_schedule = [(0.0, "BUILDING"), (0.3, "SUCCESS")]
    client = env.client()
    good = client.deployments()[1]
    redeployed = client.deployment_redeploy(good.id)
    assert redeployed.status == "BUILDING"
    env.fake.find_deployment(redeployed.id).schedule_start -= 1.0
    assert client.deployment(redeployed.id).status == "SUCCESS"


def test_wrong_bearer_token_names_the_env_var(env: Env, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.setenv("TEST_RAILWAY_TOKEN", "not-the-token")
    with pytest.raises(AuthError) as caught:
        env.client().deployments()
    message = str(caught.value)
    assert "$TEST_RAILWAY_TOKEN" in message and "account" in message
    assert "Not Authorized" in message and "not-the-token" not in message


def test_unknown_project_token_says_so(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RAILWAY_TOKEN", "not-the-token")
    with pytest.raises(AuthError, match=r"project token in \$TEST_RAILWAY_TOKEN.*token_kind"):
        env.client("project").deployments()


@pytest.mark.parametrize("status", [401, 403])
def test_http_auth_failures(env: Env, status: int) -> None:
    env.fake.faults.inject(json_response({"message": "Unauthorized"}, status))
    with pytest.raises(AuthError, match=r"\$TEST_RAILWAY_TOKEN"):
        env.client().deployments()


def test_429_is_retried_after_retry_after(env: Env) -> None:
    env.fake.faults.rate_limit(retry_after=0.2, times=2)
    assert env.client().latest_deployment() is not None
    assert len(env.fake.seen("POST")) == 3


def test_429_past_the_bound_is_rate_limited(env: Env) -> None:
    env.fake.faults.rate_limit(retry_after=60)
    with pytest.raises(RateLimited, match="Retry-After 60s"):
        env.client().deployments()
    assert len(env.fake.seen("POST")) == 1


def test_server_error(env: Env) -> None:
    env.fake.faults.server_error(502)
    with pytest.raises(ServiceUnavailable, match="server error 502"):
        env.client().deployments()


def test_malformed_json(env: Env) -> None:
    env.fake.faults.malformed()
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        env.client().deployments()


def test_timeout(env: Env) -> None:
    env.fake.hang = True
    with pytest.raises(ServiceUnavailable, match="within the timeout"):
        env.client().deployments()


def test_graphql_error_is_a_service_error(env: Env) -> None:
    with pytest.raises(ServiceError, match="Deployment not found"):
        env.client().deployment("no-such-id")


def test_missing_section_and_unset_token(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = parse_config({"service": {"name": "d", "base_url": "http://127.0.0.1:9"}},
                        Path("runbook.toml"))
    with pytest.raises(ConfigError, match=r"\[railway\]"):
        RailwayClient.from_config(bare, FAST)
    monkeypatch.delenv("TEST_RAILWAY_TOKEN")
    with pytest.raises(AuthError, match=r"\$TEST_RAILWAY_TOKEN is not set"):
        env.client()


def test_with_railway_serves_the_drill_target(tmp_path: Path) -> None:
    with simulated_target(tmp_path / "runs") as target:
        fake = with_railway(target)
        config = parse_config(target.sections, tmp_path / "runbook.toml")
        with target.environment():
            client = RailwayClient.from_config(config, FAST)
            latest = client.latest_deployment()
        assert latest is not None and latest.status == "SUCCESS"
        assert latest.commit_hash == target.app.state.git_sha
        assert target.env[TOKEN_ENV] == fake.token
        assert target.extras["railway"].fake is fake
