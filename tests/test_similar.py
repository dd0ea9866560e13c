"""Seen before: an incident's trigger and causes graded new, rare or frequent against the
incidents before it, the past ones alike with what mitigated them and how long it took; drills
compared with drills, incidents with incidents, unless asked."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from runbook.archive.location import open_archive
from runbook.archive.record import Archive
from runbook.core.errors import UnknownIncident
from runbook.incident.log import IncidentLog
from runbook.incident.similar import seen_before, seen_before_line
from runbook.incident.trigger import trigger_of
from trend_fixtures import NOW, make_incident

DAY = timedelta(days=1)


def deploys(archive: Archive, count: int) -> list[str]:
    ids = [f"inc-deploy-{n}" for n in range(1, count + 1)]
    for n, incident in enumerate(ids):
        make_incident(archive, incident, NOW - (30 - n) * DAY, ttm=5 + n)
    return ids


def test_the_trigger_is_the_cause_finding_and_symptoms_stay_apart(runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    make_incident(archive, "inc-1", NOW - DAY)
    make_incident(archive, "inc-2", NOW - DAY, codes=("webhook.secret_mismatch",))
    make_incident(archive, "inc-3", NOW - DAY, codes=("health.down",), action="railway.restart")
    first = trigger_of(IncidentLog(archive, "inc-1").fold(NOW))
    assert (first.tag, first.causes, first.symptoms) == ("deploy", ("deploy.crashed",),
                                                         ("health.down",))
    assert trigger_of(IncidentLog(archive, "inc-2").fold(NOW)).tag == "config"
    assert trigger_of(IncidentLog(archive, "inc-3").fold(NOW)).tag == "unknown"


def test_new_then_rare_then_frequent(runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    ids = deploys(archive, 4)
    grades = [seen_before(archive, incident, NOW) for incident in ids]
    assert [g.trigger_rarity for g in grades] == ["new", "rare", "rare", "frequent"]
    assert [g.cause_rarity()["deploy.crashed"] for g in grades] == \
        ["new", "rare", "rare", "frequent"]
    assert [g.outlier for g in grades] == ["new", "rare", "rare", "frequent"]
    last = grades[-1]
    # The most alike first, then the newest; each with what mitigated it and its TTM.
    assert [p.incident_id for p in last.past] == ids[2::-1]
    assert last.past[0].mitigated_by == ("railway.rollback on dealix-api",)
    assert last.past[0].time_to_mitigate == timedelta(minutes=7)
    assert last.past[0].shared_causes == ("deploy.crashed",)


def test_an_unrelated_incident_is_new_and_alike_to_none(runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    deploys(archive, 2)
    make_incident(archive, "inc-webhook", NOW - DAY, codes=("webhook.secret_mismatch",),
                  action="railway.variable_upsert")
    seen = seen_before(archive, "inc-webhook", NOW)
    assert (seen.trigger, seen.trigger_rarity, seen.outlier, seen.past) == \
        ("config", "new", "new", ())
    assert seen.compared == 2
    line = seen_before_line(archive, "inc-webhook", NOW)
    assert line.startswith("Seen before: NEW: trigger config new; webhook.secret_mismatch new")
    assert "No earlier incident alike (2 compared)" in line


def test_the_line_names_the_past_incident_what_mitigated_it_and_how_long(
        runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    deploys(archive, 2)
    line = seen_before_line(archive, "inc-deploy-2", NOW)
    assert "trigger deploy rare (1 before)" in line
    assert re.search(r"inc-deploy-1 \(\d{4}-\d\d-\d\d, SEV-1; alike: deploy\.crashed\): "
                     r"mitigated by railway\.rollback on dealix-api in 5m 00s", line), line


def test_drills_compare_with_drills_and_incidents_with_incidents(runs_dir: Path) -> None:
    incidents = open_archive(None, drills=False)
    drills = open_archive(None, drills=True)
    make_incident(drills, "inc-drill-1", NOW - 5 * DAY, drill=True, scenario="outage")
    make_incident(incidents, "inc-real", NOW - 2 * DAY)
    make_incident(drills, "inc-drill-2", NOW - DAY, drill=True, scenario="outage")
    assert seen_before(incidents, "inc-real", NOW).past == ()
    assert [p.incident_id for p in seen_before(drills, "inc-drill-2", NOW).past] == \
        ["inc-drill-1"]
    both = seen_before(incidents, "inc-real", NOW, [incidents, drills])
    assert [(p.incident_id, p.drill) for p in both.past] == [("inc-drill-1", True)]
    with pytest.raises(UnknownIncident):
        seen_before(incidents, "inc-drill-2", NOW)


def test_cli_similar(runs_dir: Path) -> None:
    incidents = open_archive(None, drills=False)
    drills = open_archive(None, drills=True)
    make_incident(incidents, "inc-a", NOW - 3 * DAY)
    make_incident(incidents, "inc-b", NOW - DAY, ttm=12)
    make_incident(drills, "inc-d", NOW - 2 * DAY, drill=True, scenario="outage")
    now = ["--now", NOW.isoformat()]
    shown = run_cli("similar", "inc-b", *now)
    assert shown.returncode == 0, shown.stderr
    assert "1 earlier incident(s) alike" in shown.stdout and "inc-a (" in shown.stdout
    assert "inc-d" not in shown.stdout
    data = json.loads(run_cli("similar", "inc-b", "--json", "--drills", *now).stdout)
    assert [(a["id"], a["drill"], a["ttm_seconds"]) for a in data["alike"]] == \
        [("inc-d", True, 600), ("inc-a", False, 600)]
    assert data["trigger"] == "deploy" and data["causes"][0]["code"] == "deploy.crashed"
    # A drill is found by its id, and compared with the drills.
    drill = run_cli("similar", "inc-d", *now)
    assert drill.returncode == 0 and "No earlier drill alike (0 compared)" in drill.stdout
    unknown = run_cli("similar", "inc-nope")
    assert unknown.returncode == 2 and "no incident 'inc-nope'" in unknown.stderr
    bad = run_cli("similar", "not an id!")
    assert bad.returncode == 2


@pytest.mark.slow
def test_a_second_outage_drill_finds_the_first(runs_dir: Path) -> None:
    """The issue's check: `runbook similar` on a second outage drill finds the first."""
    found = []
    for _ in range(2):
        drill = run_cli("drill", "outage", timeout=240)
        assert drill.returncode == 0, drill.stdout + drill.stderr
        found.append(drill.stdout.rsplit("incident: ", 1)[1].strip())
    first, second = found
    shown = run_cli("similar", second)
    assert shown.returncode == 0, shown.stderr
    assert f"{first} (" in shown.stdout and "deploy.crashed" in shown.stdout
    assert run_cli("similar", first).stdout.count("No earlier drill alike") == 1
    # The drills' SEV-1s owe no postmortem, and list with the runs only when asked.
    assert first not in run_cli("due").stdout and first not in run_cli("runs").stdout
    assert first in run_cli("runs", "--drills").stdout


def test_every_trigger_names_a_catalogued_code_and_a_tag_of_the_list() -> None:
    from runbook.incident import codes

    assert set(codes.TRIGGER_OF) <= set(codes.CATALOGUE)
    assert set(codes.TRIGGER_OF_MITIGATION) <= set(codes.CATALOGUE)
    assert set(codes.TRIGGER_OF.values()) | set(codes.TRIGGER_OF_MITIGATION.values()) <= \
        set(codes.TRIGGERS)
    # A cause weighs on the SEV: a code that says nothing of customers names no trigger.
    assert all(codes.CATALOGUE[code].weight is not None for code in codes.TRIGGER_OF)
