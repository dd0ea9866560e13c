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
from runbook.clients.sentry import Bucket
from runbook.core import clock
from runbook.incident.log import IncidentLog
from runbook.sections.error_spike import DeployMark, ErrorChart, series_evidence
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


def spike_series(now: Any) -> list[Bucket]:
    """24 hours of quiet, then a spike in the last 20 minutes; the last bucket still counting."""
    start = now - timedelta(hours=24)
    start = start.replace(second=0, microsecond=0, minute=start.minute - start.minute % 5)
    buckets = []
    at = start
    while at <= now:
        buckets.append(Bucket(at, 40 if at >= now - timedelta(minutes=20) else 1))
        at += timedelta(minutes=5)
    return buckets


def test_the_error_chart_spans_the_impact_and_draws_a_partial_bucket() -> None:
    now = T0 + timedelta(minutes=2, seconds=30)
    buckets = spike_series(now)
    impact = now - timedelta(minutes=20)
    deploy = DeployMark(impact - timedelta(minutes=3), "8aa2fa7")
    old = DeployMark(now - timedelta(hours=10), "0ld0ld0")
    zone = ZoneInfo("Asia/Riyadh")
    figure = ErrorChart(buckets, [old, deploy], impact, None, now, zone=zone).figure()
    axes = figure.axes[0]
    low, high = axes.get_xlim()
    assert low == date2num(impact - timedelta(hours=1)) and high == date2num(now)
    [partial] = by_gid(axes, "partial")                     # hatched: still counting
    assert partial.get_x() == date2num(buckets[-1].at) and partial.get_hatch()
    whole = by_gid(axes, "buckets")
    assert all(low - 1 / 288 <= p.get_x() <= high for p in whole)
    assert len(whole) == 16             # the 80 minutes shown (1 h + 20 min), not 24 hours
    [line] = by_gid(axes, "deploy")                         # the old deploy is out of the window
    assert line.get_xdata()[0] == date2num(deploy.at)
    [threshold] = by_gid(axes, "threshold")
    assert threshold.get_ydata()[0] == 10
    assert axes.xaxis.get_major_formatter()(date2num(T0)) == "12:00"
    resolved = now - timedelta(minutes=1)
    later = ErrorChart(buckets, [deploy], impact, resolved, now + timedelta(hours=1),
                       zone=zone).figure().axes[0]
    assert later.get_xlim()[1] == date2num(resolved + timedelta(minutes=30))


def test_the_postmortem_draws_the_error_series_its_record_kept(runs_dir: Path,
                                                               tmp_path: Path) -> None:
    from runbook.sections import postmortem

    archive = Archive(runs_dir)
    now = T0 + timedelta(minutes=30)
    buckets = spike_series(now)
    spike = {**finding("errors.spike_after_deploy", "fail", "errors spiked"), "evidence": {
        "series": series_evidence(buckets), "fetched_at": clock.iso(now),
        "recent_max_per_5m": 40, "hot_buckets": 4, "spike_started": clock.iso(now - timedelta(
            minutes=20))}}
    crashed = {**finding("deploy.crashed", "fail", "crashed"), "evidence": {
        "deployment_id": "03347f78-aaaa", "created_at": clock.iso(now - timedelta(minutes=23)),
        "commit": "8aa2fa7" + "0" * 33, "commit_message": "async import", "status": "CRASHED"}}
    add_run(archive, "inc-e", "error_spike", now, severity="SEV-2", findings=[spike, crashed])
    written = postmortem.write_postmortem(archive, "inc-e", tmp_path / "pm", now=now)
    errors = written.markdown.with_name(written.markdown.stem + "-errors.png")
    assert errors.read_bytes()[:4] == b"\x89PNG"
    text = written.markdown.read_text()
    assert f"]({errors.name})" in text and "up to 40 errors per 5 minutes" in text
    assert "Sentry: errors first above the alert rule" in text
    assert "Sentry: errors last above the alert rule" in text
    history = load_history(archive, "inc-e", now)
    from runbook.sections.postmortem import story

    drawn = story.error_chart(history, ZoneInfo("UTC"))
    assert drawn is not None
    axes = drawn.figure().axes[0]
    assert axes.get_xlim()[0] == date2num(history.started - timedelta(hours=1))
    assert [line.get_xdata()[0] for line in by_gid(axes, "deploy")] == \
        [date2num(now - timedelta(minutes=23))]
