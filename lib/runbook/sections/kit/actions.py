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
  again; the earlier result is returned. An attempt is claimed by appending its intent only if
  the ledger is still the version the holder read and decided on (`store.append_if`, If-Match
  on a bucket): a holder whose lease expired while it was paused finds the ledger moved and
  decides again, so two machines never both act, even when a lease was taken over.
- A shared archive that cannot be reached refuses a confirmed action (diagnosis goes on); the
  responder may override (`without_archive=True`, or RUNBOOK_ACT_WITHOUT_ARCHIVE=1), and the
  record says the guards were bypassed.
- Write-ahead: the attempt's intent goes into the ledger and the run's events before the call,
  its outcome after. A run killed in between (SIGKILL, `--deadline`) still shows the attempt:
  its record lists it as `unknown`.
- Unknown is not failed: a call sent without an answer seen (a read timeout, a reset) may have
  been done. Before acting again, a later run reconciles an unknown or intent-only attempt
  against the service (`Action.reconcile`): done there means done here, and it is not repeated;
  still unknown means refused, unless the responder says to act anyway
  (`act_despite_unknown=True`), which the record says.
- Every run, dry or real, refused or already done, is recorded in the session's record, with
  its outcome (done, failed, unknown, refused, dry run) and its actor.
"""

from __future__ import annotations

import contextlib
import getpass
import html
import os
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbook.archive import layout
from runbook.archive.store import LockHeld
from runbook.core import clock
from runbook.core.errors import (
    ActionRefused,
    ArchiveUnavailable,
    OutcomeUnknown,
    RunbookError,
)
from runbook.core.findings import Finding, Status, errored, failed, passed
from runbook.core.redaction import registry
from runbook.incident.log import IncidentLog
from runbook.sections.kit.display import COLOURS, ICONS
from runbook.sections.kit.session_protocol import SessionProtocol
from runbook.sections.kit.verification import Verification

__all__ = ["Action", "ActionResult", "Outcome", "Reconciliation", "StepLog", "run"]

# What a run of an action came to.
DRY_RUN = "dry_run"            # confirm was not given: planned and recorded, nothing done
SUCCEEDED = "succeeded"        # executed, and its verification passed
DONE_UNVERIFIED = "done_unverified"  # done at the provider, but its post-check failed: the
                               # service is still down. Done (never repeated as if it had
                               # failed), and no mitigation: the next sections come instead
FAILED = "failed"              # executed (or tried to), and it did not work
ALREADY_DONE = "already_done"  # succeeded earlier in this incident: not done again
BLOCKED = "blocked"            # planning found a reason it cannot be done (dirty tree, …)
REFUSED = "refused"            # another responder holds the lock, or an earlier attempt's
                               # outcome is unknown and nobody said to act anyway
UNKNOWN = "unknown"            # sent, but no answer was seen: it may have been done

# The design's outcomes, each status mapped to one.
OUTCOMES = {SUCCEEDED: "done", ALREADY_DONE: "done", DONE_UNVERIFIED: "done",
            FAILED: "failed", UNKNOWN: "unknown",
            BLOCKED: "refused", REFUSED: "refused", DRY_RUN: "dry_run"}

# The ledger's lines for one attempt, all carrying its `attempt` id: the intent (before the
# call), then its outcome, and later perhaps a reconciliation. A line without `phase` is an
# outcome (ledgers written before the intent existed).
INTENT = "intent"
RECONCILED = "reconciled"


class StepLog:
    """The timestamped steps of one execution: what was called, what came back, when.

    `sending` marks the call that changes production: from then on a failure without an
    answer is `unknown`, not failed. `answered` says the service answered it.
    """

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.sent = False
        self.answered_at = ""

    def step(self, text: str, **details: Any) -> dict[str, Any]:
        entry = {"at": clock.iso(clock.now()), "step": text, **details}
        self.steps.append(entry)
        return entry

    def sending(self, text: str, **details: Any) -> dict[str, Any]:
        """The step that sends the change; call it right before the call."""
        self.sent = True
        return self.step(text, **details)

    def answered(self, text: str, **details: Any) -> dict[str, Any]:
        """The service answered the change (accepted or refused it)."""
        self.answered_at = clock.iso(clock.now())
        return self.step(text, **details)


@dataclass(frozen=True)
class Reconciliation:
    """What the service's own state says of an attempt whose outcome was not seen."""

    done: bool | None     # True: it happened; None: still unknown
    evidence: str


