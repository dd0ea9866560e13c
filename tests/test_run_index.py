"""The archive's listing from the folded index: the same rows as reading index.jsonl line by
line, whatever the snapshot holds, and never stale after an append or a rewrite."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from archive_files import append_line, read_lines
from runbook.archive import index as run_index
from runbook.archive.record import Archive, RunRow, list_runs


def naive_rows(archive: Archive, incident_id: str | None = None) -> list[tuple[Any, ...]]:
    """The listing's contract, read line by line (the way it was before the snapshot)."""
    rows: dict[str, tuple[Any, ...]] = {}
    for event in read_lines(archive.index_path):
        run = str(event.get("run", ""))
        if not run or (incident_id and event.get("incident_id") != incident_id):
            continue
        if event.get("event") == "started" and run not in rows:
            alive = event.get("pid") == os.getpid()
            rows[run] = (run, event.get("incident_id"), "running" if alive else "interrupted",
                         event.get("started_at"))
        elif event.get("event") == "finished":
            rows[run] = (run, event.get("incident_id"), event.get("status"),
                         event.get("started_at"))
    return sorted(rows.values(), key=lambda r: (r[3], r[0]))


def as_tuples(rows: list[RunRow]) -> list[tuple[Any, ...]]:
    return [(r.run, r.incident_id, r.status, r.started_at) for r in rows]


def add_runs(archive: Archive, start: int, count: int, finish: bool = True,
             pid: int = 1 << 22) -> None:
    for index in range(start, start + count):
        run = f"inc-{index % 7}/20260301T09{index // 60 % 60:02d}{index % 60:02d}Z-sev1_response"
        base = {"run": run, "incident_id": f"inc-{index % 7}", "notebook": "sev1_response",
                "started_at": f"2026-03-01T09:{index // 60 % 60:02d}:{index % 60:02d}Z"}
        append_line(archive.index_path, {"event": "started", **base, "pid": pid,
                                         "host": socket.gethostname()})
        if finish:
            append_line(archive.index_path, {"event": "finished", **base, "status": "completed",
                                             "severity": None, "first_failure": ""})


def test_same_rows_as_line_by_line_with_and_without_snapshot(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "runs")
    archive.root.mkdir()
    add_runs(archive, 0, 200)
    add_runs(archive, 200, 3, finish=False)                 # killed runners
    add_runs(archive, 203, 1, finish=False, pid=os.getpid())  # a run still going
    snapshot = archive.root / run_index.SNAPSHOT_NAME
    assert not snapshot.exists()
    first = list_runs(archive)
    assert snapshot.is_file()                                # 408 lines: folded and kept
    assert as_tuples(first) == naive_rows(archive) and len(first) == 204
    assert {r.status for r in first} == {"completed", "interrupted", "running"}
    add_runs(archive, 204, 5)                                # appended after the snapshot
    with archive.index_path.open("ab") as handle:
        handle.write(b'{"event":"finished","run":"inc-1/torn')  # a killed writer's half line
    assert as_tuples(list_runs(archive)) == naive_rows(archive)
    assert as_tuples(list_runs(archive, "inc-3")) == naive_rows(archive, "inc-3")


def test_a_rewritten_index_or_a_broken_snapshot_is_not_trusted(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "runs")
    archive.root.mkdir()
    add_runs(archive, 0, 300)
    list_runs(archive)
    # The index replaced by a longer one that begins differently (restored from elsewhere).
    archive.index_path.unlink()
    add_runs(archive, 1000, 310)
    assert as_tuples(list_runs(archive)) == naive_rows(archive)
    snapshot = archive.root / run_index.SNAPSHOT_NAME
    snapshot.write_bytes(b"\x00not a snapshot")
    assert as_tuples(list_runs(archive)) == naive_rows(archive)
    snapshot.write_bytes(json.dumps([1, 2]).encode())
    assert as_tuples(list_runs(archive)) == naive_rows(archive)


def test_no_index_lists_nothing(tmp_path: Path) -> None:
    assert list_runs(Archive(tmp_path / "none")) == []
