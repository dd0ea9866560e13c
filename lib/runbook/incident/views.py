"""The fold as people and scripts read it: `runbook incident show` (text and --json), and the
one-line summary `runbook runs` puts above an incident's runs. Nothing here derives a fact:
each is the fold's (`incident.fold`), formatted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runbook.core import clock
from runbook.core.findings import Finding
from runbook.core.severity import SEVERITIES, format_delta
from runbook.incident.fold import Incident
from runbook.incident.rules import next_sections, tried_sections


def _iso(moment: datetime | None) -> str | None:
    return clock.iso(moment) if moment else None


def next_of(incident: Incident) -> list[dict[str, Any]]:
    """The sections to open next for what is failing now (the newest observation of each
    code): none once the incident is resolved."""
    if not incident.is_open:
        return []
    tried = tried_sections((a.name, a.state, a.dry_run, a.verified) for a in incident.actions)
    return next_sections((Finding.from_dict(f) for f in incident.failing.values()), tried)


def as_json(incident: Incident) -> dict[str, Any]:
    durations = {name: incident.time_to(milestone) for name, milestone in (
        ("ttd", "detect"), ("tta", "acknowledge"), ("ttm", "mitigate"), ("ttr", "resolve"))}
    return {
        "id": incident.id, "service": incident.service, "drill": incident.drill,
        "state": incident.state, "severity": incident.severity,
        "peak_severity": incident.peak_severity, "opened_by": incident.opened_by,
        "signal": incident.signal or None,
        "started_at": _iso(incident.started_at), "start_source": incident.start_source,
        "detected_at": _iso(incident.detected_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by or None,
        "mitigated_at": _iso(incident.mitigated_at), "resolved_at": _iso(incident.resolved_at),
        "reopened": incident.reopened,
        **{f"{name}_seconds": int(value.total_seconds()) if value is not None else None
           for name, value in durations.items()},
        "next": next_of(incident),
        "failing": sorted(incident.failing),
        "actions": [action.to_dict() for action in incident.actions],
        "runs": [{**run, "at": _iso(run.get("at"))} for run in incident.runs],
        "events": incident.events, "chain_head": incident.chain_head,
    }


def sev_clock(incident: Incident, now: datetime) -> str:
    """"4m 12s left" or "past by 2m 03s" on the SEV's response clock, from the one start."""
    level = SEVERITIES.get(str(incident.severity))
    if level is None or incident.started_at is None:
        return ""
    left = level.deadline(incident.started_at) - now
    return (f"{format_delta(left)} left" if left >= timedelta(0)
            else f"past by {format_delta(-left)}")


def as_text(incident: Incident, now: datetime) -> str:
    def when(moment: datetime | None) -> str:
        return clock.both_zones(moment) if moment else "—"

    lines = [f"{incident.id} · {incident.state.upper()} · {incident.severity or 'no SEV'}"
             + (f" (peak {incident.peak_severity})"
                if incident.peak_severity not in (None, incident.severity) else "")
             + (" · DRILL" if incident.drill else "")
             + (f" · {incident.service}" if incident.service else "")]
    if incident.is_open and sev_clock(incident, now):
        lines.append(f"  SEV clock: {sev_clock(incident, now)}")
    lines.append(f"  started      {when(incident.started_at)}"
                 + (f"  ({incident.start_source})" if incident.start_source else ""))
    lines.append(f"  detected     {when(incident.detected_at)}"
                 + (f"  ({incident.detected_by})" if incident.detected_by else ""))
    lines.append(f"  acknowledged {when(incident.acknowledged_at)}"
                 + (f"  by {incident.acknowledged_by}" if incident.acknowledged_by else ""))
    lines.append(f"  mitigated    {when(incident.mitigated_at)}")
    lines.append(f"  resolved     {when(incident.resolved_at)}")
    for label, milestone in (("TTD", "detect"), ("TTA", "acknowledge"),
                             ("TTM", "mitigate"), ("TTR", "resolve")):
        took = incident.time_to(milestone)
        if took is not None:
            lines.append(f"  {label} {format_delta(took)}")
    for action in incident.actions:
        lines.append(f"  action {action.name} on {action.target}: {action.state}"
                     + (f" by {action.actor}" if action.actor else ""))
    sections = next_of(incident)
    if sections:
        lines.append("  next: " + ", ".join(
            f"{s['notebook']} (because {', '.join(s['because'])})" for s in sections))
    lines.append(f"  {incident.events} events · log head {incident.chain_head[:12] or '—'}")
    return "\n".join(lines)


def one_line(incident: Incident, now: datetime) -> str:
    """The summary above an incident's runs in `runbook runs`."""
    parts = [incident.state, incident.severity or "no SEV"]
    if incident.started_at:
        parts.append(f"started {clock.iso(incident.started_at)}")
    if incident.is_open and sev_clock(incident, now):
        parts.append(sev_clock(incident, now))
    if incident.drill:
        parts.append("drill")
    return f"{incident.id}: " + " · ".join(parts)
