"""The simulated Dealix API: the endpoints of the real service, with faults that can be set.

It answers as the real FastAPI app does (see the reference notes):
- `/healthz` never touches the database; the deep check (`/healthz?deep=1`, `/health/deep`)
  does, answers 200 even when degraded, and reports each dependency as an object
  `{"status": "ok" | "skip" | "fail" | "misconfigured" | "degraded", …}`: `skip` when the
  dependency is not configured, `dlq` only when Redis is, `llm_providers` failing without a
  provider key. The top-level status turns `degraded` on a failing postgres, redis, dlq or
  llm_providers, never on `skip` or `misconfigured`.
- One worker: the app runs a single uvicorn worker and the deep check's Postgres connect is
  synchronous, so while it waits on a hung database (up to 3 s) every other request waits too.
- `/api/v1`: with `API_KEYS` set, a middleware answers 401 before routing; without it the
  router answers (405 on a GET of a POST-only route, 404 on an unknown path).
- The Moyasar webhook checks `secret_token` in constant time, de-duplicates (event id, then
  payment id + status, then a hash of the body), persists a new event with its raw body, and
  answers `{"status": "dlq"}` when processing fails; a JSON array body answers 500.
- A wrong start command runs another app of the repo: 404 on `/healthz` and on every route
  (a static server answers 501 to POST). When the app is "down", Railway's edge answers 502.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from runbook.drill.fakes.server import FakeService, Request, Response, json_response

RAILWAY_EDGE_502 = {"status": "error", "code": 502, "message": "Application failed to respond"}
PLANS = {"currency": "SAR", "plans": {
    "starter": {"price": 99, "leads": 100}, "growth": {"price": 299, "leads": 1000},
    "scale": {"price": 799, "leads": 10000}}, "billing": "monthly"}
DLQ_QUEUES = ("dlq:webhooks", "dlq:outbound", "dlq:enrichment", "dlq:crm_sync")
DLQ_THRESHOLD = 5
POST_ONLY_ROUTES = ("/api/v1/leads", "/api/v1/webhooks/moyasar")
PUBLIC_PATHS = ("/api/v1/pricing/plans", "/api/v1/webhooks/moyasar")
SENTRY_INGEST_SUFFIX = ".ingest.sentry.io"
DB_CONNECT_TIMEOUT = 3     # the app's psycopg.connect(..., connect_timeout=3)


@dataclass
class PaymentEvent:
    """A row the webhook handler persisted: what a probe leaves in Dealix's database."""

    event_id: str
    event_type: str
    payment_status: str | None
    raw_body: bytes


@dataclass
class AppState:
    up: bool = True                       # False: the process is not running (Railway's 502)
    serves_api: bool = True               # False: a wrong start command runs another app
    other_app: str = "asgi"               # what runs instead: "asgi" (v3_app) or "static"
    database_url: str = ""                # the app's DATABASE_URL; the deep check really connects
    postgres: str = "ok"                  # used when database_url is empty: "ok", "skip", or an
                                          # error text (the check fails with it)
    redis_configured: bool = True         # REDIS_URL set
    redis: str = "ok"                     # "ok", or an error text
    dlq_depths: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DLQ_QUEUES, 0))
    sentry_dsn: str = "https://public@o1.ingest.sentry.io/2"   # "" when SENTRY_DSN is unset
    llm_providers: tuple[str, ...] = ("anthropic",)             # providers with a key
    webhook_secret: str | None = None     # MOYASAR_WEBHOOK_SECRET as the running app loaded it
    webhook_processing_fails: bool = False  # side effects raise: the event goes to the DLQ
    api_keys: set[str] = field(default_factory=lambda: {"drill-api-key"})  # empty: unset
    git_sha: str = "unknown"
    version: str = "1.4.2"
    seen_events: set[str] = field(default_factory=set)     # the de-duplication keys
    accepted_events: list[str] = field(default_factory=list)
    payment_events: list[PaymentEvent] = field(default_factory=list)
    side_effects: list[str] = field(default_factory=list)  # receipts, invoices, alerts sent


