"""A fake of Moyasar's API (`/v1/...`) on loopback: HTTP Basic with the secret key as the user
and an empty password, and Moyasar's own 401 body for anything else.

Routes live in `routes` ({(method, path): handler}); add one to extend the fake (webhook
attempts, single payments…) without touching the auth or fault handling here.
"""

from __future__ import annotations

import base64
import secrets as _random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runbook.drill.fakes.faults import Faults
from runbook.drill.fakes.server import FakeService, Request, Response, json_response

if TYPE_CHECKING:
    from runbook.drill.target import Target

SECRET_KEY_ENV = "DRILL_MOYASAR_SECRET_KEY"
WEBHOOK_SECRET_ENV = "DRILL_MOYASAR_WEBHOOK_SECRET"
DASHBOARD_SECRET_ENV = "DRILL_MOYASAR_DASHBOARD_WEBHOOK_SECRET"
UNAUTHORIZED = {"type": "authentication_error", "message": "Invalid authorization credentials",
                "errors": None}

Handler = Callable[[Request], Response]


def payment(amount: int = 29900, status: str = "paid", at: datetime | None = None
            ) -> dict[str, Any]:
    """A payment object in Moyasar's shape (amounts in halalas)."""
    created = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"id": str(uuid.uuid4()), "status": status, "amount": amount, "fee": 0,
            "currency": "SAR", "refunded": 0, "refunded_at": None, "captured": amount,
            "captured_at": None, "voided_at": None,
            "description": "Dealix subscription", "amount_format": f"{amount / 100:.2f} SAR",
            "fee_format": "0.00 SAR", "refunded_format": "0.00 SAR",
            "captured_format": f"{amount / 100:.2f} SAR", "invoice_id": None, "ip": None,
            "callback_url": None, "created_at": created, "updated_at": created,
            "metadata": {}, "source": {"type": "creditcard", "company": "visa",
                                       "name": "Drill Customer", "number": "4111-11XX-XXXX-1111",
                                       "message": "APPROVED", "transaction_url": None}}


def page(items: list[Any], key: str, request: Request) -> dict[str, Any]:
    """Moyasar's pagination: `page`, `per_page` in; `meta` out."""
    per_page = int(request.arg("per_page", "20")) if request.arg("per_page").isdigit() else 20
    number = int(request.arg("page", "1")) if request.arg("page").isdigit() else 1
    per_page, number = max(1, per_page), max(1, number)
    total_pages = max(1, -(-len(items) // per_page))
    chosen = items[(number - 1) * per_page:number * per_page]
    return {key: chosen, "meta": {
        "current_page": number, "next_page": number + 1 if number < total_pages else None,
        "prev_page": number - 1 if number > 1 else None, "total_pages": total_pages,
        "total_count": len(items)}}


class FakeMoyasar(FakeService):
    name = "moyasar"

    def __init__(self, secret_key: str) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.faults = Faults()
        self.payments: list[dict[str, Any]] = []
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/v1/payments"): lambda r: json_response(page(self.payments, "payments", r)),
        }

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.secret_key

    def handle(self, request: Request) -> Response:
        canned = self.faults.take()
        if canned is not None:
            return canned
        if not self.authorized(request):
            return json_response(UNAUTHORIZED, 401)
        with self.lock:
            handler = self.routes.get((request.method, request.path))
            if handler is None:
                return json_response({"type": "api_error", "message": "Not Found",
                                      "errors": None}, 404)
            return handler(request)


def with_moyasar(target: Target) -> FakeMoyasar:
    """Serve a fake Moyasar for `target` with a few recent payments, the [moyasar] section and
    the secret key; also in `target.extras["moyasar"]`."""
    fake = FakeMoyasar(target.secret(SECRET_KEY_ENV, "sk_test_" + _random.token_hex(16)))
    now = datetime.now(UTC)
    fake.payments = [payment(at=now - timedelta(hours=h)) for h in (1, 5, 26)]
    server = target.serve(fake)
    target.sections["moyasar"] = {"api_url": server.url + "/v1",
                                  "secret_key_env": SECRET_KEY_ENV,
                                  "webhook_secret_env": WEBHOOK_SECRET_ENV,
                                  "dashboard_secret_env": DASHBOARD_SECRET_ENV}
    target.extras["moyasar"] = fake
    return fake
