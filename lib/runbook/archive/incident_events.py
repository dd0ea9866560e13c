"""An incident's own timeline, beside its runs: what the alerting services said about it.

    runs/<incident>/incident_events.jsonl   one JSON line per event, appended

`runbook serve` writes an `alert` event when an alert opens or joins the incident, and a
`recovered` event when the monitor reports the service up again; the postmortem reads them for
the detection and recovery times. Lines are appended whole under a lock (`append_line`), so the
file is as safe to share as the records' own events.
"""

from __future__ import annotations

from typing import Any

from runbook.archive.record import Archive, append_line, read_lines
from runbook.core import clock
from runbook.core.redaction import registry

EVENTS_FILE = "incident_events.jsonl"
EVENT_KINDS = ("alert", "recovered", "notice")


def append_incident_event(archive: Archive, incident_id: str, event: dict[str, Any]
                          ) -> dict[str, Any]:
    """Append one event (`event` is one of EVENT_KINDS), redacted, with `at` when missing."""
    if event.get("event") not in EVENT_KINDS:
        raise ValueError(f"incident event {event.get('event')!r} is not one of "
                         + ", ".join(EVENT_KINDS))
    line = registry().redact_obj({"at": clock.iso(clock.now()), **event})
    directory = archive.incident_dir(incident_id)
    directory.mkdir(parents=True, exist_ok=True)
    append_line(directory / EVENTS_FILE, line)
    return dict(line)


def incident_events(archive: Archive, incident_id: str) -> list[dict[str, Any]]:
    """The incident's events in the order they were appended; none when it has no file."""
    return read_lines(archive.incident_dir(incident_id) / EVENTS_FILE)
