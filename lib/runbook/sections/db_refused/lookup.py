"""Where the app's DATABASE_URL is: its env var, else the app's Railway variables. The one
lookup of it in the library (the SEV-1 probe uses it too), parsed by the one parser
(`clients.dburl`), and compared with the Postgres service's current URL where
`[database] railway_service_id` names that service."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field

from runbook.clients import dburl
from runbook.clients.dburl import DbUrl
from runbook.clients.railway import RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.errors import DbUrlError, RunbookError
from runbook.core.findings import Finding, errored, failed, passed, skipped
from runbook.core.redaction import fingerprint, registry
from runbook.sections.db_refused.fixes import FIXES
from runbook.sections.db_refused.settings import database_settings

# The variable the app reads on Railway, and the ones Railway's Postgres service publishes.
RAILWAY_VARIABLE = "DATABASE_URL"
SERVICE_URL_VARIABLES = ("DATABASE_URL", "DATABASE_PUBLIC_URL")


@dataclass(frozen=True)
class AppUrl:
    """The app's DATABASE_URL as found, unparsed; `value` None: `missing_reason` says why."""

    value: str | None = field(repr=False)
    source: str                     # "$DATABASE_URL" or "the app's Railway variables (…)"
    variable: str                   # the name its secret is registered under
    missing_reason: str = ""
    error: RunbookError | None = None   # Railway could not be read


def app_url(config: Config, railway: RailwayClient | None) -> AppUrl:
    """The env var named by `[database] url_env`, else the app's Railway variables."""
    env_name = database_settings(config).url_env
    value = registry().read_env(env_name)
    if value is not None:
        return AppUrl(value, f"${env_name}", env_name)
    if railway is None:
        return AppUrl(None, f"${env_name}", env_name, f"${env_name} is not set, and there is "
                      "no [railway] section to read the app's variables from")
    source = f"the app's Railway variables ({RAILWAY_VARIABLE})"
    try:
        value = railway.variables().get(RAILWAY_VARIABLE) or None
    except RunbookError as exc:
        return AppUrl(None, source, RAILWAY_VARIABLE, f"${env_name} is not set, and Railway's "
                      f"variables cannot be read: {exc}", exc)
    if value is None:
        return AppUrl(None, source, RAILWAY_VARIABLE, f"${env_name} is not set, and the app's "
                      f"Railway variables have no {RAILWAY_VARIABLE}")
    return AppUrl(value, source, RAILWAY_VARIABLE)


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
    app_fingerprint: str = ""                     # of the app's value as found; "" if none

    def service_url(self) -> tuple[str, DbUrl] | None:
        """The Postgres service's URL to compare with and to copy: the private one first."""
        for name in SERVICE_URL_VARIABLES:
            if name in self.service_urls:
                return name, self.service_urls[name]
        return None


def _railway(config: Config, timeouts: Timeouts) -> RailwayClient | None:
    return RailwayClient.from_config(config, timeouts) if config.railway else None


def find_url(config: Config, timeouts: Timeouts) -> UrlLookup:
    """The app's DATABASE_URL (env var, else the app's Railway variables), parsed, and compared
    with the Postgres service's current one where `[database] railway_service_id` is set."""
    settings = database_settings(config)
    railway_error: Finding | None = None
    client: RailwayClient | None = None
    try:
        client = _railway(config, timeouts)
    except RunbookError as exc:
        railway_error = errored("db.url_mismatch", f"Railway cannot be asked: {exc}")

    service_future: concurrent.futures.Future[dict[str, str]] | None = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        if client and settings.railway_service_id:
            service_future = pool.submit(client.variables, settings.railway_service_id)
        found = app_url(config, client)
        service_values: dict[str, str] = {}
        service_failure: Finding | None = None
        if service_future is not None:
            try:
                service_values = service_future.result()
            except RunbookError as exc:
                service_failure = errored("db.url_mismatch", "the Postgres service's variables "
                                          f"cannot be read: {exc}")
    lookup = UrlLookup(source=found.source, missing_reason=found.missing_reason)
    if found.value is not None:
        lookup.app_fingerprint = fingerprint(found.value)
        try:
            lookup.url = dburl.parse(found.value, found.variable)
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
    settings = database_settings(config)
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

