"""The Slack message for one run, read in five seconds on a phone at night.

    SEV-1 · dealix API down (502) since 03:12 Riyadh · 4m left to mitigate
    What changed: the last deploy before the impact (commit message, author, N min before),
                  a config change Railway reports, the rollback target
    Failing:      the top two failing findings, in plain words
    Done:         what was done in this incident, and what came of it
    Next:         the sections to open, and the commands
    incident · chain head · record

Every fact of the incident (its start, SEV, state, actions, next sections, chain head) is the
fold's (`incident.fold`); this module only words them. Times are in the team's zone
(`[oncall] timezone`), UTC beside them on request (`[oncall] show_utc`). No server path and no
full UUID reaches the text (`plain`): a phone screen has no room for them, and the channel no
need. A run that failed, timed out or was stopped says so first: its verdict is incomplete.

The text is Slack mrkdwn. Every string from outside (the alert's title, a finding's text, a
commit message) is escaped (`escape_mrkdwn`), so none can mention a channel or link."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runbook.clients.railway import Deployment, explain_status
from runbook.clients.slack import escape_mrkdwn as esc
from runbook.core.config import Config, timezone_of
from runbook.core.findings import Finding, Status
from runbook.core.severity import SEVERITIES
from runbook.host.serve import oncall
from runbook.host.serve.changes import WhatChanged, minutes_before
from runbook.incident import codes, rules, views
from runbook.incident.fold import MITIGATED, RESOLVED, Incident

TOP_FINDINGS = 2
CHAIN_SHORT = 12
UUID = re.compile(r"\b([0-9a-fA-F]{8})-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                  r"[0-9a-fA-F]{12}\b")
# An absolute path of two or more parts (not a URL's path, not /healthz).
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:/[\w.@+-]+){2,}/?")
NO_ACTION_YET = "Diagnosis only: nothing was rolled back, restarted or changed."


@dataclass(frozen=True)
class RunReport:
    """What serve knows about one finished run."""

    incident_id: str
    notebook: str
    reason: str                       # the alert (or schedule) that started it
    config_path: Path
    record: dict[str, Any] | None     # None: no sealed record could be read
    record_path: str | None           # where the record is, for serve's log (never shown)
    exit_code: int
    output: str = ""                  # the runner's last words, when there is no record

    @property
    def status(self) -> str:
        if self.record is not None:
            return str(self.record.get("status", "failed"))
        return "failed"


@dataclass(frozen=True)
class Verdict:
    """The message: its first line (plain text: Slack's header block), the parts below it
    (mrkdwn), and the line naming the incident, its chain head and its record."""

    headline: str
    parts: list[str] = field(default_factory=list)
    footer: str = ""

    @property
    def text(self) -> str:
        """The whole verdict as one mrkdwn text (the webhook's message, the fallback)."""
        return "\n".join([f"*{esc(self.headline)}*", *self.parts, self.footer]).strip()


# ---------------------------------------------------------------- wording helpers

def plain(text: str) -> str:
    """No full UUID (its first 8 stand for it) and no absolute path (its last part)."""
    text = UUID.sub(lambda m: m.group(1), text)
    return ABSOLUTE_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def zone_name(config: Config) -> str:
    zone = timezone_of(config)
    return str(zone.key).rsplit("/", 1)[-1].replace("_", " ")


def local_time(moment: datetime, config: Config) -> str:
    """"03:12 Riyadh" (and "(00:12 UTC)" with `[oncall] show_utc`)."""
    local = moment.astimezone(timezone_of(config))
    text = f"{local:%H:%M} {zone_name(config)}"
    if config.oncall is not None and config.oncall.show_utc and zone_name(config) != "UTC":
        text += f" ({moment.astimezone(UTC):%H:%M} UTC)"
    return text


def short_span(delta: timedelta) -> str:
    """"4m", "1h 05m", "40s": how a person says a span on the phone."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours}h {rest // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def next_sections(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The record's `next` when it has one; else the rules' choice from its findings (a record
    sealed before `next` was kept)."""
    given = record.get("next")
    if not (isinstance(given, list) and given):
        given = rules.next_sections(_findings(record))
    return _pairs(given)


def _pairs(given: list[Any]) -> list[tuple[str, list[str]]]:
    return [(str(item.get("notebook")), [str(c) for c in item.get("because", [])])
            for item in given if isinstance(item, dict) and item.get("notebook")]


def sections_for(record: dict[str, Any], incident: Incident | None) -> list[tuple[str, list[str]]]:
    """What to open next: the incident's (its fold knows every action done, so an action done
    without effect is not proposed again), else the record's."""
    if incident is not None and incident.events:
        return _pairs(views.next_of(incident))
    return next_sections(record)


def command(notebook: str, incident_id: str) -> str:
    return " ".join(shlex.quote(part) for part in (
        "runbook", "run", notebook, "--incident", incident_id))


def _findings(record: dict[str, Any]) -> list[Finding]:
    return [Finding.from_dict(f) for f in record.get("findings", [])
            if isinstance(f, dict) and f.get("code") and f.get("status") in set(Status)]


def _gravity(finding: Finding) -> tuple[int, int]:
    """Gravest first; among equals, the catalogue's order (the service's health first)."""
    weight = rules.weight(finding)
    order = list(codes.CATALOGUE)
    return (codes.WEIGHTS.index(weight) if weight in codes.WEIGHTS else len(codes.WEIGHTS),
            order.index(finding.code) if finding.code in order else len(order))


# ---------------------------------------------------------------- the parts

def headline(report: RunReport, incident: Incident | None, failing: list[Finding],
             config: Config, now: datetime) -> str:
    record = report.record or {}
    severity = str(record.get("severity") or (incident.severity if incident else "") or "")
    service = (incident.service if incident and incident.service else config.service.name)
    broken = codes.broken_in_words(failing[0]) if failing else (
        "nothing failing" if report.status == "completed" else "diagnosis incomplete")
    parts = [severity or "No SEV", f"{service} {broken}"]
    started = incident.started_at if incident else None
    if started is not None:
        parts[-1] += f" since {local_time(started, config)}"
    parts.append(_clock(severity, incident, config, now))
    if report.status != "completed":
        parts.insert(0, f"RUN {_run_status(report.status)}")
    return " · ".join(p for p in parts if p)


def _run_status(status: str) -> str:
    return {"timed_out": "TIMED OUT", "aborted": "STOPPED", "failed": "FAILED"}.get(
        status, status.upper())


def _clock(severity: str, incident: Incident | None, config: Config, now: datetime) -> str:
    if incident is None:
        return ""
    if incident.state == RESOLVED and incident.resolved_at:
        return f"resolved at {local_time(incident.resolved_at, config)}"
    if incident.state == MITIGATED and incident.mitigated_at:
        took = incident.time_to("mitigate")
        return f"mitigated at {local_time(incident.mitigated_at, config)}" + (
            f" (TTM {short_span(took)})" if took is not None else "")
    level = SEVERITIES.get(severity)
    if level is None or incident.started_at is None:
        return ""
    left = level.deadline(incident.started_at) - now
    return f"{short_span(left)} left to mitigate" if left >= timedelta(0) else \
        f"mitigation overdue by {short_span(-left)}"


def _deploy_line(deployment: Deployment, config: Config) -> str:
    commit = (f"commit `{esc(deployment.short_commit)}`" if deployment.commit_hash
              else "no commit recorded")
    return (f"{commit}, {local_time(deployment.created_at, config)}, "
            f"{esc(explain_status(deployment.status))}")


def what_changed(changes: WhatChanged | None, started: datetime | None,
                 config: Config) -> list[str]:
    if changes is None:
        return []
    lines = ["*What changed*"]
    if changes.error:
        return [*lines, f"• Railway's deployments are not shown: {esc(plain(changes.error))}"]
    last = changes.last_deploy_before(started)
    if last is None:
        lines.append("• No deploy before the impact among Railway's recent deployments")
    else:
        message = f"“{esc(last.commit_message)}”" if last.commit_message else "a deploy"
        author = f" by {esc(last.commit_author)}" if last.commit_author else ""
        when = (f"{minutes_before(last, started)} min before impact" if started
                else "the latest")
        lines.append(f"• Last deploy, {when}: {message}{author} ({_deploy_line(last, config)})")
    for new, _old in changes.config_changes(started):
        lines.append(f"• Config change: Railway deployed commit `{esc(new.short_commit)}` again "
                     f"at {local_time(new.created_at, config)} (a variable or a setting "
                     "changed, or someone redeployed)")
    target = changes.rollback_target()
    if target is not None:
        message = f" “{esc(target.commit_message)}”" if target.commit_message else ""
        lines.append(f"• Rollback target: `{target.id[:8]}`{message} "
                     f"({_deploy_line(target, config)})")
    else:
        lines.append("• Rollback target: none Railway can roll back to")
    return lines


def failing_part(findings: list[Finding]) -> list[str]:
    failing = sorted((f for f in findings if f.failed), key=_gravity)
    errors = [f for f in findings if f.status is Status.ERROR]
    lines: list[str] = []
    if failing:
        lines.append("*Failing*")
        lines += [f"• {esc(plain(f.summary))}" for f in failing[:TOP_FINDINGS]]
        if len(failing) > TOP_FINDINGS:
            lines.append(f"• … and {len(failing) - TOP_FINDINGS} more in the record")
    if errors:
        lines.append(f"Could not check {len(errors)} thing(s) (errors, not verdicts): "
                     + esc(plain(errors[0].summary))[:200])
    return lines


def done_part(incident: Incident | None) -> list[str]:
    """What was done in the incident (never a dry run) and what came of it; or that nothing
    was, until something is."""
    acted = [a for a in (incident.actions if incident else ()) if not a.dry_run
             and a.state != "dry_run"]
    if not acted:
        return [NO_ACTION_YET]
    lines = ["*Done*"]
    for action in acted[-3:]:
        who = f" by <@{action.actor}>" if re.fullmatch(r"[UW][A-Z0-9]{2,}", action.actor) \
            else (f" by {esc(action.actor)}" if action.actor else "")
        what = esc(plain(action.result)) if action.result else action.state
        if action.state == "done" and action.verified is False:
            lines.append(f"• :warning: {what}{who}: done at the provider, not a fix")
        elif action.state == "done":
            lines.append(f"• :white_check_mark: {what}{who}")
        else:
            lines.append(f"• {esc(action.name)} {esc(action.state)}{who}: {what}")
    return lines


def next_part(sections: list[tuple[str, list[str]]], report: RunReport,
              incident: Incident | None) -> list[str]:
    if incident is not None and not incident.is_open:
        return []
    lines: list[str] = []
    if sections:
        lines.append("*Next*: " + ", ".join(f"`{esc(name)}`" for name, _ in sections))
    commands = [command(name, report.incident_id) for name, _ in sections]
    if report.status != "completed":
        commands.insert(0, command(report.notebook, report.incident_id))
    lines += [f"`{esc(c)}`" for c in commands[:3]]
    return lines


def footer(report: RunReport, incident: Incident | None, config: Config) -> str:
    parts = [f"Incident `{esc(report.incident_id)}`"]
    head = incident.chain_head if incident else ""
    if head:
        parts.append(f"chain `{esc(head[:CHAIN_SHORT])}`")
    template = config.slack.record_url if config.slack else ""
    if report.record is None:
        parts.append("no record was sealed (see the serve log)")
    elif template:
        url = template.replace("{incident}", report.incident_id)
        parts.append(f"<{url}|record>")
    else:
        parts.append(f"record: `runbook incident show {esc(report.incident_id)}`")
    return " · ".join(parts)


def compose(report: RunReport, incident: Incident | None, now: datetime, config: Config,
            changes: WhatChanged | None = None, seen_before: str = "") -> Verdict:
    """The verdict of `report` for the incident as its fold says it at `now`; `seen_before`:
    whether its trigger and causes were seen before (`incident.similar`)."""
    record = report.record or {}
    findings = _findings(record)
    failing = sorted((f for f in findings if f.failed), key=_gravity)
    parts: list[str] = []
    if report.status != "completed":
        error = str(record.get("error") or "") or _last_line(report.output)
        parts.append(f"The run of `{esc(report.notebook)}` "
                     f"{_run_status(report.status).lower()}: the diagnosis below is incomplete"
                     + (f"\n> {esc(plain(error))[:300]}" if error else ""))
    parts.append(f"Alert: {esc(plain(report.reason))}")
    started = incident.started_at if incident else None
    parts += _joined(what_changed(changes, started, config))
    parts += _joined(failing_part(findings))
    if not failing and report.status == "completed":
        parts.append("Nothing failing in this run.")
    elif seen_before:
        parts.append(f"_{esc(plain(seen_before))[:400]}_")
    parts += _joined(done_part(incident))
    parts += _joined(next_part(sections_for(record, incident), report, incident))
    severity = SEVERITIES.get(str(record.get("severity") or ""))
    if severity is not None and started is not None and incident is not None and \
            incident.is_open:
        parts.append(f"{severity.level}: respond by "
                     f"{local_time(severity.deadline(started), config)} · "
                     f"{severity.communication}")
    return Verdict(plain(headline(report, incident, failing, config, now)), parts,
                   footer(report, incident, config))


def _joined(lines: list[str]) -> list[str]:
    return ["\n".join(lines)] if lines else []


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
