"""Generates notebooks/error_spike.ipynb.

Run from the repo root: python -m tools.make_error_spike
"""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/error_spike.ipynb", [
    md("""
# High error rate in Sentry

Likely cause: a new deploy or a traffic spike. The error series (5-minute buckets, last 24
hours) and Railway's latest deploy are fetched at once; the record keeps the last 6 hours of the
series, so the postmortem can draw it.

**Spike rule**: the recent 5-minute buckets are above both Dealix's alert rule (more than 10
events in 5 minutes) and 5× the 24-hour median, in at least 2 buckets of the last 30 minutes.
A spike that starts within 30 minutes after the latest deploy is tied to it.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
"""),
    code("""
from runbook.sections.kit import session
from runbook.sections import error_spike
from runbook.sections.kit import mitigation

rb = session.start("error_spike", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started)
report = error_spike.check_errors(rb.config, rb.timeouts)
"""),
    md("""
## Errors per 5 minutes around the impact
From 1 hour before the impact to now, in the team's time zone: the alert threshold dashed, the
latest deploy as a red line, a last bucket still counting hatched (not a recovery).
"""),
    code("""
report.chart(impact_start=rb.impact_start().at)
"""),
    md("""
## The verdict
"""),
    code("""
rb.report(report.findings, title="Error rate against the latest deploy")
"""),
    md("""
## Recommendation
Check the last deploy's diff. If the spike is related to it: roll back. If unrelated: scale
Railway resources.
"""),
    code("""
mitigation.recommend(rb.findings)
"""),
    code("""
rb.assess()
"""),
])
