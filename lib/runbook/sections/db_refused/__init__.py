"""Database connection refused: find DATABASE_URL, then try it stage by stage.

The runbook's entry: likely cause, `DATABASE_URL` is wrong or the Postgres add-on is down; fix:
Railway → PostgreSQL service → check status, copy the connection string, update the env var,
redeploy. The diagnosis makes that exact. It walks the stages a connection goes through —
parse, DNS, TCP connect, the Postgres handshake (TLS offered or not), authentication,
`SELECT 1`, then the server's version and its connection use against `max_connections` — each
timed, stopping at the first that fails, and names the cause with the runbook's fix for it.

One concern a module: `lookup` (where DATABASE_URL is), `probe` (the stages, and the one
Postgres connection), `libpq` (reading libpq's messages), `fixes`, `stages` (the diagnosis),
`views`, `service` (the Postgres service's status), `action` (the guarded fix), `settings`.
"""

from __future__ import annotations

from runbook.sections.db_refused.action import (
    UPSERT_ACTION,
    fix_database_url,
    plan_url_fix,
    url_fix_action,
)
from runbook.sections.db_refused.fixes import FIXES
from runbook.sections.db_refused.libpq import RULES, UNKNOWN, Rule, classify
from runbook.sections.db_refused.lookup import (
    RAILWAY_VARIABLE,
    SERVICE_URL_VARIABLES,
    AppUrl,
    UrlLookup,
    app_url,
    find_url,
)
from runbook.sections.db_refused.probe import STAGES, Stage, StageFailed, libpq_timeout, select_one
from runbook.sections.db_refused.service import service_status
from runbook.sections.db_refused.settings import connect_timeout, database_settings
from runbook.sections.db_refused.stages import Diagnosis, diagnose
from runbook.sections.db_refused.views import FixView, StagesView

__all__ = [
    "FIXES", "RAILWAY_VARIABLE", "RULES", "SERVICE_URL_VARIABLES", "STAGES", "UNKNOWN",
    "UPSERT_ACTION", "AppUrl", "Diagnosis", "FixView", "Rule", "Stage", "StageFailed",
    "StagesView", "UrlLookup", "app_url", "classify", "connect_timeout", "database_settings",
    "diagnose", "find_url", "fix_database_url", "libpq_timeout", "plan_url_fix",
    "select_one", "service_status", "url_fix_action",
]
