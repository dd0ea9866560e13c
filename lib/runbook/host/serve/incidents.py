"""Every archive interaction of `runbook serve`, in one place: opening an incident, appending
what serve sees to its log (alerts, recoveries, health checks, plans, presses, notices), the
incidents still open, and reading a sealed record.

Everything serve knows of an incident is the fold of its log (`incident.log`), local or on S3
alike: which incidents are open, when each started (the SEV clock), whether a recovery closed
it, and which notebooks its alerts still wait for are read back from there, so restarting
serve loses nothing. A record is read through the archive's store, never through a path that a
child process printed (on S3 that is a URL, not a file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbook.archive import chained, layout
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.staged import StagedStore
from runbook.core import clock
from runbook.core.errors import RunbookError
from runbook.host.serve.alerts import Alert
from runbook.incident.events import Event
from runbook.incident.fold import (
    FLAP_COUNT,
    FLAP_WINDOW,
    RESOLVED,
    STABILISATION,
    Incident,
    fold,
)
from runbook.incident.log import IncidentLog, open_incident

UNFINISHED = ("aborted", "interrupted")   # a run that never gave its diagnosis


@dataclass
class OpenIncident:
    incident_id: str
    service: str
    started_at: datetime
    last_alert: datetime                  # when serve last received an alert for it
    signal: str = ""                      # the signal that opened it
    ran: dict[str, datetime] = field(default_factory=dict)   # notebook → its last start
    waiting: list[str] = field(default_factory=list)         # alerted, never diagnosed


class IncidentBook:
    def __init__(self, archive: records.Archive,
                 reopen_window: timedelta = timedelta(minutes=30),
                 stabilisation: timedelta = STABILISATION,
                 flap_count: int = FLAP_COUNT, flap_window: timedelta = FLAP_WINDOW) -> None:
        self.archive = archive
        self.reopen_window = reopen_window
        self.stabilisation = stabilisation
        self.flap_count = flap_count
        self.flap_window = flap_window

    @property
    def where(self) -> str:
        return self.archive.location()

    def staging(self) -> dict[str, Any]:
        """With a shared archive staged here: how many things wait for the bucket (runs
        sealed here, incident files, run files) and why it is offline ("" when it is not)."""
        store = self.archive.store
        if not isinstance(store, StagedStore):
            return {}
        return {"staging_depth": store.staging_depth(), "offline": store.offline}

    def reachable(self) -> bool:
        try:
            self.archive.ensure_writable()
        except RunbookError:
            return False
        return True

    def log(self, incident_id: str) -> IncidentLog:
        return IncidentLog(self.archive, incident_id)

    def fold(self, incident_id: str, now: datetime | None = None) -> Incident:
        return self.log(incident_id).fold(now, reopen_window=self.reopen_window,
                                          stabilisation=self.stabilisation,
                                          flap_count=self.flap_count,
                                          flap_window=self.flap_window)

    def flapping_with(self, incident_id: str, alert: Alert, now: datetime) -> bool:
        """Whether `alert`'s signal flaps once this down alert is counted: the fold of the
        log with the alert as its next event (decided before the alert is written, so its
        line says what was done with it)."""
        coming = Event("alert.received", now, {"signal": alert.signal}, actor=alert.source)
        state = fold(incident_id, [*self.log(incident_id).events(), coming], now,
                     reopen_window=self.reopen_window, stabilisation=self.stabilisation,
                     flap_count=self.flap_count,
                     flap_window=self.flap_window)
        return alert.signal in state.flapping

    def open_new(self, service: str, alert: Alert, opened_by: str) -> OpenIncident:
        incident_id = records.new_incident_id(clock.now())
        header = open_incident(self.archive, incident_id, opened_at=clock.now(),
                               opened_by=opened_by, service=service, signal=alert.signal)
        return OpenIncident(incident_id, service, clock.parse_iso(header["opened_at"]),
                            clock.now(), signal=alert.signal)

    def started_at(self, incident_id: str) -> datetime:
        """When the incident started, for the SEV clock: the fold's one clock."""
        incident = self.fold(incident_id)
        if incident.started_at is not None:
            return incident.started_at
        header = self.archive.header(incident_id) or {}
        return clock.parse_iso(str(header.get("opened_at") or clock.iso(clock.now())))

    def record_alert(self, incident: OpenIncident, alert: Alert, notebook: str,
                     outcome: str) -> Incident:
        """The alert in the incident's log; the incident as it stands after it."""
        self.log(incident.incident_id).append("alert.received", {
            "signal": alert.signal, "service": incident.service, "source": alert.source,
            "kind": alert.kind, "subject": alert.subject, "summary": alert.summary,
            "alert_at": clock.iso(alert.at),
            "down_since": clock.iso(alert.at) if alert.source == "uptimerobot" else None,
            "notebook": notebook, "outcome": outcome, "details": alert.details},
            actor=alert.source)
        return self.fold(incident.incident_id)

    def record_recovered(self, incident: OpenIncident, alert: Alert) -> Incident:
        """A recovery, kept whichever signal it is for; it closes the incident only when it
        is the opening signal's and a health check then passes (`record_check`)."""
        self.log(incident.incident_id).append("signal.recovered", {
            "signal": alert.signal, "service": incident.service, "source": alert.source,
            "subject": alert.subject, "summary": alert.summary,
            "alert_at": clock.iso(alert.at), "details": alert.details}, actor=alert.source)
        return self.fold(incident.incident_id)

    def record_check(self, incident_id: str, ok: bool, summary: str) -> Incident:
        self.log(incident_id).append("check.observed", {"ok": ok, "summary": summary},
                                     actor="runbook serve")
        return self.fold(incident_id)

    def record_notice(self, incident_id: str, **fields: Any) -> None:
        """Something about serve's own work for the incident: a Slack post that failed."""
        self.log(incident_id).append("notice", fields, actor="runbook serve")

    def record_message(self, incident_id: str, channel: str, ts: str, what: str) -> None:
        self.log(incident_id).append("message.posted", {"channel": channel, "ts": ts,
                                                        "what": what}, actor="runbook serve")

    # ------------------------------------------------------------ Slack buttons

    def record_plan(self, incident_id: str, plan: dict[str, Any], channel: str,
                    ts: str) -> None:
        """A plan offered as a button, with the message that carries it."""
        self.log(incident_id).append("plan.offered", {**plan, "channel": channel,
                                                      "message_ts": ts}, actor="runbook serve")

    def _events(self, incident_id: str) -> list[Event]:
        return self.log(incident_id).events()

    def log_problems(self, incident_id: str) -> list[str]:
        """How the incident's log differs from what was appended (an edited plan among them):
        a press acts on nothing from a log that fails this."""
        _, problems = chained.read(self.log(incident_id).raw())
        return [str(problem) for problem in problems]

    def plan_event(self, incident_id: str, plan_id: str) -> dict[str, Any] | None:
        return next((dict(e.body) for e in self._events(incident_id)
                     if e.kind == "plan.offered" and e.get("plan_id") == plan_id), None)

    def record_press(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        """One press of a button and what came of it: refused, started, done, failed."""
        event = self.log(incident_id).append("press", fields, actor=str(fields.get("user", "")))
        return dict(event.body)

    def presses(self, incident_id: str) -> list[dict[str, Any]]:
        return [dict(e.body) for e in self._events(incident_id) if e.kind == "press"]

    def is_closed(self, incident_id: str) -> bool:
        """Closed: resolved, by its own signal's recovery and a passing check, or a person."""
        return self.fold(incident_id).state == RESOLVED

    def has_incident(self, incident_id: str) -> bool:
        return incident_id in self.archive.incidents()

    def open_incidents(self, window: timedelta, now: datetime) -> list[OpenIncident]:
        """Incidents not resolved that had an alert within `window`: what a restarted serve
        picks up again, with the notebooks their alerts wait for."""
        found = []
        for incident_id in self.archive.incidents():
            try:
                events = self._events(incident_id)
            except RunbookError:
                continue          # `runbook verify` names it; the others still open
            state = self.fold(incident_id, now)
            alerts = [e for e in events if e.kind == "alert.received"]
            if not alerts or state.state == RESOLVED or state.last_alert_at is None or \
                    now - state.last_alert_at > window:
                continue
            incident = OpenIncident(incident_id, str(alerts[-1].get("service", "")),
                                    state.started_at or state.last_alert_at,
                                    state.last_alert_at, signal=state.signal)
            unfinished: set[str] = set()
            for row in records.list_runs(self.archive, incident_id):
                moment = clock.moment_or_none(row.started_at)
                if moment is None:
                    continue
                if row.status in UNFINISHED:
                    unfinished.add(row.notebook)
                    continue
                unfinished.discard(row.notebook)
                incident.ran[row.notebook] = max(moment, incident.ran.get(row.notebook, moment))
            alerted = dict.fromkeys(str(e.get("notebook")) for e in alerts if e.get("notebook"))
            incident.waiting = [n for n in alerted if n not in incident.ran or n in unfinished]
            found.append(incident)
        return found

    def sealed_record(self, incident_id: str, notebook: str, printed: str = ""
                      ) -> tuple[dict[str, Any] | None, str | None]:
        """The sealed record of the run a child printed (`record: <location>`, a path or an
        s3:// URL: only its run's name is taken from it), else the newest sealed record of
        `notebook` in the incident; read through the store. (None, None) when there is none;
        RecordError when it cannot be read."""
        run = _printed_run(incident_id, printed) or self._newest_sealed(incident_id, notebook)
        if run is None or not self.archive.is_sealed(run):
            return None, None
        return records.archived_record(self.archive, run), self.archive.location(
            run.key(layout.RECORD))

    def _newest_sealed(self, incident_id: str, notebook: str) -> RunRef | None:
        named = [RunRef(incident_id, str(entry.get("run")))
                 for entry in self.archive.chain(incident_id)]
        mine = [run for run in named if run.name.split("-", 1)[-1].startswith(notebook)]
        return mine[-1] if mine else None

    def postmortems_overdue(self, postmortems_dir: Path, now: datetime) -> list[str]:
        """One line per SEV-1/SEV-2 incident whose postmortem is past its 48 hours."""
        from runbook.sections.postmortem.due import postmortems_due

        return [repr(item) for item in postmortems_due(
            self.archive, postmortems_dir, now,
            windows={"stabilisation": self.stabilisation})
                if item.overdue]


def _printed_run(incident_id: str, printed: str) -> RunRef | None:
    parts = [part for part in printed.strip().replace("\\", "/").split("/") if part]
    if len(parts) >= 3 and parts[-1] == layout.RECORD and parts[-3] == incident_id:
        return RunRef(incident_id, parts[-2])
    return None


