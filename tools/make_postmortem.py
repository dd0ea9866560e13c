"""Generates notebooks/postmortem.ipynb (from the repo root: python -m tools.make_postmortem)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/postmortem.ipynb", [
    md("""
# Postmortem — learning from an incident

The runbook: every SEV-1 or SEV-2 needs a postmortem within 48 hours, in
`docs/ops/postmortems/YYYY-MM-DD-summary.md`, with Timeline, Root cause, What worked, What didn't
and Action items. This notebook builds it from the incident's archived runs (the same file as
`runbook postmortem INCIDENT_ID`). Edit the written file freely: running this again refreshes
only the generated parts a person has not changed.
"""),
    params("""
postmortem_of: str = ""  # incident to write up; empty: the most urgent one due, else the newest
config_path: str = ""    # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml (optional here)
out_dir: str = ""        # folder for the postmortem; empty: the config's [archive] postmortems_dir
write_files: bool = True  # False: show the draft without writing anything
"""),
    code("""
from runbook.sections.postmortem.view import open_postmortem

pm = open_postmortem(postmortem_of, config_path=config_path, out_dir=out_dir)
pm
"""),
    md("""
## Timeline
Every run, finding and action in time order. Red dashes: the severity's response deadline;
green dashes: the first run that found nothing failing.
"""),
    code("""
pm.chart()
"""),
    code("""
pm.timeline()
"""),
    md("""
## Response times
"""),
    code("""
pm.response_times()
"""),
    md("""
## The draft
The root cause is a **draft** from the failing findings: confirm or correct it in the file.
"""),
    code("""
pm.draft()
"""),
    md("""
## Write it
The markdown, the chart PNG beside it, and each archived notebook rendered to HTML.
"""),
    code("""
pm.write() if write_files else "not written: write_files is False"
"""),
])
