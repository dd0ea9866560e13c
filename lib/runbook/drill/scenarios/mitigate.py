"""Mitigation scenarios: a bad deploy crashed Dealix, and the rollback notebook puts it back.

The fake Railway moves every deployment a mutation makes through Railway's real statuses
(INITIALIZING → BUILDING → DEPLOYING → SUCCESS, or → CRASHED) over about a second, and the
simulated app comes back up when (and only when) the new deployment becomes Active.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from runbook.drill.fakes.railway import FakeRailway, Mutation, RailwayHandles, with_railway
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.target import Target

STEP_SECONDS = 0.3
BRINGS_UP = ("deploymentRollback", "deploymentRestart", "deploymentRedeploy")


def staged(end: str = "SUCCESS", step: float = STEP_SECONDS) -> list[tuple[float, str]]:
    """Railway's path for a new deployment, one status every `step` seconds."""
    return [(0.0, "INITIALIZING"), (step, "BUILDING"), (2 * step, "DEPLOYING"),
            (3 * step, end)]


def bad_deploy(target: Target, rollback_ends: str = "SUCCESS",
               step: float = STEP_SECONDS) -> RailwayHandles:
    """The latest deploy (a bad commit) crashed; the one before it ran the app fine."""
    fake = with_railway(target)
    handles: RailwayHandles = target.extras["railway"]
    good_sha = target.app.state.git_sha
    with fake.lock:
        for deployment in handles.dealix.deployments:
            if deployment.status == "SUCCESS":
                deployment.status = "REMOVED"  # replaced by the bad deploy, as Railway shows it
    bad_sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    fake.add_deployment(handles.dealix.id, "CRASHED", datetime.now(UTC) - timedelta(minutes=12),
                        commit_hash=bad_sha, commit_message="Switch lead export to async worker",
                        commit_author="faisal")
    target.extras["bad_sha"] = bad_sha
    target.extras["good_sha"] = good_sha
    target.app.state.up = False
    fake.new_deployment_schedule = staged(rollback_ends, step)
    _app_follows(target, fake, comes_up=rollback_ends == "SUCCESS", after=3 * step)
    return handles


def rollback_restores(target: Target, step: float = STEP_SECONDS) -> None:
    """From now on a rollback, restart or redeploy goes through Railway's statuses and ends
    Active, and the simulated app is up once it is (the crash was the bad deploy's)."""
    handles: RailwayHandles = target.extras["railway"]
    handles.fake.new_deployment_schedule = staged("SUCCESS", step)
    _app_follows(target, handles.fake, comes_up=True, after=3 * step)


def rollback_fixes_nothing(target: Target, step: float = STEP_SECONDS) -> None:
    """The fault where Railway does its part and it is not enough: a rollback, restart or
    redeploy goes through Railway's statuses and ends Active, and the app stays down (the
    crash was not the deploy's)."""
    handles: RailwayHandles = target.extras["railway"]
    handles.fake.new_deployment_schedule = staged("SUCCESS", step)
    with target.app.lock:
        target.app.state.up = False


def _app_follows(target: Target, fake: FakeRailway, comes_up: bool, after: float) -> None:
    """The simulated app is up once a new deployment reaches SUCCESS, not before."""
    timers: list[threading.Timer] = []

    def up() -> None:
        with target.app.lock:
            target.app.state.up = True

    def on_mutation(mutation: Mutation) -> None:
        if mutation.name in BRINGS_UP and comes_up:
            timer = threading.Timer(after, up)
            timer.daemon = True
            timers.append(timer)
            timer.start()

    def cancel_all() -> None:
        for timer in timers:
            timer.cancel()

    fake.on_mutation.append(on_mutation)
    target.stack.callback(cancel_all)


def _bad_deploy(target: Target) -> None:
    bad_deploy(target)


def _rollback_crashes(target: Target) -> None:
    bad_deploy(target, rollback_ends="CRASHED")


register(Scenario(
    "bad-deploy", "the latest deploy crashed the app; a dry-run rollback shows the plan",
    "rollback", _bad_deploy, expect_failing=("health.down",)))
register(Scenario(
    "bad-deploy-rollback", "the latest deploy crashed the app; a confirmed rollback restores it",
    "rollback", _bad_deploy, expect_passing=("railway.rollback", "deploy.ok", "health.ok"),
    parameters=(("confirm", "true"),)))
register(Scenario(
    "rollback-crashes", "the deployment rolled back to crashes too: the rollback is reported "
    "as failed", "rollback", _rollback_crashes, expect_failing=("railway.rollback",
                                                                 "deploy.crashed"),
    parameters=(("confirm", "true"),)))


def comms_outage(target: Target) -> None:
    """Dealix is down; Slack, Statuspage and a real SMTP server wait for the messages."""
    from runbook.drill.fakes.slack import with_slack
    from runbook.drill.fakes.smtp import with_smtp
    from runbook.drill.fakes.statuspage import with_statuspage

    target.app.state.up = False
    with_slack(target)
    with_statuspage(target)
    with_smtp(target)
    target.sections["contacts"] = [
        {"name": "Sami", "role": "founder, on-call 24/7", "issue": "backend",
         "channel": "#dealix-alerts", "phone": "+966500000000",
         "verified": datetime.now(UTC).date().isoformat()},
        {"name": "Railway support", "role": "hosting", "issue": "hosting",
         "channel": "https://station.railway.com", "verified": "2020-01-01"}]


register(Scenario(
    "comms-outage", "Dealix is down: tell #dealix-alerts and the customers (dry run)", "comms",
    comms_outage, expect_failing=("health.down",), expect_severity="SEV-1"))
register(Scenario(
    "comms-outage-send", "Dealix is down: Slack and the Arabic/English email are sent",
    "comms", comms_outage, expect_failing=("health.down",),
    expect_passing=("slack.posted", "email.sent"), parameters=(("confirm", "true"),)))
