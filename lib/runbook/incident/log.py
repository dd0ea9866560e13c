"""An incident's event log in the archive: appending to it, reading it, folding it.

Every writer appends here (the runner, a notebook's session, serve, the action guard, a
person's `runbook incident ack`), every view folds from here. The bytes are the archive's
(`archive/chained`): redacted before they are hashed, appended under the log's own lock, local
or on S3 alike.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from runbook.archive import chained, layout
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.store import KeyMissing
from runbook.core import clock
from runbook.core.redaction import registry
from runbook.core.run_env import ENV_DRILL, ENV_DRILL_SCENARIO
from runbook.incident import fold as folding
from runbook.incident.events import Event, LogError, decode, payload
from runbook.incident.upcast import legacy_events

__all__ = ["IncidentLog", "LogError", "open_incident"]


class IncidentLog:
    def __init__(self, archive: records.Archive, incident_id: str) -> None:
        self.archive = archive
        self.incident_id = records.check_incident_id(incident_id)
        self.key = layout.incident_key(incident_id, layout.LOG)

    @property
    def where(self) -> str:
        return self.archive.location(self.key)

    def append(self, kind: str, body: dict[str, Any], *, at: datetime | None = None,
               actor: str = "") -> Event:
        """One event, redacted, as the log's next line."""
        return self.append_all([(kind, body, at, actor)])[0]

    def append_all(self, events: list[tuple[str, dict[str, Any], datetime | None, str]]
                   ) -> list[Event]:
        """Several events, redacted, as the log's next lines, in one append."""
        lines = [registry().redact_obj(payload(kind, body, at or clock.now(), actor))
                 for kind, body, at, actor in events]
        written = chained.append_linked(self.archive.store, self.key, lines)
        return [decode(line, f"{self.where} line {line['seq']}") for line in written]

    def raw(self) -> bytes:
        try:
            return self.archive.store.read_bytes(self.key)
        except KeyMissing:
            return b""

    def logged(self) -> list[Event]:
        """The log's own events; LogError naming the file and line for one that cannot be
        read (not JSON, or a kind this runbook does not know)."""
        lines, problems = chained.read(self.raw())
        corrupt = [p for p in problems if p.corrupt]
        if corrupt:
            raise LogError(f"{self.where} {corrupt[0]}: run `runbook verify "
                           f"{self.incident_id}`")
        return [decode(line, f"{self.where} line {line.get('seq')}") for line in lines]

    def events(self) -> list[Event]:
        """Everything that happened to the incident: an older archive's files first (when the
        log did not see it opened), then the log."""
        logged = self.logged()
        if any(event.kind == "incident.opened" for event in logged):
            return logged
        return [*legacy_events(self.archive, self.incident_id, logged), *logged]

    def head(self) -> str:
        """The log's head (its last line's hash), or the chain's for an archive before it."""
        return chained.head(self.raw()) or self.archive.chain_head(self.incident_id) or ""

    def fold(self, now: datetime | None = None, **windows: Any) -> folding.Incident:
        return folding.fold(self.incident_id, self.events(), now or clock.now(),
                            chain_head=self.head(), **windows)

    # ------------------------------------------------------------ what the runs write

    def run_started(self, run: RunRef, notebook: str, actor: str = "") -> None:
        self.append("run.started", {"run": run.name, "notebook": notebook}, actor=actor)

    def run_sealed(self, run: RunRef, record: dict[str, Any], record_sha256: str) -> None:
        """A sealed record, in one append: each finding that is not a pass (dated by the
        run's start), each dry run, then the seal with the record's hash."""
        started = clock.parse_iso(str(record["started_at"]))
        findings = [f for f in record.get("findings") or [] if isinstance(f, dict)]
        events: list[tuple[str, dict[str, Any], datetime | None, str]] = [
            ("finding.observed", {**finding, "run": run.name}, started, "")
            for finding in findings if finding.get("status") != "pass"]
        events += [("action.outcome", {
            "name": action.get("name"), "target": action.get("target") or "", "attempt": "",
            "run": run.name, "outcome": "dry_run", "dry_run": True,
            "result": str(action.get("result") or "")[:500]}, None,
            str(action.get("actor") or ""))
            for action in record.get("actions") or []
            if isinstance(action, dict) and action.get("dry_run")]
        events.append(("run.sealed", {
            "run": run.name, "notebook": record.get("notebook"), "status": record.get("status"),
            "severity": record.get("severity"), "next": record.get("next") or [],
            "passed": [f.get("code") for f in findings if f.get("status") == "pass"],
            "record_sha256": record_sha256,
            # The chain as it stood once this record was in it: vouches for chain.jsonl.
            "chain_head": self.archive.chain_head(self.incident_id)},
            None, str(record.get("actor") or "")))
        self.append_all(events)


def open_incident(archive: records.Archive, incident_id: str, *, opened_at: datetime,
                  opened_by: str, started_at: datetime | None = None, service: str = "",
                  signal: str = "") -> dict[str, Any]:
    """The incident's header, opened (with its `incident.opened` event) by the first writer
    that names it; an incident that is there already is returned as it is."""
    existed = archive.header(incident_id) is not None
    # The header names the log: from then on, a missing log is a deleted one.
    header = archive.open_incident(incident_id, opened_at, started_at, opened_by=opened_by,
                                   log=layout.LOG)
    if not existed:
        log = IncidentLog(archive, incident_id)
        # The header's hash: incident.json is a local file, vouched for by the log from here.
        header_sha256 = archive.sha256(layout.incident_key(incident_id,
                                                           layout.INCIDENT_HEADER))
        drill = os.environ.get(ENV_DRILL) == "1"
        log.append("incident.opened", {"service": service, "opened_by": opened_by,
                                       "drill": drill, "signal": signal,
                                       "header_sha256": header_sha256,
                                       **({"scenario": os.environ.get(ENV_DRILL_SCENARIO, "")}
                                          if drill else {})},
                   at=opened_at, actor=opened_by)
        if started_at is not None and started_at != opened_at:
            log.append("milestone.set", {"milestone": "declared", "start": clock.iso(started_at),
                                         "note": "the start given when it was opened"},
                       at=opened_at, actor=opened_by)
    return header
