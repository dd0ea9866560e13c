"""The runbook's severity matrix as data, the classification of findings, and the deadlines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from runbook.core.findings import Finding, Status


@dataclass(frozen=True)
class Severity:
    level: str             # "SEV-1" … "SEV-4"
    definition: str
    response_time: timedelta
    communication: str

    def deadline(self, incident_started: datetime) -> datetime:
        return incident_started + self.response_time


SEVERITIES: dict[str, Severity] = {s.level: s for s in (
    Severity("SEV-1", "Full outage, no customers can use service", timedelta(minutes=15),
             "Immediate Slack + email customers"),
    Severity("SEV-2", "Major feature broken, most customers affected", timedelta(hours=1),
             "Slack alert, status page update"),
    Severity("SEV-3", "Minor bug, one customer affected", timedelta(hours=4),
             "Individual customer comms"),
    Severity("SEV-4", "Cosmetic, not user-blocking", timedelta(hours=24), "Ticket only"),
)}

# Failing findings that mean no customer can use the service: the runbook's SEV-1 test is
# "/healthz gives 5xx or times out".
_FULL_OUTAGE = {"health.down", "health.timeout", "deploy.crashed", "uptime.down"}
# Failing findings that break a major feature for most customers.
_MAJOR = {
    "api.not_found", "health.wrong_app", "health.deep_timeout", "deploy.failed",
    "deploy.start_command_wrong", "health.degraded",
    "webhook.secret_mismatch", "webhook.secret_whitespace", "webhook.secret_missing",
    "webhook.app_stale", "errors.spike", "errors.spike_after_deploy", "moyasar.down",
}
_MAJOR_PREFIXES = ("db.",)


def run_severity(findings: Iterable[Finding]) -> Severity | None:
    """A run's severity: what its failing findings call for, or None when nothing failed."""
    failing = [f.code for f in findings if f.status is Status.FAIL]
    if any(code in _FULL_OUTAGE for code in failing):
        return SEVERITIES["SEV-1"]
    if any(code in _MAJOR or code.startswith(_MAJOR_PREFIXES) for code in failing):
        return SEVERITIES["SEV-2"]
    if failing:
        return SEVERITIES["SEV-3"]
    return None


def incident_severity(run_levels: Iterable[Severity | str | None]) -> Severity | None:
    """An incident's severity: the worst any of its runs was rated (a run rated None, or
    with a level the matrix does not know, adds nothing). None when no run was rated."""
    known = [level if isinstance(level, Severity) else SEVERITIES.get(str(level))
             for level in run_levels]
    rated = sorted((level for level in known if level is not None), key=lambda s: s.level)
    return rated[0] if rated else None


def time_left(severity: Severity, incident_started: datetime, now: datetime) -> timedelta:
    """Negative once the response deadline has passed."""
    return severity.deadline(incident_started) - now


def format_delta(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"
