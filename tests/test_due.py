"""The 48-hour rule: `runbook due` across the boundary, with "now" injected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from postmortem_fixtures import T0, add_run, finding
from runbook.archive.record import Archive
from runbook.sections.postmortem.due import postmortems_due
from s3_fixtures import Bucket, bucket  # noqa: F401 - the fixture


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


def test_a_postmortem_failing_the_check_is_still_due(runs_dir: Path, tmp_path: Path) -> None:
    from runbook.sections import postmortem
    from runbook.sections.postmortem import edits as person

    archive = incidents(runs_dir)
    folder = tmp_path / "pm"
    written = postmortem.write_postmortem(archive, "inc-sev1", folder, now=T0)
    late = T0 + timedelta(hours=49)
    [sev1] = [d for d in postmortems_due(archive, folder, late) if d.incident_id == "inc-sev1"]
    assert sev1.written and sev1.overdue and any("lessons" in m for m in sev1.missing)
    assert "postmortem incomplete" in repr(sev1)
    edited = person.read(written.edits)
    edited.root_cause = "A bad deploy."
    edited.went_well = edited.went_badly = edited.got_lucky = "Noted."
    for item in edited.action_items:
        item.owner = "Sami"
    written.edits.write_text(person.to_toml(edited, "inc-sev1"))
    postmortem.write_postmortem(archive, "inc-sev1", folder, now=T0)
    assert "inc-sev1" not in {d.incident_id for d in postmortems_due(archive, folder, late)}


@pytest.mark.slow
def test_due_and_the_postmortem_on_an_s3_archive(bucket: Bucket, tmp_path: Path) -> None:  # noqa: F811
    from postmortem_fixtures import local_links
    from runbook.archive.location import open_archive
    from runbook.sections import postmortem

    archive = open_archive(None, url=bucket.url, staged=False)
    add_run(archive, "inc-s3", "sev1_response", T0, severity="SEV-1",
            findings=[finding("health.down", "fail"), finding("deploy.crashed", "fail")])
    folder = tmp_path / "pm"
    assert [d.incident_id for d in postmortems_due(archive, folder, T0)] == ["inc-s3"]
    written = postmortem.write_postmortem(archive, "inc-s3", folder, now=T0)
    text = written.markdown.read_text()
    assert "s3://" not in text and "file://" not in text
    links = local_links(written.markdown)
    assert links and all(link.exists() and folder in link.parents for link in links)
    # Another machine, with no postmortems folder: the log says it is written but incomplete.
    [due] = postmortems_due(archive, tmp_path / "elsewhere", T0 + timedelta(hours=49))
    assert due.written and due.missing
    env = {"RUNBOOK_ARCHIVE": bucket.url}
    shown = run_cli("due", "--now", "2026-03-03T10:00:00Z", cwd=tmp_path, env=env)
    assert shown.returncode == 0 and "inc-s3" in shown.stdout and "incomplete" in shown.stdout
    checked = run_cli("postmortem", "inc-s3", "--check", cwd=tmp_path, env=env)
    assert checked.returncode == 1 and "lessons" in checked.stdout, checked.stdout
