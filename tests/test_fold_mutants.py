"""The incident's fold at its edges: the clock, detection, closing only for its own signal,
reopening within the window, mitigation after the stabilisation window, actions and runs.

Each test is a rule of `runbook.incident.fold` checked where a slightly wrong rule (a `<` for a
`<=`, the other signal, a dry run taken for a done action) would give another state;
`python3 bootstrap.py mutate` measures that they would notice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from runbook.core import clock
from runbook.incident.events import Event
from runbook.incident.fold import (
    MITIGATED,
    OPEN,
    RESOLVED,
    ActionState,
    Incident,
    fold,
)

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=clock.UTC)
SIGNAL = "uptimerobot:777"
OTHER = "sentry:metric alert"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(kind: str, minutes: float, actor: str = "", **body: Any) -> Event:
    return Event(kind, at(minutes), body, actor=actor)


def opened(minutes: float = 0, by: str = "alert uptimerobot", **body: Any) -> Event:
    return ev("incident.opened", minutes, **{"service": "dealix", "opened_by": by,
                                             "signal": SIGNAL, **body})


def alert(minutes: float, signal: str = SIGNAL, down_since: float | None = None) -> Event:
    return ev("alert.received", minutes, signal=signal,
              down_since=clock.iso(at(down_since)) if down_since is not None else None)


def recovered(minutes: float, signal: str = SIGNAL) -> Event:
    return ev("signal.recovered", minutes, signal=signal)


def check(minutes: float, ok: bool) -> Event:
    return ev("check.observed", minutes, ok=ok)


def milestone(minutes: float, name: str, actor: str = "sami", **body: Any) -> Event:
    return ev("milestone.set", minutes, actor=actor, milestone=name, **body)


def outcome(minutes: float, result: str = "done", attempt: str = "a1", **body: Any) -> Event:
    return ev("action.outcome", minutes, actor="sami", **{
        "name": "railway.rollback", "target": "svc", "attempt": attempt, "outcome": result,
        "run": "r1", **body})


def intent(minutes: float, attempt: str = "a1", **body: Any) -> Event:
    return ev("action.intent", minutes, actor="sami", **{
        "name": "railway.rollback", "target": "svc", "attempt": attempt, "run": "r1", **body})


def finding(minutes: float, code: str, status: str = "fail", **evidence: Any) -> Event:
    return ev("finding.observed", minutes, code=code, status=status, summary=f"{code} seen",
              evidence=evidence)


def sealed(minutes: float, passed: tuple[str, ...] = (), severity: str | None = None,
           run: str = "r1") -> Event:
    return ev("run.sealed", minutes, run=run, notebook="sev1_response", status="failed",
              severity=severity, passed=list(passed), record_sha256="f" * 64)


def state_of(*events: Event, now: float = 100, **options: Any) -> Incident:
    return fold("inc-a", list(events), at(now), **options)


# ---------------------------------------------------------------- opening and the clock

def test_the_opening_event_names_the_service_the_signal_and_who() -> None:
    state = state_of(opened(1, drill=True), now=2)
    assert (state.service, state.signal, state.opened_by, state.opened_at, state.drill) == (
        "dealix", SIGNAL, "alert uptimerobot", at(1), True)
    assert state.state == OPEN and state.is_open
    assert state.detected_at is None           # an alert's opening is detected by its alert


def test_a_second_opening_keeps_the_first_time_and_signal() -> None:
    again = ev("incident.opened", 5, service="", opened_by="person sami", signal="other:1")
    state = state_of(opened(1, drill=True), again, now=6)
    assert state.opened_at == at(1) and state.signal == SIGNAL and state.service == "dealix"
    assert state.drill is True and state.opened_by == "person sami"
    renamed = state_of(opened(1), ev("incident.opened", 2, service="api", drill=False))
    assert renamed.service == "api" and renamed.drill is False


@pytest.mark.parametrize(("by", "detected_by"), [
    ("person sami", "person sami"), ("", "opened"), ("run sev1_response", "run sev1_response")])
def test_opening_by_a_person_or_a_run_is_the_detection(by: str, detected_by: str) -> None:
    state = state_of(opened(3, by=by), now=4)
    assert (state.detected_at, state.detected_by) == (at(3), detected_by)


def test_the_first_alert_is_the_detection_and_a_later_one_moves_nothing() -> None:
    state = state_of(opened(0), alert(2), alert(9, OTHER), alert(1, OTHER), now=10)
    assert state.detected_at == at(1) and state.detected_by == f"alert {OTHER}"
    assert state.last_alert_at == at(1)                   # the last one in the log
    same_time = state_of(opened(0), alert(2), alert(2, OTHER), now=3)
    assert same_time.detected_by == f"alert {SIGNAL}"     # a tie keeps the first


def test_the_start_is_the_earliest_evidence_with_its_source() -> None:
    state = state_of(opened(0), alert(0, down_since=-11), alert(1, OTHER, down_since=-4),
                     now=2)
    assert state.started_at == at(-11) and state.start_source == f"{SIGNAL} down since"
    assert [s.at for s in state.starts] == [at(-11), at(-4)]
    assert state.time_to("detect") == timedelta(minutes=11)
    later = state_of(opened(0), alert(0, down_since=-2), alert(1, OTHER, down_since=-9), now=2)
    assert later.started_at == at(-9) and later.start_source == f"{OTHER} down since"
    unknown = state_of(opened(0), alert(0), now=1)
    assert unknown.started_at is None and unknown.time_to("detect") is None


def test_a_failing_finding_dates_the_start_and_a_passing_one_does_not() -> None:
    state = state_of(opened(0), alert(1), finding(4, "uptime.down", down_since=clock.iso(at(-7))),
                     finding(5, "db.ok", "pass", down_since=clock.iso(at(-60))), now=6)
    assert state.started_at == at(-7) and state.start_source == "uptime.down down_since"
    assert set(state.failing) == {"uptime.down"}
    assert state.failing["uptime.down"] == {
        "code": "uptime.down", "status": "fail", "summary": "uptime.down seen",
        "evidence": {"down_since": clock.iso(at(-7))}}
    bare = state_of(opened(0), alert(1), finding(4, "errors.spike"), now=6)
    assert bare.started_at == at(4) and "first failing finding" in bare.start_source


def test_a_declared_start_counts_and_names_who_declared() -> None:
    state = state_of(opened(3), milestone(4, "declared", start=clock.iso(at(-30))), now=5)
    assert state.started_at == at(-30) and state.declared_start == at(-30)
    assert state.start_source == "the declared start" and state.starts[-1].corrected
    assert state.detected_at == at(4) and state.detected_by == "declared by sami"
    assert state.notes == ((at(4), "declared", ""),)
    nameless = state_of(opened(3), milestone(4, "declared", actor="", note="by phone"), now=5)
    assert nameless.detected_by == "declared by a person" and nameless.started_at is None
    assert nameless.declared_start is None and nameless.notes == ((at(4), "declared",
                                                                   "by phone"),)


def test_only_the_first_acknowledgement_counts() -> None:
    state = state_of(opened(0), alert(0, down_since=-1), milestone(2, "acknowledged"),
                     milestone(3, "acknowledged", actor="lina"), now=4)
    assert (state.acknowledged_at, state.acknowledged_by) == (at(2), "sami")
    assert state.time_to("acknowledge") == timedelta(minutes=2)
    assert state.state == OPEN


def test_each_time_to_counts_from_its_own_pair() -> None:
    state = state_of(opened(0), alert(1, down_since=-3), milestone(4, "acknowledged"),
                     milestone(6, "mitigated"), milestone(10, "resolved"), now=11)
    assert [state.time_to(m) for m in ("detect", "acknowledge", "mitigate", "resolve")] == [
        timedelta(minutes=4), timedelta(minutes=3), timedelta(minutes=9),
        timedelta(minutes=13)]
    assert state_of(opened(0), now=1).time_to("resolve") is None


# ---------------------------------------------------------------- states by hand

def test_a_person_mitigates_then_resolves() -> None:
    mitigated = state_of(opened(0), alert(0), milestone(5, "mitigated"), now=6)
    assert mitigated.state == MITIGATED and mitigated.mitigated_at == at(5)
    assert mitigated.is_open and mitigated.resolved_at is None
    resolved = state_of(opened(0), alert(0), milestone(5, "mitigated"),
                        milestone(9, "resolved"), now=10)
    assert resolved.state == RESOLVED and not resolved.is_open
    assert resolved.mitigated_at == at(5) and resolved.resolved_at == at(9)


def test_resolving_an_open_incident_mitigates_it_at_the_same_time() -> None:
    state = state_of(opened(0), alert(0), milestone(7, "resolved"), now=8)
    assert state.state == RESOLVED and state.mitigated_at == at(7) == state.resolved_at


def test_a_milestone_with_no_transition_changes_nothing() -> None:
    state = state_of(opened(0), alert(0), milestone(7, "resolved"), milestone(8, "mitigated"),
                     milestone(9, "resolved"), now=10)
    assert state.state == RESOLVED and state.resolved_at == at(7) and state.mitigated_at == at(7)


# ---------------------------------------------------------------- closing for its own signal

def test_its_recovery_then_a_passing_check_closes_it() -> None:
    state = state_of(opened(0), alert(0), recovered(5), check(5, True), now=6)
    assert state.state == RESOLVED and state.resolved_at == at(5) == state.mitigated_at
    assert state.recovered_at == at(5) and state.checks == ((at(5), True),)


def test_a_check_from_before_the_recovery_closes_nothing() -> None:
    state = state_of(opened(0), alert(0), recovered(5), check(4, True), now=6)
    assert state.state == OPEN and state.recovered_at == at(5)


def test_a_failing_check_after_the_recovery_closes_nothing() -> None:
    state = state_of(opened(0), alert(0), recovered(5), check(6, False), now=7)
    assert state.state == OPEN and state.checks == ((at(6), False),)


def test_another_monitors_recovery_is_kept_but_closes_nothing() -> None:
    state = state_of(opened(0), alert(0), alert(1, OTHER), recovered(5, OTHER), check(6, True),
                     now=7)
    assert state.state == OPEN and state.recovered_at is None


def test_alerting_again_cancels_an_earlier_recovery_another_signal_does_not() -> None:
    again = state_of(opened(0), alert(0), recovered(5), alert(6), check(7, True), now=8)
    assert again.state == OPEN and again.recovered_at is None
    other = state_of(opened(0), alert(0), recovered(5), alert(6, OTHER), check(7, True), now=8)
    assert other.state == RESOLVED and other.resolved_at == at(7)


def test_the_signal_is_the_first_alerts_when_a_person_opened_it() -> None:
    state = state_of(ev("incident.opened", 0, service="dealix", opened_by="person sami"),
                     alert(1, OTHER), alert(2), recovered(3), check(4, True), now=5)
    assert state.signal == OTHER and state.state == OPEN
    closed = state_of(ev("incident.opened", 0, service="dealix", opened_by="person sami"),
                      alert(1, OTHER), recovered(3, OTHER), check(4, True), now=5)
    assert closed.state == RESOLVED


def test_a_run_whose_health_check_passes_closes_it_after_the_recovery() -> None:
    for code in ("health.ok", "uptime.up"):
        state = state_of(opened(0), alert(0), recovered(5), sealed(6, passed=(code,)), now=7)
        assert state.state == RESOLVED and state.resolved_at == at(6)
    other = state_of(opened(0), alert(0), recovered(5), sealed(6, passed=("db.ok",)), now=7)
    assert other.state == OPEN and other.checks == ()


# ---------------------------------------------------------------- reopening

@pytest.mark.parametrize(("minutes", "state", "reopened"), [
    (30, OPEN, 1), (30 + 1 / 60, RESOLVED, 0), (10, OPEN, 1)])
def test_its_signal_alerting_within_the_window_reopens_it(minutes: float, state: str,
                                                          reopened: int) -> None:
    closed = [opened(0), alert(0), recovered(4), check(5, True)]
    folded = state_of(*closed, alert(5 + minutes), now=60)
    assert (folded.state, folded.reopened) == (state, reopened)
    if reopened:
        assert folded.resolved_at is None and folded.mitigated_at == at(5)


def test_another_signal_alerting_after_the_close_does_not_reopen() -> None:
    folded = state_of(opened(0), alert(0), recovered(4), check(5, True), alert(6, OTHER), now=7)
    assert folded.state == RESOLVED and folded.reopened == 0


def test_the_reopen_window_is_a_parameter_and_reopening_counts() -> None:
    events = [opened(0), alert(0), recovered(4), check(5, True), alert(15)]
    assert state_of(*events, now=16, reopen_window=timedelta(minutes=5)).state == RESOLVED
    assert state_of(*events, now=16, reopen_window=timedelta(minutes=10)).state == OPEN
    twice = state_of(*events, recovered(16), check(17, True), alert(18), now=19)
    assert twice.state == OPEN and twice.reopened == 2


def test_a_person_resolving_then_its_alert_reopens_it() -> None:
    folded = state_of(opened(0), alert(0), milestone(3, "resolved"), alert(20), now=21)
    assert folded.state == OPEN and folded.reopened == 1


# ---------------------------------------------------------------- mitigation, verified

def test_mitigated_once_checks_pass_for_the_stabilisation_window_after_a_done_action() -> None:
    events = [opened(0), alert(0), outcome(5), check(5, True)]
    assert state_of(*events, now=7 - 1 / 60).state == OPEN
    state = state_of(*events, now=7)
    assert state.state == MITIGATED and state.mitigated_at == at(7)
    assert state_of(*events, check(6, True), now=6).state == OPEN
    later = state_of(*events, check(6, True), check(9, True), now=9)
    assert later.state == MITIGATED and later.mitigated_at == at(7)


def test_the_window_is_judged_by_the_last_check_when_it_is_later_than_now() -> None:
    state = state_of(opened(0), alert(0), outcome(5), check(6, True), check(8, True), now=6)
    assert state.state == MITIGATED and state.mitigated_at == at(8)


def test_a_failure_restarts_the_streak() -> None:
    events = [opened(0), alert(0), outcome(5), check(5, True), check(6, False), check(7, True)]
    assert state_of(*events, now=8).state == OPEN
    state = state_of(*events, now=9)
    assert state.state == MITIGATED and state.mitigated_at == at(9)
    assert state_of(*events, check(10, False), now=30).state == OPEN


def test_checks_before_the_action_do_not_count_and_one_at_its_time_does() -> None:
    before = state_of(opened(0), alert(0), check(1, True), check(4, True), outcome(5), now=6)
    assert before.state == OPEN
    at_time = state_of(opened(0), alert(0), outcome(5), check(5, True), now=30)
    assert at_time.state == MITIGATED and at_time.mitigated_at == at(7)
    earliest = state_of(opened(0), alert(0), outcome(3, attempt="a0"), check(3, True),
                        outcome(5), now=30)
    assert earliest.mitigated_at == at(5)                   # from the first done action on


@pytest.mark.parametrize("event", [
    outcome(5, "failed"), outcome(5, "unknown"), outcome(5, "dry_run"),
    outcome(5, dry_run=True)])
def test_only_an_action_really_done_starts_the_window(event: Event) -> None:
    state = state_of(opened(0), alert(0), event, check(5, True), now=30)
    assert state.state == OPEN


def test_no_checks_after_the_action_is_no_mitigation() -> None:
    assert state_of(opened(0), alert(0), outcome(5), now=30).state == OPEN


def test_the_stabilisation_window_is_a_parameter() -> None:
    events = [opened(0), alert(0), outcome(5), check(5, True)]
    assert state_of(*events, now=9, stabilisation=timedelta(minutes=5)).state == OPEN
    state = state_of(*events, now=10, stabilisation=timedelta(minutes=5))
    assert state.state == MITIGATED and state.mitigated_at == at(10)


def test_an_action_verified_where_it_ran_mitigates_whatever_window_the_reader_has() -> None:
    # The rollback's own post-checks held for the window configured where it ran (a drill's
    # seconds); a reader with the default 2 minutes reads the same mitigation from the log.
    verified = [opened(0), alert(0), intent(4), check(4.5, True), outcome(5, verified=True)]
    state = state_of(*verified, now=5.5, stabilisation=timedelta(minutes=30))
    assert state.state == MITIGATED and state.mitigated_at == at(5)
    unverified = [opened(0), alert(0), intent(4), outcome(5, verified=False)]
    assert state_of(*unverified, now=30).state == OPEN
    dry = [opened(0), alert(0), outcome(5, verified=True, dry_run=True)]
    assert state_of(*dry, now=30).state == OPEN
    failed = [opened(0), alert(0), outcome(5, "failed", verified=True)]
    assert state_of(*failed, now=30).state == OPEN


def test_a_resolved_incident_is_not_mitigated_again() -> None:
    state = state_of(opened(0), alert(0), outcome(5), milestone(6, "resolved"), check(6, True),
                     now=30)
    assert state.state == RESOLVED and state.mitigated_at == at(6)


def test_a_failing_check_after_mitigation_relapses() -> None:
    state = state_of(opened(0), alert(0), milestone(5, "mitigated"), check(6, False), now=7)
    assert state.state == OPEN and state.mitigated_at is None
    ok = state_of(opened(0), alert(0), milestone(5, "mitigated"), check(6, True), now=7)
    assert ok.state == MITIGATED


@pytest.mark.parametrize(("code", "status", "relapses"), [
    ("health.down", "fail", True), ("health.timeout", "fail", True),
    ("uptime.down", "fail", True), ("health.down", "error", False),
    ("db.refused", "fail", False)])
def test_a_failing_health_finding_is_a_failing_check(code: str, status: str,
                                                     relapses: bool) -> None:
    state = state_of(opened(0), alert(0), milestone(5, "mitigated"), finding(6, code, status),
                     now=7)
    assert state.state == (OPEN if relapses else MITIGATED)
    assert state.checks == (((at(6), False),) if relapses else ())


# ---------------------------------------------------------------- runs

def test_a_sealed_run_clears_what_now_passes_and_rates_the_incident() -> None:
    state = state_of(opened(0), alert(0), finding(1, "db.refused"), finding(1, "api.not_found"),
                     sealed(2, passed=("db.refused",), severity="SEV-2"), now=3)
    assert set(state.failing) == {"api.not_found"}
    assert state.severity == "SEV-2" and state.peak_severity == "SEV-2"
    assert state.runs == ({"run": "r1", "notebook": "sev1_response", "status": "failed",
                           "severity": "SEV-2", "at": at(2), "record_sha256": "f" * 64},)


@pytest.mark.parametrize(("levels", "latest", "peak"), [
    (("SEV-2", "SEV-1"), "SEV-1", "SEV-1"), (("SEV-1", "SEV-3"), "SEV-3", "SEV-1"),
    (("SEV-3", None), "SEV-3", "SEV-3"), ((None, "SEV-4"), "SEV-4", "SEV-4"),
    (("SEV-2", "bogus"), "SEV-2", "SEV-2"), ((None, None), None, None)])
def test_the_peak_is_the_worst_rating_and_the_latest_the_last(
        levels: tuple[str | None, ...], latest: str | None, peak: str | None) -> None:
    state = state_of(opened(0), *(sealed(i + 1, severity=s, run=f"r{i}")
                                  for i, s in enumerate(levels)), now=5)
    assert (state.severity, state.peak_severity) == (latest, peak)


def test_an_aborted_run_is_listed_without_a_rating() -> None:
    state = state_of(opened(0), ev("run.started", 1, run="r1", notebook="db_refused"),
                     ev("run.aborted", 2, run="r1", notebook="db_refused",
                        status="interrupted"), now=3)
    assert state.runs == ({"run": "r1", "notebook": "db_refused", "status": "interrupted",
                           "severity": None, "at": at(2)},)
    assert state.severity is None and state.state == OPEN


def test_plans_are_kept_by_their_id() -> None:
    state = state_of(opened(0), ev("plan.offered", 1, plan_id="p1", action="rollback"),
                     ev("plan.offered", 2, plan_id="p2", action="restart"),
                     ev("press", 3, plan_id="p1"), ev("notice", 3, text="x"),
                     ev("message.posted", 4, channel="#alerts"), now=5)
    assert state.plans == {"p1": {"plan_id": "p1", "action": "rollback"},
                           "p2": {"plan_id": "p2", "action": "restart"}}
    assert state.events == 6 and state.state == OPEN


def test_the_fold_counts_events_and_keeps_the_chain_head() -> None:
    state = fold("inc-b", [opened(0), alert(1)], at(2), chain_head="abc")
    assert (state.id, state.events, state.chain_head) == ("inc-b", 2, "abc")
    assert fold("inc-c", [], at(0)) == Incident("inc-c")


# ---------------------------------------------------------------- actions

def test_an_intent_is_unknown_until_its_outcome_arrives() -> None:
    state = state_of(opened(0), intent(1), now=2)
    assert state.actions == (ActionState("railway.rollback", "svc", "unknown", "a1", "sami",
                                         "r1", intent_at=at(1)),)
    done = state_of(opened(0), intent(1), outcome(2), now=3)
    assert done.actions == (ActionState("railway.rollback", "svc", "done", "a1", "sami", "r1",
                                        intent_at=at(1), outcome_at=at(2)),)


def test_an_outcome_fills_the_latest_open_intent_of_its_own_attempt() -> None:
    state = state_of(opened(0), intent(1, "a1"), intent(2, "a2"), intent(3, "a2"),
                     outcome(4, "failed", "a2"), outcome(5, "done", "a1"), now=6)
    assert [(a.attempt, a.state, a.intent_at, a.outcome_at) for a in state.actions] == [
        ("a1", "done", at(1), at(5)), ("a2", "unknown", at(2), None),
        ("a2", "failed", at(3), at(4))]
    other_target = state_of(opened(0), intent(1), outcome(2, target="db"), now=3)
    assert [(a.target, a.state) for a in other_target.actions] == [
        ("svc", "unknown"), ("db", "done")]


def test_an_outcome_without_an_intent_is_an_action_of_its_own() -> None:
    state = state_of(opened(0), outcome(2, "dry_run", attempt=""), now=3)
    assert state.actions == (ActionState("railway.rollback", "svc", "dry_run", "", "sami",
                                         "r1", dry_run=True, outcome_at=at(2)),)
    flagged = state_of(opened(0), intent(1), outcome(2, dry_run=True), now=3)
    assert flagged.actions[0].dry_run is True and flagged.actions[0].state == "done"
    real = state_of(opened(0), intent(1), outcome(2), now=3)
    assert real.actions[0].dry_run is False


def test_an_action_as_a_view_shows_it() -> None:
    state = state_of(opened(0), intent(1), outcome(2), intent(3, "a2"), now=4)
    assert [a.to_dict() for a in state.actions] == [
        {"kind": "railway.rollback", "target": "svc", "state": "done", "attempt": "a1",
         "actor": "sami", "run": "r1", "dry_run": False, "intent_at": clock.iso(at(1)),
         "outcome_at": clock.iso(at(2)), "verified": None, "aim": "", "result": ""},
        {"kind": "railway.rollback", "target": "svc", "state": "unknown", "attempt": "a2",
         "actor": "sami", "run": "r1", "dry_run": False, "intent_at": clock.iso(at(3)),
         "outcome_at": None, "verified": None, "aim": "", "result": ""}]
    assert ActionState("n", "t", "done").to_dict()["intent_at"] is None


def test_missing_optional_fields_read_as_empty() -> None:
    state = state_of(opened(0), ev("action.intent", 1, name="railway.restart", target="svc"),
                     ev("finding.observed", 2, code="db.refused", status="fail"), now=3)
    assert (state.actions[0].attempt, state.actions[0].run) == ("", "")
    assert state.failing["db.refused"]["summary"] == ""
    assert state.failing["db.refused"]["evidence"] == {}


def test_an_opening_that_names_nobody_is_detected_by_the_opening() -> None:
    state = state_of(ev("incident.opened", 2, service="dealix"), now=3)
    assert state.opened_by == "" and (state.detected_at, state.detected_by) == (at(2), "opened")


def test_an_outcome_finds_its_intent_among_several() -> None:
    state = state_of(opened(0), intent(1, "a1"), intent(2, "a2"), intent(3, "a3"),
                     outcome(4, "done", "a2"),
                     ev("action.outcome", 5, name="n", target="t", outcome="failed"), now=6)
    assert [(a.attempt, a.state) for a in state.actions] == [
        ("a1", "unknown"), ("a2", "done"), ("a3", "unknown"), ("", "failed")]
    assert state.actions[-1].run == ""


def test_post_checks_between_the_call_and_its_outcome_count_from_the_intent() -> None:
    events = [opened(0), alert(0), check(1, False), intent(2), check(3, True), check(5, True),
              outcome(5, verified=True)]
    state = state_of(*events, now=6)
    assert state.state == MITIGATED and state.mitigated_at == at(5)
    assert state.actions[0].verified is True


def test_done_at_the_provider_with_a_failing_post_check_stays_open() -> None:
    events = [opened(0), alert(0), intent(2), check(3, False), check(4, False),
              ev("action.outcome", 5, name="railway.rollback", target="svc", attempt="a1",
                 outcome="done", verified=False, result="rolled back to d2, service still 502")]
    state = state_of(*events, now=30)
    assert state.state == OPEN and state.actions[0].state == "done"
    assert state.actions[0].verified is False and "still 502" in state.actions[0].result


# ---------------------------------------------------------------- the postmortem kept

def test_the_last_saved_postmortem_is_kept_as_it_was_saved() -> None:
    assert state_of(opened()).postmortem is None
    first = ev("postmortem.saved", 30, actor="sami", edits={"What worked": "the rollback"},
               missing=["root cause", 3], draft="postmortems/inc.md")
    bare = ev("postmortem.saved", 40, actor="lina")
    kept = state_of(opened(), first).postmortem
    assert kept == {"at": at(30), "actor": "sami", "edits": {"What worked": "the rollback"},
                    "missing": ["root cause", "3"], "draft": "postmortems/inc.md"}
    assert state_of(opened(), first, bare).postmortem == {
        "at": at(40), "actor": "lina", "edits": {}, "missing": [], "draft": ""}


def test_each_signal_change_is_kept_with_its_direction_and_a_finding_with_its_run() -> None:
    folded = state_of(opened(), alert(1), alert(2), recovered(3), alert(4),
                      ev("finding.observed", 5, code="health.down", status="fail",
                         summary="down", evidence={}, run="r7"),
                      finding(6, "deploy.crashed"))
    assert folded.changes == ((at(1), SIGNAL, True), (at(3), SIGNAL, False),
                              (at(4), SIGNAL, True))
    assert (folded.observed["health.down"]["at"], folded.observed["health.down"]["run"]) == \
        (at(5), "r7")
    assert (folded.observed["deploy.crashed"]["at"],
            folded.observed["deploy.crashed"]["run"]) == (at(6), "")
