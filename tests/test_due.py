"""The 48-hour rule: `runbook due` across the boundary, with "now" injected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from conftest import run_cli
from postmortem_fixtures import T0, add_run, finding
from runbook.archive.record import Archive
from runbook.sections.postmortem.due import postmortems_due


def incidents(runs_dir: Path) -> Archive:
    archive = Archive(runs_dir)
    add_run(archive, "inc-sev1", "sev1_response", T0, severity="SEV-1",
            findings=[finding("health.down", "fail")])
    add_run(archive, "inc-sev1", "sev1_response", T0 + timedelta(minutes=9))  # the all-clear
    add_run(archive, "inc-sev2", "webhook_401", T0 + timedelta(hours=1), severity="SEV-2",
            findings=[finding("webhook.secret_mismatch", "fail")])
    add_run(archive, "inc-sev3", "api_404", T0, severity="SEV-3",
            findings=[finding("x.minor", "fail")])
    add_run(archive, "inc-quiet", "sev1_response", T0, findings=[finding("health.ok", "pass")])
    add_run(archive, "inc-done", "sev1_response", T0, severity="SEV-1",
            findings=[finding("health.down", "fail")])
    return archive


def test_due_across_the_48_hour_boundary(runs_dir: Path, tmp_path: Path) -> None:
    archive = incidents(runs_dir)
    folder = tmp_path / "postmortems"
    folder.mkdir()
    (folder / "2026-03-01-outage.md").write_text("# Outage\nIncident inc-done, by hand.\n")

    before = postmortems_due(archive, folder, T0 + timedelta(hours=47, minutes=59))
    assert [(d.incident_id, d.severity) for d in before] == [("inc-sev1", "SEV-1"),
                                                             ("inc-sev2", "SEV-2")]
    assert not before[0].overdue and before[0].when() == "1m 00s left"
    assert before[1].when() == "1h 01m left"

    after = postmortems_due(archive, folder, T0 + timedelta(hours=48, minutes=1))
    assert after[0].overdue and after[0].when() == "overdue by 1m 00s"
    assert not after[1].overdue

    (folder / "2026-03-01-health-down.md").write_text(
        "<!-- runbook-postmortem incident=inc-sev1 -->\n# Postmortem\n")
    assert [d.incident_id for d in postmortems_due(archive, folder, T0)] == ["inc-sev2"]


def test_severity_comes_from_the_records_when_the_index_lost_it(runs_dir: Path,
                                                                tmp_path: Path) -> None:
    archive = incidents(runs_dir)
    archive.index_path.unlink()
    due = postmortems_due(archive, tmp_path / "none", T0)
    assert {d.incident_id for d in due} == {"inc-sev1", "inc-sev2", "inc-done"}


def test_cli_due(runs_dir: Path, tmp_path: Path) -> None:
    incidents(runs_dir)
    early = run_cli("due", "--now", "2026-03-02T08:00:00Z", cwd=tmp_path)
    assert early.returncode == 0, early.stderr
    assert "3 SEV-1/SEV-2 incident(s)" in early.stdout
    assert "inc-sev1" in early.stdout and "25h 00m left" in early.stdout
    late = run_cli("due", "--now", "2026-03-03T10:00:00Z", cwd=tmp_path)
    assert "overdue by 1h 00m" in late.stdout and "inc-sev3" not in late.stdout
    bad = run_cli("due", "--now", "tomorrow", cwd=tmp_path)
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr
