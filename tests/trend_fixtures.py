"""Incidents and drills with a known history, written as the runbook writes them: the log
opened (a drill's with its scenario), a sealed run with failing findings, then a person's
acknowledgement, an action done, mitigation and resolution at chosen minutes from the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runbook.archive import layout
from runbook.archive.record import Archive
from runbook.core import clock
from runbook.core.environ import environment_with
from runbook.core.run_env import ENV_DRILL, ENV_DRILL_SCENARIO
from runbook.incident.log import IncidentLog, open_incident
from runbook.incident.seal import seal_run

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def make_incident(archive: Archive, incident_id: str, start: datetime, *,
                  codes: tuple[str, ...] = ("health.down", "deploy.crashed"),
                  drill: bool = False, scenario: str = "", ttd: float = 2, tta: float = 3,
                  ttm: float | None = 10, ttr: float | None = 20,
                  action: str = "railway.rollback") -> None:
    """Times in minutes: detected `ttd` after the start, acknowledged `tta` after detection,
    mitigated (by `action`, done) `ttm` and resolved `ttr` after the start."""
    detected = start + timedelta(minutes=ttd)
    with environment_with({ENV_DRILL: "1" if drill else None,
                           ENV_DRILL_SCENARIO: scenario or None}):
        open_incident(archive, incident_id, opened_at=detected, opened_by="sev1_response",
                      started_at=start, service="dealix")
    fields = {"incident_id": incident_id, "notebook": "sev1_response",
              "started_at": clock.iso(detected), "parameters": {}, "mode": "headless"}
    run = archive.start_run(incident_id, "sev1_response", detected, fields)
    for code in codes:
        archive.append_event(run, {"type": "finding", "finding": {
            "code": code, "status": "fail", "summary": code, "evidence": {}}})
    archive.store.replace(run.key(layout.NOTEBOOK), b'{"cells": []}')
    seal_run(archive, run, fields, status="completed")
    log = IncidentLog(archive, incident_id)
    log.append("milestone.set", {"milestone": "acknowledged", "note": ""},
               at=detected + timedelta(minutes=tta), actor="alice")
    if ttm is not None:
        mitigated = start + timedelta(minutes=ttm)
        log.append("action.outcome", {"name": action, "target": "dealix-api",
                                      "outcome": "done", "dry_run": False},
                   at=mitigated - timedelta(minutes=1), actor="alice")
        log.append("milestone.set", {"milestone": "mitigated", "note": ""}, at=mitigated,
                   actor="alice")
    if ttr is not None:
        log.append("milestone.set", {"milestone": "resolved", "note": ""},
                   at=start + timedelta(minutes=ttr), actor="alice")
