"""The runbook's Railway Rollback Procedure, and restart and redeploy, as guarded actions:

    Railway → Deployments → find the previous successful deployment → Redeploy (rollback)
    → wait for Active (SUCCESS) → verify /healthz = 200

Planning reads the deployments and says which one would be used and its commit. Execution
calls the mutation, then follows the new deployment's status with polling and backoff under
one bound (a progress bar shows it); FAILED or CRASHED ends the wait as a failure. Finally
`/healthz` is probed a few times. Every step is timestamped in the action's record.

Railway shows a deployment that was active and then replaced as REMOVED; it is still a
previous successful deployment, and Railway says whether it can be rolled back to
(`canRollback`).
"""

from __future__ import annotations

import dataclasses
import html
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from runbook.checks import health
from runbook.clients.railway import (
    DEPLOY_PROGRESS,
    DEPLOY_PROGRESS_DONE,
    Deployment,
    DeployState,
    RailwayClient,
    deploy_state,
)
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.errors import BadInput, RunbookError
from runbook.core.findings import Finding, errored, failed, passed
from runbook.sections.kit.actions import Action, Outcome, Reconciliation, StepLog
from runbook.sections.kit.session_protocol import SessionProtocol
from runbook.sections.kit.verification import Verification, health_verification

__all__ = ["DeploymentsView", "WaitPolicy", "choose_rollback", "plan_mitigation",
           "recent_deployments", "redeploy_action", "restart_action", "rollback_action",
           "verify_health", "wait_for_deployment"]

# What a previous deployment may be and still be one that ran: active, or replaced after.
WAS_ACTIVE = frozenset({DeployState.ACTIVE, DeployState.REPLACED})
# How far Railway's clock may be behind ours when a deployment's createdAt is compared with
# the time of an attempt (the planning's list of deployments is the sharper witness).
CLOCK_SKEW = timedelta(minutes=2)
FIX_CRASHED = ("the deployment did not come up: read its logs (Railway → Deployments → "
               "View logs), then roll back to an older deployment or revert the commit")


@dataclass(frozen=True)
class WaitPolicy:
    """How long and how often to wait for a deployment and for /healthz afterwards."""

    bound: float = 600.0           # seconds for the whole wait on the deployment
    first_interval: float = 1.0    # seconds before the first re-poll
    max_interval: float = 10.0     # the backoff stops growing here
    factor: float = 1.5
    health_attempts: int = 5       # /healthz probes before giving up
    health_interval: float = 3.0   # seconds between them
    progress: bool = True          # show a progress bar (tqdm.auto: a widget in notebooks)

    def intervals(self) -> Callable[[], float]:
        current = [self.first_interval]

        def next_interval() -> float:
            value = current[0]
            current[0] = min(self.max_interval, value * self.factor)
            return value
        return next_interval


def client_for(rb: SessionProtocol) -> RailwayClient:
    return RailwayClient.from_config(rb.config, rb.timeouts)


def checked(rb: SessionProtocol, name: str, policy: WaitPolicy) -> Verification:
    """The action's pre- and post-check: /healthz, held for the stabilisation window."""
    return health_verification(rb, name, attempts=policy.health_attempts,
                               interval=policy.health_interval)


def _short(deployment: Deployment) -> str:
    commit = f", commit {deployment.short_commit}" if deployment.commit_hash else ""
    return f"{deployment.id[:8]}{commit}"


def service_target(config: Config) -> str:
    """The guards' key for Railway actions: the service, so that running the notebook again in
    the same incident does not roll back (or restart) a second time."""
    railway = config.railway
    return f"railway service {railway.service_id if railway else '?'}"


def describe(deployment: Deployment) -> str:
    commit = (f"commit {deployment.short_commit} \"{deployment.commit_message}\""
              if deployment.commit_hash else "no commit recorded")
    return (f"deployment {deployment.id} ({deployment.status}, "
            f"{clock.both_zones(deployment.created_at)}, {commit})")


