"""The SEV-1 response's probes, all at once: /healthz, Railway, UptimeRobot, the database and
Moyasar. Each has its own timeout, so a hung service costs one timeout, not the sum; a service
that is not configured is `skipped` with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from runbook.checks import deploys, health, moyasar, uptime
from runbook.clients import dburl
from runbook.clients.railway import Deployment, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.concurrency import Check, run_concurrently
from runbook.core.config import Config
from runbook.core.errors import DbUrlError
from runbook.core.findings import Finding, failed, passed, skipped
from runbook.core.redaction import registry
from runbook.sections import db_refused

__all__ = ["Sev1Report", "investigate", "sev1_checks"]

FIX_DB = ("The app cannot reach Postgres: follow the database section (db_refused notebook): "
          "Railway → PostgreSQL service status, copy the connection string, update "
          "DATABASE_URL, redeploy")

@dataclass
class Sev1Report:
    findings: list[Finding] = field(default_factory=list)
    deployment: Deployment | None = None

    def _codes(self, *prefixes: str) -> list[Finding]:
        return [f for f in self.findings if f.code.startswith(prefixes)]

    @property
    def confirm(self) -> list[Finding]:
        return self._codes("health.", "api.")

    @property
    def railway(self) -> list[Finding]:
        return [f for f in self._codes("deploy.")
                if f.code not in ("deploy.recent", "deploy.not_recent")]

    @property
    def uptime(self) -> list[Finding]:
        return self._codes("uptime.")

    @property
    def diagnose(self) -> list[Finding]:
        return self._codes("deploy.recent", "deploy.not_recent", "db.", "moyasar.")


def check_db_connection(config: Config, timeouts: Timeouts) -> Finding:
    """Connect and SELECT 1, as the app's deep check does, to the database's one lookup of
    DATABASE_URL (the env var, else Railway's variables)."""
    if config.database is None:
        return skipped("db.ok", "the database is not configured (no [database] section)")
    railway = None
    if config.railway is not None and registry().read_env(config.railway.token_env):
        railway = RailwayClient.from_config(config, timeouts)
    found = db_refused.app_url(config, railway)
    if found.error is not None:
        raise found.error
    if found.value is None:
        return skipped("db.ok", f"{found.missing_reason}: the connection was not tried")
    try:
        url = dburl.parse(found.value, found.variable)
    except DbUrlError as exc:
        return failed("db.url_invalid", f"DATABASE_URL from {found.source} cannot be parsed: "
                      f"{exc.part}", FIX_DB, source=found.source, part=exc.part)
    evidence = {"source": found.source, "host": url.host, "port": url.port,
                "dbname": url.dbname}
    try:
        db_refused.select_one(url, config.database.connect_timeout)
    except psycopg.Error as exc:
        message = registry().redact(str(exc).strip().splitlines()[0] if str(exc) else "")
        # One reading of psycopg's messages for the whole library: the database section's.
        cause = db_refused.classify(exc)
        return failed(cause.code, f"Postgres: {message}", FIX_DB, error=type(exc).__name__,
                      stage=cause.stage, **evidence)
    return passed("db.ok", "Postgres accepted a connection and answered SELECT 1", **evidence)


def sev1_checks(config: Config, timeouts: Timeouts, report: Sev1Report) -> dict[str, Check]:
    """The SEV-1 probes, keyed by the finding code each reports under if it raises. The Railway
    check also keeps the latest deployment on `report`."""

    def railway_check() -> list[Finding]:
        if config.railway is None:
            return [skipped("deploy.ok", "Railway is not configured (no [railway] section)")]
        if not registry().read_env(config.railway.token_env):
            return [skipped("deploy.ok", f"${config.railway.token_env} is not set: Railway not "
                            "checked")]
        report.deployment = RailwayClient.from_config(config, timeouts).latest_deployment()
        return [deploys.status_finding(report.deployment),
                deploys.last_deploy_finding(report.deployment, clock.now())]

    return {
        # /healthz gets its verdict before the deep check goes out (see health's note).
        "health.healthz": lambda: health.probe_in_order(config, timeouts),
        "deploy.ok": railway_check,
        "uptime.up": lambda: uptime.check_uptime(config, timeouts),
        "db.ok": lambda: check_db_connection(config, timeouts),
        "moyasar.ok": lambda: moyasar.check_outage(config, timeouts),
    }


def investigate(config: Config, timeouts: Timeouts) -> Sev1Report:
    report = Sev1Report()
    checks = sev1_checks(config, timeouts, report)
    # Two requests at most per check (a token lookup, then the query), so two timeouts bound it;
    # the health probes run in turn, with the deep check's longer read timeout.
    bound = max(2 * timeouts.total, health.budget(timeouts)) + 1.0
    report.findings = run_concurrently(checks, bound=bound)
    return report
