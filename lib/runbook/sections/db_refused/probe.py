"""Try a Postgres connection stage by stage, at the socket level where libpq would hide which
stage failed: DNS (bounded by a thread: getaddrinfo has no timeout), TCP, Postgres's
SSLRequest handshake, then authentication, `SELECT 1` and the server's connection use through
psycopg. `connect` is the library's one way of opening a Postgres connection."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import math
import socket
import struct
from dataclasses import dataclass
from typing import Any

import psycopg

from runbook.clients.dburl import DbUrl
from runbook.core.findings import Status
from runbook.core.redaction import registry
from runbook.sections.db_refused.libpq import UNKNOWN, Rule, classify, rule

STAGES = ("parse", "dns", "tcp", "handshake", "auth", "query", "server")
SSL_REQUEST_CODE = 80877103
LIBPQ_MIN_TIMEOUT = 2     # libpq reads a connect_timeout of 1 as 2


def libpq_timeout(seconds: float) -> int:
    """`connect_timeout` for libpq: whole seconds, rounded up, and at least libpq's minimum."""
    return max(LIBPQ_MIN_TIMEOUT, math.ceil(seconds))


def connect(url: DbUrl, timeout: float) -> psycopg.Connection[Any]:
    """Open an autocommit connection; psycopg.Error as libpq reports it."""
    return psycopg.connect(url.conninfo(connect_timeout=libpq_timeout(timeout)),
                           autocommit=True)


def select_one(url: DbUrl, timeout: float) -> None:
    """Connect and `SELECT 1`, as the app's deep health check does; psycopg.Error if not."""
    with connect(url, timeout) as conn:
        conn.execute("SELECT 1")


@dataclass
class Stage:
    name: str
    status: Status
    seconds: float
    detail: str
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "status": self.status.value, "seconds": self.seconds,
                "detail": self.detail, "code": self.code}