def choose_rollback(deployments: list[Deployment], deployment_id: str = ""
                    ) -> tuple[Deployment, Deployment]:
    """(current, the one to roll back to); BadInput says why there is none."""
    if not deployments:
        raise BadInput("the service has no deployments: nothing to roll back")
    current = deployments[0]
    if deployment_id:
        chosen = next((d for d in deployments if d.id == deployment_id), None)
        if chosen is None:
            raise BadInput(f"deployment {deployment_id} is not among the service's last "
                           f"{len(deployments)} deployments: check the id (Railway → "
                           "Deployments), or leave deployment_id empty to use the previous "
                           "successful one")
        if chosen.id == current.id:
            raise BadInput(f"deployment {deployment_id} is the current one: pick an older one")
        if not chosen.can_rollback:
            raise BadInput(f"Railway says deployment {deployment_id} ({chosen.status}) cannot "
                           "be rolled back to: pick another one")
        return current, chosen
    for candidate in deployments[1:]:
        if deploy_state(candidate.status) in WAS_ACTIVE and candidate.can_rollback:
            return current, candidate
    raise BadInput("no previous successful deployment that Railway can roll back to among the "
                   f"last {len(deployments)}: revert the commit instead (git path below)")


def rollback_action(rb: SessionProtocol, deployment_id: str = "",
                    policy: WaitPolicy | None = None) -> Action:
    """Plan the rollback: which deployment, which commit; blocked when there is none."""
    policy = policy or WaitPolicy()
    name, target = "railway.rollback", service_target(rb.config)
    try:
        client = client_for(rb)
        known = client.deployments(first=20)
        current, chosen = choose_rollback(known, deployment_id)
    except RunbookError as exc:
        return _blocked(name, target, exc)
    plan = (f"call deploymentRollback({chosen.id}) to run {describe(chosen)} again in place of "
            f"the current {describe(current)}; then wait up to {policy.bound:g}s for the new "
            f"deployment to reach SUCCESS (Active) and check {rb.config.service.healthz_path} "
            "answers 200")
    details = {"current deployment": current.id, "current status": current.status,
               "current commit": f"{current.short_commit} {current.commit_message}".strip(),
               "roll back to": chosen.id, "its status": chosen.status,
               "its commit": f"{chosen.short_commit} {chosen.commit_message}".strip(),
               "its created": clock.both_zones(chosen.created_at)}

    def execute(log: StepLog) -> Outcome:
        before = {d.id for d in client.deployments(first=50)}
        log.sending(f"deploymentRollback({chosen.id})")
        if not client.deployment_rollback(chosen.id):
            log.answered("Railway answered false: nothing was started")
            return Outcome(False, f"Railway refused the rollback to {chosen.id} (answered "
                           "false)")
        log.answered("Railway accepted the rollback")
        new = _new_deployment(client, before, policy, log)
        if new is None:
            return Outcome(False, "Railway accepted the rollback but no new deployment "
                           f"appeared within {policy.bound:g}s",
                           [errored("deploy.in_progress", "the rollback's deployment never "
                                    "appeared in the deployment list")])
        return _wait_and_verify(rb, client, new.id, policy, log, "rollback",
                                {"new deployment": new.id},
                                f"rolled back {service} to {_short(chosen)}")

    service = rb.config.service.name
    return Action(name, target, plan, execute, details=details,
                  reconcile=_reconciler(client, "rollback"), witness=_witness(known, chosen),
                  verification=checked(rb, name, policy), aim=chosen.id,
                  headline=f"roll back {service} from {_short(current)} to {_short(chosen)}")


def _witness(known: list[Deployment], source: Deployment | None = None) -> dict[str, Any]:
    """What the service looked like when the action was planned: its deployments, and the
    source (commit or image) the action's new deployment will run."""
    witness: dict[str, Any] = {"deployments": [d.id for d in known]}
    if source is not None:
        witness["source"] = deployment_source(source)
    return witness


