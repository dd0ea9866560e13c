"""The archive's listing at any size: the index folded into one row per run, kept folded.

The index only grows, two lines a run. Folding 20,000 lines costs a JSON parse each; the
snapshot beside it (`index.snapshot`: derived data, safe to delete) holds the rows folded up to
a byte offset, so a listing parses only what was appended since. The snapshot is used only while
the index still holds the bytes it was folded from (its first 4 KiB and the 4 KiB before the
offset); otherwise, or when it cannot be read, the whole index is folded again. Whether a run
that never finished is still running is decided at listing time, never stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from runbook.archive import layout
from runbook.archive.lines import json_lines
from runbook.archive.store import ArchiveStore, KeyMissing
from runbook.core.errors import ArchiveError

SNAPSHOT_NAME = layout.INDEX_SNAPSHOT
REFOLD_AFTER_LINES = 256     # write a new snapshot once this many lines came after the last
_FORMAT = 1
_CHECK_BYTES = 4096
_ROW_FIELDS = 9

# (run, incident_id, notebook, status, severity, started_at, first_failure, pid, host);
# status is None for a run with only its `started` line (pid and host then say whose it is).
Row = tuple[str, str, str, str | None, Any, str, str, Any, Any]


def fold(rows: dict[str, Row], data: bytes) -> int:
    """Fold the index lines in `data` into `rows`, as the runner wrote them: a `started` line
    makes a row unless the run has one, a `finished` line replaces it. Returns the lines read."""
    events = json_lines(data)
    for event in events:
        run = str(event.get("run", ""))
        kind = event.get("event")
        if not run:
            continue
        if kind == "started":
            if run not in rows:
                rows[run] = (run, str(event.get("incident_id")), str(event.get("notebook")),
                             None, None, str(event.get("started_at", "")), "",
                             event.get("pid"), event.get("host"))
        elif kind == "finished":
            rows[run] = (run, str(event.get("incident_id")), str(event.get("notebook")),
                         str(event.get("status")), event.get("severity"),
                         str(event.get("started_at", "")), str(event.get("first_failure", "")),
                         None, None)
    return len(events)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checks(data: bytes, covered: int) -> tuple[str, str]:
    head = data[:min(_CHECK_BYTES, covered)]
    boundary = data[max(0, covered - _CHECK_BYTES):covered]
    return _digest(head), _digest(boundary)


def _load_snapshot(store: ArchiveStore, data: bytes) -> tuple[int, dict[str, Row]]:
    """(offset, rows) from a snapshot that matches the index, else (0, {})."""
    try:
        version, covered, head, boundary, rows = marshal.loads(store.read_bytes(SNAPSHOT_NAME))
        if version != _FORMAT or not isinstance(covered, int) or not 0 < covered <= len(data) \
                or not isinstance(rows, list):
            return 0, {}
        if _checks(data, covered) != (head, boundary):
            return 0, {}
        if not all(isinstance(row, tuple) and len(row) == _ROW_FIELDS for row in rows):
            return 0, {}
        return covered, {row[0]: row for row in rows}
    except (KeyMissing, OSError, ValueError, EOFError, TypeError):
        return 0, {}


def _save_snapshot(store: ArchiveStore, data: bytes, covered: int, rows: dict[str, Row]) -> None:
    """Best effort: a read-only archive is listed all the same, only not faster next time."""
    head, boundary = _checks(data, covered)
    payload = marshal.dumps((_FORMAT, covered, head, boundary, list(rows.values())))
    with contextlib.suppress(OSError, ArchiveError):
        store.replace(SNAPSHOT_NAME, payload)


def read_rows(store: ArchiveStore) -> dict[str, Row]:
    """Every run's row, from the snapshot and the index lines written after it."""
    try:
        data = store.read_bytes(layout.INDEX)
    except KeyMissing:
        return {}
    covered, rows = _load_snapshot(store, data) if store.exists(SNAPSHOT_NAME) else (0, {})
    tail = data[covered:]
    lines = fold(rows, tail)
    if lines >= REFOLD_AFTER_LINES:
        # The snapshot ends at the last newline: a line still being written is read again
        # next time (folding a line twice changes nothing).
        _save_snapshot(store, data, covered + tail.rfind(b"\n") + 1, rows)
    return rows


@dataclass
class RunRow:
    run: str
    incident_id: str
    notebook: str
    status: str
    severity: str | None
    started_at: str
    first_failure: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _pid_alive(pid: Any, host: Any) -> bool:
    if host != socket.gethostname() or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_rows(store: ArchiveStore, incident_id: str | None = None) -> list[RunRow]:
    """Every run, from the index alone: a run that started but never finished is `running`
    while its runner lives, and `interrupted` once it does not (killed, machine lost)."""
    found = [row for row in read_rows(store).values()
             if not incident_id or row[1] == incident_id]
    found.sort(key=lambda row: (row[5], row[0]))
    return [RunRow(run, incident, notebook,
                   status if status is not None else
                   ("running" if _pid_alive(pid, host) else "interrupted"),
                   severity, started_at, first_failure)
            for run, incident, notebook, status, severity, started_at, first_failure, pid, host
            in found]
