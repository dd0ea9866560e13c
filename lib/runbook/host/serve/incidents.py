"""Every archive interaction of `runbook serve`, in one place: opening an incident, its alert
and recovery events, the runs it already has, reading a sealed record, the postmortems due.

It uses the archive's public façade only (`Archive`, `list_runs`, `read_record`) and the
incident events (`archive.incident_events`), so that moving the archive onto another store
changes this module alone. Restarting serve loses nothing: which incidents are open, and which
notebooks their alerts still wait for, are read back from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbook.archive import layout
from runbook.archive import record as records
from runbook.archive.incident_events import append_incident_event, incident_events
from runbook.archive.layout import RunRef
from runbook.core import clock
from runbook.core.errors import RunbookError
from runbook.host.serve.alerts import Alert

UNFINISHED = ("aborted", "interrupted")   # a run that never gave its diagnosis


@dataclass
class OpenIncident:
    incident_id: str
    service: str
    started_at: datetime
    last_alert: datetime                  # when serve last received an alert for it
    ran: dict[str, datetime] = field(default_factory=dict)   # notebook → its last start
    waiting: list[str] = field(default_factory=list)         # alerted, never diagnosed


class IncidentBook:
    def __init__(self, archive: records.Archive) -> None:
        self.archive = archive

    @property
    def where(self) -> str:
        return self.archive.location()

    def reachable(self) -> bool:
        try:
            self.archive.ensure_writable()
        except RunbookError:
            return False
        return True

    def open_new(self, service: str, started: datetime, opened_by: str) -> OpenIncident:
        incident_id = records.new_incident_id(clock.now())
        header = self.archive.open_incident(incident_id, clock.now(), started_at=started,
                                            opened_by=opened_by)
        return OpenIncident(incident_id, service, clock.parse_iso(header["started_at"]),
                            clock.now())

    def started_at(self, incident_id: str) -> datetime:
        """When the incident started (its header), for the SEV clock."""
        header = self.archive.open_incident(incident_id, clock.now())
        return clock.parse_iso(str(header["started_at"]))

    def record_alert(self, incident: OpenIncident, alert: Alert, notebook: str,
                     outcome: str) -> None:
        append_incident_event(self.archive, incident.incident_id, {
            "event": "alert", "service": incident.service, "source": alert.source,
            "kind": alert.kind, "subject": alert.subject, "summary": alert.summary,
            "alert_at": clock.iso(alert.at), "notebook": notebook, "outcome": outcome,
            "details": alert.details})

    def record_recovered(self, incident: OpenIncident, alert: Alert) -> None:
        append_incident_event(self.archive, incident.incident_id, {
            "event": "recovered", "service": incident.service, "source": alert.source,
            "subject": alert.subject, "summary": alert.summary,
            "alert_at": clock.iso(alert.at), "details": alert.details})

    def record_notice(self, incident_id: str, **fields: Any) -> None:
        """Something about serve's own work for the incident: a Slack post that failed."""
        append_incident_event(self.archive, incident_id, {"event": "notice", **fields})

    # ------------------------------------------------------------ Slack buttons

    def record_plan(self, incident_id: str, plan: dict[str, Any], channel: str,
                    ts: str) -> None:
        """A plan offered as a button, with the message that carries it."""
        append_incident_event(self.archive, incident_id, {
            "event": "plan", **plan, "channel": channel, "message_ts": ts})

    def plan_event(self, incident_id: str, plan_id: str) -> dict[str, Any] | None:
        return next((e for e in incident_events(self.archive, incident_id)
                     if e.get("event") == "plan" and e.get("plan_id") == plan_id), None)

    def record_press(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        """One press of a button and what came of it: refused, started, done, failed."""
        return append_incident_event(self.archive, incident_id, {"event": "press", **fields})

    def presses(self, incident_id: str) -> list[dict[str, Any]]:
        return [e for e in incident_events(self.archive, incident_id)
                if e.get("event") == "press"]

    def is_closed(self, incident_id: str) -> bool:
        """Closed: the monitor's last word on it was that the service is up again."""
        events = [e for e in incident_events(self.archive, incident_id)
                  if e.get("event") in ("alert", "recovered")]
        return bool(events) and events[-1].get("event") == "recovered"

    def has_incident(self, incident_id: str) -> bool:
        return incident_id in self.archive.incidents()

    def open_incidents(self, window: timedelta, now: datetime) -> list[OpenIncident]:
        """Incidents serve opened that no recovery closed and that had an alert within
        `window`: what a restarted serve picks up again."""
        found = []
        for incident_id in self.archive.incidents():
            events = [e for e in incident_events(self.archive, incident_id)
                      if e.get("event") in ("alert", "recovered")]
            if not events or events[-1].get("event") == "recovered":
                continue
            last = _time(events[-1].get("at"))
            if last is None or now - last > window:
                continue
            incident = OpenIncident(incident_id, str(events[-1].get("service", "")),
                                    self.started_at(incident_id), last)
            unfinished: set[str] = set()
            for row in records.list_runs(self.archive, incident_id):
                moment = _time(row.started_at)
                if moment is None:
                    continue
                if row.status in UNFINISHED:
                    unfinished.add(row.notebook)
                    continue
                unfinished.discard(row.notebook)
                incident.ran[row.notebook] = max(moment, incident.ran.get(row.notebook, moment))
            alerted = dict.fromkeys(str(e["notebook"]) for e in events
                                    if e.get("event") == "alert" and e.get("notebook"))
            incident.waiting = [n for n in alerted if n not in incident.ran or n in unfinished]
            found.append(incident)
        return found

    def read_record(self, path: Path) -> dict[str, Any]:
        return records.read_record(path)

    def newest_record(self, incident_id: str, notebook: str) -> Path | None:
        """The newest sealed record of `notebook` in the incident (when the run's own output
        did not say where it is)."""
        rows = [r for r in records.list_runs(self.archive, incident_id)
                if r.notebook == notebook and r.status not in ("running", "interrupted")]
        if not rows:
            return None
        run = RunRef.parse(rows[-1].run)
        if not self.archive.is_sealed(run):
            return None
        return Path(self.archive.location(run.key(layout.RECORD)))

    def postmortems_overdue(self, postmortems_dir: Path, now: datetime) -> list[str]:
        """One line per SEV-1/SEV-2 incident whose postmortem is past its 48 hours."""
        from runbook.sections.postmortem.due import postmortems_due

        return [repr(item) for item in postmortems_due(self.archive, postmortems_dir, now)
                if item.overdue]


def _time(value: Any) -> datetime | None:
    try:
        return clock.parse_iso(str(value)) if value else None
    except ValueError:
        return None
