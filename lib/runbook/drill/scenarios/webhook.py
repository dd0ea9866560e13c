"""Moyasar webhook 401 scenarios: the app's and the dashboard's copies of the secret differ
(`webhook-401`), or differ only by a trailing newline pasted into Railway
(`webhook-401-whitespace`). Either way Moyasar's recent deliveries were answered 401, and the
payments they announced are waiting to be reconciled."""

from __future__ import annotations

import secrets as _random
from datetime import UTC, datetime, timedelta

from runbook.drill.fakes.moyasar import DASHBOARD_SECRET_ENV, payment, with_moyasar
from runbook.drill.fakes.moyasar_webhooks import serve_webhook_log
from runbook.drill.fakes.railway import Mutation, with_railway
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.target import Target
from runbook.sections.webhook_401 import RAILWAY_VARIABLE

NOTEBOOK = "webhook_401"


def drill_secret() -> str:
    """A fresh webhook secret in the form Moyasar's dashboard suggests."""
    return "whsec_" + _random.token_urlsafe(24)


def webhook_rejecting(target: Target, app_copy: str, dashboard_copy: str) -> None:
    """The app runs with `app_copy` (also Railway's variable); Moyasar signs with
    `dashboard_copy`. A variableUpsert of the secret is picked up as a redeploy would."""
    railway = with_railway(target)
    moyasar = with_moyasar(target)
    target.extras["railway"].dealix.variables[RAILWAY_VARIABLE] = app_copy
    target.app.state.webhook_secret = app_copy
    target.secret(DASHBOARD_SECRET_ENV, dashboard_copy)

    def redeploy_with_new_secret(mutation: Mutation) -> None:
        spec = mutation.arguments.get("input") or {}
        if mutation.name == "variableUpsert" and spec.get("name") == RAILWAY_VARIABLE:
            with target.app.lock:
                target.app.state.webhook_secret = str(spec.get("value"))

    railway.on_mutation.append(redeploy_with_new_secret)

    log = serve_webhook_log(moyasar)
    now = datetime.now(UTC)
    # Before the incident: a delivery that went through.
    log.deliver("payment_paid", now - timedelta(hours=3), [200])
    # Since the secret went wrong: every delivery answered 401, retried on Moyasar's schedule.
    for minutes, amount, status, event in ((40, 29900, "paid", "payment_paid"),
                                           (25, 79900, "paid", "payment_paid"),
                                           (10, 9900, "failed", "payment_failed")):
        at = now - timedelta(minutes=minutes)
        log.add_payment(payment(amount=amount, status=status, at=at))
        log.reject(event, at + timedelta(seconds=2), now)


def mismatch(target: Target) -> None:
    webhook_rejecting(target, drill_secret(), drill_secret())


def trailing_newline(target: Target) -> None:
    dashboard_copy = drill_secret()
    webhook_rejecting(target, dashboard_copy + "\n", dashboard_copy)


register(Scenario(
    "webhook-401", "Railway's MOYASAR_WEBHOOK_SECRET differs from the secret in Moyasar's "
    "dashboard: every delivery gets 401", NOTEBOOK, mismatch,
    expect_failing=("webhook.secret_mismatch", "webhook.deliveries"),
    expect_passing=("webhook.endpoint_checks",)))
register(Scenario(
    "webhook-401-whitespace", "Railway's copy of the webhook secret has a trailing newline: "
    "every delivery gets 401", NOTEBOOK, trailing_newline,
    expect_failing=("webhook.secret_whitespace", "webhook.deliveries"),
    expect_passing=("webhook.endpoint_checks",)))
