"""The lab belongs to its incident: every run of a lab session is filed under the lab's incident,
`runbook archive` refuses a notebook that never ran, and a session that ends unarchived is
sealed `abandoned` with what it recorded (the pieces; tests/test_lab_sessions.py drives them
through a real JupyterLab)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from conftest import all_bytes_under, run_cli
from mitigate_fixtures import start_session
from runbook.archive import layout
from runbook.archive.record import Archive, list_runs, parse_record, read_record
from runbook.archive.verify import verify_incident
from runbook.core.config import load_config
from runbook.core.errors import BadInput
from runbook.core.findings import failed, passed
from runbook.core.run_env import ENV_LAB_INCIDENT, ENV_LAB_SESSION
from runbook.sections.kit import interactive, session
from runbook.sections.kit.session import Session

INCIDENT = "inc-lab-7"


@pytest.fixture
def exit_hooks(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """What a session registers to run when its kernel exits, kept here instead of at the
    exit of the test process."""
    hooks: list[Callable[..., Any]] = []

    def register(hook: Callable[..., Any], *args: Any) -> None:
        hooks.append(lambda: hook(*args))

    monkeypatch.setattr(session.atexit, "register", register)
    return hooks


def in_lab(monkeypatch: pytest.MonkeyPatch, incident: str = INCIDENT,
           lab_session: str = "lab-a") -> None:
    monkeypatch.setenv(ENV_LAB_INCIDENT, incident)
    monkeypatch.setenv(ENV_LAB_SESSION, lab_session)


def archive_of(rb: Session) -> Archive:
    return rb.archive


# ---------------------------------------------------------------- one incident per lab session

def test_every_notebook_of_a_lab_session_is_filed_under_the_labs_incident(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_hooks: list[Any]) -> None:
    in_lab(monkeypatch)
    first = start_session(tmp_path, incident_id="", notebook="sev1_response")
    second = start_session(tmp_path, incident_id="", notebook="db_refused")
    assert first.incident_id == second.incident_id == INCIDENT
    archive = archive_of(first)
    assert archive.incidents() == [INCIDENT]
    started = [archive.started(run) for run in archive.runs_of(INCIDENT)]
    assert sorted(s["notebook"] for s in started) == ["db_refused", "sev1_response"]
    assert {s["lab_session"] for s in started} == {"lab-a"}
    assert len(exit_hooks) == 2       # each kernel seals its run if it ends unarchived


def test_the_parameters_cell_naming_the_labs_incident_is_accepted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_hooks: list[Any]) -> None:
    in_lab(monkeypatch)
    assert start_session(tmp_path, incident_id=INCIDENT).incident_id == INCIDENT


def test_another_incident_in_the_parameters_cell_is_refused_naming_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_hooks: list[Any]) -> None:
    in_lab(monkeypatch)
    with pytest.raises(BadInput, match="inc-other") as refused:
        start_session(tmp_path, incident_id="inc-other")
    assert INCIDENT in str(refused.value) and "runbook lab --incident inc-other" in \
        str(refused.value)
    assert not (tmp_path / "runs" / "inc-other").exists() and exit_hooks == []


def test_outside_a_lab_each_session_opens_its_own_incident(tmp_path: Path,
                                                         exit_hooks: list[Any]) -> None:
    first = start_session(tmp_path, incident_id="", notebook="sev1_response")
    second = start_session(tmp_path, incident_id="", notebook="db_refused")
    assert first.incident_id != second.incident_id
    assert "lab_session" not in archive_of(first).started(first.run) and exit_hooks == []


def test_the_kernel_knows_its_saved_notebook_from_the_jupyter_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_hooks: list[Any]) -> None:
    in_lab(monkeypatch)
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "sev1_response.ipynb"))
    rb = start_session(tmp_path, incident_id="", notebook="sev1_response")
    assert archive_of(rb).started(rb.run)["notebook_path"] == \
        str(tmp_path / "sev1_response.ipynb")


# ---------------------------------------------------------------- never-run notebooks

def never_run(directory: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('incident_id: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# SEV-1"), params,
                nbformat.v4.new_code_cell('rb = session.start("sev1_response")')]
    path = directory / "sev1_response.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_a_notebook_with_no_executed_cell_is_refused(tmp_path: Path, runs_dir: Path) -> None:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    rb = start_session(tmp_path, incident_id=INCIDENT, notebook="sev1_response")
    rb.report(failed("health.down", "/healthz answers 502"))
    before = {p: p.read_bytes() for p in runs_dir.rglob("*") if p.is_file()}
    notebook = never_run(tmp_path)
    done = run_cli("archive", str(notebook), "--incident", INCIDENT, "--config", str(config))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{notebook} has no executed cell: run it in JupyterLab first" in done.stderr
    assert "Traceback" not in done.stderr
    after = {p: p.read_bytes() for p in runs_dir.rglob("*") if p.is_file()}
    assert after == before                     # nothing archived, nothing touched
    assert not archive_of(rb).is_sealed(rb.run)
    with pytest.raises(BadInput, match="no executed cell"):
        interactive.archive_notebook(notebook, INCIDENT, load_config(config))


def test_a_cell_run_is_enough_to_archive(tmp_path: Path) -> None:
    nb = nbformat.read(str(never_run(tmp_path)), as_version=4)
    assert not interactive.executed(nb)
    nb.cells[1].execution_count = 1
    assert interactive.executed(nb)


# ---------------------------------------------------------------- a session ended unarchived

def session_with_work(tmp_path: Path, notebook: str = "sev1_response") -> Session:
    rb = start_session(tmp_path, incident_id=INCIDENT, notebook=notebook)
    rb.report([failed("health.down", "/healthz answers 502"), passed("uptime.up", "up")])
    rb.record_action({"name": "slack.post", "dry_run": True, "result": "planned",
                      "status": "dry_run"})
    return rb


def test_an_unarchived_session_is_sealed_abandoned_with_what_it_ran(
        tmp_path: Path, runs_dir: Path) -> None:
    rb = session_with_work(tmp_path)
    saved = tmp_path / "saved.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("rb.report(...)", execution_count=1)]
    nbformat.write(nb, str(saved))
    archive = archive_of(rb)
    started = archive.started(rb.run)
    archive.store.replace(rb.run.key(layout.STARTED),
                          json.dumps({**started, "notebook_path": str(saved)}).encode())

    record = interactive.abandon_run(archive, rb.run, "the lab session ended")
    assert record is not None and record["status"] == "abandoned"
    sealed = read_record(rb.run_dir / "record.json")
    assert sealed["status"] == "abandoned" and sealed["error"] == "the lab session ended"
    assert [f["code"] for f in sealed["findings"]] == ["health.down", "uptime.up"]
    assert sealed["severity"] == "SEV-1"
    assert [a["name"] for a in sealed["actions"]] == ["slack.post"]
    notebook = nbformat.read(str(rb.run_dir / "notebook.ipynb"), as_version=4)
    assert notebook.metadata["runbook"]["status"] == "abandoned"
    assert "Run abandoned" in notebook.cells[0].source            # the banner
    assert notebook.cells[1].source == "rb.report(...)"           # the saved notebook
    assert verify_incident(archive, INCIDENT) == []
    (row,) = list_runs(archive, INCIDENT)
    assert (row.status, row.severity) == ("abandoned", "SEV-1")
    listed = run_cli("runs", "--incident", INCIDENT)
    assert listed.returncode == 0, listed.stderr
    assert "abandoned" in listed.stdout and "interrupted" not in listed.stdout
    # Sealed once: a second ending (the lab's sweep after the kernel's own) adds nothing.
    assert interactive.abandon_run(archive, rb.run, "again") is None
    assert len(archive.chain(INCIDENT)) == 1


def test_abandoned_is_a_status_a_record_may_have() -> None:
    record = {"incident_id": "i", "notebook": "n", "status": "abandoned", "started_at": "t",
              "findings": [], "actions": []}
    assert parse_record(json.dumps(record).encode(), "r")["status"] == "abandoned"


def test_after_an_archive_only_what_came_later_is_abandoned(tmp_path: Path) -> None:
    from test_archive import saved_notebook

    rb = session_with_work(tmp_path)
    archive = archive_of(rb)
    first = interactive.archive_notebook(saved_notebook(tmp_path), INCIDENT, rb.config)
    assert first.run_dir == rb.run_dir
    assert interactive.abandon_run(archive, rb.run, "ended") is None   # all archived
    rb.report(failed("deploy.crashed", "the latest deployment CRASHED"))
    later = interactive.abandon_run(archive, rb.run, "ended")
    assert later is not None and later["status"] == "abandoned"
    assert [f["code"] for f in later["findings"]] == ["deploy.crashed"]
    assert later["continues_run"] == rb.run.name and later["events_source"] == rb.run.name
    assert interactive.abandon_run(archive, rb.run, "ended") is None
    # An archive after that takes nothing twice.
    again = interactive.archive_notebook(saved_notebook(tmp_path), INCIDENT, rb.config)
    assert again.record["findings"] == []
    assert verify_incident(archive, INCIDENT) == []


def test_the_lab_seals_only_its_own_sessions_runs(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 exit_hooks: list[Any]) -> None:
    in_lab(monkeypatch, lab_session="lab-a")
    ours = session_with_work(tmp_path, "sev1_response")
    in_lab(monkeypatch, lab_session="lab-b")
    theirs = session_with_work(tmp_path, "db_refused")
    archive = archive_of(ours)
    sealed = interactive.abandon_lab_session(archive, INCIDENT, "lab-a", "the lab stopped")
    assert [r["notebook"] for r in sealed] == ["sev1_response"]
    assert archive.is_sealed(ours.run) and not archive.is_sealed(theirs.run)
    assert interactive.abandon_lab_session(archive, INCIDENT, "lab-a", "again") == []


def test_a_kernel_that_exits_seals_its_unarchived_run(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      exit_hooks: list[Any]) -> None:
    in_lab(monkeypatch)
    rb = session_with_work(tmp_path)
    (hook,) = exit_hooks
    hook()
    record = read_record(rb.run_dir / "record.json")
    assert record["status"] == "abandoned" and "kernel was shut down" in record["error"]
    assert [f["code"] for f in record["findings"]] == ["health.down", "uptime.up"]
    assert b"Traceback" not in all_bytes_under(rb.run_dir)
