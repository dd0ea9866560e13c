"""The canary sweep: every drill scenario, every notebook, with every secret a distinct canary —
then every byte written (runs/, postmortems, HTML renders, stdout and stderr) is searched for
each canary, as plain text and as base64. The count must be zero.

Two runs are hostile on purpose: a fake Railway that echoes the token back in its error body,
and a DATABASE_URL whose password psycopg would quote in its error.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import ROOT, run_cli
from runbook.archive import layout
from runbook.archive import record as records
from runbook.core.config import load_config
from runbook.drill import scenarios
from runbook.drill.fakes.server import Request, Response
from runbook.drill.scenarios.oncall import SECOND
from runbook.drill.target import simulated_target
from runbook.host.runner import run_notebook
from runbook.incident.log import IncidentLog

# The browser aside, the slowest end-to-end test: every drill scenario, every notebook.
# Its drills repeat what measured tests run: their processes go unmeasured (subprocess_coverage).
pytestmark = [pytest.mark.slow, pytest.mark.unmeasured]

MAX_NOTEBOOK_BYTES = 1_000_000


def forms(secret: str) -> list[bytes]:
    """A secret and the disguises it could be written in."""
    values = {secret, secret.strip()}
    if "://" in secret:
        password = urlsplit(secret).password
        if password:
            values |= {password, unquote(password)}
    result: list[bytes] = []
    for value in values:
        if len(value) < 6:
            continue
        raw = value.encode()
        result += [raw, base64.b64encode(raw).rstrip(b"="),
                   base64.b64encode(raw + b":").rstrip(b"=")]
    return result


def leaks(secrets: list[str], haystack: bytes) -> list[str]:
    return sorted({s[:6] + "…" for s in secrets for form in forms(s) if form in haystack})


def every_byte(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() for root in roots for p in sorted(root.rglob("*"))
                    if p.is_file())


# One scenario's drill in its own Python process: a drill sets the process's environment (its
# throwaway secrets), so drills run side by side only as separate processes, each into an
# archive of its own (serve's alert drills would otherwise join each other's open incident).
# What it reports (status, error, secrets) goes to a file outside the swept archives; what it
# says is swept.
DRILL_ONE = """
import json, sys
from pathlib import Path
from runbook.drill.run import run_drill
name, runs, report = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
result = run_drill(name, runs, incident_id=f"sweep-{name}")
report.write_text(json.dumps({"status": result.run.status, "error": result.run.error,
                              "exit_code": result.exit_code, "reasons": result.reasons,
                              "secrets": result.secret_values}))
"""
SWEEP_WORKERS = 3  # drills mostly wait (kernels starting, probes answering): 3 fill 2 cores


@dataclass(frozen=True)
class SweptRun:
    status: str
    error: str | None
    exit_code: int      # the drill's grade: 0 when the diagnosis names the injected fault
    reasons: list[str]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run every scenario once, each into its own archive under runs/; gather what was written
    and said."""
    base = tmp_path_factory.mktemp("sweep")
    runs = base / "runs"
    reports = base / "reports"
    reports.mkdir()

    def drill(name: str) -> tuple[str, subprocess.CompletedProcess[bytes]]:
        archive = runs / name
        env = {**os.environ, "RUNBOOK_RUNS_DIR": str(archive)}
        done = subprocess.run([sys.executable, "-c", DRILL_ONE, name, str(archive),
                               str(reports / f"{name}.json")],
                              capture_output=True, env=env, timeout=600)
        return name, done

    with ThreadPoolExecutor(SWEEP_WORKERS) as pool:
        finished = list(pool.map(drill, scenarios.names()))
    secrets: list[str] = []
    results = {}
    said = b""
    for name, done in finished:
        said += done.stdout + done.stderr
        report = reports / f"{name}.json"
        assert done.returncode == 0 and report.is_file(), (name, done.stderr.decode()[-2000:])
        reported = json.loads(report.read_text())
        secrets += reported["secrets"]
        results[name] = SweptRun(reported["status"], reported["error"],
                                 reported["exit_code"], reported["reasons"])
    return {"runs": runs, "secrets": secrets, "results": results, "base": base, "said": said}


def test_every_scenario_ran(sweep: dict) -> None:  # type: ignore[type-arg]
    results = sweep["results"]
    assert set(results) == set(scenarios.names())
    for name, result in results.items():
        assert result.status == "completed", (name, result.error)
        assert result.exit_code == 0, (name, result.reasons)
    covered = {scenarios.get(n).notebook for n in scenarios.names()}
    # Notebooks without a scenario are swept below, with their own runs.
    assert {"sev1_response", "db_refused", "webhook_401", "rollback"} <= covered


def _archive(sweep: dict, name: str) -> records.Archive:  # type: ignore[type-arg]
    return records.Archive(sweep["runs"] / name / layout.DRILLS)


def _failing(record: dict) -> set[str]:  # type: ignore[type-arg]
    return {f["code"] for f in record["findings"] if f["status"] in ("fail", "error")}


# What each drill must have archived, read from the sweep's own runs (running the drills again
# elsewhere would only repeat them).
@pytest.mark.parametrize("name", ["healthy-minimal", "deploy-sleeping"])
def test_a_healthy_world_rates_no_severity(sweep: dict, name: str) -> None:  # type: ignore[type-arg]
    (record,) = [json.loads(p.read_text())
                 for p in _archive(sweep, name).root.glob("*/*/record.json")]
    assert record["severity"] is None and not _failing(record)


