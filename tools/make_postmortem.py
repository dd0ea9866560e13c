"""Generates notebooks/postmortem.ipynb (from the repo root: python -m tools.make_postmortem)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/postmortem.ipynb", [
    md("""
# Postmortem — learning from an incident

The runbook: every SEV-1 or SEV-2 needs a postmortem within 48 hours, in
`docs/ops/postmortems/YYYY-MM-DD-<slug>.md`: Summary, Impact, Trigger, Root cause, Detection,
Response and recovery, Timeline, Action items and Lessons. This notebook builds it from the
incident's log and archived runs (the same files as `runbook postmortem INCIDENT_ID`). Your parts
(root cause, action items, lessons) live in the `.edits.toml` beside it: running this again keeps
them.
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
Every event of the incident's log in time order. Shaded: the impact window; lines: detected,
acknowledged, mitigated, resolved; red marks: every failing observation.
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
The root cause is marked TO CONFIRM and the lessons are prompts: write them in the edits file.
What is still missing:
"""),
    code("""
pm.check()
"""),
    code("""
pm.draft()
"""),
    md("""
## Write it
The markdown and its HTML twin, the edits file, the chart PNG, and the evidence folder (each
archived notebook as HTML, its sealed record, the incident's log).
"""),
    code("""
pm.write() if write_files else "not written: write_files is False"
"""),
])
