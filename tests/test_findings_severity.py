from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runbook.core.errors import ServiceUnavailable
from runbook.core.findings import (
    Finding,
    Status,
    errored,
    failed,
    guarded,
    passed,
    skipped,
    worst,
)
from runbook.core.severity import SEVERITIES, format_delta, time_left
from runbook.incident.rules import incident_severity, run_severity


def test_finding_round_trips_through_a_dict() -> None:
    finding = failed("health.down", "healthz answered 502", "roll back", http_status=502)
    assert Finding.from_dict(finding.to_dict()) == finding
    assert finding.to_dict()["status"] == "fail"


def test_a_status_outside_the_four_is_refused() -> None:
    with pytest.raises(ValueError):
        Finding("x", "maybe", "?")  # type: ignore[arg-type]


def test_a_check_that_raises_reports_error_never_pass() -> None:
    def broken() -> Finding:
        raise RuntimeError("boom")

    def unavailable() -> Finding:
        raise ServiceUnavailable("railway", "no answer")

    for check in (broken, unavailable):
        (finding,) = guarded("deploy.status", check)
        assert finding.status is Status.ERROR
        assert finding.code == "deploy.status"


def test_worst_status() -> None:
    assert worst([passed("a", ""), skipped("b", "")]) is Status.PASS
    assert worst([passed("a", ""), failed("b", "")]) is Status.FAIL
    assert worst([]) is Status.SKIPPED


@pytest.mark.parametrize(("codes", "level"), [
    (["health.down"], "SEV-1"), (["health.timeout"], "SEV-1"), (["deploy.crashed"], "SEV-1"),
    (["health.degraded"], "SEV-2"), (["db.refused"], "SEV-2"),
    (["webhook.secret_mismatch"], "SEV-2"), (["something.else"], "SEV-3"), ([], None),
])
def test_run_severity(codes: list[str], level: str | None) -> None:
    findings = [failed(code, "") for code in codes] + [passed("health.ok", "")]
    result = run_severity(findings)
    assert (result.level if result else None) == level


def test_errors_alone_do_not_raise_a_severity() -> None:
    assert run_severity([Finding("health.down", Status.ERROR, "probe crashed")]) is None


def test_deadline_counts_from_the_incident_start() -> None:
    start = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    sev1 = SEVERITIES["SEV-1"]
    assert time_left(sev1, start, start + timedelta(minutes=5)) == timedelta(minutes=10)
    assert format_delta(time_left(sev1, start, start + timedelta(minutes=20))) == "-5m 00s"
    assert SEVERITIES["SEV-4"].response_time == timedelta(hours=24)


def test_an_incident_is_as_severe_as_its_worst_run() -> None:
    assert incident_severity(["SEV-3", None, "SEV-1", "SEV-2"]) == SEVERITIES["SEV-1"]
    assert incident_severity([None, "not a level"]) is None
    assert incident_severity([]) is None
    assert incident_severity([SEVERITIES["SEV-2"], "SEV-4"]) == SEVERITIES["SEV-2"]


def test_failed_means_fail_only() -> None:
    # An error is a check that could not be made: not a failure, and never a pass.
    assert failed("health.down", "502").failed
    assert not Finding("health.down", Status.ERROR, "probe crashed").failed
    assert not passed("health.ok", "").failed and not skipped("health.ok", "").failed


class _Session:
    """What the status banner reads of a session."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.incident_id = "inc-banner"
        self.incident_started = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

    def on_event(self, handler: object) -> None:
        pass


def test_the_banner_counts_failures_and_shows_errors_apart() -> None:
    from runbook.sections.kit.banner import StatusBanner

    now = datetime(2026, 11, 27, 3, 5, tzinfo=UTC)
    top = StatusBanner(_Session([failed("health.down", "502"), errored("db.ok", "no answer"),
                                 errored("uptime.up", "timeout")]), interactive=False)
    state = top.state(now)
    assert (state["level"], state["failing"], state["errors"]) == ("SEV-1", 1, 2)
    assert "1 failing, 2 could not be checked" in top.text(now)
    quiet = StatusBanner(_Session([errored("health.healthz", "the probe broke")]),
                         interactive=False)
    assert quiet.state(now)["level"] is None
    assert "nothing failed in 1 finding(s) so far, 1 could not be checked" in quiet.text(now)
