"""`runbook report`: the incidents' trends over a window, as Markdown and a self-contained HTML
twin with a chart: incidents by SEV and trigger, the median TTD, TTA, TTM and TTR over time,
the action items open and overdue, the postmortems owed, and the drills run (and the
scenarios not drilled lately). Drills count as incidents only when asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from runbook.archive import record as records
from runbook.core.errors import RunbookError
from runbook.core.files import write_atomic
from runbook.incident.events import Event
from runbook.incident.log import IncidentLog
from runbook.incident.similar import fold_all
from runbook.sections.postmortem.due import postmortems_due
from runbook.sections.report import chart, render
from runbook.sections.report.figures import Owed, Trends, trends

__all__ = ["Check", "Written", "build_report", "write_report"]

DEFAULT_REPORTS_DIR = "docs/ops/reports"
# A postmortem's check: (incident id, its file) → what is missing or still a prompt.
@dataclass(frozen=True)
class Written:
    markdown: Path
    html: Path
    chart: Path

    def __repr__(self) -> str:
        return f"report: {self.markdown}\nhtml:   {self.html}\nchart:  {self.chart}"


def _events(archives: dict[str, records.Archive]) -> Callable[[str], list[Event]]:
    def events_of(incident_id: str) -> list[Event]:
        archive = archives.get(incident_id)
        if archive is None:
            return []
        try:
            return IncidentLog(archive, incident_id).events()
        except RunbookError:
            return []
    return events_of


def build_report(incidents: records.Archive, drills: records.Archive, *, since: timedelta,
                 now: datetime, with_drills: bool, scenarios: list[str],
                 postmortems_dir: Path | None = None) -> Trends:
    """The figures for the incidents started within `since` before `now` (drills among them
    with `with_drills`); `scenarios`: the drill's, to name those not drilled lately; a saved
    postmortem is judged by the check its save recorded."""
    start = now - since
    folded = fold_all([incidents], now)
    drilled = fold_all([drills], now)
    where = {f.id: incidents for f in folded} | {f.id: drills for f in drilled}
    owed: list[Owed] = []
    if postmortems_dir is not None:
        owed = _owed(incidents, drills if with_drills else None, postmortems_dir, now, start,
                     with_drills)
    return trends(folded, drilled, since=start, now=now, with_drills=with_drills,
                  scenarios=scenarios, events_of=_events(where), owed=owed,
                  checked=postmortems_dir is not None)


def _owed(incidents: records.Archive, drills: records.Archive | None, postmortems_dir: Path,
          now: datetime, start: datetime, with_drills: bool) -> list[Owed]:
    """The postmortems owed: missing, or saved and failing the check (`postmortems_due` reads
    both from the incident's log)."""
    owed: list[Owed] = []
    for archive in [incidents] + ([drills] if drills is not None else []):
        owed += [Owed(d.incident_id, d.severity, d.deadline, d.missing)
                 for d in postmortems_due(archive, postmortems_dir, now, drills=with_drills)
                 if d.started >= start]
    return sorted(owed, key=lambda o: (o.deadline, o.incident_id))


def write_report(figures: Trends, out_dir: Path) -> Written:
    """The Markdown, its HTML twin and the chart's PNG, in `out_dir`, named by the day."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"incident-trends-{figures.now:%Y-%m-%d}"
    picture = chart.png(figures)
    paths = Written(out_dir / f"{stem}.md", out_dir / f"{stem}.html",
                    out_dir / f"{stem}-times.png")
    write_atomic(paths.chart, picture)
    write_atomic(paths.html, render.page(figures, picture).encode("utf-8"))
    write_atomic(paths.markdown, render.markdown(figures, paths.chart.name).encode("utf-8"))
    return paths
