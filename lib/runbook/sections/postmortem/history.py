"""An incident's story as its sealed records tell it: the runs, every finding and action with
its time, the severity, and the response times against the severity's target.

The records are the only source. A finding's time comes from the run's events (written as it
was reported); a record without events falls back to the run's finish time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbook.archive import layout
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.store import KeyMissing
from runbook.core import clock
from runbook.core.errors import BadInput
from runbook.core.severity import SEVERITIES, Severity, format_delta
from runbook.incident import events as log_events
from runbook.incident.fold import Incident
from runbook.incident.log import IncidentLog

POSTMORTEM_WINDOW = timedelta(hours=48)  # the runbook: every SEV-1/SEV-2 within 48 hours
NEEDS_POSTMORTEM = ("SEV-1", "SEV-2")
_FAILED_ACTION_STATES = {"failed", "error", "refused", "rejected", "timed_out"}


class NoSealedRun(BadInput):
    """An incident with no sealed run: nothing to write a postmortem from (exit 2)."""


@dataclass(frozen=True)
class Run:
    """One archived run of a notebook."""

    name: str                 # the run directory's name, e.g. 20261127T121036Z-sev1_response
    directory: Path           # where the run is kept, for links
    record: dict[str, Any]
    archive: records.Archive
    ref: RunRef

    @property
    def notebook(self) -> str:
        return str(self.record.get("notebook", ""))

    @property
    def status(self) -> str:
        return str(self.record.get("status", ""))

    @property
    def started(self) -> datetime:
        return clock.parse_iso(str(self.record["started_at"]))

    @property
    def finished(self) -> datetime:
        value = self.record.get("finished_at")
        return clock.parse_iso(str(value)) if value else self.started

    @property
    def notebook_path(self) -> Path:
        """Where the archived notebook is kept, for links."""
        return Path(self.archive.location(self.ref.key(layout.NOTEBOOK)))

    @property
    def record_path(self) -> Path:
        """Where the sealed record is kept, for links."""
        return Path(self.archive.location(self.ref.key(layout.RECORD)))

    def notebook_bytes(self) -> bytes | None:
        """The archived notebook, or None when it is gone."""
        try:
            return self.archive.store.read_bytes(self.ref.key(layout.NOTEBOOK))
        except KeyMissing:
            return None

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [f for f in self.record.get("findings", []) if f.get("status") == "fail"]

    @property
    def all_clear(self) -> bool:
        """A completed run that checked something and found nothing failing or erroring."""
        findings = self.record.get("findings", [])
        return self.status == "completed" and any(f.get("status") == "pass" for f in findings) \
            and not any(f.get("status") in ("fail", "error") for f in findings)


@dataclass(frozen=True)
class Event:
    """One line of the timeline."""

    at: datetime
    kind: str                 # run-started, finding, action, run-finished
    run: Run
    title: str
    status: str               # a finding's status, an action's outcome, a run's status
    code: str = ""
    detail: str = ""


def action_outcome(action: dict[str, Any]) -> str:
    """'dry run', 'failed' or 'succeeded', from the fields an action record may carry."""
    state = str(action.get("status") or action.get("outcome") or "").lower()
    result = str(action.get("result") or "").lower()
    if action.get("ok") is False or action.get("error") or state in _FAILED_ACTION_STATES \
            or result.startswith(("error", "failed", "refused")):
        return "failed"
    if action.get("dry_run"):
        return "dry run"
    return "succeeded"


@dataclass
class ResponseTime:
    label: str
    took: timedelta | None    # None: the records show no such moment yet
    target: timedelta | None  # None: no severity, so no target
    at: datetime | None = None
    note: str = ""            # said instead of a verdict for a measure without a target

    @property
    def verdict(self) -> str:
        if self.note:
            return self.note if self.took is not None else "not reached (per the alerts)"
        if self.took is None:
            return "not reached (per the records)" if self.target else "—"
        if self.target is None:
            return "no target (no severity)"
        return "met" if self.took <= self.target else "breached"

    @property
    def took_text(self) -> str:
        return format_delta(self.took) if self.took is not None else "—"


@dataclass
class History:
    incident_id: str
    archive: records.Archive
    started: datetime         # the incident's one clock (incident.fold), else the first run
    runs: list[Run]
    events: list[Event] = field(default_factory=list)
    start_source: str = "the incident's first run"
    detected: datetime | None = None     # the first alert, or a person or a run opening it
    recovered: datetime | None = None    # the opening signal's last recovery
    incident: Incident | None = None     # the fold: every time below is its
    log: list[log_events.Event] = field(default_factory=list)   # the incident's event log
    now: datetime | None = None          # when the fold was judged

    @property
    def severity(self) -> Severity | None:
        """The incident's peak severity, as its log tells it."""
        peak = self.incident.peak_severity if self.incident else None
        return SEVERITIES.get(str(peak)) if peak else None

    @property
    def findings(self) -> list[Event]:
        return [e for e in self.events if e.kind == "finding"]

    @property
    def actions(self) -> list[Event]:
        return [e for e in self.events if e.kind == "action"]

    def first_failure(self) -> Event | None:
        return next((e for e in self.findings if e.status == "fail"), None)

    def mitigated(self) -> Run | None:
        """The first all-clear run after the first failure: the fault verified gone."""
        failure = self.first_failure()
        if failure is None:
            return None
        return next((r for r in self.runs if r.all_clear and r.started >= failure.run.started
                     and r is not failure.run), None)

    def first_response(self) -> Run | None:
        """The first run once the impact had begun (a run before it was no response to it)."""
        return next((r for r in self.runs if r.started >= self.started),
                    self.runs[0] if self.runs else None)

    def response_times(self) -> list[ResponseTime]:
        """Detection, acknowledgement, first response, mitigation and resolution, each from
        the impact's start: the fold's TTD, TTA, TTM and TTR, one account with the Slack
        verdict and `runbook incident show`."""
        severity = self.severity
        target = severity.response_time if severity else None

        def since_start(label: str, moment: datetime | None) -> ResponseTime:
            took = max(moment - self.started, timedelta(0)) if moment else None
            return ResponseTime(label, took, target, moment)

        state = self.incident
        first = self.first_response()
        return [
            since_start("Time to detect (TTD: the first alert, or a person opened it)",
                        self.detected),
            since_start("Time to acknowledge (a person said they have it)",
                        state.acknowledged_at if state else None),
            since_start("Time to first response (first run)", first.started if first else None),
            since_start("Time to mitigate (TTM: an action done, then health held)",
                        state.mitigated_at if state else None),
            since_start("Time to resolve (TTR: its signal recovered and a check passed)",
                        state.resolved_at if state else None),
        ]

    def slug(self) -> str:
        """The first failing finding (`health-down`), else the first notebook run."""
        failure = self.first_failure()
        name = failure.code if failure else (self.runs[0].notebook if self.runs else "")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        return slug[:60].rstrip("-") or "incident"


