"""The incident's clock starts at the earliest evidence of impact (UptimeRobot's down-since, an
alert's time, the first failing finding), correctable by parameter; the banner, `runbook due`
and the postmortem count from it; older records still read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mitigate_fixtures import start_session
from postmortem_fixtures import T0, add_run, finding
from runbook.archive.record import Archive
from runbook.core import clock, impact
from runbook.core.errors import BadInput
from runbook.core.findings import failed, passed
from runbook.incident.log import IncidentLog
from runbook.sections.kit import banner, session
from runbook.sections.postmortem import due
from runbook.sections.postmortem.history import load_history


def down(since: str) -> dict[str, object]:
    return {"code": "uptime.down", "status": "fail", "summary": "down",
            "evidence": {"down_since": since}}


def test_the_earliest_evidence_wins_and_a_correction_beats_it() -> None:
    observed = T0 + timedelta(minutes=11)
    findings = [(down(clock.iso(T0)), observed),
                ({"code": "health.down", "status": "fail", "evidence": {}}, observed),
                ({"code": "uptime.up", "status": "pass",
                  "evidence": {"down_since": clock.iso(T0 - timedelta(days=3))}}, observed)]
    start = impact.impact_start(findings)
    assert start is not None and start.at == T0 and "down_since" in start.source
    corrected = impact.impact_start(findings, T0 - timedelta(minutes=5))
    assert corrected is not None and corrected.at == T0 - timedelta(minutes=5)
    assert corrected.corrected
    alert = {"code": "health.down", "status": "fail",
             "evidence": {"alert_at": clock.iso(T0 - timedelta(minutes=2))}}
    assert impact.impact_start([(alert, observed)]).at == T0 - timedelta(minutes=2)  # type: ignore[union-attr]
    only_failing = impact.impact_start([({"code": "health.down", "status": "fail"}, observed)])
    assert only_failing is not None and only_failing.at == observed
    assert impact.impact_start([({"code": "health.ok", "status": "pass"}, observed)]) is None


def test_a_bad_correction_is_refused() -> None:
    with pytest.raises(BadInput, match="ISO-8601"):
        impact.parse_correction("eleven minutes ago")
    assert impact.parse_correction("") is None


def test_the_banner_counts_from_uptimerobots_down_since(tmp_path: Path) -> None:
    rb = start_session(tmp_path, notebook="sev1_response", incident_id="inc-clock-1")
    top = banner.status(rb, interactive=False)
    since = clock.now() - timedelta(minutes=11)
    rb.report([failed("health.down", "/healthz answers 502"),
               failed("uptime.down", "down", down_since=clock.iso(since))])
    assert abs(rb.incident_started - since.replace(microsecond=0)) < timedelta(seconds=2)
    left = top.state()["time_left"]
    assert left.startswith(("3m", "4m")) and left.endswith("left"), left
    assert "uptime.down down_since" in top.text()


def test_the_start_is_correctable_by_parameter(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    started = clock.now() - timedelta(minutes=20)
    rb = session.start("sev1_response", incident_id="inc-clock-2",
                              config_path=str(config), incident_started=clock.iso(started))
    rb.report(failed("uptime.down", "down",
                     down_since=clock.iso(clock.now() - timedelta(minutes=5))))
    assert rb.incident_started == started.replace(microsecond=0)
    assert rb.impact_start().corrected


def test_postmortem_and_due_count_from_the_impact(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "runs")
    first_run = T0 + timedelta(minutes=11)
    add_run(archive, "inc-late", "sev1_response", first_run, severity="SEV-1",
            findings=[finding("health.down", "fail"), down(clock.iso(T0)),
                      finding("db.ok", "pass")])
    add_run(archive, "inc-late", "rollback", first_run + timedelta(minutes=3),
            actions=[{"name": "railway.rollback", "dry_run": False, "result": "done",
                      "at": clock.iso(first_run + timedelta(minutes=4))}],
            findings=[finding("deploy.ok", "pass")])
    add_run(archive, "inc-late", "sev1_response", first_run + timedelta(minutes=8),
            findings=[finding("health.ok", "pass")])
    history = load_history(archive, "inc-late")
    # Detected when the first run opened it, 11 minutes into the impact (not at the
    # monitor's down-since: that is when it started, not when anyone knew).
    assert history.started == T0 and history.detected == first_run
    times = {t.label.split(" (")[0]: t.took_text for t in history.response_times()}
    # Mitigated once the rollback was done and health held for the stabilisation window
    # (the all-clear run 30 s after its start, then 2 minutes).
    assert times == {"Time to detect": "11m 00s", "Time to acknowledge": "—",
                     "Time to first response": "11m 00s", "Time to mitigate": "21m 30s",
                     "Time to resolve": "—"}
    assert IncidentLog(archive, "inc-late").fold().started_at == T0
    [pending] = due.postmortems_due(archive, tmp_path / "pm", T0 + timedelta(hours=1))
    assert pending.started == T0


def test_records_without_evidence_still_read(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "runs")
    add_run(archive, "inc-old", "sev1_response", T0, severity="SEV-2",
            findings=[finding("health.ok", "pass")])
    history = load_history(archive, "inc-old")
    assert history.started == T0 and history.detected == T0   # its run opened it
    declared = T0 - timedelta(minutes=30)
    archive.open_incident("inc-declared", T0, declared)   # opened with a start given
    add_run(archive, "inc-declared", "sev1_response", T0,
            findings=[failed("health.down", "502").to_dict(), passed("db.ok", "ok").to_dict()])
    assert load_history(archive, "inc-declared").started == declared
