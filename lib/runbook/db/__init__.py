"""Database connection refused: find DATABASE_URL, then try it stage by stage.

The runbook's entry: likely cause, `DATABASE_URL` is wrong or the Postgres add-on is down; fix:
Railway → PostgreSQL service → check status, copy the connection string, update the env var,
redeploy. The diagnosis makes that exact. It walks the stages a connection goes through —
parse, DNS, TCP connect, the Postgres handshake (TLS offered or not), authentication,
`SELECT 1`, then the server's version and its connection use against `max_connections` — each
timed, stopping at the first that fails, and names the cause with the runbook's fix for it.

A failed connection carries no SQLSTATE, so causes are told apart by libpq's message text;
`classify` and its `RULES` table are the one place that does it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import html
import ipaddress
import math
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from runbook import widgets
from runbook.actions import Action, ActionResult, Outcome, StepLog
from runbook.clients import dburl
from runbook.clients.dburl import DbUrl, DbUrlError
from runbook.clients.http import Timeouts
from runbook.clients.railway import RailwayClient
from runbook.core.config import Config, DatabaseConfig
from runbook.core.errors import BadInput, RunbookError
from runbook.core.findings import Finding, Status, errored, failed, guarded, passed, skipped
from runbook.core.redaction import registry
from runbook.display import COLOURS, ICONS

if TYPE_CHECKING:
    from runbook.session import Session
    from runbook.widgets import ConfirmButton

# The variable the app reads on Railway, and the ones Railway's Postgres service publishes.
RAILWAY_VARIABLE = "DATABASE_URL"
SERVICE_URL_VARIABLES = ("DATABASE_URL", "DATABASE_PUBLIC_URL")
STAGES = ("parse", "dns", "tcp", "handshake", "auth", "query", "server")
SSL_REQUEST_CODE = 80877103
UPSERT_ACTION = "railway.variable_upsert"

# -- the runbook's fix steps ------------------------------------------------------------------

_COPY_AND_REDEPLOY = ("Railway → PostgreSQL service → Connect: copy the connection string; "
                      "Railway → app service → Variables: set DATABASE_URL to it; redeploy the "
                      "app (this notebook's fix action does both: run it with confirm=True).")
_CHECK_STATUS = "Railway → PostgreSQL service → check status (Deployments, and its logs)"

FIXES: dict[str, str] = {
    "db.url_missing": "DATABASE_URL is not set. " + _COPY_AND_REDEPLOY,
    "db.url_invalid": "The connection string is malformed. " + _COPY_AND_REDEPLOY,
    "db.url_mismatch": "The app's DATABASE_URL is not the Postgres service's current one. "
                       + _COPY_AND_REDEPLOY,
    "db.dns_failed": "The host does not resolve: the URL is old or mistyped. " + _CHECK_STATUS
                     + "; then " + _COPY_AND_REDEPLOY,
    "db.refused": "Nothing listens at that host and port: the Postgres service is down or "
                  "has moved. " + _CHECK_STATUS + " and restart it if it crashed; if it is "
                  "Active, its address changed: " + _COPY_AND_REDEPLOY,
    "db.timeout": "The server does not answer in time: it is overloaded, paused, or the "
                  "address is not reachable from here (private vs public URL). "
                  + _CHECK_STATUS + "; check the app uses the private URL inside Railway and "
                  "the public one (DATABASE_PUBLIC_URL) from outside.",
    "db.ssl_required": "The client and the server disagree on TLS. Use the connection string "
                       "Railway gives, unchanged (its sslmode fits the server): "
                       + _COPY_AND_REDEPLOY,
    "db.ssl_required_by_server": "The server accepts only encrypted connections: add "
                                 "?sslmode=require to DATABASE_URL (or copy Railway's string "
                                 "again), update the variable, redeploy.",
    "db.auth_failed": "The password (or user) in DATABASE_URL is not the database's current "
                      "one — it was rotated or mistyped. " + _COPY_AND_REDEPLOY,
    "db.database_missing": "The database named in DATABASE_URL does not exist on that server: "
                           "the URL points at the wrong database (or it was dropped). "
                           + _COPY_AND_REDEPLOY,
    "db.too_many_connections": "Every connection slot is taken. Restart the app service to "
                               "release its connections (Railway → app → Deployments → "
                               "Restart), lower its pool size, and check pg_stat_activity for "
                               "who holds the rest; raise max_connections on the Postgres "
                               "service if the load is real.",
    "db.starting_up": "Postgres is starting up, shutting down or recovering. " + _CHECK_STATUS
                      + "; wait for Active and run this notebook again.",
    "db.connect_failed": "The connection failed for a reason not in the runbook's table: read "
                         "the message. " + _CHECK_STATUS + "; then " + _COPY_AND_REDEPLOY,
    "db.service_down": _CHECK_STATUS + ": restart or redeploy the PostgreSQL service, and "
                       "read its deploy logs for the cause.",
}


# -- classification: the one place that reads libpq's messages --------------------------------

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
        return _rule("db.timeout")
    if isinstance(error, TimeoutError):
        return _rule("db.timeout")
    sqlstate = getattr(error, "sqlstate", None) if isinstance(error, BaseException) else None
    message = str(error).lower()
    for rule in RULES:
        if any(marker in message for marker in rule.markers):
            return rule
    if sqlstate:
        for rule in RULES:
            if sqlstate in rule.sqlstates:
                return rule
    return UNKNOWN


def _rule(code: str) -> Rule:
    return next(rule for rule in RULES if rule.code == code)


# -- stages ------------------------------------------------------------------------------------

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


@dataclass
class UrlLookup:
    """Where the app's DATABASE_URL came from, what it holds, and the Postgres service's own."""

    source: str                                   # "$DATABASE_URL" or "Railway variables …"
    url: DbUrl | None = None
    error: DbUrlError | None = None
    missing_reason: str = ""
    service_urls: dict[str, DbUrl] = field(default_factory=dict)
    service_values: dict[str, str] = field(default_factory=dict, repr=False)
    findings: list[Finding] = field(default_factory=list)

    def service_url(self) -> tuple[str, DbUrl] | None:
        """The Postgres service's URL to compare with and to copy: the private one first."""
        for name in SERVICE_URL_VARIABLES:
            if name in self.service_urls:
                return name, self.service_urls[name]
        return None


