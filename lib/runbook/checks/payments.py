"""Moyasar's webhook delivery log as findings: which deliveries the app rejected, and which
payments the business may never have recorded because of it.

Moyasar retries a failed delivery 5 more times and then drops the event, so each event
answered 401 can be a payment notice the app never processed. An attempt names its event, not
the payment the event is about, so the payments to reconcile are found from the other side:
every payment Moyasar changed since the first rejected delivery (past `initiated`, the one
state no event reports), each re-fetched so the table shows its state now. That errs towards
listing a payment too many, never one too few.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook.clients.moyasar import KEY_FIX, MoyasarClient, Payment, WebhookAttempt
from runbook.clients.transport import Timeouts
from runbook.core.clock import both_zones, iso, now
from runbook.core.config import Config
from runbook.core.errors import RunbookError
from runbook.core.findings import Finding, errored, failed, passed, skipped
from runbook.core.redaction import registry

MAX_REFETCH = 100         # payments re-fetched one by one; the rest are listed as they were
# An event is created when the payment changes; its first delivery follows within moments.
EVENT_TO_DELIVERY_MARGIN = timedelta(minutes=5)
# A payment created this long before the window can still change in it (a refund, a capture).
CHANGE_AFTER_CREATION = timedelta(days=1)


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


def payments_to_reconcile(client: MoyasarClient, events: list[RejectedEvent],
                          max_pages: int = 0) -> tuple[list[Payment], bool]:
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
                       max_pages: int = 0) -> AtRisk:
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
        moyasar = MoyasarClient.from_config(config, timeouts)
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