def _finding_times(run: Run) -> list[datetime]:
    """When each of the record's findings was reported, in the record's order."""
    times = []
    for event in run.archive.events(run.ref):
        if event.get("type") == "finding" and event.get("at"):
            try:
                times.append(clock.parse_iso(str(event["at"])))
            except ValueError:
                times.append(run.finished)
    return times


def _run_events(run: Run) -> list[Event]:
    events = [Event(run.started, "run-started", run, f"Run `{run.notebook}` started",
                    str(run.record.get("mode") or "run"))]
    findings = run.record.get("findings", [])
    times = _finding_times(run)
    if len(times) != len(findings):  # events lost or a record written otherwise
        times = [run.finished] * len(findings)
    for moment, finding in zip(times, findings, strict=True):
        events.append(Event(moment, "finding", run, str(finding.get("summary", "")),
                            str(finding["status"]), str(finding["code"]),
                            str(finding.get("fix", ""))))
    for action in run.record.get("actions", []):
        try:
            moment = clock.parse_iso(str(action.get("at"))) if action.get("at") \
                else run.finished
        except ValueError:
            moment = run.finished
        name = str(action.get("name", "action"))
        result = str(action.get("result", ""))
        actor = f" by {action['actor']}" if action.get("actor") else ""   # who pressed
        events.append(Event(moment, "action", run, f"Action `{name}`{actor}" +
                            (" (dry run)" if action.get("dry_run") else ""),
                            action_outcome(action), name, result))
    severity = run.record.get("severity") or "no severity"
    events.append(Event(run.finished, "run-finished", run,
                        f"Run `{run.notebook}` {run.status}: {severity}", run.status))
    return events


def load_history(archive: records.Archive, incident_id: str,
                 now: datetime | None = None,
                 windows: dict[str, Any] | None = None) -> History:
    """Every sealed record of the incident, its log, its fold at `now` (default: the clock),
    and its runs' timeline in time order. `windows`: the fold's, from the config
    (`incident.windows.fold_options`)."""
    sealed = records.incident_records(archive, incident_id)
    if not sealed:
        raise NoSealedRun(f"incident {incident_id!r} has no sealed run under "
                          f"{archive.location()}: nothing to write a postmortem from yet; "
                          "let its run finish (or `runbook archive` a lab session), then "
                          "run this again")
    runs = sorted((Run(ref.name, archive.run_dir(ref), data, archive, ref)
                   for ref, data in sealed),
                  key=lambda r: (r.started, r.name))
    log = IncidentLog(archive, incident_id)
    moment = now or clock.now()
    state = log.fold(moment, **(windows or {}))
    history = History(incident_id, archive, state.started_at or runs[0].started, runs,
                      start_source=state.start_source or "the incident's first run",
                      detected=state.detected_at, recovered=state.recovered_at,
                      incident=state, log=log.events(), now=moment)
    order = {"run-started": 0, "finding": 1, "action": 1, "run-finished": 2}
    events = [e for run in runs for e in _run_events(run)]
    # Stable: within one second the run's own order (started, findings, finished) is kept.
    history.events = sorted(events, key=lambda e: (e.at, e.run.started, order[e.kind]))
    return history
