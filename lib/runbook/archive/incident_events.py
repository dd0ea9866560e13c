"""An incident's own timeline, beside its runs: what the alerting services said about it.

    runs/<incident>/incident_events.jsonl   one JSON line per event, appended

`runbook serve` writes an `alert` event when an alert opens or joins the incident, and a
`recovered` event when the monitor reports the service up again; the postmortem reads them for
the detection and recovery times. A verdict with Slack buttons adds a `plan` event per button,
and every press of one a `press` event (who, when, and what came of it: refused, started,
done, failed), so the record shows who was refused as well as who acted. Lines are appended
whole through the archive's store, so the file is as safe to share as the records' own events.
"""

from __future__ import annotations

from typing import Any

from runbook.archive import layout
from runbook.archive.record import Archive, check_incident_id
from runbook.core import clock
from runbook.core.redaction import registry

EVENT_KINDS = ("alert", "recovered", "notice", "plan", "press")


def append_incident_event(archive: Archive, incident_id: str, event: dict[str, Any]
                          ) -> dict[str, Any]:
    """Append one event (`event` is one of EVENT_KINDS), redacted, with `at` when missing."""
    if event.get("event") not in EVENT_KINDS:
        raise ValueError(f"incident event {event.get('event')!r} is not one of "
                         + ", ".join(EVENT_KINDS))
    line = registry().redact_obj({"at": clock.iso(clock.now()), **event})
    archive.store.append(_key(incident_id), line)
    return dict(line)


def incident_events(archive: Archive, incident_id: str) -> list[dict[str, Any]]:
    """The incident's events in the order they were appended; none when it has no file."""
    return archive.store.read_lines(_key(incident_id))


def _key(incident_id: str) -> str:
    return layout.incident_key(check_incident_id(incident_id), layout.INCIDENT_EVENTS)
