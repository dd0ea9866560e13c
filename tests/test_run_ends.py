"""How a run ends when it cannot end normally: the deadline banner names the cell it stopped
in, and a disk that fills mid-run leaves the run `interrupted` with what was kept, never a
traceback."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from conftest import run_cli
from nbfactory import write_config, write_notebook
from runbook.archive.store import LocalStore
from runbook.core.config import load_config
from runbook.host.runner import describe, run_notebook


@pytest.mark.slow
def test_the_deadline_banner_names_the_cell(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "slow", "print('fast one')",
                        "import time\nfor _ in range(600):\n    time.sleep(0.1)",
                        "print('never')")
    result = run_cli("run", str(nb), "--config", str(config), "--deadline", "8")
    assert result.returncode == 1, result.stderr
    record = json.loads(next(runs_dir.glob("*/*/record.json")).read_text())
    assert record["status"] == "timed_out"
    assert "import time" in record["error"], record["error"]
    notebook = json.loads(next(runs_dir.glob("*/*/notebook.ipynb")).read_text())
    banner = "".join(notebook["cells"][0]["source"])
    assert "timed out in code cell" in banner and "import time" in banner
    stopped = [c for c in notebook["cells"]
               if "runbook-stopped-here" in c["metadata"].get("tags", [])]
    assert len(stopped) == 1 and "time.sleep" in "".join(stopped[0]["source"])


def test_a_disk_that_fills_mid_run_leaves_it_interrupted(tmp_path: Path, runs_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    config = load_config(write_config(tmp_path))
    nb = write_notebook(tmp_path, "filling", "print('one')", "print('two')")
    replace, create = LocalStore.replace, LocalStore.create

    def full(what: object) -> object:
        def write(self: LocalStore, key: str, data: bytes) -> None:
            if key.endswith(("notebook.ipynb", "record.json")):
                raise OSError(errno.ENOSPC, "No space left on device")
            what(self, key, data)  # type: ignore[operator]
        return write

    monkeypatch.setattr(LocalStore, "replace", full(replace))
    monkeypatch.setattr(LocalStore, "create", full(create))
    result = run_notebook(str(nb), [], config, incident_id="inc-full", mode="drill")
    assert result.status == "interrupted" and result.exit_code == 1
    assert "No space left on device" in result.error
    assert "started.json" in result.error and str(result.run_dir) in result.error
    assert not (result.run_dir / "record.json").exists()
    text = describe(result)
    assert "interrupted" in text and "Traceback" not in text
    # The index knows the run started and never finished: `runbook runs` shows it as
    # interrupted once this process is gone.
    index = [json.loads(line) for line in (runs_dir / "index.jsonl").read_text().splitlines()]
    assert [e["event"] for e in index if e["run"].startswith("inc-full/")] == ["started"]
