"""The once-only guard: a responder paused past its lease never acts after another has (its
claim is conditional on the ledger it read), and an attempt whose outcome was never seen is
settled only by evidence of that attempt, never by someone else's deployment."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mitigate_fixtures import start_session
from runbook.archive.s3 import S3Store
from runbook.archive.store import LocalStore
from runbook.drill.fakes.railway import RailwayHandles
from runbook.drill.scenarios.mitigate import bad_deploy
from runbook.drill.target import Target, simulated_target
from runbook.sections import rollback
from runbook.sections.kit import actions, session
from runbook.sections.kit.actions import Action, Outcome, StepLog
from runbook.sections.kit.session import Session
from s3_fixtures import Bucket, bucket

__all__ = ["bucket"]


class Rollbacks:
    """An action's effect, counted: the test's production."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def execute(self, log: StepLog) -> Outcome:
        with self.lock:
            self.calls += 1
        log.sending("roll back")
        return Outcome(True, "rolled back")

    def action(self) -> Action:
        return Action("test.rollback", "svc-api", "roll svc-api back", self.execute)


class StoppableClient:
    """A boto3 client standing for a whole responder process that gets SIGSTOPped: right
    after its first read of the ledger under the lease, every call (its main thread's and its
    lease renewer's) waits until it is continued."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.holding = False
        self.stopped = threading.Event()
        self.running = threading.Event()
        self.running.set()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in ("get_object", "put_object", "head_object", "list_objects_v2"):
            return attr

        def call(**kwargs: Any) -> Any:
            self.running.wait()
            key = str(kwargs.get("Key", ""))
            stop = name == "get_object" and key.endswith("/actions.jsonl") and self.holding \
                and not self.stopped.is_set()
            try:
                result = attr(**kwargs)
                if stop:
                    result["Body"] = io.BytesIO(result["Body"].read())
            finally:
                if stop:   # the read is done (an empty ledger is a 404): stop here
                    self.stopped.set()
                    self.running.clear()
                    self.running.wait()
            if name == "put_object" and "/locks/" in key:
                self.holding = True
            return result
        return call


def staged_remote(rb: Session) -> S3Store:
    remote = getattr(rb.archive.store, "remote", None)
    assert isinstance(remote, S3Store)
    return remote


def lease_expired(bucket: Bucket) -> bool:
    import json

    for key, data in bucket.objects().items():
        if "/locks/" in key:
            return float(json.loads(data).get("expires") or 0) < time.time()
    return False


def test_a_holder_paused_past_its_lease_does_not_act_again(
        bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOK_ARCHIVE", bucket.url)
    effect = Rollbacks()
    a = start_session(tmp_path, incident_id="inc-paused", notebook="rollback")
    b = start_session(tmp_path, incident_id="inc-paused", notebook="rollback-b")
    remote_a = staged_remote(a)
    remote_a.lease_seconds = 1.0
    stoppable = StoppableClient(remote_a.client)
    remote_a.client = stoppable

    outcome_a: list[actions.ActionResult] = []
    responder_a = threading.Thread(
        target=lambda: outcome_a.append(actions.run(a, effect.action(), confirm=True)))
    responder_a.start()
    assert stoppable.stopped.wait(30), "A never read the ledger under its lease"
    # A read an empty ledger and is stopped; its lease runs out, and B takes over.
    deadline = time.time() + 30
    while not lease_expired(bucket):
        assert time.time() < deadline, "A's lease never expired"
        time.sleep(0.1)
    outcome_b = actions.run(b, effect.action(), confirm=True)
    assert outcome_b.status == actions.SUCCEEDED and effect.calls == 1, outcome_b.summary

    stoppable.running.set()     # A is continued, its decision taken on a stale ledger
    responder_a.join(30)
    assert not responder_a.is_alive()
    assert effect.calls == 1, "the paused responder rolled back a second time"
    assert outcome_a[0].status == actions.ALREADY_DONE, outcome_a[0].summary
    assert outcome_a[0].earlier is not None
    assert outcome_a[0].earlier.get("attempt") == outcome_b.attempt
    intents = [e for e in b.archive.store.read_lines("inc-paused/actions.jsonl")
               if e.get("phase") == actions.INTENT]
    assert len(intents) == 1


def test_a_local_conditional_append_fails_once_the_file_moved(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    empty = store.read_versioned("inc/actions.jsonl")
    assert empty.data == b"" and empty.version == ""
    assert store.append_if("inc/actions.jsonl", {"n": 1}, empty)
    assert not store.append_if("inc/actions.jsonl", {"n": 2}, empty)
    seen = store.read_versioned("inc/actions.jsonl")
    store.append("inc/actions.jsonl", {"n": 3})
    assert not store.append_if("inc/actions.jsonl", {"n": 4}, seen)
    assert [line["n"] for line in store.read_lines("inc/actions.jsonl")] == [1, 3]


def test_a_bucket_conditional_append_fails_once_the_object_moved(bucket: Bucket) -> None:
    store = S3Store(bucket.url)
    empty = store.read_versioned("inc/actions.jsonl")
    assert empty.version == ""
    assert store.append_if("inc/actions.jsonl", {"n": 1}, empty)
    assert not store.append_if("inc/actions.jsonl", {"n": 2}, empty)
    seen = store.read_versioned("inc/actions.jsonl")
    store.append("inc/actions.jsonl", {"n": 3})
    assert not store.append_if("inc/actions.jsonl", {"n": 4}, seen)
    assert store.append_if("inc/actions.jsonl", {"n": 5}, store.read_versioned(
        "inc/actions.jsonl"))
    assert [line["n"] for line in store.read_lines("inc/actions.jsonl")] == [1, 3, 5]


# ------------------------------------------------ reconciled only by its own evidence

FAST = rollback.WaitPolicy(bound=20, first_interval=0.05, max_interval=0.2,
                           health_attempts=3, health_interval=0.2, progress=False)


@dataclass
class Drill:
    target: Target
    handles: RailwayHandles
    config_path: Path

    def session(self, notebook: str) -> Session:
        return session.start(notebook, incident_id="inc-evidence",
                             config_path=str(self.config_path))

    def unrelated_deploy(self) -> None:
        """Someone pushes a new commit: a deployment that is no runbook action's."""
        self.handles.fake.add_deployment(self.handles.dealix.id, "SUCCESS",
                                         commit_hash="f00d" * 10, commit_message="Bump deps")


