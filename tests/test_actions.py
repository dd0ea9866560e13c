"""The guards every destructive action goes through: dry run by default, one at a time,
never twice, always recorded."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mitigate_fixtures import start_session
from runbook.core.errors import ActionRefused, ServiceUnavailable
from runbook.sections.kit import actions
from runbook.sections.kit.actions import Action, Outcome, StepLog


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def execute(self, log: StepLog) -> Outcome:
        with self.lock:
            self.calls += 1
        self.entered.set()
        self.release.wait(10)
        log.step("did the thing")
        return Outcome(True, "the thing is done")


def make_action(counter: Counter, target: str = "svc-1") -> Action:
    return Action("test.thing", target, "would do the thing to svc-1", counter.execute,
                  details={"why": "testing"})


def test_dry_run_executes_nothing_and_is_recorded(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    result = actions.run(rb, make_action(counter))
    assert counter.calls == 0
    assert result.status == actions.DRY_RUN and result.dry_run
    assert rb.actions[-1]["dry_run"] is True
    assert rb.actions[-1]["name"] == "test.thing" and rb.actions[-1]["target"] == "svc-1"
    assert "would do the thing" in repr(result)
    assert "DRY RUN" in result._repr_html_()
    assert actions.ledger(rb) == []
    events = [json.loads(line) for line in (rb.run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "action" and e["action"]["dry_run"] for e in events)


def test_confirmed_runs_once_then_reports_the_first(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    first = actions.run(rb, make_action(counter), confirm=True)
    assert first.status == actions.SUCCEEDED and counter.calls == 1
    assert [s["step"] for s in first.steps][-1] == "did the thing"
    assert all(s["at"].endswith("Z") for s in first.steps)
    assert any(f.code == "test.thing" and f.status.value == "pass" for f in rb.findings)

    # A second run, in another session of the same incident (another responder's notebook).
    rb2 = start_session(tmp_path, notebook="comms")
    second = actions.run(rb2, make_action(counter), confirm=True)
    assert counter.calls == 1
    assert second.status == actions.ALREADY_DONE and second.ok
    assert second.earlier is not None and second.earlier["at"] == first.at
    assert "already done" in second.summary and "the thing is done" in second.summary
    assert rb2.actions[-1]["status"] == actions.ALREADY_DONE
    assert rb2.actions[-1]["dry_run"] is False
    # Another target, or another incident, is a different action.
    actions.run(rb2, make_action(counter, target="svc-2"), confirm=True)
    other = start_session(tmp_path, incident_id="inc-test-2")
    actions.run(other, make_action(counter), confirm=True)
    assert counter.calls == 3


def test_a_failure_can_be_retried(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    attempts: list[int] = []

    def flaky(log: StepLog) -> Outcome:
        attempts.append(1)
        if len(attempts) == 1:
            raise ServiceUnavailable("railway", "server error 502")
        return Outcome(True, "worked the second time")

    action = Action("test.flaky", "svc", "would try", flaky)
    first = actions.run(rb, action, confirm=True)
    assert first.status == actions.FAILED and not first.ok
    assert first.findings[0].status.value == "error"
    assert "server error 502" in first.summary
    second = actions.run(rb, action, confirm=True)
    assert second.status == actions.SUCCEEDED and len(attempts) == 2
    assert [e["status"] for e in actions.ledger(rb)] == ["failed", "succeeded"]


def test_a_second_responder_is_refused_with_holder_and_time(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    rb2 = start_session(tmp_path, notebook="comms")
    counter = Counter()
    counter.release.clear()
    worker = threading.Thread(target=actions.run, args=(rb, make_action(counter)),
                              kwargs={"confirm": True})
    worker.start()
    try:
        assert counter.entered.wait(10)
        with pytest.raises(ActionRefused) as refused:
            actions.run(rb2, make_action(counter), confirm=True)
        message = str(refused.value)
        assert "held by" in message and "since" in message and "pid" in message
        assert rb.run_dir.name in message
        assert rb2.actions[-1]["status"] == actions.REFUSED
    finally:
        counter.release.set()
        worker.join(10)
    assert counter.calls == 1


def test_concurrent_confirmed_runs_execute_once(tmp_path: Path) -> None:
    sessions = [start_session(tmp_path, notebook=f"nb{i}") for i in range(4)]
    counter = Counter()
    outcomes: list[str] = []
    barrier = threading.Barrier(len(sessions))

    def one(rb: object) -> None:
        barrier.wait()
        try:
            outcomes.append(actions.run(rb, make_action(counter), confirm=True).status)  # type: ignore[arg-type]
        except ActionRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert counter.calls == 1
    assert outcomes.count(actions.SUCCEEDED) == 1
    assert set(outcomes) <= {actions.SUCCEEDED, actions.ALREADY_DONE, "refused"}


def test_blocked_action_is_recorded_and_never_runs(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    counter = Counter()
    action = Action("test.thing", "svc", "", counter.execute, blocked="the tree is dirty")
    result = actions.run(rb, action, confirm=True)
    assert result.status == actions.BLOCKED and counter.calls == 0
    assert "the tree is dirty" in rb.actions[-1]["result"]
    assert "Blocked" in action._repr_html_()
