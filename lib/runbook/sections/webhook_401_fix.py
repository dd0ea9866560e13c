"""The fix for a webhook 401: set Railway's `MOYASAR_WEBHOOK_SECRET` to the dashboard's copy.

Moyasar sends exactly the string its dashboard holds, so the app's copy is the one to change.
Railway's `variableUpsert` redeploys the service; the fix then probes the webhook with the
dashboard's copy until the new deployment accepts it (or the wait runs out: `webhook.app_stale`).

It is a guarded action (`runbook.sections.kit.actions`): planned first, a dry run unless
`confirm=True`,
one responder at a time, never twice in an incident, recorded either way as
`{"name": "railway.variable_upsert", "dry_run", "target": "MOYASAR_WEBHOOK_SECRET", "result", …}`
with fingerprints only. The value itself is never shown or recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runbook.clients.railway import RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.findings import failed, passed
from runbook.core.redaction import fingerprint
from runbook.sections.kit.actions import Action, Outcome, StepLog
from runbook.sections.webhook_401 import (
    FIX,
    FIX_STALE,
    RAILWAY_VARIABLE,
    SecretCopies,
    post_event,
    same,
)

__all__ = ["plan_fix", "wait_until_accepted"]

ACTION = "railway.variable_upsert"
DEFAULT_WAIT_SECONDS = 300.0     # a Railway redeploy of Dealix takes a few minutes
DEFAULT_POLL_SECONDS = 10.0


def wait_until_accepted(config: Config, timeouts: Timeouts, token: str, wait_seconds: float,
                        poll_seconds: float,
                        clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep,
                        incident_id: str = "") -> tuple[bool, str, float]:
    """Probe with `token` until the app accepts it or `wait_seconds` pass.
    Returns (accepted, the last answer, seconds waited)."""
    started = clock()
    while True:
        answer = post_event(config, timeouts, token, incident_id)
        waited = clock() - started
        if answer.status is not None and 200 <= answer.status < 300:
            return True, answer.describe(), waited
        if waited + poll_seconds > wait_seconds:
            return False, answer.describe(), waited
        sleep(poll_seconds)


def plan_fix(config: Config, timeouts: Timeouts, copies: SecretCopies,
             wait_seconds: float = DEFAULT_WAIT_SECONDS,
             poll_seconds: float = DEFAULT_POLL_SECONDS, incident_id: str = "") -> Action:
    """The action that sets Railway's MOYASAR_WEBHOOK_SECRET to the dashboard's copy; run it
    with `runbook.sections.kit.actions.run(rb, action, confirm=…)`."""
    app, dashboard = copies.app, copies.dashboard
    details: dict[str, object] = {
        "fingerprint_before": fingerprint(app.value) if app.value else None,
        "fingerprint_after": fingerprint(dashboard.value) if dashboard.value else None,
        "length_after": len(dashboard.value) if dashboard.value else None}
    service = config.railway.service_id if config.railway else "(no [railway] section)"
    plan = (f"set {RAILWAY_VARIABLE} on Railway service {service} to the dashboard's copy "
            f"({details['fingerprint_before'] or 'unset'} → "
            f"{details['fingerprint_after'] or 'unknown'}, {details['length_after']} chars); "
            "Railway redeploys the service; then POST the dashboard's copy to the webhook "
            f"until it is accepted (at most {wait_seconds:.0f}s)")
    blocked = ""
    if not dashboard.value:
        blocked = (f"the dashboard's copy is not known ({dashboard.source}): type it in the "
                   "password field or set the env var, then plan again")
    elif app.value is not None and same(app.value, dashboard.value):
        blocked = ("not needed: Railway's copy already equals the dashboard's; if deliveries "
                   "still get 401, redeploy the service")
    elif config.railway is None:
        blocked = "no [railway] section to change the variable through; by hand: " + FIX
    token = dashboard.value or ""

    def execute(log: StepLog) -> Outcome:
        client = RailwayClient.from_config(config, timeouts)
        log.step(f"variableUpsert {RAILWAY_VARIABLE} (fingerprint "
                 f"{details['fingerprint_after']})")
        if not client.variable_upsert(RAILWAY_VARIABLE, token):
            return Outcome(False, "Railway answered variableUpsert = false: the variable was "
                           "not set")
        log.step("variable set; Railway redeploys; probing the webhook with the dashboard's "
                 "copy")
        accepted, answer, waited = wait_until_accepted(config, timeouts, token, wait_seconds,
                                                       poll_seconds, incident_id=incident_id)
        log.step(f"last answer after {waited:.0f}s: {answer}")
        if accepted:
            return Outcome(True, f"variable set; the app accepts the dashboard's copy after "
                           f"{waited:.0f}s", [passed(
                               "webhook.ok", "After the change the app accepts the dashboard's "
                               "copy: Moyasar's deliveries go through again", answer=answer,
                               seconds=round(waited, 1))])
        return Outcome(False, f"variable set, but the app still answers {answer} after "
                       f"{waited:.0f}s", [failed(
                           "webhook.app_stale", "The variable is set but the app still rejects "
                           f"the dashboard's copy after {waited:.0f}s: the redeploy has not "
                           "finished or did not happen", FIX_STALE, answer=answer)])

    return Action(ACTION, RAILWAY_VARIABLE, plan, execute, details, blocked=blocked)
