"""The archive's storage, behind one small interface keyed by archive-relative keys.

Every byte under `runs/` is read and written through an `ArchiveStore`; `layout` says what the
keys are. The interface is what an object store can honour as well as a filesystem can:

- `create` is write-once: it fails with `KeyExists` when the key is there (a conditional
  create, If-None-Match: * on S3). A sealed record is created, never overwritten.
- `replace` overwrites atomically (a reader sees the old bytes or the new, never half): the
  notebook saved after every cell, the index snapshot.
- `append` adds one whole JSON line; concurrent appenders never interleave.
- `lock` is exclusive; waiting or not, and when it is refused it says who holds it and since
  when (`LockHeld`). A holder that dies releases it.
- `children` lists the names one level under a prefix (a delimiter listing on S3).

`LocalStore` lays the archive out on a filesystem exactly as it always was: the same names,
atomic writes by temp file and rename with an fsync, appends by O_APPEND under a flock, and
lock files holding their holder's identity. An archive written before this module existed
reads unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from runbook.archive.lines import encode_line, json_lines
from runbook.core.errors import ArchiveError, KeyExists
from runbook.core.files import tmp_beside, write_atomic, write_synced

MIN_FREE_BYTES = 5 * 1024 * 1024  # a record and its notebook, with room to spare


class KeyMissing(LookupError):
    """A key that is not in the archive."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class LockHeld(Exception):
    """A lock someone else holds; `holder` is what they wrote when they took it."""

    def __init__(self, key: str, holder: dict[str, Any]) -> None:
        super().__init__(f"{key} is held by {holder.get('holder', 'an unknown holder')}")
        self.key = key
        self.holder = holder


@dataclass(frozen=True)
class Versioned:
    """An appended key as read, and the version it was read at ("" when it was absent or
    empty): `append_if` at this version fails once anyone else has written the key since."""

    data: bytes
    version: str

    @property
    def lines(self) -> list[dict[str, Any]]:
        return json_lines(self.data)


class ArchiveStore(Protocol):
    def location(self, key: str = "") -> str:
        """Where a key lives, for a person to read (a path, a URL)."""
        ...

    def ensure_writable(self) -> None:
        """Raise ArchiveError, before anything starts, when records could not be kept."""
        ...

    def exists(self, key: str) -> bool: ...

    def read_bytes(self, key: str) -> bytes:
        """The key's bytes; KeyMissing when it is not there."""
        ...

    def read_lines(self, key: str) -> list[dict[str, Any]]:
        """Every whole JSON line of an appended key; [] when it is not there."""
        ...

    def create(self, key: str, data: bytes) -> None:
        """Write a key once; KeyExists when it is already there."""
        ...

    def replace(self, key: str, data: bytes) -> None:
        """Write a key whole, atomically, over what it held."""
        ...

    def append(self, key: str, line: dict[str, Any]) -> None:
        """Append one JSON line, whole, after every line already there."""
        ...

    def append_after(self, key: str, make: Callable[[bytes], list[dict[str, Any]]]
                     ) -> list[dict[str, Any]]:
        """Append the lines `make` returns for the key's bytes as they are now, atomically:
        no other line lands between the read and the write (a chained log's next line).
        Returns the lines written."""
        ...

    def read_versioned(self, key: str) -> Versioned:
        """An appended key's bytes and their version (b"" and "" when it is not there)."""
        ...

    def append_if(self, key: str, line: dict[str, Any], seen: Versioned) -> bool:
        """Append one JSON line only if the key is still as `seen` (If-Match on its ETag in a
        bucket, If-None-Match when it was absent); False, writing nothing, when it changed."""
        ...

    def children(self, prefix: str = "") -> list[str]:
        """The names one level under a prefix, sorted; [] when there are none."""
        ...

    def lock(self, key: str, holder: dict[str, Any] | None = None,
             wait: bool = True) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Hold the lock `key` while in the block, `holder` recorded as its holder. Waits for
        it, or (wait=False) raises LockHeld with the holder's own record."""
        ...


