"""notebooks/db_refused.ipynb headless: as `runbook run` against a separate Postgres with only
[service] and [database] configured, and as the `db-refused` and `db-auth` drills. No password
of any URL used reaches runs/, in any encoding."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest

from conftest import ROOT, all_bytes_under, run_cli
from pg_fixtures import PgApp
from runbook.clients.dburl import parse
from runbook.drill import scenarios
from runbook.drill.run import run_drill
from runbook.drill.scenarios.db import DatabaseHandles
from runbook.drill.target import Target

NOTEBOOK = ROOT / "notebooks" / "db_refused.ipynb"


def forms(secret: str) -> list[bytes]:
    """The secret as it could be written: plain, percent-encoded, base64 (alone and in pairs)."""
    raw = secret.encode()
    found = {raw, quote(secret, safe="").encode(), json.dumps(secret)[1:-1].encode()}
    for wrapped in (raw, b":" + raw, raw + b":"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.add(encode(wrapped).rstrip(b"="))
    return sorted(found)


def assert_absent(secret: str, runs: Path) -> None:
    data = all_bytes_under(runs)
    assert data, "nothing was archived"
    for form in forms(secret):
        assert form not in data, f"a form of the password is under runs/: {form!r}"


def records(runs: Path) -> list[dict[str, Any]]:
    """Every record: the incidents' and the drills' (kept apart, under drills/)."""
    return [json.loads(p.read_text()) for pattern in ("*/*/record.json", "drills/*/*/record.json")
            for p in sorted(runs.glob(pattern))]


def codes(record: dict[str, Any], status: str) -> set[str]:
    return {f["code"] for f in record["findings"] if f["status"] == status}


def test_notebook_is_committed_clean() -> None:
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "confirm: bool = False" in tagged[0].source


@pytest.mark.slow
def test_run_reports_a_missing_database(pg_app: PgApp, runs_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "only-db.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n\n'
                      '[database]\nurl_env = "DATABASE_URL"\n', encoding="utf-8")
    url = pg_app.url_with(dbname="dealix_missing")
    result = run_cli("run", "db_refused", "--config", str(config),
                     env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stdout + result.stderr
    (record,) = records(runs_dir)
    assert record["status"] == "completed"
    assert "db.database_missing" in codes(record, "fail")
    assert {"db.url_mismatch", "db.service_status"} <= codes(record, "skipped")
    [action] = record["actions"]
    assert action["name"] == "railway.variable_upsert" and action["dry_run"] is True
    assert action["result"].startswith("not done: no [railway] section")
    assert_absent(pg_app.password, runs_dir)
    assert pg_app.password not in result.stdout + result.stderr


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, DatabaseHandles]:
    """Keep each drill's database handles (its passwords are made at random inside it)."""
    scenarios.names()
    kept: dict[str, DatabaseHandles] = {}
    for name in ("db-refused", "db-auth"):
        scenario = scenarios.SCENARIOS[name]

        def setup(target: Target, original: Any = scenario.setup, key: str = name) -> None:
            original(target)
            kept[key] = target.extras["database"]

        monkeypatch.setitem(scenarios.SCENARIOS, name,
                            dataclasses.replace(scenario, setup=setup))
    return kept


@pytest.mark.parametrize(("name", "failing"), [
    ("db-refused", {"db.refused", "db.service_down"}),
    ("db-auth", {"db.auth_failed", "db.url_mismatch"}),
])
@pytest.mark.slow
def test_drill_names_the_fault(name: str, failing: set[str], runs_dir: Path,
                               captured: dict[str, DatabaseHandles]) -> None:
    result = run_drill(name, runs_dir)
    assert result.run.status == "completed", result.run
    assert result.matched, result.reasons
    (record,) = records(runs_dir)
    assert failing <= codes(record, "fail")
    assert record["severity"] == "SEV-2"
    [action] = record["actions"]
    assert action["dry_run"] is True
    handles = captured[name]
    assert not handles.postgres.running  # the drill's Postgres is stopped and removed
    for url in {handles.app_url, handles.service_url}:
        password = parse(url).password
        assert password
        assert_absent(password, runs_dir)
    assert_absent(handles.postgres.superuser_password, runs_dir)
    if name == "db-auth":
        assert action["status"] == "dry_run"
        assert action["plan"].startswith("set DATABASE_URL")
    else:
        assert action["result"].startswith("not done: not needed")


@pytest.mark.slow
def test_cli_drill_db_refused(runs_dir: Path) -> None:
    result = run_cli("drill", "db-refused")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    (record,) = records(runs_dir)
    assert "db.refused" in codes(record, "fail")
