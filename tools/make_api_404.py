"""Generates notebooks/api_404.ipynb (run from the repo root: python -m tools.make_api_404)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/api_404.ipynb", [
    md("""
# `/api/v1/*` returns 404

Likely cause: the deploy failed, or the wrong Start Command runs another app on the domain.
The latest deployment, its start command and two `/api/v1` routes are checked at once.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
"""),
    code("""
from runbook.sections.kit import session
from runbook.sections import api_404
from runbook.sections.kit import mitigation

rb = session.start("api_404", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started)
report = api_404.investigate(rb.config, rb.timeouts)
"""),
    md("""
## Railway → Deployments → the latest deploy's status
"""),
    code("""
rb.report(report.deploy, title="The latest deployment")
"""),
    md("""
### If it failed: its logs
Fix the cause, then redeploy.
"""),
    code("""
report.log_tail()
"""),
    md("""
## If it succeeded but still 404: Settings → Start Command
It must be `/app/start.sh` (or empty, so the Dockerfile's `CMD` runs).
"""),
    code("""
rb.report(report.start_command, title="Start command")
"""),
    md("""
## Public versus protected routes
A public route answers 200 and a protected one 401 without `X-API-Key`; a 404 on either means
the app that answers is not the API.
"""),
    code("""
rb.report(report.routes, title="/api/v1 routes")
"""),
    md("""
## Fix
"""),
    code("""
mitigation.recommend(rb.findings)
"""),
    code("""
rb.assess()
"""),
])
