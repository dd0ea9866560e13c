"""The staged database diagnosis against a real Postgres (pgserver's binaries), the message
classification table, the Railway side (URL lookup, service status, the fix action) against the
fake Railway on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pg_fixtures import PgApp, SilentListener, StartingUpServer
from runbook.clients import dburl
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.findings import Finding, Status
from runbook.core.redaction import registry
from runbook.drill.fakes.railway import FakeRailway
from runbook.drill.fakes.server import LoopbackServer
from runbook.sections import db_refused
from runbook.sections.kit import session
from runbook.sections.kit.actions import ActionResult

FAST = Timeouts(connect=1.0, read=2.0)
TOKEN = "railway-token-db-0123456789"


def run(url: str, timeout: float = 2.0) -> db_refused.Diagnosis:
    return db_refused.diagnose(db_refused.UrlLookup(source="test", url=dburl.parse(url)), timeout)


def stage(diagnosis: db_refused.Diagnosis, name: str) -> db_refused.Stage:
    return next(s for s in diagnosis.stages if s.name == name)


def assert_fails_at(diagnosis: db_refused.Diagnosis, stage_name: str, code: str) -> Finding:
    verdict = diagnosis.verdict
    assert (verdict.code, verdict.status) == (code, Status.FAIL), diagnosis.table()
    assert verdict.fix == db_refused.FIXES.get(code, verdict.fix) and verdict.fix
    assert verdict.evidence["stage"] == stage_name
    assert [row["stage"] for row in verdict.evidence["stages"]] == list(db_refused.STAGES)
    failing = diagnosis.failing
    assert failing is not None and failing.name == stage_name and failing.code == code
    after = db_refused.STAGES[db_refused.STAGES.index(stage_name) + 1:]
    assert all(stage(diagnosis, name).status is Status.SKIPPED for name in after)
    before = db_refused.STAGES[:db_refused.STAGES.index(stage_name)]
    assert all(stage(diagnosis, name).status is Status.PASS for name in before)
    return verdict


# -- the classification table --------------------------------------------------------------

@pytest.mark.parametrize(("message", "code"), [
    ("failed to resolve host 'db.invalid': [Errno -2] Name or service not known",
     "db.dns_failed"),
    ('could not translate host name "db.invalid" to address: Name or service not known',
     "db.dns_failed"),
    ('connection to server at "10.0.0.5", port 5432 failed: Connection refused\n\tIs the server '
     "running on that host and accepting TCP/IP connections?", "db.refused"),
    ("connection timeout expired", "db.timeout"),
    ('connection to server at "h", port 5432 failed: server does not support SSL, but SSL was '
     "required", "db.ssl_required"),
    ('connection to server at "h", port 5432 failed: FATAL:  no pg_hba.conf entry for host '
     '"1.2.3.4", user "u", database "d", no encryption', "db.ssl_required"),
    ('connection to server at "h", port 5432 failed: FATAL:  password authentication failed '
     'for user "u"', "db.auth_failed"),
    ('connection to server at "h", port 5432 failed: fe_sendauth: no password supplied',
     "db.auth_failed"),
    ('connection to server at "h", port 5432 failed: FATAL:  database "x" does not exist',
     "db.database_missing"),
    ('connection to server at "h", port 5432 failed: FATAL:  sorry, too many clients already',
     "db.too_many_connections"),
    ('connection to server at "h", port 5432 failed: FATAL:  remaining connection slots are '
     "reserved for roles with the SUPERUSER attribute", "db.too_many_connections"),
    ('connection to server at "h", port 5432 failed: FATAL:  the database system is starting '
     "up", "db.starting_up"),
    ("FATAL:  the database system is shutting down", "db.starting_up"),
    ("FATAL:  the database system is in recovery mode", "db.starting_up"),
    ("something nobody has seen before", "db.connect_failed"),
])
def test_classify_messages(message: str, code: str) -> None:
    assert db_refused.classify(message).code == code


def test_classify_by_type_and_sqlstate() -> None:
    assert db_refused.classify(psycopg.errors.ConnectionTimeout("x")).code == "db.timeout"
    assert db_refused.classify(TimeoutError()).code == "db.timeout"
    assert db_refused.classify(psycopg.errors.TooManyConnections("odd wording")).code == \
        "db.too_many_connections"
    assert db_refused.classify(psycopg.errors.CannotConnectNow("odd wording")).code == \
        "db.starting_up"


def test_every_rule_has_the_runbook_fix() -> None:
    for rule in (*db_refused.RULES, db_refused.UNKNOWN):
        assert rule.fix and rule.stage in db_refused.STAGES
    assert {r.code for r in db_refused.RULES} >= {
        "db.dns_failed", "db.refused", "db.timeout", "db.ssl_required", "db.auth_failed",
        "db.database_missing", "db.too_many_connections", "db.starting_up"}


# -- every class against the real server --------------------------------------------------

def test_happy_path(pg_app: PgApp) -> None:
    diagnosis = run(pg_app.url)
    assert [s.status for s in diagnosis.stages] == [Status.PASS] * len(db_refused.STAGES)
    assert all(s.seconds >= 0 for s in diagnosis.stages)
    verdict = diagnosis.verdict
    assert verdict.code == "db.ok" and verdict.status is Status.PASS
    assert verdict.evidence["server_version"].startswith("PostgreSQL 16")
    assert verdict.evidence["max_connections"] == 20 and verdict.evidence["in_use"] >= 1
    assert "connections in use" in stage(diagnosis, "server").detail
    assert repr(diagnosis.fix()).startswith("Every stage passed")
    assert "<table" in diagnosis.table()._repr_html_()


def test_keyword_form_connects(pg_app: PgApp) -> None:
    pg = pg_app.pg
    value = (f"host={pg.host} port={pg.port} dbname={pg_app.dbname} user={pg_app.role} "
             f"password='{pg_app.password}' sslmode=disable")
    assert run(value).verdict.code == "db.ok"


def test_stopped_server_is_refused(pg_app: PgApp) -> None:
    pg_app.pg.stop()
    verdict = assert_fails_at(run(pg_app.url), "tcp", "db.refused")
    assert "Connection refused" in verdict.evidence["message"]
    # And libpq's own message for the same fault lands in the same class.
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(pg_app.url, connect_timeout=2)
    assert db_refused.classify(caught.value).code == "db.refused"


def test_wrong_password(pg_app: PgApp) -> None:
    diagnosis = run(pg_app.url_with(password="not-the-password"))
    verdict = assert_fails_at(diagnosis, "auth", "db.auth_failed")
    assert "password authentication failed" in verdict.evidence["message"]
    assert "not-the-password" not in json.dumps(verdict.to_dict())


def test_rotated_password(pg_app: PgApp) -> None:
    pg_app.pg.set_password(pg_app.role, "rotated-password-1")
    assert_fails_at(run(pg_app.url), "auth", "db.auth_failed")


def test_missing_database(pg_app: PgApp) -> None:
    verdict = assert_fails_at(run(pg_app.url_with(dbname="no_such_db")), "auth",
                              "db.database_missing")
    assert "no_such_db" in verdict.summary


def test_max_connections_exhausted(pg_app: PgApp) -> None:
    pg = pg_app.pg
    pg.set_max_connections(6)  # 3 of them reserved for superusers
    assert pg.exhaust_connections(pg_app.role, pg_app.password, pg_app.dbname) == 3
    verdict = assert_fails_at(run(pg_app.url), "auth", "db.too_many_connections")
    assert "remaining connection slots are reserved" in verdict.evidence["message"]
    # A superuser gets the other message once the reserved slots go too.
    pg.exhaust_connections()
    verdict = assert_fails_at(run(pg.superuser_url()), "auth", "db.too_many_connections")
    assert "too many clients already" in verdict.evidence["message"]


def test_near_the_limit_is_reported_by_the_server_stage(pg_app: PgApp) -> None:
    pg = pg_app.pg
    pg.set_max_connections(8)   # 5 for the app's role
    pg.hold_connections(4, pg_app.role, pg_app.password, pg_app.dbname)
    diagnosis = run(pg_app.url)
    # the 5th slot is the diagnosis's own: every non-reserved slot is now in use
    assert_fails_at(diagnosis, "server", "db.too_many_connections")
    assert "no slot is left" in stage(diagnosis, "server").detail


def test_ssl_required_by_the_client(pg_app: PgApp) -> None:
    verdict = assert_fails_at(run(pg_app.url_with(sslmode="require")), "handshake",
                              "db.ssl_required")
    assert "does not support SSL" in verdict.evidence["message"]
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(pg_app.url_with(sslmode="require"), connect_timeout=2)
    assert db_refused.classify(caught.value).code == "db.ssl_required"


def test_unresolvable_host() -> None:
    verdict = assert_fails_at(run("postgresql://app:pw-123456@db-gone.invalid:5432/dealix"),
                              "dns", "db.dns_failed")
    assert "db-gone.invalid" in verdict.summary
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect("postgresql://app:pw-123456@db-gone.invalid:5432/dealix",
                        connect_timeout=2)
    assert db_refused.classify(caught.value).code == "db.dns_failed"


def test_listener_that_never_answers_times_out() -> None:
    with SilentListener() as silent:
        url = f"postgresql://app:pw-123456@127.0.0.1:{silent.port}/dealix"
        verdict = assert_fails_at(run(url, timeout=0.3), "handshake", "db.timeout")
        assert verdict.evidence["seconds"] < 5
        # libpq's own timeout (it rounds up to 2 s) is the same class.
        with pytest.raises(psycopg.OperationalError) as caught:
            psycopg.connect(url, connect_timeout=1)
        assert db_refused.classify(caught.value).code == "db.timeout"


def test_starting_up() -> None:
    with StartingUpServer() as server:
        url = f"postgresql://app:pw-123456@127.0.0.1:{server.port}/dealix"
        verdict = assert_fails_at(run(url), "auth", "db.starting_up")
        assert "starting up" in verdict.evidence["message"]


def test_closed_port_without_postgres_is_not_a_pass() -> None:
    class Closer(SilentListener):
        def serve(self, conn: Any) -> None:
            conn.close()

    with Closer() as server:
        url = f"postgresql://app:pw-123456@127.0.0.1:{server.port}/dealix"
        assert_fails_at(run(url), "handshake", "db.connect_failed")


# -- finding the URL -----------------------------------------------------------------------

def plain_config(**database: Any) -> Config:
    return parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
                         "database": {"url_env": "TEST_DB_URL", **database}},
                        Path("runbook.toml"))


def test_url_from_env_is_registered(pg_app: PgApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_URL", pg_app.url)
    lookup = db_refused.find_url(plain_config(), FAST)
    assert lookup.source == "$TEST_DB_URL" and lookup.url is not None
    assert lookup.findings[0].status is Status.SKIPPED  # no Railway: not compared
    assert registry().redact(pg_app.password) == "[redacted:TEST_DB_URL]"
    assert db_refused.diagnose(lookup, 2).verdict.code == "db.ok"


def test_url_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DB_URL", raising=False)
    diagnosis = db_refused.diagnose(db_refused.find_url(plain_config(), FAST))
    verdict = assert_fails_at(diagnosis, "parse", "db.url_missing")
    assert "$TEST_DB_URL is not set" in verdict.summary


def test_url_invalid_names_the_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_URL", "postgresql://app:hunter2-pw@db:54o2/dealix")
    diagnosis = db_refused.diagnose(db_refused.find_url(plain_config(), FAST))
    verdict = assert_fails_at(diagnosis, "parse", "db.url_invalid")
    assert verdict.evidence["part"] == "port" and "port" in verdict.summary
    assert "hunter2-pw" not in json.dumps(verdict.to_dict()) + repr(diagnosis.table())


# -- Railway: variables, the Postgres service, the fix action -------------------------------

class RailwayEnv:
    def __init__(self, fake: FakeRailway, server: LoopbackServer) -> None:
        self.fake = fake
        self.server = server
        self.app = fake.add_service("dealix")
        self.postgres = fake.add_service("Postgres")
        fake.add_deployment(self.postgres.id, "SUCCESS",
                            datetime.now(UTC) - timedelta(days=3))

    def config(self, with_service: bool = True) -> Config:
        database = {"url_env": "TEST_DB_URL"}
        if with_service:
            database["railway_service_id"] = self.postgres.id
        return parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "railway": {"api_url": self.server.url + "/graphql/v2",
                        "project_id": self.fake.project_id,
                        "environment_id": self.fake.environment_id,
                        "service_id": self.app.id, "token_env": "TEST_RAILWAY_TOKEN"},
            "database": database}, Path("runbook.toml"))


@pytest.fixture
def railway(monkeypatch: pytest.MonkeyPatch) -> Iterator[RailwayEnv]:
    monkeypatch.setenv("TEST_RAILWAY_TOKEN", TOKEN)
    monkeypatch.delenv("TEST_DB_URL", raising=False)
    fake = FakeRailway(TOKEN)
    with LoopbackServer(fake) as server:
        yield RailwayEnv(fake, server)


def test_url_from_the_apps_railway_variables(railway: RailwayEnv, pg_app: PgApp) -> None:
    railway.app.variables["DATABASE_URL"] = pg_app.url
    railway.postgres.variables["DATABASE_URL"] = pg_app.url
    lookup = db_refused.find_url(railway.config(), FAST)
    assert lookup.source.startswith("the app's Railway variables")
    assert [(f.code, f.status) for f in lookup.findings] == [("db.url_matches", Status.PASS)]
    assert db_refused.diagnose(lookup, 2).verdict.code == "db.ok"


def test_public_url_also_matches(railway: RailwayEnv, pg_app: PgApp,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_URL", pg_app.url)
    railway.postgres.variables.update({
        "DATABASE_URL": "postgresql://dealix_app:other@postgres.railway.internal:5432/x",
        "DATABASE_PUBLIC_URL": pg_app.url})
    lookup = db_refused.find_url(railway.config(), FAST)
    assert lookup.findings[0].code == "db.url_matches"


def test_mismatch_shows_only_redacted_forms(railway: RailwayEnv, pg_app: PgApp,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    old = pg_app.url_with(password="old-password-123")
    monkeypatch.setenv("TEST_DB_URL", old)
    railway.postgres.variables["DATABASE_URL"] = pg_app.url
    lookup = db_refused.find_url(railway.config(), FAST)
    finding = lookup.findings[0]
    assert (finding.code, finding.status) == ("db.url_mismatch", Status.FAIL)
    assert finding.evidence["differs"] == ["password"]
    text = json.dumps(finding.to_dict())
    assert "old-password-123" not in text and pg_app.password not in text
    assert dburl.parse(old).password_fingerprint in text


def test_no_railway_service_id_skips(railway: RailwayEnv, pg_app: PgApp,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_URL", pg_app.url)
    config = railway.config(with_service=False)
    assert db_refused.find_url(config, FAST).findings[0].status is Status.SKIPPED
    assert db_refused.service_status(config, FAST)[0].status is Status.SKIPPED
    assert db_refused.service_status(plain_config(), FAST)[0].status is Status.SKIPPED


def test_service_status(railway: RailwayEnv) -> None:
    [ok] = db_refused.service_status(railway.config(), FAST)
    assert (ok.code, ok.status) == ("db.service_ok", Status.PASS)
    railway.fake.add_deployment(railway.postgres.id, "CRASHED", datetime.now(UTC))
    [down] = db_refused.service_status(railway.config(), FAST)
    assert (down.code, down.status, down.evidence["status"]) == (
        "db.service_down", Status.FAIL, "CRASHED")
    assert down.fix


def test_railway_refusing_the_token_is_an_error_not_a_pass(
        railway: RailwayEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RAILWAY_TOKEN", "wrong-token-000")
    [finding] = db_refused.service_status(railway.config(), FAST)
    assert finding.status is Status.ERROR and "TEST_RAILWAY_TOKEN" in finding.summary


def open_session(config: Config, tmp_path: Path) -> session.Session:
    path = tmp_path / "runbook.toml"
    path.write_text(f"""
