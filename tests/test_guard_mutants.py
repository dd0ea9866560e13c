"""The once-only guard at its edges: the ledger read per action and target, attempts folded
from intent to outcome, the claim of each attempt, the override of unknown attempts, and what
happens when the shared archive cannot be reached.

Each test is a rule of the guard in `runbook.sections.kit.actions`, checked where a slightly
wrong rule would act twice, or refuse nothing; `python3 bootstrap.py mutate` measures that
they would notice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mitigate_fixtures import start_session
from runbook.archive import layout
from runbook.core.errors import ActionRefused, ArchiveUnavailable, OutcomeUnknown
from runbook.sections.kit import actions
from runbook.sections.kit.actions import Action, Outcome, Reconciliation, StepLog


class Calls:
    def __init__(self, ok: bool = True) -> None:
        self.count = 0
        self.ok = ok
        self.ledger_at_call: list[dict[str, Any]] = []
        self.rb: Any = None

    def execute(self, log: StepLog) -> Outcome:
        self.count += 1
        if self.rb is not None:
            self.ledger_at_call = actions.attempts(self.rb, "test.thing", "svc")
        return Outcome(self.ok, "done it" if self.ok else "it did not work")


def thing(calls: Calls, target: str = "svc", **extra: Any) -> Action:
    return Action("test.thing", target, "would do the thing", calls.execute, **extra)


def ledger_lines(rb: Any) -> list[dict[str, Any]]:
    return list(rb.archive.store.read_lines(layout.incident_key(rb.run.incident_id,
                                                                layout.LEDGER)))


def write_ledger(rb: Any, *entries: dict[str, Any]) -> None:
    key = layout.incident_key(rb.run.incident_id, layout.LEDGER)
    for entry in entries:
        rb.archive.store.append(key, entry)


def base(**fields: Any) -> dict[str, Any]:
    return {"name": "test.thing", "target": "svc", "holder": "h", "run": "r0",
            "at": "2026-12-01T03:00:00Z", **fields}


# ---------------------------------------------------------------- the ledger, read

def test_the_ledger_is_read_per_action_and_target_without_intents(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(attempt="a1", phase="intent"), base(attempt="a1", status="failed"),
                 base(attempt="b1", target="db", status="succeeded"),
                 base(attempt="c1", name="other.thing", status="succeeded"))
    assert [e["attempt"] for e in actions.ledger(rb)] == ["a1", "b1", "c1"]
    assert [e["attempt"] for e in actions.ledger(rb, "test.thing")] == ["a1", "b1"]
    assert [e["attempt"] for e in actions.ledger(rb, "test.thing", "svc")] == ["a1"]
    assert [e["attempt"] for e in actions.ledger(rb, target="db")] == ["b1"]


def test_attempts_fold_intent_outcome_and_reconciliation(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(attempt="a1", phase="intent", plan="p"),
                 base(attempt="a2", phase="intent"),
                 base(attempt="a1", status="failed", result="no"),
                 base(status="succeeded", result="old ledger line"),
                 base(attempt="a2", phase="reconciled", status="succeeded"),
                 base(attempt="a3", phase="intent", target="db"),
                 base(attempt="a4", phase="intent", name="other.thing"))
    folded = actions.attempts(rb, "test.thing", "svc")
    assert [(a["attempt"], a["status"]) for a in folded] == [
        ("a1", "failed"), ("a2", "succeeded"), ("line-3", "succeeded")]
    assert folded[0]["plan"] == "p" and folded[0]["result"] == "no"
    only_intent = actions.attempts(rb, "test.thing", "db")
    assert only_intent[0]["status"] == actions.UNKNOWN
    assert only_intent[0]["result"] == ("the run stopped after the call was sent and before "
                                        "its outcome was written: it may have been done")


def test_unresolved_is_unknown_unless_a_later_attempt_acted_despite_it(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(attempt="a1", phase="intent"), base(attempt="a2", phase="intent"),
                 base(attempt="a3", phase="intent"), base(attempt="a3", status="unknown"),
                 base(attempt="a4", status="failed", despite_unknown=["a2"]))
    assert [a["attempt"] for a in actions.unresolved(rb, "test.thing", "svc")] == ["a1", "a3"]


def test_another_action_or_target_neither_blocks_nor_counts(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(attempt="o1", phase="intent", name="other.thing"),
                 base(attempt="o2", name="other.thing", status="succeeded"),
                 base(attempt="d1", phase="intent", target="db"),
                 base(attempt="d2", target="db", status="succeeded"))
    assert actions.unresolved(rb, "test.thing", "svc") == []
    assert [a["attempt"] for a in actions.unresolved(rb, "other.thing", "svc")] == ["o1"]
    calls = Calls()
    dry = actions.run(rb, thing(calls))
    assert dry.unknown == [] and dry.earlier is None
    result = actions.run(rb, thing(calls), confirm=True)
    assert result.status == actions.SUCCEEDED and calls.count == 1


def test_an_intent_line_without_an_id_is_still_an_unknown_attempt(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(phase="intent"))
    assert [a["attempt"] for a in actions.unresolved(rb, "test.thing", "svc")] == ["line-0"]


def test_the_first_success_is_the_one_reported(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    assert actions.succeeded_before(rb, "test.thing", "svc") is None
    write_ledger(rb, base(attempt="a1", status="failed"),
                 base(attempt="a2", status="succeeded", result="first"),
                 base(attempt="a3", status="succeeded", result="second"),
                 base(attempt="b1", target="db", status="succeeded"))
    earlier = actions.succeeded_before(rb, "test.thing", "svc")
    assert earlier is not None and earlier["result"] == "first"
    assert actions.succeeded_before(rb, "test.thing", "cache") is None


# ---------------------------------------------------------------- a confirmed run

def test_the_intent_is_written_before_the_call_and_the_outcome_after(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    calls = Calls()
    calls.rb = rb
    result = actions.run(rb, thing(calls, details={"why": "w"}, witness={"deployment": "d1"}),
                         confirm=True)
    assert result.status == actions.SUCCEEDED and calls.count == 1
    assert [(a["attempt"], a["status"]) for a in calls.ledger_at_call] == [
        (result.attempt, actions.UNKNOWN)]
    lines = ledger_lines(rb)
    assert [line.get("phase") for line in lines] == ["intent", None]
    intent, outcome = lines
    assert intent["attempt"] == outcome["attempt"] == result.attempt
    assert intent["plan"] == "would do the thing" and intent["details"] == {"why": "w"}
    assert "despite_unknown" not in intent and outcome["status"] == actions.SUCCEEDED
    assert intent["actor"] == actions.actor_of(rb) and intent["run"] == rb.run.name
    assert intent["witness"] == {"deployment": "d1"}
    assert len(result.attempt) == 16 and int(result.attempt, 16) >= 0
    events = [json.loads(line) for line in
              (rb.run_dir / "events.jsonl").read_text().splitlines()]
    (said,) = [e for e in events if e.get("type") == "action_intent"]
    assert said["at"] == intent["at"] and said["intent"]["attempt"] == result.attempt
    assert "witness" not in said["intent"] and said["intent"]["plan"] == "would do the thing"
    assert outcome["holder"] == intent["holder"] and outcome["run"] == rb.run.name
    assert rb.actions[-1]["status"] == actions.SUCCEEDED and rb.actions[-1]["dry_run"] is False
    assert any(f.code == "test.thing" for f in rb.findings)


def test_a_failure_is_ledgered_and_not_taken_for_done(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    calls = Calls(ok=False)
    assert actions.run(rb, thing(calls), confirm=True).status == actions.FAILED
    assert actions.succeeded_before(rb, "test.thing", "svc") is None
    calls.ok = True
    assert actions.run(rb, thing(calls), confirm=True).status == actions.SUCCEEDED
    again = actions.run(rb, thing(calls), confirm=True)
    assert again.status == actions.ALREADY_DONE and calls.count == 2
    assert again.actor == actions.actor_of(rb) and again.dry_run is False
    assert again.earlier is not None and again.earlier["status"] == actions.SUCCEEDED
    assert rb.actions[-1]["status"] == actions.ALREADY_DONE










def test_a_held_lock_refuses_naming_the_holder_and_since(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    with actions.held(rb, "test.thing", "svc") as lock:
        assert lock["holder"] == actions.holder_identity(rb)
        with pytest.raises(ActionRefused) as refused, actions.held(rb, "test.thing", "svc"):
            pass
        message = str(refused.value)
        assert f"held by {lock['holder']} since {lock['since']}" in message
        assert message.startswith("test.thing on svc is already running")
        with actions.held(rb, "test.thing", "db"):
            pass                                     # another target is another lock
    with actions.held(rb, "test.thing", "svc"):
        pass                                         # released


# ---------------------------------------------------------------- unknown outcomes

def unknown_then(log: StepLog) -> Outcome:
    log.sending("call")
    raise OutcomeUnknown("railway", "no answer")


def test_an_unknown_attempt_is_reconciled_before_acting_again(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    first = actions.run(rb, Action("test.thing", "svc", "p", unknown_then), confirm=True)
    assert first.status == actions.UNKNOWN
    calls = Calls()
    seen: list[Any] = []

    def done_there(attempt: Any) -> Reconciliation:
        seen.append(attempt)
        return Reconciliation(True, "the deployment is live")

    result = actions.run(rb, thing(calls, reconcile=done_there), confirm=True)
    assert calls.count == 0 and result.status == actions.ALREADY_DONE
    assert seen[0]["attempt"] == first.attempt
    assert "reconciled attempt" in result.steps[-1]["step"]
    assert "the deployment is live" in result.steps[-1]["step"]
    reconciled = ledger_lines(rb)[-1]
    assert reconciled["phase"] == "reconciled" and reconciled["status"] == actions.SUCCEEDED
    assert reconciled["attempt"] == first.attempt
    assert reconciled["result"] == "reconciled: the deployment is live"
    intent = ledger_lines(rb)[0]
    assert reconciled["outcome"] == "done" and reconciled["attempted_at"] == intent["at"]
    assert reconciled["holder"] == actions.holder_identity(rb)
    assert reconciled["actor"] == actions.actor_of(rb) and reconciled["run"] == rb.run.name
    assert result.dry_run is False and result.actor == actions.actor_of(rb)
    assert result.earlier is not None and result.earlier["at"] == intent["at"]
    assert result.earlier["holder"] == intent["holder"]
    assert result.steps[-1]["at"] == reconciled["at"]
    assert actions.succeeded_before(rb, "test.thing", "svc") is not None
    assert actions.run(rb, thing(calls), confirm=True).status == actions.ALREADY_DONE


def test_still_unknown_is_refused_with_an_error_until_overridden(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    first = actions.run(rb, Action("test.thing", "svc", "p", unknown_then), confirm=True)
    calls = Calls()
    still = actions.run(rb, thing(calls, reconcile=lambda a: Reconciliation(None, "no word")),
                        confirm=True)
    assert still.status == actions.REFUSED and calls.count == 0
    assert still.findings[0].code == "test.thing.unknown"
    assert still.findings[0].status.value == "error"
    assert "no word" in still.summary
    assert still.summary.endswith("Check the service yourself; to act anyway, run again with "
                                  "act_despite_unknown=True")
    assert still.findings[0].evidence["attempts"] == [first.attempt]
    assert still.dry_run is False and still.actor == actions.actor_of(rb)
    assert still.unknown[0]["attempt"] == first.attempt
    assert rb.actions[-1]["status"] == actions.REFUSED
    assert any(f.code == "test.thing.unknown" for f in rb.findings)
    forced = actions.run(rb, thing(calls), confirm=True, act_despite_unknown=True)
    assert forced.status == actions.SUCCEEDED and calls.count == 1
    assert forced.despite_unknown == [first.attempt]
    assert "despite the unknown outcome" in forced.steps[0]["step"]
    assert actions.unresolved(rb, "test.thing", "svc") == []


def test_a_dry_run_names_an_unknown_attempt_and_an_earlier_success(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    actions.run(rb, Action("test.thing", "svc", "p", unknown_then), confirm=True)
    dry = actions.run(rb, thing(Calls()))
    assert dry.status == actions.DRY_RUN and "is unknown" in dry.summary
    assert "reconciles it with the service first" in dry.summary and dry.unknown
    rb2 = start_session(tmp_path, incident_id="inc-test-2")
    actions.run(rb2, thing(Calls()), confirm=True)
    again = actions.run(rb2, thing(Calls()))
    assert again.status == actions.DRY_RUN and "already done at" in again.summary
    assert again.unknown == [] and again.earlier is not None
    fresh = actions.run(start_session(tmp_path, incident_id="inc-test-3"), thing(Calls()))
    assert fresh.summary == "dry run: nothing was changed; pass confirm=True to do it"


def test_a_blocked_plan_after_a_success_is_already_done_and_not_reported(
        tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    actions.run(rb, thing(Calls()), confirm=True)
    reported = len(rb.findings)
    result = actions.run(rb, thing(Calls(), blocked="nothing left to revert"), confirm=True)
    assert result.status == actions.ALREADY_DONE and len(rb.findings) == reported
    assert result.dry_run is False
    dry = actions.run(rb, thing(Calls(), blocked="nothing left to revert"))
    assert dry.status == actions.ALREADY_DONE and dry.dry_run is True


# ---------------------------------------------------------------- the archive unreachable

def unreachable(*args: Any, **kwargs: Any) -> Any:
    raise ArchiveUnavailable("the bucket does not answer")


def cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str | None) -> Any:
    """A session whose bucket stops answering for the lock and the ledger (the run's own
    record, kept locally while it is gone, still takes what happened), with
    $RUNBOOK_ACT_WITHOUT_ARCHIVE set to `override` (None: unset)."""
    if override is None:
        monkeypatch.delenv(actions.ENV_ACT_WITHOUT_ARCHIVE, raising=False)
    else:
        monkeypatch.setenv(actions.ENV_ACT_WITHOUT_ARCHIVE, override)
    rb = start_session(tmp_path)
    store = rb.archive.store
    real_read_lines = store.read_lines

    def read_lines(key: str) -> Any:
        if key.endswith(layout.LEDGER):
            unreachable()
        return real_read_lines(key)

    monkeypatch.setattr(store, "lock", unreachable)
    monkeypatch.setattr(store, "read_lines", read_lines)
    return rb


REFUSAL = ("refused: the shared archive cannot be reached (the bucket does not answer), so no "
           "other responder could see this test.thing or be kept from repeating it. Diagnosis "
           "still works. To act anyway, pass without_archive=True (or set "
           "RUNBOOK_ACT_WITHOUT_ARCHIVE=1): the record will say the guards were bypassed")
BYPASSED = ("bypassed: the shared archive could not be reached (the bucket does not answer); "
            "executed without its lock, claim or ledger by override")


@pytest.mark.parametrize(("flag", "env"), [(None, None), (None, ""), (None, "0"),
                                           (None, "no"), (False, "1")])
def test_an_unreachable_archive_plans_but_does_not_act(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: bool | None,
        env: str | None) -> None:
    rb = cut_off(tmp_path, monkeypatch, env)
    calls = Calls()
    planned = actions.run(rb, thing(calls))
    assert planned.status == actions.DRY_RUN and planned.earlier is None
    with pytest.raises(ActionRefused) as refused:
        actions.run(rb, thing(calls), confirm=True, without_archive=flag)
    assert str(refused.value) == REFUSAL and calls.count == 0
    last = rb.actions[-1]
    assert (last["status"], last["dry_run"], last["result"], last["actor"], last["name"]) == \
        (actions.REFUSED, False, REFUSAL, actions.actor_of(rb), "test.thing")


@pytest.mark.parametrize(("flag", "env"), [(True, ""), (None, "1"), (None, "TRUE"),
                                           (None, "yes")])
def test_the_override_acts_once_without_the_guards_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: bool | None, env: str) -> None:
    rb = cut_off(tmp_path, monkeypatch, env)
    calls = Calls()
    result = actions.run(rb, thing(calls), confirm=True, without_archive=flag)
    assert result.status == actions.SUCCEEDED and calls.count == 1
    assert result.actor == actions.actor_of(rb) and result.details["guards"] == BYPASSED
    assert rb.actions[-1]["details"]["guards"] == BYPASSED
    assert rb.actions[-1]["actor"] == actions.actor_of(rb)






def test_an_outcome_the_ledger_missed_is_said(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rb = start_session(tmp_path)
    store = rb.archive.store
    appended: list[str] = []
    real_append = store.append

    def append_once(key: str, entry: Any) -> Any:
        appended.append(key)
        if len(appended) > 1 and key.endswith(layout.LEDGER):
            raise ArchiveUnavailable("gone")
        return real_append(key, entry)

    monkeypatch.setattr(store, "append", append_once)
    result = actions.run(rb, thing(Calls()), confirm=True)
    assert result.status == actions.SUCCEEDED
    assert result.details["ledger"] == "not written: gone"


# ---------------------------------------------------------------- what the record says





@pytest.mark.parametrize("confirm", [True, False])
def test_a_blocked_action_keeps_its_findings_and_is_reported(tmp_path: Path,
                                                             confirm: bool) -> None:
    from runbook.core.findings import failed
    rb = start_session(tmp_path)
    why = failed("git.dirty", "the tree has changes")
    result = actions.run(rb, thing(Calls(), blocked="dirty tree", findings=(why,)),
                         confirm=confirm)
    assert result.status == actions.BLOCKED and result.dry_run is (not confirm)
    assert result.findings == [why] and result.actor == actions.actor_of(rb)
    assert why in rb.findings and rb.actions[-1]["actor"] == actions.actor_of(rb)


def test_a_dry_run_keeps_the_plans_findings_and_reports_them(tmp_path: Path) -> None:
    from runbook.core.findings import passed
    rb = start_session(tmp_path)
    seen = passed("git.clean", "nothing to stash")
    dry = actions.run(rb, thing(Calls(), findings=(seen,)))
    assert dry.findings == [seen] and seen in rb.findings


def test_already_done_is_not_reported_again_a_refusal_is(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    first = actions.run(rb, thing(Calls()), confirm=True)
    count = len(rb.findings)
    blocked_after = actions.run(rb, thing(Calls(), blocked="nothing to do"), confirm=True)
    assert blocked_after.actor == actions.actor_of(rb) and len(rb.findings) == count
    assert actions.run(rb, thing(Calls()), confirm=True).status == actions.ALREADY_DONE
    assert len(rb.findings) == count
    dry = actions.run(rb, thing(Calls()))
    assert f"(already done at {first.at}: a confirmed run would not repeat it)" in dry.summary
    rb2 = start_session(tmp_path, incident_id="inc-test-2")
    actions.run(rb2, Action("test.thing", "svc", "p", unknown_then), confirm=True)
    count = len(rb2.findings)
    refused = actions.run(rb2, thing(Calls()), confirm=True)
    assert refused.status == actions.REFUSED and len(rb2.findings) == count + 1


def test_a_success_makes_a_dry_run_forget_older_unknowns(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(attempt="a1", phase="intent"),
                 base(attempt="a2", status="succeeded"))
    dry = actions.run(rb, thing(Calls()))
    assert dry.unknown == [] and dry.earlier is not None


def test_reconciled_is_dated_and_held_as_the_attempt_was(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    write_ledger(rb, base(attempt="a1", phase="intent", holder="lina@laptop"))
    result = actions.run(rb, thing(Calls(), reconcile=lambda a: Reconciliation(True, "live")),
                         confirm=True)
    assert result.status == actions.ALREADY_DONE and result.earlier is not None
    assert result.earlier["at"] == "2026-12-01T03:00:00Z"
    assert result.earlier["holder"] == "lina@laptop"
    assert "by lina@laptop" in result.summary


def test_the_lock_is_per_action_and_target(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    with actions.held(rb, "other.thing", "svc"), actions.held(rb, "test.thing", "db"):
        assert actions.run(rb, thing(Calls()), confirm=True).status == actions.SUCCEEDED


def test_another_action_or_target_may_run_while_one_is_held(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    inner: list[str] = []

    def outer(log: StepLog) -> Outcome:
        inner.append(actions.run(rb, thing(Calls()), confirm=True).status)
        other_target = Action("test.outer", "db", "p", lambda log: Outcome(True, "ok"))
        inner.append(actions.run(rb, other_target, confirm=True).status)
        return Outcome(True, "outer done")

    result = actions.run(rb, Action("test.outer", "svc", "p", outer), confirm=True)
    assert inner == [actions.SUCCEEDED, actions.SUCCEEDED]
    assert result.status == actions.SUCCEEDED


def test_the_sessions_actor_is_who_acts(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    rb.actor = "slack:U123"
    assert actions.run(rb, thing(Calls())).actor == "slack:U123"
    assert actions.run(rb, thing(Calls()), confirm=True).actor == "slack:U123"


# ---------------------------------------------------------------- a second one, for another aim

FIRST_AIM = "1a2b3c4d5e6f"
OTHER_AIM = "9f8e7d6c5b4a"


def done_before(rb: Any, aim: str = FIRST_AIM) -> None:
    write_ledger(rb, base(attempt="a1", status="succeeded", result="rolled back", aim=aim,
                          at="2026-12-01T03:00:00Z"))


def second_text(typed: str = "") -> str:
    return ("test.thing was already done in this incident at 2026-12-01T03:00:00Z (rolled "
            "back). A second one, on 9f8e7d6c, is done only when its short id is typed to "
            'confirm it (confirm_again = "9f8e7d6c")' + (f" (typed {typed!r})" if typed else ""))


@pytest.mark.parametrize("typed", ["", "  ", "9f8e7d6", "1a2b3c4d"])
def test_a_second_one_for_another_aim_is_refused_until_its_short_id_is_typed(
        tmp_path: Path, typed: str) -> None:
    rb = start_session(tmp_path)
    done_before(rb)
    calls = Calls()
    plan = actions.run(rb, thing(calls, aim=OTHER_AIM), confirm_again=typed)
    assert plan.status == actions.DRY_RUN and plan.dry_run
    assert plan.summary == f"dry run: nothing was changed; {second_text()}"
    refused = actions.run(rb, thing(calls, aim=OTHER_AIM), confirm=True, confirm_again=typed)
    assert (refused.status, refused.dry_run, calls.count) == (actions.REFUSED, False, 0)
    assert refused.summary == f"not done: {second_text(typed.strip())}"
    assert refused.earlier is not None and refused.earlier["aim"] == FIRST_AIM
    assert refused.actor == actions.actor_of(rb)


def test_the_short_id_typed_does_it_once_and_the_same_aim_is_never_done_twice(
        tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    done_before(rb)
    calls = Calls()
    second = actions.run(rb, thing(calls, aim=OTHER_AIM), confirm=True,
                         confirm_again=" 9f8e7d6c ")
    assert second.status == actions.SUCCEEDED and calls.count == 1
    again = actions.run(rb, thing(calls, aim=OTHER_AIM), confirm=True,
                        confirm_again="9f8e7d6c")
    assert again.status == actions.ALREADY_DONE and calls.count == 1
    assert again.earlier is not None and again.earlier["aim"] == OTHER_AIM
    same = actions.run(rb, thing(calls, aim=FIRST_AIM), confirm=True)
    assert same.status == actions.ALREADY_DONE and calls.count == 1


def test_a_second_one_done_by_another_responder_meanwhile_is_decided_under_the_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first success lands after this run read the ledger and before it took the lock:
    the decision under the lock sees it and asks for the short id, as the plan would have."""
    rb = start_session(tmp_path)
    done_before(rb)
    monkeypatch.setattr(actions, "succeeded_before", lambda *args: None)
    calls = Calls()
    refused = actions.run(rb, thing(calls, aim=OTHER_AIM), confirm=True)
    assert (refused.status, refused.dry_run, calls.count) == (actions.REFUSED, False, 0)
    assert refused.summary == f"not done: {second_text()}"
    assert refused.actor == actions.actor_of(rb) and refused.earlier is not None
    # typed, it goes ahead: the first aim's attempts do not count against the second
    write_ledger(rb, base(attempt="a0", phase="intent", aim=FIRST_AIM))
    done = actions.run(rb, thing(calls, aim=OTHER_AIM), confirm=True, confirm_again="9f8e7d6c")
    assert done.status == actions.SUCCEEDED and calls.count == 1
    assert done.despite_unknown == [] or not done.despite_unknown
