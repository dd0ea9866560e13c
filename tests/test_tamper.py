"""`runbook verify` catches an edit to any file of a run or of the incident, and a removed last
run when given the chain head from outside; the 48-hour clock ignores an edited incident.json.
A broken archive layout is refused before anything runs."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archive_files import append_line, read_lines
from conftest import run_cli
from nbfactory import write_config, write_notebook
from postmortem_fixtures import T0, finding, notebook_with
from runbook.archive.layout import NOTEBOOK
from runbook.archive.record import Archive
from runbook.archive.verify import verify_incident
from runbook.core import clock
from runbook.incident.log import IncidentLog
from runbook.incident.seal import seal_run
from runbook.sections.postmortem.due import postmortems_due

INCIDENT = "inc-tamper"


def add_run(archive: Archive, notebook: str, started: datetime,
            findings: list[dict[str, Any]]) -> Path:
    """A run sealed as the runner seals it (`seal_run`), its events and notebook kept."""
    archive.open_incident(INCIDENT, T0)
    base = {"incident_id": INCIDENT, "notebook": notebook, "started_at": clock.iso(started),
            "parameters": {}, "mode": "drill"}
    run = archive.start_run(INCIDENT, notebook, started, base)
    for item in findings:
        archive.append_event(run, {"type": "finding", "at": clock.iso(started),
                                   "finding": item})
    archive.store.replace(run.key(NOTEBOOK), notebook_with(notebook).encode("utf-8"))
    seal_run(archive, run, base, status="completed")
    return archive.run_dir(run)


def two_runs(runs_dir: Path) -> tuple[Archive, Path, Path]:
    archive = Archive(runs_dir)
    first = add_run(archive, "sev1_response", T0, [finding("health.down", "fail")])
    second = add_run(archive, "rollback", T0 + timedelta(minutes=5), [])
    return archive, first, second


def kinds(archive: Archive, head: str | None = None) -> list[tuple[str, str]]:
    return [(p.kind, p.run) for p in verify_incident(archive, INCIDENT, head=head)]


def test_an_intact_archive_verifies_and_appended_events_are_fine(runs_dir: Path) -> None:
    archive, first, _ = two_runs(runs_dir)
    assert kinds(archive) == []
    # An interactive session may go on appending to a sealed run's events: not an edit.
    append_line(first / "events.jsonl", {"type": "finding", "at": "x", "finding": {}})
    assert kinds(archive) == []


@pytest.mark.parametrize("name", ["events.jsonl", "started.json"])
def test_an_edited_run_file_is_named(runs_dir: Path, name: str) -> None:
    archive, first, _ = two_runs(runs_dir)
    path = first / name
    path.write_text(path.read_text().replace("health.down", "health.ok")
                    .replace("sev1_response", "sev1_respons3"))
    problems = verify_incident(archive, INCIDENT)
    assert [(p.kind, p.run) for p in problems] == [("file_edited", first.name)]
    assert name in problems[0].detail


def test_a_truncated_events_file_is_caught(runs_dir: Path) -> None:
    archive, first, _ = two_runs(runs_dir)
    (first / "events.jsonl").write_text("")
    assert ("file_edited", first.name) in kinds(archive)


def test_an_edited_incident_header_is_caught_and_not_trusted(runs_dir: Path,
                                                             tmp_path: Path) -> None:
    archive, _, _ = two_runs(runs_dir)
    header = runs_dir / INCIDENT / "incident.json"
    data = json.loads(header.read_text())
    # Moved two days later: the 48-hour clock would say nothing is due.
    data["started_at"] = clock.iso(T0 + timedelta(days=2))
    header.write_text(json.dumps(data))
    assert {kind for kind, _ in kinds(archive)} == {"incident_edited"}
    assert IncidentLog(archive, INCIDENT).fold().started_at == T0
    due = postmortems_due(archive, tmp_path / "none", T0 + timedelta(hours=49))
    assert [(d.incident_id, d.overdue) for d in due] == [(INCIDENT, True)]
    verified = run_cli("verify", INCIDENT)
    assert verified.returncode == 1 and "incident.json" in verified.stdout


def test_a_removed_last_run_is_caught_with_the_head_given_out_of_band(runs_dir: Path) -> None:
    archive, _, second = two_runs(runs_dir)
    head = archive.chain_head(INCIDENT)
    assert head is not None
    # Remove the last run whole: its directory, its chain line, its index lines.
    shutil.rmtree(second)
    chain = runs_dir / INCIDENT / "chain.jsonl"
    chain.write_text("".join(line + "\n" for line in chain.read_text().splitlines()[:-1]))
    index = runs_dir / "index.jsonl"
    index.write_text("".join(json.dumps(e) + "\n" for e in read_lines(index)
                             if second.name not in str(e.get("run"))))
    assert kinds(archive) == []     # nothing is left in the chain to tell
    assert kinds(archive, head=head) == [("head_missing", "(chain)")]
    older = archive.chain_head(INCIDENT)
    assert older is not None and kinds(archive, head=older) == []
    # The incident's log saw the run sealed: it tells, head or no head.
    verified = run_cli("verify", INCIDENT)
    assert verified.returncode == 1
    assert f"removed: {second.name}: the log saw this record sealed" in verified.stdout


def test_a_run_prints_the_chain_head(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "print(count)")
    result = run_cli("run", str(nb), "--config", str(config), "--incident", INCIDENT)
    assert result.returncode == 0, result.stderr
    head = Archive(runs_dir).chain_head(INCIDENT)
    assert head and f"chain head: {head}" in result.stdout
    record = json.loads(next(runs_dir.glob(f"{INCIDENT}/*/record.json")).read_text())
    assert record["incident_started_at"]


# -- a broken layout is refused before anything runs ----------------------------------------

def _refused(tmp_path: Path, runs_dir: Path, expect: str) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "print(count)")
    before = sorted(str(p) for p in runs_dir.rglob("*"))
    result = run_cli("run", str(nb), "--config", str(config), "--incident", INCIDENT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expect in result.stderr and "Traceback" not in result.stderr
    assert sorted(str(p) for p in runs_dir.rglob("*")) == before


def test_an_incident_that_is_a_file_is_refused(tmp_path: Path, runs_dir: Path) -> None:
    runs_dir.mkdir(parents=True)
    (runs_dir / INCIDENT).write_text("not a folder")
    _refused(tmp_path, runs_dir, "is a file")


def test_an_index_that_is_a_folder_is_refused(tmp_path: Path, runs_dir: Path) -> None:
    (runs_dir / "index.jsonl").mkdir(parents=True)
    _refused(tmp_path, runs_dir, "is a folder")


def test_a_chain_line_without_its_hash_is_refused_up_front(tmp_path: Path,
                                                           runs_dir: Path) -> None:
    archive, _, _ = two_runs(runs_dir)
    chain = runs_dir / INCIDENT / "chain.jsonl"
    lines = chain.read_text().splitlines()
    entry = json.loads(lines[0])
    del entry["sha256"]
    chain.write_text("\n".join([json.dumps(entry), *lines[1:]]) + "\n")
    _refused(tmp_path, runs_dir, "line 1 has no sha256")
    assert ("malformed", entry["run"]) in kinds(archive)
