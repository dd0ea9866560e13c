"""What a chain entry vouches for beyond the record: every file of the run and of the incident.

At sealing, the chain entry gets the SHA-256 of each file of the run (`started.json`,
`notebook.ipynb`, `record.json` itself is the entry's `sha256`) and of the incident's header
(`incident.json`). Files that only grow (`events.jsonl`, which an interactive session may go on
appending to after an archive, the incident's actions ledger and its event log) are vouched for
by a prefix:
their length at sealing and the hash of those bytes, so an append is fine and an edit of what
was there is not. Entries written before this existed carry none of it and verify as before.

The chain's head is the SHA-256 of `chain.jsonl`'s bytes up to its last whole line. It is
printed at the end of every run; given back out-of-band (`runbook verify INCIDENT --head H`) it
proves that the chain still holds every run sealed up to then, the last ones included.
"""

from __future__ import annotations

import hashlib
from typing import Any

from runbook.archive import layout
from runbook.archive.layout import RunRef
from runbook.archive.store import ArchiveStore, KeyMissing
from runbook.core.errors import ArchiveUnavailable

# The notebook is vouched for by the record's own notebook_sha256, and the record by the chain.
WHOLE = (layout.STARTED,)
GROWING = (layout.EVENTS,)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(store: ArchiveStore, key: str) -> bytes | None:
    try:
        return store.read_bytes(key)
    except KeyMissing:
        return None


def _read_sealing(store: ArchiveStore, key: str) -> bytes | None:
    """A file to vouch for; None when it is missing, or when a shared archive cannot be
    reached (the run is sealed locally then, and its entry vouches for what it could read)."""
    try:
        return _read(store, key)
    except ArchiveUnavailable:
        return None


def _prefix(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": _sha(data)}


def seal_witness(store: ArchiveStore, run: RunRef) -> dict[str, Any]:
    """The fields a new chain entry carries for the run's and the incident's files."""
    files: dict[str, Any] = {}
    for name in WHOLE:
        data = _read_sealing(store, run.key(name))
        if data is not None:
            files[name] = _sha(data)
    for name in GROWING:
        data = _read_sealing(store, run.key(name))
        if data is not None:
            files[name] = _prefix(data)
    witness: dict[str, Any] = {"files": files}
    header = _read_sealing(store, layout.incident_key(run.incident_id, layout.INCIDENT_HEADER))
    if header is not None:
        witness["incident_sha256"] = _sha(header)
    ledger = _read_sealing(store, layout.incident_key(run.incident_id, layout.LEDGER))
    if ledger is not None:
        witness["ledger"] = _prefix(ledger)
    log = _read_sealing(store, layout.incident_key(run.incident_id, layout.LOG))
    if log is not None:
        witness["log"] = _prefix(log)
    return witness


def check_files(store: ArchiveStore, run: RunRef, entry: dict[str, Any]) -> list[str]:
    """What no longer matches the entry's witness, each as one line naming the file."""
    problems: list[str] = []
    files = entry.get("files")
    for name, sealed in (files.items() if isinstance(files, dict) else []):
        if name not in WHOLE + GROWING:
            continue
        problem = _check(_read(store, run.key(name)), sealed)
        if problem:
            problems.append(f"{name} {problem}")
    return problems


def check_incident(store: ArchiveStore, incident_id: str,
                   chain: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(run, problem) for the incident's header and ledger against each entry's witness."""
    problems: list[tuple[str, str]] = []
    header = _read(store, layout.incident_key(incident_id, layout.INCIDENT_HEADER))
    ledger = _read(store, layout.incident_key(incident_id, layout.LEDGER))
    log = _read(store, layout.incident_key(incident_id, layout.LOG))
    for entry in chain:
        run = str(entry.get("run"))
        if "incident_sha256" in entry:
            problem = _check(header, entry["incident_sha256"])
            if problem:
                problems.append((run, f"{layout.INCIDENT_HEADER} {problem}"))
        if "ledger" in entry:
            problem = _check(ledger, entry["ledger"])
            if problem:
                problems.append((run, f"{layout.LEDGER} {problem}"))
        if "log" in entry:
            problem = _check(log, entry["log"])
            if problem:
                problems.append((run, f"{layout.LOG} {problem}"))
    return problems


def header_vouched(store: ArchiveStore, incident_id: str,
                   chain: list[dict[str, Any]]) -> bool | None:
    """Whether incident.json is as the chain sealed it; None when no entry vouches for it
    (an archive sealed before the witness existed)."""
    sealed = [entry["incident_sha256"] for entry in chain if "incident_sha256" in entry]
    if not sealed:
        return None
    header = _read(store, layout.incident_key(incident_id, layout.INCIDENT_HEADER))
    return all(not _check(header, value) for value in sealed)


def _check(data: bytes | None, sealed: Any) -> str:
    if data is None:
        return "is gone"
    if isinstance(sealed, dict):
        size = sealed.get("bytes")
        if not isinstance(size, int) or len(data) < size:
            return "is shorter than when it was sealed (lines were removed)"
        if _sha(data[:size]) != sealed.get("sha256"):
            return "was edited: its first bytes no longer have the hash they were sealed with"
        return ""
    return "" if _sha(data) == sealed else "no longer has the hash it was sealed with"


def chain_head(store: ArchiveStore, incident_id: str) -> str | None:
    """The SHA-256 of the incident's chain up to its last whole line; None with no chain (or
    a shared archive that cannot be reached)."""
    data = _read_sealing(store, layout.incident_key(incident_id, layout.CHAIN))
    if not data:
        return None
    end = data.rfind(b"\n") + 1
    return _sha(data[:end]) if end else None


def heads(store: ArchiveStore, incident_id: str) -> list[str]:
    """The head after each whole line of the chain, oldest first."""
    data = _read(store, layout.incident_key(incident_id, layout.CHAIN)) or b""
    found: list[str] = []
    digest = hashlib.sha256()
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        digest.update(line)
        found.append(digest.copy().hexdigest())
    return found
