"""The closed set of things that happen to an incident: each kind a stable name, a version and
the body fields it must carry. A line of the log (`<incident>/log.jsonl`) is

    {"seq": 7, "kind": "alert.received", "v": 1, "at": "…Z", "actor": "uptimerobot",
     "body": {…}, "prev": "…", "scheme": "sha256-line-v1", "hash": "…"}

`at` is when it happened (an alert's own time, a person's declared time), which may be before
the line was written; the fold orders milestones by it, never by the line's place. A kind that
is not in `KINDS` stops the read, naming the file and line: an unknown event silently skipped
would be a state silently wrong. Never a Python path in a line: a moved class must not break a
record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbook.core import clock
from runbook.core.errors import RunbookError


@dataclass(frozen=True)
class Kind:
    name: str
    version: int
    required: tuple[str, ...]
    meaning: str


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("incident.opened", 1, ("service",), "the incident was opened (by an alert, a run or a "
         "person); `drill` says a drill opened it, `scenario` which one"),
    Kind("alert.received", 1, ("signal",), "a monitor or Sentry said something is wrong; "
         "`down_since` is when the monitor saw it start"),
    Kind("signal.recovered", 1, ("signal",), "a monitor or Sentry said its signal recovered"),
    Kind("check.observed", 1, ("ok",), "a health check of the opening signal passed or failed"),
    Kind("run.started", 1, ("run", "notebook"), "a notebook run started"),
    Kind("run.sealed", 1, ("run", "notebook", "status"), "a run's record was sealed"),
    Kind("run.aborted", 1, ("run", "notebook", "status"), "a run ended with no diagnosis "
         "(abandoned, interrupted)"),
    Kind("finding.observed", 1, ("code", "status"), "a run's finding that is not a pass"),
    Kind("plan.offered", 1, ("plan_id",), "an action offered as a Slack button"),
    Kind("press", 1, ("plan_id",), "a Slack button pressed, by whom, and what came of it"),
    Kind("action.intent", 1, ("name", "target"), "a confirmed action is about to be called"),
    Kind("action.outcome", 1, ("name", "target", "outcome"), "what came of an action: done, "
         "failed, unknown, refused, dry_run"),
    Kind("message.posted", 1, ("channel",), "a message about the incident was posted"),
    Kind("notice", 1, (), "something about the tooling's own work for the incident (a Slack "
         "post that failed)"),
    Kind("milestone.set", 1, ("milestone",), "a person set a milestone: declared, "
         "acknowledged, mitigated, resolved"),
    Kind("postmortem.saved", 1, ("edits", "missing"), "a person's part of the postmortem "
         "(root cause, action items, lessons) as saved, and the required fields still empty "
         "or a prompt"),
    Kind("page.sent", 1, ("responder", "via", "step"), "nobody acknowledged in time: the next "
         "responder was paged (`via` slack: a mention; email: through the configured SMTP), "
         "with `ok` and the error when it did not get through"),
    Kind("flap.noticed", 1, ("signal",), "a signal found flapping: one notice was posted, and "
         "its alerts only update the log until it is stable"),
    Kind("status.update", 1, ("stage",), "a public status update: `drafted` (posted to Slack "
         "with a Publish button), `published` (at Statuspage), `failed`, or `reminded` (the "
         "last published update is older than the cadence)"),
)}

MILESTONES = ("declared", "acknowledged", "mitigated", "resolved")


class LogError(RunbookError):
    """A log line that cannot be read as an event (exit 3 from verify, named by file and line)."""


@dataclass(frozen=True)
class Event:
    kind: str
    at: datetime
    body: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    seq: int = 0              # 0: not from the log (upcast from an older archive's files)
    hash: str = ""
    version: int = 1

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)


def payload(kind: str, body: dict[str, Any], at: datetime, actor: str = "") -> dict[str, Any]:
    """What a line says of an event before the log chains it; ValueError for a kind or body
    the log does not take (a programming error, never a responder's)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"{kind!r} is not an incident event kind")
    missing = [name for name in spec.required if name not in body]
    if missing:
        raise ValueError(f"a {kind} event needs {', '.join(missing)}")
    if kind == "milestone.set" and body["milestone"] not in MILESTONES:
        raise ValueError(f"milestone {body['milestone']!r} is not one of {', '.join(MILESTONES)}")
    return {"kind": kind, "v": spec.version, "at": clock.iso(at),
            "logged_at": clock.iso(clock.now()), "actor": actor, "body": body}


def decode(line: dict[str, Any], where: str) -> Event:
    """One line of the log as an event; LogError naming `where` (file and line) otherwise."""
    kind = line.get("kind")
    spec = KINDS.get(str(kind))
    if spec is None:
        raise LogError(f"{where}: unknown event kind {kind!r}: this log was written by a newer "
                       "version of runbook, or edited")
    version = line.get("v")
    if not isinstance(version, int) or not 1 <= version <= spec.version:
        raise LogError(f"{where}: {kind} version {version!r} is not one this runbook reads")
    body = line.get("body")
    if not isinstance(body, dict):
        raise LogError(f"{where}: a {kind} event without a body")
    try:
        at = clock.parse_iso(str(line.get("at")))
    except ValueError:
        raise LogError(f"{where}: {kind} has no readable time ({line.get('at')!r})") from None
    return Event(kind=str(kind), at=at, body=body, actor=str(line.get("actor") or ""),
                 seq=int(line.get("seq") or 0), hash=str(line.get("hash") or ""),
                 version=version)
