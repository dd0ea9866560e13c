"""Guarded actions: what the runbook changes in production, done only when confirmed, and once.

An `Action` is planned first and executed later, so a person (or a confirm button) sees
exactly what would happen before anything does:

    action = rollback.rollback_action(rb)              # plan: which deployment, which commit
    action                                             # displays the plan
    rb_actions.run(rb, action, confirm=confirm)        # dry run unless confirm=True

The guards, all keyed by (incident, action name, target):
- `confirm=False` (the default) is a dry run: the plan is recorded, nothing is executed.
- One at a time: the archive's lock for (incident, action, target), never waited for. A
  second responder is refused with the holder's name and since when. A crashed holder's lock
  is released, so a lock is never stale.
- Never twice: the incident's actions ledger keeps every confirmed attempt, written under the
  lock. An action that already succeeded for the same incident and target is not executed
  again; the earlier result is returned. Before an attempt runs, its key is created once in the
  archive (`store.create`, If-None-Match on a bucket): two machines can never both run the
  same attempt, even if a lease expired under a holder that was only slow.
- A shared archive that cannot be reached refuses a confirmed action (diagnosis goes on); the
  responder may override (`without_archive=True`, or RUNBOOK_ACT_WITHOUT_ARCHIVE=1), and the
  record says the guards were bypassed.
- Every run, dry or real, refused or already done, is recorded in the session's record.
"""

from __future__ import annotations

import contextlib
import getpass
import html
import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbook.archive import layout
from runbook.archive.store import LockHeld
from runbook.core import clock
from runbook.core.errors import ActionRefused, ArchiveUnavailable, KeyExists, RunbookError
from runbook.core.findings import Finding, Status, errored, failed, passed
from runbook.core.redaction import registry
from runbook.display import COLOURS, ICONS
from runbook.session_protocol import SessionProtocol

__all__ = ["Action", "ActionResult", "Outcome", "StepLog", "run"]

# What a run of an action came to.
DRY_RUN = "dry_run"            # confirm was not given: planned and recorded, nothing done
SUCCEEDED = "succeeded"        # executed, and its verification passed
FAILED = "failed"              # executed (or tried to), and it did not work
ALREADY_DONE = "already_done"  # succeeded earlier in this incident: not done again
BLOCKED = "blocked"            # planning found a reason it cannot be done (dirty tree, …)
REFUSED = "refused"            # another responder holds the action's lock


