"""Database scenarios: a real Postgres (from pgserver) behind the simulated Dealix, with Railway's
Postgres service publishing its current URL, and one fault injected for real."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from runbook.drill.fakes.postgres import PostgresController
from runbook.drill.fakes.railway import RailwayHandles, with_railway
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.scenarios.sev1 import with_monitoring
from runbook.drill.target import Target
from runbook.sections.db_refused import RAILWAY_VARIABLE

URL_ENV = "DRILL_DATABASE_URL"
APP_ROLE = "dealix"
APP_DATABASE = "dealix"


@dataclass
class DatabaseHandles:
    postgres: PostgresController
    railway: RailwayHandles
    app_url: str          # what the app (and the responder's env) holds
    service_url: str      # what Railway's Postgres service publishes now


def with_database(target: Target) -> DatabaseHandles:
    """Start Postgres (stopped with the target), give the app its role and database, and
    publish the URL both as the app's variable and as the Postgres service's own."""
    postgres = PostgresController()
    target.stack.callback(postgres.cleanup)
    postgres.start()
    password = "drill-" + secrets.token_urlsafe(16)
    url = postgres.create_app(APP_ROLE, APP_DATABASE, password)
    with_railway(target)
    railway: RailwayHandles = target.extras["railway"]
    # Railway's Postgres also publishes PGUSER, PGDATABASE…; the client registers every value
    # as a secret, so only the variables that are secret are published here.
    railway.postgres.variables.update({"DATABASE_URL": url, "DATABASE_PUBLIC_URL": url,
                                       "PGPASSWORD": password})
    railway.dealix.variables[RAILWAY_VARIABLE] = url
    target.secret(URL_ENV, url)
    target.app.state.database_url = url
    target.sections["database"] = {"url_env": URL_ENV,
                                   "railway_service_id": railway.postgres.id,
                                   "connect_timeout": 2.0}
    handles = DatabaseHandles(postgres, railway, url, url)

    def follow_upsert(mutation: object) -> None:
        # The app picks up a new DATABASE_URL when Railway redeploys it after variableUpsert.
        value = railway.dealix.variables.get(RAILWAY_VARIABLE)
        if value:
            target.app.state.database_url = value

    railway.fake.on_mutation.append(follow_upsert)
    target.extras["database"] = handles
    return handles


def postgres_stopped(target: Target) -> None:
    handles = with_database(target)
    handles.postgres.stop()
    # Railway shows the Postgres service's deployment as crashed.
    handles.railway.fake.add_deployment(handles.railway.postgres.id, "CRASHED",
                                        datetime.now(UTC) - timedelta(minutes=4),
                                        meta={"image": "ghcr.io/railwayapp-templates/"
                                              "postgres-ssl:16"})


def password_rotated(target: Target) -> None:
    handles = with_database(target)
    new_password = "drill-" + secrets.token_urlsafe(16)
    handles.postgres.set_password(APP_ROLE, new_password)
    new_url = handles.postgres.url(APP_ROLE, new_password, APP_DATABASE)
    service = handles.railway.postgres.variables
    service.update({"DATABASE_URL": new_url, "DATABASE_PUBLIC_URL": new_url,
                    "PGPASSWORD": new_password})
    handles.service_url = new_url


def postgres_hung(target: Target) -> None:
    # Postgres accepts connections but never answers (a paused or wedged server): the app's
    # deep check waits its 3 s on it, holding the one worker, while /healthz stays healthy.
    with_monitoring(target)
    handles = with_database(target)
    handles.postgres.freeze()


register(Scenario(
    "db-hang", "Postgres accepts connections but never answers: a timeout, not an outage",
    "sev1_response", postgres_hung, expect_failing=("db.timeout",),
    expect_passing=("health.ok",), expect_severity="SEV-2", expect_next_first="db_refused"))
register(Scenario(
    "db-refused", "the Postgres service is down: connections to it are refused", "db_refused",
    postgres_stopped, expect_failing=("db.refused", "db.service_down"),
    expect_severity="SEV-2"))
register(Scenario(
    "db-auth", "the database password was rotated but the app's DATABASE_URL still holds the "
    "old one", "db_refused", password_rotated,
    expect_failing=("db.auth_failed", "db.url_mismatch"), expect_passing=("db.service_ok",),
    expect_severity="SEV-2"))
