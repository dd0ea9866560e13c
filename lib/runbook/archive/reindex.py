"""`runbook runs --reindex`: the index rebuilt from the records themselves.

The index is derived data: every run that started has its started.json, every run that
finished its record.json. Rebuilding writes, for each run in each incident, the `started` line
and (when sealed) the `finished` line the runner wrote, in the order the runs started.
"""

from __future__ import annotations

from typing import Any

from runbook.archive import layout
from runbook.archive.lines import encode_line
from runbook.archive.record import Archive, index_summary


def index_lines(archive: Archive) -> list[dict[str, Any]]:
    started: list[tuple[str, str, dict[str, Any]]] = []
    finished: list[tuple[str, str, dict[str, Any]]] = []
    for incident in archive.incidents():
        for run in archive.runs_of(incident):
            marker = archive.started(run)
            if not marker:
                continue
            when = str(marker.get("started_at", ""))
            started.append((when, run.prefix, {"event": "started", "run": run.prefix, **{
                k: marker.get(k) for k in ("incident_id", "notebook", "started_at", "pid",
                                           "host")}}))
            record = archive.read_json(run.key(layout.RECORD))
            if isinstance(record, dict):
                finished.append((str(record.get("finished_at") or when), run.prefix,
                                 {"event": "finished", "run": run.prefix,
                                  **index_summary(record)}))
    return [line for _, _, line in sorted(started) + sorted(finished)]


def reindex(archive: Archive) -> int:
    """Rebuild the index from the records; returns the runs found."""
    lines = index_lines(archive)
    write = getattr(archive.store, "write_index", None)
    if callable(write):
        write(lines)          # a bucket: one folded snapshot, superseding every entry
    else:
        archive.store.replace(layout.INDEX, b"".join(encode_line(line) for line in lines))
    return sum(1 for line in lines if line["event"] == "started")
