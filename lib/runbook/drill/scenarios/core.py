"""SEV-1 confirm scenarios: a healthy Dealix, and a full outage."""

from __future__ import annotations

from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.scenarios.db import with_database
from runbook.drill.scenarios.sev1 import crash, with_monitoring
from runbook.drill.target import Target


def healthy(target: Target) -> None:
    target.app.state.up = True
    with_monitoring(target)
    with_database(target)


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