def test_db_hang_is_a_database_timeout_behind_a_healthy_api(sweep: dict) -> None:  # type: ignore[type-arg]
    (record,) = [json.loads(p.read_text())
                 for p in _archive(sweep, "db-hang").root.glob("*/*/record.json")]
    assert "db.timeout" in _failing(record) and record["severity"] != "SEV-1"
    assert any(f["code"] == "health.ok" and f["evidence"].get("probe") == "healthz"
               for f in record["findings"])


def test_wrong_app_is_named(sweep: dict) -> None:  # type: ignore[type-arg]
    (record,) = [json.loads(p.read_text())
                 for p in _archive(sweep, "wrong-app").root.glob("*/*/record.json")]
    assert {"health.wrong_app", "api.not_found"} <= _failing(record)


@pytest.mark.parametrize("name", ["alert-escalation", "flapping"])
def test_the_on_call_drills_keep_to_the_drills_archive(sweep: dict,  # type: ignore[type-arg]
                                                       name: str) -> None:
    archive = _archive(sweep, name)
    (incident_id,) = archive.incidents()
    incident = IncidentLog(archive, incident_id).fold()
    assert incident.drill and incident.severity == "SEV-1"
    if name == "alert-escalation":
        assert incident.acknowledged_at is None
        assert [p["slack_id"] for p in incident.pages] == [SECOND]
    else:
        assert list(incident.flap_noticed) == [incident.signal]


def test_no_canary_in_the_archive_or_the_output(sweep: dict,  # type: ignore[type-arg]
                                                capfd: pytest.CaptureFixture[str]) -> None:
    secrets = sweep["secrets"]
    assert len(secrets) >= 10
    archive = every_byte(sweep["runs"])
    assert leaks(secrets, archive) == []
    assert leaks(secrets, sweep["said"]) == []
    captured = capfd.readouterr()
    assert leaks(secrets, (captured.out + captured.err).encode()) == []


def test_no_canary_in_postmortems_and_their_html(sweep: dict) -> None:  # type: ignore[type-arg]
    out = sweep["base"] / "postmortems"
    said = b""
    for name in ("outage", "db-auth", "webhook-401", "bad-deploy-rollback"):
        if name not in sweep["results"]:
            continue
        result = run_cli("postmortem", f"sweep-{name}", "--out", str(out),
                         env={"RUNBOOK_RUNS_DIR": str(sweep["runs"] / name)})
        assert result.returncode == 0, result.stderr
        said += (result.stdout + result.stderr).encode()
    written = every_byte(out)
    assert b".html" in b"".join(p.name.encode() for p in out.rglob("*"))
    assert leaks(sweep["secrets"], written + said) == []


def test_every_archived_notebook_stays_under_1mb(sweep: dict) -> None:  # type: ignore[type-arg]
    archived = list(sweep["runs"].rglob("notebook.ipynb"))
    assert archived
    for path in archived:
        assert path.stat().st_size < MAX_NOTEBOOK_BYTES, path


def test_a_server_echoing_the_token_back_leaks_nothing(runs_dir: Path) -> None:
    from runbook.drill.scenarios.core import outage

    with simulated_target(runs_dir) as target:
        outage(target)
        railway = target.servers["railway"].service
        token = target.env["DRILL_RAILWAY_TOKEN"]

        def echo(request: Request) -> Response:
            sent = request.headers.get("Authorization", "")
            return Response(500, {"errors": [{"message": f"bad credentials: {sent}"}]})

        railway.handle = echo  # type: ignore[method-assign]
        config_path = target.write_config()
        with target.environment():
            result = run_notebook("sev1_response", [], load_config(config_path))
        secrets = list(target.env.values())
    assert result.status == "completed"
    assert any(f["code"].startswith("deploy") and f["status"] == "error"
               for f in result.record["findings"])
    assert leaks(secrets, every_byte(runs_dir)) == []
    assert token not in json.dumps(result.record)


@pytest.mark.parametrize("url", [
    "host=127.0.0.1 port=1 user=dealix password=canary-pg-9f81c2 dbname=x sslmode=bogus",
    "postgresql://dealix:canary-pg-9f81c2@127.0.0.1:1/dealix?connect_timeout=2",
    "postgresql://dealix:canary-pg-9f81c2@db.invalid:5432/dealix",
])
def test_a_password_in_a_failing_database_url_leaks_nothing(tmp_path: Path, runs_dir: Path,
                                                            url: str) -> None:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n'
                      '[probes]\nconnect_timeout = 1.0\nread_timeout = 1.0\n'
                      '[database]\nurl_env = "SWEEP_DATABASE_URL"\n')
    for notebook in ("db_refused", "sev1_response"):
        result = run_cli("run", notebook, "--config", str(config),
                         env={"SWEEP_DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        said = (result.stdout + result.stderr).encode()
        assert b"canary-pg-9f81c2" not in said + every_byte(runs_dir)
        assert leaks([url], said + every_byte(runs_dir)) == []


def test_notebooks_without_a_scenario_are_swept(tmp_path: Path, runs_dir: Path) -> None:
    covered = {scenarios.get(n).notebook for n in scenarios.names()}
    rest = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")
                  if p.stem not in covered)
    with simulated_target(runs_dir) as target:
        from runbook.drill.scenarios.core import outage

        outage(target)
        config_path = target.write_config()
        with target.environment():
            config = load_config(config_path)
            first = run_notebook("sev1_response", [], config, incident_id="sweep-rest")
            for notebook in rest:
                run_notebook(notebook, [], config, incident_id="sweep-rest")
        secrets = list(target.env.values())
    assert first.status == "completed"
    assert leaks(secrets, every_byte(runs_dir)) == []
