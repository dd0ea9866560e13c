"""Moyasar's webhook delivery log and payments: which deliveries the app rejected, and which
payments the business may never have recorded because of it.

`GET /v1/webhooks/attempts` lists every delivery attempt (event id and type, the HTTP code the
app answered, when). Moyasar retries a failed delivery 5 more times and then drops the event, so
each event answered 401 can be a payment notice the app never processed.

An attempt names its event, not the payment the event is about, so the payments to reconcile are
found from the other side: every payment Moyasar changed since the first rejected delivery
(past `initiated`, the one state no event reports), each re-fetched with
`GET /v1/payments/{id}` so the table shows its state now. That errs towards listing a payment
too many, never one too few.

HTTP Basic with the secret key as the user and an empty password. Only GETs: this module never
changes anything at Moyasar.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook.clients.http import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.clock import both_zones, iso, now, parse_iso
from runbook.core.config import Config, MoyasarConfig
from runbook.core.errors import AuthError, ConfigError, RunbookError, ServiceUnavailable
from runbook.core.findings import Finding, errored, failed, passed, skipped
from runbook.core.redaction import registry

SERVICE = "Moyasar"
ATTEMPTS_PATH = "/webhooks/attempts"
PAYMENTS_PATH = "/payments"
MAX_PAGES = 50            # 50 pages of attempts is days of traffic; more is reported, not read
MAX_REFETCH = 100         # payments re-fetched one by one; the rest are listed as they were
# An event is created when the payment changes; its first delivery follows within moments.
EVENT_TO_DELIVERY_MARGIN = timedelta(minutes=5)
# A payment created this long before the window can still change in it (a refund, a capture).
CHANGE_AFTER_CREATION = timedelta(days=1)

KEY_FIX = ("use the live secret key (sk_live_…) from Moyasar Dashboard → Settings → API Keys; "
           "a publishable key (pk_…) or a test key cannot read the delivery log")


class MoyasarKeyRejected(AuthError):
    """Moyasar answered 401: the key is wrong, revoked, or of the wrong kind."""


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


class MoyasarWebhooksClient:
    def __init__(self, settings: MoyasarConfig, key: str, timeouts: Timeouts) -> None:
        self.settings = settings
        self._key = key
        self.timeouts = timeouts

    @classmethod
    def from_config(cls, config: Config, timeouts: Timeouts) -> MoyasarWebhooksClient:
        settings = config.moyasar
        if settings is None:
            raise ConfigError(f"{config.path}: no [moyasar] section: add api_url and "
                              "secret_key_env")
        key = required_secret(SERVICE, settings.secret_key_env,
                              f"export Moyasar's secret key in it ({KEY_FIX})")
        return cls(settings, key, timeouts)

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

    def _pages(self, path: str, key: str, max_pages: int,
               enough: Callable[[list[Any]], bool] | None = None) -> Listing:
        """Follow `meta.next_page` until it is null, `max_pages` pages are read, or `enough`
        says a page reached past what is needed."""
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
            if enough is not None and enough(body[key]):
                return Listing(items, pages, None, False)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            count = (meta or {}).get("total_count")
            total = count if isinstance(count, int) else total
            following = (meta or {}).get("next_page")
            number = following if isinstance(following, int) and following > number else None
        return Listing(items, pages, total, number is not None)

    def attempts(self, max_pages: int = MAX_PAGES) -> tuple[list[WebhookAttempt], Listing]:
        listing = self._pages(ATTEMPTS_PATH, "webhook_attempts", max_pages)
        return [WebhookAttempt.from_json(node) for node in listing.items], listing

    def payments(self, created_after: datetime | None = None,
                 max_pages: int = MAX_PAGES) -> tuple[list[Payment], Listing]:
        """Payments, newest first; with `created_after`, paging stops at the first page made
        only of older payments."""
        def older(nodes: list[Any]) -> bool:
            if created_after is None or not nodes:
                return False
            return all(Payment.from_json(n).created_at < created_after for n in nodes)

        listing = self._pages(PAYMENTS_PATH, "payments", max_pages, older)
        return [Payment.from_json(node) for node in listing.items], listing

    def payment(self, payment_id: str) -> Payment:
        return Payment.from_json(self._get(f"{PAYMENTS_PATH}/{payment_id}"))


def _reason(message: str) -> str:
    """'credentials refused (401 {...})…' → the part Moyasar said, without our own hint."""
    start, end = message.find("("), message.rfind(")")
    return message[start + 1:end] if 0 <= start < end else message


@dataclass(frozen=True)
class RejectedEvent:
    """One event whose deliveries the app answered 401 within the window."""

    event_id: str
    event_type: str
    attempts: int
    first_at: datetime
    last_at: datetime
    delivered_later: bool     # a later attempt got a 2xx: Moyasar's retry got through


def rejected_events(attempts: Iterable[WebhookAttempt], since: datetime) -> list[RejectedEvent]:
    """Group the 401 answers since `since` by event, oldest first."""
    by_event: dict[str, list[WebhookAttempt]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt.event_id, []).append(attempt)
    result = []
    for event_id, tries in by_event.items():
        rejected = [a for a in tries if a.response_code == 401 and a.created_at >= since]
        if not rejected:
            continue
        last_rejection = max(a.created_at for a in rejected)
        delivered = any(a.response_code is not None and 200 <= a.response_code < 300
                        and a.created_at > last_rejection for a in tries)
        result.append(RejectedEvent(event_id, rejected[0].event_type, len(rejected),
                                    min(a.created_at for a in rejected), last_rejection,
                                    delivered))
    return sorted(result, key=lambda e: e.first_at)


def payments_to_reconcile(client: MoyasarWebhooksClient, events: list[RejectedEvent],
                          max_pages: int = MAX_PAGES) -> tuple[list[Payment], bool]:
    """The payments Moyasar changed while deliveries were rejected, re-fetched one by one.

    Returns them newest first, and whether the page or re-fetch bound cut the list short."""
    pending = [e for e in events if not e.delivered_later]
    if not pending:
        return [], False
    start = min(e.first_at for e in pending) - EVENT_TO_DELIVERY_MARGIN
    listed, listing = client.payments(start - CHANGE_AFTER_CREATION, max_pages)
    candidates = [p for p in listed if p.updated_at >= start and p.status != "initiated"]
    candidates.sort(key=lambda p: p.updated_at, reverse=True)
    fresh = [client.payment(p.id) for p in candidates[:MAX_REFETCH]]
    return fresh + candidates[MAX_REFETCH:], listing.truncated or len(candidates) > MAX_REFETCH


# -- the report -------------------------------------------------------------------------------

FIX_RECONCILE = ("Moyasar dropped each of these events after 6 attempts: for every payment "
                 "listed, check Dealix's records (subscription active, invoice paid) and update "
                 "them by hand; then fix the secret so new deliveries go through")


@dataclass(frozen=True)
class AtRisk:
    """What the delivery log says: the rejected events and the payments to reconcile."""

    findings: list[Finding]
    since: datetime
    events: list[RejectedEvent] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)

    def event_rows(self) -> list[dict[str, str]]:
        return [{"event id": e.event_id, "type": e.event_type, "401s": str(e.attempts),
                 "first": both_zones(e.first_at), "last": both_zones(e.last_at),
                 "later delivered": "yes" if e.delivered_later else "no"} for e in self.events]

    def payment_rows(self) -> list[dict[str, str]]:
        return [payment_row(p) for p in self.payments]

    def __repr__(self) -> str:
        lines = [f"Deliveries answered 401 since {both_zones(self.since)}: "
                 f"{sum(e.attempts for e in self.events)} (events: {len(self.events)})"]
        lines += [f"  {r['event id']}  {r['type']:<20} {r['401s']}× 401, first {r['first']}"
                  for r in self.event_rows()]
        lines.append(f"Payments to reconcile: {len(self.payments)}")
        lines += [f"  {r['id']}  {r['amount']:>14}  {r['status']:<10} {r['time']}"
                  for r in self.payment_rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<h4>Deliveries answered 401 since {html.escape(both_zones(self.since))}</h4>"
                + _table(self.event_rows(), "no delivery was rejected")
                + "<h4>Payments to reconcile</h4>"
                + _table(self.payment_rows(), "nothing to reconcile"))


def payment_row(payment: Payment) -> dict[str, str]:
    return {"id": payment.id, "amount": payment.amount_text, "status": payment.status,
            "time": both_zones(payment.updated_at)}


def _table(rows: list[dict[str, str]], empty: str) -> str:
    if not rows:
        return f"<p><i>{html.escape(empty)}</i></p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values())
                   + "</tr>" for row in rows)
    return (f"<table class='runbook-table'><thead><tr>{head}</tr></thead><tbody>{body}"
            "</tbody></table>")


def deliveries_at_risk(config: Config, timeouts: Timeouts, since: datetime,
                       max_pages: int = MAX_PAGES) -> AtRisk:
    """Count the deliveries answered 401 since `since` and list the payments to reconcile.

    A refused key, an unset key or a Moyasar failure is a finding, never an exception."""
    code = "webhook.deliveries"
    settings = config.moyasar
    if settings is None:
        return AtRisk([skipped(code, "Moyasar is not configured (no [moyasar] section): the "
                               "delivery log was not read")], since)
    if not registry().read_env(settings.secret_key_env):
        return AtRisk([skipped(code, f"${settings.secret_key_env} is not set: the delivery log "
                               f"was not read ({KEY_FIX})")], since)
    try:
        moyasar = MoyasarWebhooksClient.from_config(config, timeouts)
        attempts, listing = moyasar.attempts(max_pages)
        events = rejected_events(attempts, since)
        payments, cut = payments_to_reconcile(moyasar, events, max_pages)
    except RunbookError as exc:
        return AtRisk([errored(code, str(exc), error=type(exc).__name__)], since)
    rejected = sum(e.attempts for e in events)
    evidence: dict[str, Any] = {
        "since": iso(since), "attempts_read": len(attempts), "pages_read": listing.pages_read,
        "rejected_attempts": rejected,
        "events": [{"event_id": e.event_id, "event_type": e.event_type, "attempts": e.attempts,
                    "first_at": iso(e.first_at), "last_at": iso(e.last_at),
                    "delivered_later": e.delivered_later} for e in events],
        "payments": [{"id": p.id, "amount": p.amount, "currency": p.currency,
                      "status": p.status, "time": iso(p.updated_at)} for p in payments],
        "truncated": listing.truncated or cut}
    more = " (the log is longer than was read)" if listing.truncated else ""
    if not events:
        finding = passed(code, f"No delivery answered 401 since {both_zones(since)} "
                         f"({len(attempts)} attempts read{more})", **evidence)
    else:
        finding = failed(code, f"{rejected} deliveries of {len(events)} events answered 401 "
                         f"since {both_zones(since)}{more}; {len(payments)} payments to "
                         "reconcile", FIX_RECONCILE, **evidence)
    return AtRisk([finding], since, events, payments)


def window_start(incident_started: datetime, lookback_hours: float) -> datetime:
    """Where counting starts: the incident's start, or `lookback_hours` before now if that is
    earlier. Deliveries fail before anyone opens an incident, and Moyasar's retries of one
    event span hours."""
    return min(incident_started, now() - timedelta(hours=max(0.0, lookback_hours)))
