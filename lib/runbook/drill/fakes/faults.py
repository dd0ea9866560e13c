"""Canned failures a fake answers before its normal behaviour: a 429 with Retry-After, a 5xx,
a body that is not JSON. Each is queued for a number of requests, then the fake is itself again.

    fake.faults.rate_limit(retry_after=1, times=1)
    fake.faults.server_error(503)
    fake.faults.malformed()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from runbook.drill.fakes.server import Response, json_response


@dataclass
class Faults:
    queue: list[Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, response: Response, times: int = 1) -> None:
        with self.lock:
            self.queue.extend(Response(response.status, response.body, dict(response.headers))
                              for _ in range(times))

    def rate_limit(self, retry_after: float = 1, times: int = 1) -> None:
        self.inject(json_response({"message": "Too Many Requests"}, 429,
                                  **{"Retry-After": f"{retry_after:g}",
                                     "X-RateLimit-Remaining": "0"}), times)

    def server_error(self, status: int = 503, times: int = 1) -> None:
        self.inject(Response(status, "<html><body><h1>Service Unavailable</h1></body></html>",
                             {"Content-Type": "text/html"}), times)

    def malformed(self, times: int = 1) -> None:
        self.inject(Response(200, "{not json", {"Content-Type": "application/json"}), times)

    def take(self) -> Response | None:
        with self.lock:
            return self.queue.pop(0) if self.queue else None

    def clear(self) -> None:
        with self.lock:
            self.queue.clear()
