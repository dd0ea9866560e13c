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
holds just the notebook. A notebook with no executed cell is refused: there is nothing to vouch
for.

A session that ends without being archived (its kernel shut down, or `runbook lab` stopped) is
sealed `abandoned` (`abandon_run`), with the findings and actions its events hold and the
notebook as last saved, through the same `seal_run`: never left `interrupted`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.archive import layout
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.location import open_archive
from runbook.archive.notebook_io import mark_notebook, save_notebook
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.errors import BadInput, KeyExists, RecordError
from runbook.core.findings import Finding
from runbook.core.notebook_params import declared_parameters, parameters_cell_index, read_notebook
from runbook.core.redaction import registry
from runbook.incident.log import open_incident
from runbook.incident.seal import seal_run

if TYPE_CHECKING:
    # imported where used: a kernel that never reads or writes a notebook skips nbformat
    # (and jsonschema, which it imports): a tenth of its start
    import nbformat

INTERACTIVE = "interactive"
ABANDONED = "abandoned"

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


def executed(nb: nbformat.NotebookNode) -> bool:
    """Whether any code cell was run: it has an execution count, or outputs."""
    return any(cell.get("cell_type") == "code"
               and (isinstance(cell.get("execution_count"), int) or cell.get("outputs"))
               for cell in nb.cells)


def archive_notebook(notebook_path: str | Path, incident_id: str,
                     config: Config) -> ArchivedRun:
    """Seal the saved notebook and its session's events as a `completed` record."""
    path = Path(notebook_path)
    if path.suffix != ".ipynb":
        raise BadInput(f"{path} is not a notebook (.ipynb): give the path of the notebook the "
                       "responder saved")
    nb = read_notebook(path)
    if not executed(nb):
        raise BadInput(f"{path} has no executed cell: run it in JupyterLab first (and save "
                       "it), then archive it")
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


# ---------------------------------------------------------------- a session left unarchived

def abandon_run(archive: records.Archive, run: RunRef, reason: str) -> dict[str, Any] | None:
    """Seal an interactive session's run `abandoned` when no record covers its events yet:
    the run itself when it was never archived, or, when it was archived and the session went
    on, a new run holding the events that came after. Returns the record sealed, or None when
    everything was already sealed (by an archive, or by another ending of the same session)."""
    with archive.store.lock(layout.incident_key(run.incident_id, layout.ARCHIVE_LOCK)):
        started = archive.started(run)
        notebook = str(started.get("notebook") or run.name)
        events = archive.events(run)
        origin: dict[str, Any] = {"events_source": run.name, "events_upto": len(events)}
        target = run
        if archive.is_sealed(run):
            covered, last = _covered(archive, run)
            if covered >= len(events):
                return None
            now = clock.now()
            target = archive.start_run(run.incident_id, notebook, now, {
                "incident_id": run.incident_id, "notebook": notebook,
                "started_at": clock.iso(now), "mode": INTERACTIVE, "parameters": {}})
            events = events[covered:]
            for event in events:
                archive.append_event(target, event)
            origin["continues_run"] = last
        nb = _save_abandoned_notebook(archive, target, started, reason)
        target_started = archive.started(target)
        fields: dict[str, Any] = {
            "incident_id": run.incident_id, "notebook": notebook,
            "started_at": str(target_started.get("started_at") or clock.iso(clock.now())),
            "finished_at": None, "parameters": registry().redact_obj(notebook_parameters(nb)),
            "severity": None, "findings": [],
            "actions": [], "mode": INTERACTIVE, "runbook_version": records.runbook_version(),
            **origin,
        }
        try:
            return seal_run(archive, target, fields, status=ABANDONED, error=reason,
                            events=events)
        except KeyExists:    # sealed meanwhile by a writer that does not take the lock
            return None


def abandon_lab_session(archive: records.Archive, incident_id: str, lab_session: str,
                        reason: str) -> list[dict[str, Any]]:
    """Seal `abandoned` every run the lab session started in the incident that no record
    covers yet (see `abandon_run`); the records sealed."""
    sealed = []
    for run in archive.runs_of(incident_id):
        started = archive.started(run)
        if started.get("mode") == INTERACTIVE and started.get("lab_session") == lab_session:
            record = abandon_run(archive, run, reason)
            if record is not None:
                sealed.append(record)
    return sealed


def _covered(archive: records.Archive, run: RunRef) -> tuple[int, str]:
    """(how many of the run's events sealed records hold, the newest of those records' run)."""
    covered, last = 0, run.name
    for other in archive.runs_of(run.incident_id):
        if not archive.is_sealed(other):
            continue
        try:
            record = records.archived_record(archive, other)
        except RecordError:   # `runbook verify` names it; it vouches for no event here
            continue
        if str(record.get("events_source") or "") != run.name and other != run:
            continue
        upto = record.get("events_upto")
        # A record sealed before events were counted holds all the events there were.
        upto = upto if isinstance(upto, int) else len(archive.events(run))
        if upto >= covered:
            covered, last = upto, other.name
    return covered, last


def _save_abandoned_notebook(archive: records.Archive, run: RunRef, started: dict[str, Any],
                             reason: str) -> nbformat.NotebookNode:
    """The notebook as the responder last saved it (when the session knows its file), else
    an empty one, redacted into the run, with the banner saying why it was sealed so."""
    import nbformat

    nb: nbformat.NotebookNode = nbformat.v4.new_notebook()
    saved = str(started.get("notebook_path") or "")
    if saved:
        try:
            nb = read_notebook(Path(saved))
        except BadInput:
            saved = ""
    key = run.key(layout.NOTEBOOK)
    save_notebook(nb, archive.store, key)
    mark_notebook(archive.store, key, ABANDONED, reason, mode=INTERACTIVE, archived_from=saved)
    return nb
