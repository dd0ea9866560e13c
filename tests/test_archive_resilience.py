"""One bad part of the archive never stops the rest: a stray folder is skipped and named."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT, run_cli
from serve_fixtures import client, serving, wait_for

FIXTURE = ROOT / "tests" / "fixtures" / "archive_fa17daa" / "runs"
GOOD = "inc-fa17daa-outage"
COPY = f"{GOOD} copy"


def archive_with_a_copied_folder(runs: Path) -> Path:
    """The fixture archive, and one incident's folder copied by a file manager."""
    shutil.copytree(FIXTURE, runs)
    shutil.copytree(runs / GOOD, runs / COPY)
    return runs


def test_verify_skips_a_misnamed_folder_names_it_and_exits_3(runs_dir: Path) -> None:
    archive_with_a_copied_folder(runs_dir)
    verified = run_cli("verify")
    assert verified.returncode == 3, verified.stdout + verified.stderr
    assert "Traceback" not in verified.stderr
    assert f"{GOOD}: intact" in verified.stdout
    assert "inc-20261204-1726-27ca: intact" in verified.stdout
    assert f"{COPY}: NOT verified" in verified.stdout
    assert f"skipped {runs_dir / COPY}" in verified.stderr


def test_runs_and_due_go_on_past_a_misnamed_folder(runs_dir: Path, tmp_path: Path) -> None:
    archive_with_a_copied_folder(runs_dir)
    listed = run_cli("runs")
    assert listed.returncode == 0 and GOOD in listed.stdout, listed.stderr
    due = run_cli("due", "--out", str(tmp_path / "postmortems"), "--now",
                  "2026-12-05T09:00:00Z")
    assert due.returncode == 0, due.stdout + due.stderr
    assert "inc-20261204-1726-27ca" in due.stdout
    assert COPY not in due.stdout and f"'{COPY}'" in due.stderr


def test_serve_starts_past_a_misnamed_folder(runs_dir: Path, tmp_path: Path) -> None:
    archive_with_a_copied_folder(runs_dir)
    with serving(tmp_path) as (serve, _), client() as http:
        assert wait_for(lambda: f"'{COPY}'" in serve.text(), timeout=30), serve.text()
        assert http.get(f"{serve.url}/healthz").status_code in (200, 503), serve.text()
        assert serve.process.poll() is None