def deployment_source(deployment: Deployment) -> str:
    """What a deployment runs: its commit, else its image ("" when Railway says neither)."""
    return deployment.commit_hash or str(deployment.meta.get("image") or "")


def _reconciler(client: RailwayClient, what: str
                ) -> Callable[[Mapping[str, Any]], Reconciliation]:
    """Did an attempt whose outcome was not seen take effect? Only a deployment of this
    action's kind is evidence: one that was not there when it was planned, created since the
    attempt, and running the source the attempt meant to run. Another deployment made
    meanwhile (a push, someone's redeploy of a newer commit) says nothing of this attempt."""

    def reconcile(attempt: Mapping[str, Any]) -> Reconciliation:
        witness = attempt.get("witness") or {}
        witness = witness if isinstance(witness, dict) else {}
        known = set(witness.get("deployments") or [])
        source = str(witness.get("source") or "")
        if not source:
            return Reconciliation(None, f"the {what} attempt at {attempt.get('at')} did not "
                                  "record which commit it would run, so no deployment can be "
                                  "tied to it")
        try:
            since = clock.parse_iso(str(attempt.get("at"))) - CLOCK_SKEW
        except ValueError:
            return Reconciliation(None, "the attempt's time is unreadable")
        fresh = [d for d in client.deployments(first=20)
                 if d.id not in known and d.created_at >= since]
        ours = [d for d in fresh if deployment_source(d) == source]
        if ours:
            newest = ours[0]
            return Reconciliation(True, f"Railway shows deployment {newest.id} "
                                  f"({newest.status}) of {source[:7]} created at "
                                  f"{clock.iso(newest.created_at)}, after the {what} attempt "
                                  f"at {attempt.get('at')}")
        others = (f" (only {len(fresh)} of other commits, which are not this {what})"
                  if fresh else "")
        return Reconciliation(None, f"Railway shows no deployment of {source[:7]} since the "
                              f"{what} attempt at {attempt.get('at')}{others}")

    return reconcile


def _restart_unknowable(attempt: Mapping[str, Any]) -> Reconciliation:
    """A restart makes no deployment, and nothing Railway shows ties an instance's restart to
    this attempt (the restart policy restarts crashed instances too): it stays unknown."""
    details = attempt.get("details") or {}
    deployment = details.get("deployment", "the deployment") if isinstance(details, dict) \
        else "the deployment"
    return Reconciliation(None, f"a restart makes no new deployment, and Railway shows nothing "
                          f"that ties a restart of {deployment} to the attempt at "
                          f"{attempt.get('at')}: read its logs (Railway → Deployments → View "
                          "logs) for a restart since then")


def restart_action(rb: SessionProtocol, policy: WaitPolicy | None = None) -> Action:
    """Restart the latest deployment (the runbook's "Restart service in Railway")."""
    policy = policy or WaitPolicy()
    name, target = "railway.restart", service_target(rb.config)
    found = _latest(rb, name, target, "restart")
    if isinstance(found, Action):
        return found
    client, latest = found
    plan = (f"call deploymentRestart({latest.id}) to restart {describe(latest)}; then wait up "
            f"to {policy.bound:g}s for it to be SUCCESS and check "
            f"{rb.config.service.healthz_path} answers 200")

    def execute(log: StepLog) -> Outcome:
        log.sending(f"deploymentRestart({latest.id})")
        if not client.deployment_restart(latest.id):
            log.answered("Railway answered false")
            return Outcome(False, f"Railway refused to restart {latest.id} (answered false)")
        log.answered("Railway accepted the restart")
        return _wait_and_verify(rb, client, latest.id, policy, log, "restart", {},
                                f"restarted {service} ({_short(latest)})")

    service = rb.config.service.name
    return Action(name, target, plan, execute, details=_latest_details(latest),
                  reconcile=_restart_unknowable, witness=_witness([latest]),
                  verification=checked(rb, name, policy), aim=latest.id,
                  headline=f"restart {service} ({_short(latest)})")


