"""Postmortems from an incident's log and records: the parts a founder sends, where each came
from, links that work, the person's edits kept and saved, the check, and bad input."""

from __future__ import annotations

import re
import shutil
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from postmortem_fixtures import T0, add_run, finding, local_links
from runbook.archive import layout
from runbook.archive.record import Archive
from runbook.core.errors import BadInput, UnknownIncident
from runbook.core.redaction import registry
from runbook.drill.run import run_drill
from runbook.incident.log import IncidentLog
from runbook.sections import postmortem
from runbook.sections.postmortem import edits as person
from runbook.sections.postmortem.history import NoSealedRun, action_outcome, load_history

INCIDENT = "inc-drill-pm"
HTML_TAG = re.compile(r"<[A-Za-z!/][^>]*>")


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One incident with two runs: the outage, then the all-clear after the fix."""
    runs = tmp_path_factory.mktemp("drilled") / "runs"
    outage = run_drill("outage", runs, incident_id=INCIDENT)
    assert outage.matched, outage.reasons
    healthy = run_drill("healthy", runs, incident_id=INCIDENT)
    assert healthy.matched, healthy.reasons
    return runs


@pytest.fixture
def archive(drilled: Path, runs_dir: Path) -> Archive:
    # The drills' archive, read here as an archive of incidents.
    shutil.copytree(drilled / layout.DRILLS, runs_dir)
    return Archive(runs_dir)


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^(## .+)$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def fill(path: Path, **changes: str) -> None:
    """A person's edit of the edits file: fields replaced, the rest kept."""
    edited = person.read(path)
    for name, value in changes.items():
        setattr(edited, name, value)
    path.write_text(person.to_toml(edited, "x"), encoding="utf-8")


@pytest.mark.slow
def test_the_document_has_every_part_and_no_html(archive: Archive, tmp_path: Path) -> None:
    written = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm")
    text = written.markdown.read_text()
    assert not HTML_TAG.search(text), HTML_TAG.findall(text)
    positions = [text.index(h) for h in postmortem.HEADINGS]
    assert positions == sorted(positions)
    parts = sections(text)
    title = text.splitlines()[0]
    assert title.startswith("# ") and "min of" in title and "health.down" not in title
    summary = parts["## Summary"].split("_Source")[0].strip()
    assert len(re.findall(r"[.!?](?:\s|$)", summary)) == 3, summary
    for heading in postmortem.HEADINGS:
        assert "_Source:" in parts[heading], heading       # each part says where it came from
    assert "TO CONFIRM:" in parts["## Root cause"]
    assert "Symptoms" in parts["## Root cause"] and "`health.down`" in parts["## Root cause"]
    assert "`deploy`" in parts["## Trigger"] and "deploy.crashed" in parts["## Trigger"]
    assert "peak SEV-1" in parts["## Impact"] and "Payments at risk" in parts["## Impact"]
    assert "TTD" in parts["## Detection"]
    for measure in ("TTD", "TTA", "TTM", "TTR"):
        assert measure in parts["## Response and recovery"]
    timeline = parts["## Timeline"]
    assert "Times in Asia/Riyadh" in timeline
    assert "Railway deploy" in timeline and "`health.down` failing" in timeline
    rows = [line for line in timeline.splitlines() if line.startswith("| 20")]
    assert rows == sorted(rows, key=lambda r: r.split("|")[1])
    assert all("](" in row for row in rows)                 # each line linked to evidence
    items = parts["## Action items"]
    assert "prevent" in items and "catalogue: deploy.crashed" in items
    assert "run health_down" not in items                    # follow-ups, not incident steps
    assert "TO FILL:" in parts["## Lessons"]
    links = local_links(written.markdown)
    assert written.chart in links and written.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(link.exists() for link in links), [str(x) for x in links if not x.exists()]
    assert "file://" not in text and str(archive.root) not in text
    page = written.html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "<h2>Timeline</h2>" in page


