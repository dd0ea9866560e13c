"""An incident's state: a pure fold of its events. Every view reads this, none recomputes it.

One `apply` per event kind, from one table; `fold(incident_id, events, now)` is the loop. The
windows (stabilisation, reopen) are judged against `now`, passed in, never read from a clock.

The clock:
- `started_at`, the impact's start, is the earliest of the alerting monitor's down-since, the
  first failing observation of any run (with the evidence it carries: UptimeRobot's
  `down_since`, a spike's start…), and a start a person declared;
- `detected_at` is when the first alert arrived, or when a person or a run opened it;
- TTD = detected − started; TTA = acknowledged − detected; TTM = mitigated − started;
  TTR = resolved − started.

The states, open → mitigated → resolved (and back to open when the opening signal alerts again
within the reopen window), are a table (`TRANSITIONS`), not ifs. The incident closes only for
its own signal: the one that opened it recovers *and* a health check passes after that, or a
person resolves it. Any other recovery is kept as an event and closes nothing. It is mitigated
once, after an action was done, health checks pass for the stabilisation window with no
failure in between, or when a person says so. A health check is a `check.observed` event, or a
run's finding of a code the catalogue marks as the service's health.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook.core import clock, impact
from runbook.core.severity import SEVERITIES
from runbook.incident import codes
from runbook.incident.events import Event

STABILISATION = timedelta(minutes=2)
REOPEN_WINDOW = timedelta(minutes=30)
FLAP_COUNT = 4                       # a signal changing more often than this …
FLAP_WINDOW = timedelta(minutes=15)  # … within this is flapping, until it is still this long
OPEN, MITIGATED, RESOLVED = "open", "mitigated", "resolved"
# (state, what happened) → the new state; anything not here leaves the state as it is.
TRANSITIONS: dict[tuple[str, str], str] = {
    (OPEN, "mitigated"): MITIGATED,
    (OPEN, "resolved"): RESOLVED,
    (MITIGATED, "resolved"): RESOLVED,
    (MITIGATED, "relapsed"): OPEN,
    (RESOLVED, "reopened"): OPEN,
}


@dataclass(frozen=True)
class ActionState:
    name: str
    target: str
    state: str                   # intent (no outcome yet: unknown), done, failed, refused…
    attempt: str = ""
    actor: str = ""
    run: str = ""
    dry_run: bool = False
    intent_at: datetime | None = None
    outcome_at: datetime | None = None
    # The post-check: did the opening signal's health hold after the provider did it? None:
    # no post-check was recorded (a dry run, a failure, an older log).
    verified: bool | None = None
    aim: str = ""                # what exactly it acted on (the deployment rolled back to…)
    result: str = ""             # what came of it, in words ("rolled back to X, still 502")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "target": self.target, "state": self.state,
                "attempt": self.attempt, "actor": self.actor, "run": self.run,
                "dry_run": self.dry_run, "verified": self.verified, "aim": self.aim,
                "result": self.result,
                "intent_at": clock.iso(self.intent_at) if self.intent_at else None,
                "outcome_at": clock.iso(self.outcome_at) if self.outcome_at else None}


@dataclass(frozen=True)
class Incident:
    id: str
    service: str = ""
    drill: bool = False
    scenario: str = ""                     # the drill's scenario ("" for an incident)
    state: str = OPEN
    opened_by: str = ""
    opened_at: datetime | None = None
    signal: str = ""                       # the signal that opened it ("" for a person/run)
    severity: str | None = None            # the latest rating of a run
    peak_severity: str | None = None
    started_at: datetime | None = None
    start_source: str = ""                 # what says the impact began then
    detected_at: datetime | None = None
    detected_by: str = ""
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    reopened: int = 0
    last_alert_at: datetime | None = None
    recovered_at: datetime | None = None   # the opening signal's last recovery
    actions: tuple[ActionState, ...] = ()
    failing: dict[str, dict[str, Any]] = field(default_factory=dict)  # code → newest finding
    # code → its first failing observation (with `at`), kept after it passes: what was seen
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the last `postmortem.saved`: {"at", "actor", "edits", "missing", "draft"}; None: never
    postmortem: dict[str, Any] | None = None
    runs: tuple[dict[str, Any], ...] = ()
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: tuple[tuple[datetime, bool], ...] = ()
    events: int = 0
    chain_head: str = ""
    notes: tuple[tuple[datetime, str, str], ...] = ()      # (at, milestone, note)
    declared_start: datetime | None = None
    starts: tuple[impact.ImpactStart, ...] = ()
    reopen_window: timedelta = REOPEN_WINDOW
    # On call: every acknowledgement (at, who), in the log's order; the first is TTA's.
    acks: tuple[tuple[datetime, str], ...] = ()
    pages: tuple[dict[str, Any], ...] = ()              # each escalation step's Slack page
    emails: tuple[dict[str, Any], ...] = ()             # each escalation step's email
    changes: tuple[tuple[datetime, str, bool], ...] = ()   # (at, signal, down): each change
    flapping: dict[str, datetime] = field(default_factory=dict)   # signal → flapping since
    flap_noticed: dict[str, datetime] = field(default_factory=dict)  # signal → last notice
    status_updates: tuple[dict[str, Any], ...] = ()     # drafted, published, reminded…

    @property
    def acknowledged_now_by(self) -> str:
        """Who holds the incident: the latest to acknowledge it ("" before anyone did)."""
        return self.acks[-1][1] if self.acks else ""

    @property
    def last_published(self) -> dict[str, Any] | None:
        """The newest status update published at Statuspage, with its `statuspage_id`."""
        published = [u for u in self.status_updates if u.get("stage") == "published"]
        return published[-1] if published else None

    @property
    def is_open(self) -> bool:
        return self.state != RESOLVED

    def time_to(self, milestone: str) -> timedelta | None:
        """TTD, TTA, TTM, TTR by name: detect, acknowledge, mitigate, resolve."""
        pairs = {"detect": (self.started_at, self.detected_at),
                 "acknowledge": (self.detected_at, self.acknowledged_at),
                 "mitigate": (self.started_at, self.mitigated_at),
                 "resolve": (self.started_at, self.resolved_at)}
        begin, end = pairs[milestone]
        return end - begin if begin and end else None


Apply = Callable[[Incident, Event], Incident]


def _is_health(code: str) -> bool:
    """A finding of the service's own health (the catalogue says which): a health check."""
    row = codes.lookup(code)
    return row is not None and row.health


