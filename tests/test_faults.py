"""Faults a tool for incidents must survive: killed kernels, killed runners, concurrency,
an archive that cannot be written, tampering."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import RUNBOOK, run_cli
from nbfactory import write_config, write_notebook


def _wait_for(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition never became true")


def _text_in_notebook(runs_dir: Path, text: str) -> bool:
    return any(text in p.read_text(errors="replace") for p in runs_dir.glob("*/*/notebook.ipynb"))


@pytest.mark.slow
def test_kernel_killed_mid_cell_is_aborted_with_the_partial_notebook(
        tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "victim", "import os\nprint('kernel', 'pid', os.getpid())",
                        "import time\ntime.sleep(300)")
    process = subprocess.Popen([RUNBOOK, "run", str(nb), "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _text_in_notebook(runs_dir, "kernel pid "))
    text = next(runs_dir.glob("*/*/notebook.ipynb")).read_text()
    pid = int(re.search(r"kernel pid (\d+)", text).group(1))  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=60)
    record = json.loads(next(runs_dir.glob("*/*/record.json")).read_text())
    assert record["status"] == "aborted"
    assert "kernel pid" in next(runs_dir.glob("*/*/notebook.ipynb")).read_text()


@pytest.mark.slow
def test_runner_killed_with_sigkill_shows_as_interrupted(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "doomed", "print('going')", "import time\ntime.sleep(300)")
    process = subprocess.Popen([RUNBOOK, "run", str(nb), "--config", str(config),
                                "--incident", "inc-killed"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    _wait_for(lambda: _text_in_notebook(runs_dir, "going"))
    os.killpg(process.pid, signal.SIGKILL)  # the runner and its kernel, as a lost machine would
    process.wait(timeout=30)
    listing = run_cli("runs", "--incident", "inc-killed")
    assert "interrupted" in listing.stdout
    assert "doomed" in listing.stdout


@pytest.mark.slow
def test_twenty_concurrent_runs_into_one_incident(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "quick", "pass", parameters='incident_id: str = ""  # x\n')
    from runbook.core.config import load_config
    from runbook.host.runner import run_notebook

    loaded = load_config(config)
    # Threads in one process contend on the same files exactly as processes would (flock and
    # O_APPEND), at a fraction of the cost of twenty interpreters on a small machine.
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(
            lambda _: run_notebook(str(nb), [], loaded, incident_id="inc-crowd", progress=False),
            range(20)))
    assert all(r.status == "completed" for r in results), [r.error for r in results]
    records = list((runs_dir / "inc-crowd").glob("*/record.json"))
    assert len(records) == 20
    listing = run_cli("runs", "--incident", "inc-crowd")
    assert listing.stdout.count("completed") == 20
    verdict = run_cli("verify", "inc-crowd")
    assert verdict.returncode == 0, verdict.stdout


def test_unwritable_archive_is_refused_before_the_kernel_starts(
        tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "pass")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive should be")
    result = run_cli("run", str(nb), "--config", str(config),
                     env={"RUNBOOK_RUNS_DIR": str(blocker / "runs")})
    assert result.returncode == 2
    assert "cannot write to the archive" in result.stderr


def test_full_disk_is_refused_before_the_kernel_starts(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    from runbook.archive.record import Archive
    from runbook.core.errors import ArchiveError

    class FullArchive(Archive):
        pass

    archive = FullArchive(tmp_path / "runs")
    original = shutil.disk_usage

    def tiny(path: object) -> object:
        usage = original(path)  # type: ignore[arg-type]
        return type(usage)(usage.total, usage.total - 1024, 1024)

    shutil.disk_usage = tiny  # type: ignore[assignment]
    try:
        with pytest.raises(ArchiveError, match="KiB free"):
            archive.ensure_writable()
    finally:
        shutil.disk_usage = original


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An incident of three real runs that `verify` passes, made once: each tampering test
    works on its own copy."""
    home = tmp_path_factory.mktemp("three-runs")
    config = write_config(home)
    nb = write_notebook(home, "ok", "pass")
    runs = home / "runs"
    for _ in range(3):
        assert run_cli("run", str(nb), "--config", str(config), "--incident", "inc-t",
                       env={"RUNBOOK_RUNS_DIR": str(runs)}, cwd=home).returncode == 0
    assert run_cli("verify", "inc-t", env={"RUNBOOK_RUNS_DIR": str(runs)}).returncode == 0
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("tamper", ["edit", "remove", "insert"])
def test_verify_names_the_tampered_record(three_runs: Path, runs_dir: Path, tamper: str) -> None:
    shutil.copytree(three_runs, runs_dir)
    assert run_cli("verify", "inc-t").returncode == 0
    runs = sorted(p for p in (runs_dir / "inc-t").iterdir() if p.is_dir())
    victim = runs[1]
    if tamper == "edit":
        record = json.loads((victim / "record.json").read_text())
        record["status"] = "completed"
        record["findings"] = [{"code": "health.ok", "status": "pass", "summary": "all fine",
                               "evidence": {}}]
        (victim / "record.json").write_text(json.dumps(record))
    elif tamper == "remove":
        shutil.rmtree(victim)
    else:
        forged = runs_dir / "inc-t" / "20260101T000000Z-forged"
        shutil.copytree(victim, forged)
        victim = forged
    verdict = run_cli("verify", "inc-t")
    assert verdict.returncode == 1
    assert victim.name in verdict.stdout
