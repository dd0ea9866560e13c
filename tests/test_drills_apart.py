"""Drills keep to their own archive (`drills/`, on a filesystem and in a bucket): they are in
neither `runbook runs`, `due`, `verify` nor the report unless asked (`--drills`), an incident
id is found wherever it is, and the drill's archive is the config's, read from its folder."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from runbook.archive import layout
from runbook.archive.location import open_archive
from runbook.archive.record import check_incident_id
from runbook.core.errors import BadInput
from runbook.incident.log import IncidentLog
from s3_fixtures import Bucket, bucket  # noqa: F401 - the fixture
from trend_fixtures import NOW, make_incident

NOW_ARG = ["--now", (NOW + timedelta(days=3)).isoformat()]


def one_of_each(url: str | None = None) -> None:
    make_incident(open_archive(None, url, staged=False, drills=False), "inc-real",
                  NOW - timedelta(hours=1))
    make_incident(open_archive(None, url, staged=False, drills=True), "inc-drill",
                  NOW - timedelta(hours=2), drill=True, scenario="outage")


def assert_kept_apart(*archive: str) -> None:
    """runs, due, verify and report leave the drill out unless --drills; its id finds it."""
    runs = run_cli("runs", *archive)
    assert runs.returncode == 0 and "inc-real" in runs.stdout and "inc-drill" not in runs.stdout
    both = run_cli("runs", "--drills", *archive)
    assert "inc-real" in both.stdout and "inc-drill (drill)" in both.stdout
    due = run_cli("due", *NOW_ARG, *archive)
    assert due.returncode == 0 and "inc-real" in due.stdout and "inc-drill" not in due.stdout
    due_drills = run_cli("due", "--drills", *NOW_ARG, *archive)
    assert "inc-real" in due_drills.stdout and "inc-drill" in due_drills.stdout
    verify = run_cli("verify", *archive)
    assert verify.returncode == 0 and "inc-real: intact" in verify.stdout
    assert "inc-drill" not in verify.stdout
    verify_both = run_cli("verify", "--drills", *archive)
    assert verify_both.returncode == 0 and "inc-drill: intact" in verify_both.stdout
    # Asked by its id, a drill is found in the drills' archive.
    shown = json.loads(run_cli("incident", "show", "inc-drill", "--json", *archive).stdout)
    assert shown["drill"] is True and shown["scenario"] == "outage"
    assert run_cli("verify", "inc-drill", *archive).returncode == 0
    assert "inc-drill" in run_cli("runs", "--incident", "inc-drill", *archive).stdout
    for counted, flags in ((1, []), (2, ["--drills"])):
        out = Path.cwd() / f"report-{counted}"
        made = run_cli("report", *flags, "--since", "7d", *NOW_ARG, "--out", str(out), *archive)
        assert made.returncode == 0, made.stderr
        assert f"{counted} incident(s)" in made.stdout and "1 drill(s) run" in made.stdout


@pytest.mark.slow
def test_a_drill_is_kept_apart_on_a_filesystem(runs_dir: Path, tmp_path: Path) -> None:
    one_of_each()
    assert (runs_dir / "inc-real").is_dir() and (runs_dir / layout.DRILLS / "inc-drill").is_dir()
    assert_kept_apart()
    (text,) = [p.read_text() for p in (tmp_path / "report-1").glob("*.md")]
    assert "1 incidents (drills apart)" in text and "| inc-drill | outage |" in text
    assert "| inc-drill (drill) |" not in text


@pytest.mark.slow
def test_a_drill_is_kept_apart_in_a_bucket(bucket: Bucket) -> None:  # noqa: F811
    one_of_each(bucket.url)
    keys = bucket.objects()
    assert "team/inc-real/log.jsonl" in keys and "team/drills/inc-drill/log.jsonl" in keys
    assert_kept_apart("--archive", bucket.url)


def test_the_drills_folder_is_no_incident_id() -> None:
    with pytest.raises(BadInput, match="drills"):
        check_incident_id("drills")
    with pytest.raises(BadInput):
        check_incident_id("Drills")


def test_a_drill_of_an_older_archive_stays_out_of_due(runs_dir: Path) -> None:
    """Before drills had their own folder, a drill's incident sat among the incidents: its
    fold's `drill` flag keeps it out of `due` all the same."""
    make_incident(open_archive(None, drills=False), "inc-old-drill", NOW - timedelta(hours=1),
                  drill=True, scenario="outage")
    assert IncidentLog(open_archive(None, drills=False), "inc-old-drill").fold(NOW).drill
    assert "inc-old-drill" not in run_cli("due", *NOW_ARG).stdout
    assert "inc-old-drill" in run_cli("due", "--drills", *NOW_ARG).stdout


