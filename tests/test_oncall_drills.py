"""`runbook drill alert-escalation` and `runbook drill flapping`, as a person runs them: each
exits 0 only when its grading holds (serve started for real, fake Slack app, real SMTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from runbook.archive import layout
from runbook.archive import record as records
from runbook.drill.scenarios.oncall import SECOND
from runbook.incident.log import IncidentLog

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _incident(stdout: str) -> str:
    return next(line.split(": ", 1)[1] for line in stdout.splitlines()
                if line.startswith("incident: "))


@pytest.mark.parametrize("scenario", ["alert-escalation", "flapping"])
def test_the_on_call_drill_passes(scenario: str, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = run_cli("drill", scenario, "--archive", str(runs), timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"verdict: PASS: the diagnosis names the injected fault ({scenario})" in done.stdout
    # The drill keeps to the drills' archive.
    incident = IncidentLog(records.Archive(runs / layout.DRILLS),
                           _incident(done.stdout)).fold()
    assert incident.drill and incident.severity == "SEV-1"
    if scenario == "alert-escalation":
        assert incident.acknowledged_at is None
        assert [p["slack_id"] for p in incident.pages] == [SECOND]
    else:
        assert list(incident.flap_noticed) == [incident.signal]