def _worse(a: str | None, b: str | None) -> str | None:
    known = [s for s in (a, b) if s in SEVERITIES]
    return min(known) if known else None


def _with_start(state: Incident, start: impact.ImpactStart) -> Incident:
    starts = (*state.starts, start)
    earliest = min(starts, key=lambda s: s.at)
    return dataclasses.replace(state, starts=starts, started_at=earliest.at,
                               start_source=earliest.source)


def _detect(state: Incident, event: Event, by: str) -> Incident:
    if state.detected_at is not None and state.detected_at <= event.at:
        return state
    return dataclasses.replace(state, detected_at=event.at, detected_by=by)


def _move(state: Incident, what: str, at: datetime) -> Incident:
    new = TRANSITIONS.get((state.state, what))
    if new is None:
        return state
    changes: dict[str, Any] = {"state": new}
    if new == MITIGATED:
        changes["mitigated_at"] = at
    elif new == RESOLVED:
        changes["resolved_at"] = at
        changes["mitigated_at"] = state.mitigated_at or at
    elif what == "reopened":
        changes.update(resolved_at=None, reopened=state.reopened + 1)
    elif what == "relapsed":
        changes["mitigated_at"] = None
    return dataclasses.replace(state, **changes)


# ---------------------------------------------------------------- one apply per kind

def _opened(state: Incident, event: Event) -> Incident:
    state = dataclasses.replace(
        state, service=str(event.get("service") or state.service),
        drill=bool(event.get("drill", state.drill)), opened_by=str(event.get("opened_by", "")),
        scenario=str(event.get("scenario") or state.scenario),
        opened_at=state.opened_at or event.at,
        signal=state.signal or str(event.get("signal") or ""))
    by = str(event.get("opened_by", ""))
    return state if by.startswith("alert") else _detect(state, event, by or "opened")


def _changed(state: Incident, event: Event, down: bool) -> Incident:
    """A signal's change of state (down, or up), kept for flapping; the same state again is
    no change."""
    signal = str(event.get("signal"))
    previous = [c for c in state.changes if c[1] == signal]
    if previous and previous[-1][2] == down:
        return state
    return dataclasses.replace(state, changes=(*state.changes, (event.at, signal, down)))


def _alert(state: Incident, event: Event) -> Incident:
    signal = str(event.get("signal"))
    state = _changed(state, event, True)
    state = dataclasses.replace(state, signal=state.signal or signal, last_alert_at=event.at)
    if signal == state.signal:     # down again: an earlier recovery no longer counts
        state = dataclasses.replace(state, recovered_at=None)
    state = _detect(state, event, f"alert {signal}")
    down_since = clock.moment_or_none(event.get("down_since"))
    if down_since is not None:
        state = _with_start(state, impact.ImpactStart(down_since, f"{signal} down since"))
    if signal == state.signal and state.state == RESOLVED and state.resolved_at and \
            event.at - state.resolved_at <= state.reopen_window:
        state = _move(state, "reopened", event.at)
    return state


