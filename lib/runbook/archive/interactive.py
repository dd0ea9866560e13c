"""Archiving what a responder did in JupyterLab: the saved notebook becomes a sealed record.

An interactive session (`runbook.session.start` outside papermill) opened its own run directory
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

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from runbook.archive import record as records
from runbook.archive.notebook_io import save_notebook
from runbook.core import clock
from runbook.core import severity as sev
from runbook.core.config import Config
from runbook.core.errors import BadInput
from runbook.core.findings import Finding
from runbook.core.redaction import registry
from runbook.host.params import declared_parameters, parameters_cell_index, read_notebook

INTERACTIVE = "interactive"
EVENTS = "events.jsonl"

_SESSION_START = re.compile(r"session\.start\(\s*[\"']([A-Za-z0-9._-]+)[\"']")


@dataclass
class ArchivedRun:
    run_dir: Path
    record: dict[str, Any]
    reused_session: bool

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
        lines.append(f"record: {self.run_dir / 'record.json'}")
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


def _started(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / "started.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def session_runs(archive: records.Archive, incident_id: str, names: list[str]) -> list[Path]:
    """The interactive sessions of these notebooks in the incident, oldest first."""
    directory = archive.incident_dir(incident_id)
    if not directory.is_dir():
        return []
    found = []
    for run_dir in directory.iterdir():
        started = _started(run_dir) if run_dir.is_dir() else {}
        if started.get("mode") == INTERACTIVE and started.get("notebook") in names:
            found.append((str(started.get("started_at", "")), run_dir.name, run_dir))
    return [run_dir for _, _, run_dir in sorted(found)]


def notebook_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameters as the responder left them in the parameters cell."""
    if parameters_cell_index(nb) < 0:
        return {}
    try:
        return {name: p.default for name, p in declared_parameters(nb).items()}
    except BadInput:
        return {}


def summarise(events: list[dict[str, Any]]) -> tuple[list[Any], list[Any], str | None]:
    """(findings, actions, severity) from a run's events, as the runner seals them."""
    findings = [e["finding"] for e in events if e.get("type") == "finding"]
    actions = [e["action"] for e in events if e.get("type") == "action"]
    severity = next((e.get("severity") for e in reversed(events) if e.get("type") == "severity"),
                    None)
    if severity is None and findings:
        level = sev.classify(Finding.from_dict(f) for f in findings)
        severity = level.level if level else None
    return findings, actions, severity


def archive_notebook(notebook_path: str | Path, incident_id: str,
                     config: Config) -> ArchivedRun:
    """Seal the saved notebook and its session's events as a `completed` record."""
    path = Path(notebook_path)
    if path.suffix != ".ipynb":
        raise BadInput(f"{path} is not a notebook (.ipynb): give the path of the notebook the "
                       "responder saved")
    nb = read_notebook(path)
    incident = records.check_incident_id(incident_id)
    for name in config.secret_env_names():
        registry().read_env(name)
    archive = records.Archive(config.runs_dir())
    archive.ensure_writable()
    names = session_names(nb, path)
    now = clock.now()
    header = archive.open_incident(incident, now, opened_by=names[0])
    with records.locked(archive.incident_dir(incident) / ".archive.lock"):
        run_dir, events, reused, origin = _choose_run_dir(archive, incident, names, now)
        started = _started(run_dir)
        nb.metadata["runbook"] = {"status": "completed", "error": "", "mode": INTERACTIVE,
                                  "archived_from": str(path.resolve())}
        notebook_file = run_dir / "notebook.ipynb"
        save_notebook(nb, notebook_file)
        findings, actions, severity = summarise(events)
        from runbook.mitigation import next_sections
        record: dict[str, Any] = {
            "incident_id": incident, "notebook": str(started.get("notebook") or names[0]),
            "status": "completed",
            "started_at": str(started.get("started_at") or clock.iso(now)),
            "finished_at": clock.iso(clock.now()),
            "parameters": registry().redact_obj(notebook_parameters(nb)),
            "severity": severity, "findings": findings, "actions": actions,
            "next": next_sections(Finding.from_dict(f) for f in findings),
            "mode": INTERACTIVE, "runbook_version": records.runbook_version(),
            "incident_started_at": header.get("started_at"),
            **origin,
            "notebook_sha256": records.sha256_file(notebook_file),
        }
        sealed = archive.seal(run_dir, registry().redact_obj(record))
    return ArchivedRun(run_dir, sealed, reused)


def _choose_run_dir(archive: records.Archive, incident: str, names: list[str], now: Any
                    ) -> tuple[Path, list[dict[str, Any]], bool, dict[str, Any]]:
    """(run directory, its events, whether it is the session's own, where the events came
    from: the session directory the kernel appends to, and how many of its lines are in)."""
    sessions = session_runs(archive, incident, names)
    newest = sessions[-1] if sessions else None
    if newest is not None and not (newest / "record.json").is_file():
        events = records.read_lines(newest / EVENTS)
        return newest, events, True, {"events_source": newest.name,
                                      "events_upto": len(events)}
    later: list[dict[str, Any]] = []
    origin: dict[str, Any] = {}
    if newest is not None:
        # Archived before, and the session went on: what the kernel appended to its events
        # since then goes into a new record.
        sealed = records.read_record(newest / "record.json")
        source = str(sealed.get("events_source") or newest.name)
        upto = int(sealed.get("events_upto") or 0)
        all_events = records.read_lines(newest.parent / source / EVENTS)
        later = all_events[upto:]
        origin = {"events_source": source, "events_upto": len(all_events),
                  "continues_run": newest.name}
    notebook = names[0]
    run_dir = archive.new_run_dir(incident, notebook, now)
    archive.mark_started(run_dir, {"incident_id": incident, "notebook": notebook,
                                   "started_at": clock.iso(now), "mode": INTERACTIVE,
                                   "parameters": {}})
    for event in later:
        records.append_line(run_dir / EVENTS, event)
    return run_dir, later, False, origin