@dataclass
class Diagnosis:
    lookup: UrlLookup
    stages: list[Stage]
    findings: list[Finding]
    server: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> Stage | None:
        return next((s for s in self.stages if s.status is Status.FAIL), None)

    @property
    def verdict(self) -> Finding:
        return self.findings[0]

    def table(self) -> StagesView:
        return StagesView(self.stages, self.lookup)

    def fix(self) -> FixView:
        return FixView(self.failing, self.verdict)


@dataclass
class StagesView:
    stages: Sequence[Stage]
    lookup: UrlLookup

    def _header(self) -> str:
        url = self.lookup.url.display() if self.lookup.url else "(none)"
        return f"DATABASE_URL from {self.lookup.source}: {url}"

    def __repr__(self) -> str:
        lines = [self._header()]
        for s in self.stages:
            lines.append(f"{ICONS[s.status]} {s.status.value:<7} {s.name:<10} "
                         f"{s.seconds:>7.3f}s  {s.detail}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for s in self.stages:
            rows.append(
                f'<tr><td style="text-align:left">{html.escape(s.name)}</td>'
                f'<td style="background:{COLOURS[s.status]};color:white;font-weight:bold;'
                f'text-align:center">{ICONS[s.status]} {s.status.value}</td>'
                f'<td style="text-align:right">{s.seconds:.3f}s</td>'
                f'<td style="text-align:left">{html.escape(s.detail)}</td>'
                f"<td><code>{html.escape(s.code)}</code></td></tr>")
        return (f"<p>{html.escape(self._header())}</p><table class=\"runbook-db-stages\">"
                "<thead><tr><th>stage</th><th>status</th><th>time</th><th>detail</th>"
                f"<th>code</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


@dataclass
class FixView:
    stage: Stage | None
    verdict: Finding

    def __repr__(self) -> str:
        if self.stage is None:
            return f"Every stage passed: {self.verdict.summary}. Nothing to fix here."
        return (f"Failing stage: {self.stage.name} ({self.verdict.code}): "
                f"{self.verdict.summary}\nFix: {self.verdict.fix}")

    def _repr_html_(self) -> str:
        if self.stage is None:
            return (f'<div style="border-left:6px solid {COLOURS[Status.PASS]};padding:8px">'
                    f"Every stage passed: {html.escape(self.verdict.summary)}.</div>")
        return (f'<div style="border-left:6px solid {COLOURS[Status.FAIL]};padding:8px">'
                f"<b>Failing stage: {html.escape(self.stage.name)}</b> "
                f"(<code>{html.escape(self.verdict.code)}</code>): "
                f"{html.escape(self.verdict.summary)}<br><b>Fix:</b> "
                f"{html.escape(self.verdict.fix)}</div>")


# -- finding the URL ---------------------------------------------------------------------------

def _database(config: Config) -> DatabaseConfig:
    return config.database or DatabaseConfig()


def _railway(config: Config, timeouts: Timeouts) -> RailwayClient | None:
    return RailwayClient.from_config(config, timeouts) if config.railway else None


def find_url(config: Config, timeouts: Timeouts) -> UrlLookup:
    """The app's DATABASE_URL (env var, else the app's Railway variables), parsed, and compared
    with the Postgres service's current one where `[database] railway_service_id` is set."""
    settings = _database(config)
    env_name = settings.url_env
    value = registry().read_env(env_name)
    railway_error: Finding | None = None
    lookup = UrlLookup(source=f"${env_name}")
    client: RailwayClient | None = None
    try:
        client = _railway(config, timeouts)
    except RunbookError as exc:
        railway_error = errored("db.url_mismatch", f"Railway cannot be asked: {exc}")

    service_future: concurrent.futures.Future[dict[str, str]] | None = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        if client and settings.railway_service_id:
            service_future = pool.submit(client.variables, settings.railway_service_id)
        if value is None:
            if client is None:
                lookup.missing_reason = (f"${env_name} is not set, and there is no [railway] "
                                         "section to read the app's variables from")
            else:
                lookup.source = f"the app's Railway variables ({RAILWAY_VARIABLE})"
                try:
                    value = client.variables().get(RAILWAY_VARIABLE) or None
                except RunbookError as exc:
                    lookup.missing_reason = (f"${env_name} is not set, and Railway's variables "
                                             f"cannot be read: {exc}")
                else:
                    if value is None:
                        lookup.missing_reason = (f"${env_name} is not set, and the app's "
                                                 f"Railway variables have no {RAILWAY_VARIABLE}")
        service_values: dict[str, str] = {}
        service_failure: Finding | None = None
        if service_future is not None:
            try:
                service_values = service_future.result()
            except RunbookError as exc:
                service_failure = errored("db.url_mismatch", "the Postgres service's variables "
                                          f"cannot be read: {exc}")
    if value is not None:
        try:
            lookup.url = dburl.parse(value, env_name if lookup.source.startswith("$")
                                     else RAILWAY_VARIABLE)
        except DbUrlError as exc:
            lookup.error = exc
    for name in SERVICE_URL_VARIABLES:
        if service_values.get(name):
            lookup.service_values[name] = service_values[name]
            try:
                lookup.service_urls[name] = dburl.parse(service_values[name], name)
            except DbUrlError:
                continue
    lookup.findings = [railway_error or service_failure or _compare(lookup, config)]
    return lookup


def _compare(lookup: UrlLookup, config: Config) -> Finding:
    settings = _database(config)
    if config.railway is None:
        return skipped("db.url_mismatch", "not compared: no [railway] section in the config")
    if not settings.railway_service_id:
        return skipped("db.url_mismatch", "not compared: [database] railway_service_id (the "
                       "Railway Postgres service) is not set")
    if not lookup.service_values:
        return failed("db.url_mismatch", "the Postgres service publishes no DATABASE_URL "
                      "variable to compare with", fix=FIXES["db.service_down"],
                      service_id=settings.railway_service_id)
    if lookup.url is None:
        return skipped("db.url_mismatch", "not compared: the app's DATABASE_URL is missing or "
                       "malformed (see the parse stage)")
    for name, url in lookup.service_urls.items():
        if not lookup.url.differences(url):
            return passed("db.url_matches", f"the app's DATABASE_URL is the Postgres service's "
                          f"current {name}", app=lookup.url.redacted(), service=url.redacted())
    chosen = lookup.service_url()
    if chosen is None:
        return failed("db.url_mismatch", "the Postgres service's DATABASE_URL is malformed",
                      fix=FIXES["db.service_down"])
    name, url = chosen
    parts = lookup.url.differences(url)
    return failed("db.url_mismatch",
                  f"the app's DATABASE_URL differs from the Postgres service's {name} in: "
                  + ", ".join(parts), fix=FIXES["db.url_mismatch"], differs=parts,
                  app=lookup.url.redacted(), service=url.redacted(), app_source=lookup.source)


# -- the Postgres service's status -------------------------------------------------------------

def service_status(config: Config, timeouts: Timeouts) -> list[Finding]:
    """The latest deployment status of the Railway Postgres service, where it is configured."""
    settings = _database(config)
    if config.railway is None:
        return [skipped("db.service_status", "not checked: no [railway] section in the config")]
    if not settings.railway_service_id:
        return [skipped("db.service_status", "not checked: [database] railway_service_id is "
                        "not set")]

    def check() -> Finding:
        client = RailwayClient.from_config(config, timeouts)
        latest = client.latest_deployment(settings.railway_service_id)
        if latest is None:
            return failed("db.service_down", "the Postgres service has no deployment",
                          fix=FIXES["db.service_down"], service_id=settings.railway_service_id)
        evidence = {"service_id": settings.railway_service_id, "deployment_id": latest.id,
                    "status": latest.status, "created_at": latest.created_at.isoformat()}
        if latest.status == "SUCCESS":
            return passed("db.service_ok", "the Postgres service's latest deployment is "
                          "Active (SUCCESS)", **evidence)
        return failed("db.service_down", f"the Postgres service's latest deployment is "
                      f"{latest.status}, not Active", fix=FIXES["db.service_down"], **evidence)

    return guarded("db.service_status", check)


# -- the staged diagnosis ----------------------------------------------------------------------

def diagnose(lookup: UrlLookup, connect_timeout: float = 3.0) -> Diagnosis:
    """Try the app's URL stage by stage; stop at the first failure and name its cause."""
    timeout = max(0.1, connect_timeout)
    stages: list[Stage] = []
    url = lookup.url
    started = time.monotonic()
    if url is None:
        code = "db.url_invalid" if lookup.error else "db.url_missing"
        detail = str(lookup.error) if lookup.error else lookup.missing_reason
        stages.append(Stage("parse", Status.FAIL, _since(started), registry().redact(detail),
                            code))
        _skip_rest(stages, "parse")
        evidence: dict[str, Any] = {"stage": "parse", "source": lookup.source}
        if lookup.error:
            evidence["part"] = lookup.error.part
        verdict = failed(code, registry().redact(detail), fix=FIXES[code], **evidence)
        return _with_stages(Diagnosis(lookup, stages, [verdict]))
    stages.append(Stage("parse", Status.PASS, _since(started),
                        f"{url.form} form, sslmode={url.sslmode}, "
                        f"password {url.password_note()}"))
    run = _Run(url, timeout)
    steps: list[tuple[str, Callable[[], str]]] = [
        ("dns", run.dns), ("tcp", run.tcp), ("handshake", run.handshake), ("auth", run.auth),
        ("query", run.query), ("server", run.server_state)]
    try:
        for name, step in steps:
            started = time.monotonic()
            try:
                detail = step()
            except StageFailed as exc:
                stages.append(Stage(name, Status.FAIL, _since(started), exc.detail,
                                    exc.rule.code))
                _skip_rest(stages, name)
                return _with_stages(Diagnosis(
                    lookup, stages, [_verdict(exc, name, stages[-1], url, lookup, timeout)],
                    run.info))
            stages.append(Stage(name, Status.PASS, _since(started), detail))
    finally:
        run.close()
    info = run.info
    verdict = passed("db.ok", f"connected to {url.dbname} on {url.host}:{url.port} as "
                     f"{url.user}; SELECT 1 answered; {info.get('server_version', '?')}, "
                     f"{info.get('in_use', '?')} of {info.get('max_connections', '?')} "
                     "connections in use", url=url.redacted(), source=lookup.source,
                     seconds=round(sum(s.seconds for s in stages), 3), **info)
    return _with_stages(Diagnosis(lookup, stages, [verdict], info))


def _verdict(exc: StageFailed, stage_name: str, stage: Stage, url: DbUrl, lookup: UrlLookup,
             timeout: float) -> Finding:
    summary = exc.rule.summary.format(host=url.host, port=url.port, dbname=url.dbname,
                                      user=url.user, timeout=timeout)
    return failed(exc.rule.code, registry().redact(summary), fix=exc.rule.fix,
                  stage=stage_name, seconds=stage.seconds, message=exc.detail,
                  url=url.redacted(), source=lookup.source)


def _with_stages(diagnosis: Diagnosis) -> Diagnosis:
    # The record keeps the stage table too: a postmortem reads where and how long it took.
    table = [s.to_dict() for s in diagnosis.stages]
    diagnosis.findings = [dataclasses.replace(f, evidence={**f.evidence, "stages": table})
                          for f in diagnosis.findings]
    return diagnosis


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _skip_rest(stages: list[Stage], failed_stage: str) -> None:
    for name in STAGES[STAGES.index(failed_stage) + 1:]:
        stages.append(Stage(name, Status.SKIPPED, 0.0, f"not tried: the {failed_stage} stage "
                            "failed"))


def _fail(error: BaseException | str, detail: str | None = None) -> StageFailed:
    text = detail if detail is not None else str(error)
    return StageFailed(classify(error), registry().redact(" ".join(text.split())))


class _Run:
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
            raise StageFailed(_rule("db.dns_failed"), f"{host} did not resolve within "
                              f"{self.timeout:g}s") from None
        except OSError as exc:
            raise StageFailed(_rule("db.dns_failed"),
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
                raise StageFailed(_rule("db.ssl_required"), "server does not support SSL, but "
                                  f"SSL was required (sslmode={self.url.sslmode})")
            return f"the server speaks Postgres, without TLS (sslmode={self.url.sslmode})"
        if not answer:
            raise StageFailed(UNKNOWN, "the server closed the connection without answering the "
                              "Postgres handshake: is this a Postgres port?")
        raise StageFailed(UNKNOWN, "the server answered the handshake with something that is "
                          "not Postgres: is this a Postgres port?")

    def auth(self) -> str:
        # libpq counts connect_timeout in whole seconds.
        seconds = max(1, math.ceil(self.timeout))
        try:
            self.conn = psycopg.connect(self.url.conninfo(connect_timeout=seconds),
                                        autocommit=True)
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
            raise StageFailed(_rule("db.too_many_connections"),
                              detail + ": no slot is left for the app's user")
        if in_use >= usable:
            raise StageFailed(_rule("db.too_many_connections"),
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


# -- the fix action ----------------------------------------------------------------------------

def plan_url_fix(config: Config, lookup: UrlLookup, diagnosis: Diagnosis) -> tuple[str, str]:
    """(target, why-not): `why-not` is empty when updating DATABASE_URL is the fix."""
    settings = _database(config)
    railway = config.railway
    target = (f"{RAILWAY_VARIABLE} on Railway service {railway.service_id}" if railway
              else f"{RAILWAY_VARIABLE} on the app service")
    if railway is None:
        return target, "no [railway] section in the config: set the variable by hand"
    if not settings.railway_service_id:
        return target, ("[database] railway_service_id is not set: the Postgres service's "
                        "current URL is unknown")
    if lookup.service_url() is None:
        return target, "the Postgres service publishes no usable DATABASE_URL"
    mismatch = any(f.code == "db.url_mismatch" and f.status is Status.FAIL
                   for f in lookup.findings)
    if not mismatch and lookup.url is not None:
        if diagnosis.failing is None:
            return target, "not needed: the URL matches and the database answers"
        return target, ("not needed: the app's URL already is the Postgres service's current "
                        "one; the fault is the service itself: " + diagnosis.verdict.fix)
    return target, ""


def url_fix_action(rb: Session, lookup: UrlLookup, diagnosis: Diagnosis) -> Action:
    """The guarded fix: set the app's DATABASE_URL to the Postgres service's current URL
    (Railway redeploys on variableUpsert). Never shows the value; blocked with the reason
    when updating the variable is not the fix."""
    config = rb.config
    target, why_not = plan_url_fix(config, lookup, diagnosis)
    chosen = lookup.service_url()
    if why_not or chosen is None:
        return Action(UPSERT_ACTION, target, "", _not_planned,
                      blocked=why_not or "the Postgres service's current URL is not known")
    name, url = chosen
    what = (f"set {RAILWAY_VARIABLE} to the Postgres service's current {name} "
            f"({url.display()}) and redeploy the app")
    value = lookup.service_values[name]

    def execute(log: StepLog) -> Outcome:
        client = RailwayClient.from_config(config, rb.timeouts)
        log.step(f"variableUpsert {RAILWAY_VARIABLE} ← the Postgres service's {name}")
        if not client.variable_upsert(RAILWAY_VARIABLE, value):
            return Outcome(False, "Railway answered variableUpsert with false: nothing changed")
        return Outcome(True, f"done: {what}; Railway is redeploying — run this notebook again "
                       "once the deployment is Active")

    return Action(UPSERT_ACTION, target, what, execute,
                  details={"source": name, "url": url.display()})


def _not_planned(log: StepLog) -> Outcome:  # pragma: no cover - a blocked action never runs
    raise BadInput("a blocked action cannot be executed")


def fix_database_url(rb: Session, lookup: UrlLookup, diagnosis: Diagnosis,
                     confirm: bool = False) -> ActionResult | ConfirmButton:
    """The fix behind the guards: a confirm button in JupyterLab, else a dry run unless
    `confirm`; one responder at a time, never twice in an incident, recorded either way."""
    return widgets.confirm(rb, url_fix_action(rb, lookup, diagnosis), confirm=confirm)


def connect_timeout(config: Config, override: float = 0.0) -> float:
    """The notebook parameter when given (> 0), else `[database] connect_timeout`."""
    return override if override > 0 else _database(config).connect_timeout
