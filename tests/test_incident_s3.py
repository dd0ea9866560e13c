"""With a shared S3 archive (moto's server on loopback), serve finds each record through the
store: the Slack verdict names the SEV and carries its buttons, and the incident's log, its
fold and its verification live in the bucket like everything else."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from s3_fixtures import Bucket, bucket  # noqa: F401 - the fixture

# Each test is a whole alert drill (serve, a run, Slack, a press) on the bucket: 15-30 s.
pytestmark = pytest.mark.slow


def test_an_alert_drill_on_s3_posts_a_sev_verdict_whose_button_works(
        bucket: Bucket) -> None:  # noqa: F811
    drill = run_cli("drill", "alert-outage-rollback", "--archive", bucket.url, timeout=300)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "PASS" in drill.stdout and "RUN FAILED" not in drill.stdout
    incident = drill.stdout.rsplit("incident: ", 1)[1].strip()
    keys = bucket.objects()
    assert any(key.endswith(f"{incident}/log.jsonl") for key in keys)
    shown = run_cli("incident", "show", incident, "--json", "--archive", bucket.url)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["peak_severity"] == "SEV-1" and data["drill"] is True
    assert [a["state"] for a in data["actions"] if not a["dry_run"]] == ["done"]
    verified = run_cli("verify", incident, "--archive", bucket.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_alert_drill_on_s3_names_sev_1(bucket: Bucket) -> None:  # noqa: F811
    drill = run_cli("drill", "alert-outage", "--archive", bucket.url, timeout=300)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "severity: SEV-1" in drill.stdout
