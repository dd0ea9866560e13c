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

from runbook.archive import layout, witness
from runbook.archive import record as records
from runbook.archive.incident_events import incident_events
from runbook.archive.layout import RunRef
from runbook.archive.store import KeyMissing
from runbook.core import clock, impact
from runbook.core.errors import BadInput, RecordError, RunbookError
from runbook.core.impact import ImpactStart
from runbook.core.severity import Severity, format_delta, incident_severity

POSTMORTEM_WINDOW = timedelta(hours=48)  # the runbook: every SEV-1/SEV-2 within 48 hours
NEEDS_POSTMORTEM = ("SEV-1", "SEV-2")
_FAILED_ACTION_STATES = {"failed", "error", "refused", "rejected", "timed_out"}


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
    started: datetime         # the impact's start (see core.impact), else the first run
    runs: list[Run]
    events: list[Event] = field(default_factory=list)
    start_source: str = "the incident's first run"
    detected: datetime | None = None     # a monitor, an alert or a run saw it first
    recovered: datetime | None = None    # the monitor's last "up" after the first alert

    @property
    def severity(self) -> Severity | None:
        """The worst severity any run recorded."""
        return incident_severity(r.record.get("severity") for r in self.runs)

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

    def first_mitigation(self) -> Event | None:
        """The first action carried out (not a dry run) that succeeded."""
        return next((e for e in self.actions if e.status == "succeeded"), None)

    def response_times(self) -> list[ResponseTime]:
        """Detection, first response, mitigation and recovery, each from the impact's start."""
        severity = self.severity
        target = severity.response_time if severity else None

        def since_start(label: str, moment: datetime | None) -> ResponseTime:
            took = max(moment - self.started, timedelta(0)) if moment else None
            return ResponseTime(label, took, target, moment)

        first = self.first_response()
        mitigation = self.first_mitigation()
        recovered = self.mitigated()
        times = [
            since_start("Time to detection (a monitor, an alert or a run saw it)",
                        self.detected),
            since_start("Time to first response (first run)", first.started if first else None),
            since_start("Time to mitigation (first action carried out)",
                        mitigation.at if mitigation else None),
            since_start("Time to recovery (a run found nothing failing)",
                        recovered.finished if recovered else None),
        ]
        if self.recovered is not None:
            times.append(since_start("Time to recover (the monitor said up again)",
                                     self.recovered))
        return times

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


def _header(archive: records.Archive, incident_id: str) -> dict[str, Any]:
    """incident.json, when the chain vouches for it (or nothing was sealed to vouch for it).

    It is a local file: an edited one must not move the 48-hour clock. When its hash no longer
    matches the chain's, its times come from the sealed records instead, each of which
    carries the header's times as they were when it was sealed."""
    try:
        header = archive.header(incident_id) or {}
        chain = archive.chain(incident_id)
    except RunbookError:
        return {}
    if witness.header_vouched(archive.store, incident_id, chain) is not False:
        return header
    for entry in chain:
        record = archive.read_json(RunRef(incident_id, str(entry.get("run"))).key(
            layout.RECORD))
        if isinstance(record, dict) and record.get("incident_started_at"):
            return {"incident_id": incident_id,
                    "started_at": record["incident_started_at"],
                    "opened_at": record.get("incident_opened_at")
                    or record["incident_started_at"]}
    return {}


def _header_started(archive: records.Archive, incident_id: str) -> datetime | None:
    try:
        return clock.parse_iso(str(_header(archive, incident_id)["started_at"]))
    except (ValueError, KeyError, TypeError):
        return None


