"""The Railway Postgres service's own state: its latest deployment."""

from __future__ import annotations

from runbook.clients.railway import RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.findings import Finding, failed, guarded, passed, skipped
from runbook.sections.db_refused.fixes import FIXES
from runbook.sections.db_refused.settings import database_settings


def service_status(config: Config, timeouts: Timeouts) -> list[Finding]:
    """The latest deployment status of the Railway Postgres service, where it is configured."""
    settings = database_settings(config)
    if config.railway is None:
        return [skipped("db.service_status", "not checked: no [railway] section in the config")]
    if not settings.railway_service_id:
        return [skipped("db.service_status", "not checked: [database] railway_service_id is "
                        "not set")]

    def check() -> Finding:
        client = RailwayClient.from_config(config, timeouts)
        latest = client.latest_deployment(settings.railway_service_id)
        if latest is None:
            return failed("db.service_down", "the Postgres service has no deployment",
                          fix=FIXES["db.service_down"], service_id=settings.railway_service_id)
        evidence = {"service_id": settings.railway_service_id, "deployment_id": latest.id,
                    "status": latest.status, "created_at": latest.created_at.isoformat()}
        if latest.status == "SUCCESS":
            return passed("db.service_ok", "the Postgres service's latest deployment is "
                          "Active (SUCCESS)", **evidence)
        return failed("db.service_down", f"the Postgres service's latest deployment is "
                      f"{latest.status}, not Active", fix=FIXES["db.service_down"], **evidence)

    return guarded("db.service_status", check)

