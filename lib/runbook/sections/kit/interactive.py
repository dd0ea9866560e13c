"""Archiving what a responder did in JupyterLab: the saved notebook becomes a sealed record.

An interactive session (`runbook.sections.kit.session.start` outside papermill) opened its own
run directory
under `runs/<incident>/` and appended every finding and action to its `events.jsonl` as they
happened. Archiving takes the responder's saved notebook, redacts it (`archive_io`), and seals
a record from those events — status `completed`, in the incident's chain like a headless run.

Which run directory: the newest session of the same notebook in that incident that is not
sealed yet. When the newest one was already archived and the responder kept working, the
events that came after that archive go into a new run directory, so nothing is counted twice
and nothing is lost. With no session at all (the notebook ran elsewhere), a new run directory
holds just the notebook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from runbook.archive import layout
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.location import open_archive
from runbook.archive.notebook_io import save_notebook
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.errors import BadInput
from runbook.core.findings import Finding
from runbook.core.notebook_params import declared_parameters, parameters_cell_index, read_notebook
from runbook.core.redaction import registry
from runbook.incident.log import open_incident
from runbook.incident.seal import seal_run

INTERACTIVE = "interactive"

_SESSION_START = re.compile(r"session\.start\(\s*[\"']([A-Za-z0-9._-]+)[\"']")


@dataclass
class ArchivedRun:
    run_dir: Path
    record: dict[str, Any]
    reused_session: bool
    record_location: str = ""

    @property
    def findings(self) -> list[Finding]:
        return [Finding.from_dict(f) for f in self.record.get("findings", [])]

    def __repr__(self) -> str:
        origin = ("the session's own run directory" if self.reused_session
                  else "a new run directory")
        lines = [f"archived {self.record['notebook']} for incident "
                 f"{self.record['incident_id']} as {self.record['status']} ({origin})",
                 f"severity: {self.record.get('severity') or 'none'}"]
        lines.extend(f"  {f['status']:<7} {f['code']:<28} {f['summary']}"
                     for f in self.record.get("findings", []))
        if self.record.get("actions"):
            lines.append(f"actions: {len(self.record['actions'])}")
        lines.append(f"record: {self.record_location or self.run_dir}")
        return registry().redact("\n".join(lines))

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


def session_names(nb: nbformat.NotebookNode, path: Path) -> list[str]:
    """The names a session of this notebook files its runs under: the name given to
    `session.start(...)` in its cells (a renamed copy keeps it), and the file's stem."""
    names = [m.group(1) for cell in nb.cells if cell.get("cell_type") == "code"
             for m in _SESSION_START.finditer(str(cell.get("source", "")))]
    names.append(path.stem)
    return list(dict.fromkeys(names))


def session_runs(archive: records.Archive, incident_id: str, names: list[str]) -> list[RunRef]:
    """The interactive sessions of these notebooks in the incident, oldest first."""
    found = []
    for run in archive.runs_of(incident_id):
        started = archive.started(run)
        if started.get("mode") == INTERACTIVE and started.get("notebook") in names:
            found.append((str(started.get("started_at", "")), run.name, run))
    return [run for _, _, run in sorted(found)]


def notebook_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameters as the responder left them in the parameters cell."""
    if parameters_cell_index(nb) < 0:
        return {}
    try:
        return {name: p.default for name, p in declared_parameters(nb).items()}
    except BadInput:
        return {}


def archive_notebook(notebook_path: str | Path, incident_id: str,
                     config: Config) -> ArchivedRun:
    """Seal the saved notebook and its session's events as a `completed` record."""
    path = Path(notebook_path)
    if path.suffix != ".ipynb":
        raise BadInput(f"{path} is not a notebook (.ipynb): give the path of the notebook the "
                       "responder saved")
    nb = read_notebook(path)
    incident = records.check_incident_id(incident_id)
    config.register_secrets()
    archive = open_archive(config)
    archive.check_ready(incident)
    names = session_names(nb, path)
    now = clock.now()
    header = open_incident(archive, incident, opened_at=now, opened_by=names[0],
                           service=config.service.name)
    with archive.store.lock(layout.incident_key(incident, layout.ARCHIVE_LOCK)):
        run, events, reused, origin = _choose_run(archive, incident, names, now)
        started = archive.started(run)
        nb.metadata["runbook"] = {"status": "completed", "error": "", "mode": INTERACTIVE,
                                  "archived_from": str(path.resolve())}
        save_notebook(nb, archive.store, run.key(layout.NOTEBOOK))
        fields: dict[str, Any] = {
            "incident_id": incident, "notebook": str(started.get("notebook") or names[0]),
            "status": "completed",
            "started_at": str(started.get("started_at") or clock.iso(now)),
            "finished_at": None,
            "parameters": registry().redact_obj(notebook_parameters(nb)),
            "severity": None, "findings": [], "actions": [],
            "mode": INTERACTIVE, "runbook_version": records.runbook_version(),
            "incident_started_at": header.get("started_at"),
            **origin,
        }
        sealed = seal_run(archive, run, fields, status="completed", events=events)
    return ArchivedRun(archive.run_dir(run), sealed, reused,
                       archive.location(run.key(layout.RECORD)))


def _choose_run(archive: records.Archive, incident: str, names: list[str], now: Any
                ) -> tuple[RunRef, list[dict[str, Any]], bool, dict[str, Any]]:
    """(run, its events, whether it is the session's own, where the events came from: the
    session's run the kernel appends to, and how many of its lines are in)."""
    sessions = session_runs(archive, incident, names)
    newest = sessions[-1] if sessions else None
    if newest is not None and not archive.is_sealed(newest):
        events = archive.events(newest)
        return newest, events, True, {"events_source": newest.name,
                                      "events_upto": len(events)}
    later: list[dict[str, Any]] = []
    origin: dict[str, Any] = {}
    if newest is not None:
        # Archived before, and the session went on: what the kernel appended to its events
        # since then goes into a new record.
        sealed = records.archived_record(archive, newest)
        source = str(sealed.get("events_source") or newest.name)
        upto = int(sealed.get("events_upto") or 0)
        all_events = archive.events(RunRef(incident, source))
        later = all_events[upto:]
        origin = {"events_source": source, "events_upto": len(all_events),
                  "continues_run": newest.name}
    notebook = names[0]
    run = archive.start_run(incident, notebook, now, {
        "incident_id": incident, "notebook": notebook, "started_at": clock.iso(now),
        "mode": INTERACTIVE, "parameters": {}})
    for event in later:
        archive.append_event(run, event)
    return run, later, False, origin
