"""The runbook's fix for each cause a database diagnosis can name, by finding code."""

from __future__ import annotations

_COPY_AND_REDEPLOY = ("Railway → PostgreSQL service → Connect: copy the connection string; "
                      "Railway → app service → Variables: set DATABASE_URL to it; redeploy the "
                      "app (this notebook's fix action does both: run it with confirm=True).")
_CHECK_STATUS = "Railway → PostgreSQL service → check status (Deployments, and its logs)"

FIXES: dict[str, str] = {
    "db.url_missing": "DATABASE_URL is not set. " + _COPY_AND_REDEPLOY,
    "db.url_invalid": "The connection string is malformed. " + _COPY_AND_REDEPLOY,
    "db.url_mismatch": "The app's DATABASE_URL is not the Postgres service's current one. "
                       + _COPY_AND_REDEPLOY,
    "db.dns_failed": "The host does not resolve: the URL is old or mistyped. " + _CHECK_STATUS
                     + "; then " + _COPY_AND_REDEPLOY,
    "db.refused": "Nothing listens at that host and port: the Postgres service is down or "
                  "has moved. " + _CHECK_STATUS + " and restart it if it crashed; if it is "
                  "Active, its address changed: " + _COPY_AND_REDEPLOY,
    "db.timeout": "The server does not answer in time: it is overloaded, paused, or the "
                  "address is not reachable from here (private vs public URL). "
                  + _CHECK_STATUS + "; check the app uses the private URL inside Railway and "
                  "the public one (DATABASE_PUBLIC_URL) from outside.",
    "db.ssl_required": "The client and the server disagree on TLS. Use the connection string "
                       "Railway gives, unchanged (its sslmode fits the server): "
                       + _COPY_AND_REDEPLOY,
    "db.ssl_required_by_server": "The server accepts only encrypted connections: add "
                                 "?sslmode=require to DATABASE_URL (or copy Railway's string "
                                 "again), update the variable, redeploy.",
    "db.auth_failed": "The password (or user) in DATABASE_URL is not the database's current "
                      "one — it was rotated or mistyped. " + _COPY_AND_REDEPLOY,
    "db.database_missing": "The database named in DATABASE_URL does not exist on that server: "
                           "the URL points at the wrong database (or it was dropped). "
                           + _COPY_AND_REDEPLOY,
    "db.too_many_connections": "Every connection slot is taken. Restart the app service to "
                               "release its connections (Railway → app → Deployments → "
                               "Restart), lower its pool size, and check pg_stat_activity for "
                               "who holds the rest; raise max_connections on the Postgres "
                               "service if the load is real.",
    "db.starting_up": "Postgres is starting up, shutting down or recovering. " + _CHECK_STATUS
                      + "; wait for Active and run this notebook again.",
    "db.connect_failed": "The connection failed for a reason not in the runbook's table: read "
                         "the message. " + _CHECK_STATUS + "; then " + _COPY_AND_REDEPLOY,
    "db.service_down": _CHECK_STATUS + ": restart or redeploy the PostgreSQL service, and "
                       "read its deploy logs for the cause.",
}

