"""The README's main command, `runbook drill outage`, and its healthy twin, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import all_bytes_under, run_cli


def records(runs: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in runs.glob("drills/*/*/record.json")]


@pytest.mark.slow
def test_drill_outage_diagnoses_a_sev1(runs_dir: Path) -> None:
    canary = "canary-in-env-0e5d1c9a"
    result = run_cli("drill", "outage", env={"RAILWAY_TOKEN": canary, "DATABASE_URL":
                                             f"postgresql://u:{canary}@h/db"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    (record,) = records(runs_dir)
    assert record["status"] == "completed"
    assert record["severity"] == "SEV-1"
    assert any(f["code"] in ("health.down", "health.timeout") and f["status"] == "fail"
               for f in record["findings"])
    assert canary.encode() not in all_bytes_under(runs_dir)
    assert canary not in result.stdout + result.stderr


@pytest.mark.slow
def test_drill_healthy_has_no_severity(runs_dir: Path) -> None:
    result = run_cli("drill", "healthy")
    assert result.returncode == 0, result.stdout + result.stderr
    (record,) = records(runs_dir)
    assert record["severity"] is None
    assert any(f["code"] == "health.ok" and f["status"] == "pass" for f in record["findings"])


def test_unknown_scenario_exits_2(runs_dir: Path) -> None:
    result = run_cli("drill", "meteor-strike")
    assert result.returncode == 2
    assert "outage" in result.stderr
    assert not runs_dir.exists()