def _recovered(state: Incident, event: Event) -> Incident:
    state = _changed(state, event, False)
    if str(event.get("signal")) != state.signal:
        return state          # another monitor's recovery: kept in the log, closes nothing
    return dataclasses.replace(state, recovered_at=event.at)


def _checked(state: Incident, event: Event) -> Incident:
    return _after_check(state, event.at, bool(event.get("ok")))


def _after_check(state: Incident, at: datetime, ok: bool) -> Incident:
    state = dataclasses.replace(state, checks=(*state.checks, (at, ok)))
    if not ok and state.state == MITIGATED:
        return _move(state, "relapsed", at)
    if ok and state.recovered_at is not None and at >= state.recovered_at:
        return _move(state, "resolved", at)
    return state


def _run_started(state: Incident, event: Event) -> Incident:
    return state


def _finding(state: Incident, event: Event) -> Incident:
    code, status = str(event.get("code")), str(event.get("status"))
    finding = {"code": code, "status": status, "summary": event.get("summary", ""),
               "evidence": event.get("evidence") or {}}
    failing = dict(state.failing)
    if status == "fail":
        failing[code] = finding
        if code not in state.observed:
            state = dataclasses.replace(state, observed={
                **state.observed, code: {**finding, "at": event.at,
                                         "run": str(event.get("run") or "")}})
        for start in impact.evidence_of(finding, event.at):
            state = _with_start(state, start)
    state = dataclasses.replace(state, failing=failing)
    if status == "fail" and _is_health(code):
        state = _after_check(state, event.at, False)
    return state


def _sealed(state: Incident, event: Event) -> Incident:
    passed = [str(code) for code in event.get("passed") or []]
    failing = {code: f for code, f in state.failing.items() if code not in passed}
    severity = event.get("severity")
    run = {"run": event.get("run"), "notebook": event.get("notebook"),
           "status": event.get("status"), "severity": severity, "at": event.at,
           "record_sha256": event.get("record_sha256")}
    state = dataclasses.replace(
        state, failing=failing, runs=(*state.runs, run),
        severity=severity if severity in SEVERITIES else state.severity,
        peak_severity=_worse(state.peak_severity, severity))
    if any(_is_health(code) for code in passed):
        state = _after_check(state, event.at, True)
    return state


def _aborted(state: Incident, event: Event) -> Incident:
    run = {"run": event.get("run"), "notebook": event.get("notebook"),
           "status": event.get("status"), "severity": None, "at": event.at}
    return dataclasses.replace(state, runs=(*state.runs, run))


def _plan(state: Incident, event: Event) -> Incident:
    return dataclasses.replace(state, plans={**state.plans, str(event.get("plan_id")):
                                             dict(event.body)})


def _keep(state: Incident, event: Event) -> Incident:
    return state


def _action_key(event: Event) -> tuple[str, str, str]:
    return (str(event.get("name")), str(event.get("target")), str(event.get("attempt") or ""))


def _intent(state: Incident, event: Event) -> Incident:
    action = ActionState(str(event.get("name")), str(event.get("target")), "unknown",
                         str(event.get("attempt") or ""), event.actor, str(event.get("run", "")),
                         intent_at=event.at)
    return dataclasses.replace(state, actions=(*state.actions, action))


def _outcome(state: Incident, event: Event) -> Incident:
    key = _action_key(event)
    outcome = str(event.get("outcome"))
    dry = bool(event.get("dry_run")) or outcome == "dry_run"
    actions = list(state.actions)
    given = event.get("verified")
    verified = given if isinstance(given, bool) else None
    aim, result = str(event.get("aim") or ""), str(event.get("result") or "")
    for index in range(len(actions) - 1, -1, -1):
        a = actions[index]
        if (a.name, a.target, a.attempt) == key and a.outcome_at is None:
            actions[index] = dataclasses.replace(a, state=outcome, outcome_at=event.at,
                                                 dry_run=dry, verified=verified, aim=aim,
                                                 result=result)
            break
    else:
        actions.append(ActionState(key[0], key[1], outcome, key[2], event.actor,
                                   str(event.get("run", "")), dry, outcome_at=event.at,
                                   verified=verified, aim=aim, result=result))
    return dataclasses.replace(state, actions=tuple(actions))


def _milestone(state: Incident, event: Event) -> Incident:
    name, note = str(event.get("milestone")), str(event.get("note") or "")
    state = dataclasses.replace(state, notes=(*state.notes, (event.at, name, note)))
    if name == "declared":
        state = _detect(state, event, f"declared by {event.actor or 'a person'}")
        start = clock.moment_or_none(event.get("start"))
        if start is None:
            return state
        return dataclasses.replace(_with_start(state, impact.ImpactStart(
            start, "the declared start", corrected=True)), declared_start=start)
    if name == "acknowledged":
        who = event.actor or str(event.get("responder") or "a person")
        state = dataclasses.replace(state, acks=(*state.acks, (event.at, who)))
        if state.acknowledged_at is None:
            state = dataclasses.replace(state, acknowledged_at=event.at,
                                        acknowledged_by=event.actor)
        return state
    return _move(state, name, event.at)


def _paged(state: Incident, event: Event) -> Incident:
    page = {**event.body, "at": event.at}
    if event.get("via") == "email":
        return dataclasses.replace(state, emails=(*state.emails, page))
    return dataclasses.replace(state, pages=(*state.pages, page))


def _flap_noticed(state: Incident, event: Event) -> Incident:
    return dataclasses.replace(state, flap_noticed={**state.flap_noticed,
                                                    str(event.get("signal")): event.at})


def _status(state: Incident, event: Event) -> Incident:
    return dataclasses.replace(state, status_updates=(*state.status_updates,
                                                      {**event.body, "at": event.at}))


def _postmortem_saved(state: Incident, event: Event) -> Incident:
    return dataclasses.replace(state, postmortem={
        "at": event.at, "actor": event.actor, "edits": event.get("edits") or {},
        "missing": [str(m) for m in event.get("missing") or []],
        "draft": str(event.get("draft") or "")})


APPLY: dict[str, Apply] = {
    "incident.opened": _opened, "alert.received": _alert, "signal.recovered": _recovered,
    "check.observed": _checked, "run.started": _run_started, "run.sealed": _sealed,
    "run.aborted": _aborted, "finding.observed": _finding, "plan.offered": _plan,
    "press": _keep, "action.intent": _intent, "action.outcome": _outcome,
    "message.posted": _keep, "notice": _keep, "milestone.set": _milestone,
    "postmortem.saved": _postmortem_saved,
    "page.sent": _paged, "flap.noticed": _flap_noticed, "status.update": _status,
}


def _flapping(state: Incident, now: datetime, count: int,
              window: timedelta) -> dict[str, datetime]:
    """Each signal that changed (down, up) more than `count` times within `window`, and has
    not since been still for `window`: since when it flaps."""
    flapping: dict[str, datetime] = {}
    for signal in dict.fromkeys(c[1] for c in state.changes):
        times = sorted(c[0] for c in state.changes if c[1] == signal)
        since: datetime | None = None
        for index, at in enumerate(times):
            if since is not None and at - times[index - 1] >= window:
                since = None          # it was still for a window: that episode ended
            recent = [t for t in times[:index + 1] if at - t < window]
            if since is None and len(recent) > count:
                since = at
        if since is not None and times and now - times[-1] < window:
            flapping[signal] = since
    return flapping


def _verified_mitigation(state: Incident, now: datetime,
                         window: timedelta) -> Incident:
    """Mitigated once an action was done and the health checks after it pass for `window`
    with no failure in between (judged at `now` when the last check is still passing). The
    checks count from the action's intent: its post-checks run between the call and the
    outcome line, and the pre-check before the intent does not count."""
    if state.state != OPEN:
        return state
    # An action whose own post-checks held for the window configured where it ran says so in
    # its outcome (`verified`): that is the record, whatever window a later reader configures.
    held = [a.outcome_at for a in state.actions
            if a.state == "done" and a.verified and not a.dry_run and a.outcome_at]
    if held:
        return _move(state, "mitigated", min(held))
    done = [a.intent_at or a.outcome_at for a in state.actions
            if a.state == "done" and not a.dry_run and a.outcome_at]
    if not done:
        return state
    after = sorted(c for c in state.checks if c[0] >= min(done))
    streak_start: datetime | None = None
    for at, ok in after:
        streak_start = (streak_start or at) if ok else None
    if streak_start is None:
        return state
    last_check = after[-1][0]
    if max(last_check, now) - streak_start >= window:
        return _move(state, "mitigated", streak_start + window)
    return state


def fold(incident_id: str, events: Iterable[Event], now: datetime, *,
         stabilisation: timedelta = STABILISATION, reopen_window: timedelta = REOPEN_WINDOW,
         flap_count: int = FLAP_COUNT, flap_window: timedelta = FLAP_WINDOW,
         chain_head: str = "") -> Incident:
    """The incident as its events tell it at `now`; a signal flaps when it changed more than
    `flap_count` times within `flap_window`, until it has been still for `flap_window`."""
    state = Incident(incident_id, reopen_window=reopen_window)
    count = 0
    for event in events:      # in the log's order; each milestone carries its own time
        state = APPLY[event.kind](state, event)
        count += 1
    state = _verified_mitigation(state, now, stabilisation)
    return dataclasses.replace(state, events=count, chain_head=chain_head,
                               flapping=_flapping(state, now, flap_count, flap_window))