def redeploy_action(rb: SessionProtocol, policy: WaitPolicy | None = None) -> Action:
    """Redeploy the latest deployment: the same commit, built and started again (picks up
    changed variables)."""
    policy = policy or WaitPolicy()
    name, target = "railway.redeploy", service_target(rb.config)
    found = _latest(rb, name, target, "redeploy")
    if isinstance(found, Action):
        return found
    client, latest = found
    try:
        known = client.deployments(first=20)
    except RunbookError:
        known = [latest]
    if not latest.can_redeploy:
        return _blocked(name, target, BadInput(
            f"Railway says {latest.id} cannot be redeployed: use a rollback instead"))
    plan = (f"call deploymentRedeploy({latest.id}) to build and start {describe(latest)} again;"
            f" then wait up to {policy.bound:g}s for the new deployment to reach SUCCESS and "
            f"check {rb.config.service.healthz_path} answers 200")

    def execute(log: StepLog) -> Outcome:
        log.sending(f"deploymentRedeploy({latest.id})")
        new = client.deployment_redeploy(latest.id)
        log.answered(f"new deployment {new.id} is {new.status}")
        return _wait_and_verify(rb, client, new.id, policy, log, "redeploy",
                                {"new deployment": new.id},
                                f"redeployed {service} ({_short(latest)}) as {new.id[:8]}")

    service = rb.config.service.name
    return Action(name, target, plan, execute, details=_latest_details(latest),
                  reconcile=_reconciler(client, "redeploy"), witness=_witness(known, latest),
                  verification=checked(rb, name, policy), aim=latest.id,
                  headline=f"redeploy {service} ({_short(latest)})")


def _latest(rb: SessionProtocol, name: str, target: str, verb: str
            ) -> tuple[RailwayClient, Deployment] | Action:
    """The client and the latest deployment to act on, or the blocked action saying why not."""
    try:
        client = client_for(rb)
        latest = client.latest_deployment()
    except RunbookError as exc:
        return _blocked(name, target, exc)
    if latest is None:
        return _blocked(name, target, BadInput(f"the service has no deployment to {verb}"))
    return client, latest


def _latest_details(latest: Deployment) -> dict[str, Any]:
    return {"deployment": latest.id, "status": latest.status,
            "commit": f"{latest.short_commit} {latest.commit_message}".strip()}


def _blocked(name: str, target: str, exc: RunbookError) -> Action:
    finding = (failed(f"{name}_blocked", str(exc)) if isinstance(exc, BadInput)
               else errored(f"{name}_blocked", str(exc), error=type(exc).__name__))
    return Action(name, target, "", _never, blocked=str(exc), findings=(finding,))


def _never(log: StepLog) -> Outcome:  # pragma: no cover - a blocked action never executes
    raise BadInput("a blocked action cannot be executed")


def _new_deployment(client: RailwayClient, before: set[str], policy: WaitPolicy,
                    log: StepLog) -> Deployment | None:
    """The deployment the rollback created: the newest one that was not there before."""
    deadline = time.monotonic() + policy.bound
    interval = policy.intervals()
    while True:
        fresh = [d for d in client.deployments(first=50) if d.id not in before]
        if fresh:
            log.step(f"new deployment {fresh[0].id} is {fresh[0].status}")
            return fresh[0]
        if time.monotonic() >= deadline:
            log.step("no new deployment appeared")
            return None
        time.sleep(min(interval(), max(0.0, deadline - time.monotonic())))


