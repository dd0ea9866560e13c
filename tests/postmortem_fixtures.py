"""Archived incidents for the postmortem tests: drills run once per module, and sealed records
written straight through the archive (no kernel) for the cases a drill cannot produce."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat

from runbook.archive.layout import NOTEBOOK
from runbook.archive.record import Archive
from runbook.core import clock

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


def notebook_with(text: str) -> str:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("rb.report(findings)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells = [nbformat.v4.new_markdown_cell("# archived run"), cell]
    return nbformat.writes(nb)


def add_run(archive: Archive, incident: str, notebook: str, started: datetime, *,
            findings: list[dict[str, Any]] | None = None,
            actions: list[dict[str, Any]] | None = None, severity: str | None = None,
            status: str = "completed", seconds: int = 30, output: str = "",
            incident_started: datetime | None = None) -> Path:
    """A sealed run, as the runner leaves it: started.json, events, notebook, record, index."""
    archive.open_incident(incident, incident_started or started)
    base = {"incident_id": incident, "notebook": notebook, "started_at": clock.iso(started)}
    run = archive.start_run(incident, notebook, started, base)
    findings = findings or []
    lines = []
    for index, finding in enumerate(findings):
        at = clock.iso(started + timedelta(seconds=1 + index))
        lines.append({"type": "finding", "at": at, "finding": finding})
    for line in lines:
        archive.append_event(run, line)
    archive.store.replace(run.key(NOTEBOOK), notebook_with(output or notebook).encode("utf-8"))
    archive.seal(run, {**base, "status": status,
                           "finished_at": clock.iso(started + timedelta(seconds=seconds)),
                           "parameters": {}, "severity": severity, "findings": findings,
                           "actions": actions or [], "mode": "drill"})
    return archive.run_dir(run)


def finding(code: str, status: str, summary: str = "", fix: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"code": code, "status": status, "summary": summary or code,
                            "evidence": {}}
    if fix:
        data["fix"] = fix
    return data


LINK = re.compile(r"\]\(([^)\s]+)\)")


def local_links(markdown: Path) -> list[Path]:
    """Every relative link target of a markdown file, resolved beside it."""
    text = markdown.read_text(encoding="utf-8")
    return [(markdown.parent / target.replace("%20", " ")).resolve()
            for target in LINK.findall(text) if "://" not in target]
