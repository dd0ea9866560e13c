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
from runbook.checks.next_sections import next_sections
from runbook.core import clock
from runbook.core import severity as sev
from runbook.core.findings import Finding
from runbook.core.redaction import registry


def summarise(events: list[dict[str, Any]]) -> tuple[list[Any], list[Any], str | None]:
    """(findings, actions, severity) from a run's events.

    The notebook's own last word on severity wins, "none" included (a monthly check's failing
    item is not an incident); otherwise the findings are classified here.
    """
    findings = [e["finding"] for e in events if e.get("type") == "finding"]
    actions = [e["action"] for e in events if e.get("type") == "action"]
    rated = [e for e in events if e.get("type") == "severity"]
    severity = rated[-1].get("severity") if rated else None
    if not rated and findings:
        level = sev.run_severity(Finding.from_dict(f) for f in findings)
        severity = level.level if level else None
    return findings, actions, severity


def seal_run(archive: Archive, run: RunRef, fields: dict[str, Any], *, status: str,
             error: str = "", events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Seal the run's record from `fields`, its events (read from the run unless given) and
    its archived notebook; redacted, chained, indexed. Returns the record as written."""
    if events is None:
        events = archive.events(run)
    findings, actions, severity = summarise(events)
    record: dict[str, Any] = {
        **fields, "status": status, "finished_at": clock.iso(clock.now()),
        "severity": severity, "findings": findings, "actions": actions,
        "next": next_sections(Finding.from_dict(f) for f in findings),
        "notebook_sha256": archive.sha256(run.key(layout.NOTEBOOK)),
    }
    if error:
        record["error"] = error
    return archive.seal(run, registry().redact_obj(record))