def wait_for_deployment(client: RailwayClient, deployment_id: str, policy: WaitPolicy,
                        log: StepLog) -> Finding:
    """Poll until Active (SUCCESS or SLEEPING), FAILED/CRASHED, replaced, skipped, an unknown
    status, or the bound; each status change is a step."""
    started = time.monotonic()
    deadline = started + policy.bound
    interval = policy.intervals()
    bar = _progress_bar(policy, deployment_id)
    last = ""
    try:
        while True:
            status = client.deployment(deployment_id).status
            seconds = round(time.monotonic() - started, 1)
            if status != last:
                log.step(f"deployment {deployment_id} is {status}", seconds=seconds)
                last = status
                if bar is not None:
                    bar.set_description_str(status)
                    bar.n = DEPLOY_PROGRESS.get(status, bar.n)
                    bar.refresh()
            evidence: dict[str, Any] = {"deployment": deployment_id, "status": status,
                                        "seconds": seconds}
            # Every meaning has its answer: active ends the wait (SLEEPING is active and idle),
            # a crash or failure ends it as a failure, in-progress keeps waiting. Replaced,
            # skipped or unknown end it without a verdict on the code: unlike the service's
            # latest deployment (checks.deploys), this one is the rollout being waited for.
            state = deploy_state(status)
            if state is DeployState.ACTIVE:
                return passed("deploy.ok", f"deployment {deployment_id} is {status} (Active) "
                              f"after {seconds:g}s", **evidence)
            if state is DeployState.CRASHED:
                return failed("deploy.crashed", f"deployment {deployment_id} CRASHED after "
                              f"{seconds:g}s: the rolled-out code does not start", FIX_CRASHED,
                              **evidence)
            if state is DeployState.FAILED:
                return failed("deploy.failed", f"deployment {deployment_id} FAILED (build or "
                              f"deploy) after {seconds:g}s", FIX_CRASHED, **evidence)
            if state is DeployState.REPLACED:
                return errored("deploy.replaced", f"deployment {deployment_id} is {status} "
                               f"after {seconds:g}s: a newer deployment replaced it while "
                               "waiting; see which one is Active in Railway → Deployments",
                               **evidence)
            if state is DeployState.SKIPPED:
                return errored("deploy.skipped", f"deployment {deployment_id} was SKIPPED by "
                               "Railway: nothing was rolled out; the previous deployment keeps "
                               "running", **evidence)
            if state is not DeployState.IN_PROGRESS:
                return errored("deploy.unknown_status", f"deployment {deployment_id} has status "
                               f"{status!r}, which this runbook does not know: read it in "
                               "Railway → Deployments", **evidence)
            if time.monotonic() >= deadline:
                return errored("deploy.in_progress", f"deployment {deployment_id} is still "
                               f"{status} after the {policy.bound:g}s bound: watch it in "
                               "Railway → Deployments", **evidence)
            time.sleep(min(interval(), max(0.0, deadline - time.monotonic())))
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(policy: WaitPolicy, deployment_id: str) -> Any:
    if not policy.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=DEPLOY_PROGRESS_DONE, desc="waiting", unit="stage",
                bar_format="{desc:<12} {bar} {n}/{total} [{elapsed}]",
                postfix=deployment_id, leave=True)


def verify_health(config: Config, timeouts: Timeouts, policy: WaitPolicy,
                  log: StepLog) -> Finding:
    """The runbook's last step: /healthz = 200, with a few tries while the edge catches up."""
    finding = health.probe_healthz(config, timeouts)
    for attempt in range(1, max(1, policy.health_attempts) + 1):
        if attempt > 1:
            time.sleep(policy.health_interval)
            finding = health.probe_healthz(config, timeouts)
        log.step(f"/healthz try {attempt}: {finding.summary}", ok=finding.status.value == "pass")
        if finding.status.value == "pass":
            return finding
    return finding


