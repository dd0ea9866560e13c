"""SEV-1 confirm scenarios: a healthy Dealix (fully configured, minimal, or asleep), a wrong app
on the domain, and a full outage."""

from __future__ import annotations

from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.scenarios.db import with_database
from runbook.drill.scenarios.sev1 import WRONG_START_COMMAND, crash, new_deploy, with_monitoring
from runbook.drill.target import Target


def healthy(target: Target) -> None:
    target.app.state.up = True
    with_monitoring(target)
    with_database(target)


def healthy_minimal(target: Target) -> None:
    # A deploy without Redis or Sentry: the deep check reports them `skip` (and has no dlq);
    # that is not a failure.
    healthy(target)
    target.app.state.redis_configured = False
    target.app.state.sentry_dsn = ""


def deploy_sleeping(target: Target) -> None:
    # App Sleeping idled the service: its latest deployment is SLEEPING, and it answers (it
    # wakes on the request).
    healthy(target)
    new_deploy(target, "SLEEPING", 180, "Merge pull request #228 from dealix/pricing-copy")


def wrong_app(target: Target) -> None:
    # A start command set in the Railway UI runs another app of the repository: the deploy is
    # SUCCESS, but /healthz and every /api/v1 route answer 404.
    healthy(target)
    new_deploy(target, "SUCCESS", 15, "Merge pull request #240 from dealix/landing-refresh")
    target.extras["railway"].dealix.instance.start_command = WRONG_START_COMMAND
    target.app.state.serves_api = False


def outage(target: Target) -> None:
    # The process crashed: Railway's edge answers 502 "Application failed to respond", the
    # latest deployment shows CRASHED, and UptimeRobot saw it go down. Postgres itself is fine.
    with_monitoring(target)
    with_database(target)
    crash(target)


register(Scenario(
    "healthy", "Dealix is up and every dependency is ok", "sev1_response", healthy,
    expect_passing=("health.ok", "deploy.ok", "uptime.up", "moyasar.ok"),
    expect_no_severity=True))
register(Scenario(
    "outage", "the app crashed after a deploy: Railway's edge answers 502 for every request",
    "sev1_response", outage, expect_failing=("health.down", "deploy.crashed", "uptime.down"),
    expect_severity="SEV-1"))
register(Scenario(
    "healthy-minimal", "Dealix is up without Redis or Sentry configured: the deep check says "
    "skip for them", "sev1_response", healthy_minimal,
    expect_passing=("health.ok", "deploy.ok", "uptime.up"), expect_no_severity=True,
    expect_no_failing=True))
register(Scenario(
    "deploy-sleeping", "the latest deployment is SLEEPING (App Sleeping): idle, not failed",
    "sev1_response", deploy_sleeping, expect_passing=("health.ok", "deploy.ok"),
    expect_no_severity=True, expect_no_failing=True))
register(Scenario(
    "wrong-app", "a wrong start command runs another app: /healthz and /api/v1 answer 404",
    "sev1_response", wrong_app, expect_failing=("health.wrong_app", "api.not_found"),
    expect_severity="SEV-2", expect_next_first="api_404"))
