"""The ingest side of the fake Sentry: what `sentry_sdk` sends, and the event it then serves.

The SDK posts an envelope to `POST /api/<project_id>/envelope/` with `X-Sentry-Auth: Sentry
sentry_key=<public key>, sentry_version=7, …`, gzip-compressed (`Content-Encoding: gzip`):
a JSON header line, then items, each a JSON item header (`type`, optional `length`) and its
payload. Once an `event` item is stored, `GET /api/0/projects/{org}/{project}/events/{id}/`
answers it; before that it answers 404 `{"detail": "Event not found"}`, as Sentry does while
an event is still being processed.

`delay` holds a stored event back for that many seconds (Sentry's processing lag); `drop`
accepts envelopes and keeps nothing (an inbound filter or a spent quota).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from runbook.drill.fakes.server import Request, Response, json_response

_AUTH_KEY = re.compile(r"sentry_key=([0-9a-f]+)")


@dataclass
class Stored:
    event: dict[str, Any]
    visible_at: float


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """The envelope's header and its (item header, payload) pairs."""
    header_line, _, rest = body.partition(b"\n")
    header = json.loads(header_line or b"{}")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        length = item.get("length")
        if isinstance(length, int):
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    return header, items


def _decoded(request: Request) -> bytes:
    encoding = (request.headers.get("Content-Encoding") or "").lower()
    if encoding == "gzip":
        return gzip.decompress(request.body)
    if encoding == "deflate":
        return zlib.decompress(request.body)
    if encoding == "br":
        import brotli

        return bytes(brotli.decompress(request.body))
    return request.body


@dataclass
class Ingest:
    public_key: str
    delay: float = 0.0
    drop: bool = False
    envelopes: list[dict[str, Any]] = field(default_factory=list)   # headers, as received
    events: dict[str, Stored] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def dsn(self, server_url: str, project_id: str) -> str:
        parts = urlsplit(server_url)
        return f"{parts.scheme}://{self.public_key}@{parts.netloc}/{project_id}"

    def accept(self, request: Request, project_id: str) -> Response:
        if request.method != "POST":
            return json_response({"detail": "method not allowed"}, 405)
        auth = request.headers.get("X-Sentry-Auth") or ""
        key = _AUTH_KEY.search(auth) or _AUTH_KEY.search("sentry_key=" +
                                                         request.arg("sentry_key"))
        if key is None:
            return json_response({"detail": "missing authorization information"}, 401)
        if key.group(1) != self.public_key:
            return json_response({"detail": "event submission rejected with_reason: "
                                            "ProjectId"}, 403)
        try:
            header, items = parse_envelope(_decoded(request))
        except (ValueError, OSError, zlib.error):
            return json_response({"detail": "invalid envelope"}, 400)
        with self.lock:
            self.envelopes.append(header)
            for item, payload in items:
                if item.get("type") != "event" or self.drop:
                    continue
                event = json.loads(payload)
                event_id = str(event.get("event_id") or header.get("event_id") or "")
                if event_id:
                    self.events[event_id] = Stored(event, time.monotonic() + self.delay)
        return json_response({"id": header.get("event_id")})

    def event(self, event_id: str) -> Response:
        with self.lock:
            stored = self.events.get(event_id)
        if stored is None or time.monotonic() < stored.visible_at:
            return json_response({"detail": "Event not found"}, 404)
        event = stored.event
        message = event.get("message") or (event.get("logentry") or {}).get("message") or ""
        received = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return json_response({
            "id": event_id, "eventID": event_id, "groupID": str(abs(hash(message)) % 10**10),
            "title": message, "message": message, "type": "default",
            "platform": event.get("platform", "python"),
            "dateCreated": event.get("timestamp") or received, "dateReceived": received,
            "tags": [{"key": k, "value": v} for k, v in (event.get("tags") or {}).items()],
            "context": event.get("extra") or {}, "entries": [],
        })
