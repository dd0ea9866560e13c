"""SEV-1 confirm scenarios: a healthy Dealix, and a full outage."""

from __future__ import annotations

from runbook.drill.scenarios import Scenario, register
from runbook.drill.target import Target


def healthy(target: Target) -> None:
    target.app.state.up = True


def outage(target: Target) -> None:
    # The process crashed: Railway's edge answers 502 "Application failed to respond".
    target.app.state.up = False


register(Scenario(
    "healthy", "Dealix is up and every dependency is ok", "sev1_response", healthy,
    expect_passing=("health.ok",), expect_no_severity=True))
register(Scenario(
    "outage", "the app crashed: Railway's edge answers 502 for every request", "sev1_response",
    outage, expect_failing=("health.down",), expect_severity="SEV-1"))
