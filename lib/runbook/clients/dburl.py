"""Parse a Postgres connection string (`postgres://`, `postgresql://`, or libpq keyword/value),
and show it without its password.

libpq's own parse errors quote the whole string, password included, so they are never shown:
the checks here name the part that is wrong (scheme, host, port, password encoding, sslmode,
a query parameter) in words of their own, and libpq (through psycopg) has the last word on
anything they let through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from runbook.core.errors import DbUrlError
from runbook.core.redaction import fingerprint, registry

SCHEMES = ("postgresql", "postgres")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SSL_REQUIRED_MODES = frozenset({"require", "verify-ca", "verify-full"})
DEFAULT_PORT = 5432
DEFAULT_SSLMODE = "prefer"

# The URI query parameters libpq accepts (its connection keywords, plus two aliases).
_KNOWN_OPTIONS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding",
    "connect_timeout", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
    "requiressl", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode",
    "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation",
    "target_session_attrs", "load_balance_hosts", "service", "require_auth", "sslnegotiation",
    "ssl", "min_protocol_version", "max_protocol_version",
})
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


@dataclass(frozen=True)
class DbUrl:
    """A parsed connection string. `password` is the only secret; every view leaves it out."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(repr=False)
    sslmode: str = DEFAULT_SSLMODE
    form: str = "url"                      # "url" or "keyword"
    options: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ssl_required(self) -> bool:
        return self.sslmode in SSL_REQUIRED_MODES

    @property
    def password_fingerprint(self) -> str:
        return fingerprint(self.password) if self.password else ""

    def redacted(self) -> dict[str, Any]:
        """Host, port, database, user, sslmode, and the password as a fingerprint and length."""
        return {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user,
                "password": self.password_note(), "sslmode": self.sslmode}

    def password_note(self) -> str:
        if not self.password:
            return "none"
        return f"sha256:{self.password_fingerprint} ({len(self.password)} chars)"

    def display(self) -> str:
        """One line a person can read: postgresql://user:•••@host:port/db?sslmode=…"""
        secret = f":•••[{self.password_fingerprint}]" if self.password else ""
        return (f"postgresql://{self.user}{secret}@{_host_for_url(self.host)}:{self.port}/"
                f"{self.dbname}?sslmode={self.sslmode}")

    def __str__(self) -> str:
        return self.display()

    def conninfo(self, **overrides: Any) -> str:
        """The string to hand psycopg; it holds the password, so it is never displayed."""
        params: dict[str, Any] = {**self.options, "host": self.host, "port": self.port,
                                  "dbname": self.dbname, "user": self.user,
                                  "sslmode": self.sslmode}
        if self.password is not None:
            params["password"] = self.password
        params.update(overrides)
        return make_conninfo("", **params)

    def differences(self, other: DbUrl) -> list[str]:
        """Which parts differ from `other` (names only; passwords compared by fingerprint)."""
        parts = [name for name in ("host", "port", "dbname", "user", "sslmode")
                 if getattr(self, name) != getattr(other, name)]
        if (self.password or "") != (other.password or ""):
            parts.append("password")
        return parts


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def parse(value: str | None, source: str = "DATABASE_URL") -> DbUrl:
    """Parse a connection string; `DbUrlError` names the wrong part, never quoting the value.

    The password is registered with the secret registry under `source`, so that it is
    redacted even where the whole string was not registered (a keyword/value string read
    from somewhere else, say).
    """
    try:
        return _parse(value, source)
    except DbUrlError as exc:
        raise DbUrlError(exc.part, exc.reason, source) from None


def _parse(value: str | None, source: str) -> DbUrl:
    if value is None or not value.strip():
        raise DbUrlError("value", "it is empty")
    password = _password_hint(value)
    if password:
        registry().register(source, password)
    if value != value.strip():
        raise DbUrlError("whitespace", "it starts or ends with whitespace (often a "
                         "newline pasted with it): remove it")
    if "://" in value:
        _check_url(value)
    parsed = _libpq_parse(value)
    if parsed.get("password"):
        registry().register(source, parsed["password"])
    return _build(parsed, "url" if "://" in value else "keyword")


def _password_hint(value: str) -> str | None:
    """The password as written, before any checks: registered so that no error shows it."""
    match = re.search(r"://[^/@]*?:([^@/]*)@", value)
    if match:
        return unquote(match.group(1)) or None
    match = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", value)
    return match.group(1).strip("'") if match else None


