"""UptimeRobot (API v2): the monitors, their logs and their latest checks.

`POST /v2/getMonitors` (form-encoded `api_key`, `format=json`, `logs=1`, optionally
`response_times=1`), paged with `offset`/`limit` (at most 50 monitors a page) until the
answer's `pagination.total` is read. UptimeRobot does not promise an order for logs or checks,
so they are sorted by `datetime` (Unix seconds). A refused key comes back as HTTP 200 with
`{"stat":"fail","error":{...}}`; that becomes an AuthError naming the env var.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.clients.transport import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.config import Config, UptimeRobotConfig
from runbook.core.errors import AuthError, ServiceError, ServiceUnavailable
from runbook.core.redaction import registry

SERVICE = "UptimeRobot"

STATUS_NAMES = {0: "paused", 1: "not checked yet", 2: "up", 8: "seems down", 9: "down"}
DOWN_STATUSES = frozenset({8, 9})
LOG_DOWN = 1  # a log entry's type: 1 down, 2 up, 98 started, 99 paused
LOGS_LIMIT = 50   # enough to reach back past a flapping monitor to the current downtime
PAGE_LIMIT = 50   # getMonitors answers at most 50 monitors a call
MAX_PAGES = 20    # 1,000 monitors; an account past that is read in part, never endlessly


@dataclass(frozen=True)
class MonitorLog:
    type: int
    at: datetime
    duration: int


@dataclass(frozen=True)
class Check:
    """One check UptimeRobot ran (a response time)."""

    at: datetime
    milliseconds: int


@dataclass(frozen=True)
class Monitor:
    id: int
    friendly_name: str
    url: str
    status: int
    interval: int
    logs: tuple[MonitorLog, ...]
    checks: tuple[Check, ...] = ()

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, f"unknown ({self.status})")

    @property
    def is_down(self) -> bool:
        return self.status in DOWN_STATUSES

    def down_since(self) -> datetime | None:
        """When the current downtime began: the newest down log (type 1); None when up."""
        if not self.is_down:
            return None
        newest = sorted(self.logs, key=lambda log: log.at, reverse=True)
        return next((log.at for log in newest if log.type == LOG_DOWN), None)

    def last_activity(self) -> datetime | None:
        """The newest check or log, whichever is later: either shows the monitor is alive."""
        stamps = [log.at for log in self.logs] + [check.at for check in self.checks]
        return max(stamps) if stamps else None


def _stamp(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), UTC)
    return None


def _monitor(raw: Any) -> Monitor:
    if not isinstance(raw, dict) or "id" not in raw or "status" not in raw:
        raise ServiceUnavailable(SERVICE, "a monitor without id or status in the answer")
    logs = []
    for entry in raw.get("logs") or []:
        at = _stamp(entry.get("datetime")) if isinstance(entry, dict) else None
        if at is not None and "type" in entry:
            logs.append(MonitorLog(int(entry["type"]), at, int(entry.get("duration") or 0)))
    checks = []
    for entry in raw.get("response_times") or []:
        at = _stamp(entry.get("datetime")) if isinstance(entry, dict) else None
        if at is not None:
            checks.append(Check(at, int(entry.get("value") or 0)))
    try:
        return Monitor(int(raw["id"]), str(raw.get("friendly_name", "")),
                       str(raw.get("url", "")), int(raw["status"]), int(raw.get("interval") or 0),
                       tuple(logs), tuple(sorted(checks, key=lambda c: c.at, reverse=True)))
    except (TypeError, ValueError):
        raise ServiceUnavailable(SERVICE, f"a monitor not understood: {excerpt(repr(raw))}") \
            from None


class UptimeRobotClient:
    def __init__(self, settings: UptimeRobotConfig, api_key: str, timeouts: Timeouts) -> None:
        self.settings = settings
        self._api_key = api_key
        self.timeouts = timeouts

    @classmethod
    def from_config(cls, config: Config, timeouts: Timeouts) -> UptimeRobotClient:
        settings = config.uptimerobot
        if settings is None:
            raise ServiceError(SERVICE, "no [uptimerobot] section in the config")
        key = required_secret(SERVICE, settings.api_key_env, "export the UptimeRobot read-only "
                              "API key (My Settings → API Settings)")
        return cls(settings, key, timeouts)

    def monitors(self, monitor_ids: list[int] | None = None, *, logs_limit: int = LOGS_LIMIT,
                 response_times: int = 0, max_pages: int = MAX_PAGES) -> list[Monitor]:
        """Every monitor (or those named), each with its newest `logs_limit` logs and, when
        `response_times` > 0, that many of its latest checks."""
        form = {"api_key": self._api_key, "format": "json", "logs": "1",
                "logs_limit": str(logs_limit), "limit": str(PAGE_LIMIT)}
        if response_times > 0:
            form.update(response_times="1", response_times_limit=str(response_times))
        if monitor_ids:
            form["monitors"] = "-".join(str(m) for m in monitor_ids)
        found: list[Monitor] = []
        for _ in range(max_pages):
            page, total = self._page({**form, "offset": str(len(found))})
            found += page
            if not page or total is None or len(found) >= total:
                break
        return found

    def _page(self, form: dict[str, str]) -> tuple[list[Monitor], int | None]:
        url = self.settings.api_url.rstrip("/") + "/getMonitors"
        with client(self.timeouts, {"Cache-Control": "no-cache"}) as http:
            response = request(http, SERVICE, "POST", url,
                               credential_env=self.settings.api_key_env, data=form)
        body = json_body(response, SERVICE)
        if not isinstance(body, dict):
            raise ServiceUnavailable(SERVICE, f"an answer that is not an object: "
                                     f"{excerpt(response.text)}")
        if body.get("stat") != "ok":
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            message = excerpt(str((error or {}).get("message") or response.text))
            if (error or {}).get("parameter_name") == "api_key" or \
                    "api_key" in message.lower():
                raise AuthError(SERVICE, f"the API key was refused ({message}): check the value "
                                f"of ${self.settings.api_key_env}")
            raise ServiceError(SERVICE, f"getMonitors failed: {message}")
        monitors = body.get("monitors")
        if not isinstance(monitors, list):
            raise ServiceUnavailable(SERVICE, "the answer has no monitors list")
        pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
        total = (pagination or {}).get("total")
        return [_monitor(m) for m in monitors], total if isinstance(total, int) else None


def configured(config: Config) -> str:
    """Why UptimeRobot cannot be asked ("" when it can)."""
    settings = config.uptimerobot
    if settings is None:
        return "UptimeRobot is not configured (no [uptimerobot] section)"
    if not registry().read_env(settings.api_key_env):
        return f"${settings.api_key_env} is not set: UptimeRobot not checked"
    return ""