def _declared(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    """A start given when the incident was opened (its header's started_at differs from its
    opened_at): a responder's correction like the parameter."""
    header = _header(archive, incident_id)
    try:
        started = clock.parse_iso(str(header["started_at"]))
        opened = clock.parse_iso(str(header["opened_at"]))
    except (ValueError, KeyError, TypeError):
        return None
    return ImpactStart(started, "the incident's declared start", corrected=True) \
        if started != opened else None


def _correction(record: dict[str, Any]) -> datetime | None:
    parameters = record.get("parameters")
    value = parameters.get(impact.CORRECTION_PARAMETER) if isinstance(parameters, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return impact.parse_correction(value)
    except BadInput:
        return None


def _observed(runs: list[Run]) -> list[tuple[dict[str, Any], datetime]]:
    return [(finding, run.started) for run in runs
            for finding in run.record.get("findings", []) if isinstance(finding, dict)]


def impact_of_runs(runs: list[Run], declared: ImpactStart | None = None) -> ImpactStart | None:
    """The incident's start from its runs: the latest correction given by parameter (or the
    start declared when it was opened), else the earliest evidence of impact in their
    findings. Records without either (older ones included) give None."""
    corrections = [ImpactStart(moment, "the incident_started parameter", corrected=True)
                   for run in sorted(runs, key=lambda r: (r.started, r.name))
                   if (moment := _correction(run.record)) is not None]
    return impact.earliest([impact.impact_start(_observed(runs)), declared, *corrections])


def incident_impact(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    """`impact_of_runs` over the incident's sealed records (None when they cannot be read:
    the header's start stands)."""
    try:
        sealed = records.incident_records(archive, incident_id)
    except RunbookError:
        return _declared(archive, incident_id)
    runs = [Run(ref.name, archive.run_dir(ref), data, archive, ref) for ref, data in sealed]
    return impact.earliest([impact_of_runs(runs, _declared(archive, incident_id)),
                            _first_alert(archive, incident_id)])


def incident_started(archive: records.Archive, incident_id: str) -> datetime | None:
    """When the incident started: its impact's start, else its header's (the first run)."""
    found = incident_impact(archive, incident_id)
    return found.at if found else _header_started(archive, incident_id)


def load_history(archive: records.Archive, incident_id: str) -> History:
    """Every sealed record of the incident, and its timeline in time order."""
    sealed = records.incident_records(archive, incident_id)
    if not sealed:
        raise RecordError(f"incident {incident_id!r} has no sealed records under "
                          f"{archive.location()}: nothing to write a postmortem from")
    runs = sorted((Run(ref.name, archive.run_dir(ref), data, archive, ref)
                   for ref, data in sealed),
                  key=lambda r: (r.started, r.name))
    alerted, recovered = _alert_times(archive, incident_id)
    first_alert = ImpactStart(alerted, "the first alert") if alerted else None
    found = impact.earliest([impact_of_runs(runs, _declared(archive, incident_id)), first_alert])
    started = found.at if found else (_header_started(archive, incident_id) or runs[0].started)
    detected = impact.earliest([impact.detection(_observed(runs)), first_alert])
    history = History(incident_id, archive, started, runs,
                      start_source=found.source if found else "the incident's first run",
                      detected=detected.at if detected else None, recovered=recovered)
    order = {"run-started": 0, "finding": 1, "action": 1, "run-finished": 2}
    events = [e for run in runs for e in _run_events(run)]
    # Stable: within one second the run's own order (started, findings, finished) is kept.
    history.events = sorted(events, key=lambda e: (e.at, e.run.started, order[e.kind]))
    return history


def _first_alert(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    alerted, _ = _alert_times(archive, incident_id)
    return ImpactStart(alerted, "the first alert") if alerted else None


def _alert_times(archive: records.Archive, incident_id: str
                 ) -> tuple[datetime | None, datetime | None]:
    """When the first alert said down, and when the monitor last said up after it."""
    detected = recovered = None
    for event in incident_events(archive, incident_id):
        try:
            moment = clock.parse_iso(str(event.get("alert_at") or event.get("at")))
        except ValueError:
            continue
        if event.get("event") == "alert" and detected is None:
            detected = moment
        elif event.get("event") == "recovered" and detected is not None:
            recovered = moment
    return detected, recovered
