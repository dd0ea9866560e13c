"""`runbook sync`: upload what was kept locally while the shared archive could not be reached.

An incident's own files kept locally (its header, its appended events) are uploaded first: the
header created if the bucket lacks it, each appended line added unless the bucket's copy holds
it already (so an upload cut short and done again never duplicates a line).

A run whose bucket was lost is complete in the staging copy: started.json, events, notebook
and a record sealed locally. Syncing puts each such run in the bucket as if it had been sealed
there: its files uploaded, its `started` line indexed when the bucket never saw it start, and
its record chained into the incident's chain by the same sealing path (the local record's
`previous_record_sha256` is replaced by the bucket's chain). A run already in the bucket's
chain is only marked synced, so syncing twice never duplicates a record.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from runbook.archive import chained, layout, witness
from runbook.archive.record import Archive
from runbook.archive.staged import (
    DRAINING,
    SYNCED,
    StagedStore,
    header_first,
    incident_file,
    pending_runs,
    staged_incidents,
    unsent_files,
    unsent_mark,
)
from runbook.archive.store import KeyMissing
from runbook.core.errors import KeyExists


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)    # runs sealed into the bucket now
    already: list[str] = field(default_factory=list)     # runs the bucket already had
    files: list[str] = field(default_factory=list)       # incident files brought up to date
    lines: int = 0                                       # appended lines they were missing

    def count(self) -> int:
        return len(self.uploaded) + len(self.files)

    def merge(self, other: SyncReport) -> None:
        self.uploaded += other.uploaded
        self.already += other.already
        self.files += [key for key in other.files if key not in self.files]
        self.lines += other.lines

    def __repr__(self) -> str:
        lines = [f"{len(self.uploaded)} run(s) uploaded and sealed in the shared archive"]
        lines.extend(f"  {name}" for name in self.uploaded)
        if self.already:
            lines.append(f"{len(self.already)} run(s) were already there")
        if self.files:
            lines.append(f"{len(self.files)} incident file(s) uploaded ({self.lines} line(s) "
                         "the shared archive did not have)")
            lines.extend(f"  {key}" for key in self.files)
        return "\n".join(lines)


def upload_incident_files(store: StagedStore, every: bool = False,
                          logs: bool = True) -> SyncReport:
    """Bring the bucket's copy of each unsent incident file (with `every`, of every incident
    file in the staging copy, marked or not) up to the local one; the event logs only with
    `logs` (they go last: their seals are rebased onto the chain the runs' sealing makes)."""
    report = SyncReport()
    keys = set(unsent_files(store))
    if every:
        keys.update(f"{incident}/{name}" for incident in staged_incidents(store)
                    for name in _files_of(store, incident))
    if not logs:
        keys = {key for key in keys if not key.endswith("/" + layout.LOG)}
    for key in sorted(keys, key=header_first):
        mark = store.local.path(unsent_mark(key))
        draining = mark.with_name(mark.name + DRAINING)
        # Renamed first: a line appended locally from now on marks the file again.
        with contextlib.suppress(FileNotFoundError):
            os.replace(mark, draining)
        added = _upload_file(store, key)
        if added is not None:
            report.files.append(key)
            report.lines += added
        with contextlib.suppress(FileNotFoundError):
            draining.unlink()
    return report


def _files_of(store: StagedStore, incident: str) -> list[str]:
    return [name for name in store.local.children(incident)
            if incident_file(f"{incident}/{name}") and store.local.exists(f"{incident}/{name}")]


def _upload_file(store: StagedStore, key: str) -> int | None:
    """Upload one incident file: the lines the bucket lacks (None when it had them all)."""
    try:
        data = store.local.read_bytes(key)
    except KeyMissing:
        return None
    if key.endswith("/" + layout.INCIDENT_HEADER):
        try:
            store.remote.create(key, data)
        except KeyExists:
            return None
        return 0
    if key.endswith("/" + layout.LOG):
        return _upload_log(store, key)
    have = {_canonical(line) for line in store.remote.read_lines(key)}
    added = 0
    for line in store.local.read_lines(key):
        if _canonical(line) not in have:
            store.remote.append(key, line)
            have.add(_canonical(line))
            added += 1
    return added or None


def _upload_log(store: StagedStore, key: str) -> int | None:
    """A hash-chained log kept locally: the events the bucket's log lacks are chained onto
    the bucket's, in their order (the local lines' own links name a local chain the bucket
    never had). A run's seal names the record's hash and the chain's head as the bucket has
    them: its runs were chained there by now."""
    def event(line: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in line.items() if k not in chained.OWN_FIELDS}

    def identity(line: dict[str, Any]) -> str:
        body = {k: v for k, v in (line.get("body") or {}).items() if k not in REBASED}
        return _canonical({**event(line), "body": body})

    have = {identity(line) for line in store.remote.read_lines(key)}
    missing = [_rebased(store, key.split("/", 1)[0], event(line))
               for line in store.local.read_lines(key) if identity(line) not in have]
    if not missing:
        return None
    chained.append_linked(store.remote, key, missing)
    return len(missing)


REBASED = ("record_sha256", "chain_head")    # what a seal says of the chain it was made in


def _rebased(store: StagedStore, incident: str, event: dict[str, Any]) -> dict[str, Any]:
    if event.get("kind") != "run.sealed" or not isinstance(event.get("body"), dict):
        return event
    body = dict(event["body"])
    entries = store.remote.read_lines(layout.incident_key(incident, layout.CHAIN))
    heads = witness.heads(store.remote, incident)
    for index, entry in enumerate(entries):
        if entry.get("run") == body.get("run"):
            body["record_sha256"] = entry.get("sha256")
            body["chain_head"] = heads[index] if index < len(heads) else None
    return {**event, "body": body}


def _canonical(line: dict[str, Any]) -> str:
    return json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sync_staged(store: StagedStore, runs: bool = True, every: bool = False) -> SyncReport:
    """Upload the incident files kept locally, then (with `runs`) every pending staged run.
    Raises ArchiveUnavailable if the bucket is still unreachable; what was uploaded stays
    uploaded, and the next sync goes on from there."""
    report = upload_incident_files(store, every, logs=not runs)
    if not runs:
        return report
    remote = Archive(store.local.root, store.remote)
    local, bucket = store.local, store.remote
    for run in pending_runs(store):
        header = layout.incident_key(run.incident_id, layout.INCIDENT_HEADER)
        try:
            bucket.create(header, local.read_bytes(header))
        except (KeyExists, KeyMissing):
            pass
        try:
            bucket.create(run.key(layout.STARTED), local.read_bytes(run.key(layout.STARTED)))
        except KeyExists:
            pass
        else:
            marker = json.loads(local.read_bytes(run.key(layout.STARTED)))
            bucket.append(layout.INDEX, {"event": "started", "run": run.prefix, **{
                k: marker.get(k) for k in ("incident_id", "notebook", "started_at", "pid",
                                           "host")}})
        for name in (layout.EVENTS, layout.NOTEBOOK):
            try:
                bucket.replace(run.key(name), local.read_bytes(run.key(name)))
            except KeyMissing:
                pass
        chained = {str(entry.get("run")) for entry in remote.chain(run.incident_id)}
        if run.name in chained and bucket.exists(run.key(layout.RECORD)):
            report.already.append(run.prefix)
        else:
            record = json.loads(local.read_bytes(run.key(layout.RECORD)))
            record.pop("previous_record_sha256", None)
            remote.seal(run, record)
            report.uploaded.append(run.prefix)
        local.replace(run.key(SYNCED), b"")
    report.merge(upload_incident_files(store, every))
    return report


# The store's drain (serve's retry of a lost bucket) uploads through this module.
StagedStore.syncer = sync_staged
