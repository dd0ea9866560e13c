"""The Slack message for one run, composed from its sealed record: the SEV, the failing
findings, the time left on the SEV clock, the sections to open next, the exact commands to
continue with, and where the record is. A run that failed, timed out or was stopped says so
first: its verdict is incomplete, and the responder must know before trusting it.

The message is Slack mrkdwn. Every string that came from outside (the alert's title, a
finding's text, the runner's last line, a path) is escaped (`escape_mrkdwn`), so none can
mention a channel or show a link of its own."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runbook.clients.slack import escape_mrkdwn as esc
from runbook.core.findings import Finding, Status
from runbook.core.severity import SEVERITIES, format_delta, time_left
from runbook.host.serve import oncall
from runbook.incident import rules

MAX_FINDINGS = 8


@dataclass(frozen=True)
class RunReport:
    """What serve knows about one finished run."""

    incident_id: str
    notebook: str
    reason: str                       # the alert (or schedule) that started it
    config_path: Path
    record: dict[str, Any] | None     # None: no sealed record could be read
    record_path: str | None           # where the record is, for a person (path or URL)
    exit_code: int
    output: str = ""                  # the runner's last words, when there is no record

    @property
    def status(self) -> str:
        if self.record is not None:
            return str(self.record.get("status", "failed"))
        return "failed"


def next_sections(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The record's `next` when it has one; else the rules' choice from its findings (a record
    sealed before `next` was kept)."""
    given = record.get("next")
    if not (isinstance(given, list) and given):
        given = rules.next_sections(_findings(record))
    return [(str(item.get("notebook")), [str(c) for c in item.get("because", [])])
            for item in given if isinstance(item, dict) and item.get("notebook")]


def command(notebook: str, incident_id: str, config_path: Path) -> str:
    return " ".join(shlex.quote(part) for part in (
        "runbook", "run", notebook, "--incident", incident_id, "--config", str(config_path)))


def _findings(record: dict[str, Any]) -> list[Finding]:
    return [Finding.from_dict(f) for f in record.get("findings", [])
            if isinstance(f, dict) and f.get("code") and f.get("status") in set(Status)]


def compose(report: RunReport, incident_started: datetime, now: datetime) -> str:
    record = report.record or {}
    severity = record.get("severity")
    status = report.status
    lines: list[str] = []
    if status == "completed":
        lines.append(f"*{esc(severity or 'No SEV')}* · `{esc(report.notebook)}` finished for "
                     f"incident `{esc(report.incident_id)}`")
    else:
        what = {"timed_out": "TIMED OUT (--deadline passed)", "aborted": "was STOPPED (aborted)",
                "failed": "FAILED"}.get(status, status.upper())
        lines.append(f"*RUN {esc(what)}* · `{esc(report.notebook)}` for incident "
                     f"`{esc(report.incident_id)}` · {esc(severity or 'no SEV yet')}: the "
                     "diagnosis below is incomplete")
        error = str(record.get("error") or "") or _last_line(report.output)
        if error:
            lines.append(f"> {esc(error[:300])}")
    lines.append(f"Alert: {esc(report.reason)}")
    level = SEVERITIES.get(str(severity)) if severity else None
    if level is not None:
        left = time_left(level, incident_started, now)
        clock = (f"{format_delta(left)} left" if left.total_seconds() >= 0
                 else f"past by {format_delta(-left)}")
        lines.append(f"SEV clock: {clock} of {format_delta(level.response_time)} "
                     f"(respond by {level.deadline(incident_started):%H:%M} UTC) · "
                     f"{level.communication}")
    findings = _findings(record)
    failing = [f for f in findings if f.failed]
    errors = [f for f in findings if f.status is Status.ERROR]
    lines += _listed("Failing:", failing)
    lines += _listed("Could not check (errors, not verdicts):", errors)
    if not failing and not errors and status == "completed":
        lines.append("Nothing failing in this run.")
    sections = next_sections(record)
    if sections:
        lines.append("Open next: " + ", ".join(
            f"`{esc(name)}`" + (f" (because {esc(', '.join(codes))})" if codes else "")
            for name, codes in sections))
    continue_with = [command(name, report.incident_id, report.config_path)
                     for name, _ in sections]
    if status != "completed":
        continue_with.insert(0, command(report.notebook, report.incident_id,
                                        report.config_path))
    if continue_with:
        lines.append("Continue with:")
        lines += [f"`{esc(c)}`" for c in continue_with]
    lines.append(f"Record: `{esc(report.record_path)}`" if report.record_path and report.record
                 else "Record: none was sealed (see the serve log)")
    lines.append("Diagnosis only: nothing was rolled back, restarted or changed.")
    return "\n".join(lines)


def _listed(head: str, findings: list[Finding]) -> list[str]:
    if not findings:
        return []
    lines = [head] + [f"• `{esc(f.code)}` {esc(f.summary)}" for f in findings[:MAX_FINDINGS]]
    if len(findings) > MAX_FINDINGS:
        lines.append(f"• … and {len(findings) - MAX_FINDINGS} more in the record")
    return lines


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def with_acknowledge(blocks: list[dict[str, Any]], incident_id: str,
                     severity: object) -> list[dict[str, Any]]:
    """A SEV-1/SEV-2 verdict's blocks with the secondary **Acknowledge** button (`[oncall]`):
    appended to its actions, or as actions of its own when it offers no plan."""
    if severity not in ("SEV-1", "SEV-2"):
        return blocks
    button = oncall.acknowledge_button(incident_id)
    out = [dict(block) for block in blocks]
    for block in out:
        if block.get("type") == "actions":
            block["elements"] = [*block.get("elements", []), button]
            return out
    return [*out, {"type": "actions", "block_id": "runbook_oncall", "elements": [button]}]
