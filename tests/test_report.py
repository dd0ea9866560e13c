"""`runbook report`: incidents by SEV and trigger, the median TTD/TTA/TTM/TTR with a chart
over time (its plotted data read back from the PNG), action items, postmortems owed, drills."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_cli
from runbook.archive.location import open_archive
from runbook.incident.events import Event
from runbook.sections.report import build_report, chart, write_report
from runbook.sections.report.figures import action_items
from trend_fixtures import NOW, make_incident

DAY = timedelta(days=1)
SCENARIOS = ["alert-outage", "outage", "webhook-401"]


def history() -> None:
    incidents = open_archive(None, drills=False)
    drills = open_archive(None, drills=True)
    # Two in one week (TTM 10 and 20: median 15), one the week after (TTM 4), one too old.
    make_incident(incidents, "inc-1", datetime(2026, 11, 16, 9, tzinfo=UTC), ttd=2, ttm=10)
    make_incident(incidents, "inc-2", datetime(2026, 11, 18, 9, tzinfo=UTC), ttd=4, ttm=20,
                  ttr=30)
    make_incident(incidents, "inc-3", datetime(2026, 11, 25, 9, tzinfo=UTC), ttd=1, ttm=4,
                  codes=("webhook.secret_mismatch",), action="railway.variable_upsert")
    make_incident(incidents, "inc-old", NOW - 200 * DAY)
    make_incident(drills, "inc-drill", datetime(2026, 11, 20, 9, tzinfo=UTC), drill=True,
                  scenario="outage", ttd=30, ttm=60)


def test_the_figures(runs_dir: Path, tmp_path: Path) -> None:
    history()
    figures = build_report(open_archive(None, drills=False), open_archive(None, drills=True),
                           since=timedelta(days=30), now=NOW, with_drills=False,
                           scenarios=SCENARIOS, postmortems_dir=tmp_path / "pm")
    assert [r.id for r in figures.rows] == ["inc-1", "inc-2", "inc-3"]
    assert figures.by_severity() == {"SEV-1": 2, "SEV-2": 1}
    assert figures.by_trigger() == {"deploy": 2, "config": 1}
    medians = figures.medians()
    assert medians["TTD"] == timedelta(minutes=2) and medians["TTM"] == timedelta(minutes=10)
    assert medians["TTA"] == timedelta(minutes=3) and medians["TTR"] == timedelta(minutes=20)
    # The drill is listed apart, and the scenarios not drilled lately named.
    assert [r.id for r in figures.drills_in_window()] == ["inc-drill"]
    assert figures.not_drilled() == ["alert-outage", "webhook-401"]
    # Every SEV-1 in the window lacks its postmortem.
    assert [o.incident_id for o in figures.owed] == ["inc-1", "inc-2", "inc-3"]
    assert figures.action_items is None
    counted = build_report(open_archive(None, drills=False), open_archive(None, drills=True),
                           since=timedelta(days=30), now=NOW, with_drills=True,
                           scenarios=SCENARIOS)
    assert [r.id for r in counted.rows] == ["inc-1", "inc-2", "inc-drill", "inc-3"]
    assert counted.medians()["TTD"] == timedelta(minutes=3)


def chart_colours(png: Path) -> set[tuple[int, int, int]]:
    with Image.open(png) as image:
        return {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 24) or []}


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def test_the_report_files_and_the_charts_data(runs_dir: Path, tmp_path: Path) -> None:
    history()
    figures = build_report(open_archive(None, drills=False), open_archive(None, drills=True),
                           since=timedelta(days=30), now=NOW, with_drills=False,
                           scenarios=SCENARIOS, postmortems_dir=tmp_path / "pm")
    written = write_report(figures, tmp_path / "out")
    # The chart's series, read back from the image: the weekly medians, in minutes.
    with Image.open(written.chart) as image:
        data = json.loads(image.info[chart.SERIES_KEY])
        assert image.size == (900, 400)
    assert data["since"] == "2026-11-01" and data["until"] == "2026-12-01"
    assert data["metrics"]["TTM"] == [["2026-11-16", 15.0], ["2026-11-23", 4.0]]
    assert data["metrics"]["TTD"] == [["2026-11-16", 3.0], ["2026-11-23", 1.0]]
    assert data["metrics"]["TTR"] == [["2026-11-16", 25.0], ["2026-11-23", 20.0]]
    assert data["incidents"] == [["2026-11-16", 2], ["2026-11-23", 1]]
    # Each series is drawn: its colour is in the image.
    colours = chart_colours(written.chart)
    for name, colour in chart.COLOURS.items():
        assert hex_rgb(colour) in colours, name

    text = written.markdown.read_text()
    assert not re.search(r"<[a-zA-Z/!]", text), "raw HTML in the Markdown"
    for heading in ("## Incidents by SEV", "## Incidents by trigger", "## Response times",
                    "## Action items", "## Postmortems owed", "## Drills"):
        assert heading in text
    assert f"]({written.chart.name})" in text
    assert "| TTM | 10m 00s | 3 |" in text and "| deploy | 2 |" in text
    assert "3 missing" in text and "Scenarios not drilled in 90 days: alert-outage, " \
        "webhook-401." in text
    assert "Unknown: no postmortem in the window has saved action items yet" in text
    page = written.html.read_text()
    assert "data:image/png;base64," in page and "src=\"http" not in page
    assert "inc-drill" in page and "inc-old" not in page


def test_a_window_with_nothing_still_writes_its_report(runs_dir: Path, tmp_path: Path) -> None:
    figures = build_report(open_archive(None, drills=False), open_archive(None, drills=True),
                           since=timedelta(days=7), now=NOW, with_drills=False,
                           scenarios=SCENARIOS)
    written = write_report(figures, tmp_path)
    with Image.open(written.chart) as image:
        data = json.loads(image.info[chart.SERIES_KEY])
    assert data["metrics"] == {"TTD": [], "TTA": [], "TTM": [], "TTR": []}
    assert "None in the window." in written.markdown.read_text()


def event(kind: str, body: dict[str, object]) -> Event:
    return Event(kind, NOW, body)


def test_action_items_are_read_from_the_last_saved_postmortem() -> None:
    assert action_items("inc-1", [event("run.sealed", {})]) is None
    saved = [event("postmortem.saved", {"action_items": [{"title": "old"}]}),
             event("postmortem.saved", {"action_items": [
                 {"title": "Alert on deploy crash loops", "owner": "alice", "due": "2026-11-20"},
                 {"title": "Pin the start command", "owner": "bob", "due": "2026-12-20"},
                 {"title": "Done already", "status": "done"}, {"title": ""}]})]
    items = action_items("inc-1", saved)
    assert items is not None
    assert [(i.title, i.owner, i.due, i.done) for i in items] == [
        ("Alert on deploy crash loops", "alice", date(2026, 11, 20), False),
        ("Pin the start command", "bob", date(2026, 12, 20), False),
        ("Done already", "", None, True)]


@pytest.mark.slow
def test_cli_report(runs_dir: Path, tmp_path: Path) -> None:
    history()
    out = tmp_path / "reports"
    made = run_cli("report", "--since", "30d", "--now", NOW.isoformat(), "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "3 incident(s)" in made.stdout and "(drills apart), 1 drill(s) run" in made.stdout
    (markdown,) = out.glob("*.md")
    assert markdown.name == "incident-trends-2026-12-01.md"
    assert len(list(out.glob("*.png"))) == 1 and len(list(out.glob("*.html"))) == 1
    with_drills = run_cli("report", "--drills", "--since", "30d", "--now", NOW.isoformat(),
                          "--out", str(out))
    assert "4 incident(s)" in with_drills.stdout and "inc-drill (drill)" in markdown.read_text()
    bad = run_cli("report", "--since", "ninety days")
    assert bad.returncode == 2 and "--since" in bad.stderr and not (tmp_path / "docs").exists()


@pytest.mark.parametrize("since", ["0d", "-5d"])
def test_a_window_that_is_no_window_is_refused(since: str) -> None:
    bad = run_cli("report", f"--since={since}")
    assert bad.returncode == 2
