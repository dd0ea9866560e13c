"""The notebook's handle on the library: config, secrets, the incident, and the live record.

A notebook opens one session in its first cell after the parameters:

    rb = session.start("sev1_response", incident_id=incident_id, config_path=config_path)

Headless, the runner has already opened the run directory and says where through the
environment. Interactive (JupyterLab), the session opens its own run directory, so what a
responder does is recorded as it happens. Each finding and action is appended to the run's
events at once: a crashed kernel or browser loses nothing already reported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from runbook.archive import record as records
from runbook.archive.incident_start import incident_impact
from runbook.archive.layout import RunRef
from runbook.archive.location import archive_url, open_archive
from runbook.clients.transport import Timeouts
from runbook.core import clock, impact
from runbook.core.config import Config, load_config
from runbook.core.findings import Finding
from runbook.core.impact import ImpactStart
from runbook.core.redaction import registry
from runbook.core.run_env import (
    ENV_CONFIG,
    ENV_INCIDENT,
    ENV_INCIDENT_STARTED,
    ENV_NOTEBOOK,
    ENV_RUN_DIR,
)
from runbook.incident import rules
from runbook.sections.kit import kernel_output
from runbook.sections.kit.display import FindingsView, SeverityView

__all__ = ["Session", "start"]


class Session:
    def __init__(self, config: Config, notebook: str, incident_id: str,
                 incident_started: datetime, run_dir: Path, mode: str,
                 archive: records.Archive | None = None,
                 earlier_impact: ImpactStart | None = None,
                 correction: datetime | None = None) -> None:
        self.config = config
        self.notebook = notebook
        self.incident_id = incident_id
        self.opened_started = incident_started   # the incident header's: its first run
        self.earlier_impact = earlier_impact     # what the incident's earlier runs found
        self.correction = correction             # the incident_started parameter
        self.opened_at = clock.now()
        self.run_dir = run_dir      # where the run is kept, to show; reads and writes use `run`
        self.mode = mode
        self.archive = archive or records.Archive(Path(run_dir).parent.parent)
        self.run: RunRef = self.archive.run_ref(run_dir)
        self.findings: list[Finding] = []
        self.actions: list[dict[str, Any]] = []
        # Who acts: a Slack user when `runbook serve` runs the notebook for a button press
        # (the `actor` parameter); empty: the local user. Every action recorded names it.
        self.actor = ""
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def impact_start(self) -> ImpactStart:
        """When the incident started (see core.impact): a correction by parameter, else the
        earliest evidence of impact from this run and the incident's earlier runs, else the
        incident's first run."""
        if self.correction is not None:
            return ImpactStart(self.correction, "the incident_started parameter", corrected=True)
        here = impact.impact_start((f.to_dict(), self.opened_at) for f in self.findings)
        found = impact.earliest([here, self.earlier_impact]
                                if not (self.earlier_impact and self.earlier_impact.corrected)
                                else [self.earlier_impact])
        return found or ImpactStart(self.opened_started, "the incident's first run")

    @property
    def incident_started(self) -> datetime:
        """The start the SEV clock counts from; it moves earlier as evidence comes in."""
        return self.impact_start().at

    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener(event)` after each event is recorded (a live status banner)."""
        self._listeners.append(listener)

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(self.config.probes.connect_timeout, self.config.probes.read_timeout)

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        event = registry().redact_obj({"type": kind, "at": clock.iso(clock.now()),
                                       **payload})
        self.archive.append_event(self.run, event)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a display's trouble must not lose a finding
                listener(event)

    def report(self, findings: Finding | Iterable[Finding], title: str = "") -> FindingsView:
        """Record findings (they go into record.json) and return them for display."""
        batch = [findings] if isinstance(findings, Finding) else list(findings)
        for finding in batch:
            self.findings.append(finding)
            self._event("finding", {"finding": finding.to_dict()})
        return FindingsView(batch, title)

    def record_action(self, action: dict[str, Any]) -> dict[str, Any]:
        """Record an action, dry or real: {name, dry_run, result, at, …}."""
        stamp = {"actor": self.actor} if self.actor else {}
        entry = registry().redact_obj({"at": clock.iso(clock.now()), **stamp, **action})
        self.actions.append(entry)
        self._event("action", {"action": entry})
        return entry

    def assess(self) -> SeverityView:
        """The severity the findings so far call for, with the time left; recorded."""
        severity = rules.run_severity(self.findings)
        self._event("severity", {"severity": severity.level if severity else None})
        return SeverityView(severity, self.incident_id, self.incident_started, clock.now())

    def all_findings(self, title: str = "All findings") -> FindingsView:
        return FindingsView(list(self.findings), title)

    def secret(self, env_name: str) -> str | None:
        """A secret's value by its env var's name, registered for redaction."""
        return registry().read_env(env_name)


def start(notebook: str, incident_id: str = "", config_path: str = "",
          incident_started: str = "", rates_severity: bool = True,
          actor: str = "") -> Session:
    """Open the session: load and check the config, register its secrets, hook redaction.

    `rates_severity=False` is for notebooks that are not incident responses (the monthly
    check): their failing findings are recorded without giving the run a severity.
    `actor` names who acts when it is not the local user (the Slack user who pressed).
    """
    session = _open(notebook, incident_id, config_path, incident_started)
    session.actor = actor.strip()
    if not rates_severity:
        session._event("severity", {"severity": None, "reason": "not an incident notebook"})
    return session


def _open(notebook: str, incident_id: str, config_path: str, incident_started: str) -> Session:
    config = load_config(config_path or os.environ.get(ENV_CONFIG) or None)
    config.register_secrets()
    kernel_output.install()
    correction = impact.parse_correction(incident_started)
    run_dir_env = os.environ.get(ENV_RUN_DIR)
    if run_dir_env and os.environ.get(ENV_NOTEBOOK, notebook) == notebook:
        run_dir = Path(run_dir_env)
        incident = os.environ.get(ENV_INCIDENT) or incident_id
        started = clock.parse_iso(os.environ[ENV_INCIDENT_STARTED]) \
            if os.environ.get(ENV_INCIDENT_STARTED) else clock.now()
        shared = open_archive(config) if archive_url(config) else None
        session = Session(config, notebook, incident, started, run_dir, "headless", shared,
                          correction=correction)
        session.earlier_impact = _earlier_impact(session.archive, incident)
        # A finding is dated by its run's start, as the records date it (started.json).
        with contextlib.suppress(ValueError, KeyError, TypeError):
            session.opened_at = clock.parse_iso(
                str(session.archive.started(session.run)["started_at"]))
        return session
    session = _start_interactive(config, notebook, incident_id, incident_started)
    session.earlier_impact = _earlier_impact(session.archive, session.incident_id)
    session.correction = correction
    return session


def _earlier_impact(archive: records.Archive, incident_id: str) -> ImpactStart | None:
    """What the incident's sealed records already say about its start."""
    return incident_impact(archive, incident_id) if incident_id else None


def _start_interactive(config: Config, notebook: str, incident_id: str,
                       incident_started: str) -> Session:
    archive = open_archive(config)
    now = clock.now()
    incident = records.check_incident_id(incident_id) if incident_id else \
        records.new_incident_id(now)
    archive.check_ready(incident)
    started = clock.parse_iso(incident_started) if incident_started else None
    header = archive.open_incident(incident, now, started, opened_by=notebook)
    run = archive.start_run(incident, notebook, now, {
        "incident_id": incident, "notebook": notebook, "started_at": clock.iso(now),
        "mode": "interactive", "parameters": {}})
    return Session(config, notebook, incident, clock.parse_iso(header["started_at"]),
                   archive.run_dir(run), "interactive", archive)
