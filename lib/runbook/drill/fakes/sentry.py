"""A fake of Sentry's API (`/api/0/...`) on loopback: the project lookup and `events-stats`.

Error counts come from `rate(bucket_start)`: a steady baseline that varies a little from bucket
to bucket, and `spike_since(at, factor)` multiplies it from a moment on. Buckets are aligned to
the interval and the last one is the current, partial one, as Sentry answers.
"""

from __future__ import annotations

import secrets as _random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runbook.drill.fakes.faults import Faults
from runbook.drill.fakes.sentry_ingest import Ingest
from runbook.drill.fakes.server import FakeService, Request, Response, json_response

if TYPE_CHECKING:
    from runbook.drill.target import Target

TOKEN_ENV = "DRILL_SENTRY_AUTH_TOKEN"
ORG, PROJECT, PROJECT_ID = "dealix", "dealix-backend", "4508123456789012"
_PERIODS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = (3, 4, 2, 5, 3, 4, 3, 6, 4, 3, 2, 4)   # the quiet day's shape, per bucket


def seconds_of(period: str, default: int) -> int:
    if len(period) > 1 and period[:-1].isdigit() and period[-1] in _PERIODS:
        return int(period[:-1]) * _PERIODS[period[-1]]
    return default


@dataclass
class Spike:
    since: datetime
    factor: float


class FakeSentry(FakeService):
    name = "sentry"

    def __init__(self, token: str, org: str = ORG, project: str = PROJECT,
                 project_id: str = PROJECT_ID) -> None:
        super().__init__()
        self.token = token
        self.org, self.project, self.project_id = org, project, project_id
        self.faults = Faults()
        self.baseline_scale = 1.0
        self.spikes: list[Spike] = []
        self.ingest = Ingest(_random.token_hex(16))   # the SDK's side: envelopes in, events out

    def spike_since(self, since: datetime, factor: float = 10.0) -> None:
        with self.lock:
            self.spikes.append(Spike(since, factor))

    def rate(self, bucket_start: datetime) -> int:
        """Errors in the 5-minute bucket starting at `bucket_start`."""
        base = _PATTERN[int(bucket_start.timestamp() // 300) % len(_PATTERN)] * self.baseline_scale
        factor = 1.0
        for spike in self.spikes:
            if bucket_start + timedelta(minutes=5) > spike.since:
                factor = max(factor, spike.factor)
        return round(base * factor)

    def handle(self, request: Request) -> Response:
        canned = self.faults.take()
        if canned is not None:
            return canned
        if request.path == f"/api/{self.project_id}/envelope/":
            return self.ingest.accept(request, self.project_id)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_response({"detail": "Invalid token"}, 401)
        if request.method != "GET":
            return json_response({"detail": f'Method "{request.method}" not allowed.'}, 405)
        if request.path == f"/api/0/projects/{self.org}/{self.project}/":
            return json_response({"id": self.project_id, "slug": self.project,
                                  "name": self.project, "platform": "python",
                                  "organization": {"slug": self.org}})
        if request.path == f"/api/0/organizations/{self.org}/events-stats/":
            return self._events_stats(request)
        event_prefix = f"/api/0/projects/{self.org}/{self.project}/events/"
        if request.path.startswith(event_prefix):
            return self.ingest.event(request.path[len(event_prefix):].strip("/"))
        return json_response({"detail": "The requested resource does not exist"}, 404)

    def _events_stats(self, request: Request) -> Response:
        if request.arg("project") and request.arg("project") != self.project_id:
            return json_response({"detail": "You do not have permission to perform this "
                                            "action."}, 403)
        interval = seconds_of(request.arg("interval", "1h"), 3600)
        period = seconds_of(request.arg("statsPeriod", "24h"), 86400)
        now = int(datetime.now(UTC).timestamp())
        end = now - now % interval
        start = end - period
        data: list[Any] = []
        with self.lock:
            for stamp in range(start, end + 1, interval):
                moment = datetime.fromtimestamp(stamp, UTC)
                count = self.rate(moment)
                if stamp == end:  # the current bucket is only partly over
                    count = round(count * (now - end) / interval)
                data.append([stamp, [{"count": count}]])
        return json_response({"data": data, "start": start, "end": end + interval,
                              "isMetricsData": False,
                              "meta": {"fields": {"count()": "integer"}}})


def with_sentry(target: Target, configure_project_id: bool = False) -> FakeSentry:
    """Serve a fake Sentry for `target`, set [sentry] and the token; also in
    `target.extras["sentry"]`. Without `configure_project_id` the client looks the id up."""
    fake = FakeSentry(target.secret(TOKEN_ENV, "sntrys_" + _random.token_hex(24)))
    server = target.serve(fake)
    section = {"api_url": server.url + "/api/0", "org": fake.org, "project": fake.project,
               "token_env": TOKEN_ENV, "dsn_env": "DRILL_SENTRY_DSN"}
    if configure_project_id:
        section["project_id"] = fake.project_id
    target.sections["sentry"] = section
    target.extras["sentry"] = fake
    target.secret("DRILL_SENTRY_DSN", fake.ingest.dsn(server.url, fake.project_id))
    return fake
