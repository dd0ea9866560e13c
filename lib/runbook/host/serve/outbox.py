"""Verdicts owed to Slack, on disk, so that no run goes unreported when serve itself dies.

An entry is written when a run starts (the verdict is owed from then on), completed with the
verdict's text once it is composed, and removed once Slack took it. A serve that was killed
(SIGKILL, a crash, the machine rebooting) finds its entries when it starts again and posts
them: the run its runner finished meanwhile gets its verdict from the sealed record. A post
that failed stays too, and is tried again with backoff while serve runs.

The folder sits beside the local runs folder (`.runbook-serve-outbox/` next to `runs/`, or
next to the staging folder of a bucket archive): a place serve can write (the container's
`/data`), outside the archive, which never lists or uploads it. One small JSON file per
incident and notebook, each written whole (a temporary file, then a rename); texts are
redacted before they are written. When the folder cannot be written, serve says so and posts
as before: the verdict then only lives as long as the process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from runbook.core import clock
from runbook.core.redaction import registry

log = logging.getLogger("runbook.serve")
FOLDER = ".runbook-serve-outbox"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
FIRST_RETRY_SECONDS = 5.0
LAST_RETRY_SECONDS = 30.0     # Slack back: the owed verdict goes out within this


@dataclass
class Owed:
    incident_id: str
    notebook: str
    reason: str
    owed_at: str                 # ISO: when the run started
    text: str = ""               # the verdict, once composed
    record_path: str = ""
    attempts: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.incident_id, self.notebook


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._next_try: dict[tuple[str, str], datetime] = {}

    @classmethod
    def beside(cls, runs_dir: Path) -> Outbox:
        return cls(runs_dir.resolve().parent / FOLDER)

    def _path(self, incident_id: str, notebook: str) -> Path:
        return self.folder / f"{_SAFE.sub('_', incident_id)}--{_SAFE.sub('_', notebook)}.json"

    def writable(self) -> str:
        """Why the folder cannot be written, or ""."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".probe"
            probe.write_text("", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            return f"the outbox {self.folder} cannot be written ({exc.strerror or exc})"
        return ""

    def _write(self, owed: Owed) -> None:
        data = json.dumps(registry().redact_obj(asdict(owed)), ensure_ascii=False, indent=1)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".writing-")
        except OSError as exc:
            log.warning("the outbox %s cannot be written (%s): the verdict for %s is posted "
                        "but not kept", self.folder, exc.strerror or exc, owed.incident_id)
            return
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self._path(owed.incident_id, owed.notebook))
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            log.warning("the outbox entry for %s cannot be written (%s)", owed.incident_id,
                        exc.strerror or exc)

    def owe(self, incident_id: str, notebook: str, reason: str) -> Owed:
        """A run starts: its verdict is owed."""
        owed = Owed(incident_id, notebook, reason, clock.iso(clock.now()))
        self._write(owed)
        self._next_try.pop(owed.key, None)
        return owed

    def composed(self, owed: Owed, text: str, record_path: str | None) -> None:
        owed.text, owed.record_path = text, record_path or ""
        self._write(owed)

    def failed(self, owed: Owed) -> None:
        """A post did not get through: try again later, waiting longer each time."""
        owed.attempts += 1
        self._write(owed)
        wait = min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, owed.attempts - 1))
        self._next_try[owed.key] = clock.now() + timedelta(seconds=wait)

    def settle(self, owed: Owed) -> None:
        """Slack took it."""
        try:
            self._path(owed.incident_id, owed.notebook).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("the outbox entry for %s cannot be removed (%s): it may be posted "
                        "again", owed.incident_id, exc.strerror or exc)
        self._next_try.pop(owed.key, None)

    def entries(self) -> list[Owed]:
        try:
            paths = sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []
        except OSError:
            return []
        found = []
        for path in paths:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                found.append(Owed(**{k: data[k] for k in Owed.__dataclass_fields__
                                     if k in data}))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("outbox entry %s cannot be read (%s): left in place", path.name,
                            exc)
        return found

    def due(self, now: datetime) -> list[Owed]:
        return [o for o in self.entries() if self._next_try.get(o.key, now) <= now]

    def later(self, owed: Owed, seconds: float) -> None:
        """Not ready yet (its run is still going): look again in `seconds`."""
        self._next_try[owed.key] = clock.now() + timedelta(seconds=seconds)

    def seconds_to_next(self, now: datetime) -> float | None:
        """How long until an entry is due again; None when nothing waits."""
        keys = {o.key for o in self.entries()}
        if not keys:
            return None
        times = [self._next_try.get(key, now) for key in keys]
        return max(0.0, (min(times) - now).total_seconds())