class LocalStore:
    """The archive on a filesystem, under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalStore) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def path(self, key: str) -> Path:
        parts = [part for part in key.split("/") if part]
        if any(part in (".", "..") for part in parts):
            raise ArchiveError(f"{key!r} is not an archive key")
        return self.root.joinpath(*parts)

    def location(self, key: str = "") -> str:
        return str(self.path(key))

    def ensure_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise ArchiveError(f"cannot write to the archive {self.root}: {exc.strerror or exc}; "
                               "free space or fix permissions, or set RUNBOOK_RUNS_DIR") from None
        free = shutil.disk_usage(self.root).free
        if free < MIN_FREE_BYTES:
            raise ArchiveError(f"the archive {self.root} has only {free // 1024} KiB free; "
                               f"at least {MIN_FREE_BYTES // (1024 * 1024)} MiB is needed")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def shape_problem(self, key: str, folder: bool) -> str:
        """What is wrong with what stands at `key` on the filesystem ("" when it is absent or
        of the right kind): a file where a folder belongs, or the other way round."""
        path = self.path(key)
        for ancestor in reversed(path.relative_to(self.root).parents[:-1]):
            if (self.root / ancestor).is_file():
                return f"cannot be made: {self.root / ancestor} is a file"
        if folder and path.exists() and not path.is_dir():
            return "is a file"
        if not folder and path.exists() and not path.is_file():
            return "is a folder" if path.is_dir() else "is not a regular file"
        return ""

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise KeyMissing(key) from None

    def read_lines(self, key: str) -> list[dict[str, Any]]:
        try:
            return json_lines(self.read_bytes(key))
        except KeyMissing:
            return []

    def create(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_beside(path)
        try:
            write_synced(tmp, data)
            # A hard link never replaces an existing name: the whole file appears at once,
            # and only if nothing was there.
            os.link(tmp, path)
        except FileExistsError:
            raise KeyExists(key) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def replace(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)

    def append(self, key: str, line: dict[str, Any]) -> None:
        # O_APPEND plus a lock keeps lines whole under concurrent writers.
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, encode_line(line))
        finally:
            os.close(fd)

    def append_after(self, key: str, make: Callable[[bytes], list[dict[str, Any]]]
                     ) -> list[dict[str, Any]]:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)   # the same lock `append` takes
            with os.fdopen(os.dup(fd), "rb") as reader:
                current = reader.read()
            lines = make(current)
            os.write(fd, b"".join(encode_line(line) for line in lines))
        finally:
            os.close(fd)
        return lines

    def read_versioned(self, key: str) -> Versioned:
        try:
            data = self.read_bytes(key)
        except KeyMissing:
            data = b""
        return Versioned(data, content_version(data))

    def append_if(self, key: str, line: dict[str, Any], seen: Versioned) -> bool:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # Under the same lock as `append`: nobody writes between the check and the write.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if content_version(_read_all(fd)) != seen.version:
                return False
            os.write(fd, encode_line(line))
            return True
        finally:
            os.close(fd)

    def children(self, prefix: str = "") -> list[str]:
        directory = self.path(prefix)
        try:
            return sorted(entry.name for entry in directory.iterdir()
                          if not entry.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    @contextlib.contextmanager
    def lock(self, key: str, holder: dict[str, Any] | None = None,
             wait: bool = True) -> Iterator[dict[str, Any]]:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeld(key, _read_holder(fd)) from None
            info = dict(holder or {})
            if info:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(info).encode(), 0)
            try:
                yield info
            finally:
                if info:
                    os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing releases the flock; a dead holder's is released by the kernel


def content_version(data: bytes) -> str:
    """A file's version is its content's digest: appends only grow it, so any write shows."""
    return hashlib.sha256(data).hexdigest() if data else ""


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _read_holder(fd: int) -> dict[str, Any]:
    # The holder writes its identity right after locking; give it a moment to appear.
    for _ in range(20):
        raw = os.pread(fd, 4096, 0)
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
        time.sleep(0.01)
    return {}
