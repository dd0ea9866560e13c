"""A shared archive (a bucket) with a local staging copy, so nothing is lost when it fails.

What a run writes of its own (started.json, events.jsonl, notebook.ipynb, record.json) is
written to the local staging copy first, every time: the kernel still saves after every cell
even when the bucket is gone. A background uploader puts the run's events and notebook in the
bucket within about a second, so a teammate's `runbook runs` and postmortem see them while the
run goes on; sealing uploads them all before the record is created.

What is shared (an incident's header and chain, the index) goes to the bucket. When the bucket
cannot be reached this store goes offline: from then on everything is kept locally and the run
completes. An incident's header and appended files (its events) kept locally are marked
unsent (`.unsent-<name>` beside them). In a long-lived process (`keep_uploading`: serve) the
bucket is retried with backoff; once it answers, everything staged is uploaded (`drain`: the
unsent files, and each run sealed locally, chained and indexed in the bucket as if it had been
sealed there) and the store is online again. `runbook sync` (`sync.sync_staged`) does the same
from another process; `staging_depth` says how much waits. The guards (an incident's ledger,
action locks and claims) are never kept locally: they only mean something shared, so they fail
with `ArchiveUnavailable` and the action is refused unless the responder overrides.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from runbook.archive import layout
from runbook.archive.layout import RunRef
from runbook.archive.record import Archive, is_incident_id
from runbook.archive.store import ArchiveStore, KeyMissing, LocalStore, Versioned
from runbook.core.errors import ArchiveError, ArchiveUnavailable

T = TypeVar("T")

RUN_FILES = (layout.STARTED, layout.EVENTS, layout.NOTEBOOK, layout.RECORD)
GUARDS = (layout.LEDGER, layout.LOCKS, layout.ACTIONS)
SYNCED = ".synced"       # in a staged run: its record is sealed in the bucket
UNSENT = ".unsent-"      # beside an incident's file kept locally: not yet in the bucket
DRAINING = ".draining"   # a mark being uploaded (a write meanwhile marks the file again)
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


def run_file(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 3 and parts[2] in RUN_FILES


def guard_key(key: str) -> bool:
    parts = key.split("/")
    return len(parts) >= 2 and parts[1] in GUARDS


def incident_file(key: str) -> bool:
    """An incident's own file that the bucket must get once it answers: its header and its
    appended logs (its chain is rebuilt in the bucket by sealing each run there)."""
    parts = key.split("/")
    return len(parts) == 2 and not parts[1].startswith(".") and parts[1] != layout.CHAIN \
        and (parts[1] == layout.INCIDENT_HEADER or parts[1].endswith(".jsonl"))


def unsent_mark(key: str) -> str:
    incident, name = key.split("/")
    return f"{incident}/{UNSENT}{name}"


class StagedStore:
    """`remote` shared by everyone, `local` this machine's staging copy of its own runs."""

    # How a drain uploads (`sync.sync_staged`, registered by that module, which builds on this
    # one): (store, runs, every) → its report.
    syncer: ClassVar[Callable[[StagedStore, bool, bool], Any] | None] = None

    def __init__(self, local: LocalStore, remote: ArchiveStore,
                 upload_every: float = 1.0, retry_first: float = RETRY_FIRST_SECONDS,
                 retry_max: float = RETRY_MAX_SECONDS) -> None:
        self.local = local
        self.remote = remote
        self.offline = ""            # why the bucket was given up on; "" while it is used
        self.upload_every = upload_every
        self.retry_first = retry_first     # the first wait before the bucket is tried again
        self.retry_max = retry_max         # the wait doubles up to this
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._uploader: threading.Thread | None = None
        self._drainer: threading.Thread | None = None
        self._drain_now = threading.Event()
        self._drain_lock = threading.Lock()
        # A long-lived process (serve) retries a lost bucket; a run's process leaves what it
        # kept to `runbook sync` (or to the serve that started it).
        self.retrying = False

    def __repr__(self) -> str:
        return f"StagedStore({self.remote!r}, staged at {str(self.local.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StagedStore) and (other.local, other.remote) == \
            (self.local, self.remote)

    def __hash__(self) -> int:
        return hash((self.local, self.remote))

    # ------------------------------------------------------------ online, offline

    def go_offline(self, reason: str) -> None:
        if not self.offline:
            self.offline = reason or "the archive cannot be reached"
            later = ("uploaded once the bucket answers again (it is retried)" if self.retrying
                     else "`runbook sync` uploads it later")
            print(f"runbook: {self.offline}; from now on this run is kept at "
                  f"{self.local.root}, {later}", file=sys.stderr)
        if self.retrying:
            self.drain_in_background()

    def _shared(self, remote_call: Callable[[], T], local_call: Callable[[], T],
                key: str = "") -> T:
        """A shared key: in the bucket, or locally once the bucket is lost (an incident's
        file kept locally is marked unsent)."""
        if not self.offline:
            try:
                return remote_call()
            except ArchiveUnavailable as exc:
                self.go_offline(str(exc))
        result = local_call()
        if key and incident_file(key):
            self.local.replace(unsent_mark(key), b"")
        return result

    # ------------------------------------------------------------ back online

    def staging_depth(self) -> int:
        """How many things kept locally wait for the bucket: runs sealed here and not in the
        bucket, incident files not yet uploaded, run files not yet uploaded. 0 when nothing
        waits (read from the staging folder: cheap, and true even across restarts)."""
        with self._lock:
            dirty = len(self._dirty)
        return len(pending_runs(self, quiet=True)) + len(unsent_files(self)) + dirty

    def drain(self) -> int:
        """Upload everything staged, if the bucket answers: the unsent incident files, then
        every run sealed locally (chained and indexed there); then the store is online again.
        Returns how many things were uploaded; raises ArchiveError while the bucket does not
        answer (the store stays offline)."""
        syncer = type(self).syncer       # a plain function, not bound to this store
        if syncer is None:
            raise ArchiveError("the staged archive cannot upload: runbook.archive.sync is not "
                               "loaded")
        with self._drain_lock:
            self.remote.ensure_writable()
            report = syncer(self, True, False)
            came_back = bool(self.offline)
            self.offline = ""
            # A write that went local while the bucket was being caught up is marked: upload it.
            report.merge(syncer(self, False, False))
        uploaded = int(report.count())
        if came_back:
            print(f"runbook: the archive {self.remote.location()} answers again: "
                  f"{uploaded} staged item(s) uploaded", file=sys.stderr)
        return uploaded

    def keep_uploading(self) -> None:
        """From now on a lost bucket is retried with backoff and everything staged uploaded
        once it answers; begun at once when something staged already waits (left by an
        earlier process, or by a run that lost the bucket on its own)."""
        self.retrying = True
        if self.staging_depth():
            self.drain_in_background()

    def drain_in_background(self) -> None:
        """Retry the bucket with backoff (from `retry_first` doubling to `retry_max`) until
        what is staged is uploaded; a no-op while it is already being retried."""
        with self._lock:
            if self._drainer is not None and self._drainer.is_alive():
                self._drain_now.set()
                return
            self._drainer = threading.Thread(target=self._drain_loop, daemon=True,
                                             name="archive drainer")
            self._drainer.start()

    def _drain_loop(self) -> None:
        delay = self.retry_first
        while self.offline or self.staging_depth():
            # Jittered, so many machines that lost the bucket together do not return together.
            self._drain_now.wait(delay * (0.5 + secrets.randbelow(1000) / 1000))
            self._drain_now.clear()
            try:
                self.drain()
            except ArchiveError as exc:
                if self.offline:
                    self.offline = str(exc) or self.offline
                delay = min(self.retry_max, delay * 2)
            except Exception as exc:  # noqa: BLE001 - the retrier must outlive a bad file
                print(f"runbook: uploading the staged archive failed: {type(exc).__name__}: "
                      f"{exc}; retried later", file=sys.stderr)
                delay = min(self.retry_max, delay * 2)

    # ------------------------------------------------------------ the ArchiveStore protocol

    def location(self, key: str = "") -> str:
        # A run's folder is where its files are staged: the kernel and a person can open them.
        if len(key.split("/")) == 2 or self.offline:
            return self.local.location(key)
        return self.remote.location(key)

    def ensure_writable(self) -> None:
        """Both copies can be written, the bucket included: checked before a run starts (a
        wrong bucket, endpoint or credentials refuse it, naming the cause; a bucket lost
        after that only makes the run complete locally) and by serve's health."""
        self.local.ensure_writable()
        self.remote.ensure_writable()

    def _read(self, key: str, read: Callable[[ArchiveStore], T]) -> T:
        """A run's file staged here is read here, a guard in the bucket, any other key where
        it is shared."""
        if run_file(key) and self.local.exists(key):
            return read(self.local)
        if guard_key(key):
            return read(self.remote)
        return self._shared(lambda: read(self.remote), lambda: read(self.local))

    def exists(self, key: str) -> bool:
        return self._read(key, lambda store: store.exists(key))

    def read_bytes(self, key: str) -> bytes:
        return self._read(key, lambda store: store.read_bytes(key))

    def read_lines(self, key: str) -> list[dict[str, Any]]:
        return self._read(key, lambda store: store.read_lines(key))

    def create(self, key: str, data: bytes) -> None:
        if guard_key(key):
            self.remote.create(key, data)
            return
        if run_file(key) and key.endswith("/" + layout.RECORD):
            self.flush_run(key.rsplit("/", 1)[0])
        if self._shared(lambda: _created(self.remote, key, data), lambda: False, key):
            # The bucket's create decided (the name is this writer's): the staging copy follows
            # it, over a copy left by an earlier offline run of the same name.
            self.local.replace(key, data)
        else:
            self.local.create(key, data)
        if key.endswith("/" + layout.RECORD) and not self.offline:
            self.local.replace(key.rsplit("/", 1)[0] + "/" + SYNCED, b"")

    def _write(self, key: str, write: Callable[[ArchiveStore], None]) -> None:
        """A run's file is staged here (and marked for upload), a guard goes to the bucket,
        any other key where it is shared."""
        if run_file(key):
            write(self.local)
            self._mark(key)
            return
        if guard_key(key):
            write(self.remote)
            return
        self._shared(lambda: write(self.remote), lambda: write(self.local), key)

    def replace(self, key: str, data: bytes) -> None:
        self._write(key, lambda store: store.replace(key, data))

    def append(self, key: str, line: dict[str, Any]) -> None:
        self._write(key, lambda store: store.append(key, line))

    def append_after(self, key: str, make: Callable[[bytes], list[dict[str, Any]]]
                     ) -> list[dict[str, Any]]:
        return self._shared(lambda: self.remote.append_after(key, make),
                            lambda: self.local.append_after(key, make), key)

    def read_versioned(self, key: str) -> Versioned:
        if guard_key(key):
            return self.remote.read_versioned(key)
        return self._shared(lambda: self.remote.read_versioned(key),
                            lambda: self.local.read_versioned(key))

    def append_if(self, key: str, line: dict[str, Any], seen: Versioned) -> bool:
        if guard_key(key):
            return self.remote.append_if(key, line, seen)
        return self._shared(lambda: self.remote.append_if(key, line, seen),
                            lambda: self.local.append_if(key, line, seen), key)

    def children(self, prefix: str = "") -> list[str]:
        names = set(self._shared(lambda: self.remote.children(prefix), lambda: []))
        names.update(self.local.children(prefix))
        return sorted(names)

    def lock(self, key: str, holder: dict[str, Any] | None = None,
             wait: bool = True) -> contextlib.AbstractContextManager[dict[str, Any]]:
        if guard_key(key):
            return self.remote.lock(key, holder, wait)
        if not self.offline:
            try:
                return _entered(self.remote.lock(key, holder, wait))
            except ArchiveUnavailable as exc:
                self.go_offline(str(exc))
        return self.local.lock(key, holder, wait)

    # ------------------------------------------------------------ the uploader

    def _mark(self, key: str) -> None:
        if self.offline:
            return
        with self._lock:
            self._dirty.add(key)
            if self._uploader is None or not self._uploader.is_alive():
                self._uploader = threading.Thread(target=self._upload_loop, daemon=True,
                                                  name="archive uploader")
                self._uploader.start()
        self._wake.set()

    def _upload_loop(self) -> None:
        while not self.offline:
            self._wake.wait()
            self._wake.clear()
            self.upload_dirty()
            self._wake.wait(self.upload_every)

    def upload_dirty(self) -> None:
        """Put every run file written since the last upload in the bucket."""
        with self._lock:
            keys, self._dirty = sorted(self._dirty), set()
        for key in keys:
            if self.offline:
                return
            self._upload(key)

    def _upload(self, key: str) -> None:
        try:
            data = self.local.read_bytes(key)
        except KeyMissing:
            return
        try:
            self.remote.replace(key, data)
        except ArchiveUnavailable as exc:
            self.go_offline(str(exc))

    def flush_run(self, prefix: str) -> None:
        """Upload the run's events and notebook as they are now (before its record is
        sealed, whichever process wrote them)."""
        with self._lock:
            self._dirty = {key for key in self._dirty if not key.startswith(prefix + "/")}
        for name in (layout.EVENTS, layout.NOTEBOOK):
            if not self.offline:
                self._upload(f"{prefix}/{name}")


