"""The postmortem's charts, read back from the drawn figure: every failing observation its own
mark, the impact window shaded, the milestones drawn; the error-spike chart's window, deploys,
threshold and partial last bucket."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib.dates import date2num, num2date

from postmortem_fixtures import T0, add_run, finding
from runbook.archive.record import Archive
from runbook.core import clock
from runbook.incident.log import IncidentLog
from runbook.sections.postmortem import chart
from runbook.sections.postmortem.history import load_history


def by_gid(axes: Any, gid: str) -> list[Any]:
    return [a for a in [*axes.collections, *axes.lines, *axes.patches] if a.get_gid() == gid]


def test_every_failing_observation_is_its_own_mark(runs_dir: Path) -> None:
    archive = Archive(runs_dir)
    failing = [finding("health.down", "fail"), finding("deploy.crashed", "fail"),
               finding("uptime.down", "fail")]
    # Two runs at the same moment reporting the same failures: the marks would coincide.
    add_run(archive, "inc-c", "sev1_response", T0, severity="SEV-1", findings=failing)
    add_run(archive, "inc-c", "sev1_response", T0, severity="SEV-1", findings=failing)
    add_run(archive, "inc-c", "rollback", T0 + timedelta(minutes=4), findings=[
        finding("health.ok", "pass")], actions=[{"name": "railway.rollback", "dry_run": False,
                                                 "at": clock.iso(T0 + timedelta(minutes=4))}])
    log = IncidentLog(archive, "inc-c")
    for name, minutes in (("acknowledged", 2), ("mitigated", 6), ("resolved", 9)):
        log.append("milestone.set", {"milestone": name}, at=T0 + timedelta(minutes=minutes),
                   actor="sami")
    history = load_history(archive, "inc-c", T0 + timedelta(minutes=30))
    zone = ZoneInfo("Asia/Riyadh")
    axes = chart.draw(history, zone).axes[0]
    [marks] = by_gid(axes, "failing")
    points = [tuple(p) for p in marks.get_offsets()]
    assert len(points) == 6 == len([e for e in history.findings if e.status == "fail"])
    assert len(set(points)) == len(points)                 # none hidden under another
    [shade] = by_gid(axes, "impact")
    xs = [shade.get_x(), shade.get_x() + shade.get_width()]
    start = history.incident.started_at if history.incident else None
    assert start is not None
    assert min(xs) == date2num(start) and max(xs) == date2num(T0 + timedelta(minutes=9))
    for name, minutes in (("acknowledged", 2), ("mitigated", 6), ("resolved", 9)):
        [line] = by_gid(axes, name)
        assert line.get_xdata()[0] == date2num(T0 + timedelta(minutes=minutes)), name
    assert by_gid(axes, "detected")
    low, high = axes.get_xlim()
    assert low < date2num(start) and high > date2num(T0 + timedelta(minutes=9))
    label = axes.xaxis.get_major_formatter()(date2num(T0))
    assert label == "12:00:00"                             # the team's zone, Riyadh = UTC+3
    assert "Asia/Riyadh" in axes.get_xlabel()
    assert num2date(low) < start
