"""`runbook archive`: a notebook a responder ran in JupyterLab becomes a sealed, redacted,
chained record with its session's findings and actions, and shows in `runbook runs`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from archive_files import read_lines
from conftest import ROOT, all_bytes_under, run_cli
from mitigate_fixtures import start_session
from runbook.archive.record import Archive, list_runs, read_record
from runbook.archive.verify import verify_incident
from runbook.core.config import load_config
from runbook.core.errors import BadInput
from runbook.core.findings import failed, passed
from runbook.drill.scenarios.core import outage
from runbook.drill.target import simulated_target, to_toml
from runbook.sections.kit import interactive

INCIDENT = "inc-test-1"
SECRET = "sk-archive-5c1d9e7f3a2b4c6d"


def saved_notebook(directory: Path, *outputs: str, name: str = "sev1_response",
                   session_name: str = "sev1_response") -> Path:
    """A notebook as JupyterLab saves it: code cells run, with their outputs."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(f'incident_id: str = "{INCIDENT}"\nconfig_path: str = ""')
    params.metadata["tags"] = ["parameters"]
    start = nbformat.v4.new_code_cell(
        f'rb = session.start("{session_name}", incident_id=incident_id)')
    cells = [params, start]
    for text in outputs:
        cell = nbformat.v4.new_code_cell("rb.report(...)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cells.append(cell)
    for count, cell in enumerate(cells, start=1):
        cell.execution_count = count
    nb.cells = cells
    path = directory / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", SECRET)
    return SECRET


def session_with_work(tmp_path: Path) -> object:
    rb = start_session(tmp_path, {"slack": {"webhook_url_env": "TEST_SLACK_WEBHOOK_URL"}},
                       notebook="sev1_response")
    rb.report([failed("health.down", "/healthz answers 502"),
               passed("uptime.up", "UptimeRobot sees it up")])
    rb.record_action({"name": "slack.post", "dry_run": False, "result": "posted",
                      "status": "succeeded"})
    return rb


def test_archive_seals_the_sessions_run_with_its_findings(tmp_path: Path,
                                                          secret_env: str) -> None:
    rb = session_with_work(tmp_path)
    notebook = saved_notebook(tmp_path, f"the webhook is {secret_env}\n")
    config = load_config(next(tmp_path.glob("runbook-*.toml")))
    archived = interactive.archive_notebook(notebook, INCIDENT, config)

    assert archived.reused_session and archived.run_dir == rb.run_dir  # type: ignore[attr-defined]
    record = read_record(archived.run_dir / "record.json")
    assert record["status"] == "completed" and record["mode"] == "interactive"
    assert [f["code"] for f in record["findings"]] == ["health.down", "uptime.up"]
    assert record["severity"] == "SEV-1"
    assert [a["name"] for a in record["actions"]] == ["slack.post"]
    assert record["parameters"] == {"incident_id": INCIDENT, "config_path": ""}
    assert record["previous_record_sha256"] is None
    assert secret_env.encode() not in all_bytes_under(archived.run_dir)
    assert "[redacted:TEST_SLACK_WEBHOOK_URL]" in (archived.run_dir / "notebook.ipynb").read_text()
    archive = Archive(config.runs_dir())
    assert verify_incident(archive, INCIDENT) == []
    row = next(r for r in list_runs(archive, INCIDENT))
    assert (row.status, row.severity, row.first_failure) == \
        ("completed", "SEV-1", "health.down (fail)")
    assert "health.down" in repr(archived)


def test_archiving_again_keeps_only_what_came_after(tmp_path: Path, secret_env: str) -> None:
    rb = session_with_work(tmp_path)
    notebook = saved_notebook(tmp_path)
    config = load_config(next(tmp_path.glob("runbook-*.toml")))
    first = interactive.archive_notebook(notebook, INCIDENT, config)
    rb.report(failed("deploy.crashed", "the latest deployment CRASHED"))  # type: ignore[attr-defined]
    second = interactive.archive_notebook(notebook, INCIDENT, config)
    third = interactive.archive_notebook(notebook, INCIDENT, config)

    assert not second.reused_session and second.run_dir != first.run_dir
    assert [f["code"] for f in second.record["findings"]] == ["deploy.crashed"]
    assert second.record["continues_run"] == first.run_dir.name
    assert second.record["events_source"] == first.run_dir.name
    assert third.record["findings"] == []
    assert third.record["previous_record_sha256"] is not None
    assert verify_incident(Archive(config.runs_dir()), INCIDENT) == []


def test_a_notebook_without_a_session_gets_a_new_run(tmp_path: Path, secret_env: str) -> None:
    config_path = tmp_path / "runbook.toml"
    config_path.write_text(to_toml({"service": {"name": "dealix",
                                                "base_url": "http://127.0.0.1:9"}}))
    notebook = saved_notebook(tmp_path, name="my copy", session_name="db_refused")
    archived = interactive.archive_notebook(notebook, "inc-new-1", load_config(config_path))
    assert not archived.reused_session
    assert archived.record["notebook"] == "db_refused"      # the name its session would use
    assert archived.record["status"] == "completed" and archived.record["findings"] == []
    started = json.loads((archived.run_dir / "started.json").read_text())
    assert started["mode"] == "interactive"


def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    config_path = tmp_path / "runbook.toml"
    config_path.write_text(to_toml({"service": {"name": "d", "base_url": "http://127.0.0.1:9"}}))
    config = load_config(config_path)
    with pytest.raises(BadInput, match="not a notebook"):
        interactive.archive_notebook(tmp_path / "notes.txt", INCIDENT, config)
    with pytest.raises(BadInput, match="not found"):
        interactive.archive_notebook(tmp_path / "gone.ipynb", INCIDENT, config)
    with pytest.raises(BadInput, match="incident id"):
        interactive.archive_notebook(saved_notebook(tmp_path), "../escape", config)
    assert not config.runs_dir().exists()
    done = run_cli("archive", str(tmp_path / "gone.ipynb"), "--incident", INCIDENT,
                   "--config", str(config_path))
    assert done.returncode == 2 and "not found" in done.stderr


@pytest.mark.slow
def test_a_notebook_run_in_a_kernel_then_archived_shows_in_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs_dir: Path) -> None:
    """sev1_response executed cell by cell in a real kernel outside papermill (as JupyterLab
    does), saved, archived with the CLI, then listed and verified."""
    from nbclient import NotebookClient

    with simulated_target(runs_dir) as target:
        outage(target)
        config_path = target.write_config()
        for name, value in target.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RUNBOOK_CONFIG", str(config_path))
        for name in ("RUNBOOK_RUN_DIR", "RUNBOOK_NOTEBOOK", "RUNBOOK_INCIDENT"):
            monkeypatch.delenv(name, raising=False)
        nb = nbformat.read(str(ROOT / "notebooks" / "sev1_response.ipynb"), as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        params.source = params.source.replace('incident_id: str = ""',
                                              'incident_id: str = "inc-lab-1"')
        work = tmp_path / "lab"
        work.mkdir()
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
        saved = work / "sev1_response.ipynb"
        nbformat.write(nb, str(saved))

        started = [json.loads(p.read_text()) for p in runs_dir.glob("inc-lab-1/*/started.json")]
        assert [s["mode"] for s in started] == ["interactive"]     # the session's own run
        env = {**os.environ}
        archived = run_cli("archive", str(saved), "--incident", "inc-lab-1", env=env)
        assert archived.returncode == 0, archived.stderr
        assert "completed" in archived.stdout and "health.down" in archived.stdout
        listed = run_cli("runs", "--incident", "inc-lab-1", env=env)
        assert listed.returncode == 0, listed.stderr
        line = next(x for x in listed.stdout.splitlines() if "sev1_response" in x)
        assert "completed" in line and "SEV-1" in line and "health.down" in line
        verified = run_cli("verify", "inc-lab-1", env=env)
        assert verified.returncode == 0, verified.stdout + verified.stderr

    (record_path,) = runs_dir.glob("inc-lab-1/*/record.json")
    record = read_record(record_path)
    codes = {f["code"]: f["status"] for f in record["findings"]}
    assert codes["health.down"] == "fail" and codes["uptime.down"] == "fail"
    assert len(list(runs_dir.glob("inc-lab-1/*/"))) == 1
    events = read_lines(record_path.parent / "events.jsonl")
    assert len([e for e in events if e["type"] == "finding"]) == len(record["findings"])
    archived_bytes = all_bytes_under(record_path.parent)
    for value in target.env.values():
        assert value.encode() not in archived_bytes
