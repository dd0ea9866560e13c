"""Postmortems from an incident's records: sections, order, links, evidence, edits kept."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from postmortem_fixtures import T0, add_run, finding, local_links
from runbook.archive import layout
from runbook.archive.record import Archive
from runbook.core.errors import UnknownIncident
from runbook.core.redaction import registry
from runbook.drill.run import run_drill
from runbook.sections import postmortem
from runbook.sections.postmortem.history import action_outcome, load_history
from runbook.sections.postmortem.merge import block, merge

INCIDENT = "inc-drill-pm"
HEADINGS = ["## Timeline", "## Root cause", "## What worked", "## What didn't",
            "## Action items", "## Response times", "## Evidence"]


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


def test_postmortem_from_a_drill_incident(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "pm"
    written = postmortem.write_postmortem(archive, INCIDENT, out)
    text = written.markdown.read_text()
    history = load_history(archive, INCIDENT)
    assert written.markdown.name == f"{history.started:%Y-%m-%d}-health-down.md"
    assert written.created and written.rendered == 2
    positions = [text.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    parts = sections(text)
    timeline = parts["## Timeline"]
    assert timeline.index("health.down") < timeline.index("health.ok")
    assert "UTC" in timeline and "Riyadh" in timeline
    rows = [line for line in timeline.splitlines() if line.startswith("| 20")]
    # every run's start and finish, and each of its findings and actions
    assert len(rows) == sum(2 + len(r.record["findings"]) + len(r.record["actions"])
                            for r in history.runs)
    assert rows == sorted(rows, key=lambda r: r.split("|")[1])
    assert all("[notebook](" in row for row in rows)
    assert "DRAFT" in parts["## Root cause"] and "health.down" in parts["## Root cause"]
    assert "Recovery confirmed" in parts["## What worked"]
    fix = next(f["fix"] for f in history.runs[0].record["findings"] if f["code"] == "health.down")
    item_lines = [line for line in parts["## Action items"].splitlines() if fix in line]
    assert len(item_lines) == 1 and item_lines[0].startswith("- [ ] ")  # two findings, one item
    assert "| met |" in parts["## Response times"] and "SEV-1" in parts["## Response times"]
    links = local_links(written.markdown)
    assert written.chart in links and written.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(links) > 10 and all(link.exists() for link in links), \
        [str(link) for link in links if not link.exists()]
    pages = sorted(written.evidence.glob("*.html"))
    assert len(pages) == 2 and "health.down" in pages[0].read_text()


def test_evidence_is_redacted_again(archive: Archive, tmp_path: Path) -> None:
    # A value registered since the run (e.g. read from the config now) is redacted in the HTML.
    first = load_history(archive, INCIDENT).runs[0]
    record = first.record
    host = str(record["findings"][0]["evidence"]["url"]).split("/")[2]
    registry().register("DRILL_HOST_SECRET", host)
    written = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm")
    page = (written.evidence / f"{first.name}.html").read_text()
    assert host not in page and "[redacted:DRILL_HOST_SECRET]" in page
    assert host not in written.markdown.read_text()


def test_evidence_through_nbconvert(archive: Archive, tmp_path: Path) -> None:
    first = load_history(archive, INCIDENT).runs[0]
    host = str(first.record["findings"][0]["evidence"]["url"]).split("/")[2]
    registry().register("DRILL_HOST_SECRET", host)
    fast = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm")
    converted = postmortem.write_postmortem(archive, INCIDENT, tmp_path / "pm",
                                            evidence_engine="nbconvert")
    assert converted.rendered == fast.rendered > 0   # a new engine renders every page again
    page = (converted.evidence / f"{first.name}.html").read_text()
    assert "jp-Cell" in page and "highlight" in page     # nbconvert's own markup
    assert host not in page and "[redacted:DRILL_HOST_SECRET]" in page


def test_edits_survive_a_second_run(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "pm"
    first = postmortem.write_postmortem(archive, INCIDENT, out)
    text = first.markdown.read_text()
    mine = "- Paging reached the on-call in 2 minutes."
    text = text.replace("<!-- /generated:what-worked -->",
                        "<!-- /generated:what-worked -->\n" + mine)
    text = text.replace("**DRAFT — drafted from the failing findings; a person must confirm or "
                        "correct it, then remove this mark.**",
                        "The v1.4.2 deploy crashed on start: a missing env var.")
    text = text.replace("- [ ] Review this postmortem", "- [x] Review this postmortem")
    first.markdown.write_text(text)
    # A later run joins the incident: the generated parts must show it.
    later = load_history(archive, INCIDENT).runs[-1].finished + timedelta(minutes=5)
    add_run(archive, INCIDENT, "rollback", later, findings=[
        finding("deploy.ok", "pass", "latest deploy SUCCESS")],
        actions=[{"name": "railway.rollback", "dry_run": False, "result": "rolled back",
                  "at": (later + timedelta(seconds=3)).isoformat()}])

    second = postmortem.write_postmortem(archive, INCIDENT, out)
    assert second.markdown == first.markdown and not second.created
    again = second.markdown.read_text()
    assert "- Paging reached the on-call in 2 minutes." in again
    assert "The v1.4.2 deploy crashed on start" in again and second.kept_edited == ["root-cause"]
    assert "- [x] Review this postmortem" in again
    parts = sections(again)
    assert "`rollback` started" in parts["## Timeline"]
    assert "`railway.rollback` succeeded" in parts["## What worked"]
    assert parts["## What worked"].index("railway.rollback") < \
        parts["## What worked"].index("Paging reached")
    assert second.rendered == 1  # only the new run's notebook; the others were up to date
    third = postmortem.write_postmortem(archive, INCIDENT, out)
    assert third.markdown.read_text() == again


def test_a_hand_written_postmortem_is_left_alone(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "pm"
    out.mkdir()
    mine = out / "2026-01-01-outage.md"
    mine.write_text(f"# Outage\n\nIncident {INCIDENT}: written by hand.\n")
    written = postmortem.write_postmortem(archive, INCIDENT, out)
    assert written.markdown == mine and written.side_file == out / "2026-01-01-outage.md.new"
    assert mine.read_text().endswith("written by hand.\n")
    assert "## Timeline" in written.side_file.read_text()
    assert "left untouched" in repr(written)


def test_what_worked_what_didnt_and_action_items(tmp_path: Path, runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    fix = "Set MOYASAR_WEBHOOK_SECRET in Railway to the dashboard's value, then redeploy"
    add_run(archive, "inc-pay", "webhook_401", T0, severity="SEV-2", findings=[
        finding("webhook.secret_mismatch", "fail", "fingerprints differ", fix),
        finding("webhook.secret_mismatch", "fail", "still differ", fix),
        finding("moyasar.ok", "error", "Moyasar API did not answer in 5 s")],
        actions=[
            {"name": "railway.variable_upsert", "dry_run": True, "result": "would set",
             "at": (T0 + timedelta(seconds=20)).isoformat()},
            {"name": "railway.redeploy", "dry_run": False, "ok": False,
             "result": "failed: 500", "at": (T0 + timedelta(seconds=25)).isoformat()}])
    add_run(archive, "inc-pay", "webhook_401", T0 + timedelta(hours=2), status="failed",
            findings=[finding("webhook.ok", "pass")])
    written = postmortem.write_postmortem(archive, "inc-pay", tmp_path / "pm")
    parts = sections(written.markdown.read_text())
    assert written.markdown.name == "2026-03-01-webhook-secret-mismatch.md"
    assert "Prepared as dry runs" in parts["## What worked"]
    didnt = parts["## What didn't"]
    assert "`railway.redeploy` failed" in didnt and "`moyasar.ok` errored" in didnt
    assert "ended `failed`" in didnt and "No later run" in didnt
    items = parts["## Action items"]
    assert items.count(fix) == 1 and "Find out why `railway.redeploy` failed" in items
    assert "| breached |" not in parts["## Response times"].split("\n")[2]  # first response met
    assert "not reached" in parts["## Response times"]
    assert "SEV-2" in parts["## Response times"]


def test_action_outcomes() -> None:
    assert action_outcome({"name": "x", "dry_run": True}) == "dry run"
    assert action_outcome({"name": "x", "dry_run": False, "result": "ok"}) == "succeeded"
    assert action_outcome({"name": "x", "dry_run": False, "status": "failed"}) == "failed"
    assert action_outcome({"name": "x", "dry_run": True, "error": "refused"}) == "failed"


def test_merge_keeps_edits_and_carries_ticks() -> None:
    old = "intro\n" + block("a", "- [ ] one\n- [ ] two") + "\nmine\n" + block("b", "old b")
    old = old.replace("- [ ] two", "- [x] two")
    fresh = block("a", "- [ ] one\n- [ ] two\n- [ ] three") + block("b", "new b") + \
        block("c", "new c")
    merged = merge(old.replace("old b", "my b"), fresh)
    assert merged is not None
    assert "- [x] two" in merged.text and "- [ ] three" in merged.text
    assert "my b" in merged.text and merged.kept_edited == ["b"]
    assert "intro" in merged.text and "mine" in merged.text and merged.added == ["c"]
    assert merge("no markers here", fresh) is None


def test_unknown_incident_is_a_clear_error(runs_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownIncident, match="no incident"):
        postmortem.write_postmortem(Archive(runs_dir), "inc-none", tmp_path)


@pytest.mark.slow
def test_cli_after_a_drill_outage(tmp_path: Path, runs_dir: Path) -> None:
    """The acceptance check: `runbook drill outage`, then `runbook postmortem <incident>`."""
    drill = run_cli("drill", "outage", cwd=tmp_path)
    assert drill.returncode == 0, drill.stderr
    incident = re.search(r"^incident: (\S+)$", drill.stdout, re.M)
    assert incident
    result = run_cli("postmortem", incident.group(1), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = list((tmp_path / "docs/ops/postmortems").glob("*.md"))
    assert len(files) == 1 and re.match(r"\d{4}-\d\d-\d\d-health-down\.md$", files[0].name)
    text = files[0].read_text()
    for heading in ("## Timeline", "## Root cause", "## What worked", "## What didn't",
                    "## Action items"):
        assert heading in text
    assert "health.down" in sections(text)["## Timeline"]
    assert list((tmp_path / "docs/ops/postmortems").glob("*.png"))
    bad = run_cli("postmortem", "no such incident!", cwd=tmp_path)
    assert bad.returncode == 2 and "not valid" in bad.stderr


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
    assert len(list(out.glob("*-health-down.md"))) == 1 and list(out.glob("*.png"))
    nb = nbformat.read(str(result.run_dir / "notebook.ipynb"), as_version=4)
    kinds = {mime for cell in nb.cells for output in cell.get("outputs", [])
             for mime in output.get("data", {})}
    assert {"image/png", "text/markdown", "text/html"} <= kinds
