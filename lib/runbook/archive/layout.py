"""Where everything is in the archive: the one module that knows its keys.

A key is a `/`-separated name relative to the archive's root, the same on a filesystem and in
an object store:

    index.jsonl                          one line when a run starts, one when it ends
    index.snapshot                       the index folded up to an offset (derived, deletable)
    <incident>/incident.json             when the incident opened, and when it started
    <incident>/chain.jsonl               each record's sha256, in the order they were sealed
    <incident>/actions.jsonl             the actions ledger: every confirmed attempt
    <incident>/log.jsonl                 the incident's event log: everything that happened to it,
                                         hash-chained (`chained`); its state is a fold of it
    <incident>/incident_events.jsonl     (archives written before the log) alert, recovered, notice,
                                         plan, press: read as the log's first events
    <incident>/locks/<slug>-<hash>.lock  one lock per (action, target)
    <incident>/actions/<slug>-<hash>/<n>.json  attempt n's claim, in archives written before
                                         the ledger's conditional intent became the claim
    <incident>/.lock                     taken to open the incident and to seal into its chain
    <incident>/.archive.lock             taken to archive a JupyterLab notebook
    <incident>/<yyyymmddTHHMMSSZ>-<notebook>/
        started.json                     written before the kernel starts (pid, host, params)
        events.jsonl                     findings, actions, severity: appended as they happen
        notebook.ipynb                   the executed notebook, redacted, saved after each cell
        record.json                      the sealed record (the design's contract)
    drills/                              the drills' own archive, laid out as above (its own
                                         index, incidents and runs): a drill never mixes with
                                         the incidents, locally or in a bucket
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

INDEX = "index.jsonl"
INDEX_SNAPSHOT = "index.snapshot"

INCIDENT_HEADER = "incident.json"
CHAIN = "chain.jsonl"
LEDGER = "actions.jsonl"
INCIDENT_EVENTS = "incident_events.jsonl"
LOG = "log.jsonl"
LOCKS = "locks"
ACTIONS = "actions"
INCIDENT_LOCK = ".lock"
ARCHIVE_LOCK = ".archive.lock"

STARTED = "started.json"
EVENTS = "events.jsonl"
NOTEBOOK = "notebook.ipynb"
RECORD = "record.json"

# The drills' archive, under the incidents': no incident may take this name.
DRILLS = "drills"


def incident_key(incident_id: str, name: str = "") -> str:
    """A file of the incident, or (no name) the incident's own prefix."""
    return f"{incident_id}/{name}" if name else incident_id


def action_lock_key(incident_id: str, name: str, target: str) -> str:
    # Readable, filesystem-safe, and unique: a slug plus a short hash of the exact key.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{name}--{target}")[:80]
    digest = hashlib.sha256(f"{name}\0{target}".encode()).hexdigest()[:10]
    return f"{incident_id}/{LOCKS}/{slug}-{digest}.lock"


@dataclass(frozen=True)
class RunRef:
    """One run: its incident and its name (`<yyyymmddTHHMMSSZ>-<notebook>[-n]`)."""

    incident_id: str
    name: str

    @property
    def prefix(self) -> str:
        return f"{self.incident_id}/{self.name}"

    def key(self, file: str) -> str:
        return f"{self.prefix}/{file}"

    @classmethod
    def parse(cls, rel: str) -> RunRef:
        """From `<incident>/<run>`, as the index names a run."""
        incident, _, name = rel.strip("/").partition("/")
        return cls(incident, name)
