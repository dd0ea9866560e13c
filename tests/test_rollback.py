"""Railway rollback, restart and redeploy against the fake Railway and the simulated app, and
the rollback notebook run headless as the drill runs it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mitigate_fixtures import start_session
from runbook.core.config import load_config
from runbook.core.errors import ActionRefused
from runbook.drill.fakes.railway import FakeRailway
from runbook.drill.scenarios.mitigate import bad_deploy, staged
from runbook.drill.target import Target, simulated_target
from runbook.host.runner import run_notebook
from runbook.sections import rollback
from runbook.sections.kit import actions
from runbook.sections.kit.session import Session

FAST = rollback.WaitPolicy(bound=20, first_interval=0.05, max_interval=0.2,
                           health_attempts=3, health_interval=0.2, progress=False)


@dataclass
class Drill:
    target: Target
    fake: FakeRailway
    config_path: Path

    def session(self, notebook: str = "rollback", incident: str = "inc-rollback") -> Session:
        return start_session_at(self.config_path, notebook, incident)


def start_session_at(config_path: Path, notebook: str, incident: str) -> Session:
    from runbook.sections.kit import session

    return session.start(notebook, incident_id=incident, config_path=str(config_path))


@pytest.fixture
def drill(runs_dir: Path) -> Iterator[Drill]:
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        # Each status outlasts two polls, so the wait sees every one even on a busy machine.
        handles = bad_deploy(target, step=0.5)
        config_path = target.write_config()
        with target.environment():
            yield Drill(target, handles.fake, config_path)


def test_dry_run_names_the_deployment_and_changes_nothing(drill: Drill) -> None:
    rb = drill.session()
    action = rollback.rollback_action(rb, policy=FAST)
    good = drill.target.extras["good_sha"]
    assert action.details["its commit"].startswith(good[:7])
    assert action.details["current status"] == "CRASHED"
    assert "deploymentRollback(" in action.plan and good[:7] in action.plan
    result = actions.run(rb, action)
    assert result.status == actions.DRY_RUN
    assert drill.fake.mutation_names() == []
    assert rb.actions[-1]["dry_run"] is True


@pytest.mark.slow
def test_confirmed_rollback_once_then_reported(drill: Drill) -> None:
    rb = drill.session()
    result = actions.run(rb, rollback.rollback_action(rb, policy=FAST), confirm=True)
    assert result.status == actions.SUCCEEDED, result.summary
    assert drill.fake.mutation_names() == ["deploymentRollback"]
    statuses = [s["step"].rsplit(" ", 1)[-1] for s in result.steps if " is " in s["step"]]
    assert statuses[-1] == "SUCCESS" and "DEPLOYING" in statuses
    codes = {(f.code, f.status.value) for f in result.findings}
    assert {("railway.rollback", "pass"), ("deploy.ok", "pass"), ("health.ok", "pass")} <= codes
    assert all(step["at"].endswith("Z") for step in result.steps)

    rb2 = drill.session()
    again = actions.run(rb2, rollback.rollback_action(rb2, policy=FAST), confirm=True)
    assert again.status == actions.ALREADY_DONE
    assert drill.fake.mutation_names() == ["deploymentRollback"]


@pytest.mark.slow
def test_two_concurrent_rollbacks_make_one_mutation(drill: Drill) -> None:
    sessions = [drill.session(notebook=f"rollback{i}") for i in range(2)]
    planned = [rollback.rollback_action(rb, policy=FAST) for rb in sessions]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def one(rb: Session, action: actions.Action) -> None:
        barrier.wait()
        try:
            outcomes.append(actions.run(rb, action, confirm=True).status)
        except ActionRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=pair) for pair in zip(sessions, planned,
                                                                        strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert drill.fake.mutation_names() == ["deploymentRollback"]
    assert sorted(outcomes) in (["refused", "succeeded"], ["already_done", "succeeded"])


def test_rollback_to_a_deployment_that_crashes_is_a_failure(drill: Drill) -> None:
    drill.fake.new_deployment_schedule = staged("CRASHED", 0.1)
    drill.fake.on_mutation.clear()  # the app stays down
    rb = drill.session()
    result = actions.run(rb, rollback.rollback_action(rb, policy=FAST), confirm=True)
    assert result.status == actions.FAILED and not result.ok
    assert "CRASHED" in result.summary
    assert any(f.code == "deploy.crashed" and f.status.value == "fail" for f in rb.findings)
    assert not any(f.code == "health.ok" for f in rb.findings)
    # A failed rollback may be tried again (to another deployment, once fixed).
    assert actions.succeeded_before(rb, "railway.rollback", result.target) is None


def test_the_wait_is_bounded(drill: Drill) -> None:
    drill.fake.new_deployment_schedule = [(0.0, "BUILDING")]
    rb = drill.session()
    policy = rollback.WaitPolicy(bound=0.6, first_interval=0.05, max_interval=0.1,
                                 progress=False)
    result = actions.run(rb, rollback.rollback_action(rb, policy=policy), confirm=True)
    assert result.status == actions.FAILED
    assert any(f.code == "deploy.in_progress" and f.status.value == "error"
               for f in result.findings)


@pytest.mark.parametrize("how, mutation", [("restart", "deploymentRestart"),
                                           ("redeploy", "deploymentRedeploy")])
@pytest.mark.slow
def test_restart_and_redeploy_wait_and_verify(drill: Drill, how: str, mutation: str) -> None:
    rb = drill.session()
    action = rollback.plan_mitigation(rb, how, wait_seconds=20, progress=False)
    assert not action.blocked, action.blocked
    result = actions.run(rb, action, confirm=True)
    assert result.status == actions.SUCCEEDED, result.summary
    assert drill.fake.mutation_names() == [mutation]
    assert any(f.code == "health.ok" for f in result.findings)


def test_no_previous_deployment_blocks(drill: Drill) -> None:
    handles = drill.target.extras["railway"]
    with drill.fake.lock:
        for deployment in handles.dealix.deployments:
            deployment.can_rollback = False
    rb = drill.session()
    action = rollback.rollback_action(rb, policy=FAST)
    assert "no previous successful deployment" in action.blocked
    assert "revert the commit" in action.blocked
    assert actions.run(rb, action, confirm=True).status == actions.BLOCKED
    assert drill.fake.mutation_names() == []


def test_a_refused_token_blocks_with_the_env_name(drill: Drill,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILL_RAILWAY_TOKEN", "wrong-token-123456")
    rb = drill.session()
    action = rollback.rollback_action(rb, policy=FAST)
    assert "DRILL_RAILWAY_TOKEN" in action.blocked
    assert action.findings[0].status.value == "error"


def test_unknown_deployment_id_is_refused(drill: Drill) -> None:
    rb = drill.session()
    action = rollback.rollback_action(rb, deployment_id="nope", policy=FAST)
    assert "is not among" in action.blocked


def test_not_configured(tmp_path: Path) -> None:
    rb = start_session(tmp_path)
    action = rollback.rollback_action(rb, policy=FAST)
    assert "[railway]" in action.blocked
    assert "cannot read" in repr(rollback.recent_deployments(rb))


# -- the notebook, headless, as `runbook drill` runs it ------------------------------------

@pytest.mark.slow
def test_notebook_dry_run_then_confirmed_twice(runs_dir: Path) -> None:
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        # Each status outlasts two polls, so the wait sees every one even on a busy machine.
        handles = bad_deploy(target, step=0.5)
        config_path = target.write_config()
        with target.environment():
            config = load_config(config_path)
            dry = run_notebook("rollback", [], config, incident_id="inc-nb", mode="drill")
            assert dry.status == "completed", dry.error
            assert [a["dry_run"] for a in dry.record["actions"]] == [True]
            assert handles.fake.mutation_names() == []

            runs = [run_notebook("rollback", [("confirm", "true"), ("wait_seconds", "30")],
                                 config, incident_id="inc-nb", mode="drill") for _ in range(2)]
    assert [r.status for r in runs] == ["completed", "completed"]
    assert handles.fake.mutation_names() == ["deploymentRollback"]
    first, second = (r.record["actions"][0] for r in runs)
    assert first["status"] == "succeeded" and first["dry_run"] is False
    assert second["status"] == "already_done" and second["earlier"]["at"] == first["at"]
    for run in runs:
        health = [f for f in run.record["findings"] if f["code"].startswith("health.")]
        assert health[-1]["code"] == "health.ok" and health[-1]["status"] == "pass"


@pytest.mark.parametrize("end, code, status", [
    ("SLEEPING", "deploy.ok", "pass"),               # active and idle: the rollback is up
    ("REMOVED", "deploy.replaced", "error"),         # replaced while waiting: no verdict
    ("REMOVING", "deploy.replaced", "error"),
    ("SKIPPED", "deploy.skipped", "error"),
    ("HIBERNATING", "deploy.unknown_status", "error"),   # unknown to the runbook: named
])
def test_the_wait_answers_every_status(drill: Drill, end: str, code: str, status: str) -> None:
    drill.fake.new_deployment_schedule = staged(end, 0.1)
    rb = drill.session()
    result = actions.run(rb, rollback.rollback_action(rb, policy=FAST), confirm=True)
    found = [f for f in result.findings if f.code == code]
    assert found and found[0].status.value == status, result.findings
    if status == "error":
        assert end in found[0].summary and not result.ok
