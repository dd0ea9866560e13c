"""Verdicts on what Railway says about the service: the latest deployment's status, how recent
it is and its commit, the start command, and a capped tail of a deployment's logs."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runbook.clients import railway
from runbook.clients.railway import Deployment, DeployState, LogLine, ServiceInstance
from runbook.core.clock import both_zones, iso
from runbook.core.findings import Finding, errored, failed, passed, skipped

RECENT = timedelta(minutes=60)   # a deploy this close to the trouble is the first suspect

FIX_CRASHED = ("The running deployment crashed: if it came with a recent change, roll back to "
               "the previous successful deployment; otherwise restart the service in Railway "
               "(rollback notebook)")
FIX_FAILED = ("The latest deploy failed: Railway → Deployments → read its logs, fix, redeploy "
              "(api_404 notebook shows the log tail)")
FIX_IN_PROGRESS = "A deploy is still in progress: wait for Active (SUCCESS), then check /healthz"
FIX_START_COMMAND = ("Railway → Settings → Start Command = /app/start.sh (or clear it so the "
                     "Dockerfile's CMD runs), then redeploy")


def deployment_evidence(deployment: Deployment) -> dict[str, Any]:
    return {"deployment_id": deployment.id, "status": deployment.status,
            "created_at": iso(deployment.created_at),
            "created_at_local": both_zones(deployment.created_at),
            "commit": deployment.commit_hash, "commit_message": deployment.commit_message}


def _label(deployment: Deployment) -> str:
    commit = f" (commit {deployment.short_commit}: {deployment.commit_message})" \
        if deployment.commit_hash else ""
    return f"deployment {deployment.id[:8]} of {both_zones(deployment.created_at)}{commit}"


def status_finding(deployment: Deployment | None) -> Finding:
    """The runbook's "Railway dashboard → service status", read from the latest deployment.
    Every DeploymentStatus has a verdict; one the runbook does not know is an `error` that names
    it (never a pass, never a crash)."""
    if deployment is None:
        return skipped("deploy.ok", "Railway lists no deployment for the service")
    evidence = deployment_evidence(deployment)
    status = deployment.status
    state = railway.deploy_state(status)
    if state is DeployState.ACTIVE:
        idle = ": active and idle (App Sleeping); it wakes on the next request" \
            if status == "SLEEPING" else " (Active)"
        return passed("deploy.ok", f"Railway: {_label(deployment)} is {status}{idle}",
                      **evidence)
    # Every status in words (the one mapping, clients.railway): a phone at night shows these.
    words = railway.explain_status(status)
    if state is DeployState.CRASHED:
        return failed("deploy.crashed", f"Railway: {_label(deployment)} {words}", FIX_CRASHED,
                      **evidence)
    if state is DeployState.FAILED:
        return failed("deploy.failed", f"Railway: {_label(deployment)} {words}", FIX_FAILED,
                      **evidence)
    if state is DeployState.IN_PROGRESS:
        return failed("deploy.in_progress", f"Railway: {_label(deployment)} is {words}",
                      FIX_IN_PROGRESS, **evidence)
    if state is DeployState.REPLACED:
        return passed("deploy.replaced", f"Railway: {_label(deployment)} is {status}: a newer "
                      "deployment replaced it (not a failure)", **evidence)
    if state is DeployState.SKIPPED:
        return passed("deploy.skipped", f"Railway: {_label(deployment)} was {status}: Railway "
                      "did not build it, the running deployment is unchanged", **evidence)
    return errored("deploy.unknown_status", f"Railway: {_label(deployment)} has status "
                   f"{status!r}, which this runbook does not know: read it in the Railway "
                   "dashboard", **evidence)


def last_deploy_finding(deployment: Deployment | None, now: datetime,
                        window: timedelta = RECENT) -> Finding:
    """"Last deploy in Railway?": when, and which commit. Informational: a pass either way."""
    if deployment is None:
        return skipped("deploy.recent", "Railway lists no deployment for the service")
    age = now - deployment.created_at
    minutes = int(age.total_seconds() // 60)
    evidence = {**deployment_evidence(deployment), "minutes_ago": minutes}
    if age <= window:
        return passed("deploy.recent", f"last deploy {minutes} min ago: {_label(deployment)}; "
                      "suspect it if the trouble began after it", **evidence)
    return passed("deploy.not_recent", f"no deploy in the last "
                  f"{int(window.total_seconds() // 60)} min; last: {_label(deployment)}",
                  **evidence)


def start_command_finding(instance: ServiceInstance, expected: str) -> Finding:
    command = (instance.start_command or "").strip()
    evidence = {"start_command": instance.start_command, "expected": expected,
                "healthcheck_path": instance.healthcheck_path}
    if not command:
        return passed("deploy.start_command_ok", "no start command override: the Dockerfile's "
                      f"CMD ({expected}) runs", **evidence)
    if command == expected:
        return passed("deploy.start_command_ok", f"start command is {expected}", **evidence)
    return failed("deploy.start_command_wrong", f"start command is {command!r}, not {expected!r}:"
                  " another app answers on the domain", FIX_START_COMMAND, **evidence)


@dataclass
class LogTail:
    """A deployment's last log lines, for display."""

    deployment_id: str
    lines: list[LogLine]

    def __repr__(self) -> str:
        if not self.lines:
            return f"(no log lines for deployment {self.deployment_id[:8]})"
        return "\n".join(f"{line.timestamp} {line.severity:<5} {line.message}"
                         for line in self.lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<div style="color:{"#d93025" if line.severity == "error" else "inherit"}">'
            f"{html.escape(line.timestamp)} {html.escape(line.message)}</div>"
            for line in self.lines) or "(no log lines)"
        return (f"<h4>Logs of deployment <code>{html.escape(self.deployment_id[:8])}</code> "
                f"(last {len(self.lines)} lines)</h4>"
                f'<pre style="max-height:24em;overflow:auto">{rows}</pre>')