class StepLog:
    """The timestamped steps of one execution: what was called, what came back, when."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def step(self, text: str, **details: Any) -> dict[str, Any]:
        entry = {"at": clock.iso(clock.now()), "step": text, **details}
        self.steps.append(entry)
        return entry


@dataclass
class Outcome:
    """What an action's `execute` returns: whether it worked, and the evidence."""

    ok: bool
    summary: str
    findings: list[Finding] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One destructive step, planned: `plan` says exactly what `execute` would do.

    `blocked` is set when planning found a reason the action cannot be done; such an action
    is recorded and never executed. `preview` is a long text shown with the plan (a diff).
    """

    name: str                      # e.g. "railway.rollback", "git.revert", "slack.post"
    target: str                    # what it acts on; with the incident, the key of the guards
    plan: str                      # one paragraph: exactly what would happen
    execute: Callable[[StepLog], Outcome]
    details: Mapping[str, Any] = field(default_factory=dict)   # recorded with every run
    preview: str = ""
    blocked: str = ""
    findings: Sequence[Finding] = field(default_factory=tuple)  # what planning found

    def __repr__(self) -> str:
        lines = [f"{self.name} → {self.target}"]
        lines.append(f"BLOCKED: {self.blocked}" if self.blocked else f"plan: {self.plan}")
        lines.extend(f"  {key}: {value}" for key, value in self.details.items())
        if self.preview:
            lines.append(self.preview)
        return registry().redact("\n".join(lines))

    def _repr_html_(self) -> str:
        head = (f"<b>{html.escape(self.name)}</b> → <code>{html.escape(self.target)}</code>")
        if self.blocked:
            body = (f'<div style="color:{COLOURS[Status.FAIL]}"><b>Blocked:</b> '
                    f"{html.escape(self.blocked)}</div>")
        else:
            body = f"<div><b>Plan:</b> {html.escape(self.plan)}</div>"
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                       for k, v in self.details.items())
        table = f"<table>{rows}</table>" if rows else ""
        preview = (f"<pre style='max-height:30em;overflow:auto'>{html.escape(self.preview)}</pre>"
                   if self.preview else "")
        return registry().redact(f'<div class="runbook-action">{head}{body}{table}{preview}</div>')


@dataclass
class ActionResult:
    """What one run of an action came to; displays as a coloured block with its steps."""

    name: str
    target: str
    status: str                    # one of DRY_RUN, SUCCEEDED, FAILED, ALREADY_DONE, BLOCKED
    dry_run: bool
    summary: str
    plan: str
    at: str
    findings: list[Finding] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    earlier: dict[str, Any] | None = None     # the ledger entry of the run that already did it

    @property
    def ok(self) -> bool:
        """True when the action is in effect (now or earlier) or was only planned."""
        return self.status in (SUCCEEDED, ALREADY_DONE, DRY_RUN)

    @property
    def executed(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)

    def to_record(self) -> dict[str, Any]:
        """The record's action shape: {name, dry_run, target, result, at, …}."""
        entry: dict[str, Any] = {
            "name": self.name, "dry_run": self.dry_run, "target": self.target,
            "result": self.summary, "status": self.status, "at": self.at, "plan": self.plan}
        if self.details:
            entry["details"] = self.details
        if self.steps:
            entry["steps"] = self.steps
        if self.findings:
            entry["findings"] = [f.to_dict() for f in self.findings]
        if self.earlier is not None:
            entry["earlier"] = {k: self.earlier.get(k) for k in
                                ("at", "run", "holder", "result", "status")}
        return entry

    def __repr__(self) -> str:
        mark = {SUCCEEDED: "✓", FAILED: "✗", DRY_RUN: "·", ALREADY_DONE: "=",
                BLOCKED: "✗"}.get(self.status, "?")
        lines = [f"{mark} {self.name} → {self.target}: {self.status.upper()}", self.summary]
        if self.status == DRY_RUN:
            lines.append(f"would: {self.plan}")
        lines.extend(f"  {s['at']}  {s['step']}" for s in self.steps)
        lines.extend(f"  {ICONS[f.status]} {f.status.value:<7} {f.code:<24} {f.summary}"
                     for f in self.findings)
        return registry().redact("\n".join(lines))

    def _repr_html_(self) -> str:
        colour = {SUCCEEDED: COLOURS[Status.PASS], FAILED: COLOURS[Status.FAIL],
                  BLOCKED: COLOURS[Status.FAIL], ALREADY_DONE: COLOURS[Status.PASS],
                  DRY_RUN: COLOURS[Status.SKIPPED]}.get(self.status, COLOURS[Status.ERROR])
        label = {DRY_RUN: "DRY RUN — nothing was changed", SUCCEEDED: "DONE",
                 FAILED: "FAILED", ALREADY_DONE: "ALREADY DONE — not repeated",
                 BLOCKED: "BLOCKED — not done"}.get(self.status, self.status)
        parts = [f'<div class="runbook-action-result" style="padding:8px;border-left:6px solid '
                 f'{colour}"><b style="color:{colour}">{html.escape(label)}</b> '
                 f"<code>{html.escape(self.name)}</code> → <code>{html.escape(self.target)}"
                 f"</code><br>{html.escape(self.summary)}"]
        if self.status == DRY_RUN:
            parts.append(f"<br><i>Would:</i> {html.escape(self.plan)}")
        if self.steps:
            items = "".join(f"<li><code>{html.escape(s['at'])}</code> {html.escape(s['step'])}"
                            "</li>" for s in self.steps)
            parts.append(f"<ol>{items}</ol>")
        if self.findings:
            items = "".join(f'<li><b style="color:{COLOURS[f.status]}">{ICONS[f.status]} '
                            f"{f.status.value}</b> <code>{html.escape(f.code)}</code> "
                            f"{html.escape(f.summary)}</li>" for f in self.findings)
            parts.append(f"<ul>{items}</ul>")
        parts.append("</div>")
        return registry().redact("".join(parts))


# ---------------------------------------------------------------- the incident's ledger and locks

