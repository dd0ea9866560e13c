"""The guarded fix: set the app's DATABASE_URL to the Postgres service's current URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.clients.railway import RailwayClient
from runbook.core.config import Config
from runbook.core.errors import BadInput
from runbook.core.findings import Status
from runbook.core.redaction import fingerprint
from runbook.sections.db_refused.lookup import RAILWAY_VARIABLE, UrlLookup
from runbook.sections.db_refused.settings import database_settings
from runbook.sections.db_refused.stages import Diagnosis
from runbook.sections.kit import actions, widgets
from runbook.sections.kit.actions import Action, ActionResult, Outcome, StepLog
from runbook.sections.kit.verification import health_verification

if TYPE_CHECKING:
    from runbook.sections.kit.session import Session
    from runbook.sections.kit.widgets import ConfirmButton

UPSERT_ACTION = "railway.variable_upsert"


def plan_url_fix(config: Config, lookup: UrlLookup, diagnosis: Diagnosis) -> tuple[str, str]:
    """(target, why-not): `why-not` is empty when updating DATABASE_URL is the fix."""
    settings = database_settings(config)
    railway = config.railway
    target = (f"{RAILWAY_VARIABLE} on Railway service {railway.service_id}" if railway
              else f"{RAILWAY_VARIABLE} on the app service")
    if railway is None:
        return target, "no [railway] section in the config: set the variable by hand"
    if not settings.railway_service_id:
        return target, ("[database] railway_service_id is not set: the Postgres service's "
                        "current URL is unknown")
    if lookup.service_url() is None:
        return target, "the Postgres service publishes no usable DATABASE_URL"
    mismatch = any(f.code == "db.url_mismatch" and f.status is Status.FAIL
                   for f in lookup.findings)
    if not mismatch and lookup.url is not None:
        if diagnosis.failing is None:
            return target, "not needed: the URL matches and the database answers"
        return target, ("not needed: the app's URL already is the Postgres service's current "
                        "one; the fault is the service itself: " + diagnosis.verdict.fix)
    return target, ""


def url_fix_action(rb: Session, lookup: UrlLookup, diagnosis: Diagnosis) -> Action:
    """The guarded fix: set the app's DATABASE_URL to the Postgres service's current URL
    (Railway redeploys on variableUpsert). Never shows the value; blocked with the reason
    when updating the variable is not the fix."""
    config = rb.config
    target, why_not = plan_url_fix(config, lookup, diagnosis)
    chosen = lookup.service_url()
    if why_not or chosen is None:
        return Action(UPSERT_ACTION, target, "", _not_planned,
                      blocked=why_not or "the Postgres service's current URL is not known")
    name, url = chosen
    what = (f"set {RAILWAY_VARIABLE} to the Postgres service's current {name} "
            f"({url.display()}) and redeploy the app")
    value = lookup.service_values[name]

    def execute(log: StepLog) -> Outcome:
        client = RailwayClient.from_config(config, rb.timeouts)
        log.step(f"variableUpsert {RAILWAY_VARIABLE} ← the Postgres service's {name}")
        if not client.variable_upsert(RAILWAY_VARIABLE, value):
            return Outcome(False, "Railway answered variableUpsert with false: nothing changed")
        return Outcome(True, f"done: {what}; Railway is redeploying — run this notebook again "
                       "once the deployment is Active",
                       done=f"set {RAILWAY_VARIABLE} to the Postgres service's {name}")

    # Fingerprints only (the first 8 hex of each value's SHA-256): a Slack button or a record
    # can name the change without the value.
    after = fingerprint(value)
    return Action(UPSERT_ACTION, target, what, execute,
                  details={"source": name, "url": url.display(),
                           "fingerprint_before": lookup.app_fingerprint,
                           "fingerprint_after": after},
                  # Railway redeploys the app with the new value: the post-check waits for the
                  # service's health to hold, as after a rollback.
                  verification=health_verification(rb, UPSERT_ACTION), aim=after,
                  headline=f"set {RAILWAY_VARIABLE} {lookup.app_fingerprint or 'unset'} → "
                  f"{after} (the Postgres service's {name}) and redeploy")


def _not_planned(log: StepLog) -> Outcome:  # pragma: no cover - a blocked action never runs
    raise BadInput("a blocked action cannot be executed")


def changed_since_plan(action: Action, expected_fingerprint: str) -> Action | None:
    """The fix refused, when the value it would set is not the one a plan showed (its
    fingerprint, as on a Slack button "Set DATABASE_URL a → b"): the Postgres service's URL
    was rotated again since, and setting it under the old label would set what nobody saw."""
    now = str(action.details.get("fingerprint_after") or "")
    if not expected_fingerprint or action.blocked or now == expected_fingerprint:
        return None
    return Action(action.name, action.target, action.plan, _not_planned,
                  details={**action.details, "fingerprint_planned": expected_fingerprint},
                  blocked=(f"the Postgres service's {action.details.get('source')} changed "
                           f"since the plan was shown: the value to set now has the "
                           f"fingerprint {now}, the plan's was {expected_fingerprint}. Nothing "
                           f"was set; a new plan is needed "
                           f"({action.details.get('fingerprint_before') or 'unset'} → {now})"))


def fix_database_url(rb: Session, lookup: UrlLookup, diagnosis: Diagnosis,
                     confirm: bool = False, act_despite_unknown: bool = False,
                     expected_fingerprint: str = "") -> ActionResult | ConfirmButton:
    """The fix behind the guards: a confirm button in JupyterLab, else a dry run unless
    `confirm`; one responder at a time, never twice in an incident, recorded either way.
    `act_despite_unknown`: act even though an earlier attempt's outcome was never seen.
    `expected_fingerprint` (a Slack press passes its plan's): refuse, and plan the new value
    as a dry run (so a new button can offer it), when the value to set is another."""
    action = url_fix_action(rb, lookup, diagnosis)
    refused = changed_since_plan(action, expected_fingerprint)
    if refused is not None:
        result = actions.run(rb, refused, confirm=confirm)
        actions.run(rb, action, confirm=False)
        return result
    return widgets.confirm(rb, action, confirm=confirm,
                           act_despite_unknown=act_despite_unknown)
