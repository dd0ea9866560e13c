"""The runbook's severity matrix as data, and its deadlines. Which level a run or an incident
is rated is `runbook.incident.rules`' to say, from the finding-code catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
