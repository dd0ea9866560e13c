"""Generates notebooks/comms.ipynb (run from the repo root: python -m tools.make_comms)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/comms.ipynb", [
    md("""
# Communicate — Slack, the customer email, the status page

The runbook's **Communicate** step, as the SEV matrix says: SEV-1 → immediate Slack + email
customers; SEV-2 → Slack alert and a status page update; SEV-3 → the one customer.

**Nothing is sent unless `confirm=True`.** Without it, each message is shown and recorded as a
dry run. A message already sent in this incident is not sent again.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
confirm: bool = False  # True: send; False: dry run, show the messages only
act_despite_unknown: bool = False  # True: act even if an earlier attempt's outcome is unknown
kind: str = "outage"  # outage (first message) or resolved
update_minutes: int = 30  # the next update promised to customers, in minutes
channels: str = "auto"  # auto: by the SEV matrix; or a list such as slack,email,statuspage
headline: str = ""  # one line for Slack; empty: the first failing finding
recipients_csv: str = ""  # CSV with an email column; empty: [email] recipients_csv
recipients: str = ""  # extra addresses, comma-separated (SEV-3: the one customer)
statuspage_status: str = ""  # investigating, identified, monitoring or resolved; empty: from kind
statuspage_body: str = ""  # status page text; empty: the English customer message
"""),
    code("""
from runbook.sections.kit import session, widgets
from runbook.sections import comms
from runbook.incident import contacts
from runbook.checks import health

rb = session.start("comms", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started)
rb.incident_id
"""),
    md("""
## Where things stand
"""),
    code("""
rb.report(health.probe_healthz(rb.config, rb.timeouts), title="/healthz now")
"""),
    md("""
## Who is told
The incident's worst severity so far, from every run filed under it.
"""),
    code("""
route = comms.route(rb, channels)
route
"""),
    md("""
## The customer message
The runbook's Arabic message (right-to-left) and the English one, in one email.
"""),
    code("""
message = comms.customer_message(kind, update_minutes)
message
"""),
    md("""
## Slack → #dealix-alerts
"""),
    code("""
slack_text = comms.slack_text(rb, headline, kind, update_minutes)
widgets.confirm(rb, comms.slack_action(rb, slack_text, label=kind, chosen=route),
                confirm=confirm, act_despite_unknown=act_despite_unknown)
"""),
    md("""
## Email to customers
"""),
    code("""
widgets.confirm(rb, comms.email_action(rb, message, recipients_csv=recipients_csv,
                                       recipients=recipients, chosen=route),
                confirm=confirm, act_despite_unknown=act_despite_unknown)
"""),
    md("""
## Status page
"""),
    code("""
widgets.confirm(rb, comms.statuspage_action(
    rb, comms.statuspage_status_for(kind, statuspage_status), statuspage_body or message.english,
    chosen=route), confirm=confirm, act_despite_unknown=act_despite_unknown)
"""),
    md("""
## Who to contact
From the runbook's table (`[[contacts]]` in the config), for what has failed in this incident.
"""),
    code("""
contacts.who_to_call(rb.config, route.findings)
"""),
])
