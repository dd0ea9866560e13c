"""The monthly monitoring check's scenario: Sentry, UptimeRobot and Slack fakes, and the
config's contacts, with one monitor paused and one contact not verified for 60 days."""

from __future__ import annotations

from datetime import date, timedelta

from runbook.core import clock
from runbook.drill.fakes.sentry import with_sentry
from runbook.drill.fakes.slack import with_slack
from runbook.drill.fakes.uptimerobot import with_uptime
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.target import Target


def contacts(today: date, payments_age_days: int) -> list[dict[str, str]]:
    return [
        {"name": "Sami", "role": "founder, on-call 24/7", "issue": "backend",
         "phone": "+966500000000", "verified": (today - timedelta(days=5)).isoformat()},
        {"name": "Moyasar support", "role": "payments provider", "issue": "payments",
         "channel": "support@moyasar.com",
         "verified": (today - timedelta(days=payments_age_days)).isoformat()},
    ]


def monitoring_services(target: Target, payments_age_days: int = 5) -> None:
    """Every monitored service healthy: the base the faults are put on."""
    with_sentry(target)
    with_uptime(target, all_monitors=True)
    with_slack(target)
    target.sections["contacts"] = contacts(clock.now().date(), payments_age_days)


def monitoring_stale(target: Target) -> None:
    monitoring_services(target, payments_age_days=60)
    paused = target.extras["uptimerobot"].monitors[1]
    paused.status = 0
    paused.log(99, clock.now() - timedelta(days=3))


register(Scenario(
    "monitoring-stale", "monthly check: one UptimeRobot monitor paused, one emergency contact "
    "not verified for 60 days", "monitoring_check", monitoring_stale,
    expect_failing=("uptime.paused", "contacts.stale"),
    expect_passing=("sentry.test_event_received", "uptime.polling", "slack.posted",
                    "contacts.verified"),
    parameters=(("sentry_wait_seconds", "20"),)))
