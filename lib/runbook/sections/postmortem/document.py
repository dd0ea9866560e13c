"""Postmortems built from an incident's sealed records, and the runbook's 48-hour rule.

`write_postmortem` writes `<postmortems_dir>/YYYY-MM-DD-<slug>.md` (the date is the incident's
start, the slug its failing findings), a timeline chart PNG beside it, and each archived notebook
as HTML in `<name>-evidence/`. The runbook's five sections (Timeline, Root cause, What worked,
What didn't, Action items) and the response times are generated between markers; a re-run
refreshes only those, and only where a person has not edited them (see postmortem_merge).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runbook.archive import record as records
from runbook.archive.location import archive_url, default_runs_dir, open_archive
from runbook.core import clock
from runbook.core.config import Config, load_config, resolve_path
from runbook.core.errors import BadInput
from runbook.core.files import write_atomic
from runbook.core.redaction import registry
from runbook.core.severity import format_delta
from runbook.sections.postmortem import chart, evidence
from runbook.sections.postmortem.history import (
    NEEDS_POSTMORTEM,
    POSTMORTEM_WINDOW,
    Event,
    History,
    Run,
    load_history,
)
from runbook.sections.postmortem.merge import block, merge

DEFAULT_POSTMORTEMS_DIR = "docs/ops/postmortems"
_MARKER = "<!-- runbook-postmortem incident={incident} -->"
_MARKER_RE = re.compile(r"<!-- runbook-postmortem incident=([A-Za-z0-9._-]+) -->")
STANDING_ITEMS = (
    "Confirm the root cause above and remove its DRAFT mark",
    "Review this postmortem in the weekly team sync",
    "Update the runbook if this incident showed a new pattern",
)


# --- where things are ----------------------------------------------------------------------

@dataclass(frozen=True)
class Places:
    """The archive to read and the folder postmortems go to."""

    archive: records.Archive
    postmortems_dir: Path
    config: Config | None = None


def places(config_path: str | None = None, out_dir: str | None = None) -> Places:
    """From the config when there is one (given, $RUNBOOK_CONFIG or ./runbook.toml): its
    archive, and `[archive] postmortems_dir` relative to the config's folder. Without a config:
    $RUNBOOK_RUNS_DIR or ./runs, and docs/ops/postmortems under the current directory."""
    config = load_config(config_path) if config_path or resolve_path(None).is_file() else None
    if config is not None:
        config.register_secrets()  # so the HTML evidence is redacted for them too
        runs = config.runs_dir()
        base = Path(config.archive.postmortems_dir)
        default_out = base if base.is_absolute() else config.path.resolve().parent / base
    else:
        runs = default_runs_dir()
        default_out = Path.cwd() / DEFAULT_POSTMORTEMS_DIR
    out = Path(out_dir).resolve() if out_dir else default_out
    return Places(open_archive(config) if config is not None else
                  open_archive(None) if archive_url(None) else records.Archive(runs), out, config)


def existing_postmortem(directory: Path, incident_id: str) -> Path | None:
    """The postmortem already written for an incident: one carrying our marker, else any
    markdown file that names the incident (a person may write one by hand)."""
    if not directory.is_dir():
        return None
    named = None
    for path in sorted(directory.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _MARKER.format(incident=incident_id) in text:
            return path
        if named is None and re.search(rf"(?<![A-Za-z0-9._-]){re.escape(incident_id)}"
                                       r"(?![A-Za-z0-9_-])", text):
            named = path
    return named


# --- the document --------------------------------------------------------------------------

def _link(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target, base)).as_posix().replace(" ", "%20")


def _cell(text: str) -> str:
    """Text from the records (a commit message, a start command, a service's answer), safe
    inside a markdown line or table cell: on one line, `|` escaped, and raw HTML escaped so
    that a `<script>` in a commit message is shown, never run, as the HTML evidence does."""
    one_line = re.sub(r"\s+", " ", text.replace("|", "\\|")).strip()
    return html.escape(one_line, quote=False)


def when(moment: datetime) -> str:
    """Like clock.both_zones, to the second: a drill's events are seconds apart."""
    utc, riyadh = moment.astimezone(UTC), moment.astimezone(clock.RIYADH)
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC ({riyadh:%H:%M:%S} Riyadh)"


@dataclass
class Paths:
    markdown: Path

    @property
    def folder(self) -> Path:
        return self.markdown.parent

    @property
    def chart(self) -> Path:
        return self.markdown.with_name(self.markdown.stem + "-timeline.png")

    @property
    def evidence(self) -> Path:
        return self.markdown.with_name(self.markdown.stem + "-evidence")

    def page(self, run: Run) -> Path:
        return self.evidence / evidence.page_name(run)


def _links(paths: Paths, event: Event) -> str:
    page = f"[notebook]({_link(paths.page(event.run), paths.folder)})"
    if event.kind != "run-started":
        return page
    return f"{page} · [archived]({_link(event.run.notebook_path, paths.folder)})"


def timeline_section(history: History, paths: Paths) -> str:
    lines = [f"![Timeline chart]({_link(paths.chart, paths.folder)})", "",
             "| When (UTC, Riyadh) | Event | Status | Evidence |", "|---|---|---|---|"]
    for event in history.events:
        what = event.title if event.kind != "finding" else f"`{event.code}`: {event.title}"
        if event.kind == "action" and event.detail:
            what += f" → {event.detail}"
        lines.append(f"| {when(event.at)} | {_cell(what)} | {event.status} | "
                     f"{_links(paths, event)} |")
    return "\n".join(lines)


def root_cause_section(history: History) -> str:
    lines = ["**DRAFT — drafted from the failing findings; a person must confirm or correct it, "
             "then remove this mark.**", ""]
    first: dict[str, Event] = {}
    counts: dict[str, int] = {}
    for event in history.findings:
        if event.status == "fail":
            first.setdefault(event.code, event)
            counts[event.code] = counts.get(event.code, 0) + 1
    if not first:
        lines.append("No run recorded a failing finding: the records do not name a cause.")
    else:
        lines.append("The records point to:")
        for code, event in first.items():
            lines.append(f"- `{code}` — {_cell(event.title)} (first seen {when(event.at)} in "
                         f"`{event.run.notebook}`; reported {counts[code]}×)")
    errors = [e for e in history.findings if e.status == "error"]
    if errors:
        lines += ["", "Checks that could not run (they neither confirm nor rule out a cause):"]
        lines += [f"- `{e.code}` — {_cell(e.title)}" for e in errors]
    return "\n".join(lines)


def worked_section(history: History) -> str:
    lines = []
    failure = history.first_failure()
    if failure is not None:
        lines.append(f"- The runbook named the fault: `{failure.code}` at {when(failure.at)}, "
                     f"{format_delta(failure.at - history.started)} after the incident started.")
    for event in history.actions:
        if event.status == "succeeded":
            lines.append(f"- {_cell(event.title)} succeeded at {when(event.at)}"
                         + (f": {_cell(event.detail)}" if event.detail else ""))
        elif event.status == "unknown":
            lines.append(f"- {event.title}: outcome unknown at {when(event.at)} (sent, no "
                         "answer seen; check Railway's deployments for whether it happened)")
    dry = [e for e in history.actions if e.status == "dry run"]
    if dry:
        lines.append("- Prepared as dry runs (not carried out): "
                     + ", ".join(f"`{e.code}`" for e in dry))
    mitigated = history.mitigated()
    if mitigated is not None:
        lines.append(f"- Recovery confirmed: `{mitigated.notebook}` found nothing failing at "
                     f"{when(mitigated.finished)}.")
    return "\n".join(lines) or "_The records show nothing that worked yet._"


def didnt_section(history: History) -> str:
    lines = []
    for event in history.actions:
        if event.status == "failed":
            lines.append(f"- {_cell(event.title)} failed at {when(event.at)}"
                         + (f": {_cell(event.detail)}" if event.detail else ""))
    for event in history.findings:
        if event.status == "error":
            lines.append(f"- The check `{event.code}` errored at {when(event.at)}: "
                         f"{_cell(event.title)}")
    for run in history.runs:
        if run.status != "completed":
            error = str(run.record.get("error") or "")
            lines.append(f"- Run `{run.name}` ended `{run.status}`"
                         + (f": {_cell(error)}" if error else ""))
    for time in history.response_times():
        if time.verdict == "breached":
            lines.append(f"- {time.label}: {time.took_text}, past the "
                         f"{format_delta(time.target or time.took or POSTMORTEM_WINDOW)} target.")
    if history.first_failure() is not None and history.mitigated() is None:
        lines.append("- No later run confirmed recovery (no run found nothing failing).")
    return "\n".join(lines) or "_The records show no failed action and no errored check._"


def action_items(history: History) -> list[str]:
    """The fix steps of failing and errored findings, each once, then the runbook's own."""
    items: dict[str, list[str]] = {}
    for event in history.findings:
        if event.status in ("fail", "error") and event.detail.strip():
            codes = items.setdefault(_cell(event.detail), [])
            if event.code not in codes:
                codes.append(event.code)
    for event in history.actions:
        if event.status == "failed":
            items.setdefault(f"Find out why `{event.code}` failed and fix it", [])
    lines = [f"{text} (from {', '.join(f'`{c}`' for c in codes)})" if codes else text
             for text, codes in items.items()]
    return [*lines, *STANDING_ITEMS]


def response_section(history: History) -> str:
    severity = history.severity
    target = f"{severity.level}: {format_delta(severity.response_time)}" if severity else "—"
    lines = ["| Measure | Took | Reached at | Target | Verdict |", "|---|---|---|---|---|"]
    for time in history.response_times():
        at = when(time.at) if time.at else "—"
        lines.append(f"| {time.label} | {time.took_text} | {at} | {target} | {time.verdict} |")
    lines += ["", f"Measured from the incident's start, {when(history.started)} "
              f"({history.start_source}): detection, first response, mitigation and recovery "
              "are separate moments."]
    return "\n".join(lines)


def evidence_section(history: History, paths: Paths) -> str:
    lines = []
    for run in history.runs:
        page = _link(paths.page(run), paths.folder)
        notebook = _link(run.notebook_path, paths.folder)
        record = _link(run.record_path, paths.folder)
        lines.append(f"- [{run.name}]({page}) — `{run.notebook}`, {run.status}, "
                     f"{run.record.get('severity') or 'no severity'} "
                     f"([archived run]({notebook}), [record]({record}))")
    return "\n".join(lines)


def summary_section(history: History) -> str:
    severity = history.severity
    due = history.started + POSTMORTEM_WINDOW
    return "\n".join([
        f"- **Incident:** `{history.incident_id}`",
        f"- **Severity:** {severity.level + ' — ' + severity.definition if severity else 'none'}",
        f"- **Started:** {when(history.started)} ({history.start_source})",
        f"- **Detected:** {when(history.detected) if history.detected else '—'}",
        f"- **Runs:** {len(history.runs)}, "
        f"{sum(1 for e in history.findings if e.status == 'fail')} failing findings, "
        f"{len(history.actions)} actions",
        f"- **Postmortem due:** {when(due)}"
        + ("" if severity and severity.level in NEEDS_POSTMORTEM
           else " (required for SEV-1 and SEV-2 only)"),
    ])


def render(history: History, paths: Paths) -> str:
    """The whole document as generated, every generated part inside its markers."""
    items = "\n".join(f"- [ ] {item}" for item in action_items(history))
    parts = [
        _MARKER.format(incident=history.incident_id),
        f"# Postmortem: {history.slug()} ({history.started:%Y-%m-%d})",
        "", block("summary", summary_section(history)),
        "", "## Timeline", "", block("timeline", timeline_section(history, paths)),
        "", "## Root cause", "", block("root-cause", root_cause_section(history)),
        "", "## What worked", "", block("what-worked", worked_section(history)),
        "", "## What didn't", "", block("what-didnt", didnt_section(history)),
        "", "## Action items", "", block("action-items", items),
        "", "## Response times", "", block("response-times", response_section(history)),
        "", "## Evidence", "", block("evidence", evidence_section(history, paths)), "",
    ]
    return "\n".join(parts)


# --- writing --------------------------------------------------------------------------------

@dataclass
class Written:
    markdown: Path
    chart: Path
    evidence: Path
    created: bool                      # a new file (False: an existing one was refreshed)
    side_file: Path | None = None      # the `.new` written beside a hand-written file
    kept_edited: list[str] = field(default_factory=list)
    rendered: int = 0                  # notebooks rendered now (the rest were up to date)
    render_errors: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        lines = [f"postmortem: {self.markdown}" + (" (new)" if self.created else " (updated)")]
        if self.side_file:
            lines.append(f"{self.markdown.name} has no generated sections (written by hand): "
                         f"left untouched; the generated version is in {self.side_file}")
        if self.kept_edited:
            lines.append("kept as edited: " + ", ".join(self.kept_edited))
        lines.append(f"chart: {self.chart}")
        lines.append(f"evidence: {self.evidence} ({self.rendered} rendered now)")
        lines += [f"evidence not rendered: {e}" for e in self.render_errors]
        return "\n".join(lines)


def target_path(history: History, directory: Path) -> Path:
    """The incident's existing postmortem, else a new `YYYY-MM-DD-<slug>.md`."""
    found = existing_postmortem(directory, history.incident_id)
    if found is not None:
        return found
    base = f"{history.started:%Y-%m-%d}-{history.slug()}"
    for attempt in range(1, 100):
        path = directory / (f"{base}.md" if attempt == 1 else f"{base}-{attempt}.md")
        if not path.exists():
            return path
    raise BadInput(f"too many postmortems named {base}*.md in {directory}")


def write_postmortem(archive: records.Archive, incident_id: str, directory: Path,
                     evidence_engine: str = "fast") -> Written:
    history = load_history(archive, records.check_incident_id(incident_id))
    directory.mkdir(parents=True, exist_ok=True)
    path = target_path(history, directory)
    paths = Paths(path)
    rendered = evidence.render_all(history.runs, paths.evidence, evidence_engine)
    chart.save(history, paths.chart)
    fresh = registry().redact(render(history, paths))
    written = Written(path, paths.chart, paths.evidence, created=not path.exists(),
                      rendered=sum(1 for r in rendered if r.fresh),
                      render_errors=[f"{r.run}: {r.error}" for r in rendered if r.error])
    if written.created:
        write_atomic(path, fresh.encode("utf-8"))
        return written
    merged = merge(path.read_text(encoding="utf-8"), fresh)
    if merged is None:
        side = path.with_name(path.name + ".new")
        write_atomic(side, fresh.encode("utf-8"))
        written.side_file = side
        return written
    written.kept_edited = merged.kept_edited
    if merged.text != path.read_text(encoding="utf-8"):
        write_atomic(path, merged.text.encode("utf-8"))
    return written
