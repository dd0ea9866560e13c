"""The SEV-1, api_404 and error_spike notebooks, run headless through the drill."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from runbook.core.findings import Status
from runbook.drill import scenarios
from runbook.drill.run import run_drill
from runbook.drill.scenarios.core import outage
from runbook.drill.target import Target

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("sev1_response", "api_404", "error_spike")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_clean(name: str) -> None:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells)
    assert "parameters" in code_cells[0].metadata.get("tags", [])


def outputs(run_dir: Path) -> str:
    nb = json.loads((run_dir / "notebook.ipynb").read_text(encoding="utf-8"))
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["outage", "healthy", "api-404", "error-spike"])
def test_drill_names_the_fault(scenario: str, runs_dir: Path) -> None:
    result = run_drill(scenario, runs_dir)
    assert result.run.status == "completed", result.run.error
    assert result.matched, result.reasons
    findings = result.run.findings
    text = outputs(result.run.run_dir)
    if scenario == "outage":
        down = next(f for f in findings if f.code == "uptime.down")
        assert down.evidence["down_since"] and "Riyadh" in down.evidence["down_since_local"]
        assert any(f.code == "deploy.crashed" for f in findings)
        assert "rollback.ipynb" in text
    if scenario == "error-spike":
        assert "image/png" in text
        assert "rollback.ipynb" in text
    if scenario == "api-404":
        assert "api_404.ipynb" in text and "/app/start.sh" in text


def hung_uptime(target: Target) -> None:
    outage(target)
    target.servers["uptimerobot"].service.hang = True


@pytest.mark.slow
def test_sev1_finishes_with_a_hung_service(runs_dir: Path) -> None:
    scenarios.register(scenarios.Scenario(
        "outage-uptime-hung", "outage, and UptimeRobot accepts but never answers",
        "sev1_response", hung_uptime, expect_failing=("health.down", "deploy.crashed")))
    try:
        result = run_drill("outage-uptime-hung", runs_dir, probe_timeout=1.0)
    finally:
        scenarios.SCENARIOS.pop("outage-uptime-hung", None)
    assert result.run.status == "completed", result.run.error
    assert result.matched, result.reasons
    uptime = [f for f in result.run.findings if f.code.startswith("uptime.")]
    assert [f.status for f in uptime] == [Status.ERROR]
    assert "timeout" in uptime[0].summary
