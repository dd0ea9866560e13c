"""Sealing a run: the one way a record is made, for a headless run and a JupyterLab session.

The record is the run's fields (what started.json says of it, and what its caller adds), its
events folded into findings, actions and severity, and the hash of its archived notebook. It
is then chained into the incident and indexed (`Archive.seal`): written once, never again.
"""

from __future__ import annotations

from typing import Any

from runbook.archive import layout
from runbook.archive.layout import RunRef
from runbook.archive.record import Archive
from runbook.core import clock
from runbook.core.errors import ArchiveUnavailable
from runbook.core.findings import Finding
from runbook.core.redaction import registry
from runbook.incident import rules
from runbook.incident.log import IncidentLog


def summarise(events: list[dict[str, Any]]) -> tuple[list[Any], list[Any], str | None]:
    """(findings, actions, severity) from a run's events.

    The notebook's own last word on severity wins, "none" included (a monthly check's failing
    item is not an incident); otherwise the findings are classified here.
    """
    findings = [e["finding"] for e in events if e.get("type") == "finding"]
    actions = [e["action"] for e in events if e.get("type") == "action"]
    actions.extend(unfinished_attempts(events, actions))
    rated = [e for e in events if e.get("type") == "severity"]
    severity = rated[-1].get("severity") if rated else None
    if not rated and findings:
        level = rules.run_severity(Finding.from_dict(f) for f in findings)
        severity = level.level if level else None
    return findings, actions, severity


def unfinished_attempts(events: list[dict[str, Any]], actions: list[Any]) -> list[Any]:
    """An action whose intent was written before its call but whose outcome never was (the
    run was killed in between): in the record as `unknown`, so the attempt is never lost."""
    finished = {a.get("attempt") for a in actions if isinstance(a, dict)}
    unknown = []
    for event in events:
        intent = event.get("intent") if event.get("type") == "action_intent" else None
        if not isinstance(intent, dict) or intent.get("attempt") in finished:
            continue
        unknown.append({
            "name": intent.get("name"), "target": intent.get("target"), "dry_run": False,
            "status": "unknown", "outcome": "unknown", "at": intent.get("at"),
            "actor": intent.get("actor"), "attempt": intent.get("attempt"),
            "plan": intent.get("plan"), "details": intent.get("details") or {},
            "result": "outcome unknown: the run stopped after the call was sent and before "
                      "its outcome was seen; it may have been done (a later run checks the "
                      "service before acting again)"})
    return unknown


def seal_run(archive: Archive, run: RunRef, fields: dict[str, Any], *, status: str,
             error: str = "", events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Seal the run's record from `fields`, its events (read from the run unless given) and
    its archived notebook; redacted, chained, indexed. Returns the record as written."""
    if events is None:
        events = archive.events(run)
    findings, actions, severity = summarise(events)
    try:
        header = archive.header(run.incident_id) or {}
    except ArchiveUnavailable:   # sealed locally; the header's times stay in incident.json
        header = {}
    record: dict[str, Any] = {
        **fields, "status": status, "finished_at": clock.iso(clock.now()),
        # The incident's times, sealed into the chain: incident.json alone is a local file.
        "incident_started_at": header.get("started_at"),
        "incident_opened_at": header.get("opened_at"),
        "severity": severity, "findings": findings, "actions": actions,
        "next": rules.next_sections(
            (Finding.from_dict(f) for f in findings),
            rules.tried_sections((str(a.get("name")), str(a.get("outcome")),
                                  bool(a.get("dry_run")), a.get("verified")) for a in actions
                                 if isinstance(a, dict))),
        "notebook_sha256": archive.sha256(run.key(layout.NOTEBOOK)),
    }
    if error:
        record["error"] = error
    sealed = archive.seal(run, registry().redact_obj(record))
    IncidentLog(archive, run.incident_id).run_sealed(run, sealed,
                                                     archive.sha256(run.key(layout.RECORD)))
    return sealed