class DealixApp(FakeService):
    name = "dealix"

    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.state = state or AppState()
        # The single uvicorn worker: one request at a time, the deep check's wait included.
        self.worker = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self.worker:
            state = self.state
            if not state.up:
                return json_response({**RAILWAY_EDGE_502, "request_id": uuid.uuid4().hex[:22]},
                                     502)
            if not state.serves_api:
                return self._other_app(request, state)
            return self._api(request, state)

    def _other_app(self, request: Request, state: AppState) -> Response:
        # What answers when the start command runs another module (`uvicorn v3_app:app`) or a
        # static server: the process is up, but none of the API's routes exist, /healthz
        # included.
        if state.other_app == "static" and request.method not in ("GET", "HEAD"):
            return Response(501, "<html><body><h1>Error response</h1><p>Error code: 501</p>"
                            "</body></html>", {"Content-Type": "text/html"})
        return json_response({"detail": "Not Found"}, 404)

    def _api(self, request: Request, state: AppState) -> Response:
        path = request.path
        if path.startswith("/api/v1/") and path not in PUBLIC_PATHS and state.api_keys \
                and request.headers.get("X-API-Key") not in state.api_keys:
            # The key middleware answers before routing.
            return json_response({"detail": "Invalid or missing X-API-Key"}, 401)
        if path == "/healthz" and request.arg("deep") in ("1", "true"):
            return self._deep(state)
        if path == "/health/deep":
            return self._deep(state)
        if path == "/healthz":
            return json_response({"status": "ok", "service": "dealix", "version": state.version,
                                  "env": "production", "git_sha": state.git_sha})
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
        if path in POST_ONLY_ROUTES:
            if request.method != "POST":
                return json_response({"detail": "Method Not Allowed"}, 405)
            if path == "/api/v1/webhooks/moyasar":
                return self._webhook(request, state)
            return json_response({"id": uuid.uuid4().hex, "status": "created"}, 201)
        if path.startswith("/api/v1/"):
            return json_response({"detail": "Not Found"}, 404)
        return json_response({"detail": "Not Found"}, 404)

    # ------------------------------------------------------------ the deep check

    def _deep(self, state: AppState) -> Response:
        checks: dict[str, dict[str, Any]] = {"postgres": self._postgres(state)}
        if state.redis_configured:
            checks["redis"] = {"status": "ok"} if state.redis == "ok" else \
                {"status": "fail", "error": state.redis[:200]}
            depths = dict(state.dlq_depths)
            over = any(depth > DLQ_THRESHOLD for depth in depths.values())
            checks["dlq"] = {"status": "degraded" if over else "ok", "depths": depths}
        else:
            checks["redis"] = {"status": "skip", "reason": "no REDIS_URL"}
        checks["sentry"] = self._sentry(state)
        checks["llm_providers"] = {"status": "ok", "configured": list(state.llm_providers)} \
            if state.llm_providers else {"status": "fail", "error": "no LLM provider key"}
        failing = any(checks[name]["status"] in ("fail", "degraded")
                      for name in ("postgres", "redis", "dlq", "llm_providers") if name in checks)
        return json_response({"status": "degraded" if failing else "ok", "checks": checks,
                              "version": state.version})

    @staticmethod
    def _sentry(state: AppState) -> dict[str, Any]:
        if not state.sentry_dsn:
            return {"status": "skip", "reason": "no SENTRY_DSN"}
        host = urlsplit(state.sentry_dsn).hostname or ""
        if not host.endswith(SENTRY_INGEST_SUFFIX):
            return {"status": "misconfigured", "reason": f"DSN host {host!r} is not "
                    f"*{SENTRY_INGEST_SUFFIX}"}
        return {"status": "ok"}

    @staticmethod
    def _postgres(state: AppState) -> dict[str, Any]:
        if not state.database_url:
            if state.postgres == "ok":
                return {"status": "ok"}
            if state.postgres == "skip":
                return {"status": "skip", "reason": "no DATABASE_URL"}
            return {"status": "fail", "error": state.postgres[:200]}
        import psycopg

        try:
            # Synchronous, as in the app: the worker is blocked for as long as this waits.
            with psycopg.connect(state.database_url, connect_timeout=DB_CONNECT_TIMEOUT) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            return {"status": "fail", "error": str(exc).strip()[:200]}
        return {"status": "ok"}

    # ------------------------------------------------------------ the Moyasar webhook

    def _webhook(self, request: Request, state: AppState) -> Response:
        try:
            event = request.json()
        except ValueError:
            return json_response({"detail": "invalid_json"}, 400)
        if isinstance(event, list):
            return Response(500, "Internal Server Error")   # the handler calls .get on it
        if not isinstance(event, dict):
            return json_response({"detail": "invalid_json"}, 400)
        token = event.get("secret_token")
        expected = state.webhook_secret
        if not expected or not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), expected.encode()):
            return json_response({"detail": "bad_signature"}, 401)
        key = self._dedupe_key(event, request.body)
        if key in state.seen_events:
            return json_response({"status": "duplicate", "id": str(event.get("id") or key)})
        state.seen_events.add(key)
        event_id = str(event.get("id") or key)
        data = _object(event.get("data"))
        payment_status = data.get("status") if isinstance(data.get("status"), str) else None
        state.payment_events.append(PaymentEvent(event_id, str(event.get("type", "")),
                                                 payment_status, request.body))
        state.accepted_events.append(event_id)
        if state.webhook_processing_fails:
            return json_response({"status": "dlq", "id": event_id})
        if payment_status == "paid":
            state.side_effects.extend([f"receipt:{event_id}", f"zatca_invoice:{event_id}",
                                       f"whatsapp_alert:{event_id}"])
        return json_response({"status": "ok", "event_id": event_id})

    @staticmethod
    def _dedupe_key(event: dict[str, Any], body: bytes) -> str:
        if event.get("id"):
            return f"event:{event['id']}"
        data = _object(event.get("data"))
        if data.get("id") and data.get("status"):
            return f"payment:{data['id']}:{data['status']}"
        return "body:" + hashlib.sha256(body).hexdigest()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