class StageFailed(Exception):
    """Ends a stage with a cause; `detail` is already redacted."""

    def __init__(self, rule: Rule, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


def _fail(error: BaseException | str, detail: str | None = None) -> StageFailed:
    text = detail if detail is not None else str(error)
    return StageFailed(classify(error), registry().redact(" ".join(text.split())))


class Attempt:
    """One attempt through the stages; holds what earlier stages learned."""

    def __init__(self, url: DbUrl, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.addresses: list[tuple[Any, ...]] = []
        self.conn: psycopg.Connection[Any] | None = None
        self.info: dict[str, Any] = {}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def dns(self) -> str:
        host = self.url.host
        if host.startswith("/"):
            raise StageFailed(UNKNOWN, f"{host} is a local socket directory, not a network host")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            self.addresses = socket.getaddrinfo(host, self.url.port, type=socket.SOCK_STREAM)
            return f"{host} is an IP address: nothing to resolve"
        # getaddrinfo has no timeout of its own: bound it with a thread.
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dns")
        future = pool.submit(socket.getaddrinfo, host, self.url.port, type=socket.SOCK_STREAM)
        pool.shutdown(wait=False)
        try:
            self.addresses = future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise StageFailed(rule("db.dns_failed"), f"{host} did not resolve within "
                              f"{self.timeout:g}s") from None
        except OSError as exc:
            raise StageFailed(rule("db.dns_failed"),
                              f"failed to resolve host {host!r}: {exc.strerror or exc}") from None
        shown = sorted({str(a[4][0]) for a in self.addresses})
        return f"{host} → " + ", ".join(shown[:4])

    def tcp(self) -> str:
        last: OSError | None = None
        for family, kind, proto, _, address in self.addresses:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(self.timeout)
            try:
                sock.connect(address)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            sock.close()
            return f"connected to {address[0]}:{address[1]}"
        if isinstance(last, TimeoutError):
            raise _fail(last, f"connecting to {self.url.host}:{self.url.port} timed out after "
                        f"{self.timeout:g}s")
        reason = (last.strerror if last and last.strerror else str(last)) or "no address"
        raise _fail(reason, f"connection to {self.url.host}:{self.url.port} failed: {reason}")

    def handshake(self) -> str:
        """Send Postgres's SSLRequest and read its one-byte answer: S (TLS) or N (none)."""
        family, kind, proto, _, address = self.addresses[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(address)
                sock.sendall(struct.pack("!ii", 8, SSL_REQUEST_CODE))
                answer = sock.recv(1)
            except TimeoutError as exc:
                raise _fail(exc, f"the server accepted the connection but did not answer the "
                            f"Postgres handshake within {self.timeout:g}s") from None
            except OSError as exc:
                raise _fail(exc.strerror or str(exc)) from None
            if answer == b"E":
                raise _fail(_read_error(sock))
        if answer == b"S":
            self.info["tls_offered"] = True
            return "the server speaks Postgres and offers TLS"
        if answer == b"N":
            self.info["tls_offered"] = False
            if self.url.ssl_required:
                raise StageFailed(rule("db.ssl_required"), "server does not support SSL, but "
                                  f"SSL was required (sslmode={self.url.sslmode})")
            return f"the server speaks Postgres, without TLS (sslmode={self.url.sslmode})"
        if not answer:
            raise StageFailed(UNKNOWN, "the server closed the connection without answering the "
                              "Postgres handshake: is this a Postgres port?")
        raise StageFailed(UNKNOWN, "the server answered the handshake with something that is "
                          "not Postgres: is this a Postgres port?")

    def auth(self) -> str:
        try:
            self.conn = connect(self.url, self.timeout)
        except psycopg.Error as exc:
            raise _fail(exc) from None
        ssl_in_use = bool(self.conn.pgconn.ssl_in_use)
        return (f"authenticated as {self.url.user} to {self.url.dbname} "
                f"({'TLS' if ssl_in_use else 'no TLS'})")

    def query(self) -> str:
        assert self.conn is not None
        try:
            row = self.conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            raise _fail(exc) from None
        return f"SELECT 1 → {row[0] if row else None}"

    def server_state(self) -> str:
        assert self.conn is not None
        try:
            row = self.conn.execute(
                "SELECT current_setting('server_version'),"
                " current_setting('max_connections')::int,"
                " current_setting('superuser_reserved_connections')::int,"
                " coalesce(current_setting('reserved_connections', true), '0')::int,"
                " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
                " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()
        except psycopg.Error as exc:
            raise _fail(exc) from None
        assert row is not None
        version, max_connections, superuser_reserved, reserved, in_use, is_superuser = row
        usable = max_connections - superuser_reserved - reserved
        self.info.update(server_version=f"PostgreSQL {version}",
                         max_connections=max_connections, reserved=superuser_reserved + reserved,
                         in_use=in_use, usable_by_app=usable)
        detail = (f"PostgreSQL {version}; {in_use} of {max_connections} connections in use "
                  f"({superuser_reserved + reserved} reserved for superusers)")
        if in_use >= usable and not is_superuser:
            raise StageFailed(rule("db.too_many_connections"),
                              detail + ": no slot is left for the app's user")
        if in_use >= usable:
            raise StageFailed(rule("db.too_many_connections"),
                              detail + ": only reserved superuser slots are left")
        if in_use >= 0.8 * usable:
            detail += "; near the limit"
        return detail


def _read_error(sock: socket.socket) -> str:
    """The message (M field) of an ErrorResponse whose type byte was already read."""
    try:
        header = sock.recv(4)
        length = struct.unpack("!i", header)[0] if len(header) == 4 else 0
        body = b""
        while len(body) < length - 4:
            chunk = sock.recv(length - 4 - len(body))
            if not chunk:
                break
            body += chunk
    except OSError:
        return "the server answered with an error"
    fields = {part[:1]: part[1:].decode("utf-8", "replace") for part in body.split(b"\0") if part}
    return fields.get(b"M", "the server answered with an error")

