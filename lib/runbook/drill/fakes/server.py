"""A real HTTP server on 127.0.0.1 (ephemeral port) for each simulated service.

Each fake is a `FakeService` whose `handle` answers one request; `LoopbackServer` runs it in
a thread, records every request, and can be told to answer slowly (`delay`), to accept and
never answer (`hang`), or to drip its body one byte at a time (`drip`), the ways a service
hurts a responder most. A `Response` may stream its body (`chunks`), so a fake can send more
than it could hold in memory.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HANG_SECONDS = 120.0  # a hung handler gives up on its own, so no test can hang forever


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None  # a streamed body (Content-Length: `length`)
    length: int = 0
    reset: bool = False     # answer nothing: reset the connection (RST) instead

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        return json.dumps(self.body).encode(), "application/json"


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(status, body, dict(headers))


class FakeService:
    """Subclass and implement `handle`. State lives on the instance; guard it with `lock`."""

    name = "service"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.delay = 0.0        # seconds before each answer
        self.hang = False       # accept, read the request, never answer
        self.drip = 0.0         # seconds between the body's bytes, sent one at a time

    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def seen(self, method: str | None = None, path_prefix: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and r.path.startswith(path_prefix)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query), self.headers, body)
        service = self.server.service
        with service.lock:
            service.requests.append(request)
            delay, hang, drip = service.delay, service.hang, service.drip
        if hang:
            self.server.stopping.wait(MAX_HANG_SECONDS)
            self.close_connection = True
            return
        if delay:
            self.server.stopping.wait(delay)
        try:
            response = service.handle(request)
        except Exception as exc:  # noqa: BLE001 - a fake's bug must show, not kill the thread
            response = Response(500, {"error": f"fake {service.name} failed: {exc!r}"})
        if response.reset:
            # Linger 0: closing sends a reset, as a proxy or a crashed server does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        payload, content_type = response.encoded()
        self.send_response(response.status)
        headers = {"Content-Type": content_type, **response.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        length = response.length if response.chunks is not None else len(payload)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if response.chunks is not None:
                for chunk in response.chunks:
                    self.wfile.write(chunk)
            elif drip:
                for index in range(len(payload)):
                    self.wfile.write(payload[index:index + 1])
                    self.wfile.flush()
                    if self.server.stopping.wait(drip):
                        break
            else:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: that is its right
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, service: FakeService) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service
        self.stopping = threading.Event()


class LoopbackServer:
    """Serve a FakeService on 127.0.0.1 at an ephemeral port until `stop()` (or `with` ends)."""

    def __init__(self, service: FakeService) -> None:
        self.service = service
        self._server = _Server(service)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-{service.name}", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