def _check_url(value: str) -> None:
    scheme, rest = value.split("://", 1)
    if scheme not in SCHEMES:
        shown = scheme if _PLAIN_NAME.match(scheme) else "that"
        raise DbUrlError("scheme", f"{shown}:// is not a Postgres URL: it must start with "
                         "postgresql:// or postgres://")
    authority, _, tail = _split_authority(rest)
    path, _, query = tail.partition("?")
    if "@" in path or "@" in query:
        raise DbUrlError("password", "the user or password holds an unencoded '/', '?' or "
                         "'#': percent-encode it (%2F, %3F, %23), or copy the URL again")
    userinfo, at, hostport = authority.rpartition("@")
    if at and "@" in userinfo:
        raise DbUrlError("password", "the user or password holds an unencoded '@': "
                         "percent-encode it as %40, or copy the URL again")
    if at:
        user, colon, password = userinfo.partition(":")
        if _BAD_PERCENT.search(user):
            raise DbUrlError("user", "a '%' that is not followed by two hex digits")
        if colon and _BAD_PERCENT.search(password):
            raise DbUrlError("password", "a '%' that is not followed by two hex digits: "
                             "percent-encode '%' as %25")
    _check_hostport(hostport)
    if _BAD_PERCENT.search(path):
        raise DbUrlError("database name", "a '%' that is not followed by two hex digits")
    for pair in filter(None, query.split("&")):
        key, eq, item = pair.partition("=")
        if not eq:
            raise DbUrlError("query", "a query parameter without '=' (write name=value)")
        if key not in _KNOWN_OPTIONS:
            named = f" {key!r}" if _PLAIN_NAME.match(key) else ""
            raise DbUrlError(f"query parameter{named}",
                             "libpq knows no such parameter: remove it or fix its spelling")
        if key == "sslmode":
            _check_sslmode(unquote(item))


def _split_authority(rest: str) -> tuple[str, str, str]:
    # libpq ends the authority at the first '/' or '?'.
    for index, char in enumerate(rest):
        if char in "/?":
            return rest[:index], char, rest[index + 1:] if char == "/" else rest[index:]
    return rest, "", ""


def _check_hostport(hostport: str) -> None:
    if not hostport:
        raise DbUrlError("host", "there is none: the URL must name the database server "
                         "(postgresql://user:password@HOST:5432/db)")
    for item in hostport.split(","):
        if item.startswith("["):
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if not host:
            raise DbUrlError("host", "a host is empty")
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise DbUrlError("port", "it must be a number from 1 to 65535")


def _check_sslmode(mode: str) -> None:
    if mode not in SSLMODES:
        shown = repr(mode) if _PLAIN_NAME.match(mode.replace("-", "_")) else "this value"
        raise DbUrlError("sslmode", f"{shown} is not one of " + ", ".join(SSLMODES))


def _libpq_parse(value: str) -> dict[str, str]:
    try:
        parsed = conninfo_to_dict(value)
    except ProgrammingError as exc:
        raise _explain_libpq(str(exc), "://" in value) from None
    except UnicodeDecodeError:
        # A percent-encoded part that is not UTF-8 once decoded (`%80`): libpq takes it, psycopg
        # cannot decode it, and neither could the app's driver.
        raise DbUrlError("encoding", "a percent-encoded part does not decode to UTF-8 text: "
                         "copy the URL again from Railway's Postgres service") from None
    return {k: str(v) for k, v in parsed.items() if v is not None}


def _explain_libpq(message: str, is_url: bool) -> DbUrlError:
    """libpq's message, reduced to the part it names: its text quotes the value itself."""
    if "percent-encoded" in message:
        return DbUrlError("encoding", "a '%' that is not followed by two hex digits")
    if "invalid connection option" in message or "invalid URI query parameter" in message:
        return DbUrlError("option", "an option libpq does not know: check the names "
                          "(host, port, dbname, user, password, sslmode, …)")
    if "unterminated quoted string" in message:
        return DbUrlError("quoting", "a quoted value is not closed with '")
    if 'missing "="' in message:
        if is_url:
            return DbUrlError("scheme", "it must start with postgresql:// or postgres://")
        return DbUrlError("syntax", "a word without '=': write name=value pairs, and quote a "
                          "value holding spaces in single quotes, or use a postgresql:// URL")
    return DbUrlError("syntax", "libpq cannot read it: copy the connection string again")


def _build(parsed: dict[str, str], form: str) -> DbUrl:
    host = parsed.get("host") or parsed.get("hostaddr") or ""
    if not host:
        raise DbUrlError("host", "there is none: without a host libpq uses a local socket, "
                         "which is never the Railway database")
    port_text = parsed.get("port") or str(DEFAULT_PORT)
    first_port = port_text.split(",")[0] or str(DEFAULT_PORT)
    if not (first_port.isascii() and first_port.isdigit() and 0 < int(first_port) < 65536):
        raise DbUrlError("port", "it must be a number from 1 to 65535")
    sslmode = parsed.get("sslmode") or DEFAULT_SSLMODE
    _check_sslmode(sslmode)
    user = parsed.get("user") or ""
    if not user:
        raise DbUrlError("user", "there is none: the URL must name the database user")
    dbname = parsed.get("dbname") or user  # libpq's default: the database named as the user
    known = {"host", "port", "dbname", "user", "password", "sslmode"}
    options = {k: v for k, v in parsed.items() if k not in known}
    return DbUrl(host=host.split(",")[0], port=int(first_port), dbname=dbname, user=user,
                 password=parsed.get("password"), sslmode=sslmode, form=form, options=options)
