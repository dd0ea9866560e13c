"""The postmortem's markdown shows raw HTML from the records (commit messages, start
commands), escaped as the HTML evidence is: it is never run by what renders the markdown."""

from __future__ import annotations

from pathlib import Path


def test_the_postmortem_markdown_escapes_html_from_commits_and_start_commands(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from postmortem_fixtures import add_run, finding
    from runbook.archive.record import Archive
    from runbook.sections import postmortem

    archive = Archive(tmp_path / "runs")
    script = "<script>alert('x')</script>"
    add_run(archive, "inc-html", "sev1_response", datetime(2026, 3, 1, 9, tzinfo=UTC),
            severity="SEV-1", findings=[
                finding("deploy.recent", "fail", f"deploy 'fix: {script}' went out",
                        fix=f"revert <img src=x onerror=alert(1)> {script}"),
                finding("deploy.start_command_wrong", "fail",
                        f"start command is <b>node</b> {script}"),
                finding("deploy.ok", "error", f"could not read {script}")],
            actions=[{"name": "railway.rollback", "status": "failed", "dry_run": False,
                      "at": "2026-03-01T09:00:05Z", "result": f"rolled to {script}",
                      "summary": f"rolled to {script}", "plan": script}])
    written = postmortem.write_postmortem(archive, "inc-html", tmp_path / "pm")
    text = written.markdown.read_text(encoding="utf-8")
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text
