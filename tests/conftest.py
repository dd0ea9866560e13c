"""Shared fixtures: every test gets its own archive, and no test sees a responder's config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_fixtures import pg_app_fixture, postgres_fixture  # noqa: F401 - one Postgres a session
from runbook.core.redaction import registry
from subprocess_coverage import (  # noqa: F401 - measures the processes started
    pytest_runtest_protocol,
    pytest_sessionfinish,
)
from suite_order import pytest_collection_modifyitems  # noqa: F401 - long modules first

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = str(Path(sys.executable).parent / "runbook")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh runs/ per test, the cwd in tmp, and a clean secret registry."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("RUNBOOK_RUNS_DIR", str(runs))
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    registry().clear()
    yield runs
    registry().clear()


@pytest.fixture
def runs_dir(isolated: Path) -> Path:
    return isolated


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `runbook` command as a user would, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([RUNBOOK, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=cwd)


def all_bytes_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


SERVE_EVENT_NAMES = {"alert.received": "alert", "signal.recovered": "recovered",
                     "notice": "notice", "plan.offered": "plan", "press": "press"}


def incident_events(archive: object, incident_id: str) -> list[dict[str, object]]:
    """What serve appended to the incident's log (alerts, recoveries, notices, plans,
    presses), each as a dict of its body with `event` (its short name) and `at`."""
    from runbook.archive.record import Archive
    from runbook.core import clock
    from runbook.incident.log import IncidentLog

    assert isinstance(archive, Archive)
    return [{"event": SERVE_EVENT_NAMES[e.kind], "at": clock.iso(e.at), **e.body}
            for e in IncidentLog(archive, incident_id).events() if e.kind in SERVE_EVENT_NAMES]
