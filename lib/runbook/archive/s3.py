"""The archive in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), with boto3.

Every write is one of the conditional writes object stores honour, so writers on many machines
never overwrite each other and never need to delete (the bucket policy grants get, put, list):

- `create` is `PutObject` with `If-None-Match: *` (412: the key is there, `KeyExists`).
- `replace` is a plain `PutObject` (an object is replaced whole, atomically).
- `append` is compare-and-swap: read the object and its ETag, put it back longer with
  `If-Match: <etag>`, again from the read on 412. Small logs only: an incident's chain and
  ledger, a run's events.
- The index is not one object: each `append` to it writes a write-once entry under a sortable
  key (`.index/entries/<time>-<random>`), and entries are folded, by compare-and-swap too, into
  one snapshot object whose metadata names the last entry it holds (its watermark). Reading it
  is one GET of the snapshot and a listing `StartAfter` the watermark: a listing of 10,000
  runs reads a few objects, not 20,000.
- `append_if` is one round of that compare-and-swap, on the ETag the caller read: it fails
  when anyone wrote the object since, so a decision taken on what was read (the guards'
  claim of an attempt) is never written over a newer state.
- `lock` is a lease: an object naming its holder and when it expires, taken by a conditional
  create, taken over once expired by a conditional put on the ETag read, renewed while held,
  and released by writing it released (never deleted).

Credentials come from boto3's standard chain (environment, profile, instance role), never from
the runbook's config; the secret key and session token are registered as secrets so no record,
log or message ever carries them.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from runbook.archive import layout
from runbook.archive.lines import encode_line, json_lines
from runbook.archive.store import KeyMissing, LockHeld, Versioned
from runbook.core import clock
from runbook.core.errors import ArchiveError, ArchiveUnavailable, BadInput, KeyExists
from runbook.core.redaction import registry

INDEX_ENTRIES = ".index/entries/"
INDEX_FOLDED = ".index/folded.jsonl"
WATERMARK_META = "watermark"
FOLD_AFTER_ENTRIES = 64          # a writer folds the index once this many entries follow it
FOLD_GRACE_SECONDS = 120.0       # entries younger than this are left for the next fold
LEASE_SECONDS = float(os.environ.get("RUNBOOK_LEASE_SECONDS") or 60.0)
CAS_ATTEMPTS = 200
_READERS = 8


@dataclass(frozen=True)
class BucketUrl:
    """`s3://bucket/prefix[?endpoint_url=…]`, parsed."""

    bucket: str
    prefix: str
    endpoint_url: str = ""

    @classmethod
    def parse(cls, url: str) -> BucketUrl:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise BadInput(f"archive {url!r} is not an s3://bucket/prefix URL")
        bucket = parsed.netloc
        if len(bucket) < 3:
            raise BadInput(f"bucket name {bucket!r} is too short (3 characters at least)")
        endpoint = (parse_qs(parsed.query).get("endpoint_url") or [""])[0]
        return cls(bucket, parsed.path.strip("/"), endpoint)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return " ".join(str(response.get("Error", {}).get("Message", "")).split())[:200]


# What a bucket answers to credentials it does not accept.
_REFUSALS = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                       "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
                       "AuthorizationHeaderMalformed", "AllAccessDisabled"})


def _precondition_failed(exc: Exception) -> bool:
    # 409 ConditionalRequestConflict: a concurrent conditional write won; retry as for 412.
    return _status(exc) in (412, 409) or _code(exc) in ("PreconditionFailed",
                                                         "ConditionalRequestConflict")


def _missing(exc: Exception) -> bool:
    return _status(exc) == 404 or _code(exc) in ("NoSuchKey", "404", "NotFound")


def default_holder() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"holder": f"{user}@{socket.gethostname()} pid {os.getpid()}",
            "since": clock.iso(clock.now())}


@functools.cache
def _models() -> Any:
    """botocore's loader of service models, one per process: S3's model and the endpoint
    rules are megabytes of JSON, read once rather than for every store opened."""
    from botocore.loaders import create_loader

    return create_loader()


def _session() -> Any:
    """A session of its own for each store (credentials read as they are now), on the
    process's one loader of models. botocore's session, under boto3's: boto3's adds its
    resource models to the loader's search path at every session, and a store uses a client
    only."""
    import botocore.session

    session = botocore.session.Session()
    session.register_component("data_loader", _models())
    return session


class S3Store:
    """The archive under `s3://bucket/prefix`."""

    def __init__(self, url: str | BucketUrl, endpoint_url: str = "",
                 lease_seconds: float | None = None, client: Any = None) -> None:
        self.url = url if isinstance(url, BucketUrl) else BucketUrl.parse(url)
        self.bucket = self.url.bucket
        self.prefix = f"{self.url.prefix}/" if self.url.prefix else ""
        self.endpoint_url = endpoint_url or self.url.endpoint_url or None
        self.lease_seconds = lease_seconds if lease_seconds is not None else LEASE_SECONDS
        self.client = client if client is not None else self._client()

    def _client(self) -> Any:
        from botocore.config import Config as BotoConfig

        session = _session()
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            registry().register("AWS_ACCESS_KEY_ID", frozen.access_key)
            registry().register("AWS_SECRET_ACCESS_KEY", frozen.secret_key)
            registry().register("AWS_SESSION_TOKEN", frozen.token)
        # Fail fast: a responder waiting on an unreachable bucket is told so in seconds.
        config = BotoConfig(connect_timeout=3, read_timeout=10,
                            retries={"max_attempts": 2, "mode": "standard"},
                            max_pool_connections=_READERS * 2)
        return session.create_client("s3", endpoint_url=self.endpoint_url, config=config)

    def __repr__(self) -> str:
        return f"S3Store({str(self.url)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Store) and (other.bucket, other.prefix) == \
            (self.bucket, self.prefix)

    def __hash__(self) -> int:
        return hash((self.bucket, self.prefix))

    # ------------------------------------------------------------ keys and calls

    def _key(self, key: str) -> str:
        parts = [part for part in key.split("/") if part]
        if any(part in (".", "..") for part in parts):
            raise ArchiveError(f"{key!r} is not an archive key")
        return self.prefix + "/".join(parts)

    def location(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key)}".rstrip("/")

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn the client's failures into the archive's, each one line naming the bucket and
        the cause: no such bucket, refused (credentials), unreachable (endpoint), failing.
        Only a missing key and a failed condition stay the caller's to read."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except ClientError as exc:
            code, status = _code(exc), _status(exc)
            if code == "NoSuchBucket":
                raise ArchiveError(
                    f"the archive {self.location()}: there is no bucket {self.bucket!r} at "
                    f"{self._endpoint()}: check the bucket's name (--archive, [archive] url) "
                    "and the endpoint ([archive] endpoint_url, AWS_ENDPOINT_URL)") from None
            if status in (401, 403) or code in _REFUSALS:
                raise ArchiveUnavailable(
                    f"the archive {self.location()} refused {what} ({code or 'denied'}): "
                    "check the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    f"or AWS_PROFILE) and the policy of the bucket {self.bucket!r}") from None
            if status >= 500:
                raise ArchiveUnavailable(f"the archive {self.location()} failed {what} "
                                         f"({code or status})") from None
            if _missing(exc) or _precondition_failed(exc):
                raise
            raise ArchiveError(f"the archive {self.location()} refused {what}: "
                               f"{code or status} {_message(exc)}".rstrip()) from None
        except NoCredentialsError:
            raise ArchiveUnavailable(
                f"the archive {self.location()} cannot be used: no AWS credentials were found "
                "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)") from None
        except BotoCoreError as exc:
            raise ArchiveUnavailable(
                f"the archive {self.location()} cannot be reached at {self._endpoint()} "
                f"({type(exc).__name__}): check the endpoint ([archive] endpoint_url, "
                "AWS_ENDPOINT_URL) and the network") from None

    def _endpoint(self) -> str:
        meta = getattr(self.client, "meta", None)
        return str(getattr(meta, "endpoint_url", "") or self.endpoint_url or "AWS S3")

    def _get(self, key: str) -> tuple[bytes, str, dict[str, str]]:
        """(bytes, etag, metadata) of an object; KeyMissing when it is not there."""
        from botocore.exceptions import ClientError

        try:
            with self._calling(f"reading {key}"):
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
                body = response["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                raise KeyMissing(key) from None
            raise
        return body, str(response["ETag"]), dict(response.get("Metadata") or {})

    def _put(self, key: str, data: bytes, **conditions: str) -> str | None:
        """Put an object; its ETag, or None when a condition failed."""
        from botocore.exceptions import ClientError

        try:
            with self._calling(f"writing {key}"):
                response = self.client.put_object(Bucket=self.bucket, Key=self._key(key),
                                                  Body=data, **conditions)
        except ClientError as exc:
            if _precondition_failed(exc):
                return None
            raise
        return str(response["ETag"])

    # ------------------------------------------------------------ the ArchiveStore protocol

    def ensure_writable(self) -> None:
        from botocore.exceptions import ClientError

        try:
            with self._calling("a listing"):
                self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except ClientError as exc:
            raise ArchiveError(f"cannot use the archive {self.location()}: "
                               f"{_code(exc) or _status(exc)}") from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with self._calling(f"looking for {key}"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def read_bytes(self, key: str) -> bytes:
        if key == layout.INDEX:
            return self._index_bytes()
        return self._get(key)[0]

    def read_lines(self, key: str) -> list[dict[str, Any]]:
        try:
            return json_lines(self.read_bytes(key))
        except KeyMissing:
            return []

    def create(self, key: str, data: bytes) -> None:
        if self._put(key, data, IfNoneMatch="*") is None:
            raise KeyExists(key)

    def replace(self, key: str, data: bytes) -> None:
        self._put(key, data)

    def append(self, key: str, line: dict[str, Any]) -> None:
        if key == layout.INDEX:
            self._index_append(line)
            return
        encoded = encode_line(line)
        for attempt in range(CAS_ATTEMPTS):
            try:
                body, etag, _ = self._get(key)
            except KeyMissing:
                if self._put(key, encoded, IfNoneMatch="*") is not None:
                    return
            else:
                if body and not body.endswith(b"\n"):
                    body += b"\n"
                if self._put(key, body + encoded, IfMatch=etag) is not None:
                    return
            _backoff(attempt)
        raise ArchiveUnavailable(f"{self.location(key)}: too many concurrent writers; "
                                 "the line was not appended")

    def append_after(self, key: str, make: Callable[[bytes], list[dict[str, Any]]]
                     ) -> list[dict[str, Any]]:
        """Read, make the lines, write them by compare-and-swap on the object's ETag: a
        writer that lost the race reads again and makes its lines anew."""
        for attempt in range(CAS_ATTEMPTS):
            try:
                body, etag, _ = self._get(key)
            except KeyMissing:
                lines = make(b"")
                if self._put(key, b"".join(encode_line(line) for line in lines),
                             IfNoneMatch="*") is not None:
                    return lines
            else:
                if body and not body.endswith(b"\n"):
                    body += b"\n"
                lines = make(body)
                if self._put(key, body + b"".join(encode_line(line) for line in lines),
                             IfMatch=etag) is not None:
                    return lines
            _backoff(attempt)
        raise ArchiveUnavailable(f"{self.location(key)}: too many concurrent writers; "
                                 "the line was not appended")

    def read_versioned(self, key: str) -> Versioned:
        try:
            body, etag, _ = self._get(key)
        except KeyMissing:
            return Versioned(b"", "")
        return Versioned(body, etag)

    def append_if(self, key: str, line: dict[str, Any], seen: Versioned) -> bool:
        body = seen.data
        if body and not body.endswith(b"\n"):
            body += b"\n"
        condition = {"IfMatch": seen.version} if seen.version else {"IfNoneMatch": "*"}
        return self._put(key, body + encode_line(line), **condition) is not None

    def children(self, prefix: str = "") -> list[str]:
        base = self._key(prefix).rstrip("/")
        base = f"{base}/" if base else ""
        names: set[str] = set()
        with self._calling(f"listing {prefix or '/'}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/")
            for page in pages:
                for common in page.get("CommonPrefixes") or []:
                    names.add(str(common["Prefix"])[len(base):].strip("/"))
                for item in page.get("Contents") or []:
                    names.add(str(item["Key"])[len(base):])
        return sorted(name for name in names if name and not name.startswith("."))

    @contextlib.contextmanager
    def lock(self, key: str, holder: dict[str, Any] | None = None,
             wait: bool = True) -> Iterator[dict[str, Any]]:
        info = dict(holder or default_holder())
        lease = Lease(self, key, info)
        lease.acquire(wait)
        try:
            yield info
        finally:
            lease.release()

    # ------------------------------------------------------------ the index

    def _entry_keys(self, after: str) -> list[str]:
        keys: list[str] = []
        base = self._key(INDEX_ENTRIES)
        start = self._key(INDEX_ENTRIES + after) if after else ""
        with self._calling("listing the index"):
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base}
            if start:
                kwargs["StartAfter"] = start
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                keys.extend(str(item["Key"])[len(base):] for item in page.get("Contents") or [])
        return sorted(keys)

    def _folded(self) -> tuple[bytes, str | None, str]:
        """(lines, etag, watermark) of the folded index; (b"", None, "") before the first fold."""
        try:
            body, etag, meta = self._get(INDEX_FOLDED)
        except KeyMissing:
            return b"", None, ""
        return body, etag, meta.get(WATERMARK_META, "")

    def _entries(self, names: list[str]) -> list[bytes]:
        def one(name: str) -> bytes:
            try:
                return self._get(INDEX_ENTRIES + name)[0]
            except KeyMissing:
                return b""
        if len(names) <= 1:
            return [one(name) for name in names]
        with ThreadPoolExecutor(max_workers=_READERS) as pool:
            return list(pool.map(one, names))

    def _index_bytes(self) -> bytes:
        folded, _, watermark = self._folded()
        names = self._entry_keys(watermark)
        if not folded and not names:
            raise KeyMissing(layout.INDEX)
        tail = b"".join(_line(data) for data in self._entries(names))
        return folded + tail

    def _index_append(self, line: dict[str, Any]) -> None:
        name = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        self.create(INDEX_ENTRIES + name, encode_line(line))
        try:
            self.fold_index(min_entries=FOLD_AFTER_ENTRIES)
        except ArchiveError:
            pass  # the entry is written; folding is only an optimisation, done next time

    def fold_index(self, min_entries: int = 1, grace: float = FOLD_GRACE_SECONDS) -> int:
        """Fold the entries older than `grace` seconds into the snapshot, by compare-and-swap.
        Entries are left unfolded while younger than the grace, so an entry whose write was
        slow is still after the watermark when it lands. Returns the entries folded."""
        for attempt in range(20):
            # A HEAD first: a writer pays for the whole snapshot only when it folds.
            if len(self._ready(self._watermark(), grace)) < min_entries:
                return 0
            folded, etag, watermark = self._folded()
            ready = self._ready(watermark, grace)
            if len(ready) < min_entries:
                return 0
            tail = b"".join(_line(data) for data in self._entries(ready))
            conditions = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            with self._calling("folding the index"):
                from botocore.exceptions import ClientError
                try:
                    self.client.put_object(Bucket=self.bucket, Key=self._key(INDEX_FOLDED),
                                           Body=folded + tail,
                                           Metadata={WATERMARK_META: ready[-1]}, **conditions)
                    return len(ready)
                except ClientError as exc:
                    if not _precondition_failed(exc):
                        raise
            _backoff(attempt)
        return 0

    def _watermark(self) -> str:
        from botocore.exceptions import ClientError

        try:
            with self._calling("reading the index"):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(INDEX_FOLDED))
        except ClientError as exc:
            if _missing(exc):
                return ""
            raise
        return str((head.get("Metadata") or {}).get(WATERMARK_META, ""))

    def _ready(self, watermark: str, grace: float) -> list[str]:
        """The entries after the watermark old enough to fold."""
        horizon = f"{int((time.time() - grace) * 1e9):020d}"
        return [name for name in self._entry_keys(watermark) if name < horizon]

    def write_index(self, lines: list[dict[str, Any]]) -> None:
        """Replace the index with `lines` (a reindex): the snapshot holds them, its watermark
        the newest entry now listed, so every entry before is superseded."""
        names = self._entry_keys("")
        body = b"".join(encode_line(line) for line in lines)
        with self._calling("writing the index"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(INDEX_FOLDED), Body=body,
                                   Metadata={WATERMARK_META: names[-1] if names else ""})


def _line(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _backoff(attempt: int) -> None:
    time.sleep(min(0.5, 0.005 * (2 ** min(attempt, 7))) * (0.5 + secrets.randbelow(100) / 100))


class Lease:
    """One holder's lease on a lock object: `{holder…, token, expires}` while held,
    `{released: true, …}` after. Renewed by a thread while held, so only a holder that died
    (or lost the bucket) lets it expire."""

    def __init__(self, store: S3Store, key: str, info: dict[str, Any]) -> None:
        self.store = store
        self.key = key
        self.info = info
        self.token = secrets.token_hex(8)
        self.etag: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._guard = threading.Lock()

    def _body(self) -> bytes:
        return json.dumps({**self.info, "token": self.token,
                           "expires": time.time() + self.store.lease_seconds}).encode()

    def _try_take(self) -> dict[str, Any] | None:
        """Take the lease now; None when taken, else the current holder's record."""
        etag = self.store._put(self.key, self._body(), IfNoneMatch="*")
        if etag is not None:
            self.etag = etag
            return None
        try:
            body, current, _ = self.store._get(self.key)
        except KeyMissing:
            return {}
        try:
            held = json.loads(body)
        except ValueError:
            held = {}
        held = held if isinstance(held, dict) else {}
        expired = float(held.get("expires") or 0) < time.time()
        if held.get("released") or expired:
            etag = self.store._put(self.key, self._body(), IfMatch=current)
            if etag is not None:
                self.etag = etag
                if expired and not held.get("released"):
                    self.info.setdefault("took_over_from", held.get("holder"))
                return None
            return {}   # someone else took it between the read and the put
        return held

    def acquire(self, wait: bool) -> None:
        attempt = 0
        while True:
            holder = self._try_take()
            if holder is None:
                break
            if not wait and holder:
                raise LockHeld(self.key, {k: v for k, v in holder.items() if k != "token"})
            _backoff(attempt)
            attempt += 1
        self._renewer = threading.Thread(target=self._renew, name=f"lease {self.key}",
                                         daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        interval = max(0.05, self.store.lease_seconds / 3)
        while not self._stop.wait(interval):
            with self._guard:
                if self.etag is None:
                    return
                with contextlib.suppress(ArchiveError):
                    etag = self.store._put(self.key, self._body(), IfMatch=self.etag)
                    if etag is None:
                        return   # taken over: this holder was presumed dead
                    self.etag = etag

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with self._guard:
            if self.etag is None:
                return
            body = json.dumps({**self.info, "released": True,
                               "released_at": clock.iso(clock.now())}).encode()
            with contextlib.suppress(ArchiveError):
                self.store._put(self.key, body, IfMatch=self.etag)
            self.etag = None