def ledger(rb: SessionProtocol, name: str | None = None,
           target: str | None = None) -> list[dict[str, Any]]:
    """The incident's confirmed attempts, oldest first, optionally for one action/target."""
    key = layout.incident_key(rb.run.incident_id, layout.LEDGER)
    return [entry for entry in rb.archive.store.read_lines(key)
            if (name is None or entry.get("name") == name)
            and (target is None or entry.get("target") == target)]


def succeeded_before(rb: SessionProtocol, name: str, target: str) -> dict[str, Any] | None:
    """The ledger entry of the first success of (name, target) in this incident, if any."""
    return next((e for e in ledger(rb, name, target) if e.get("status") == SUCCEEDED), None)


def holder_identity(rb: SessionProtocol) -> str:
    """Who runs this: user@host, pid, and the run (which names the notebook)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()} ({rb.run.name})"


@contextlib.contextmanager
def held(rb: SessionProtocol, name: str, target: str) -> Iterator[dict[str, Any]]:
    """Hold the (incident, name, target) lock, or raise ActionRefused naming its holder."""
    info = {"holder": holder_identity(rb), "since": clock.iso(clock.now()),
            "name": name, "target": target}
    key = layout.action_lock_key(rb.run.incident_id, name, target)
    try:
        with rb.archive.store.lock(key, info, wait=False) as lock:
            yield lock
    except LockHeld as exc:
        raise ActionRefused(
            f"{name} on {target} is already running: held by "
            f"{exc.holder.get('holder', 'an unknown responder')} since "
            f"{exc.holder.get('since', 'an unknown time')}. Wait for it to finish, then run "
            "again: a success is not repeated, its result is shown") from None


def claim_attempt(rb: SessionProtocol, action: Action, holder: str) -> None:
    """Create the key of this attempt (the ledger's next), or raise ActionRefused naming who
    claimed it: an attempt claimed but never ledgered is in flight or its outcome unknown."""
    attempt = len(ledger(rb, action.name, action.target)) + 1
    key = layout.action_claim_key(rb.run.incident_id, action.name, action.target, attempt)
    claim = {"holder": holder, "at": clock.iso(clock.now()), "run": rb.run.name,
             "name": action.name, "target": action.target, "attempt": attempt}
    try:
        rb.archive.store.create(key, registry().redact(json.dumps(claim)).encode())
    except KeyExists:
        other = rb.archive.read_json(key) or {}
        raise ActionRefused(
            f"{action.name} on {action.target} was already started by "
            f"{other.get('holder', 'another responder')} at {other.get('at', 'an unknown time')}"
            " and its outcome is not recorded yet: check the target before trying again"
        ) from None


def _without_archive(flag: bool | None) -> bool:
    return bool(flag) if flag is not None else \
        os.environ.get(ENV_ACT_WITHOUT_ARCHIVE, "").lower() in ("1", "true", "yes")


ENV_ACT_WITHOUT_ARCHIVE = "RUNBOOK_ACT_WITHOUT_ARCHIVE"


# ---------------------------------------------------------------- the one entry point

def run(rb: SessionProtocol, action: Action, *, confirm: bool = False,
        report: bool = True, without_archive: bool | None = None) -> ActionResult:
    """Plan, or (with confirm=True) execute once, under the guards; always recorded.

    Raises ActionRefused (after recording the refusal) when another run holds the lock.
    With `report`, the findings of the execution go into the session's findings as well.
    """
    try:
        earlier = succeeded_before(rb, action.name, action.target)
    except ArchiveUnavailable:
        earlier = None    # planning goes on; a confirmed run is decided under the guards
    if action.blocked and earlier is not None:
        # Planning again after a success often finds nothing left to do (the revert no longer
        # applies, the deployment moved on): what matters is that it was done.
        return _finish(rb, _already_done(action, earlier, dry_run=not confirm), report=False)
    if action.blocked:
        result = _result(action, BLOCKED, not confirm, f"not done: {action.blocked}",
                         findings=list(action.findings))
        return _finish(rb, result, report)
    if not confirm:
        note = (f" (already done at {earlier.get('at')}: a confirmed run would not repeat it)"
                if earlier else "")
        result = _result(action, DRY_RUN, True,
                         f"dry run: nothing was changed; pass confirm=True to do it{note}",
                         findings=list(action.findings), earlier=earlier)
        return _finish(rb, result, report)
    try:
        with held(rb, action.name, action.target) as lock:
            earlier = succeeded_before(rb, action.name, action.target)
            if earlier is not None:
                # The earlier findings were reported by the run that made them.
                return _finish(rb, _already_done(action, earlier, dry_run=False), report=False)
            claim_attempt(rb, action, lock["holder"])
            result = _execute(action)
            try:
                rb.archive.store.append(
                    layout.incident_key(rb.run.incident_id, layout.LEDGER),
                    registry().redact_obj({**result.to_record(), "holder": lock["holder"],
                                           "run": rb.run.name}))
            except ArchiveUnavailable as exc:   # done, but the shared ledger missed it
                result.details["ledger"] = f"not written: {exc}"
    except ArchiveUnavailable as exc:
        if not _without_archive(without_archive):
            refused = _result(action, REFUSED, False, (
                f"refused: the shared archive cannot be reached ({exc}), so no other responder "
                f"could see this {action.name} or be kept from repeating it. Diagnosis still "
                f"works. To act anyway, pass without_archive=True (or set "
                f"{ENV_ACT_WITHOUT_ARCHIVE}=1): the record will say the guards were bypassed"))
            rb.record_action(refused.to_record())
            raise ActionRefused(refused.summary) from None
        result = _execute(action)
        result.details["guards"] = (f"bypassed: the shared archive could not be reached ({exc}); "
                                    "executed without its lock, claim or ledger by override")
    except ActionRefused as exc:
        refused = _result(action, REFUSED, False, str(exc))
        rb.record_action(refused.to_record())
        raise
    return _finish(rb, result, report)


def _execute(action: Action) -> ActionResult:
    log = StepLog()
    log.step(f"start {action.name} on {action.target}")
    try:
        outcome = action.execute(log)
    except RunbookError as exc:
        log.step(f"stopped: {exc}")
        finding = errored(action.name, f"{action.name} did not complete: {exc}",
                          error=type(exc).__name__)
        return _result(action, FAILED, False, str(exc), findings=[finding], steps=log.steps)
    except Exception as exc:  # noqa: BLE001 - a failed action must be recorded, not lost
        log.step(f"stopped by an unexpected error: {type(exc).__name__}")
        finding = errored(action.name, f"{action.name} failed unexpectedly: "
                          f"{type(exc).__name__}: {exc}", error=type(exc).__name__)
        return _result(action, FAILED, False, f"{type(exc).__name__}: {exc}",
                       findings=[finding], steps=log.steps)
    steps = [*log.steps, *outcome.steps]
    verdict = (passed(action.name, outcome.summary, target=action.target) if outcome.ok else
               failed(action.name, outcome.summary, target=action.target))
    return _result(action, SUCCEEDED if outcome.ok else FAILED, False, outcome.summary,
                   findings=[verdict, *outcome.findings], steps=steps,
                   details={**action.details, **outcome.details})


def _already_done(action: Action, earlier: dict[str, Any], dry_run: bool) -> ActionResult:
    return _result(action, ALREADY_DONE, dry_run,
                   f"already done at {earlier.get('at')} by {earlier.get('holder')}: "
                   f"{earlier.get('result')}; not repeated", earlier=earlier,
                   findings=_findings_of(earlier), steps=list(earlier.get("steps") or []))


def _findings_of(entry: Mapping[str, Any]) -> list[Finding]:
    found = entry.get("findings") or []
    return [Finding.from_dict(f) for f in found if isinstance(f, dict) and "code" in f]


def _result(action: Action, status: str, dry_run: bool, summary: str, *,
            findings: list[Finding] | None = None, steps: list[dict[str, Any]] | None = None,
            details: Mapping[str, Any] | None = None,
            earlier: dict[str, Any] | None = None) -> ActionResult:
    return ActionResult(action.name, action.target, status, dry_run, summary, action.plan,
                        clock.iso(clock.now()), list(findings or []), list(steps or []),
                        dict(details if details is not None else action.details), earlier)


def _finish(rb: SessionProtocol, result: ActionResult, report: bool) -> ActionResult:
    rb.record_action(result.to_record())
    if report and result.findings:
        rb.report(result.findings, title=f"{result.name} → {result.target}")
    return result