[service]
name = "dealix"
base_url = "http://127.0.0.1:9"

[railway]
api_url = "{config.railway.api_url}"
project_id = "{config.railway.project_id}"
environment_id = "{config.railway.environment_id}"
service_id = "{config.railway.service_id}"
token_env = "TEST_RAILWAY_TOKEN"

[database]
url_env = "TEST_DB_URL"
railway_service_id = "{config.database.railway_service_id}"
""" if config.railway and config.database else "", encoding="utf-8")
    return session.start("db_refused", config_path=str(path))


@pytest.mark.slow
def test_fix_action_dry_run_then_confirmed(railway: RailwayEnv, pg_app: PgApp, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    old = pg_app.url_with(password="old-password-123")
    monkeypatch.setenv("TEST_DB_URL", old)
    railway.app.variables["DATABASE_URL"] = old
    railway.postgres.variables["DATABASE_URL"] = pg_app.url
    rb = open_session(railway.config(), tmp_path)
    lookup = db_refused.find_url(rb.config, rb.timeouts)
    diagnosis = db_refused.diagnose(lookup, 2)
    assert diagnosis.verdict.code == "db.auth_failed"

    dry = db_refused.fix_database_url(rb, lookup, diagnosis)
    assert isinstance(dry, ActionResult)
    assert dry.dry_run and dry.status == "dry_run"
    assert dry.plan.startswith("set DATABASE_URL to the Postgres service's current")
    assert railway.fake.mutation_names() == []

    done = db_refused.fix_database_url(rb, lookup, diagnosis, confirm=True)
    assert isinstance(done, ActionResult)
    # Railway set it; no app answers here, so the post-check fails: done, and not a fix.
    assert not done.dry_run and done.status == "done_unverified" and done.outcome == "done"
    assert done.summary.startswith("set DATABASE_URL to the Postgres service's")
    assert done.pre_check is not None and done.post_check is not None
    assert "still unreachable" in done.summary
    again = db_refused.fix_database_url(rb, lookup, diagnosis, confirm=True)
    assert isinstance(again, ActionResult) and again.status == "already_done"
    [mutation] = railway.fake.mutations
    assert mutation.name == "variableUpsert"
    assert mutation.arguments["input"]["name"] == "DATABASE_URL"
    assert mutation.arguments["input"]["serviceId"] == railway.app.id
    assert railway.app.variables["DATABASE_URL"] == pg_app.url
    assert railway.app.latest() is not None  # the upsert redeployed the app

    events = (rb.run_dir / "events.jsonl").read_text()
    actions = [json.loads(line)["action"] for line in events.splitlines()
               if json.loads(line)["type"] == "action"]
    assert [a["status"] for a in actions] == ["dry_run", "done_unverified", "already_done"]
    assert {a["name"] for a in actions} == {"railway.variable_upsert"}
    assert pg_app.password not in events and "old-password-123" not in events
    assert "dry_run" in events and repr(done).count(pg_app.password) == 0


def test_fix_action_not_needed_when_the_service_is_down(railway: RailwayEnv, pg_app: PgApp,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_URL", pg_app.url)
    railway.postgres.variables["DATABASE_URL"] = pg_app.url
    rb = open_session(railway.config(), tmp_path)
    lookup = db_refused.find_url(rb.config, rb.timeouts)
    pg_app.pg.stop()
    diagnosis = db_refused.diagnose(lookup, 2)
    view = db_refused.fix_database_url(rb, lookup, diagnosis, confirm=True)
    assert isinstance(view, ActionResult) and view.status == "blocked"
    assert view.summary.startswith("not done: not needed") and "PostgreSQL service" in view.summary
    assert railway.fake.mutations == []
    assert rb.actions[-1]["name"] == "railway.variable_upsert"
