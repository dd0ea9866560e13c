"""Generates notebooks/db_refused.ipynb (from the repo root: python -m tools.make_db_refused)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/db_refused.ipynb", [
    md("""
# Database connection refused

The runbook's entry: likely cause, `DATABASE_URL` is wrong or the Postgres add-on is down.
Fix: Railway → PostgreSQL service → check status, copy the connection string, update the env
var, redeploy. This notebook makes the diagnosis exact: it finds the URL the app uses, tries it
stage by stage, names the failing stage's cause and fix, and offers the fix action.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
connect_timeout: float = 0.0  # seconds per stage; 0: [database] connect_timeout
confirm: bool = False  # True: really update DATABASE_URL on Railway (redeploys the app)
actor: str = ""  # who confirms: the Slack user id of a button press; empty: the local user
act_despite_unknown: bool = False  # True: act even if an earlier attempt's outcome is unknown
expected_fingerprint: str = ""  # the new value's fingerprint a plan showed: refuse another
"""),
    code("""
from runbook.sections.kit import session
from runbook.sections import db_refused

rb = session.start("db_refused", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started, actor=actor)
rb.config.service.name
"""),
    md("""
## Where the app's `DATABASE_URL` comes from
The env var the config names, else the app's Railway variables; compared with the Postgres
service's own current URL where `[database] railway_service_id` is set. Only redacted forms
are shown: host, port, database, user, and a fingerprint of the password.
"""),
    code("""
lookup = db_refused.find_url(rb.config, rb.timeouts)
rb.report(lookup.findings, title="DATABASE_URL against the Postgres service's current URL")
"""),
    md("""
## Railway → PostgreSQL service → check status
"""),
    code("""
rb.report(db_refused.service_status(rb.config, rb.timeouts), title="The Postgres service")
"""),
    md("""
## The connection, stage by stage
Parse, DNS, TCP connect, the Postgres handshake (TLS), authentication, `SELECT 1`, then the
server's version and its connections against `max_connections`. Each stage is timed; the
first failure ends the walk.
"""),
    code("""
diagnosis = db_refused.diagnose(lookup, db_refused.connect_timeout(rb.config, connect_timeout))
diagnosis.table()
"""),
    code("""
rb.report(diagnosis.findings, title="Diagnosis")
"""),
    md("""
## The fix for the failing stage
"""),
    code("""
diagnosis.fix()
"""),
    md("""
## Fix action: set the app's `DATABASE_URL` to the Postgres service's current URL, redeploy
Railway's `variableUpsert` redeploys the app. A dry run unless `confirm=True`; recorded
either way, never with the value.
"""),
    code("""
db_refused.fix_database_url(rb, lookup, diagnosis, confirm=confirm,
                            act_despite_unknown=act_despite_unknown,
                            expected_fingerprint=expected_fingerprint)
"""),
    md("""
## Severity and time left
"""),
    code("""
rb.assess()
"""),
])
