"""A fake of UptimeRobot's API v2 (`POST /v2/getMonitors`) on loopback.

Form-encoded like the real one; a wrong `api_key` gets HTTP 200 with `stat: fail`, as the real
API answers. Logs are answered oldest first (the real order is not promised either), so a
client has to sort them to find when the current downtime began.
"""

from __future__ import annotations

import contextlib
import secrets as _random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runbook.drill.fakes.faults import Faults
from runbook.drill.fakes.server import FakeService, Request, Response, json_response

if TYPE_CHECKING:
    import httpx

    from runbook.drill.target import Target

API_KEY_ENV = "DRILL_UPTIMEROBOT_API_KEY"


@dataclass
class FakeMonitor:
    id: int
    friendly_name: str
    url: str
    status: int = 2
    interval: int = 300
    monitor_type: int = 2            # 1 HTTP(s), 2 keyword
    logs: list[dict[str, int]] = field(default_factory=list)
    # When the last check ran (response_times); None: polling now, every `interval` seconds.
    last_checked: datetime | None = None

    def log(self, log_type: int, at: datetime, duration: int = 0) -> None:
        self.logs.append({"type": log_type, "datetime": int(at.timestamp()),
                          "duration": duration})

    def go_down(self, since: datetime) -> None:
        """Down since `since`, after an earlier, already resolved blip (so order matters)."""
        self.log(1, since - timedelta(days=2), 120)
        self.log(2, since - timedelta(days=2) + timedelta(seconds=120))
        self.log(1, since)
        self.status = 9

    def response_times(self, limit: int) -> list[dict[str, int]]:
        """The latest checks' response times, newest first; none while paused or unchecked."""
        if self.status in (0, 1):
            return []
        last = int((self.last_checked or datetime.now(UTC)).timestamp())
        last -= 0 if self.last_checked else last % self.interval
        return [{"datetime": last - k * self.interval, "value": 180 + 7 * k}
                for k in range(limit or 24)]

    def to_json(self, logs: bool, logs_limit: int, response_times: bool = False,
                response_times_limit: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "friendly_name": self.friendly_name,
                                "url": self.url, "type": self.monitor_type, "sub_type": "",
                                "keyword_type": 2 if self.monitor_type == 2 else None,
                                "keyword_value": "ok" if self.monitor_type == 2 else "",
                                "interval": self.interval, "status": self.status,
                                "create_datetime": 1_700_000_000}
        if logs:
            chosen = sorted(self.logs, key=lambda e: e["datetime"])
            data["logs"] = chosen[-logs_limit:] if logs_limit else chosen
        if response_times:
            data["response_times"] = self.response_times(response_times_limit)
        return data


class FakeUptimeRobot(FakeService):
    name = "uptimerobot"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.monitors: list[FakeMonitor] = []
        self.faults = Faults()

    def add_monitor(self, friendly_name: str, url: str, **fields: Any) -> FakeMonitor:
        with self.lock:
            monitor = FakeMonitor(780_000_000 + len(self.monitors) + 1, friendly_name, url,
                                  **fields)
            monitor.log(98, datetime.now(UTC) - timedelta(days=90))
            self.monitors.append(monitor)
            return monitor

    def handle(self, request: Request) -> Response:
        canned = self.faults.take()
        if canned is not None:
            return canned
        if request.path != "/v2/getMonitors":
            return json_response({"stat": "fail", "error": {
                "type": "not_found", "message": "Method not found."}}, 404)
        if request.method != "POST":
            return json_response({"stat": "fail", "error": {
                "type": "invalid_method", "message": "Only POST is supported."}}, 405)
        form = request.form()
        if form.get("api_key") != self.api_key:
            return json_response({"stat": "fail", "error": {
                "type": "invalid_parameter", "parameter_name": "api_key",
                "message": "api_key not found."}})
        wanted = {int(m) for m in form.get("monitors", "").split("-") if m.isdigit()}
        logs = form.get("logs") == "1"
        limit = int(form["logs_limit"]) if form.get("logs_limit", "").isdigit() else 0
        times = form.get("response_times") == "1"
        times_limit = int(form["response_times_limit"]) \
            if form.get("response_times_limit", "").isdigit() else 0
        offset = int(form["offset"]) if form.get("offset", "").isdigit() else 0
        # Like the real API: at most 50 monitors a call, whatever `limit` asks for.
        page = min(50, int(form["limit"])) if form.get("limit", "").isdigit() else 50
        with self.lock:
            chosen = [m.to_json(logs, limit, times, times_limit) for m in self.monitors
                      if not wanted or m.id in wanted]
        return json_response({"stat": "ok", "pagination": {
            "offset": offset, "limit": page, "total": len(chosen)},
            "monitors": chosen[offset:offset + page]})


def with_uptime(target: Target, all_monitors: bool = False) -> FakeUptimeRobot:
    """Serve a fake UptimeRobot watching the target's /healthz (keyword `ok`); the config
    names that monitor unless `all_monitors`. Also in `target.extras["uptimerobot"]`."""
    fake = FakeUptimeRobot(target.secret(API_KEY_ENV, "u" + _random.token_hex(4) + "-"
                                         + _random.token_hex(12)))
    base = target.app_server.url
    healthz = fake.add_monitor("Dealix API /healthz", base + "/healthz")
    fake.add_monitor("Dealix pricing", base + "/api/v1/pricing/plans", monitor_type=1)
    server = target.serve(fake)
    target.sections["uptimerobot"] = {"api_url": server.url + "/v2", "api_key_env": API_KEY_ENV,
                                      "monitor_id": 0 if all_monitors else healthz.id}
    target.extras["uptimerobot"] = fake
    return fake


# ---------------------------------------------------------------- its webhook alert contact

ALERT_TYPES = {1: "Down", 2: "Up", 3: "SSL Expiry"}


def alert_variables(monitor: FakeMonitor, alert_type: int, details: str,
                    at: datetime | None = None, duration: int = 0) -> dict[str, str]:
    """The variables UptimeRobot's webhook alert contact sends for one alert."""
    moment = at or datetime.now(UTC)
    return {"monitorID": str(monitor.id), "monitorURL": monitor.url,
            "monitorFriendlyName": monitor.friendly_name, "alertType": str(alert_type),
            "alertTypeFriendlyName": ALERT_TYPES[alert_type], "alertDetails": details,
            "alertDuration": str(duration), "alertDateTime": str(int(moment.timestamp())),
            "monitorAlertContacts": "0"}


def deliver_alert(url: str, variables: dict[str, str], timeout: float = 10.0,
                  http: httpx.Client | None = None) -> int:
    """POST the alert the way UptimeRobot does when no body is set: its variables appended to
    the contact's URL as a query string. Returns the HTTP status (0: no answer). A storm passes
    one `http` client for all its alerts (a client is safe to share between threads)."""
    import httpx

    try:
        with contextlib.ExitStack() as stack:
            if http is None:
                http = stack.enter_context(httpx.Client(timeout=timeout, trust_env=False))
            # Appended to the contact's own query (its token), as UptimeRobot does.
            return http.post(httpx.URL(url).copy_merge_params(variables),
                             timeout=timeout).status_code
    except httpx.HTTPError:
        return 0
