"""UptimeRobot (API v2): is the monitor down, and since when?

`POST /v2/getMonitors` (form-encoded `api_key`, `format=json`, `logs=1`). The current downtime
started at the newest log of type 1 (down); UptimeRobot does not promise an order for logs, so
they are sorted by `datetime` (Unix seconds) first. UptimeRobot reports a refused key with HTTP
200 and `{"stat":"fail","error":{...}}`; that becomes an AuthError naming the env var.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.clients.http import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.clock import both_zones, iso
from runbook.core.config import Config, UptimeRobotConfig
from runbook.core.errors import AuthError, ServiceError, ServiceUnavailable
from runbook.core.findings import Finding, failed, passed, skipped
from runbook.core.redaction import registry

SERVICE = "UptimeRobot"

STATUS_NAMES = {0: "paused", 1: "not checked yet", 2: "up", 8: "seems down", 9: "down"}
DOWN_STATUSES = frozenset({8, 9})
LOG_DOWN, LOG_UP, LOG_STARTED, LOG_PAUSED = 1, 2, 98, 99
LOGS_LIMIT = 50   # enough to reach back past a flapping monitor to the current downtime

FIX_DOWN = ("UptimeRobot confirms the outage: check Railway's service status and latest deploy, "
            "then roll back or restart (rollback notebook)")
FIX_PAUSED = "The monitor is paused: resume it in UptimeRobot so the next outage is noticed"


@dataclass(frozen=True)
class MonitorLog:
    type: int
    at: datetime
    duration: int


@dataclass(frozen=True)
class Monitor:
    id: int
    friendly_name: str
    url: str
    status: int
    interval: int
    logs: tuple[MonitorLog, ...]

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


def _monitor(raw: Any) -> Monitor:
    if not isinstance(raw, dict) or "id" not in raw or "status" not in raw:
        raise ServiceUnavailable(SERVICE, "a monitor without id or status in the answer")
    logs = []
    for entry in raw.get("logs") or []:
        if isinstance(entry, dict) and "type" in entry and "datetime" in entry:
            logs.append(MonitorLog(int(entry["type"]),
                                   datetime.fromtimestamp(int(entry["datetime"]), UTC),
                                   int(entry.get("duration") or 0)))
    return Monitor(int(raw["id"]), str(raw.get("friendly_name", "")), str(raw.get("url", "")),
                   int(raw["status"]), int(raw.get("interval") or 0), tuple(logs))


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

    def monitors(self, monitor_ids: list[int] | None = None) -> list[Monitor]:
        form = {"api_key": self._api_key, "format": "json", "logs": "1",
                "logs_limit": str(LOGS_LIMIT)}
        if monitor_ids:
            form["monitors"] = "-".join(str(m) for m in monitor_ids)
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
        return [_monitor(m) for m in monitors]


def monitor_finding(monitor: Monitor) -> Finding:
    evidence: dict[str, Any] = {"monitor_id": monitor.id, "monitor": monitor.friendly_name,
                                "url": monitor.url, "status": monitor.status_name}
    if monitor.is_down:
        since = monitor.down_since()
        if since is None:
            return failed("uptime.down", f"UptimeRobot: {monitor.friendly_name} is "
                          f"{monitor.status_name}; no down log gives the start",
                          FIX_DOWN, down_since=None, **evidence)
        return failed("uptime.down", f"UptimeRobot: {monitor.friendly_name} is "
                      f"{monitor.status_name} since {both_zones(since)}", FIX_DOWN,
                      down_since=iso(since), down_since_local=both_zones(since), **evidence)
    if monitor.status == 0:
        return failed("uptime.paused", f"UptimeRobot: {monitor.friendly_name} is paused: "
                      "nobody is watching it", FIX_PAUSED, **evidence)
    return passed("uptime.up", f"UptimeRobot: {monitor.friendly_name} is "
                  f"{monitor.status_name}", **evidence)


def check_uptime(config: Config, timeouts: Timeouts) -> list[Finding]:
    """One finding per monitor (`monitor_id = 0`: every monitor of the account)."""
    settings = config.uptimerobot
    if settings is None:
        return [skipped("uptime.up", "UptimeRobot is not configured (no [uptimerobot] section)")]
    if not registry().read_env(settings.api_key_env):
        return [skipped("uptime.up", f"${settings.api_key_env} is not set: UptimeRobot not "
                        "checked")]
    monitors = UptimeRobotClient.from_config(config, timeouts).monitors(
        [settings.monitor_id] if settings.monitor_id else None)
    if not monitors:
        return [skipped("uptime.up", "UptimeRobot has no monitor "
                        + (f"{settings.monitor_id}" if settings.monitor_id else "at all"))]
    return [monitor_finding(m) for m in monitors]
