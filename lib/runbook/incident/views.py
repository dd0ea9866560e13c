"""The fold as people and scripts read it: `runbook incident show` (text and --json), and the
one-line summary `runbook runs` puts above an incident's runs. Nothing here derives a fact:
each is the fold's (`incident.fold`), formatted."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from typing import Any

from runbook.core import clock
from runbook.core.findings import Finding
from runbook.core.severity import SEVERITIES, format_delta
from runbook.incident.fold import Incident
from runbook.incident.oncall import at_zone
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
        "scenario": incident.scenario or None,
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
        "acknowledgements": [{"at": _iso(moment), "by": who} for moment, who in incident.acks],
        "pages": [{"at": _iso(page["at"]), "step": page.get("step"), "via": page.get("via"),
                   "responder": page.get("responder"), "ok": page.get("ok")}
                  for page in (*incident.pages, *incident.emails)],
        "flapping": {signal: _iso(since) for signal, since in incident.flapping.items()},
    }


def sev_clock(incident: Incident, now: datetime) -> str:
    """"4m 12s left" or "past by 2m 03s" on the SEV's response clock, from the one start."""
    level = SEVERITIES.get(str(incident.severity))
    if level is None or incident.started_at is None:
        return ""
    if incident.mitigated_at is not None:     # the clock stopped when it was mitigated
        spare = level.deadline(incident.started_at) - incident.mitigated_at
        return (f"stopped at mitigation, {format_delta(spare)} to spare"
                if spare >= timedelta(0) else
                f"stopped at mitigation, past by {format_delta(-spare)}")
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
    if incident.pages and incident.acknowledged_at is None:
        last = incident.pages[-1]
        lines.append(f"  paged        {len(incident.pages)} time(s), last "
                     f"{last.get('responder')} at {when(last['at'])}")
    for signal, since in incident.flapping.items():
        lines.append(f"  flapping     {signal} since {when(since)}")
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


# ---------------------------------------------------------------- the handoff digest

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

def digest_entry(incident: Incident, now: datetime, zone: tzinfo) -> list[str]:
    """One open incident for the next responder: SEV and clock, who holds it, what was done,
    what is next. Every fact is the fold's."""
    def at(moment: datetime | None) -> str:
        return at_zone(moment, zone) if moment else "—"

    severity = incident.peak_severity or incident.severity or "no SEV"
    head = f"{severity} · {incident.id} · {incident.state}" + (
        f" · {incident.service}" if incident.service else "") + (
        " · DRILL" if incident.drill else "")
    lines = [head]
    clock_text = sev_clock(incident, now)
    lines.append(f"  clock: started {at(incident.started_at)}"
                 + (f" · {clock_text}" if clock_text else ""))
    if incident.acks:
        holder_at, holder = incident.acks[-1]
        lines.append(f"  acknowledged by {holder} at {at(holder_at)}"
                     + (f" (first: {incident.acknowledged_by}, TTA "
                        f"{format_delta(incident.time_to('acknowledge') or timedelta(0))})"
                        if len(incident.acks) > 1 else ""))
    else:
        lines.append(f"  NOT acknowledged ({len(incident.pages)} page(s) sent)")
    done = [a for a in incident.actions if not a.dry_run]
    lines.append("  done: " + ("; ".join(
        f"{a.name} on {_UUID.sub(lambda m: m.group()[:8], a.target)}: {a.state}"
        + (f" by {a.actor}" if a.actor else "") for a in done) if done else "nothing yet"))
    sections = next_of(incident)
    lines.append("  next: " + (", ".join(s["notebook"] for s in sections)
                               if sections else "nothing the findings call for"))
    return lines


def digest(incidents: list[Incident], now: datetime, zone: tzinfo) -> str:
    """Every open incident, oldest first; or a line saying there is none."""
    open_ones = sorted((i for i in incidents if i.is_open),
                       key=lambda i: i.detected_at or i.opened_at or now)
    if not open_ones:
        return "No open incident."
    lines = [f"Handoff digest · {len(open_ones)} open incident(s) · "
             f"{now.astimezone(zone):%Y-%m-%d} {at_zone(now, zone)}"]
    for incident in open_ones:
        lines += digest_entry(incident, now, zone)
    return "\n".join(lines)
