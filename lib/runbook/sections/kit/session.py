"""The notebook's handle on the library: config, secrets, the incident, and the live record.

A notebook opens one session in its first cell after the parameters:

    rb = session.start("sev1_response", incident_id=incident_id, config_path=config_path)

Headless, the runner has already opened the run directory and says where through the
environment. Interactive (JupyterLab), the session opens its own run directory, so what a
responder does is recorded as it happens. Each finding and action is appended to the run's
events at once: a crashed kernel or browser loses nothing already reported.

In a kernel `runbook lab` started, the run is filed under the lab's incident (whatever the
parameters cell leaves empty), and the run is marked with the lab session; when the kernel is
shut down before the run is archived, the run is sealed `abandoned` (the lab seals what a
killed kernel could not when it stops).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.location import archive_url, open_archive
from runbook.clients.transport import Timeouts
from runbook.core import clock, impact
from runbook.core.config import Config, load_config
from runbook.core.errors import BadInput, RunbookError
from runbook.core.findings import Finding, Status
from runbook.core.impact import ImpactStart
from runbook.core.redaction import registry
from runbook.core.run_env import (
    ENV_CONFIG,
    ENV_INCIDENT,
    ENV_INCIDENT_STARTED,
    ENV_LAB_INCIDENT,
    ENV_LAB_SESSION,
    ENV_NOTEBOOK,
    ENV_RUN_DIR,
)
from runbook.incident import rules
from runbook.incident.events import Event
from runbook.incident.fold import Incident, fold
from runbook.incident.log import IncidentLog, open_incident
from runbook.incident.windows import fold_options
from runbook.sections.kit import interactive, kernel_output
from runbook.sections.kit.display import FindingsView, SeverityView

__all__ = ["Session", "start"]


class Session:
    def __init__(self, config: Config, notebook: str, incident_id: str,
                 incident_started: datetime, run_dir: Path, mode: str,
                 archive: records.Archive | None = None,
                 correction: datetime | None = None) -> None:
        self.config = config
        self.notebook = notebook
        self.incident_id = incident_id
        self.opened_started = incident_started   # the incident header's: its first run
        self.earlier_events: list[Event] = []    # the incident's log when the run began
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

    def incident(self) -> Incident:
        """The incident as its log tells it, with this run's findings so far (sealed into the
        log when the run ends) and the `incident_started` parameter as a declared start."""
        live = [Event("finding.observed", self.opened_at, f.to_dict())
                for f in self.findings if f.status is not Status.PASS]
        if self.correction is not None:
            live.append(Event("milestone.set", self.opened_at, {
                "milestone": "declared", "start": clock.iso(self.correction)}))
        return fold(self.incident_id, [*self.earlier_events, *live], clock.now(),
                    **fold_options(self.config))

    def impact_start(self) -> ImpactStart:
        """When the incident started: the incident's one clock (incident.fold), else its
        first run."""
        incident = self.incident()
        if incident.started_at is None:
            return ImpactStart(self.opened_started, "the incident's first run")
        return ImpactStart(incident.started_at, incident.start_source,
                           corrected=incident.started_at == incident.declared_start)

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
    if session.correction is not None:
        # A start the responder gives is the incident's, for every view: into its log.
        IncidentLog(session.archive, session.incident_id).append(
            "milestone.set", {"milestone": "declared", "start": clock.iso(session.correction),
                              "note": "the incident_started parameter"},
            actor=session.actor or notebook)
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
        session.earlier_events = _incident_events(session.archive, incident)
        # A finding is dated by its run's start, as the records date it (started.json).
        with contextlib.suppress(ValueError, KeyError, TypeError):
            session.opened_at = clock.parse_iso(
                str(session.archive.started(session.run)["started_at"]))
        return session
    session = _start_interactive(config, notebook, incident_id, incident_started)
    session.earlier_events = _incident_events(session.archive, session.incident_id)
    session.correction = correction
    return session


def _incident_events(archive: records.Archive, incident_id: str) -> list[Event]:
    """The incident's log so far ([] when it cannot be read: the run goes on, and `runbook
    verify` names the line)."""
    try:
        return IncidentLog(archive, incident_id).events()
    except RunbookError:
        return []


def jupyter_notebook_path() -> Path | None:
    """The file this kernel's notebook is saved to, when a Jupyter server started the kernel
    for it (it names it in JPY_SESSION_NAME)."""
    session_name = os.environ.get("JPY_SESSION_NAME", "")
    if not session_name.endswith(".ipynb"):
        return None
    path = Path(session_name)
    return path if path.is_absolute() else Path.cwd() / path.name


def interactive_incident(incident_id: str, now: datetime) -> str:
    """The incident an interactive run is filed under: the lab's, in a kernel `runbook lab`
    started (one incident for every notebook of the lab session); else the parameter's, or a
    new one."""
    lab = os.environ.get(ENV_LAB_INCIDENT, "")
    if lab:
        if incident_id and incident_id != lab:
            raise BadInput(f"this lab files every notebook under incident {lab}, but the "
                           f"parameters cell says incident_id = {incident_id!r}: leave it "
                           f"empty (or {lab!r}), or start `runbook lab --incident "
                           f"{incident_id}` for that incident")
        return records.check_incident_id(lab)
    return records.check_incident_id(incident_id) if incident_id else \
        records.new_incident_id(now)


def _start_interactive(config: Config, notebook: str, incident_id: str,
                       incident_started: str) -> Session:
    archive = open_archive(config)
    now = clock.now()
    incident = interactive_incident(incident_id, now)
    archive.check_ready(incident)
    started = clock.parse_iso(incident_started) if incident_started else None
    header = open_incident(archive, incident, opened_at=now, started_at=started,
                           opened_by=notebook, service=config.service.name)
    info: dict[str, Any] = {"incident_id": incident, "notebook": notebook,
                            "started_at": clock.iso(now), "mode": "interactive",
                            "parameters": {}}
    lab_session = os.environ.get(ENV_LAB_SESSION, "")
    saved = jupyter_notebook_path()
    if lab_session:
        info["lab_session"] = lab_session
    if saved is not None:
        info["notebook_path"] = str(saved)
    run = archive.start_run(incident, notebook, now, info)
    IncidentLog(archive, incident).run_started(run, notebook)
    session = Session(config, notebook, incident, clock.parse_iso(header["started_at"]),
                      archive.run_dir(run), "interactive", archive)
    if lab_session:
        atexit.register(_abandon_at_exit, session)
    return session


def _abandon_at_exit(session: Session) -> None:
    """The lab's kernel is ending (shut down, restarted, or the lab stopping): a run not
    archived yet is sealed `abandoned` with what it recorded."""
    try:
        interactive.abandon_run(session.archive, session.run,
                                "the lab session ended (its kernel was shut down) before "
                                "this run was archived")
    except Exception as exc:  # noqa: BLE001 - at exit, the server's log is the only reader
        print(f"runbook: could not seal {session.run_dir} as abandoned: "
              f"{registry().redact(str(exc))}; `runbook lab` seals it when it stops",
              file=sys.stderr)
