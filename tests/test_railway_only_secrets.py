"""Secrets that only Railway knows (its service variables) are registered before anything else
Railway says is shown: a failed deploy's log line printing JWT_SECRET_KEY never reaches the
archive, whichever notebook shows it first."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.drill import scenarios
from runbook.drill.run import run_drill
from runbook.drill.scenarios.sev1 import RailwayHandles, new_deploy, with_monitoring
from runbook.drill.target import Target

RAILWAY_ONLY = "jwt-Hq4Zm8Lx2Pw6Rt9Vb3Nc7Kd"   # in Railway's variables, in no env var


def failed_deploy_printing_a_secret(target: Target) -> None:
    with_monitoring(target)
    deployment = new_deploy(target, "FAILED", 12, "Merge pull request #251 from dealix/jwt")
    handles: RailwayHandles = target.extras["railway"]
    handles.dealix.variables["JWT_SECRET_KEY"] = RAILWAY_ONLY
    deployment.log("Booting with settings:")
    deployment.log(f"JWT_SECRET_KEY={RAILWAY_ONLY} APP_ENV=production", severity="error")
    deployment.log("RuntimeError: JWT secret rejected", severity="error")


@pytest.mark.slow
def test_a_deploy_log_never_archives_a_railway_variable(runs_dir: Path,
                                                       capfd: pytest.CaptureFixture[str]
                                                       ) -> None:
    scenarios.register(scenarios.Scenario(
        "api-404-leaky-log", "a failed deploy whose log prints a Railway variable", "api_404",
        failed_deploy_printing_a_secret, expect_failing=("deploy.failed",)))
    try:
        result = run_drill("api-404-leaky-log", runs_dir)
    finally:
        scenarios.SCENARIOS.pop("api-404-leaky-log", None)
    assert result.run.status == "completed", result.run.error
    notebook = (result.run.run_dir / "notebook.ipynb").read_text(encoding="utf-8")
    assert "JWT secret rejected" in notebook          # the log tail was shown
    assert "[redacted:JWT_SECRET_KEY]" in notebook    # and the variable in it redacted
    for path in runs_dir.rglob("*"):
        if path.is_file():
            assert RAILWAY_ONLY.encode() not in path.read_bytes(), path
            assert RAILWAY_ONLY[:16].encode() not in path.read_bytes(), path
    out, err = capfd.readouterr()
    assert RAILWAY_ONLY not in out + err
