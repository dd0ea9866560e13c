"""Sentry's API and SDK: the error series (`events-stats`, 5-minute buckets), one event's
arrival (`/projects/{org}/{project}/events/{id}/`, 404 until processed), and a test error sent
through `sentry_sdk`.

The token needs `org:read` and `event:read`, and `project:read` for the project id lookup,
which `[sentry] project_id` skips. What counts as an error is `[sentry] error_query`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.clients.transport import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.config import Config, SentryConfig
from runbook.core.errors import BadInput, ServiceError, ServiceUnavailable
from runbook.core.redaction import registry

SERVICE = "Sentry"
STATS_PERIOD = "24h"
POLL_EVERY = 2.0          # seconds between two looks for a test event


@dataclass(frozen=True)
class Bucket:
    at: datetime       # the bucket's start
    count: int



class SentryClient:
    def __init__(self, settings: SentryConfig, token: str, timeouts: Timeouts) -> None:
        self.settings = settings
        self._token = token
        self.timeouts = timeouts

    @classmethod
    def from_config(cls, config: Config, timeouts: Timeouts) -> SentryClient:
        settings = config.sentry
        if settings is None:
            raise ServiceError(SERVICE, "no [sentry] section in the config")
        token = required_secret(SERVICE, settings.token_env,
                                "export a Sentry auth token with the org:read, project:read "
                                "and event:read scopes (or set [sentry] project_id to skip the "
                                "project lookup, which is what needs project:read)")
        return cls(settings, token, timeouts)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.settings.api_url.rstrip("/") + path
        with client(self.timeouts, {"Authorization": f"Bearer {self._token}"}) as http:
            response = request(http, SERVICE, "GET", url, credential_env=self.settings.token_env,
                               params=params)
        if response.status_code == 404:
            raise ServiceError(SERVICE, f"{path} not found ({excerpt(response.text)}): check "
                               f"[sentry] org = {self.settings.org!r} and project = "
                               f"{self.settings.project!r}")
        if response.status_code != 200:
            raise ServiceUnavailable(SERVICE, f"answered {response.status_code}: "
                                     f"{excerpt(response.text)}")
        return json_body(response, SERVICE)

    def project_id(self) -> str:
        if self.settings.project_id:
            return self.settings.project_id
        body = self._get(f"/projects/{self.settings.org}/{self.settings.project}/")
        if not isinstance(body, dict) or not body.get("id"):
            raise ServiceUnavailable(SERVICE, "the project answer has no id")
        return str(body["id"])

    def error_series(self, stats_period: str = STATS_PERIOD) -> list[Bucket]:
        """Errors per 5 minutes over `stats_period`, oldest first; what counts as an error is
        `[sentry] error_query` (default `event.type:error`)."""
        body = self._get(f"/organizations/{self.settings.org}/events-stats/", {
            "project": self.project_id(), "query": self.settings.error_query,
            "statsPeriod": stats_period, "interval": "5m", "yAxis": "count()"})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ServiceUnavailable(SERVICE, "events-stats answered without a data list")
        buckets = []
        for point in data:
            try:
                stamp, values = point
                count = sum(int(v.get("count") or 0) for v in values)
                buckets.append(Bucket(datetime.fromtimestamp(int(stamp), UTC), count))
            except (TypeError, ValueError, AttributeError):
                raise ServiceUnavailable(SERVICE, f"events-stats point not understood: "
                                         f"{excerpt(repr(point))}") from None
        return sorted(buckets, key=lambda b: b.at)


    def event_url(self, event_id: str) -> str:
        s = self.settings
        return f"{s.api_url.rstrip('/')}/projects/{s.org}/{s.project}/events/{event_id}/"

    def event_arrived(self, event_id: str) -> bool:
        """Has Sentry processed the event? It answers 404 until it has."""
        with client(self.timeouts, {"Authorization": f"Bearer {self._token}"}) as http:
            response = request(http, SERVICE, "GET", self.event_url(event_id),
                               credential_env=self.settings.token_env)
        if response.status_code == 200:
            json_body(response, SERVICE)
            return True
        if response.status_code != 404:
            raise ServiceError(SERVICE, f"the event lookup answered {response.status_code}: "
                               f"{excerpt(response.text)}")
        return False

    def wait_for_event(self, event_id: str, wait_seconds: float,
                       poll_every: float = POLL_EVERY,
                       sleep: Callable[[float], None] = time.sleep) -> tuple[bool, int, float]:
        """Poll the event until it arrives, within `wait_seconds`: (arrived, polls, seconds)."""
        started = time.monotonic()
        polls = 0
        while True:
            polls += 1
            arrived = self.event_arrived(event_id)
            waited = time.monotonic() - started
            if arrived:
                return True, polls, waited
            if waited + poll_every > wait_seconds:
                return False, polls, waited
            sleep(poll_every)


class BadDsn(BadInput):
    """The DSN is not one Sentry's SDK can send to."""


def send_test_error(dsn: str, message: str, timeout: float, tag: str = "") -> str | None:
    """Capture `message` at level error through the SDK, with a client of its own (the
    process's global Sentry setup, if any, is left alone); the event id, None if dropped.
    `tag` is set as `runbook.check`."""
    import sentry_sdk
    from sentry_sdk.utils import BadDsn as SdkBadDsn

    try:
        sentry_client = sentry_sdk.Client(
            dsn=dsn, default_integrations=False, auto_enabling_integrations=False,
            integrations=[], http_proxy="", https_proxy="", sample_rate=1.0,
            environment="runbook-monthly-check", shutdown_timeout=timeout)
    except SdkBadDsn:
        raise BadDsn("the DSN is not a valid Sentry DSN") from None
    try:
        with sentry_sdk.isolation_scope() as scope:
            scope.set_client(sentry_client)
            if tag:
                scope.set_tag("runbook.check", tag)
            event_id = scope.capture_message(message, level="error")
        sentry_client.flush(timeout=timeout)
    finally:
        sentry_client.close(timeout=timeout)
    return str(event_id) if event_id else None


def configured(config: Config) -> str:
    """Why Sentry cannot be asked ("" when it can)."""
    if config.sentry is None:
        return "Sentry is not configured (no [sentry] section)"
    if not registry().read_env(config.sentry.token_env):
        return f"${config.sentry.token_env} is not set: Sentry not checked"
    return ""
