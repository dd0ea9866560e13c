"""The archive's listing at any size: `index.jsonl` folded into one row per run, kept folded.

`index.jsonl` only grows, two lines a run. Folding 20,000 lines costs a JSON parse each; the
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
import secrets
from pathlib import Path
from typing import Any

from runbook.archive.record import json_lines

SNAPSHOT_NAME = "index.snapshot"
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


def _checks(handle: Any, covered: int) -> tuple[str, str]:
    handle.seek(0)
    head = handle.read(min(_CHECK_BYTES, covered))
    handle.seek(max(0, covered - _CHECK_BYTES))
    boundary = handle.read(min(_CHECK_BYTES, covered))
    return _digest(head), _digest(boundary)


def _load_snapshot(path: Path, handle: Any, size: int) -> tuple[int, dict[str, Row]]:
    """(offset, rows) from a snapshot that matches the index, else (0, {})."""
    try:
        data = marshal.loads(path.read_bytes())
        version, covered, head, boundary, rows = data
        if version != _FORMAT or not isinstance(covered, int) or not 0 < covered <= size \
                or not isinstance(rows, list):
            return 0, {}
        if _checks(handle, covered) != (head, boundary):
            return 0, {}
        if not all(isinstance(row, tuple) and len(row) == _ROW_FIELDS for row in rows):
            return 0, {}
        return covered, {row[0]: row for row in rows}
    except (OSError, ValueError, EOFError, TypeError):
        return 0, {}


def _save_snapshot(path: Path, handle: Any, covered: int, rows: dict[str, Row]) -> None:
    """Best effort: a read-only archive is listed all the same, only not faster next time."""
    head, boundary = _checks(handle, covered)
    payload = marshal.dumps((_FORMAT, covered, head, boundary, list(rows.values())))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_rows(index_path: Path) -> dict[str, Row]:
    """Every run's row, from the snapshot and the index lines written after it."""
    snapshot = index_path.with_name(SNAPSHOT_NAME)
    try:
        handle = index_path.open("rb")
    except FileNotFoundError:
        return {}
    with handle:
        size = os.fstat(handle.fileno()).st_size
        covered, rows = _load_snapshot(snapshot, handle, size) if snapshot.is_file() \
            else (0, {})
        handle.seek(covered)
        tail = handle.read(size - covered)
        lines = fold(rows, tail)
        if lines >= REFOLD_AFTER_LINES:
            # The snapshot ends at the last newline: a line still being written is read again
            # next time (folding a line twice changes nothing).
            _save_snapshot(snapshot, handle, covered + tail.rfind(b"\n") + 1, rows)
    return rows
