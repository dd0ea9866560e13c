"""Generates notebooks/webhook_401.ipynb: python -m tools.make_webhook_401 (from the repo root)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

FIX = """**Runbook fix:**
- Railway → Variables → `MOYASAR_WEBHOOK_SECRET`
- Moyasar Dashboard → Webhooks → same secret
- Must be identical string"""

write("notebooks/webhook_401.ipynb", [
    md("""
# Moyasar webhook returns 401

The runbook's **Issue: Moyasar webhook returns 401**. Likely cause: a secret mismatch. The app
checks the `secret_token` field of every delivery against its `MOYASAR_WEBHOOK_SECRET` and
answers 401 `bad_signature` when the strings differ. Moyasar retries a failed delivery 5 more
times and then drops it: every 401 can be a payment Dealix never recorded.

Run top to bottom. Secret values are never shown: only fingerprints (first 8 hex digits of a
SHA-256) and lengths. Nothing is sent to Moyasar; the live checks POST to Dealix's own webhook.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
lookback_hours: float = 24.0  # also count 401s from this long ago if the incident opened later
confirm: bool = False  # True: set Railway's MOYASAR_WEBHOOK_SECRET to the dashboard's copy
act_despite_unknown: bool = False  # True: act even if an earlier attempt's outcome is unknown
actor: str = ""  # who confirms: the Slack user id of a button press; empty: the local user
wait_seconds: float = 300.0  # after the change, how long to wait for the redeploy to accept it
"""),
    code("""
from runbook.sections.kit import session
from runbook.sections import webhook_401, webhook_401_fix
from runbook.sections.kit import widgets

rb = session.start("webhook_401", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started, actor=actor)
rb.config.url(rb.config.service.webhook_path)
"""),
    md("""
## Step 0 — The dashboard's copy (interactive only)
Open **Moyasar Dashboard → Webhooks**, copy the webhook's secret token and paste it here, then
press *Use this secret*. Skip this when `MOYASAR_DASHBOARD_WEBHOOK_SECRET` (the config's
`dashboard_secret_env`) is set. The field is emptied at once; the value is never saved.
"""),
    code("""
webhook_401.dashboard_secret_widget(rb.config)
"""),
    md("""
## Step 1 — Read both copies
The app's copy from Railway's variables (or the config's `webhook_secret_env`), the dashboard's
from the step above or its env var.
"""),
    code("""
copies = webhook_401.read_copies(rb.config, rb.timeouts)
copies
"""),
    md(f"""
## Step 2 — Compare them
Identical, equal except for whitespace or quotes (a classic copy-paste fault), different, or
missing. Compared in constant time.

{FIX}
"""),
    code("""
rb.report(webhook_401.compare(copies.app, copies.dashboard), title="Step 2: the two copies")
"""),
    md(f"""
## Step 3 — Prove it on the live endpoint
Three POSTs to the webhook URL: a random token (401 expected: the endpoint checks), the app's
copy (accepted expected), the dashboard's copy (what Moyasar sends). If the app rejects a
Railway copy that equals the dashboard's, it was not redeployed: `webhook.app_stale`. A 404,
501 or other 5xx means the app that answers is not Dealix.

**What the probe leaves in Dealix's database.** Dealix processes an accepted delivery for real.
The probe is an event of type `runbook_probe` (no payment event type), with no `data.status`,
and the id `runbook-probe-webhook-401-<incident id>`, the same on every probe of this incident.
The first accepted probe of the incident is stored as **one** event row with its raw body
(which holds the token, as every Moyasar delivery's does); every later probe of the incident is
answered `duplicate` and stores nothing. No receipt, invoice or WhatsApp alert is sent. The
random token is refused (401) before anything is stored. `duplicate` and `dlq` count as
accepted.

{FIX}
"""),
    code("""
rb.report(webhook_401.prove_live(rb.config, rb.timeouts, copies, rb.incident_id),
          title="Step 3: live endpoint")
"""),
    md("""
## Step 4 — Payments at risk
Moyasar's delivery log: the deliveries answered 401, and the payments Moyasar changed while
they were rejected, re-fetched now. Reconcile each with Dealix's records.
"""),
    code("""
since = webhook_401.window_start(rb.incident_started, lookback_hours)
at_risk = webhook_401.deliveries_at_risk(rb.config, rb.timeouts, since)
rb.report(at_risk.findings, title="Step 4: deliveries answered 401")
"""),
    code("""
at_risk
"""),
    md(f"""
## Step 5 — Fix
Set Railway's `MOYASAR_WEBHOOK_SECRET` to the dashboard's copy (Moyasar sends exactly that
string). Railway redeploys; the webhook is then probed until it accepts the dashboard's copy.
The first cell shows the plan; the second runs it: a **dry run** unless `confirm=True`,
one responder at a time, never twice in an incident, recorded either way.

{FIX}
"""),
    code("""
fix = webhook_401_fix.plan_fix(rb.config, rb.timeouts, copies, wait_seconds=wait_seconds,
                          incident_id=rb.incident_id)
fix
"""),
    code("""
widgets.confirm(rb, fix,
                confirm=confirm, act_despite_unknown=act_despite_unknown)
"""),
    md("""
## Severity and time left
"""),
    code("""
rb.assess()
"""),
])
