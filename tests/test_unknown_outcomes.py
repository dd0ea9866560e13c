"""Railway did it but its answer was lost: the outcome is `unknown`, never `failed`, and a later
run asks Railway before it acts again. The intent is written ahead of the call, so a run killed
right after sending still shows the attempt in its record."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mitigate_fixtures import start_session
from runbook.core.config import load_config
from runbook.core.errors import OutcomeUnknown, ServiceUnavailable
from runbook.drill.fakes.railway import FakeRailway
from runbook.drill.scenarios.mitigate import bad_deploy
from runbook.drill.target import Target, simulated_target
from runbook.host.runner import run_notebook
from runbook.sections import rollback
from runbook.sections.kit import actions, session
from runbook.sections.kit.actions import Action, Outcome, Reconciliation, StepLog
from runbook.sections.kit.session import Session

FAST = rollback.WaitPolicy(bound=20, first_interval=0.05, max_interval=0.2,
                           health_attempts=3, health_interval=0.2, progress=False)


@dataclass
class Drill:
    target: Target
    fake: FakeRailway
    config_path: Path

    def session(self, notebook: str = "rollback", incident: str = "inc-unknown") -> Session:
        return session.start(notebook, incident_id=incident, config_path=str(self.config_path))


@pytest.fixture
def drill(runs_dir: Path) -> Iterator[Drill]:
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        handles = bad_deploy(target, step=0.3)
        config_path = target.write_config()
        with target.environment():
            yield Drill(target, handles.fake, config_path)
        handles.fake.stop_waiting()


def events_of(rb: Session) -> list[dict[str, object]]:
    return [json.loads(line) for line in (rb.run_dir / "events.jsonl").read_text().splitlines()]


def test_a_late_answer_is_unknown_and_the_next_run_does_not_roll_back_again(drill: Drill
                                                                            ) -> None:
    drill.fake.answer_late = 3.0   # past the 1 s read timeout; the rollback is done at once
    rb = drill.session()
    first = actions.run(rb, rollback.rollback_action(rb, policy=FAST), confirm=True)
    assert first.status == actions.UNKNOWN, first.summary
    assert first.outcome == "unknown" and not first.ok
    assert drill.fake.mutation_count("deploymentRollback") == 1
    assert rb.actions[-1]["outcome"] == "unknown" and rb.actions[-1]["actor"]
    # The ledger holds the intent, written before the call, and the unknown outcome after.
    lines = [json.loads(line) for line in
             (rb.archive.root / "inc-unknown" / "actions.jsonl").read_text().splitlines()]
    assert [line.get("phase", "outcome") for line in lines] == ["intent", "outcome"]
    assert lines[0]["attempt"] == lines[1]["attempt"] == rb.actions[-1]["attempt"]
    kinds = [e["type"] for e in events_of(rb)]
    assert kinds.index("action_intent") < kinds.index("action")

    rb2 = drill.session(notebook="rollback2")
    second = actions.run(rb2, rollback.rollback_action(rb2, policy=FAST), confirm=True)
    assert drill.fake.mutation_count("deploymentRollback") == 1
    assert second.status == actions.ALREADY_DONE and second.outcome == "done"
    assert "reconciled" in second.summary and "Railway shows deployment" in second.summary
    # Settled once: a third run reads the reconciliation and asks Railway nothing more.
    rb3 = drill.session(notebook="rollback3")
    third = actions.run(rb3, rollback.rollback_action(rb3, policy=FAST), confirm=True)
    assert third.status == actions.ALREADY_DONE
    assert drill.fake.mutation_count() == 1


def test_a_reset_after_the_mutation_is_unknown_not_failed(drill: Drill) -> None:
    drill.fake.reset_after_mutation = True
    rb = drill.session()
    result = actions.run(rb, rollback.rollback_action(rb, policy=FAST), confirm=True)
    assert result.status == actions.UNKNOWN, result.summary
    assert drill.fake.mutation_count("deploymentRollback") == 1
    drill.fake.reset_after_mutation = False
    rb2 = drill.session(notebook="rollback2")
    again = actions.run(rb2, rollback.rollback_action(rb2, policy=FAST), confirm=True)
    assert again.status == actions.ALREADY_DONE
    assert drill.fake.mutation_count("deploymentRollback") == 1


@pytest.mark.slow
def test_still_unknown_is_refused_until_the_responder_overrides(drill: Drill) -> None:
    # A restart makes no new deployment, so Railway cannot say whether it happened.
    drill.fake.answer_late = 3.0
    rb = drill.session()
    first = actions.run(rb, rollback.restart_action(rb, policy=FAST), confirm=True)
    assert first.status == actions.UNKNOWN, first.summary
    assert drill.fake.mutation_count("deploymentRestart") == 1

    rb2 = drill.session(notebook="rollback2")
    refused = actions.run(rb2, rollback.restart_action(rb2, policy=FAST), confirm=True)
    assert refused.status == actions.REFUSED and refused.outcome == "refused"
    assert "act_despite_unknown" in refused.summary
    assert drill.fake.mutation_count("deploymentRestart") == 1
    assert rb2.actions[-1]["unknown_attempts"][0]["attempt"] == first.attempt
    assert any(f.code == "railway.restart.unknown" for f in rb2.findings)

    forced = actions.run(rb2, rollback.restart_action(rb2, policy=FAST), confirm=True,
                         act_despite_unknown=True)
    assert drill.fake.mutation_count("deploymentRestart") == 2
    assert forced.status == actions.SUCCEEDED, forced.summary
    assert rb2.actions[-1]["despite_unknown"] == [first.attempt]
    assert any("despite the unknown outcome" in s["step"] for s in forced.steps)
    # The override settled that attempt; the success is never repeated.
    rb3 = drill.session(notebook="rollback3")
    assert actions.run(rb3, rollback.restart_action(rb3, policy=FAST),
                       confirm=True).status == actions.ALREADY_DONE
    assert drill.fake.mutation_count("deploymentRestart") == 2


def test_a_dry_run_says_an_attempt_is_unknown(tmp_path: Path) -> None:
    rb = start_session(tmp_path)

    def lost(log: StepLog) -> Outcome:
        log.sending("the call")
        raise OutcomeUnknown("Railway", "no answer from 127.0.0.1 within the timeout")

    action = Action("test.thing", "svc-1", "would do it", lost)
    assert actions.run(rb, action, confirm=True).status == actions.UNKNOWN
    dry = actions.run(rb, action)
    assert dry.status == actions.DRY_RUN and "unknown" in dry.summary


def test_not_sent_is_a_failure_and_can_be_retried(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    calls: list[int] = []

    def refused(log: StepLog) -> Outcome:
        calls.append(1)
        log.sending("the call")
        if len(calls) == 1:
            raise ServiceUnavailable("Railway", "127.0.0.1 refused the connection")
        log.answered("accepted")
        return Outcome(True, "done")

    action = Action("test.thing", "svc-1", "would do it", refused,
                    reconcile=lambda attempt: Reconciliation(None, "cannot tell"))
    assert actions.run(rb, action, confirm=True).status == actions.FAILED
    assert actions.run(rb, action, confirm=True).status == actions.SUCCEEDED
    assert len(calls) == 2


def _kernels_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"ipykernel" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_run_killed_right_after_sending_shows_the_attempt(runs_dir: Path) -> None:
    with simulated_target(runs_dir, probe_timeout=30.0) as target:
        handles = bad_deploy(target, step=0.3)
        fake = handles.fake
        fake.answer_late = 60.0      # the kernel is killed while it waits for the answer
        config = load_config(target.write_config())
        killed: list[int] = []

        def kill_after_the_mutation() -> None:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not fake.mutation_count():
                time.sleep(0.05)
            for pid in _kernels_of(os.getpid()):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        watcher = threading.Thread(target=kill_after_the_mutation, daemon=True)
        with target.environment():
            watcher.start()
            first = run_notebook("rollback", [("confirm", "true")], config,
                                 incident_id="inc-killed", mode="drill")
            watcher.join(5)
            fake.stop_waiting()
            fake.answer_late = 0.0
            assert killed, "no kernel was found to kill"
            assert fake.mutation_count("deploymentRollback") == 1
            assert first.status in ("aborted", "failed")
            attempt = [a for a in first.record["actions"] if not a["dry_run"]]
            assert [a["outcome"] for a in attempt] == ["unknown"], first.record["actions"]
            assert attempt[0]["name"] == "railway.rollback" and attempt[0]["attempt"]

            second = run_notebook("rollback", [("confirm", "true"), ("wait_seconds", "30")],
                                  config, incident_id="inc-killed", mode="drill")
    assert fake.mutation_count("deploymentRollback") == 1
    assert second.status == "completed", second.error
    assert [a["status"] for a in second.record["actions"]] == ["already_done"]


@pytest.mark.slow
def test_a_runner_killed_with_its_kernel_leaves_the_intent(runs_dir: Path) -> None:
    import subprocess

    from conftest import RUNBOOK

    with simulated_target(runs_dir, probe_timeout=30.0) as target:
        handles = bad_deploy(target, step=0.3)
        fake = handles.fake
        fake.answer_late = 60.0
        config_path = target.write_config()
        with target.environment():
            runner = subprocess.Popen(
                [RUNBOOK, "run", "rollback", "-p", "confirm", "true", "--incident",
                 "inc-sigkill", "--config", str(config_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "RUNBOOK_RUNS_DIR": str(runs_dir)})
            try:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and not fake.mutation_count():
                    time.sleep(0.05)
                assert fake.mutation_count("deploymentRollback") == 1
                kernels = _kernels_of(runner.pid)
                runner.kill()
                for pid in kernels:
                    os.kill(pid, signal.SIGKILL)
            finally:
                runner.kill()
                runner.wait(10)
            fake.stop_waiting()
            fake.answer_late = 0.0
            ledger = [json.loads(line) for line in
                      (runs_dir / "inc-sigkill" / "actions.jsonl").read_text().splitlines()]
            assert [(e["phase"], e["name"]) for e in ledger] == [("intent", "railway.rollback")]
            killed = next(runs_dir.glob("inc-sigkill/*-rollback"))
            intents = [json.loads(line) for line in
                       (killed / "events.jsonl").read_text().splitlines()
                       if '"action_intent"' in line]
            assert len(intents) == 1 and not (killed / "record.json").exists()

            config = load_config(config_path)
            second = run_notebook("rollback", [("confirm", "true"), ("wait_seconds", "30")],
                                  config, incident_id="inc-sigkill", mode="drill")
    assert fake.mutation_count("deploymentRollback") == 1
    assert [a["status"] for a in second.record["actions"]] == ["already_done"]


def test_a_gateway_timeout_on_the_mutation_is_unknown(drill: Drill) -> None:
    from runbook.drill.fakes.server import Response

    rb = drill.session()
    action = rollback.rollback_action(rb, policy=FAST)
    # Railway does the rollback; the gateway in front of it answers 504.
    original = drill.fake.handle

    def gateway(request: object) -> Response:
        answer = original(request)  # type: ignore[arg-type]
        if b"deploymentRollback" in getattr(request, "body", b""):
            return Response(504, "<html>504 Gateway Time-out</html>",
                            {"Content-Type": "text/html"})
        return answer

    drill.fake.handle = gateway  # type: ignore[method-assign]
    result = actions.run(rb, action, confirm=True)
    assert result.status == actions.UNKNOWN, result.summary
    assert drill.fake.mutation_count("deploymentRollback") == 1