@dataclass
class Outcome:
    """What an action's `execute` returns: whether it worked, and the evidence."""

    ok: bool                       # done at the provider (the post-check judges the rest)
    summary: str
    findings: list[Finding] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    done: str = ""                 # what was done, in words: "rolled back to 5e6f7a8b"


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
    # How a later run finds out whether an attempt with no outcome seen took effect: called
    # with that attempt's intent (its `at`, and the `witness` recorded with it).
    reconcile: Callable[[Mapping[str, Any]], Reconciliation] | None = None
    witness: Mapping[str, Any] = field(default_factory=dict)   # state before, for reconcile
    # The pre- and post-check of a mitigation (the opening signal's health); None: the
    # action's own outcome is all there is to judge (a message sent, a page opened).
    verification: Verification | None = None
    # Exactly what it acts on (the deployment rolled back to, the one restarted): a second
    # action of the same kind in the incident needs another aim and its short id typed.
    aim: str = ""
    # One line a person reads first: "roll back dealix from 1a2b3c4d to 5e6f7a8b". A dry
    # run prints it as "would …".
    headline: str = ""

    @property
    def aim_short(self) -> str:
        return short_id(self.aim)

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
    actor: str = ""                           # who ran it: the local user, or who clicked
    attempt: str = ""                         # the ledger's id of the attempt (executed runs)
    despite_unknown: list[str] = field(default_factory=list)  # unknown attempts overridden
    unknown: list[dict[str, Any]] = field(default_factory=list)  # attempts still unknown
    pre_check: dict[str, Any] | None = None   # the opening signal's health before the call
    post_check: dict[str, Any] | None = None  # … and after it, over the stabilisation window
    aim: str = ""
    done: str = ""                            # what the provider did, in words (not recorded)
    headline: str = ""                        # the action in one line ("roll back … to …")

    @property
    def verified(self) -> bool | None:
        """Whether the post-check held (None: there was none)."""
        return None if self.post_check is None else bool(self.post_check.get("ok"))

    @property
    def outcome(self) -> str:
        """done, failed, unknown, refused or dry_run (the design's outcomes)."""
        return OUTCOMES.get(self.status, self.status)

    @property
    def ok(self) -> bool:
        """True when the action is in effect (now or earlier) or was only planned."""
        return self.status in (SUCCEEDED, ALREADY_DONE, DRY_RUN)

    @property
    def executed(self) -> bool:
        return self.status in (SUCCEEDED, DONE_UNVERIFIED, FAILED, UNKNOWN)

    def to_record(self) -> dict[str, Any]:
        """The record's action shape: {name, dry_run, target, result, at, …}."""
        entry: dict[str, Any] = {
            "name": self.name, "dry_run": self.dry_run, "target": self.target,
            "result": self.summary, "status": self.status, "outcome": self.outcome,
            "at": self.at, "plan": self.plan, "actor": self.actor}
        if self.attempt:
            entry["attempt"] = self.attempt
        if self.aim:
            entry["aim"] = self.aim
        if self.headline:
            entry["headline"] = self.headline
        if self.pre_check is not None:
            entry["pre_check"] = self.pre_check
        if self.post_check is not None:
            entry["post_check"] = self.post_check
            entry["verified"] = self.verified
        if self.despite_unknown:
            entry["despite_unknown"] = list(self.despite_unknown)
        if self.unknown:
            entry["unknown_attempts"] = [_brief(e) for e in self.unknown]
        if self.details:
            entry["details"] = self.details
        if self.steps:
            entry["steps"] = self.steps
        if self.findings:
            entry["findings"] = [f.to_dict() for f in self.findings]
        if self.earlier is not None:
            entry["earlier"] = {k: self.earlier.get(k) for k in
                                ("at", "run", "holder", "result", "status", "attempt")
                                if k in self.earlier or k != "attempt"}
        return entry

    def __repr__(self) -> str:
        mark = {SUCCEEDED: "✓", FAILED: "✗", DRY_RUN: "·", ALREADY_DONE: "=",
                DONE_UNVERIFIED: "!",
                BLOCKED: "✗", UNKNOWN: "?", REFUSED: "✗"}.get(self.status, "?")
        lines = [f"{mark} {self.name} → {self.target}: {self.status.upper()}", self.summary]
        if self.status == DRY_RUN:
            if self.headline:
                lines.append(f"would {self.headline}")
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
                 DONE_UNVERIFIED: "DONE AT THE PROVIDER — the service is still not healthy",
                 FAILED: "FAILED", ALREADY_DONE: "ALREADY DONE — not repeated",
                 BLOCKED: "BLOCKED — not done",
                 UNKNOWN: "UNKNOWN — sent, no answer seen: it may have been done",
                 REFUSED: "REFUSED — not done"}.get(self.status, self.status)
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

