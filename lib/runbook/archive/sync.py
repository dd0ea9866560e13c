"""`runbook sync`: upload what was kept locally while the shared archive could not be reached.

A run whose bucket was lost is complete in the staging copy: started.json, events, notebook
and a record sealed locally. Syncing puts each such run in the bucket as if it had been sealed
there: its files uploaded, its `started` line indexed when the bucket never saw it start, and
its record chained into the incident's chain by the same sealing path (the local record's
`previous_record_sha256` is replaced by the bucket's chain). A run already in the bucket's
chain is only marked synced, so syncing twice never duplicates a record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from runbook.archive import layout
from runbook.archive.layout import RunRef
from runbook.archive.record import Archive
from runbook.archive.staged import SYNCED, StagedStore
from runbook.archive.store import KeyMissing
from runbook.core.errors import KeyExists


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)    # runs sealed into the bucket now
    already: list[str] = field(default_factory=list)     # runs the bucket already had

    def __repr__(self) -> str:
        lines = [f"{len(self.uploaded)} run(s) uploaded and sealed in the shared archive"]
        lines.extend(f"  {name}" for name in self.uploaded)
        if self.already:
            lines.append(f"{len(self.already)} run(s) were already there")
        return "\n".join(lines)


def pending_runs(store: StagedStore) -> list[RunRef]:
    """Staged runs with a local record and no mark that the bucket has it (in folders named
    by an incident id: another folder is skipped with a warning, never uploaded)."""
    local = store.local
    return [RunRef(incident, name) for incident in Archive(local.root, local).incidents()
            for name in local.children(incident)
            if local.exists(f"{incident}/{name}/{layout.RECORD}")
            and not local.exists(f"{incident}/{name}/{SYNCED}")]


def sync_staged(store: StagedStore) -> SyncReport:
    """Upload every pending staged run (raises ArchiveUnavailable if the bucket is still
    unreachable; what was uploaded stays uploaded, and the next sync goes on from there)."""
    remote = Archive(store.local.root, store.remote)
    local, bucket = store.local, store.remote
    report = SyncReport()
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
    return report