@pytest.mark.slow
def test_a_drill_files_into_the_configs_archive_read_from_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`runs_dir = "team-runs"` in a config elsewhere: the drill lands beside the config,
    under its drills/, whatever the current folder; and the team's commands find it there."""
    monkeypatch.delenv("RUNBOOK_RUNS_DIR")
    home = tmp_path / "ops"
    home.mkdir()
    config = home / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "https://api.dealix.me"\n\n'
                      '[archive]\nruns_dir = "team-runs"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    drill = run_cli("drill", "healthy", "--config", str(config), cwd=elsewhere)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    incident = drill.stdout.rsplit("incident: ", 1)[1].strip()
    assert (home / "team-runs" / layout.DRILLS / incident).is_dir()
    assert not (elsewhere / "runs").exists() and not (home / "team-runs" / incident).exists()
    listed = run_cli("runs", "--drills", "--config", str(config), cwd=elsewhere)
    assert f"{incident} (drill)" in listed.stdout
    assert incident not in run_cli("runs", "--config", str(config), cwd=elsewhere).stdout


def test_runs_says_where_the_drills_are_when_only_drills_ran(runs_dir: Path) -> None:
    make_incident(open_archive(None, drills=True), "inc-drill", NOW, drill=True,
                  scenario="outage")
    listed = run_cli("runs")
    assert listed.returncode == 0 and "inc-drill" not in listed.stdout
    assert "1 drill run(s) are kept apart: runbook runs --drills" in listed.stdout
    # A drill's own process (its world's shell) sees the drills as well.
    seen = run_cli("runs", env={"RUNBOOK_DRILL": "1"})
    assert "inc-drill (drill)" in seen.stdout


def test_configured_folders_are_read_from_the_configs_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What serve, the lab, a run and a drill open: the config's folders, never the cwd's."""
    from runbook.core.config import load_config

    monkeypatch.delenv("RUNBOOK_RUNS_DIR")
    home = tmp_path / "ops"
    home.mkdir()
    config_path = home / "runbook.toml"
    config_path.write_text('[service]\nname = "dealix"\nbase_url = "https://api.dealix.me"\n\n'
                           '[archive]\nruns_dir = "team-runs"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(config_path)
    assert open_archive(config, drills=False).root == home / "team-runs"
    assert open_archive(config, drills=True).root == home / "team-runs" / layout.DRILLS
    config_path.write_text(config_path.read_text() + 'url = "shared"\n')
    shared = load_config(config_path)
    assert open_archive(shared, drills=False).root == home / "shared"
    assert open_archive(shared, drills=True).root == home / "shared" / layout.DRILLS


def test_the_digest_lists_open_drills_only_when_asked(runs_dir: Path) -> None:
    make_incident(open_archive(None, drills=False), "inc-real", NOW, ttm=None, ttr=None)
    make_incident(open_archive(None, drills=True), "inc-drill", NOW, drill=True,
                  scenario="outage", ttm=None, ttr=None)
    plain = run_cli("digest", "--since", "3650d")
    assert plain.returncode == 0, plain.stderr
    assert "inc-real" in plain.stdout and "inc-drill" not in plain.stdout
    both = run_cli("digest", "--drills", "--since", "3650d").stdout
    assert "inc-real" in both and "inc-drill · open · dealix · DRILL" in both
