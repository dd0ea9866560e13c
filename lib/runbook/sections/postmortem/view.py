"""The postmortem, interactively (notebooks/postmortem.ipynb): the chart, the tables, the draft
to edit, and the same files `runbook postmortem` writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.core.errors import BadInput
from runbook.incident.log import IncidentLog
from runbook.incident.windows import fold_options
from runbook.sections import postmortem
from runbook.sections.postmortem import chart, story
from runbook.sections.postmortem.document import current_edits
from runbook.sections.postmortem.due import postmortems_due
from runbook.sections.postmortem.edits import missing
from runbook.sections.postmortem.history import History, load_history

__all__ = ["Chart", "Draft", "PostmortemView", "open_postmortem"]

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Chart:
    png: bytes

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return f"(timeline chart, {len(self.png)} bytes of PNG)"


@dataclass(frozen=True)
class Draft:
    markdown: str
    path: Path

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown


@dataclass
class PostmortemView:
    history: History
    places: postmortem.Places

    @property
    def path(self) -> Path:
        return postmortem.target_path(self.history, self.places.postmortems_dir)

    def chart(self) -> Chart:
        return Chart(chart.png(self.history, self.places.zone))

    def timeline(self) -> pd.DataFrame:
        """Every event of the incident's log, its milestones, deploys and Sentry readings."""
        import pandas as pd

        zone = self.places.zone
        rows = [{"when": postmortem.when(line.at, zone), "event": line.kind, "what": line.what,
                 "who": line.who, "run": line.run} for line in story.timeline(self.history)]
        return pd.DataFrame(rows, columns=["when", "event", "what", "who", "run"])

    def response_times(self) -> pd.DataFrame:
        import pandas as pd

        severity = self.history.severity
        rows = [{"measure": t.label, "took": t.took_text,
                 "target": f"{severity.level}: {t.target}" if severity and t.target else "—",
                 "verdict": t.verdict} for t in self.history.response_times()]
        return pd.DataFrame(rows, columns=["measure", "took", "target", "verdict"])

    def draft(self) -> Draft:
        """The document as it would be generated now (edit the file itself: re-runs keep it)."""
        paths = postmortem.Paths(self.path)
        edited = current_edits(self.history, paths, self.places.config, self.places.zone)
        return Draft(postmortem.render(self.history, paths, edited, self.places.zone,
                                       config=self.places.config), paths.markdown)

    def check(self) -> list[str]:
        """What is still empty or a prompt in the person's parts (the edits file)."""
        paths = postmortem.Paths(self.path)
        return missing(current_edits(self.history, paths, self.places.config,
                                     self.places.zone))

    def write(self) -> postmortem.Written:
        return postmortem.write_postmortem(self.places.archive, self.history.incident_id,
                                           self.places.postmortems_dir,
                                           config=self.places.config, zone=self.places.zone)

    def __repr__(self) -> str:
        severity = self.history.severity
        return (f"Incident {self.history.incident_id}: {len(self.history.runs)} runs, "
                f"{severity.level if severity else 'no severity'}, started "
                f"{postmortem.when(self.history.started, self.places.zone)}. "
                f"Postmortem: {self.path}")


def open_postmortem(incident_id: str = "", config_path: str = "",
                    out_dir: str = "") -> PostmortemView:
    """The incident's postmortem; with no incident given, the most urgent one still due, else
    the newest incident in the archive."""
    where = postmortem.places(config_path or None, out_dir or None)
    if not incident_id:
        due = postmortems_due(where.archive, where.postmortems_dir,
                              windows=fold_options(where.config))
        # Only incidents with a sealed run: this notebook's own run (headless) has none yet.
        sealed = {i: IncidentLog(where.archive, i).fold().started_at
                  for i in where.archive.incidents()
                  if where.archive.chain(i)}
        if due:
            incident_id = due[0].incident_id
        elif sealed:
            incident_id = max(sealed, key=lambda i: (sealed[i] or datetime.min.replace(
                tzinfo=UTC), i))
        else:
            raise BadInput(f"no incidents under {where.archive.location()}: give the incident id "
                           "(see `runbook runs`) or point RUNBOOK_RUNS_DIR at the archive")
    return PostmortemView(load_history(where.archive, incident_id,
                                       windows=fold_options(where.config)), where)
