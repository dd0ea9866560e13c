"""What `runbook verify` checks beyond the records' chain: the incident's event log, and the
files the log vouches for.

- The log itself (`archive/chained`): every line whole, unedited, in its place. A line that is
  not JSON is corrupt (verify exits 3, naming the file and line); any other difference is an
  edit (exit 1).
- `incident.json`: the hash it had when the incident opened (`incident.opened`).
- `chain.jsonl`: the head it had after each seal (`run.sealed`), so an edit of any chain line,
  its `sealed_at` included, is seen even where the record it names is intact.
- Each sealed record: the hash the log saw sealed.
Lock files (`locks/`, `.lock`) say who holds a lock now: they change by design and vouch for
nothing, so they are not checked.
"""

from __future__ import annotations

from runbook.archive import chained, layout, witness
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.store import KeyMissing
from runbook.archive.verify import Problem
from runbook.incident.events import LogError, decode


def known_heads(archive: records.Archive, incident_id: str) -> set[str]:
    """Every head the incident ever had: the chain's after each seal, the log's after each
    line. A head given out-of-band must be one of them."""
    key = layout.incident_key(incident_id, layout.LOG)
    try:
        lines, _ = chained.read(archive.store.read_bytes(key))
    except KeyMissing:
        lines = []
    return {str(line.get("hash")) for line in lines} | set(witness.heads(archive.store,
                                                                        incident_id))


def log_problems(archive: records.Archive, incident_id: str) -> list[Problem]:
    """Every way the incident's log, and what it vouches for, differs from what was written."""
    store = archive.store
    key = layout.incident_key(incident_id, layout.LOG)
    try:
        data = store.read_bytes(key)
    except KeyMissing:
        if (archive.header(incident_id) or {}).get("log"):
            return [Problem(layout.LOG, "log_edited", f"{archive.location(key)} is gone: the "
                            "incident was opened with it")]
        return []       # an archive from before the log: the chain vouches for it
    where = archive.location(key)
    lines, line_problems = chained.read(data)
    problems = [Problem(layout.LOG, "log_corrupt" if p.corrupt else "log_edited",
                        f"{where} {p}") for p in line_problems]
    heads = witness.heads(store, incident_id)
    for line in lines:
        try:
            event = decode(line, f"{where} line {line.get('seq')}")
        except LogError as exc:
            problems.append(Problem(layout.LOG, "log_corrupt", str(exc)))
            continue
        if event.kind == "incident.opened" and event.get("header_sha256"):
            problems.extend(_header(archive, incident_id, str(event.get("header_sha256"))))
        elif event.kind == "run.sealed":
            problems.extend(_sealed(archive, incident_id, event.body, heads))
    return problems


def _header(archive: records.Archive, incident_id: str, sealed: str) -> list[Problem]:
    key = layout.incident_key(incident_id, layout.INCIDENT_HEADER)
    try:
        if archive.sha256(key) == sealed:
            return []
    except KeyMissing:
        return [Problem(layout.INCIDENT_HEADER, "incident_edited",
                        f"{layout.INCIDENT_HEADER} is gone")]
    return [Problem(layout.INCIDENT_HEADER, "incident_edited", f"{layout.INCIDENT_HEADER} no "
                    "longer has the hash it had when the incident opened")]


def _sealed(archive: records.Archive, incident_id: str, body: dict[str, object],
            heads: list[str]) -> list[Problem]:
    problems = []
    run = RunRef(incident_id, str(body.get("run")))
    head = body.get("chain_head")
    if isinstance(head, str) and head not in heads:
        problems.append(Problem(layout.CHAIN, "chain_edited", f"{layout.CHAIN} no longer holds"
                                f" the head it had once {run.name} was sealed: a chain line "
                                "was edited, removed or reordered"))
    try:
        actual = archive.sha256(run.key(layout.RECORD))
    except KeyMissing:
        return [*problems, Problem(run.name, "removed", "the log saw this record sealed, but "
                                   "it is gone")]
    if body.get("record_sha256") and actual != body.get("record_sha256"):
        problems.append(Problem(run.name, "edited", f"{layout.RECORD} no longer has the hash "
                                "the log saw it sealed with"))
    return problems
