"""A real Postgres for the database tests (started once per session, always stopped), and two
small loopback servers for the causes a healthy Postgres cannot show: one that accepts and never
answers, one that answers the startup packet the way a starting server does."""

from __future__ import annotations

import dataclasses
import itertools
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from runbook.drill.fakes.postgres import PostgresController

APP_ROLE = "dealix_app"
APP_DATABASE = "dealix_db"
APP_PASSWORD = "Pg-fixture-pass-7Qz!/x@y"  # '/' and '@' exercise percent-encoding


@dataclass
class PgApp:
    pg: PostgresController
    role: str
    password: str
    dbname: str

    @property
    def url(self) -> str:
        return self.pg.url(self.role, self.password, self.dbname)

    def url_with(self, **changes: str) -> str:
        query = {k: v for k, v in changes.items() if k not in ("password", "dbname")}
        return self.pg.url(self.role, changes.get("password", self.password),
                           changes.get("dbname", self.dbname), **query)


@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[PgApp]:
    """One real Postgres for the whole session (one per xdist worker), stopped at its end."""
    pg = PostgresController(max_connections=20)
    try:
        pg.start()
        pg.create_app(APP_ROLE, APP_DATABASE, APP_PASSWORD)
        yield PgApp(pg, APP_ROLE, APP_PASSWORD, APP_DATABASE)
    finally:
        pg.cleanup()


_databases = itertools.count(1)


@pytest.fixture(name="pg_app")
def pg_app_fixture(postgres: PgApp) -> Iterator[PgApp]:
    """A database of its own on the session's Postgres, owned by the app's role; afterwards the
    server is put back the way it was (running, the app's password, every slot free,
    max_connections 20) and the database dropped."""
    pg = postgres.pg
    dbname = f"{APP_DATABASE}_{next(_databases)}"
    pg.create_database(dbname, owner=postgres.role)
    yield dataclasses.replace(postgres, dbname=dbname)
    pg.release_connections()
    if not pg.running:
        pg.start()
    if pg.max_connections != 20:
        pg.set_max_connections(20)
    pg.set_password(postgres.role, postgres.password)
    pg.drop_database(dbname)


class _LoopbackListener:
    """Accepts on 127.0.0.1 at an ephemeral port; `serve(conn)` handles each connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        """Default: hold the connection and never answer."""

    def stop(self) -> None:
        self._stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.sock.close()
        for conn in self.connections:
            conn.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> _LoopbackListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentListener(_LoopbackListener):
    """Accepts the TCP connection and never says a word: the timeout case."""


def _read_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def error_response(sqlstate: str, message: str, severity: str = "FATAL") -> bytes:
    """A v3 protocol ErrorResponse, as the backend sends it."""
    fields = b"".join(kind + value.encode() + b"\0" for kind, value in (
        (b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message)))
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


class StartingUpServer(_LoopbackListener):
    """Answers like a Postgres that is still starting: 'N' to SSL/GSS requests, then the
    startup packet gets FATAL 57P03 "the database system is starting up"."""

    def serve(self, conn: socket.socket) -> None:
        try:
            while True:
                length = struct.unpack("!i", _read_exact(conn, 4))[0]
                payload = _read_exact(conn, length - 4)
                code = struct.unpack("!i", payload[:4])[0]
                if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                    conn.sendall(b"N")
                    continue
                conn.sendall(error_response("57P03", "the database system is starting up"))
                conn.close()
                return
        except (OSError, struct.error):
            return
