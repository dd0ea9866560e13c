"""The postmortem a founder can send: written from the incident's log and sealed records, with
the person's parts (root cause, action items, lessons) from the edits file beside it.

`write_postmortem` writes, in the postmortems folder:
- `YYYY-MM-DD-<slug>.md`: Markdown without raw HTML, every part saying where it came from;
- `YYYY-MM-DD-<slug>.html`: its self-contained twin (the charts inside it);
- `YYYY-MM-DD-<slug>.edits.toml`: the person's parts, proposed the first time, kept after;
- the timeline chart PNG, and `<name>-evidence/`: each run's notebook as HTML, its sealed
  record, and the incident's log, so every link is relative and the folder travels whole
  (an archive on S3 included).
The draft is rewritten on every run; what a person writes lives in the edits file, and is
appended to the incident's log (`postmortem.saved`) whenever it changed.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from runbook.archive import layout
from runbook.archive import record as records
from runbook.archive.location import archive_url, default_runs_dir, open_archive
from runbook.archive.store import KeyMissing
from runbook.core.config import DEFAULT_TIMEZONE, Config, load_config, resolve_path, timezone_of
from runbook.core.errors import BadInput
from runbook.core.files import write_atomic
from runbook.core.redaction import registry
from runbook.core.severity import SEVERITIES, format_delta
from runbook.incident import codes, similar
from runbook.incident.log import IncidentLog
from runbook.incident.trigger import Trigger, symptom_codes, trigger_of
from runbook.incident.windows import fold_options
from runbook.sections.postmortem import chart, evidence, story, twin
from runbook.sections.postmortem import edits as person
from runbook.sections.postmortem.history import History, Run, load_history

DEFAULT_POSTMORTEMS_DIR = "docs/ops/postmortems"
_MARKER = "runbook-postmortem incident={incident}"
HEADINGS = ("## Summary", "## Impact", "## Trigger", "## Root cause", "## Detection",
            "## Response and recovery", "## Timeline", "## Action items", "## Lessons")
SeenBefore = Callable[[History], str]   # "" when there is nothing to say


# --- where things are ----------------------------------------------------------------------

@dataclass(frozen=True)
class Places:
    """The archive to read and the folder postmortems go to."""

    archive: records.Archive
    postmortems_dir: Path
    config: Config | None = None

    @property
    def zone(self) -> tzinfo:
        return timezone_of(self.config) if self.config is not None \
            else ZoneInfo(DEFAULT_TIMEZONE)


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


def _ours(text: str, incident_id: str) -> bool:
    return f"`{_MARKER.format(incident=incident_id)}`" in text


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
        if _ours(text, incident_id):
            return path
        if named is None and re.search(rf"(?<![A-Za-z0-9._-]){re.escape(incident_id)}"
                                       r"(?![A-Za-z0-9_-])", text):
            named = path
    return named


# --- small formats ---------------------------------------------------------------------------

def _link(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target, base)).as_posix().replace(" ", "%20")


def _cell(text: str) -> str:
    """Text from the records (a commit message, a start command, a service's answer), safe
    inside a markdown line or table cell: on one line, `|` escaped, and raw HTML escaped so
    that a `<script>` in a commit message is shown, never run."""
    one_line = re.sub(r"\s+", " ", text.replace("|", "\\|")).strip()
    return html.escape(one_line, quote=False)


def _text(text: str) -> str:
    """A person's text (several lines allowed), with raw HTML shown, never run."""
    return html.escape(text.strip(), quote=False)


def when(moment: datetime, zone: tzinfo | None = None) -> str:
    """'2026-12-05 10:31:03' in the team's zone (the document says which, once)."""
    local = moment.astimezone(zone or ZoneInfo(DEFAULT_TIMEZONE))
    return f"{local:%Y-%m-%d %H:%M:%S}"


def zone_name(zone: tzinfo, at: datetime) -> str:
    offset = at.astimezone(zone).strftime("%z")
    name = getattr(zone, "key", None) or str(zone)
    return f"{name} (UTC{offset[:3]}:{offset[3:]})" if offset else str(name)


def _took(delta: timedelta | None) -> str:
    return format_delta(delta) if delta is not None else "not reached"


def _minutes(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


@dataclass
class Paths:
    markdown: Path

    @property
    def folder(self) -> Path:
        return self.markdown.parent

    @property
    def html(self) -> Path:
        return self.markdown.with_suffix(".html")

    @property
    def edits(self) -> Path:
        return self.markdown.with_name(self.markdown.stem + ".edits.toml")

    @property
    def chart(self) -> Path:
        return self.markdown.with_name(self.markdown.stem + "-timeline.png")

    @property
    def errors_chart(self) -> Path:
        return self.markdown.with_name(self.markdown.stem + "-errors.png")

    @property
    def evidence(self) -> Path:
        return self.markdown.with_name(self.markdown.stem + "-evidence")

    @property
    def log(self) -> Path:
        return self.evidence / layout.LOG

    def page(self, run: Run) -> Path:
        return self.evidence / evidence.page_name(run)

    def record(self, run: Run) -> Path:
        return self.evidence / f"{run.name}.{layout.RECORD}"


# --- what the parts say ----------------------------------------------------------------------

def effect(history: History) -> str:
    """What customers saw, in a few words, from the symptoms."""
    state = history.incident
    observed = state.observed if state else {}
    for code, words in codes.EFFECTS.items():
        if code not in observed:
            continue
        status = (observed[code].get("evidence") or {}).get("http_status")
        return f"{status}s from the API" if code == codes.HEALTH_DOWN and status else words
    return "impact"


def title(history: History, trigger: Trigger) -> str:
    start, end, ended = story.impact_window(history)
    return (f"{trigger.headline}: {_minutes(end - start)} of {effect(history)}"
            + ("" if ended else " (not over when written)"))


def _done_actions(history: History) -> list[str]:
    state = history.incident
    return [f"`{a.name}`" + (f" by {a.actor}" if a.actor else "")
            for a in (state.actions if state else ()) if a.state == "done" and not a.dry_run]


def summary_section(history: History, trigger: Trigger, zone: tzinfo) -> str:
    state = history.incident
    start, end, ended = story.impact_window(history)
    peak = (state.peak_severity if state else None) or "no SEV"
    first = (f"On {start.astimezone(zone):%Y-%m-%d}, {trigger.headline[0].lower()}"
             f"{trigger.headline[1:]} (trigger: {trigger.tag}).")
    second = (f"For {_minutes(end - start)}, from {when(start, zone)} "
              f"{'to ' + when(end, zone) if ended else 'until now (not yet over)'}, customers "
              f"saw {effect(history)}; the incident peaked at {peak}.")
    detect = state.time_to("detect") if state else None
    parts = [f"It was detected by {state.detected_by or 'a person'} after {_took(detect)}"
             if state else "Its detection is not recorded"]
    done = _done_actions(history)
    mitigate = state.time_to("mitigate") if state else None
    if mitigate is not None:
        parts.append(f"mitigated after {_took(mitigate)}"
                     + (f" ({', '.join(done)})" if done else ""))
    elif done:
        parts.append(f"{', '.join(done)} was done, and mitigation is not yet confirmed")
    else:
        parts.append("no mitigation is recorded yet")
    resolve = state.time_to("resolve") if state else None
    parts.append(f"resolved after {_took(resolve)}" if resolve is not None
                 else "not yet resolved")
    third = ", ".join(parts[:-1]) + " and " + parts[-1] + "."
    return "\n".join([f"{first} {second} {third}", "",
                      "_Source: the incident's log, folded (`runbook incident show`)._"])


def impact_section(history: History, zone: tzinfo, paths: Paths | None = None) -> str:
    state = history.incident
    start, end, ended = story.impact_window(history)
    severity = (state.severity if state else None) or "no SEV"
    peak = (state.peak_severity if state else None) or "no SEV"
    level = SEVERITIES.get(peak)
    return "\n".join([
        f"- **Window:** {when(start, zone)} ({_cell(history.start_source)}) → "
        + (f"{when(end, zone)} ({'resolved' if state and state.resolved_at else 'mitigated'})"
           if ended else f"not over when written ({when(end, zone)})")
        + f", {_minutes(end - start)}",
        f"- **Failed requests:** {story.failed_requests(history)}",
        f"- **Payments at risk:** {story.payments_at_risk(history)}",
        f"- **Severity:** {severity} now, peak {peak}"
        + (f" ({_cell(level.definition)})" if level else ""),
        *(["", f"![Sentry errors around the impact]({_link(paths.errors_chart, paths.folder)})"]
          if paths is not None and story.error_chart(history, zone) is not None else []),
        "", "_Source: the impact's start and end are the fold's; the counts are the sealed "
        "records' evidence._"])


def trigger_section(history: History, trigger: Trigger, zone: tzinfo,
                    paths: Paths) -> str:
    lines = [f"- **Tag:** `{trigger.tag}` (one of {', '.join(codes.TRIGGER_TAGS)})",
             f"- **Change:** {_cell(trigger.change)}"]
    if trigger.commit:
        lines.append(f"- **Commit:** `{trigger.commit[:12]}`")
    if trigger.deployment:
        lines.append(f"- **Deployment:** `{trigger.deployment}`")
    if trigger.at:
        lines.append(f"- **When:** {when(trigger.at, zone)}, "
                     f"{format_delta(history.started - trigger.at)} before the impact began"
                     if trigger.at <= history.started else
                     f"- **When:** {when(trigger.at, zone)}")
    if trigger.code:
        run = next((r for r in history.runs if r.name == trigger.run), None)
        link = f" ([evidence]({_link(paths.page(run), paths.folder)}))" if run else ""
        lines.append(f"- **Seen as:** `{trigger.code}`: {_cell(trigger.summary)}{link}")
        source = (f"the cause finding `{trigger.code}`, tagged by the finding catalogue "
                  "(`incident/codes.py` CAUSES)")
    else:
        lines.append("- No run observed a cause finding: tag it yourself if you know the "
                     "change.")
        source = "no cause finding in the records"
    return "\n".join([*lines, "", f"_Source: {source}._"])


def root_cause_section(history: History, edited: person.Edits) -> str:
    state = history.incident
    lines = [_text(edited.root_cause) or "_(empty)_", ""]
    symptoms = symptom_codes(state) if state else []
    if symptoms:
        lines.append("Symptoms (what was seen, not the cause):")
        for code in symptoms:
            finding = state.observed[code] if state else {}
            lines.append(f"- `{code}`: {_cell(str(finding.get('summary') or ''))}")
        lines.append("")
    confirmed = not person.is_prompt(edited.root_cause)
    lines.append("_Source: " + ("written by a person in the edits file._" if confirmed else
                                "the diagnosis's cause finding, to confirm in the edits "
                                "file._"))
    return "\n".join(lines)


def detection_section(history: History, zone: tzinfo) -> str:
    state = history.incident
    alert = next((e for e in history.log if e.kind == "alert.received"), None)
    lines = []
    if state is None or state.detected_at is None:
        lines.append("- Not recorded.")
    else:
        lines.append(f"- **How:** {_cell(state.detected_by)}"
                     + (f": {_cell(str(alert.get('summary') or ''))}" if alert else ""))
        lines.append(f"- **When:** {when(state.detected_at, zone)}")
        lines.append(f"- **TTD:** {_took(state.time_to('detect'))} (impact start → detected)")
    return "\n".join([*lines, "", "_Source: the first alert in the incident's log, or who "
                      "opened it; TTD is the fold's._"])


def _tried(history: History) -> list[str]:
    state = history.incident
    lines = []
    for action in state.actions if state else ():
        if action.dry_run or action.state == "done":
            continue
        lines.append(f"- `{action.name}` on {_cell(action.target)}: {action.state}"
                     + (f" (by {action.actor})" if action.actor else ""))
    for event in history.log:
        if event.kind == "finding.observed" and event.get("status") == "error":
            lines.append(f"- The check `{event.get('code')}` could not run: "
                         f"{_cell(str(event.get('summary') or ''))}")
        if event.kind in ("run.aborted",) or (event.kind == "run.sealed"
                                             and event.get("status") != "completed"):
            lines.append(f"- Run `{event.get('notebook')}` ended {event.get('status')}")
    return lines


def response_section(history: History, zone: tzinfo) -> str:
    state = history.incident
    rows = ["| Measure | Reached at | Took | Measured from |", "|---|---|---|---|"]
    for label, milestone, moment, base in (
            ("TTD: detected", "detect", state.detected_at if state else None, "impact start"),
            ("TTA: acknowledged", "acknowledge", state.acknowledged_at if state else None,
             "detection"),
            ("TTM: mitigated", "mitigate", state.mitigated_at if state else None,
             "impact start"),
            ("TTR: resolved", "resolve", state.resolved_at if state else None,
             "impact start")):
        took = state.time_to(milestone) if state else None
        rows.append(f"| {label} | {when(moment, zone) if moment else '—'} | {_took(took)} | "
                    f"{base} |")
    done = [f"- `{a.name}` on {_cell(a.target)}: done"
            + (f" by {a.actor}" if a.actor else "")
            + (f" at {when(a.outcome_at, zone)}" if a.outcome_at else "")
            for a in (state.actions if state else ()) if a.state == "done" and not a.dry_run]
    tried = _tried(history)
    return "\n".join([
        *rows, "", "What was done:", *(done or ["- No action was done."]), "",
        "What was tried that did not work:", *(tried or ["- Nothing: no action failed, no "
                                                        "check errored."]),
        "", "_Source: the fold of the incident's log (the same times as `runbook incident "
        "show`); actions with their intent and outcome._"])


def _evidence_link(line: story.Line, history: History, paths: Paths) -> str:
    run = next((r for r in history.runs if r.name == line.run), None) if line.run else None
    if run is not None:
        return f"[run]({_link(paths.page(run), paths.folder)})"
    if line.seq:
        return f"[log line {line.seq}]({_link(paths.log, paths.folder)})"
    return f"[log]({_link(paths.log, paths.folder)})"


def timeline_section(history: History, paths: Paths, zone: tzinfo) -> str:
    lines = [f"![Timeline chart]({_link(paths.chart, paths.folder)})", "",
             f"Times in {zone_name(zone, history.started)}.", "",
             "| When | Event | Who | Evidence |", "|---|---|---|---|"]
    for line in story.timeline(history):
        lines.append(f"| {when(line.at, zone)} | {_cell(line.what)} | {_cell(line.who)} | "
                     f"{_evidence_link(line, history, paths)} |")
    lines += ["", "_Source: every event of the incident's log, the fold's milestones, and the "
              "Railway deploys and Sentry readings in the sealed records' evidence._"]
    return "\n".join(lines)


def action_items_section(edited: person.Edits) -> str:
    if not edited.action_items:
        return "_None yet: add follow-ups in the edits file._"
    rows = ["| Done | Action item | Type | Owner | Due | Proposed from |",
            "|---|---|---|---|---|---|"]
    for item in edited.action_items:
        rows.append(f"| {'yes' if item.done else 'no'} | {_cell(item.title)} | {item.type} | "
                    f"{_cell(item.owner) or '**none**'} | {item.due or '**none**'} | "
                    f"{_cell(item.source) or 'a person'} |")
    return "\n".join([*rows, "", "_Source: proposed from the finding catalogue's follow-ups "
                      "and the measured times; owners from `[oncall] responders`; edited in "
                      "the edits file._"])


def lessons_section(edited: person.Edits) -> str:
    lines = []
    for name, label in person.LESSONS:
        lines += [f"### {label.capitalize()}", "", _text(getattr(edited, name)) or "_(empty)_",
                  ""]
    lines.append("_Source: the edits file (prompts pre-filled with the measured facts)._")
    return "\n".join(lines)


def evidence_section(history: History, paths: Paths) -> str:
    lines = [f"- [The incident's event log]({_link(paths.log, paths.folder)}) (hash-chained; "
             f"`runbook verify {history.incident_id}` checks the archive's copy)"]
    for run in history.runs:
        lines.append(f"- [{run.name}]({_link(paths.page(run), paths.folder)}): "
                     f"`{run.notebook}`, {run.status}, "
                     f"{run.record.get('severity') or 'no severity'} "
                     f"([sealed record]({_link(paths.record(run), paths.folder)}))")
    return "\n".join(lines)


# --- proposals for the person's parts ----------------------------------------------------------

def proposed_edits(history: History, trigger: Trigger, config: Config | None,
                   zone: tzinfo | None = None) -> person.Edits:
    """The person's parts as first proposed: the cause to confirm, follow-ups from the
    catalogue and the measured times, and lesson prompts with the facts filled in."""
    state = history.incident
    severity = state.peak_severity if state else None
    owner = ""
    if config is not None and config.oncall is not None and config.oncall.responders:
        owner = config.oncall.responders[0].name
    due = person.due_date(severity, history.started.astimezone(UTC).date())
    if trigger.code:
        meaning = codes.CATALOGUE[trigger.code].meaning
        cause = (f"{person.TO_CONFIRM} {trigger.headline}: {meaning}. "
                 f"The diagnosis saw: {trigger.summary}")
    else:
        cause = (f"{person.TO_CONFIRM} no run observed a cause finding; write what caused "
                 "the incident.")
    items: list[person.ActionItem] = []
    seen: set[str] = set()
    observed = list(state.observed) if state else []
    ordered = [c for c in codes.CAUSES if c in observed] + \
        [c for c in observed if c not in codes.CAUSES]
    for code in ordered:
        for follow in codes.FOLLOW_UPS.get(code, ()):
            if follow.title not in seen:
                seen.add(follow.title)
                items.append(person.ActionItem(follow.title, follow.type, owner, due,
                                               source=f"catalogue: {code}"))
    detect = state.time_to("detect") if state else None
    if detect is not None and detect > timedelta(minutes=5):
        items.append(person.ActionItem(
            f"Alert within 5 minutes of impact (this time the alert came after "
            f"{format_delta(detect)})", codes.DETECT, owner, due, source="measured: TTD"))
    if state is not None and state.acknowledged_at is None:
        items.append(person.ActionItem(
            "Acknowledge every page (`runbook incident ack` or the Slack button): no "
            "acknowledgement was recorded", codes.PROCESS, owner, due,
            source="measured: no TTA"))
    done = _done_actions(history)
    mitigate = state.time_to("mitigate") if state else None
    well = (f"{person.TO_FILL} e.g. {', '.join(done)} brought the service back"
            + (f", mitigated {format_delta(mitigate)} after the impact began" if mitigate
               else "") + "." if done else
            f"{person.TO_FILL} what helped (the runbook named `{trigger.code or 'the fault'}` "
            "in its first run?).")
    badly = (f"{person.TO_FILL} e.g. the alert came {format_delta(detect)} after the impact "
             "began." if detect is not None else f"{person.TO_FILL} what slowed the response.")
    if state is not None and state.acknowledged_at is None:
        badly += " Nobody acknowledged the page."
    zone = zone or (timezone_of(config) if config is not None else ZoneInfo(DEFAULT_TIMEZONE))
    lucky = (f"{person.TO_FILL} what could have made it worse and did not (it began at "
             f"{history.started.astimezone(zone):%H:%M} {getattr(zone, 'key', zone)} time).")
    return person.Edits(cause, items, well, badly, lucky)


# --- the document -------------------------------------------------------------------------------

def render(history: History, paths: Paths, edited: person.Edits | None = None,
           zone: tzinfo | None = None, seen_before: SeenBefore | None = None,
           config: Config | None = None) -> str:
    """The whole Markdown document (no raw HTML)."""
    zone = zone or ZoneInfo(DEFAULT_TIMEZONE)
    trigger = trigger_of(history.incident) if history.incident else Trigger(codes.UNKNOWN)
    edited = edited or proposed_edits(history, trigger, config, zone)
    seen = seen_before(history) if seen_before is not None else ""
    parts = [
        f"# {_cell(title(history, trigger))}", "",
        f"Postmortem of incident `{history.incident_id}` · written "
        f"{when(history.now or datetime.now(UTC), zone)} ({zone_name(zone, history.started)}) "
        f"· `{_MARKER.format(incident=history.incident_id)}`. The parts a person writes "
        f"(root cause, action items, lessons) come from "
        f"[{paths.edits.name}]({_link(paths.edits, paths.folder)}); the rest is regenerated "
        f"from the records by `runbook postmortem {history.incident_id}`.", "",
        "## Summary", "", summary_section(history, trigger, zone), "",
        "## Impact", "", impact_section(history, zone, paths), "",
        "## Trigger", "", trigger_section(history, trigger, zone, paths), "",
        "## Root cause", "", root_cause_section(history, edited), "",
        "## Detection", "", detection_section(history, zone), "",
        "## Response and recovery", "", response_section(history, zone), "",
        "## Timeline", "", timeline_section(history, paths, zone), "",
        "## Action items", "", action_items_section(edited), "",
        "## Lessons", "", lessons_section(edited), "",
    ]
    if seen:
        parts += ["## Seen before", "", seen, ""]
    parts += ["## Evidence", "", evidence_section(history, paths), ""]
    return "\n".join(parts)


# --- writing --------------------------------------------------------------------------------

@dataclass
class Written:
    markdown: Path
    html: Path
    edits: Path
    chart: Path
    evidence: Path
    created: bool                      # a new file (False: an existing one was rewritten)
    missing: list[str] = field(default_factory=list)   # what --check names
    saved: bool = False                # the edits were appended to the incident's log
    side_file: Path | None = None      # the `.new` written beside a hand-written file
    rendered: int = 0                  # notebooks rendered now (the rest were up to date)
    render_errors: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        lines = [f"postmortem: {self.side_file or self.markdown}"
                 + (" (new)" if self.created else " (rewritten)")]
        if self.side_file:
            lines.append(f"{self.markdown.name} was not written by runbook (by hand, or an "
                         f"older format): left untouched; the generated one is "
                         f"{self.side_file}")
        lines.append(f"html: {self.html}")
        lines.append(f"your parts: {self.edits}"
                     + (" (saved to the incident's log)" if self.saved else ""))
        lines.append(f"chart: {self.chart}")
        lines.append(f"evidence: {self.evidence} ({self.rendered} rendered now)")
        lines += [f"evidence not rendered: {e}" for e in self.render_errors]
        if self.missing:
            lines.append(f"still to write ({len(self.missing)}): see --check")
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


def current_edits(history: History, paths: Paths, config: Config | None,
                  zone: tzinfo | None = None) -> person.Edits:
    """The edits file when there is one (EditsError when it does not parse), else the ones
    last saved to the log (another machine's), else the proposals."""
    if paths.edits.is_file():
        return person.read(paths.edits)
    saved = history.incident.postmortem if history.incident else None
    if saved is not None:
        return person.Edits.from_dict(saved["edits"], "the edits saved in the incident's log")
    trigger = trigger_of(history.incident) if history.incident else Trigger(codes.UNKNOWN)
    return proposed_edits(history, trigger, config, zone)


def _copy(archive: records.Archive, key: str, target: Path) -> None:
    try:
        data = archive.store.read_bytes(key)
    except KeyMissing:
        return
    write_atomic(target, registry().redact(data.decode("utf-8", "replace")).encode("utf-8"))


def write_postmortem(archive: records.Archive, incident_id: str, directory: Path,
                     evidence_engine: str = "fast", *, config: Config | None = None,
                     now: datetime | None = None, zone: tzinfo | None = None,
                     seen_before: SeenBefore | None = None, actor: str = "") -> Written:
    """Write the draft, its twin, chart and evidence; keep (and save) the person's edits."""
    history = load_history(archive, records.check_incident_id(incident_id), now,
                           fold_options(config))
    if zone is None:
        zone = timezone_of(config) if config is not None else ZoneInfo(DEFAULT_TIMEZONE)
    path = target_path(history, directory)
    ours = not path.exists() or _ours(path.read_text(encoding="utf-8", errors="replace"),
                                      incident_id)
    paths = Paths(path if ours else path.with_name(path.stem + ".new.md"))
    edited = current_edits(history, paths, config, zone)   # before anything is written
    missing = person.missing(edited)
    saved = history.incident.postmortem if history.incident else None
    changed = saved is None or saved.get("edits") != edited.as_dict() or \
        saved.get("missing") != missing
    if changed:     # first, so the log copied into the evidence holds it
        IncidentLog(archive, history.incident_id).append(
            "postmortem.saved", {"edits": edited.as_dict(), "missing": missing,
                                 "draft": paths.markdown.name}, actor=actor)
    directory.mkdir(parents=True, exist_ok=True)
    rendered = evidence.render_all(history.runs, paths.evidence, evidence_engine)
    for run in history.runs:
        _copy(archive, run.ref.key(layout.RECORD), paths.record(run))
    _copy(archive, layout.incident_key(history.incident_id, layout.LOG), paths.log)
    chart.save(history, paths.chart, zone)
    errors = story.error_chart(history, zone)
    if errors is not None:
        write_atomic(paths.errors_chart, errors._repr_png_())
    if seen_before is None:   # the incidents before it, in the same archive (drills apart)
        def seen_before(_: History) -> str:
            return similar.seen_before_line(archive, incident_id, now)
    markdown = registry().redact(render(history, paths, edited, zone, seen_before, config))
    written = Written(path, paths.html, paths.edits, paths.chart, paths.evidence,
                      created=not path.exists(), missing=missing, saved=changed,
                      side_file=None if ours else paths.markdown,
                      rendered=sum(1 for r in rendered if r.fresh),
                      render_errors=[f"{r.run}: {r.error}" for r in rendered if r.error])
    write_atomic(paths.markdown, markdown.encode("utf-8"))
    write_atomic(paths.html, twin.page(markdown, paths.folder).encode("utf-8"))
    if not paths.edits.is_file():
        write_atomic(paths.edits, person.to_toml(edited, history.incident_id).encode("utf-8"))
    return written


def check(archive: records.Archive, incident_id: str, directory: Path,
          config: Config | None = None) -> list[str]:
    """What the postmortem still lacks: every required field empty or a prompt (from the
    edits file beside the draft, else the edits saved in the log); nothing is written."""
    history = load_history(archive, records.check_incident_id(incident_id),
                           windows=fold_options(config))
    found = existing_postmortem(directory, history.incident_id)
    if found is None and (history.incident is None or history.incident.postmortem is None):
        return [f"no postmortem in {directory}: write it with `runbook postmortem "
                f"{incident_id}`"]
    saved = history.incident.postmortem if history.incident else None
    if found is not None and saved is None and \
            not _ours(found.read_text(encoding="utf-8", errors="replace"), incident_id):
        return []     # written by hand: `runbook due` counts it as written, and so does this
    paths = Paths(found or target_path(history, directory))
    return person.missing(current_edits(history, paths, config))