@pytest.fixture
def drill(runs_dir: Path) -> Iterator[Drill]:
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        handles = bad_deploy(target, step=0.3)
        config_path = target.write_config()
        with target.environment():
            yield Drill(target, handles, config_path)
        handles.fake.stop_waiting()


def died_before_the_call(rb: Session, action: Action) -> None:
    """The run is killed after its intent is in the ledger and before the call is sent."""
    def killed(log: StepLog) -> Outcome:
        raise SystemExit(137)

    with pytest.raises(SystemExit):
        actions.run(rb, dataclasses.replace(action, execute=killed), confirm=True)
    assert [a["status"] for a in actions.attempts(rb, action.name, action.target)] == \
        [actions.UNKNOWN]


@pytest.mark.slow
def test_an_unrelated_deploy_does_not_settle_a_restart_that_never_ran(drill: Drill) -> None:
    rb = drill.session("rollback")
    died_before_the_call(rb, rollback.restart_action(rb, policy=FAST))
    drill.unrelated_deploy()

    rb2 = drill.session("rollback-2")
    again = actions.run(rb2, rollback.restart_action(rb2, policy=FAST), confirm=True)
    assert again.status == actions.REFUSED, again.summary
    assert "makes no new deployment" in again.summary
    assert drill.handles.fake.mutation_count("deploymentRestart") == 0
    forced = actions.run(rb2, rollback.restart_action(rb2, policy=FAST), confirm=True,
                         act_despite_unknown=True)
    assert forced.status == actions.SUCCEEDED, forced.summary
    assert drill.handles.fake.mutation_count("deploymentRestart") == 1


def test_an_unrelated_deploy_does_not_settle_a_rollback_that_never_ran(drill: Drill) -> None:
    rb = drill.session("rollback")
    died_before_the_call(rb, rollback.rollback_action(rb, policy=FAST))
    drill.unrelated_deploy()

    rb2 = drill.session("rollback-2")
    again = actions.run(rb2, rollback.rollback_action(rb2, policy=FAST), confirm=True)
    assert again.status == actions.REFUSED, again.summary
    assert "other commits" in again.summary
    assert drill.handles.fake.mutation_count("deploymentRollback") == 0
