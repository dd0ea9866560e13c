"""The drill scenarios that mirror the real Dealix: each exits 0 from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["healthy-minimal", "wrong-app", "db-hang",
                                      "deploy-sleeping"])
def test_scenario_exits_0(runs_dir: Path, scenario: str) -> None:
    result = run_cli("drill", scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    (record,) = [json.loads(p.read_text()) for p in runs_dir.glob("drills/*/*/record.json")]
    failing = {f["code"] for f in record["findings"] if f["status"] in ("fail", "error")}
    if scenario in ("healthy-minimal", "deploy-sleeping"):
        assert record["severity"] is None and not failing
    if scenario == "db-hang":
        assert "db.timeout" in failing and record["severity"] != "SEV-1"
        assert any(f["code"] == "health.ok" and f["evidence"].get("probe") == "healthz"
                   for f in record["findings"])
    if scenario == "wrong-app":
        assert {"health.wrong_app", "api.not_found"} <= failing
