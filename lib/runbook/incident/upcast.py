"""Archives written before the event log, read as its first events. Files are never rewritten
(the chain hashes their bytes): they are upcast on every read.

An incident whose log has no `incident.opened` predates the log; its story so far is in
- `incident.json`: when it was opened, and a start declared then (started_at ≠ opened_at);
- `incident_events.jsonl` (unversioned: `alert`, `recovered`, `notice`, `plan`, `press`);
- the sealed records, in chain order (each finding that is not a pass, then the seal);
- the actions ledger (`actions.jsonl`: intent, outcome, reconciled).
Whatever the new code has since appended to the log follows; a run or an attempt the log
already names is not upcast twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runbook.archive import layout, witness
from runbook.archive import record as records
from runbook.core import clock
from runbook.core.errors import RunbookError
from runbook.incident.events import Event


def signal_id(source: str, subject: str, details: dict[str, Any]) -> str:
    """The one name of an alerting signal: the same monitor, Sentry issue or rule, or Railway
    service, however its alerts spell the rest."""
    key = details.get("monitorID") or details.get("issue_id") or subject
    return f"{source}:{key}"


def _header(header: dict[str, Any]) -> list[Event]:
    opened = clock.moment_or_none(header.get("opened_at"))
    started = clock.moment_or_none(header.get("started_at"))
    if opened is None:
        return []
    by = str(header.get("opened_by") or "")
    events = [Event("incident.opened", opened, {
        "service": "", "drill": False,
        "opened_by": ("alert " + by.split(":", 1)[1]) if by.startswith("serve:") else by})]
    if started is not None and started != opened:
        events.append(Event("milestone.set", opened, {
            "milestone": "declared", "start": clock.iso(started),
            "note": "the start given when it was opened"}))
    return events


def _vouched_header(archive: records.Archive, incident_id: str) -> dict[str, Any]:
    """incident.json while the chain vouches for it; an edited one is not believed (it must
    not move the clock): the times sealed into the first record stand instead."""
    header = archive.header(incident_id) or {}
    chain = archive.chain(incident_id)
    if witness.header_vouched(archive.store, incident_id, chain) is not False:
        return header
    for entry in chain:
        try:
            record = records.archived_record(archive, layout.RunRef(incident_id,
                                                                    str(entry.get("run"))))
        except RunbookError:
            continue
        if record.get("incident_started_at"):
            return {"opened_at": record.get("incident_opened_at") or
                    record["incident_started_at"], "started_at": record["incident_started_at"],
                    "opened_by": header.get("opened_by", "")}
    return {}


def _legacy_alert(line: dict[str, Any]) -> Event | None:
    at = clock.moment_or_none(line.get("at"))
    if at is None:
        return None
    given = line.get("details")
    details: dict[str, Any] = given if isinstance(given, dict) else {}
    signal = signal_id(str(line.get("source", "")), str(line.get("subject", "")), details)
    kind = str(line.get("event"))
    body = {k: v for k, v in line.items() if k not in ("event", "at")}
    if kind == "alert":
        down_since = line.get("alert_at") if line.get("source") == "uptimerobot" else None
        return Event("alert.received", at, {**body, "signal": signal, "down_since": down_since})
    if kind == "recovered":
        return Event("signal.recovered", at, {**body, "signal": signal})
    if kind == "plan":
        return Event("plan.offered", at, body)
    if kind == "press":
        return Event("press", at, body, actor=str(line.get("user", "")))
    return Event("notice", at, body)


def _record_action(action: dict[str, Any], run: str, finished: datetime) -> Event:
    """An action as a record from before the ledger keeps it (the ledger's own lines are
    read from the ledger)."""
    outcome = action.get("outcome") or LEGACY_STATUS.get(str(action.get("status"))) or \
        ("dry_run" if action.get("dry_run") else "failed" if action.get("error") else "done")
    return Event("action.outcome", clock.moment_or_none(action.get("at")) or finished, {
        "name": action.get("name"), "target": action.get("target") or "",
        "attempt": action.get("attempt") or "", "run": run, "outcome": outcome,
        "dry_run": bool(action.get("dry_run"))}, actor=str(action.get("actor") or ""))


def _sealed_record(record: dict[str, Any], sha256: str,
                   ledger_attempts: set[str]) -> list[Event]:
    started = clock.moment_or_none(record.get("started_at"))
    finished = clock.moment_or_none(record.get("finished_at")) or started
    if started is None or finished is None:
        return []
    name = str(record.get("run") or "")
    events = [Event("finding.observed", started, {**f, "run": name}) for f in
              record.get("findings") or [] if isinstance(f, dict) and f.get("status") != "pass"]
    passed = [f.get("code") for f in record.get("findings") or []
              if isinstance(f, dict) and f.get("status") == "pass"]
    events.extend(_record_action(action, name, finished)
                  for action in record.get("actions") or [] if isinstance(action, dict)
                  and not (action.get("attempt") and action.get("attempt") in ledger_attempts))
    events.append(Event("run.sealed", finished, {
        "run": name, "notebook": record.get("notebook"), "status": record.get("status"),
        "severity": record.get("severity"), "next": record.get("next") or [],
        "passed": passed, "record_sha256": sha256}))
    return events


LEGACY_STATUS = {"succeeded": "done", "failed": "failed", "dry_run": "dry_run",
                 "refused": "refused", "unknown": "unknown"}


def _ledger(line: dict[str, Any]) -> Event | None:
    at = clock.moment_or_none(line.get("at"))
    if at is None:
        return None
    body = {"name": line.get("name"), "target": line.get("target"),
            "attempt": line.get("attempt") or "", "run": line.get("run") or ""}
    if line.get("phase") == "intent":
        return Event("action.intent", at, body, actor=str(line.get("actor") or ""))
    # The oldest ledgers say `status` (succeeded, failed…) where later ones say `outcome`.
    outcome = "done" if line.get("phase") == "reconciled" else line.get("outcome") or \
        LEGACY_STATUS.get(str(line.get("status")))
    return Event("action.outcome", at, {**body, "outcome": outcome or "unknown",
                                        "dry_run": bool(line.get("dry_run"))},
                 actor=str(line.get("actor") or ""))


def legacy_events(archive: records.Archive, incident_id: str,
                  logged: list[Event]) -> list[Event]:
    """The incident's story from its pre-log files, less what the log already tells."""
    in_log_runs = {str(e.get("run")) for e in logged if e.kind in ("run.sealed", "run.aborted")}
    in_log_attempts = {str(e.get("attempt")) for e in logged
                       if e.kind.startswith("action.") and e.get("attempt")}
    events = _header(_vouched_header(archive, incident_id))
    events.extend(e for line in archive.store.read_lines(
        layout.incident_key(incident_id, layout.INCIDENT_EVENTS)) if (e := _legacy_alert(line)))
    ledger = [e for line in archive.store.read_lines(
        layout.incident_key(incident_id, layout.LEDGER)) if (e := _ledger(line))]
    ledger_attempts = {str(e.get("attempt")) for e in ledger if e.get("attempt")}
    events.extend(_records(archive, incident_id, in_log_runs, ledger_attempts | in_log_attempts))
    events.extend(e for e in ledger if str(e.get("attempt")) not in in_log_attempts)
    return sorted(events, key=lambda event: event.at)


def _records(archive: records.Archive, incident_id: str, skip: set[str],
             ledger_attempts: set[str]) -> list[Event]:
    events: list[Event] = []
    for entry in archive.chain(incident_id):
        name = str(entry.get("run"))
        if name in skip:
            continue
        try:
            record = records.archived_record(archive, layout.RunRef(incident_id, name))
        except RunbookError:
            continue      # verify names it; the fold goes on without it
        events.extend(_sealed_record({**record, "run": name}, str(entry.get("sha256", "")),
                                     ledger_attempts))
    return events
