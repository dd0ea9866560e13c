"""Moyasar's API (`/v1`, HTTP Basic with the secret key as the user and an empty password):
the payments list and one payment, the webhook delivery log, and a timed call that tells
whether Moyasar itself answers (it publishes no status API).

`GET /v1/webhooks/attempts` lists every delivery attempt (event id and type, the HTTP code the
app answered, when); `GET /v1/payments` pages through payments; `GET /v1/payments/{id}`
re-fetches one. Lists are paged with `page` in and `meta.next_page` out, up to a bound on the
pages read. Only GETs: this module never changes anything at Moyasar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from runbook.clients.transport import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.clock import parse_iso
from runbook.core.config import Config, MoyasarConfig
from runbook.core.errors import AuthError, ConfigError, MoyasarKeyRejected, ServiceUnavailable

SERVICE = "Moyasar"
ATTEMPTS_PATH = "/webhooks/attempts"
PAYMENTS_PATH = "/payments"
MAX_PAGES = 50            # the default of `[moyasar] max_pages`

KEY_FIX = ("use the live secret key (sk_live_…) from Moyasar Dashboard → Settings → API Keys; "
           "a publishable key (pk_…) or a test key cannot read the delivery log")


@dataclass(frozen=True)
class WebhookAttempt:
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    retry_number: int
    result: str
    message: str
    response_code: int | None
    created_at: datetime

    @classmethod
    def from_json(cls, node: Any) -> WebhookAttempt:
        if not isinstance(node, dict) or not node.get("id") or not node.get("created_at"):
            raise ServiceUnavailable(SERVICE, "a webhook attempt without id or created_at")
        code = node.get("response_code")
        try:
            created = parse_iso(str(node["created_at"]))
        except ValueError:
            raise ServiceUnavailable(SERVICE, f"webhook attempt {node['id']} has an unreadable "
                                     f"created_at {node['created_at']!r}") from None
        retry = node.get("retry_number")
        return cls(id=str(node["id"]), webhook_id=str(node.get("webhook_id") or ""),
                   event_id=str(node.get("event_id") or ""),
                   event_type=str(node.get("event_type") or ""),
                   retry_number=retry if isinstance(retry, int) else 0,
                   result=str(node.get("result") or ""), message=str(node.get("message") or ""),
                   response_code=code if isinstance(code, int) else None, created_at=created)


@dataclass(frozen=True)
class Payment:
    id: str
    status: str
    amount: int               # in the currency's smallest unit (halalas for SAR)
    currency: str
    created_at: datetime
    updated_at: datetime
    description: str

    @property
    def amount_text(self) -> str:
        return f"{self.amount / 100:,.2f} {self.currency}"

    @classmethod
    def from_json(cls, node: Any) -> Payment:
        if not isinstance(node, dict) or not node.get("id"):
            raise ServiceUnavailable(SERVICE, "a payment without id")
        try:
            created = parse_iso(str(node.get("created_at")))
            updated = parse_iso(str(node.get("updated_at") or node.get("created_at")))
        except ValueError:
            raise ServiceUnavailable(SERVICE, f"payment {node['id']} has an unreadable "
                                     "created_at or updated_at") from None
        amount = node.get("amount")
        return cls(id=str(node["id"]), status=str(node.get("status") or "unknown"),
                   amount=amount if isinstance(amount, int) else 0,
                   currency=str(node.get("currency") or "SAR"), created_at=created,
                   updated_at=updated, description=str(node.get("description") or ""))


@dataclass(frozen=True)
class Listing:
    """Everything read from one paginated list, and whether the page bound cut it short."""

    items: list[Any]
    pages_read: int
    total_count: int | None
    truncated: bool


class MoyasarClient:
    def __init__(self, settings: MoyasarConfig, key: str, timeouts: Timeouts) -> None:
        self.settings = settings
        self._key = key
        self.timeouts = timeouts

    @classmethod
    def from_config(cls, config: Config, timeouts: Timeouts) -> MoyasarClient:
        settings = config.moyasar
        if settings is None:
            raise ConfigError(f"{config.path}: no [moyasar] section: add api_url and "
                              "secret_key_env")
        key = required_secret(SERVICE, settings.secret_key_env,
                              f"export Moyasar's secret key in it ({KEY_FIX})")
        return cls(settings, key, timeouts)

    def probe(self) -> tuple[httpx.Response, Any, float]:
        """One timed, authenticated `GET /payments?per_page=1`: (response, body, seconds).
        AuthError for a refused key (never an outage), RateLimited, ServiceUnavailable."""
        url = self.settings.api_url.rstrip("/") + PAYMENTS_PATH
        started = time.monotonic()
        with client(self.timeouts, auth=(self._key, "")) as http:
            response = request(http, SERVICE, "GET", url,
                               credential_env=self.settings.secret_key_env,
                               max_rate_limit_wait=self.timeouts.read, params={"per_page": "1"})
            body = json_body(response, SERVICE)
        return response, body, time.monotonic() - started

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.settings.api_url.rstrip("/") + path
        env = self.settings.secret_key_env
        try:
            with client(self.timeouts, auth=(self._key, "")) as http:
                response = request(http, SERVICE, "GET", url, credential_env=env,
                                   max_rate_limit_wait=self.timeouts.read, params=params or {})
        except AuthError as exc:
            raise MoyasarKeyRejected(SERVICE, f"Moyasar refused the secret key in ${env} "
                                     f"({_reason(str(exc))}): {KEY_FIX}") from None
        if response.status_code != 200:
            raise ServiceUnavailable(SERVICE, f"GET {path} answered {response.status_code}: "
                                     f"{excerpt(response.text)}")
        return json_body(response, SERVICE)

    def _pages(self, path: str, key: str, max_pages: int) -> Listing:
        """Follow `meta.next_page` until it is null or `max_pages` pages are read."""
        items: list[Any] = []
        number: int | None = 1
        pages = 0
        total: int | None = None
        while number is not None and pages < max_pages:
            body = self._get(path, {"page": str(number)})
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                raise ServiceUnavailable(SERVICE, f"GET {path} came back without a {key!r} list")
            items.extend(body[key])
            pages += 1
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            count = (meta or {}).get("total_count")
            total = count if isinstance(count, int) else total
            following = (meta or {}).get("next_page")
            number = following if isinstance(following, int) and following > number else None
        return Listing(items, pages, total, number is not None)

    def attempts(self, max_pages: int = 0) -> tuple[list[WebhookAttempt], Listing]:
        """Every webhook delivery attempt, up to `max_pages` (`[moyasar] max_pages` when 0)."""
        listing = self._pages(ATTEMPTS_PATH, "webhook_attempts",
                              max_pages or self.settings.max_pages)
        return [WebhookAttempt.from_json(node) for node in listing.items], listing

    def payments(self, created_after: datetime | None = None,
                 max_pages: int = 0) -> tuple[list[Payment], Listing]:
        """Payments created at or after `created_after` (all, without it), newest first.

        Moyasar does not promise the list's order, so no page is taken to mean the rest are
        older: every page is read and filtered by date, up to `max_pages` (`[moyasar]
        max_pages` when 0); the listing says when that bound cut it short."""
        listing = self._pages(PAYMENTS_PATH, "payments", max_pages or self.settings.max_pages)
        found = [Payment.from_json(node) for node in listing.items]
        if created_after is not None:
            found = [p for p in found if p.created_at >= created_after]
        return sorted(found, key=lambda p: p.created_at, reverse=True), listing

    def payment(self, payment_id: str) -> Payment:
        return Payment.from_json(self._get(f"{PAYMENTS_PATH}/{payment_id}"))


def _reason(message: str) -> str:
    """'credentials refused (401 {...})…' → the part Moyasar said, without our own hint."""
    start, end = message.find("("), message.rfind(")")
    return message[start + 1:end] if 0 <= start < end else message
