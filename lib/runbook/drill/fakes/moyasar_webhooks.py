"""Moyasar's webhook delivery log and single-payment fetch, added to the fake Moyasar.

Routes added to a `FakeMoyasar` (same Basic auth, same 401 body, same pagination):
- `GET /v1/webhooks/attempts` → `{"webhook_attempts": [...], "meta": {...}}`, newest first;
- `GET /v1/payments/{id}` → the payment object (one route per payment: the fake's routes are
  exact paths).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook.drill.fakes.moyasar import FakeMoyasar, page
from runbook.drill.fakes.server import Request, Response, json_response

# Moyasar's retry schedule after a failed delivery: 5 more attempts, then the event is dropped.
RETRY_DELAYS = (timedelta(0), timedelta(minutes=1), timedelta(minutes=5),
                timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1))
BAD_SIGNATURE_BODY = json.dumps({"detail": "bad_signature"})


def moyasar_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def webhook_attempt(event_id: str, event_type: str, response_code: int, at: datetime,
                    retry_number: int = 0, webhook_id: str = "",
                    response_body: str = "") -> dict[str, Any]:
    """One attempt in the shape of `GET /v1/webhooks/attempts`."""
    delivered = 200 <= response_code < 300
    return {"id": str(uuid.uuid4()), "webhook_id": webhook_id or str(uuid.uuid4()),
            "event_id": event_id, "event_type": event_type, "retry_number": retry_number,
            "result": "success" if delivered else "failed",
            "message": "Webhook message was delivered successfully" if delivered else
            f"Webhook endpoint responded with status code {response_code}",
            "response_code": response_code,
            "response_headers": json.dumps({"content-type": "application/json"}),
            "response_body": response_body or (json.dumps({"status": "ok"}) if delivered
                                               else BAD_SIGNATURE_BODY),
            "created_at": moyasar_time(at)}


@dataclass
class WebhookLog:
    """The delivery log of one webhook, served by `fake`."""

    fake: FakeMoyasar
    webhook_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def add_payment(self, payment: dict[str, Any]) -> dict[str, Any]:
        with self.fake.lock:
            self.fake.payments.append(payment)
            self.fake.payments.sort(key=lambda p: str(p["created_at"]), reverse=True)
            self.serve_payment(payment)
        return payment

    def serve_payment(self, payment: dict[str, Any]) -> None:
        def fetch(_request: Request, payment_id: str = str(payment["id"])) -> Response:
            found = next((p for p in self.fake.payments if p["id"] == payment_id), None)
            if found is None:
                return json_response({"type": "invalid_request_error",
                                      "message": "Object not found", "errors": None}, 404)
            return json_response(found)

        self.fake.routes[("GET", f"/v1/payments/{payment['id']}")] = fetch

    def add_attempt(self, attempt: dict[str, Any]) -> None:
        with self.fake.lock:
            self.attempts.append(attempt)
            self.attempts.sort(key=lambda a: str(a["created_at"]), reverse=True)

    def deliver(self, event_type: str, first_at: datetime, codes: list[int]) -> str:
        """An event delivered once per code in `codes`, on Moyasar's retry schedule."""
        event_id = str(uuid.uuid4())
        for number, code in enumerate(codes[:len(RETRY_DELAYS)]):
            self.add_attempt(webhook_attempt(event_id, event_type, code,
                                             first_at + RETRY_DELAYS[number], number,
                                             self.webhook_id))
        return event_id

    def reject(self, event_type: str, first_at: datetime, until: datetime) -> str:
        """An event the app answered 401 on every attempt made before `until`."""
        tries = sum(1 for delay in RETRY_DELAYS if first_at + delay <= until)
        return self.deliver(event_type, first_at, [401] * max(1, tries))


def serve_webhook_log(fake: FakeMoyasar) -> WebhookLog:
    """Add the attempts route, and a single-payment route for every payment the fake holds."""
    log = WebhookLog(fake)
    with fake.lock:
        fake.routes[("GET", "/v1/webhooks/attempts")] = \
            lambda r: json_response(page(log.attempts, "webhook_attempts", r))
        for existing in fake.payments:
            log.serve_payment(existing)
    return log
