"""When an incident started, as its archive tells it: the earliest evidence of impact in its
sealed records (UptimeRobot's down-since, a failing finding), the first alert `runbook serve`
recorded, or a responder's correction (the `incident_started` parameter, or a start declared
when the incident was opened); else its header's start (the first run).

The header (`incident.json`) is a local file: it is believed only while the chain vouches for
it, so an edited one cannot move the SEV clock or the 48-hour rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from runbook.archive import layout, witness
from runbook.archive import record as records
from runbook.archive.incident_events import incident_events
from runbook.archive.layout import RunRef
from runbook.core import clock, impact
from runbook.core.errors import BadInput, RunbookError
from runbook.core.impact import ImpactStart

__all__ = ["alert_times", "declared_start", "header_started", "impact_of_records",
           "incident_impact", "incident_started", "observed"]


def vouched_header(archive: records.Archive, incident_id: str) -> dict[str, Any]:
    """incident.json, when the chain vouches for it (or nothing was sealed to vouch for it).

    It is a local file: an edited one must not move the 48-hour clock. When its hash no longer
    matches the chain's, its times come from the sealed records instead, each of which
    carries the header's times as they were when it was sealed."""
    try:
        header = archive.header(incident_id) or {}
        chain = archive.chain(incident_id)
    except RunbookError:
        return {}
    if witness.header_vouched(archive.store, incident_id, chain) is not False:
        return header
    for entry in chain:
        record = archive.read_json(RunRef(incident_id, str(entry.get("run"))).key(
            layout.RECORD))
        if isinstance(record, dict) and record.get("incident_started_at"):
            return {"incident_id": incident_id,
                    "started_at": record["incident_started_at"],
                    "opened_at": record.get("incident_opened_at")
                    or record["incident_started_at"]}
    return {}


def header_started(archive: records.Archive, incident_id: str) -> datetime | None:
    try:
        return clock.parse_iso(str(vouched_header(archive, incident_id)["started_at"]))
    except (ValueError, KeyError, TypeError):
        return None


def declared_start(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    """A start given when the incident was opened (its header's started_at differs from its
    opened_at): a responder's correction like the parameter."""
    header = vouched_header(archive, incident_id)
    try:
        started = clock.parse_iso(str(header["started_at"]))
        opened = clock.parse_iso(str(header["opened_at"]))
    except (ValueError, KeyError, TypeError):
        return None
    return ImpactStart(started, "the incident's declared start", corrected=True) \
        if started != opened else None


def _correction(record: dict[str, Any]) -> datetime | None:
    parameters = record.get("parameters")
    value = parameters.get(impact.CORRECTION_PARAMETER) if isinstance(parameters, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return impact.parse_correction(value)
    except BadInput:
        return None


def _started(record: dict[str, Any]) -> datetime:
    return clock.parse_iso(str(record["started_at"]))


def observed(sealed: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], datetime]]:
    """Each finding of the sealed records, with when its run started."""
    return [(finding, _started(record)) for record in sealed
            for finding in record.get("findings", []) if isinstance(finding, dict)]


def impact_of_records(sealed: list[dict[str, Any]], declared: ImpactStart | None = None
                      ) -> ImpactStart | None:
    """The incident's start from its sealed records: the latest correction given by
    parameter (or the start declared when it was opened), else the earliest evidence of
    impact in their findings. Records without either (older ones included) give None."""
    corrections = [ImpactStart(moment, "the incident_started parameter", corrected=True)
                   for record in sorted(sealed, key=_started)
                   if (moment := _correction(record)) is not None]
    return impact.earliest([impact.impact_start(observed(sealed)), declared, *corrections])


def incident_impact(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    """`impact_of_records` over the incident's sealed records, and its first alert (None when
    the records cannot be read: the header's start stands)."""
    try:
        sealed = [data for _, data in records.incident_records(archive, incident_id)]
    except RunbookError:
        return declared_start(archive, incident_id)
    return impact.earliest([impact_of_records(sealed, declared_start(archive, incident_id)),
                            first_alert(archive, incident_id)])


def incident_started(archive: records.Archive, incident_id: str) -> datetime | None:
    """When the incident started: its impact's start, else its header's (the first run)."""
    found = incident_impact(archive, incident_id)
    return found.at if found else header_started(archive, incident_id)


def first_alert(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    alerted, _ = alert_times(archive, incident_id)
    return ImpactStart(alerted, "the first alert") if alerted else None


def alert_times(archive: records.Archive, incident_id: str
                 ) -> tuple[datetime | None, datetime | None]:
    """When the first alert said down, and when the monitor last said up after it."""
    detected = recovered = None
    for event in incident_events(archive, incident_id):
        try:
            moment = clock.parse_iso(str(event.get("alert_at") or event.get("at")))
        except ValueError:
            continue
        if event.get("event") == "alert" and detected is None:
            detected = moment
        elif event.get("event") == "recovered" and detected is not None:
            recovered = moment
    return detected, recovered
