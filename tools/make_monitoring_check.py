"""Generates notebooks/monitoring_check.ipynb (from the repo root:
python -m tools.make_monitoring_check)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/monitoring_check.ipynb", [
    md("""
# Monthly monitoring check

The runbook's **Monitoring Setup Check**, run monthly: Sentry alerts still fire (a test error
must arrive), UptimeRobot still polls, the Slack channel `#dealix-alerts` is alive, and the
emergency phone numbers are current. It sends one test error to Sentry and one test message to
Slack; both are recorded. Headless: `runbook run monitoring_check`.
"""),
    params("""
incident_id: str = ""             # file this run under an incident; empty: a new one
config_path: str = ""             # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
sentry_wait_seconds: float = 90.0  # how long to wait for the test error to show in Sentry
uptime_stale_minutes: float = 60.0  # a monitor with no check or log for longer is stale
contact_max_age_days: int = 31    # a contact verified longer ago must be confirmed again
"""),
    code("""
from runbook.sections.kit import session
from runbook.sections import monitoring_check

rb = session.start("monitoring_check", incident_id=incident_id, config_path=config_path,
                   rates_severity=False)
rb.config.service.name
"""),
    md("""
## The checks
All four at once; the Sentry check waits for its test error, up to `sentry_wait_seconds`.
"""),
    code("""
checks = monitoring_check.run_checks(
    rb.config, rb.timeouts, incident_id=rb.incident_id, sentry_wait_seconds=sentry_wait_seconds,
    uptime_stale_minutes=uptime_stale_minutes, contact_max_age_days=contact_max_age_days)
"""),
    md("""
## Checklist
Each failing line has its fix in the findings below. Update a contact's `verified` date in the
config once its details are confirmed.
"""),
    code("""
monitoring_check.record(rb, checks)
"""),
    code("""
rb.all_findings("Findings, with the fix for each failure")
"""),
])
