"""The fakes a SEV-1 response talks to (Railway, UptimeRobot, Moyasar, Sentry), and the
scenarios of the "/api/v1 returns 404" and "High error rate in Sentry" sections."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from runbook.drill.fakes.moyasar import FakeMoyasar, with_moyasar
from runbook.drill.fakes.railway import FakeDeployment, FakeRailway, RailwayHandles, with_railway
from runbook.drill.fakes.sentry import FakeSentry, with_sentry
from runbook.drill.fakes.slack import with_slack
from runbook.drill.fakes.uptimerobot import FakeUptimeRobot, with_uptime
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.target import Target

WRONG_START_COMMAND = "uvicorn landing.main:app --host 0.0.0.0 --port $PORT"


@dataclass
class MonitoredServices:
    railway: FakeRailway
    uptime: FakeUptimeRobot
    moyasar: FakeMoyasar
    sentry: FakeSentry
    railway_handles: RailwayHandles


def with_monitoring(target: Target) -> MonitoredServices:
    """Healthy Railway, UptimeRobot, Moyasar, Sentry and Slack fakes for the target."""
    railway = with_railway(target)
    with_slack(target)
    return MonitoredServices(railway, with_uptime(target), with_moyasar(target),
                             with_sentry(target), target.extras["railway"])


def new_deploy(target: Target, status: str, minutes_ago: float, message: str
               ) -> FakeDeployment:
    """A new deployment of Dealix on top of the history (the one it replaced is REMOVED); the
    app now runs its commit."""
    handles: RailwayHandles = target.extras["railway"]
    for old in handles.dealix.deployments:
        if old.status == "SUCCESS":
            old.status = "REMOVED"
    target.app.state.git_sha = secrets.token_hex(20)
    return handles.fake.add_deployment(
        handles.dealix.id, status, datetime.now(UTC) - timedelta(minutes=minutes_ago),
        commit_hash=target.app.state.git_sha, commit_message=message,
        commit_author="Faisal Alharbi", url="dealix-production.up.railway.app")


def crash(target: Target) -> None:
    """The outage: a deploy 12 minutes ago crashed, the edge answers 502, UptimeRobot saw it."""
    target.app.state.up = False
    deployment = new_deploy(target, "CRASHED", 12,
                            "Merge pull request #231 from dealix/async-lead-import")
    started = deployment.created_at
    deployment.log("Starting Container", at=started + timedelta(seconds=40))
    deployment.log("Traceback (most recent call last):", "error",
                   at=started + timedelta(seconds=42))
    deployment.log("ModuleNotFoundError: No module named 'leadimport'", "error",
                   at=started + timedelta(seconds=42))
    uptime: FakeUptimeRobot = target.extras["uptimerobot"]
    uptime.monitors[0].go_down(started + timedelta(minutes=1))


def api_404(target: Target) -> None:
    with_monitoring(target)
    new_deploy(target, "SUCCESS", 25, "Merge pull request #240 from dealix/landing-refresh")
    handles: RailwayHandles = target.extras["railway"]
    handles.dealix.instance.start_command = WRONG_START_COMMAND
    target.app.state.serves_api = False


def error_spike(target: Target) -> None:
    with_monitoring(target)
    deployment = new_deploy(target, "SUCCESS", 20,
                            "Merge pull request #236 from dealix/lead-scoring-v2")
    sentry: FakeSentry = target.extras["sentry"]
    sentry.spike_since(deployment.created_at, 10)


register(Scenario(
    "api-404", "a deploy succeeded with the wrong start command: /api/v1 answers 404",
    "api_404", api_404, expect_failing=("deploy.start_command_wrong", "api.not_found"),
    expect_severity="SEV-2"))
register(Scenario(
    "error-spike", "a deploy 20 minutes ago, and Sentry errors 10 times the baseline since",
    "error_spike", error_spike, expect_failing=("errors.spike_after_deploy",),
    expect_severity="SEV-2"))
