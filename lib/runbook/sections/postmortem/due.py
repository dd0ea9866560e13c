"""The 48-hour rule: every SEV-1 or SEV-2 incident needs a complete postmortem within 48 hours
of its start. Which incidents still lack one, or have one that fails the check (a required
field empty or still a prompt), and how long is left (or how long overdue).

What the postmortem says is read from the incident's log (`postmortem.saved`, in the fold), so
an archive on S3 is judged like a local one; a hand-written file in the postmortems folder
counts as written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbook.archive import record as records
from runbook.core import clock
from runbook.core.errors import RunbookError
from runbook.core.severity import format_delta
from runbook.incident.log import IncidentLog
from runbook.sections.postmortem import existing_postmortem
from runbook.sections.postmortem.history import NEEDS_POSTMORTEM, POSTMORTEM_WINDOW


@dataclass(frozen=True)
class Due:
    incident_id: str
    severity: str
    started: datetime
    now: datetime
    missing: tuple[str, ...] = ()     # the check's complaints; () with no postmortem at all
    written: bool = False             # a postmortem exists (and fails the check)

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

    @property
    def state(self) -> str:
        if not self.written:
            return "no postmortem"
        return f"postmortem incomplete ({len(self.missing)} to write)"

    def __repr__(self) -> str:
        return (f"{self.severity}  {self.incident_id}  started "
                f"{clock.both_zones(self.started)}  due {clock.both_zones(self.deadline)}"
                f"  {self.when()}  {self.state}")


def postmortems_due(archive: records.Archive, postmortems_dir: Path,
                    now: datetime | None = None, drills: bool = False,
                    windows: dict[str, Any] | None = None) -> list[Due]:
    """SEV-1/SEV-2 incidents without a complete postmortem, the most urgent first; each
    incident's peak severity, start and saved postmortem are its fold's (`windows`: the
    fold's, from the config). Drills only when asked."""
    moment = now or clock.now()
    due = []
    for incident in archive.incidents():
        try:
            state = IncidentLog(archive, incident).fold(moment, **(windows or {}))
        except RunbookError:
            continue          # `runbook verify` names what cannot be read
        if state.peak_severity not in NEEDS_POSTMORTEM or state.started_at is None or \
                (state.drill and not drills):
            continue
        saved = state.postmortem
        if saved is not None:
            if not saved["missing"]:
                continue
            due.append(Due(incident, str(state.peak_severity), state.started_at, moment,
                           tuple(saved["missing"]), written=True))
            continue
        if existing_postmortem(postmortems_dir, incident) is not None:
            continue          # written by hand: nothing in the log to check it by
        due.append(Due(incident, str(state.peak_severity), state.started_at, moment))
    return sorted(due, key=lambda d: (d.deadline, d.incident_id))
