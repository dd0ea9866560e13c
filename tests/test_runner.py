"""`runbook run` end to end: real kernels, real archive, as a user runs it."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import RUNBOOK, all_bytes_under, run_cli
from nbfactory import write_config, write_notebook

CANARY_SLACK = "https://hooks.slack.com/services/TCANARY/BCANARY/canary-slack-8d1f"
CANARY_TOKEN = "canary-railway-token-52b7e0"


def only_record(runs: Path) -> dict:  # type: ignore[type-arg]
    (path,) = list(runs.glob("*/*/record.json"))
    return dict(json.loads(path.read_text()))


def test_completed_run_is_archived_with_its_parameters(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "print(count * 2, label)")
    result = run_cli("run", str(nb), "--config", str(config), "-p", "count", "21",
                     "-p", "label", "hello", "--incident", "inc-test-1")
    assert result.returncode == 0, result.stderr
    record = only_record(runs_dir)
    assert record["status"] == "completed"
    assert record["incident_id"] == "inc-test-1"
    assert record["parameters"] == {"count": 21, "label": "hello"}
    assert record["previous_record_sha256"] is None
    notebook = json.loads(next(runs_dir.glob("*/*/notebook.ipynb")).read_text())
    outputs = [o for c in notebook["cells"] for o in c.get("outputs", [])]
    assert any("42 hello" in "".join(o.get("text", "")) for o in outputs)
    listing = run_cli("runs", "--incident", "inc-test-1")
    assert "inc-test-1" in listing.stdout and "completed" in listing.stdout


def test_failing_cell_marks_the_notebook_and_exits_1(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "boom", "x = 1", "raise RuntimeError('the probe broke')",
                        "print('never')")
    result = run_cli("run", str(nb), "--config", str(config))
    assert result.returncode == 1
    record = only_record(runs_dir)
    assert record["status"] == "failed"
    assert "the probe broke" in record["error"]
    notebook = json.loads(next(runs_dir.glob("*/*/notebook.ipynb")).read_text())
    assert any(o.get("output_type") == "error" for c in notebook["cells"]
               for o in c.get("outputs", []))
    # papermill's banner marks where it failed
    assert "An Exception was encountered" in json.dumps(notebook)


def test_unknown_parameter_exits_2_and_writes_nothing(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "pass")
    result = run_cli("run", str(nb), "--config", str(config), "-p", "cuont", "3")
    assert result.returncode == 2
    assert "unknown parameter 'cuont'" in result.stderr
    assert "count" in result.stderr and "ratio" in result.stderr  # the accepted names
    assert not runs_dir.exists() or not any(runs_dir.rglob("*"))


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("count", "three", "expects int"), ("ratio", "nan", "expects float"),
    ("confirm", "perhaps", "expects bool")])
def test_mistyped_parameter_exits_2(tmp_path: Path, runs_dir: Path, name: str, value: str,
                                    expected: str) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "pass")
    result = run_cli("run", str(nb), "--config", str(config), "-p", name, value)
    assert result.returncode == 2
    assert expected in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.rglob("*"))


def test_a_secret_passed_as_a_parameter_is_refused(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "pass")
    result = run_cli("run", str(nb), "--config", str(config), "-p", "label", CANARY_TOKEN,
                     env={"TEST_RAILWAY_TOKEN": CANARY_TOKEN})
    assert result.returncode == 2
    assert "TEST_RAILWAY_TOKEN" in result.stderr
    assert CANARY_TOKEN not in result.stderr + result.stdout
    assert not runs_dir.exists() or not any(runs_dir.rglob("*"))


def test_missing_config_exits_2(tmp_path: Path, runs_dir: Path) -> None:
    result = run_cli("run", "sev1_response")
    assert result.returncode == 2
    assert "runbook.toml" in result.stderr and "not found" in result.stderr


def test_unknown_notebook_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_cli("run", "sev9_response", "--config", str(config))
    assert result.returncode == 2
    assert "sev1_response" in result.stderr  # lists what exists


def test_secrets_never_reach_the_archive(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(
        tmp_path, "leaky",
        "import os\nprint(os.environ['TEST_SLACK_WEBHOOK_URL'])",
        "import os, base64\nfrom IPython.display import HTML\n"
        "HTML('<b>' + os.environ['TEST_RAILWAY_TOKEN'] + '</b>')",
        "from runbook.sections.kit import session\nrb = session.start('leaky', config_path="
        f"{str(config)!r})\nimport os\nos.environ['TEST_RAILWAY_TOKEN']",
        "import os\nraise RuntimeError('server said: ' + os.environ['TEST_RAILWAY_TOKEN'])")
    env = {"TEST_SLACK_WEBHOOK_URL": CANARY_SLACK, "TEST_RAILWAY_TOKEN": CANARY_TOKEN}
    result = run_cli("run", str(nb), "--config", str(config), env=env)
    assert result.returncode == 1
    archived = all_bytes_under(runs_dir)
    for canary in (CANARY_SLACK, CANARY_TOKEN):
        for form in (canary.encode(), base64.b64encode(canary.encode())):
            assert form not in archived
        assert canary not in result.stdout + result.stderr
    assert b"[redacted:TEST_RAILWAY_TOKEN]" in archived


@pytest.mark.slow
def test_deadline_bounds_the_whole_run(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "hang", "print('started')", "import time\ntime.sleep(300)")
    result = run_cli("run", str(nb), "--config", str(config), "--deadline", "8")
    assert result.returncode == 1
    record = only_record(runs_dir)
    assert record["status"] == "timed_out"
    notebook = json.loads(next(runs_dir.glob("*/*/notebook.ipynb")).read_text())
    assert notebook["metadata"]["runbook"]["status"] == "timed_out"
    assert "started" in json.dumps(notebook)


@pytest.mark.slow
def test_sigterm_aborts_and_keeps_the_partial_notebook(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "slow", "print('first cell done')",
                        "import time\ntime.sleep(300)")
    process = subprocess.Popen([RUNBOOK, "run", str(nb), "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ))
    _wait_for_cell(runs_dir, "first cell done")
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 130
    record = only_record(runs_dir)
    assert record["status"] == "aborted"
    notebook = (next(runs_dir.glob("*/*/notebook.ipynb"))).read_text()
    assert "first cell done" in notebook


def _wait_for_cell(runs_dir: Path, text: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for path in runs_dir.glob("*/*/notebook.ipynb"):
            if text in path.read_text(errors="replace"):
                return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in the archived notebook")


@pytest.mark.slow
def test_records_of_one_incident_are_chained(tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "ok", "pass")
    for _ in range(2):
        assert run_cli("run", str(nb), "--config", str(config), "--incident",
                       "inc-chain").returncode == 0
    chain = [json.loads(line) for line in
             (runs_dir / "inc-chain" / "chain.jsonl").read_text().splitlines()]
    assert chain[0]["previous"] is None and chain[1]["previous"] == chain[0]["sha256"]
    second = json.loads((runs_dir / "inc-chain" / chain[1]["run"] / "record.json").read_text())
    assert second["previous_record_sha256"] == chain[0]["sha256"]
