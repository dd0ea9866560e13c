"""The simulated Dealix API: the endpoints of the real service, with faults that can be set.

It answers as the real FastAPI app does (see the reference notes): `/healthz` never touches
the database; the deep check does, and answers 200 even when degraded; public and protected
`/api/v1` routes; the Moyasar webhook checking `secret_token` in constant time. When the app
is "down", Railway's edge answers for it, as in production.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field

from runbook.drill.fakes.server import FakeService, Request, Response, json_response

RAILWAY_EDGE_502 = {"status": "error", "code": 502, "message": "Application failed to respond"}
PLANS = {"currency": "SAR", "plans": {
    "starter": {"price": 99, "leads": 100}, "growth": {"price": 299, "leads": 1000},
    "scale": {"price": 799, "leads": 10000}}, "billing": "monthly"}


@dataclass
class AppState:
    up: bool = True                       # False: the process is not running (Railway's 502)
    serves_api: bool = True               # False: a wrong start command runs another app
    database_url: str = ""                # the app's DATABASE_URL; the deep check really connects
    postgres: str = "ok"                  # used when database_url is empty
    webhook_secret: str | None = None     # MOYASAR_WEBHOOK_SECRET as the running app loaded it
    api_keys: set[str] = field(default_factory=lambda: {"drill-api-key"})
    git_sha: str = "unknown"
    version: str = "1.4.2"
    seen_events: set[str] = field(default_factory=set)
    accepted_events: list[str] = field(default_factory=list)


class DealixApp(FakeService):
    name = "dealix"

    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.state = state or AppState()

    def handle(self, request: Request) -> Response:
        with self.lock:
            state = self.state
            if not state.up:
                return json_response({**RAILWAY_EDGE_502, "request_id": uuid.uuid4().hex[:22]},
                                     502)
            if not state.serves_api:
                return self._other_app(request)
            return self._api(request, state)

    def _other_app(self, request: Request) -> Response:
        # What answers when the start command runs the wrong module: it is healthy (Railway's
        # healthcheck passes, the deploy shows SUCCESS) but has none of the API's routes.
        if request.path == "/healthz":
            return json_response({"status": "ok", "service": "dealix-landing"})
        return json_response({"detail": "Not Found"}, 404)

    def _api(self, request: Request, state: AppState) -> Response:
        path = request.path
        if path == "/healthz" and request.arg("deep") in ("1", "true"):
            return self._deep(state)
        if path == "/health/deep":
            return self._deep(state)
        if path == "/healthz":
            return json_response({"status": "ok", "service": "dealix"})
        if path == "/health":
            return json_response({"status": "ok", "service": "dealix-api",
                                  "version": state.version, "env": "production",
                                  "git_sha": state.git_sha})
        if path == "/version":
            return json_response({"service": "dealix-api", "status": "ok",
                                  "version": state.version, "env": "production",
                                  "git_sha": state.git_sha})
        if path in ("/ready", "/readyz"):
            return json_response({"status": "ready"})
        if path in ("/live", "/livez"):
            return json_response({"status": "alive"})
        if path == "/_test_sentry":
            return Response(500, "Internal Server Error")
        if path == "/api/v1/pricing/plans":
            return json_response(PLANS)
        if path == "/api/v1/webhooks/moyasar" and request.method == "POST":
            return self._webhook(request, state)
        if path.startswith("/api/v1/"):
            if request.headers.get("X-API-Key") not in state.api_keys:
                return json_response({"detail": "Invalid or missing X-API-Key"}, 401)
            return json_response({"items": [], "total": 0})
        return json_response({"detail": "Not Found"}, 404)

    def _deep(self, state: AppState) -> Response:
        postgres = self._postgres(state)
        checks = {"postgres": postgres, "redis": "ok", "dlq": "ok", "sentry": "ok"}
        status = "ok" if postgres == "ok" else "degraded"
        return json_response({"status": status, "checks": checks, "version": state.version})

    def _postgres(self, state: AppState) -> str:
        if not state.database_url:
            return state.postgres
        import psycopg

        try:
            with psycopg.connect(state.database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            return f"error: {type(exc).__name__}"
        return "ok"

    def _webhook(self, request: Request, state: AppState) -> Response:
        try:
            event = request.json()
        except ValueError:
            return json_response({"detail": "invalid_json"}, 400)
        if not isinstance(event, dict):
            return json_response({"detail": "invalid_json"}, 400)
        token = event.get("secret_token")
        expected = state.webhook_secret
        if not expected or not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), expected.encode()):
            return json_response({"detail": "bad_signature"}, 401)
        event_id = str(event.get("id", ""))
        if event_id in state.seen_events:
            return json_response({"status": "duplicate", "id": event_id})
        state.seen_events.add(event_id)
        state.accepted_events.append(event_id)
        return json_response({"status": "ok", "event_id": event_id})
