"""What the on-call loop owes an incident, read from its fold: who is paged next and when, and
when a public status update is due. Pure: the log is the only state, so a restarted serve
finds the same answers (no timer lives only in memory).

Escalation: a SEV-1/SEV-2 incident nobody acknowledged (or one an alert opened that no run has
rated yet) pages the next responder `ack_timeout` after it was detected, then another every
`repage_every`, cycling through the responders in order (the first is the one the verdict
reaches; step 1 pages the second). An acknowledgement stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from runbook.core.durations import say_duration
from runbook.incident.fold import MITIGATED, Incident

PAGED_SEVERITIES = ("SEV-1", "SEV-2")


def paged_severity(incident: Incident) -> str | None:
    """The SEV the on-call loop answers to (the worst rating any run gave), when it is one
    that pages: SEV-1 or SEV-2."""
    level = incident.peak_severity or incident.severity
    return level if level in PAGED_SEVERITIES else None


UNRATED = "unrated"


def escalation_level(incident: Incident) -> str | None:
    """What an unacknowledged incident escalates as: its SEV-1/SEV-2, or `unrated` for one an
    alert opened that no run has rated yet (a slow or failed diagnosis must not keep the
    founders from being paged); None when it does not page (SEV-3/SEV-4, a person's)."""
    level = paged_severity(incident)
    if level is not None:
        return level
    rated = incident.peak_severity or incident.severity
    return UNRATED if rated is None and incident.opened_by.startswith("alert") else None


@dataclass(frozen=True)
class PageDue:
    step: int            # 1: the first escalation
    responder: int       # index into `[oncall] responders`
    due_at: datetime


def next_page(incident: Incident, responders: int, ack_timeout: timedelta,
              repage_every: timedelta) -> PageDue | None:
    """The next escalation page, or None (not paging: acknowledged, closed, rated below
    SEV-2, or not opened by an alert)."""
    if responders < 1 or not incident.is_open or incident.acknowledged_at is not None or \
            escalation_level(incident) is None or incident.detected_at is None:
        return None
    step = len(incident.pages) + 1
    if step == 1:
        due = incident.detected_at + ack_timeout
    else:
        due = incident.pages[-1]["at"] + repage_every
    return PageDue(step, step % responders, due)


def emails_owed(incident: Incident) -> list[dict[str, object]]:
    """The Slack pages whose step has no email yet (serve died between the two)."""
    emailed = {page.get("step") for page in incident.emails}
    return [page for page in incident.pages if page.get("step") not in emailed]


# ---------------------------------------------------------------- public status updates

STATUS_FOR_STATE = {"open": "investigating", MITIGATED: "monitoring", "resolved": "resolved"}


def statuspage_status(incident: Incident) -> str:
    """investigating, identified (an action is under way or done), monitoring, resolved."""
    if incident.state == "open" and any(not a.dry_run for a in incident.actions):
        return "identified"
    return STATUS_FOR_STATE.get(incident.state, "investigating")


def status_due(incident: Incident, every: timedelta, now: datetime) -> bool:
    """A reminder is owed: the incident is open and SEV-1/2, and the last published update
    (or, before any, its detection) and the last reminder are both older than `every`."""
    if not incident.is_open or paged_severity(incident) is None:
        return False
    last = incident.last_published
    since = last["at"] if last else incident.detected_at
    reminded = [u["at"] for u in incident.status_updates if u.get("stage") == "reminded"]
    if since is None or now - since < every:
        return False
    return not reminded or now - reminded[-1] >= every


def zone_name(zone: tzinfo) -> str:
    """"Riyadh" for Asia/Riyadh, "UTC" for UTC: the place a person knows the zone by."""
    key = str(getattr(zone, "key", "") or zone)
    return key.rsplit("/", 1)[-1].replace("_", " ")


def at_zone(moment: datetime, zone: tzinfo, seconds: bool = False) -> str:
    """"03:12 Riyadh" (or "03:12:09 Riyadh"): a moment as the team reads it."""
    local = moment.astimezone(zone)
    return f"{local:%H:%M:%S} {zone_name(zone)}" if seconds else \
        f"{local:%H:%M} {zone_name(zone)}"


def _at(moment: datetime, zone: tzinfo) -> str:
    return at_zone(moment, zone)


def status_draft(incident: Incident, service_label: str, every: timedelta, now: datetime,
                 zone: tzinfo) -> str:
    """The public update, from the fold: what is affected, what is being done, when the next
    update comes. No internal detail (codes, ids, hosts): customers read it."""
    status = statuspage_status(incident)
    since = f" since {_at(incident.started_at, zone)}" if incident.started_at else ""
    affected = {"resolved": f"{service_label} is working normally again",
                "monitoring": f"{service_label} is working again after a disruption{since}"}.get(
        status, f"{service_label} is unavailable or degraded for some customers{since}")
    done = [a for a in incident.actions if a.state == "done" and not a.dry_run]
    doing = {"resolved": "The cause was fixed.",
             "monitoring": "A fix is in place and we are watching it closely.",
             "identified": "We found the likely cause and are applying a fix."
             if not done else "We applied a fix and are checking that it holds."}.get(
        status, "Our team is investigating.")
    if incident.acknowledged_at is not None and status == "investigating":
        doing = "Our on-call engineer is working on it."
    if status == "resolved":
        return f"{affected}. {doing} We apologise for the disruption."
    return (f"{affected}. {doing} Next update by {_at(now + every, zone)} "
            f"(within {say_duration(every)}).")
