"""`runbook verify`: is an incident's archive exactly as it was sealed?

Independent witnesses are cross-checked: each record's own `previous_record_sha256`, the
incident's `chain.jsonl` (the hash of every record when it was sealed, and of every other file
of the run and of the incident: `witness`), the archive's `index.jsonl` (every run that
finished), and the actions ledger (every run that acted). Editing a file changes its hash;
removing a run leaves a hole in the chain and a finished run without a record; inserting one
leaves a record that no chain entry vouches for. Each problem names the run directory.

What only an outside witness catches: the last run removed whole (its directory, its chain
line and its index lines), or the chain rewritten from scratch with fresh hashes. The chain's
head is printed at the end of every run; `verify_incident(…, head=H)` checks that the chain
still holds the head given out-of-band.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from runbook.archive import layout, witness
from runbook.archive.layout import RunRef
from runbook.archive.record import Archive
from runbook.archive.store import KeyMissing
from runbook.core.errors import UnknownIncident


@dataclass(frozen=True)
class Problem:
    run: str
    kind: str      # edited, removed, inserted, relinked, notebook_edited, notebook_missing,
                   # file_edited, incident_edited, head_missing, malformed
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.run}: {self.detail}"


def verify_incident(archive: Archive, incident_id: str,
                    head: str | None = None) -> list[Problem]:
    """Every way the incident's archive differs from what was sealed; with `head` (a chain
    head given out-of-band), also whether the chain still holds it."""
    if not archive.has_incident(incident_id):
        raise UnknownIncident(incident_id, archive.location())
    problems: list[Problem] = []
    chain = archive.chain(incident_id)
    chained = {str(entry.get("run")) for entry in chain}
    previous: str | None = None
    for number, entry in enumerate(chain, start=1):
        run = RunRef(incident_id, str(entry.get("run")))
        if not isinstance(entry.get("sha256"), str):
            problems.append(Problem(run.name, "malformed", f"chain.jsonl line {number} has no "
                                    "sha256: the chain was edited"))
        problems.extend(_check_entry(archive, run, entry, previous))
        problems.extend(Problem(run.name, "file_edited", detail)
                        for detail in witness.check_files(archive.store, run, entry))
        previous = entry.get("sha256") if isinstance(entry.get("sha256"), str) else None
    problems.extend(Problem(run, "incident_edited", detail)
                    for run, detail in witness.check_incident(archive.store, incident_id, chain))
    if head is not None and head.strip().lower() not in witness.heads(archive.store,
                                                                      incident_id):
        problems.append(Problem("(chain)", "head_missing", f"the chain never had the head "
                                f"{head.strip()}: runs sealed up to then were removed, or the "
                                "chain was rewritten"))
    problems.extend(_acted_but_gone(archive, incident_id, chained))
    for run in archive.runs_of(incident_id):
        if archive.is_sealed(run) and run.name not in chained:
            problems.append(Problem(run.name, "inserted",
                                    "a record that the incident's chain never sealed"))
    finished = {str(e["run"]).split("/", 1)[1] for e in archive.store.read_lines(layout.INDEX)
                if e.get("event") == "finished" and e.get("incident_id") == incident_id
                and "/" in str(e.get("run", ""))}
    for name in sorted(finished - chained):
        if not archive.is_sealed(RunRef(incident_id, name)):
            problems.append(Problem(name, "removed", "the index says this run finished, but "
                                    "its record and its chain entry are gone"))
    return problems


def _check_entry(archive: Archive, run: RunRef, entry: dict[str, object],
                 previous: str | None) -> list[Problem]:
    try:
        payload = archive.store.read_bytes(run.key(layout.RECORD))
    except KeyMissing:
        return [Problem(run.name, "removed", "the chain seals this record, but it is gone")]
    problems: list[Problem] = []
    if hashlib.sha256(payload).hexdigest() != entry.get("sha256"):
        problems.append(Problem(run.name, "edited", "record.json no longer has the hash it was "
                                "sealed with"))
    if entry.get("previous") != previous:
        problems.append(Problem(run.name, "relinked", "the chain entry does not follow the one "
                                "before it (a record was removed or inserted before this one)"))
    try:
        record = json.loads(payload)
    except ValueError:
        return [*problems, Problem(run.name, "edited", "record.json is not valid JSON")]
    if record.get("previous_record_sha256") != previous:
        problems.append(Problem(run.name, "relinked", "previous_record_sha256 does not match "
                                "the record sealed before it"))
    notebook = run.key(layout.NOTEBOOK)
    if not archive.store.exists(notebook):
        problems.append(Problem(run.name, "notebook_missing", "the archived notebook is gone"))
    elif archive.sha256(notebook) != record.get("notebook_sha256"):
        problems.append(Problem(run.name, "notebook_edited", "notebook.ipynb no longer matches "
                                "the record's notebook_sha256"))
    return problems


def _acted_but_gone(archive: Archive, incident_id: str, chained: set[str]) -> list[Problem]:
    """Runs the actions ledger names that the archive no longer has at all."""
    present = {run.name for run in archive.runs_of(incident_id)} | chained
    named = {str(entry.get("run")) for entry in archive.store.read_lines(
        layout.incident_key(incident_id, layout.LEDGER)) if entry.get("run")}
    return [Problem(name, "removed", "the actions ledger says this run acted, but its "
                    "directory and its chain entry are gone") for name in sorted(named - present)]