def _created(store: ArchiveStore, key: str, data: bytes) -> bool:
    store.create(key, data)
    return True


@contextlib.contextmanager
def _held(manager: contextlib.AbstractContextManager[dict[str, Any]],
          info: dict[str, Any]) -> Iterator[dict[str, Any]]:
    try:
        yield info
    finally:
        manager.__exit__(None, None, None)


def _entered(manager: contextlib.AbstractContextManager[dict[str, Any]]
             ) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """Take the lock now (so a failure to reach the bucket is seen here, not in the `with`)."""
    info = manager.__enter__()
    return _held(manager, info)


def staged_incidents(store: StagedStore, quiet: bool = False) -> list[str]:
    """The incident folders of the staging copy (a folder not named by an incident id is
    never uploaded: skipped, with a warning unless `quiet`)."""
    local = store.local
    if quiet:
        return [name for name in local.children() if is_incident_id(name)]
    return Archive(local.root, local).incidents()


def header_first(key: str) -> tuple[bool, str]:
    return not key.endswith("/" + layout.INCIDENT_HEADER), key


def pending_runs(store: StagedStore, quiet: bool = False) -> list[RunRef]:
    """Staged runs with a local record and no mark that the bucket has it."""
    local = store.local
    return [RunRef(incident, name) for incident in staged_incidents(store, quiet)
            for name in local.children(incident)
            if local.exists(f"{incident}/{name}/{layout.RECORD}")
            and not local.exists(f"{incident}/{name}/{SYNCED}")]


def unsent_files(store: StagedStore) -> list[str]:
    """The incident files kept locally and marked unsent (or caught mid-upload)."""
    keys: set[str] = set()
    for incident in staged_incidents(store, quiet=True):
        with contextlib.suppress(OSError):
            for entry in os.scandir(store.local.path(incident)):
                if entry.name.startswith(UNSENT):
                    keys.add(f"{incident}/{entry.name[len(UNSENT):].removesuffix(DRAINING)}")
    return sorted(keys, key=header_first)
