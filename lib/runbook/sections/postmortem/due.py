"""The 48-hour rule: every SEV-1 or SEV-2 incident needs a postmortem within 48 hours of its
start. Which incidents still lack one, and how long is left (or how long overdue)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from runbook.archive import record as records
from runbook.archive.incident_start import incident_started
from runbook.core import clock
from runbook.core.severity import format_delta
from runbook.incident import rules
from runbook.sections.postmortem import existing_postmortem
from runbook.sections.postmortem.history import NEEDS_POSTMORTEM, POSTMORTEM_WINDOW


@dataclass(frozen=True)
class Due:
    incident_id: str
    severity: str
    started: datetime
    now: datetime

    @property
    def deadline(self) -> datetime:
        return self.started + POSTMORTEM_WINDOW

    @property
    def left(self) -> timedelta:
        """Negative once the 48 hours have passed."""
        return self.deadline - self.now

    @property
    def overdue(self) -> bool:
        return self.left < timedelta(0)

    def when(self) -> str:
        return f"overdue by {format_delta(-self.left)}" if self.overdue \
            else f"{format_delta(self.left)} left"

    def __repr__(self) -> str:
        return (f"{self.severity}  {self.incident_id}  started "
                f"{clock.both_zones(self.started)}  due {clock.both_zones(self.deadline)}"
                f"  {self.when()}")


def _needing_postmortem(levels: set[str]) -> str | None:
    """The incident's severity when it is one that needs a postmortem, else None."""
    worst = rules.incident_severity(levels)
    return worst.level if worst is not None and worst.level in NEEDS_POSTMORTEM else None


def incident_severities(archive: records.Archive) -> dict[str, str | None]:
    """The worst severity each incident's records carry. The index answers for most; an
    incident the index does not know (a lost index line) is read from its records."""
    levels: dict[str, set[str]] = {}
    for row in records.list_runs(archive):
        bucket = levels.setdefault(row.incident_id, set())
        if row.severity:
            bucket.add(row.severity)
    result: dict[str, str | None] = {}
    for incident in archive.incidents():
        found = levels.get(incident)
        if found is None:
            found = {str(data.get("severity")) for _, data in
                     records.incident_records(archive, incident) if data.get("severity")}
        result[incident] = _needing_postmortem(found)
    return result


def postmortems_due(archive: records.Archive, postmortems_dir: Path,
                    now: datetime | None = None) -> list[Due]:
    """SEV-1/SEV-2 incidents without a postmortem, the most urgent first."""
    moment = now or clock.now()
    due = []
    for incident, severity in incident_severities(archive).items():
        if severity is None or existing_postmortem(postmortems_dir, incident) is not None:
            continue
        started = incident_started(archive, incident)
        if started is None:
            continue
        due.append(Due(incident, severity, started, moment))
    return sorted(due, key=lambda d: (d.deadline, d.incident_id))
