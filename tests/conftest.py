"""Shared fixtures: every test gets its own archive, and no test sees a responder's config."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
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


# The commands that only read and write the archive (no kernel, no server, no signal handling):
# run in the test's own process, through the same `main`, they cost no Python start (a third
# of a second each, measured, and there are a few hundred). `run`, `drill`, `lab` and `serve`
# start kernels and servers and stop on signals: they always run as the installed command.
IN_PROCESS_COMMANDS = frozenset({"runs", "verify", "incident", "similar", "digest", "report",
                                 "postmortem", "sync", "archive", "due"})


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `runbook` command as a user would, capturing its output."""
    if args and args[0] in IN_PROCESS_COMMANDS:
        return _run_in_process(list(args), env or {}, cwd)
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([RUNBOOK, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=cwd)


def _run_in_process(args: list[str], env: dict[str, str],
                    cwd: Path | None) -> subprocess.CompletedProcess[str]:
    """`runbook ARGS` through `cli.main` here, as the command would run: its own environment and
    folder, its output captured, a fresh secret registry (it redacts only what it read itself,
    not what the test registered), an uncaught exception printed as Python would, exit 1."""
    from runbook.core import redaction
    from runbook.core.environ import environment_with
    from runbook.host import cli

    out, err = io.StringIO(), io.StringIO()
    saved_registry = redaction._REGISTRY
    redaction._REGISTRY = redaction.SecretRegistry()
    try:
        with environment_with(dict(env)), contextlib.chdir(cwd or Path.cwd()), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except Exception:  # noqa: BLE001 - what the installed command would print
                traceback.print_exc()
                code = 1
    finally:
        redaction._REGISTRY = saved_registry
    return subprocess.CompletedProcess([RUNBOOK, *args], code, out.getvalue(), err.getvalue())


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
