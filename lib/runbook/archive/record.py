"""The archive: run directories, events, record.json, the per-incident hash chain, the index.

    runs/
      index.jsonl                       one line when a run starts, one when it ends
      <incident>/
        incident.json                   when the incident opened, and when it started
        chain.jsonl                     each record's sha256, in the order they were sealed
        <yyyymmddTHHMMSSZ>-<notebook>/
          started.json                  written before the kernel starts (pid, host, params)
          events.jsonl                  findings, actions, severity: appended as they happen
          notebook.ipynb                the executed notebook, redacted, saved after each cell
          record.json                   the sealed record (the design's contract)

Every file write is atomic (temp file, then rename) or an O_APPEND of one line under a lock,
so concurrent runs into one incident never interleave and a killed writer leaves no half file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets as _random
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runbook.core import clock
from runbook.core.errors import ArchiveError, BadInput, RecordError, UnknownIncident

RECORD_STATUSES = ("completed", "failed", "aborted", "timed_out")
INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_FREE_BYTES = 5 * 1024 * 1024  # a record and its notebook, with room to spare


def new_incident_id(moment: datetime) -> str:
    return f"inc-{moment:%Y%m%d-%H%M}-{_random.token_hex(2)}"


def check_incident_id(incident_id: str) -> str:
    # fullmatch: `$` would also accept a trailing newline ("inc-1\n" is not "inc-1").
    if not INCIDENT_ID.fullmatch(incident_id):
        raise BadInput(f"incident id {incident_id!r} is not valid: use letters, digits, '.', '_' "
                       "or '-' (at most 64), starting with a letter or digit")
    return incident_id


def _refuse_case_twin(directory: Path) -> None:
    """Ids that differ only in case would be one incident on some filesystems and two on
    others: an id that matches an existing incident's but for case is refused."""
    if directory.exists() or not directory.parent.is_dir():
        return
    wanted = directory.name.casefold()
    for sibling in directory.parent.iterdir():
        if sibling.name.casefold() == wanted and sibling.name != directory.name:
            raise BadInput(f"incident id {directory.name!r} differs only in case from the "
                           f"existing incident {sibling.name!r}: use {sibling.name!r}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_random.token_hex(4)}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> bytes:
    payload = (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()
    write_atomic(path, payload)
    return payload


def append_line(path: Path, data: dict[str, Any]) -> None:
    """Append one JSON line; O_APPEND plus a lock keeps lines whole under concurrent writers."""
    line = (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def json_lines(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of the whole lines in `data`; a line that does not parse (a killed
    writer's torn line) is skipped."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    try:
        # One parse for all lines is several times faster than one per line.
        parsed = json.loads(b"[" + b",".join(lines) + b"]")
        if isinstance(parsed, list) and len(parsed) == len(lines):
            return [item for item in parsed if isinstance(item, dict)]
    except ValueError:
        pass
    result = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            result.append(item)
    return result


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every whole JSON line of a .jsonl file; a torn last line (a killed writer) is skipped."""
    if not path.is_file():
        return []
    return json_lines(path.read_bytes())


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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


@dataclass
class Archive:
    """The `runs/` directory."""

    root: Path

    @property
    def index_path(self) -> Path:
        return self.root / "index.jsonl"

    def incident_dir(self, incident_id: str) -> Path:
        directory = self.root / check_incident_id(incident_id)
        _refuse_case_twin(directory)
        return directory

    def ensure_writable(self) -> None:
        """Fail before any kernel starts when records could not be kept."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}-{_random.token_hex(4)}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise ArchiveError(f"cannot write to the archive {self.root}: {exc.strerror or exc}; "
                               "free space or fix permissions, or set RUNBOOK_RUNS_DIR") from None
        free = shutil.disk_usage(self.root).free
        if free < MIN_FREE_BYTES:
            raise ArchiveError(f"the archive {self.root} has only {free // 1024} KiB free; "
                               f"at least {MIN_FREE_BYTES // (1024 * 1024)} MiB is needed")

    def open_incident(self, incident_id: str, opened_at: datetime,
                      started_at: datetime | None = None, opened_by: str = "") -> dict[str, Any]:
        """The incident's header, created by the first run that names it."""
        directory = self.incident_dir(incident_id)
        directory.mkdir(parents=True, exist_ok=True)
        header_path = directory / "incident.json"
        with locked(directory / ".lock"):
            if header_path.is_file():
                header: dict[str, Any] = json.loads(header_path.read_text())
                return header
            header = {"incident_id": incident_id, "opened_at": clock.iso(opened_at),
                      "started_at": clock.iso(started_at or opened_at),
                      "opened_by": opened_by}
            write_json_atomic(header_path, header)
            return header

    def incidents(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and (p / "incident.json").is_file())

    def new_run_dir(self, incident_id: str, notebook: str, moment: datetime) -> Path:
        base = f"{clock.stamp(moment)}-{notebook}"
        directory = self.incident_dir(incident_id)
        for attempt in range(1000):
            name = base if attempt == 0 else f"{base}-{attempt + 1}"
            try:
                (directory / name).mkdir(parents=True)
                return directory / name
            except FileExistsError:
                continue
        raise ArchiveError(f"too many runs of {notebook} in one second in {directory}")

    def mark_started(self, run_dir: Path, info: dict[str, Any]) -> None:
        marker = {**info, "pid": os.getpid(), "host": socket.gethostname()}
        write_json_atomic(run_dir / "started.json", marker)
        append_line(self.index_path, {"event": "started", "run": self.rel(run_dir), **{
            k: marker.get(k) for k in ("incident_id", "notebook", "started_at", "pid", "host")}})

    def rel(self, run_dir: Path) -> str:
        return run_dir.relative_to(self.root).as_posix()

    def seal(self, run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
        """Chain and write record.json, then index it. Returns the record as written."""
        incident_dir = run_dir.parent
        with locked(incident_dir / ".lock"):
            chain = read_lines(incident_dir / "chain.jsonl")
            previous = chain[-1]["sha256"] if chain else None
            record = {**record, "previous_record_sha256": previous}
            payload = write_json_atomic(run_dir / "record.json", record)
            digest = hashlib.sha256(payload).hexdigest()
            append_line(incident_dir / "chain.jsonl", {
                "run": run_dir.name, "sha256": digest, "previous": previous,
                "sealed_at": record.get("finished_at")})
        append_line(self.index_path, {"event": "finished", "run": self.rel(run_dir),
                                      **index_summary(record)})
        return record


def index_summary(record: dict[str, Any]) -> dict[str, Any]:
    first_failure = next((f for f in record.get("findings", [])
                          if f.get("status") in ("fail", "error")), None)
    return {
        "incident_id": record.get("incident_id"), "notebook": record.get("notebook"),
        "status": record.get("status"), "severity": record.get("severity"),
        "started_at": record.get("started_at"), "finished_at": record.get("finished_at"),
        "first_failure": (f"{first_failure['code']} ({first_failure['status']})"
                          if first_failure else ""),
    }


@dataclass
class RunRow:
    run: str
    incident_id: str
    notebook: str
    status: str
    severity: str | None
    started_at: str
    first_failure: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _pid_alive(pid: Any, host: Any) -> bool:
    if host != socket.gethostname() or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(archive: Archive, incident_id: str | None = None) -> list[RunRow]:
    """Every run, from the index alone: a run that started but never finished is `running`
    while its runner lives, and `interrupted` once it does not (killed, machine lost)."""
    from runbook.archive.index import read_rows

    found = [row for row in read_rows(archive.index_path).values()
             if not incident_id or row[1] == incident_id]
    found.sort(key=lambda row: (row[5], row[0]))
    return [RunRow(run, incident, notebook,
                   status if status is not None else
                   ("running" if _pid_alive(pid, host) else "interrupted"),
                   severity, started_at, first_failure)
            for run, incident, notebook, status, severity, started_at, first_failure, pid, host
            in found]


def read_record(path: Path) -> dict[str, Any]:
    """A record.json, checked for the contract's shape; RecordError says what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
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


def incident_records(archive: Archive, incident_id: str) -> list[tuple[Path, dict[str, Any]]]:
    """The sealed records of an incident, in chain order."""
    directory = archive.incident_dir(incident_id)
    if not directory.is_dir():
        raise UnknownIncident(incident_id, archive.root)
    result = []
    for entry in read_lines(directory / "chain.jsonl"):
        path = directory / str(entry.get("run")) / "record.json"
        if path.is_file():
            result.append((path, read_record(path)))
    return result