def test_edits_are_kept_saved_to_the_log_and_checked(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "pm"
    first = postmortem.write_postmortem(archive, INCIDENT, out)
    assert first.saved and first.edits.is_file()
    assert any("lessons: went well" in m for m in first.missing)
    assert any("root cause" in m for m in first.missing)
    saved = IncidentLog(archive, INCIDENT).fold().postmortem
    assert saved is not None and saved["missing"] == first.missing
    # A person writes their parts.
    fill(first.edits, root_cause="The v1.4.2 deploy crashed on start: a missing env var.",
         went_well="The rollback button worked first time.",
         went_badly="The alert came late.", got_lucky="It was a quiet hour.")
    edited = person.read(first.edits)
    for item in edited.action_items:
        item.owner = "Sami"
    edited.action_items.append(person.ActionItem("Page a second responder", "process", "Sami",
                                                 "2026-04-01"))
    first.edits.write_text(person.to_toml(edited, INCIDENT))
    # A later run joins the incident: the generated parts show it, the person's are kept.
    later = load_history(archive, INCIDENT).runs[-1].finished + timedelta(minutes=5)
    add_run(archive, INCIDENT, "rollback", later, findings=[
        finding("deploy.ok", "pass", "latest deploy SUCCESS")],
        actions=[{"name": "railway.rollback", "dry_run": False, "result": "rolled back",
                  "at": (later + timedelta(seconds=3)).isoformat()}])
    second = postmortem.write_postmortem(archive, INCIDENT, out)
    assert second.markdown == first.markdown and not second.created and second.saved
    text = second.markdown.read_text()
    assert "The v1.4.2 deploy crashed on start" in text and "TO CONFIRM" not in text
    assert "Page a second responder" in text and "quiet hour" in text
    assert "`rollback`, completed" in sections(text)["## Evidence"]
    assert second.missing == []
    assert postmortem.check(archive, INCIDENT, out) == []
    fold = IncidentLog(archive, INCIDENT).fold()
    assert fold.postmortem is not None and fold.postmortem["missing"] == []
    assert fold.postmortem["edits"]["root_cause"].startswith("The v1.4.2")
    # Unchanged edits are not saved again.
    third = postmortem.write_postmortem(archive, INCIDENT, out)
    assert not third.saved and third.markdown.read_text().split("written")[1:] \
        and "The v1.4.2" in third.markdown.read_text()
    # Without the file (another machine), the edits come back from the log.
    second.edits.unlink()
    again = postmortem.write_postmortem(archive, INCIDENT, out)
    assert "The v1.4.2 deploy crashed" in again.markdown.read_text() and not again.saved


def test_an_edits_file_that_does_not_parse_is_refused(archive: Archive,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "pm"
    first = postmortem.write_postmortem(archive, INCIDENT, out)
    draft = first.markdown.read_bytes()
    lines = first.edits.read_text().splitlines()
    lines[8] = 'root_cause = "an unclosed string'
    first.edits.write_text("\n".join(lines) + "\n")
    with pytest.raises(person.EditsError, match=r"line 9\b"):
        postmortem.write_postmortem(archive, INCIDENT, out)
    assert first.markdown.read_bytes() == draft
    first.edits.write_text('[[action_items]]\ntitle = "x"\ntype = "someday"\n')
    with pytest.raises(person.EditsError, match="someday"):
        postmortem.write_postmortem(archive, INCIDENT, out)


def test_a_hand_written_postmortem_is_left_alone(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "pm"
    out.mkdir()
    mine = out / "2026-01-01-outage.md"
    mine.write_text(f"# Outage\n\nIncident {INCIDENT}: written by hand.\n")
    assert postmortem.check(archive, INCIDENT, out) == []   # counted as written, as due does
    assert postmortem.check(archive, INCIDENT, tmp_path / "none")[0].startswith("no postmortem")
    written = postmortem.write_postmortem(archive, INCIDENT, out)
    assert written.markdown == mine and written.side_file == out / "2026-01-01-outage.new.md"
    assert mine.read_text().endswith("written by hand.\n")
    assert "## Timeline" in written.side_file.read_text()
    assert "left untouched" in repr(written)


def test_evidence_is_redacted_again(archive: Archive, tmp_path: Path) -> None:
    first = load_history(archive, INCIDENT).runs[0]
    host = str(first.record["findings"][0]["evidence"]["url"]).split("/")[2]
    registry().register("DRILL_HOST_SECRET", host)
    written = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm")
    page = (written.evidence / f"{first.name}.html").read_text()
    assert host not in page and "[redacted:DRILL_HOST_SECRET]" in page
    for path in (written.markdown, written.html, written.evidence / "log.jsonl",
                 written.evidence / f"{first.name}.record.json"):
        assert host not in path.read_text(), path


def test_evidence_through_nbconvert(archive: Archive, tmp_path: Path) -> None:
    fast = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm")
    converted = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm",
                                            evidence_engine="nbconvert")
    assert converted.rendered == fast.rendered > 0   # a new engine renders every page again
    first = load_history(archive, INCIDENT).runs[0]
    assert "jp-Cell" in (converted.evidence / f"{first.name}.html").read_text()


def test_failed_actions_and_errored_checks_are_what_did_not_work(tmp_path: Path,
                                                                 runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    add_run(archive, "inc-pay", "webhook_401", T0, severity="SEV-2", findings=[
        finding("webhook.secret_mismatch", "fail", "fingerprints differ"),
        finding("moyasar.ok", "error", "Moyasar API did not answer in 5 s")])
    written = postmortem.write_postmortem(archive, "inc-pay", tmp_path / "pm", now=T0
                                          + timedelta(hours=1))
    parts = sections(written.markdown.read_text())
    assert "`config`" in parts["## Trigger"]
    assert "`moyasar.ok` could not run" in parts["## Response and recovery"]
    items = person.read(written.edits).action_items
    assert {i.due for i in items} == {"2026-04-26"}          # SEV-2: 8 weeks
    assert written.markdown.name == "2026-03-01-webhook-secret-mismatch.md"


def test_action_outcomes() -> None:
    assert action_outcome({"name": "x", "dry_run": True}) == "dry run"
    assert action_outcome({"name": "x", "dry_run": False, "result": "ok"}) == "succeeded"
    assert action_outcome({"name": "x", "dry_run": False, "status": "failed"}) == "failed"


def test_unknown_incident_and_no_sealed_run(runs_dir: Path, tmp_path: Path) -> None:
    archive = Archive(runs_dir)
    with pytest.raises(UnknownIncident, match="no incident"):
        postmortem.write_postmortem(archive, "inc-none", tmp_path)
    archive.open_incident("inc-empty", T0)
    with pytest.raises(NoSealedRun, match="no sealed run") as raised:
        postmortem.write_postmortem(archive, "inc-empty", tmp_path)
    assert isinstance(raised.value, BadInput)
    assert not list(tmp_path.glob("*.md"))


@pytest.mark.slow
def test_cli_bad_input_exits_2(runs_dir: Path, tmp_path: Path) -> None:
    archive = Archive(runs_dir)
    archive.open_incident("inc-empty", T0)
    env = {"RUNBOOK_RUNS_DIR": str(runs_dir)}
    for incident, words in (("inc-none", "no incident"), ("inc-empty", "no sealed run"),
                            ("no such incident!", "not valid")):
        result = run_cli("postmortem", incident, cwd=tmp_path, env=env)
        assert result.returncode == 2 and words in result.stderr, result.stderr
    add_run(archive, "inc-a", "sev1_response", T0, severity="SEV-1",
            findings=[finding("health.down", "fail")])
    assert run_cli("postmortem", "inc-a", cwd=tmp_path, env=env).returncode == 0
    edits = next((tmp_path / "docs/ops/postmortems").glob("*.edits.toml"))
    edits.write_text("root_cause = \n")
    bad = run_cli("postmortem", "inc-a", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "line 1" in bad.stderr, bad.stderr


def test_the_edits_file_round_trips_awkward_text() -> None:
    text = 'quotes " and """ triple, a \\ backslash,\nnew lines\tand tabs \x7f, ٱلعربية'
    edited = person.Edits(text, [person.ActionItem(text, "detect", text, "2026-01-01")],
                          text, text, text)
    back = person.Edits.from_dict(tomllib.loads(person.to_toml(edited, "inc-x")))
    assert back == edited


@pytest.mark.slow
def test_acceptance_after_the_alert_outage_rollback_drill(tmp_path: Path) -> None:
    """The issue's check, as a new user runs it in a fresh folder."""
    drill = run_cli("drill", "alert-outage-rollback", cwd=tmp_path, timeout=300)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    incident = drill.stdout.rsplit("incident: ", 1)[1].strip()
    later = run_cli("incident", "show", incident, "--json", cwd=tmp_path)
    import json
    from datetime import datetime

    now = (datetime.fromisoformat(json.loads(later.stdout)["runs"][-1]["at"].replace(
        "Z", "+00:00")) + timedelta(minutes=5)).isoformat()
    result = run_cli("postmortem", incident, "--now", now, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [markdown] = (tmp_path / "docs/ops/postmortems").glob("*.md")
    text = markdown.read_text()
    assert not HTML_TAG.search(text)
    for heading in postmortem.HEADINGS:
        assert heading in text
    timeline = sections(text)["## Timeline"]
    assert "Alert: UptimeRobot" in timeline and "Railway deploy" in timeline
    assert "pressed `railway.rollback`" in timeline and "`railway.rollback` done" in timeline
    response = sections(text)["## Response and recovery"]
    ttd = re.search(r"\| TTD: detected \| [^|]+ \| ([^|]+) \|", response)
    ttm = re.search(r"\| TTM: mitigated \| [^|]+ \| ([^|]+) \|", response)
    assert ttd and ttm and "not reached" not in ttd.group(1) + ttm.group(1)
    assert ttd.group(1).strip() not in ("0s", "0m 00s")
    from runbook.archive.record import Archive as Archived
    from runbook.core.severity import format_delta

    state = IncidentLog(Archived(tmp_path / "runs" / layout.DRILLS), incident).fold(
        datetime.fromisoformat(now))
    assert ttd.group(1).strip() == format_delta(state.time_to("detect") or timedelta(0))
    assert ttm.group(1).strip() == format_delta(state.time_to("mitigate") or timedelta(0))
    shown = run_cli("incident", "show", incident, cwd=tmp_path)
    assert f"TTD {ttd.group(1).strip()}" in shown.stdout
    checked = run_cli("postmortem", incident, "--check", cwd=tmp_path)
    assert checked.returncode == 1 and "lessons" in checked.stdout
    edits = next((tmp_path / "docs/ops/postmortems").glob("*.edits.toml"))
    fill(edits, went_well="Sami pressed the button within a minute.")
    again = run_cli("postmortem", incident, "--now", now, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Sami pressed the button within a minute." in markdown.read_text()


@pytest.mark.slow
def test_postmortem_notebook(archive: Archive, tmp_path: Path) -> None:
    import nbformat

    from runbook.core.config import load_config
    from runbook.host.runner import run_notebook

    config_path = tmp_path / "runbook.toml"
    config_path.write_text('[service]\nname = "dealix"\nbase_url = "https://api.dealix.me"\n')
    out = tmp_path / "pm"
    result = run_notebook("postmortem", [("postmortem_of", INCIDENT), ("out_dir", str(out))],
                          load_config(config_path), progress=False)
    assert result.status == "completed", result.error
    assert len(list(out.glob("*.md"))) == 1 and list(out.glob("*.edits.toml"))
    nb = nbformat.read(str(result.run_dir / "notebook.ipynb"), as_version=4)
    kinds = {mime for cell in nb.cells for output in cell.get("outputs", [])
             for mime in output.get("data", {})}
    assert {"image/png", "text/markdown", "text/html"} <= kinds


@pytest.mark.slow
def test_the_error_spike_drill_keeps_its_series_for_the_postmortem(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    spike = run_drill("error-spike", runs, incident_id="inc-spike")
    assert spike.matched, spike.reasons
    written = postmortem.write_postmortem(Archive(runs / layout.DRILLS), "inc-spike",
                                          tmp_path / "pm")
    errors = written.markdown.with_name(written.markdown.stem + "-errors.png")
    assert errors.read_bytes()[:4] == b"\x89PNG"
    assert "errors per 5 minutes in Sentry" in written.markdown.read_text()


def test_owners_and_times_follow_the_oncall_config(tmp_path: Path, runs_dir: Path) -> None:
    from runbook.core.config import parse_config

    archive = Archive(runs_dir)
    add_run(archive, "inc-tz", "sev1_response", T0, severity="SEV-1",
            findings=[finding("deploy.crashed", "fail"), finding("health.down", "fail")])
    config = parse_config({
        "service": {"name": "dealix", "base_url": "https://api.example"},
        "oncall": {"timezone": "UTC", "responders": [
            {"name": "Sara", "slack_id": "U01SARA", "email": "sara@dealix.example"}]}},
        tmp_path / "runbook.toml")
    written = postmortem.write_postmortem(archive, "inc-tz", tmp_path / "pm", config=config,
                                          now=T0 + timedelta(hours=1))
    items = person.read(written.edits).action_items
    assert items and {(i.owner, i.due) for i in items} == {("Sara", "2026-03-29")}  # 4 weeks
    assert {i.type for i in items} <= {"prevent", "detect", "mitigate", "process"}
    text = written.markdown.read_text()
    assert "Times in UTC" in text and "| 2026-03-01 09:00:00 | Impact began" in text


def test_the_catalogue_names_causes_follow_ups_and_effects_it_holds() -> None:
    from runbook.incident import codes

    for table in (codes.CAUSES, codes.FOLLOW_UPS, codes.EFFECTS):
        assert set(table) <= set(codes.CATALOGUE)
    assert {cause.tag for cause in codes.CAUSES.values()} <= set(codes.TRIGGER_TAGS)
    assert {f.type for ups in codes.FOLLOW_UPS.values() for f in ups} == \
        set(codes.FOLLOW_UP_TYPES)
    # A symptom (the service's own health) is never read as the cause.
    assert not [c for c in codes.CAUSES if codes.CATALOGUE[c].health]


def test_a_seen_before_part_is_filled_by_the_callable_given(archive: Archive,
                                                            tmp_path: Path) -> None:
    written = postmortem.write_postmortem(
        archive, INCIDENT, tmp_path / "pm",
        seen_before=lambda history: f"- `{history.incident_id}`: new (first of its kind)")
    parts = sections(written.markdown.read_text())
    assert "new (first of its kind)" in parts["## Seen before"]
    # By default: the incidents before it in the same archive (here, none).
    plain = sections(postmortem.write_postmortem(archive, INCIDENT, tmp_path / "other")
                     .markdown.read_text())
    assert "Seen before: NEW" in plain["## Seen before"]
    assert "No earlier" in plain["## Seen before"]
    quiet = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "quiet",
                                        seen_before=lambda history: "")
    assert "## Seen before" not in quiet.markdown.read_text()
