"""An archive written by an earlier version of the library still lists, verifies and gives its
postmortem. `tests/fixtures/archive_v1/` was written by `runbook drill` (outage, then
bad-deploy-rollback into the same incident, and webhook-401) before the library was regrouped;
it is never regenerated, so any change that stops reading it fails here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_cli

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "archive_v1" / "runs"


def _copy(tmp_path: Path, fixture: Path = FIXTURE) -> Path:
    runs = tmp_path / f"old-runs-{fixture.parent.name}"
    shutil.copytree(fixture, runs)
    return runs


def test_an_old_archive_lists(tmp_path: Path) -> None:
    runs = _copy(tmp_path)
    listed = run_cli("runs", env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert listed.returncode == 0, listed.stderr
    assert "inc-legacy-outage" in listed.stdout and "inc-legacy-webhook" in listed.stdout
    assert "webhook.secret_mismatch" in listed.stdout
    assert listed.stdout.count("inc-legacy-outage") == 2


def test_an_old_archive_verifies(tmp_path: Path) -> None:
    runs = _copy(tmp_path)
    verified = run_cli("verify", env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "inc-legacy-outage: intact" in verified.stdout


def test_an_old_archive_still_catches_tampering(tmp_path: Path) -> None:
    runs = _copy(tmp_path)
    record = next(runs.glob("inc-legacy-outage/*-rollback/record.json"))
    record.write_text(record.read_text().replace("SEV-1", "SEV-3"))
    verified = run_cli("verify", "inc-legacy-outage", env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert verified.returncode == 1


def test_an_old_archive_gives_its_postmortem(tmp_path: Path) -> None:
    runs = _copy(tmp_path)
    out = tmp_path / "pm"
    written = run_cli("postmortem", "inc-legacy-outage", "--out", str(out),
                      env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert written.returncode == 0, written.stderr
    page = next(out.glob("*.md")).read_text()
    assert "health.down" in page
    assert "railway.rollback" in page


# ---------------------------------------------------------------- written at fa17daa
# `tests/fixtures/archive_fa17daa/` was written by `runbook drill` at fa17daa, the last
# version before the incident's event log: alert-outage-rollback (serve's
# incident_events.jsonl with its alert, plans and presses, the actions ledger and claims),
# webhook-401, and outage. It reads as it is, upcast on every read, never rewritten.

FA17DAA = Path(__file__).resolve().parent / "fixtures" / "archive_fa17daa" / "runs"


def test_the_fa17daa_archive_lists_and_verifies(tmp_path: Path) -> None:
    runs = _copy(tmp_path, FA17DAA)
    listed = run_cli("runs", env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert listed.returncode == 0, listed.stderr
    assert "inc-fa17daa-outage" in listed.stdout and "rollback" in listed.stdout
    verified = run_cli("verify", env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(": intact") == 3


@pytest.mark.slow
def test_the_fa17daa_archive_gives_its_postmortems_and_its_folds(tmp_path: Path) -> None:
    import json

    runs = _copy(tmp_path, FA17DAA)
    for incident in sorted(p.name for p in runs.iterdir() if p.is_dir()):
        out = tmp_path / "pm" / incident
        written = run_cli("postmortem", incident, "--out", str(out),
                          env={"RUNBOOK_RUNS_DIR": str(runs)})
        assert written.returncode == 0, written.stderr
        assert next(out.glob("*.md")).read_text()
        shown = run_cli("incident", "show", incident, "--json",
                        env={"RUNBOOK_RUNS_DIR": str(runs)})
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["started_at"]


def test_new_events_on_an_fa17daa_incident_keep_its_story(tmp_path: Path) -> None:
    runs = _copy(tmp_path, FA17DAA)
    served = next(p.name for p in runs.iterdir() if (p / "incident_events.jsonl").exists())
    acked = run_cli("incident", "ack", served, "--by", "sami",
                    env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert acked.returncode == 0, acked.stderr
    shown = run_cli("incident", "show", served, "--json", env={"RUNBOOK_RUNS_DIR": str(runs)})
    import json

    data = json.loads(shown.stdout)
    assert data["acknowledged_by"] == "sami" and data["opened_by"] == "alert uptimerobot"
    assert run_cli("verify", served, env={"RUNBOOK_RUNS_DIR": str(runs)}).returncode == 0
