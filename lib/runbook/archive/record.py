"""The archive's façade: incidents, their runs, the sealed records, the chain and the index.

What is where is `layout`'s; how it is kept is the store's (`store.LocalStore` on a
filesystem). Every write is a write-once create, an atomic replace, or one appended line, so
concurrent runs into one incident never interleave and a killed writer leaves no half file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets as _random
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from runbook.archive import layout, witness
from runbook.archive.index import RunRow, list_rows
from runbook.archive.layout import RunRef
from runbook.archive.lines import encode_json
from runbook.archive.store import ArchiveStore, KeyMissing, LocalStore
from runbook.core import clock
from runbook.core.errors import (
    ArchiveError,
    ArchiveUnavailable,
    BadInput,
    KeyExists,
    RecordError,
    UnknownIncident,
)

__all__ = ["RECORD_STATUSES", "Archive", "RunRef", "RunRow", "archived_record",
           "check_incident_id", "incident_records", "index_summary", "list_runs",
           "new_incident_id", "parse_record", "read_record", "runbook_version"]

# `abandoned`: a JupyterLab session's run that ended (its kernel shut down, or `runbook lab`
# stopped) before anyone archived it; sealed with the findings and actions it had recorded.
RECORD_STATUSES = ("completed", "failed", "aborted", "timed_out", "abandoned")
INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def new_incident_id(moment: datetime) -> str:
    return f"inc-{moment:%Y%m%d-%H%M}-{_random.token_hex(2)}"


def check_incident_id(incident_id: str) -> str:
    # fullmatch: `$` would also accept a trailing newline ("inc-1\n" is not "inc-1").
    if not is_incident_id(incident_id):
        raise BadInput(f"incident id {incident_id!r} is not valid: use letters, digits, '.', '_' "
                       "or '-' (at most 64), starting with a letter or digit, and not "
                       f"{layout.DRILLS!r} (the drills' archive)")
    return incident_id


def is_incident_id(name: str) -> bool:
    return INCIDENT_ID.fullmatch(name) is not None and name.casefold() != layout.DRILLS


def misnamed_reason(folder: str) -> str:
    return (f"the folder {folder!r} holds an incident.json but its name is not an incident id "
            "(letters, digits, '.', '_' or '-', at most 64): rename it to the id in its "
            "incident.json, or move it out of the archive")


def runbook_version() -> str:
    """The git commit of the runbook checkout when there is one, else the package version."""
    from runbook import __version__

    root = Path(__file__).resolve().parents[3]
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref_path = root / ".git" / ref[5:]
            if ref_path.is_file():
                return ref_path.read_text().strip()
            packed = root / ".git" / "packed-refs"
            for line in packed.read_text().splitlines() if packed.is_file() else []:
                if line.endswith(" " + ref[5:]):
                    return line.split()[0]
            return __version__
        return ref
    except OSError:
        return __version__


class Archive:
    """The archive (`runs/`): incidents, their runs, the sealed records, the chain and the
    index, kept in a store.

    Every read and write goes through `store`; `root` is where a `LocalStore` keeps it, and
    what a person is told when there is nothing else to show.
    """

    def __init__(self, root: Path, store: ArchiveStore | None = None) -> None:
        self.root = Path(root)
        self.store: ArchiveStore = store if store is not None else LocalStore(self.root)
        self._warned: set[str] = set()     # misnamed folders already warned of

    def __repr__(self) -> str:
        return f"Archive({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Archive) and (other.root, other.store) == (self.root, self.store)

    def __hash__(self) -> int:
        return hash(self.root)

    # ------------------------------------------------------------ where things are, for display

    def location(self, key: str = "") -> str:
        return self.store.location(key)

    @property
    def index_path(self) -> Path:
        return Path(self.store.location(layout.INDEX))

    def incident_dir(self, incident_id: str) -> Path:
        return Path(self.store.location(layout.incident_key(check_incident_id(incident_id))))

    def run_dir(self, run: RunRef) -> Path:
        return Path(self.store.location(run.prefix))

    def run_ref(self, run_dir: Path) -> RunRef:
        """The run a run directory holds (a run directory handed over as a path)."""
        return RunRef(Path(run_dir).parent.name, Path(run_dir).name)

    def rel(self, run: RunRef) -> str:
        return run.prefix

    # ------------------------------------------------------------ reading

    def has_incident(self, incident_id: str) -> bool:
        return bool(self.store.children(layout.incident_key(check_incident_id(incident_id))))

    def incidents(self) -> list[str]:
        """Every incident: a folder holding an incident.json, named by a valid incident id.
        A folder that holds one under another name (a file manager's "inc-… copy") is
        skipped with a warning naming it, so one stray folder never stops the rest."""
        folders = self._incident_folders()
        for name in folders:
            if not is_incident_id(name) and name not in self._warned:
                self._warned.add(name)
                print(f"runbook: warning: skipped {self.store.location(name)}: "
                      f"{misnamed_reason(name)}", file=sys.stderr)
        return [name for name in folders if is_incident_id(name)]

    def misnamed_incidents(self) -> list[str]:
        """Folders holding an incident.json whose names are not incident ids (skipped by
        every listing; `runbook verify` names them)."""
        return [name for name in self._incident_folders() if not is_incident_id(name)]

    def _incident_folders(self) -> list[str]:
        return [name for name in self.store.children()
                if self.store.exists(layout.incident_key(name, layout.INCIDENT_HEADER))]

    def runs_of(self, incident_id: str) -> list[RunRef]:
        """Every run directory of the incident, sealed or not, by name."""
        prefix = layout.incident_key(check_incident_id(incident_id))
        return [RunRef(incident_id, name) for name in self.store.children(prefix)
                if self.store.children(f"{prefix}/{name}")]

    def header(self, incident_id: str) -> dict[str, Any] | None:
        data = self.read_json(layout.incident_key(incident_id, layout.INCIDENT_HEADER))
        return data if isinstance(data, dict) else None

    def started(self, run: RunRef) -> dict[str, Any]:
        """The run's started.json, or {} when it is missing or unreadable."""
        data = self.read_json(run.key(layout.STARTED))
        return data if isinstance(data, dict) else {}

    def read_json(self, key: str) -> Any:
        """A JSON document, or None when it is missing or does not parse."""
        try:
            return json.loads(self.store.read_bytes(key))
        except (KeyMissing, OSError, ValueError):
            return None

    def events(self, run: RunRef) -> list[dict[str, Any]]:
        return self.store.read_lines(run.key(layout.EVENTS))

    def chain(self, incident_id: str) -> list[dict[str, Any]]:
        return self.store.read_lines(layout.incident_key(incident_id, layout.CHAIN))

    def sha256(self, key: str) -> str:
        return hashlib.sha256(self.store.read_bytes(key)).hexdigest()

    def is_sealed(self, run: RunRef) -> bool:
        return self.store.exists(run.key(layout.RECORD))

    # ------------------------------------------------------------ writing

    def ensure_writable(self) -> None:
        """Fail before any kernel starts when records could not be kept."""
        self.store.ensure_writable()

    def check_reachable(self) -> None:
        """A shared archive (a bucket) answers: else ArchiveError naming the bucket and the
        cause (no such bucket, credentials refused, endpoint unreachable). Nothing is checked
        (or written) for a folder."""
        remote = getattr(self.store, "remote", None)
        shared = remote if remote is not None else \
            None if isinstance(self.store, LocalStore) else self.store
        if shared is not None:
            shared.ensure_writable()

    def refuse_case_twin(self, incident_id: str) -> None:
        """Ids that differ only in case would be one incident on some filesystems and two on
        others: a new id that matches an existing incident's but for case is refused."""
        wanted = incident_id.casefold()
        for existing in self.store.children():
            if existing != incident_id and existing.casefold() == wanted:
                raise BadInput(f"incident id {incident_id!r} differs only in case from the "
                               f"existing incident {existing!r}: use {existing!r}")

    def open_incident(self, incident_id: str, opened_at: datetime,
                      started_at: datetime | None = None, opened_by: str = "",
                      **fields: str) -> dict[str, Any]:
        """The incident's header, created by the first run that names it."""
        key = layout.incident_key(check_incident_id(incident_id), layout.INCIDENT_HEADER)
        self.refuse_case_twin(incident_id)
        with self.store.lock(layout.incident_key(incident_id, layout.INCIDENT_LOCK)):
            header = self.header(incident_id)
            if header is not None:
                return header
            header = {"incident_id": incident_id, "opened_at": clock.iso(opened_at),
                      "started_at": clock.iso(started_at or opened_at),
                      "opened_by": opened_by, **fields}
            try:
                self.store.create(key, encode_json(header))
            except KeyExists:  # opened meanwhile by a writer that does not take the lock
                return self.header(incident_id) or header
            return header

    def start_run(self, incident_id: str, notebook: str, moment: datetime,
                  info: dict[str, Any]) -> RunRef:
        """A new run of the incident, its started.json written (the first file of the run:
        creating it claims the run's name) and its `started` line in the index."""
        check_incident_id(incident_id)
        marker = {**info, "pid": os.getpid(), "host": socket.gethostname()}
        payload = encode_json(marker)
        base = f"{clock.stamp(moment)}-{notebook}"
        for attempt in range(1000):
            run = RunRef(incident_id, base if attempt == 0 else f"{base}-{attempt + 1}")
            try:
                self.store.create(run.key(layout.STARTED), payload)
            except KeyExists:
                continue
            self.store.append(layout.INDEX, {"event": "started", "run": run.prefix, **{
                k: marker.get(k) for k in ("incident_id", "notebook", "started_at", "pid",
                                           "host")}})
            return run
        raise ArchiveError(f"too many runs of {notebook} in one second in "
                           f"{self.location(layout.incident_key(incident_id))}")

    def append_event(self, run: RunRef, event: dict[str, Any]) -> None:
        self.store.append(run.key(layout.EVENTS), event)

    def seal(self, run: RunRef, record: dict[str, Any]) -> dict[str, Any]:
        """Chain and write record.json (once), then index it. Returns the record as written.

        The chain entry vouches for the record and for every other file of the run and of the
        incident (`witness`); the chain's head afterwards is `chain_head(incident)`."""
        incident = run.incident_id
        with self.store.lock(layout.incident_key(incident, layout.INCIDENT_LOCK)):
            chain = self.chain(incident)
            previous = chain[-1].get("sha256") if chain else None
            record = {**record, "previous_record_sha256": previous}
            payload = encode_json(record)
            self.store.create(run.key(layout.RECORD), payload)
            self.store.append(layout.incident_key(incident, layout.CHAIN), {
                "run": run.name, "sha256": hashlib.sha256(payload).hexdigest(),
                "previous": previous, "sealed_at": record.get("finished_at"),
                **witness.seal_witness(self.store, run)})
            head = witness.chain_head(self.store, incident)
        self.store.append(layout.INDEX, {"event": "finished", "run": run.prefix,
                                         **index_summary(record), "chain_head": head})
        return record

    def chain_head(self, incident_id: str) -> str | None:
        """The hash of the incident's chain as it stands: post it where no local edit reaches,
        and `runbook verify INCIDENT --head HASH` later proves nothing sealed was removed."""
        return witness.chain_head(self.store, check_incident_id(incident_id))

    def check_ready(self, incident_id: str) -> None:
        """Refuse (ArchiveError, exit 2) before anything runs when the run's record could not
        be kept: the archive cannot be written, or its layout would break the run later (a
        file where the incident's folder belongs, a folder where the index belongs, a chain
        line that cannot be chained onto)."""
        check_incident_id(incident_id)
        self.ensure_writable()
        for key, want in ((layout.INDEX, "a file"), (layout.incident_key(incident_id), "a folder"),
                          (layout.incident_key(incident_id, layout.CHAIN), "a file"),
                          (layout.incident_key(incident_id, layout.INCIDENT_HEADER), "a file"),
                          (layout.incident_key(incident_id, layout.LEDGER), "a file")):
            problem = (self.store.shape_problem(key, want == "a folder")
                       if isinstance(self.store, LocalStore) else "")
            if problem:
                raise ArchiveError(f"{self.location(key)} {problem}, where the archive keeps "
                                   f"{want}: move it aside (nothing was run or written)")
        try:
            chain = self.chain(incident_id)
        except ArchiveUnavailable:
            return    # a shared archive out of reach: the run goes on, sealed locally
        for number, entry in enumerate(chain, start=1):
            if not isinstance(entry.get("sha256"), str) or not entry.get("run"):
                key = layout.incident_key(incident_id, layout.CHAIN)
                raise ArchiveError(
                    f"{self.location(key)} line {number} has no sha256 or run, so no record "
                    f"can be chained after it (nothing was run or written). Run `runbook "
                    f"verify {incident_id}` to see what else changed, then restore the line "
                    "from a copy of the archive (or move the incident aside and file this "
                    "run under a new incident)")


def index_summary(record: dict[str, Any]) -> dict[str, Any]:
    # The first failing finding; failing that, the first error (shown as one: a check that
    # could not be made is not a failure, but the list must not read as all clear).
    findings = record.get("findings", [])
    first_failure = next((f for status in ("fail", "error") for f in findings
                          if f.get("status") == status), None)
    return {
        "incident_id": record.get("incident_id"), "notebook": record.get("notebook"),
        "status": record.get("status"), "severity": record.get("severity"),
        "started_at": record.get("started_at"), "finished_at": record.get("finished_at"),
        "first_failure": (f"{first_failure['code']} ({first_failure['status']})"
                          if first_failure else ""),
    }


def list_runs(archive: Archive, incident_id: str | None = None) -> list[RunRow]:
    """Every run, from the index alone (see `index.list_rows`)."""
    return list_rows(archive.store, incident_id)


def read_record(path: Path) -> dict[str, Any]:
    """A record.json file, checked for the contract's shape; RecordError says what is wrong."""
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record") from None
    except OSError as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from None
    return parse_record(payload, str(path))


def archived_record(archive: Archive, run: RunRef) -> dict[str, Any]:
    """A run's sealed record, checked for the contract's shape."""
    key = run.key(layout.RECORD)
    try:
        payload = archive.store.read_bytes(key)
    except KeyMissing:
        raise RecordError(f"{archive.location(key)}: no such record") from None
    return parse_record(payload, archive.location(key))


def parse_record(payload: bytes, path: str) -> dict[str, Any]:
    """A record's bytes, checked for the contract's shape; `path` names it in the error."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: a record must be a JSON object")
    for key, kind in (("incident_id", str), ("notebook", str), ("status", str),
                      ("started_at", str), ("findings", list), ("actions", list)):
        if not isinstance(data.get(key), kind):
            raise RecordError(f"{path}: field {key!r} is missing or not a {kind.__name__}")
    if data["status"] not in RECORD_STATUSES:
        raise RecordError(f"{path}: status {data['status']!r} is not one of "
                          + ", ".join(RECORD_STATUSES))
    for index, finding in enumerate(data["findings"]):
        if not isinstance(finding, dict) or not isinstance(finding.get("code"), str) or \
                finding.get("status") not in ("pass", "fail", "error", "skipped"):
            raise RecordError(f"{path}: findings[{index}] is not a finding "
                              "(code, and status pass|fail|error|skipped)")
    return data


def incident_records(archive: Archive, incident_id: str) -> list[tuple[RunRef, dict[str, Any]]]:
    """The sealed records of an incident, in chain order."""
    if not archive.has_incident(incident_id):
        raise UnknownIncident(incident_id, archive.location())
    result = []
    for entry in archive.chain(incident_id):
        run = RunRef(incident_id, str(entry.get("run")))
        if archive.is_sealed(run):
            result.append((run, archived_record(archive, run)))
    return result