def _ledger_key(rb: SessionProtocol) -> str:
    return layout.incident_key(rb.run.incident_id, layout.LEDGER)


def ledger(rb: SessionProtocol, name: str | None = None,
           target: str | None = None) -> list[dict[str, Any]]:
    """The incident's confirmed attempts, oldest first, optionally for one action/target:
    each attempt's outcome and any later reconciliation (not the intents written before the
    calls: `attempts` folds those in)."""
    return [entry for entry in _lines(rb, name, target) if entry.get("phase") != INTENT]


def _lines(rb: SessionProtocol, name: str | None, target: str | None) -> list[dict[str, Any]]:
    return _matching(rb.archive.store.read_lines(_ledger_key(rb)), name, target)


def _matching(lines: list[dict[str, Any]], name: str | None,
              target: str | None) -> list[dict[str, Any]]:
    return [entry for entry in lines
            if (name is None or entry.get("name") == name)
            and (target is None or entry.get("target") == target)]


def attempts(rb: SessionProtocol, name: str, target: str) -> list[dict[str, Any]]:
    """Each attempt of (name, target), oldest first, as its latest word: an intent with no
    outcome shows as `unknown` (its run stopped between the call and the ledger)."""
    return _folded(_lines(rb, name, target))


def _folded(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    folded: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for index, entry in enumerate(lines):
        attempt = str(entry.get("attempt") or f"line-{index}")
        if attempt not in folded:
            order.append(attempt)
        if entry.get("phase") == INTENT:
            folded[attempt] = {**entry, "status": UNKNOWN, "attempt": attempt,
                               "result": "the run stopped after the call was sent and before "
                                         "its outcome was written: it may have been done"}
        else:
            folded[attempt] = {**folded.get(attempt, {}), **entry, "attempt": attempt}
    return [folded[a] for a in order]


def unresolved(rb: SessionProtocol, name: str, target: str) -> list[dict[str, Any]]:
    """The attempts whose outcome is unknown, unless a later attempt acted despite them."""
    return _unresolved(_lines(rb, name, target))


def _unresolved(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    every = _folded(lines)
    overridden = {a for entry in every for a in entry.get("despite_unknown") or []}
    return [e for e in every if e.get("status") == UNKNOWN and e["attempt"] not in overridden]


def succeeded_before(rb: SessionProtocol, name: str, target: str) -> dict[str, Any] | None:
    """The ledger entry of the first success of (name, target) in this incident, if any."""
    return _succeeded(_lines(rb, name, target))


def _succeeded(lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first attempt done at the provider, verified or not: either way it is not done
    again as if it had failed."""
    return next((e for e in lines if e.get("phase") != INTENT
                 and e.get("status") in (SUCCEEDED, DONE_UNVERIFIED)), None)


def _of_aim(lines: list[dict[str, Any]], action: Action) -> list[dict[str, Any]]:
    return [e for e in lines if e.get("aim") == action.aim]


def short_id(aim: str) -> str:
    """A target's short id as a person types it: a deployment's or commit's first 8."""
    return aim.strip()[:8]


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return str(os.getuid())


def actor_of(rb: SessionProtocol) -> str:
    """Who acts: the session's actor when it names one (a Slack user), else the local user."""
    return str(getattr(rb, "actor", "") or local_user())


def holder_identity(rb: SessionProtocol) -> str:
    """Who runs this: user@host, pid, and the run (which names the notebook)."""
    return f"{local_user()}@{socket.gethostname()} pid {os.getpid()} ({rb.run.name})"


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


def _without_archive(flag: bool | None) -> bool:
    return bool(flag) if flag is not None else \
        os.environ.get(ENV_ACT_WITHOUT_ARCHIVE, "").lower() in ("1", "true", "yes")


ENV_ACT_WITHOUT_ARCHIVE = "RUNBOOK_ACT_WITHOUT_ARCHIVE"


# ---------------------------------------------------------------- the one entry point

def run(rb: SessionProtocol, action: Action, *, confirm: bool = False,
        report: bool = True, act_despite_unknown: bool = False,
        without_archive: bool | None = None, confirm_again: str = "") -> ActionResult:
    """Plan, or (with confirm=True) execute once, under the guards; always recorded.

    A second action of the same name in the incident is done only for another aim (another
    deployment…) and with that aim's short id typed as `confirm_again`; for the same aim the
    first one's result is returned (it is never repeated).

    Raises ActionRefused (after recording the refusal) when another run holds the lock.
    An earlier attempt whose outcome is unknown is first reconciled with the service; while
    it stays unknown the action is refused (recorded, not raised) unless
    `act_despite_unknown`. With `report`, the findings go into the session's findings too.
    """
    actor = actor_of(rb)
    try:
        earlier = succeeded_before(rb, action.name, action.target)
    except ArchiveUnavailable:
        earlier = None    # planning goes on; a confirmed run is decided under the guards
    if earlier is not None and _another_aim(action, earlier):
        second = _second_refusal(action, earlier, confirm_again, actor, dry_run=not confirm)
        if second is not None:
            return _finish(rb, second, report=False)
        # typed: what counts now is this aim's own success, if any (decided again under
        # the guards)
        try:
            earlier = _succeeded(_of_aim(_lines(rb, action.name, action.target), action))
        except ArchiveUnavailable:
            earlier = None
    if action.blocked and earlier is not None:
        # Planning again after a success often finds nothing left to do (the revert no longer
        # applies, the deployment moved on): what matters is that it was done.
        return _finish(rb, _already_done(action, earlier, dry_run=not confirm, actor=actor),
                       report=False)
    if action.blocked:
        result = _result(action, BLOCKED, not confirm, f"not done: {action.blocked}",
                         findings=list(action.findings), actor=actor)
        return _finish(rb, result, report)
    if not confirm:
        try:
            pending = [] if earlier else unresolved(rb, action.name, action.target)
        except ArchiveUnavailable:
            pending = []
        note = (f" (already done at {earlier.get('at')}: a confirmed run would not repeat it)"
                if earlier else f" ({_unknown_note(pending)}: a confirmed run reconciles it "
                "with the service first)" if pending else "")
        result = _result(action, DRY_RUN, True,
                         f"dry run: nothing was changed; pass confirm=True to do it{note}",
                         findings=list(action.findings), earlier=earlier, actor=actor,
                         unknown=pending)
        return _finish(rb, result, report)
    try:
        with held(rb, action.name, action.target) as lock:
            result = _guarded(rb, action, lock, actor, act_despite_unknown, confirm_again)
            if result.status in (ALREADY_DONE, REFUSED):
                return _finish(rb, result, report=report and result.status == REFUSED)
    except ArchiveUnavailable as exc:
        if not _without_archive(without_archive):
            refused = _result(action, REFUSED, False, (
                f"refused: the shared archive cannot be reached ({exc}), so no other responder "
                f"could see this {action.name} or be kept from repeating it. Diagnosis still "
                f"works. To act anyway, pass without_archive=True (or set "
                f"{ENV_ACT_WITHOUT_ARCHIVE}=1): the record will say the guards were bypassed"),
                actor=actor)
            rb.record_action(refused.to_record())
            raise ActionRefused(refused.summary) from None
        result = _execute(action)
        result.actor = actor
        result.details["guards"] = (f"bypassed: the shared archive could not be reached ({exc}); "
                                    "executed without its lock, claim or ledger by override")
    except ActionRefused as exc:
        refused = _result(action, REFUSED, False, str(exc), actor=actor)
        rb.record_action(refused.to_record())
        raise
    return _finish(rb, result, report)


def _guarded(rb: SessionProtocol, action: Action, lock: dict[str, Any], actor: str,
             act_despite_unknown: bool, confirm_again: str = "") -> ActionResult:
    """Under the lock: already done, reconciled, refused while unknown, or executed with the
    intent written ahead and the outcome after.

    The intent is the attempt's claim, written only if the ledger is still the version every
    decision here was taken on (If-Match on a bucket). A holder paused past its lease, whose
    lock another responder took meanwhile, finds the ledger moved: it decides again on what
    the other did (already done, or still unknown) instead of acting a second time."""
    for _ in range(CLAIM_ROUNDS):
        seen = rb.archive.store.read_versioned(_ledger_key(rb))
        decided = _decide(rb, action, _matching(seen.lines, action.name, action.target),
                          lock, actor, act_despite_unknown, confirm_again)
        if isinstance(decided, ActionResult):
            return decided
        despite = decided
        attempt_id = secrets.token_hex(8)
        intent = registry().redact_obj({
            "phase": INTENT, "attempt": attempt_id, "name": action.name,
            "target": action.target, "at": clock.iso(clock.now()), "holder": lock["holder"],
            "actor": actor, "run": rb.run.name, "plan": action.plan,
            "details": dict(action.details), "witness": dict(action.witness),
            **({"aim": action.aim} if action.aim else {}),
            **({"despite_unknown": despite} if despite else {})})
        # Write-ahead: the ledger and the run's events know of the attempt before the call.
        if rb.archive.store.append_if(_ledger_key(rb), intent, seen):
            break
    else:
        raise ActionRefused(f"{action.name} on {action.target} was not started: the incident's "
                            f"ledger changed {CLAIM_ROUNDS} times while this run decided. Run "
                            "again: a success is not repeated, its result is shown")
    _log(rb, "action.intent", intent)
    rb.archive.append_event(rb.run, {"type": "action_intent", "at": intent["at"],
                                     "intent": {k: v for k, v in intent.items()
                                                if k != "witness"}})
    result = _execute(action)
    result.actor, result.attempt, result.despite_unknown = actor, attempt_id, despite
    if despite:
        result.steps.insert(0, {"at": intent["at"], "step": "acting despite the unknown "
                                f"outcome of {', '.join(despite)}, as the responder said"})
    outcome = registry().redact_obj({**result.to_record(), "holder": lock["holder"],
                                     "run": rb.run.name})
    try:
        rb.archive.store.append(_ledger_key(rb), outcome)
        _log(rb, "action.outcome", outcome)
    except ArchiveUnavailable as exc:   # done, but the shared ledger missed it
        result.details["ledger"] = f"not written: {exc}"
    return result


# How often the ledger may move under a run deciding before it gives up (each round is a
# read, and a conditional append that lost to another writer of the incident's ledger).
CLAIM_ROUNDS = 50


def _decide(rb: SessionProtocol, action: Action, lines: list[dict[str, Any]],
            lock: dict[str, Any], actor: str,
            act_despite_unknown: bool, confirm_again: str = "") -> ActionResult | list[str]:
    """On the ledger's lines for the action as read: the result when it is not to be done
    (already done, reconciled as done, refused while unknown, a second one not typed), else
    the unknown attempts acted despite (for the intent)."""
    earlier = _succeeded(lines)
    if earlier is not None and _another_aim(action, earlier):
        second = _second_refusal(action, earlier, confirm_again, actor, dry_run=False)
        if second is not None:
            return second
        # another target, its short id typed: only this aim's attempts count, and a
        # success of this aim is still never repeated
        lines = _of_aim(lines, action)
        earlier = _succeeded(lines)
    if earlier is not None:
        # The earlier findings were reported by the run that made them.
        return _already_done(action, earlier, dry_run=False, actor=actor)
    still: list[dict[str, Any]] = []
    for attempt in _unresolved(lines):
        found = _reconcile(action, attempt)
        if found.done:
            entry = registry().redact_obj({
                "phase": RECONCILED, "attempt": attempt["attempt"], "name": action.name,
                "target": action.target, "status": SUCCEEDED, "outcome": "done",
                "at": clock.iso(clock.now()), "attempted_at": attempt.get("at"),
                "holder": lock["holder"], "actor": actor, "run": rb.run.name,
                "result": f"reconciled: {found.evidence}"})
            rb.archive.store.append(_ledger_key(rb), entry)
            _log(rb, "action.outcome", entry)
            done = _already_done(action, {**attempt, **entry, "at": attempt.get("at"),
                                          "holder": attempt.get("holder")},
                                 dry_run=False, actor=actor)
            done.steps.append({"at": entry["at"], "step": f"reconciled attempt "
                               f"{attempt['attempt']}: {found.evidence}"})
            return done
        still.append({**attempt, "reconcile": found.evidence})
    if still and not act_despite_unknown:
        finding = errored(f"{action.name}.unknown", f"{action.name} on {action.target} not "
                          f"done again: {_unknown_note(still)}, and "
                          f"{still[-1]['reconcile']}. Check the service yourself; to act "
                          "anyway, run again with act_despite_unknown=True",
                          attempts=[a["attempt"] for a in still])
        return _result(action, REFUSED, False, finding.summary, findings=[finding],
                       actor=actor, unknown=still)
    return [str(a["attempt"]) for a in still]


def _another_aim(action: Action, earlier: Mapping[str, Any]) -> bool:
    """The earlier success acted on something else than this action would (both known)."""
    return bool(action.aim) and bool(earlier.get("aim")) and earlier.get("aim") != action.aim


def _second_refusal(action: Action, earlier: Mapping[str, Any], typed: str, actor: str,
                    dry_run: bool) -> ActionResult | None:
    """None when the second action of the kind may go ahead (its short id typed); else the
    refusal (or, for a dry run, the plan) saying what to type."""
    wanted = action.aim_short
    if typed.strip() and typed.strip() == wanted and not dry_run:
        return None
    what = (f"{action.name} was already done in this incident at {earlier.get('at')} "
            f"({earlier.get('result')}). A second one, on {wanted}, is done only when its short "
            f"id is typed to confirm it (confirm_again = \"{wanted}\")")
    if dry_run:
        return _result(action, DRY_RUN, True, f"dry run: nothing was changed; {what}",
                       earlier=dict(earlier), actor=actor)
    mismatch = f" (typed {typed.strip()!r})" if typed.strip() else ""
    return _result(action, REFUSED, False, f"not done: {what}{mismatch}",
                   earlier=dict(earlier), actor=actor)


def _log(rb: SessionProtocol, kind: str, entry: Mapping[str, Any]) -> None:
    """The attempt in the incident's log, as the ledger has it: the log is what every view
    reads; the ledger is the guard's own working copy."""
    body = {"name": entry.get("name"), "target": entry.get("target"),
            "attempt": entry.get("attempt") or "", "run": rb.run.name,
            "plan": entry.get("plan") or ""}
    if entry.get("aim"):
        body["aim"] = entry.get("aim")
    if kind == "action.outcome":
        body.update(outcome=entry.get("outcome") or "unknown",
                    dry_run=bool(entry.get("dry_run")),
                    result=str(entry.get("result") or "")[:500])
        if isinstance(entry.get("verified"), bool):
            body["verified"] = entry["verified"]
    IncidentLog(rb.archive, rb.run.incident_id).append(
        kind, body, at=clock.parse_iso(str(entry.get("at"))) if entry.get("at") else None,
        actor=str(entry.get("actor") or ""))


def _reconcile(action: Action, attempt: Mapping[str, Any]) -> Reconciliation:
    if action.reconcile is None:
        return Reconciliation(None, f"there is no way to ask the service whether "
                              f"{action.name} took effect")
    try:
        return action.reconcile(attempt)
    except RunbookError as exc:
        return Reconciliation(None, f"the service could not be asked: {exc}")


def _unknown_note(pending: Sequence[Mapping[str, Any]]) -> str:
    last = pending[-1]
    return (f"the outcome of {len(pending)} earlier attempt{'s' if len(pending) > 1 else ''} "
            f"is unknown (the last at {last.get('at')} by {last.get('holder')}, run "
            f"{last.get('run')})")


def _brief(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: entry.get(k) for k in ("attempt", "at", "holder", "run", "result", "reconcile")
            if entry.get(k) is not None}


def _execute(action: Action) -> ActionResult:
    log = StepLog()
    pre = action.verification.pre() if action.verification is not None else None
    if pre is not None:
        log.step(f"pre-check: {pre.summary}", ok=pre.ok)
    log.step(f"start {action.name} on {action.target}")
    result = _call(action, log)
    result.aim = action.aim
    if pre is not None:
        result.pre_check = pre.to_record()
    if result.status == SUCCEEDED and action.verification is not None:
        _post_check(action, action.verification, result)
    return result


def _post_check(action: Action, verification: Verification, result: ActionResult) -> None:
    """Done at the provider: the mitigation counts only if the opening signal's health holds
    for the stabilisation window. If it does not, the action is still done (never called
    failed, never repeated as if it had failed), and the record says the service is not."""
    post = verification.post()
    result.post_check = post.to_record()
    result.steps.append({"at": post.at, "step": f"post-check: {post.summary}", "ok": post.ok})
    if post.finding is not None:
        result.findings.append(post.finding)
    if post.ok:
        result.summary = f"{result.summary}; {post.summary}"
        return
    done = result.done or result.summary
    result.status = DONE_UNVERIFIED
    result.summary = f"{done}, service still {post.state}"
    # The provider did it: the action's own finding is not a failure; the health is.
    result.findings = [passed(action.name, f"{done} at the provider; the service is still "
                              f"{post.state}", target=action.target),
                       *[f for f in result.findings if f.code != action.name]]


def _call(action: Action, log: StepLog) -> ActionResult:
    try:
        outcome = action.execute(log)
    except RunbookError as exc:
        if _outcome_unseen(log, exc):
            return _unknown(action, log, exc)
        log.step(f"stopped: {exc}")
        finding = errored(action.name, f"{action.name} did not complete: {exc}",
                          error=type(exc).__name__)
        return _result(action, FAILED, False, str(exc), findings=[finding], steps=log.steps)
    except Exception as exc:  # noqa: BLE001 - a failed action must be recorded, not lost
        if log.answered_at:
            return _unknown(action, log, exc)
        log.step(f"stopped by an unexpected error: {type(exc).__name__}")
        finding = errored(action.name, f"{action.name} failed unexpectedly: "
                          f"{type(exc).__name__}: {exc}", error=type(exc).__name__)
        return _result(action, FAILED, False, f"{type(exc).__name__}: {exc}",
                       findings=[finding], steps=log.steps)
    steps = [*log.steps, *outcome.steps]
    verdict = (passed(action.name, outcome.summary, target=action.target) if outcome.ok else
               failed(action.name, outcome.summary, target=action.target))
    result = _result(action, SUCCEEDED if outcome.ok else FAILED, False, outcome.summary,
                     findings=[verdict, *outcome.findings], steps=steps,
                     details={**action.details, **outcome.details})
    result.done = outcome.done
    return result


def _outcome_unseen(log: StepLog, exc: RunbookError) -> bool:
    """Sent with no answer seen, or answered and then lost while following it up."""
    return bool(log.answered_at) or (log.sent and isinstance(exc, OutcomeUnknown))


def _unknown(action: Action, log: StepLog, exc: BaseException) -> ActionResult:
    if log.answered_at:
        why = (f"the service accepted the call at {log.answered_at}, then following it up "
               f"failed: {exc}")
    else:
        why = f"the call was sent but no answer was seen: {exc}"
    log.step(f"outcome unknown: {why}")
    finding = errored(f"{action.name}.unknown", f"{action.name} on {action.target}: outcome "
                      f"unknown — {why}. It may have been done: a later run checks the "
                      "service before acting again", error=type(exc).__name__)
    return _result(action, UNKNOWN, False, f"outcome unknown: {why}", findings=[finding],
                   steps=log.steps)


def _already_done(action: Action, earlier: dict[str, Any], dry_run: bool,
                  actor: str = "") -> ActionResult:
    return _result(action, ALREADY_DONE, dry_run,
                   f"already done at {earlier.get('at')} by {earlier.get('holder')}: "
                   f"{earlier.get('result')}; not repeated", earlier=earlier,
                   findings=_findings_of(earlier), steps=list(earlier.get("steps") or []),
                   actor=actor)


def _findings_of(entry: Mapping[str, Any]) -> list[Finding]:
    found = entry.get("findings") or []
    return [Finding.from_dict(f) for f in found if isinstance(f, dict) and "code" in f]


def _result(action: Action, status: str, dry_run: bool, summary: str, *,
            findings: list[Finding] | None = None, steps: list[dict[str, Any]] | None = None,
            details: Mapping[str, Any] | None = None,
            earlier: dict[str, Any] | None = None, actor: str = "",
            unknown: list[dict[str, Any]] | None = None) -> ActionResult:
    return ActionResult(action.name, action.target, status, dry_run, summary, action.plan,
                        clock.iso(clock.now()), list(findings or []), list(steps or []),
                        dict(details if details is not None else action.details), earlier,
                        actor=actor, unknown=list(unknown or []), aim=action.aim,
                        headline=action.headline)


def _finish(rb: SessionProtocol, result: ActionResult, report: bool) -> ActionResult:
    rb.record_action(result.to_record())
    if report and result.findings:
        rb.report(result.findings, title=f"{result.name} → {result.target}")
    return result
