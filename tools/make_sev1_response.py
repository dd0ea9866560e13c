"""Generates notebooks/sev1_response.ipynb.

Run from the repo root: python -m tools.make_sev1_response
"""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/sev1_response.ipynb", [
    md("""
# SEV-1 response — full outage

The runbook's **SEV-1 Response**: confirm within 5 minutes, diagnose and mitigate within 15.
Run it top to bottom; every finding is recorded in the incident's archive as it appears.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
confirm: bool = False  # headless: post the alert to Slack without a click
act_despite_unknown: bool = False  # True: act even if an earlier attempt's outcome is unknown
"""),
    code("""
from runbook.sections.kit import mitigation, session
from runbook.sections import sev1_response

rb = session.start("sev1_response", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started)
rb.config.service.base_url
"""),
    code("""
from runbook.sections.kit import banner
banner.status(rb)
"""),
    md("""
## Probe everything at once
`/healthz`, Railway, UptimeRobot, the database and Moyasar are asked at the same time, each
with its own timeout: a service that hangs costs one timeout, and shows as `error`. A service
that is not configured shows as `skipped`, with the reason. The deep check goes out only after
`/healthz` has its verdict: Dealix's single worker waits on the deep check's database connect,
which would make a healthy `/healthz` look slow.
"""),
    code("""
report = sev1_response.investigate(rb.config, rb.timeouts)
"""),
    md("""
## Within 5 minutes — Confirm
Open `/healthz`: **5xx or timeout → SEV-1**. The deep check says which dependency fails
(it answers 200 even when degraded; `skip` is a dependency not configured, not a failure).
`/healthz` and the public `/api/v1` route both 404: another app answers (a wrong start
command), follow the `/api/v1` 404 section.
"""),
    code("""
rb.report(report.confirm, title="Confirm: /healthz and the deep check")
"""),
    md("""
### Railway → service status and the latest deployment
"""),
    code("""
rb.report(report.railway, title="Railway: the latest deployment")
"""),
    md("""
### UptimeRobot → when did it start?
The newest *down* log of the monitor, in UTC and Riyadh time.
"""),
    code("""
rb.report(report.uptime, title="UptimeRobot")
"""),
    md("""
## Within 15 minutes — Diagnose
Last deploy in Railway (and the commit behind it)? DB connection? Moyasar API outage?
"""),
    code("""
rb.report(report.diagnose, title="Diagnose: last deploy, database, Moyasar")
"""),
    md("""
## All findings
"""),
    code("""
rb.all_findings()
"""),
    md("""
## Mitigate
Roll back the last deploy if a recent change caused it, restart the service in Railway, check
the env vars. The sections to open next, in order, each with the failing codes that call for
it (the run's record keeps the same list as `next`):
"""),
    code("""
mitigation.recommend(rb.findings)
"""),
    md("""
## Severity and time left
"""),
    code("""
rb.assess()
"""),
    md("""
## Who to call
The runbook's contact table (`[[contacts]]` in the config), for what has failed.
"""),
    code("""
from runbook.incident import contacts
contacts.who_to_call(rb.config, rb.findings)
"""),
    md("""
## Communicate
Slack `#dealix-alerts`: read the plan, then click to post it, once (headless: the `confirm`
parameter). The customer message for SEV-1 follows; send it from the comms notebook.
"""),
    code("""
from runbook.sections import comms
from runbook.sections.kit import widgets
widgets.confirm(rb, comms.slack_action(rb, comms.slack_text(rb)),
                confirm=confirm, act_despite_unknown=act_despite_unknown)
"""),
    code("""
comms.customer_message()
"""),
])
