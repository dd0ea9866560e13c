"""The one place that reads libpq's (and the server's) messages: a failed connection carries
no SQLSTATE, so causes are told apart by the message text, in `RULES` order."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from runbook.sections.db_refused.fixes import FIXES


@dataclass(frozen=True)
class Rule:
    code: str
    stage: str                  # the stage this cause belongs to
    markers: tuple[str, ...]    # lower-case substrings of libpq's / the server's message
    summary: str                # formatted with host, port, dbname, user, timeout
    fix_key: str = ""           # FIXES key when it is not `code`
    sqlstates: tuple[str, ...] = ()

    @property
    def fix(self) -> str:
        return FIXES[self.fix_key or self.code]


# Order matters: the first rule whose marker is in the message wins.
RULES: tuple[Rule, ...] = (
    Rule("db.dns_failed", "dns",
         ("failed to resolve host", "could not translate host name", "name or service not known",
          "nodename nor servname", "temporary failure in name resolution", "no address associated"),
         "the host {host} does not resolve"),
    Rule("db.refused", "tcp", ("connection refused",),
         "nothing listens at {host}:{port}: connection refused"),
    Rule("db.timeout", "tcp",
         ("connection timeout expired", "timeout expired", "timed out", "no route to host",
          "network is unreachable"),
         "{host}:{port} did not answer within {timeout:g}s"),
    Rule("db.ssl_required", "handshake",
         ("server does not support ssl, but ssl was required",),
         "the URL requires TLS (sslmode) but the server at {host}:{port} does not offer it"),
    Rule("db.ssl_required", "handshake", ("no encryption",),
         "the server accepts only encrypted connections; the URL does not use TLS",
         fix_key="db.ssl_required_by_server"),
    Rule("db.auth_failed", "auth",
         ("password authentication failed", "no password supplied", "no pg_hba.conf entry",
          "role \"", "authentication failed"),
         "the server refused the credentials of user {user}", sqlstates=("28P01", "28000")),
    Rule("db.database_missing", "auth", ("database \"",),
         "the database {dbname} does not exist on {host}:{port}", sqlstates=("3D000",)),
    Rule("db.too_many_connections", "auth",
         ("too many clients already", "remaining connection slots are reserved",
          "too many connections"),
         "every connection slot of {host}:{port} is taken", sqlstates=("53300",)),
    Rule("db.starting_up", "auth",
         ("the database system is starting up", "the database system is shutting down",
          "the database system is in recovery mode", "the database system is not yet accepting",
          "the database system is not accepting connections"),
         "Postgres at {host}:{port} is starting up, shutting down or recovering",
         sqlstates=("57P03",)),
)
UNKNOWN = Rule("db.connect_failed", "auth", (), "the connection to {host}:{port} failed")


def classify(error: BaseException | str) -> Rule:
    """The cause behind a connection or query failure: its finding code, stage and fix."""
    if isinstance(error, psycopg.errors.ConnectionTimeout):
        return rule("db.timeout")
    if isinstance(error, TimeoutError):
        return rule("db.timeout")
    sqlstate = getattr(error, "sqlstate", None) if isinstance(error, BaseException) else None
    message = str(error).lower()
    for candidate in RULES:
        if any(marker in message for marker in candidate.markers):
            return candidate
    if sqlstate:
        for candidate in RULES:
            if sqlstate in candidate.sqlstates:
                return candidate
    return UNKNOWN


def rule(code: str) -> Rule:
    """The rule for a finding code (the first, where two share it)."""
    return next(candidate for candidate in RULES if candidate.code == code)