def _wait_and_verify(rb: SessionProtocol, client: RailwayClient, deployment_id: str,
                     policy: WaitPolicy, log: StepLog, what: str,
                     details: dict[str, Any], done: str) -> Outcome:
    """Railway's part: the deployment reaches Active. The service's health is the action's
    post-check (`checked`), held for the stabilisation window."""
    deployed = wait_for_deployment(client, deployment_id, policy, log)
    if deployed.status.value != "pass":
        return Outcome(False, f"the {what} did not come up: {deployed.summary}", [deployed],
                       details=details)
    return Outcome(True, f"{what} done: deployment {deployment_id} is Active", [deployed],
                   details=details, done=done)


@dataclass
class DeploymentsView:
    """The service's recent deployments, newest first, as a table (or why they are unknown)."""

    deployments: list[Deployment]
    error: str = ""

    def __repr__(self) -> str:
        if self.error:
            return f"cannot read the deployments: {self.error}"
        lines = ["recent deployments (newest first):"]
        for d in self.deployments:
            lines.append(f"  {d.id[:12]:<12} {d.status:<12} "
                         f"{clock.both_zones(d.created_at):<34} {d.short_commit:<8} "
                         f"{d.commit_message[:60]}{'  [can roll back]' if d.can_rollback else ''}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.error:
            return f"<b>Cannot read the deployments:</b> {html.escape(self.error)}"
        rows = "".join(
            f"<tr><td><code>{html.escape(d.id)}</code></td><td>{html.escape(d.status)}</td>"
            f"<td>{html.escape(clock.both_zones(d.created_at))}</td>"
            f"<td><code>{html.escape(d.short_commit)}</code></td>"
            f"<td style='text-align:left'>{html.escape(d.commit_message)}</td>"
            f"<td>{'yes' if d.can_rollback else ''}</td></tr>" for d in self.deployments)
        return ("<table><thead><tr><th>deployment</th><th>status</th><th>created</th>"
                "<th>commit</th><th>message</th><th>can roll back</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def recent_deployments(rb: SessionProtocol, first: int = 10) -> DeploymentsView:
    """The deployments table; when Railway cannot be read, the view says why."""
    try:
        return DeploymentsView(client_for(rb).deployments(first=first))
    except RunbookError as exc:
        return DeploymentsView([], str(exc))


MITIGATIONS = ("rollback", "restart", "redeploy", "revert")


def plan_mitigation(rb: SessionProtocol, mitigation: str = "rollback", *, deployment_id: str = "",
                    revert_sha: str = "", repo_path: str = "", mainline: int = 0,
                    wait_seconds: float = 600.0, progress: bool = True) -> Action:
    """The one action the notebook's parameters ask for: a Railway rollback, restart or
    redeploy, or the git revert of `revert_sha` in the local clone."""
    choice = mitigation.strip().lower()
    if choice not in MITIGATIONS:
        raise BadInput(f"mitigation {mitigation!r} is not one of {', '.join(MITIGATIONS)}")
    if wait_seconds <= 0:
        raise BadInput("wait_seconds must be a positive number of seconds")
    policy = WaitPolicy(bound=wait_seconds, progress=progress)
    if choice == "rollback":
        return rollback_action(rb, deployment_id, policy)
    if choice == "restart":
        return restart_action(rb, policy)
    if choice == "redeploy":
        return redeploy_action(rb, policy)
    from runbook.sections import rollback_revert

    if not revert_sha.strip():
        raise BadInput("mitigation 'revert' needs revert_sha: the bad commit's sha (the "
                       "deployments table shows each deployment's commit)")
    revert = rollback_revert.revert_from_config(rb.config, revert_sha, repo_path,
                                                mainline or None)
    if revert.blocked:
        return revert
    # The push starts CI and the deploy: the post-check waits for the service as it does after
    # a rollback, and a revert that is pushed but not yet live is done, not yet a fix.
    return dataclasses.replace(revert, verification=checked(rb, revert.name, policy),
                               aim=str(revert.details.get("commit") or ""),
                               headline=f"revert commit {revert_sha.strip()[:8]} and push it")
