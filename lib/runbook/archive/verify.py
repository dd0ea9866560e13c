"""`runbook verify`: is an incident's archive exactly as it was sealed?

Three independent witnesses are cross-checked: each record's own `previous_record_sha256`,
the incident's `chain.jsonl` (the hash of every record when it was sealed), and the archive's
`index.jsonl` (every run that finished). Editing a record changes its hash; removing one leaves
a hole in the chain and a finished run without a record; inserting one leaves a record that no
chain entry vouches for. Each problem names the run directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from runbook.archive.record import Archive, read_lines, sha256_file
from runbook.core.errors import UnknownIncident


@dataclass(frozen=True)
class Problem:
    run: str
    kind: str      # edited, removed, inserted, relinked, notebook_edited, notebook_missing
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.run}: {self.detail}"


def verify_incident(archive: Archive, incident_id: str) -> list[Problem]:
    directory = archive.incident_dir(incident_id)
    if not directory.is_dir():
        raise UnknownIncident(incident_id, archive.root)
    problems: list[Problem] = []
    chain = read_lines(directory / "chain.jsonl")
    chained = {str(entry.get("run")) for entry in chain}
    previous: str | None = None
    for entry in chain:
        run = str(entry.get("run"))
        problems.extend(_check_entry(directory, run, entry, previous))
        previous = str(entry.get("sha256"))
    for path in sorted(directory.glob("*/record.json")):
        if path.parent.name not in chained:
            problems.append(Problem(path.parent.name, "inserted",
                                    "a record that the incident's chain never sealed"))
    finished = {str(e["run"]).split("/", 1)[1] for e in read_lines(archive.index_path)
                if e.get("event") == "finished" and e.get("incident_id") == incident_id
                and "/" in str(e.get("run", ""))}
    for run in sorted(finished - chained):
        if not (directory / run / "record.json").is_file():
            problems.append(Problem(run, "removed", "the index says this run finished, but "
                                    "its record and its chain entry are gone"))
    return problems


def _check_entry(directory: Path, run: str, entry: dict[str, object],
                 previous: str | None) -> list[Problem]:
    path = directory / run / "record.json"
    if not path.is_file():
        return [Problem(run, "removed", "the chain seals this record, but it is gone")]
    problems: list[Problem] = []
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != entry.get("sha256"):
        problems.append(Problem(run, "edited", "record.json no longer has the hash it was "
                                "sealed with"))
    if entry.get("previous") != previous:
        problems.append(Problem(run, "relinked", "the chain entry does not follow the one "
                                "before it (a record was removed or inserted before this one)"))
    try:
        record = json.loads(payload)
    except ValueError:
        return [*problems, Problem(run, "edited", "record.json is not valid JSON")]
    if record.get("previous_record_sha256") != previous:
        problems.append(Problem(run, "relinked", "previous_record_sha256 does not match the "
                                "record sealed before it"))
    notebook = directory / run / "notebook.ipynb"
    if not notebook.is_file():
        problems.append(Problem(run, "notebook_missing", "the archived notebook is gone"))
    elif sha256_file(notebook) != record.get("notebook_sha256"):
        problems.append(Problem(run, "notebook_edited", "notebook.ipynb no longer matches "
                                "the record's notebook_sha256"))
    return problems
