"""Generates notebooks/sev1_response.ipynb: python -m tools.make_sev1_response"""

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
"""),
    code("""
import runbook.session
from runbook import health

rb = runbook.session.start("sev1_response", incident_id=incident_id, config_path=config_path)
rb.config.service.base_url
"""),
    md("""
## Within 5 minutes — Confirm
Open `/healthz`: **5xx or timeout → SEV-1**. The deep check says which dependency fails
(it answers 200 even when degraded).
"""),
    code("""
rb.report(health.probe_health(rb.config, rb.timeouts), title="Confirm: /healthz and the deep check")
"""),
    md("""
## Severity and time left
"""),
    code("""
rb.assess()
"""),
])
