"""The "/api/v1/* returns 404" section, probed at once: the latest deployment (and the tail of
its logs when it failed), the start command against the expected one, and a public and a
protected `/api/v1` route (200 and 401 expected; 404 means the API is not what answers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from runbook.checks import api_routes, deploys
from runbook.checks.deploys import LogTail
from runbook.clients import railway
from runbook.clients.railway import Deployment, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.concurrency import run_concurrently
from runbook.core.config import Config
from runbook.core.findings import Finding, skipped
from runbook.core.redaction import registry

__all__ = ["Api404Report", "investigate"]

LOG_LINES = 60


@dataclass
class Api404Report:
    findings: list[Finding] = field(default_factory=list)
    deployment: Deployment | None = None
    logs: LogTail | None = None

    def _codes(self, *prefixes: str) -> list[Finding]:
        return [f for f in self.findings if f.code.startswith(prefixes)]

    @property
    def deploy(self) -> list[Finding]:
        return [f for f in self._codes("deploy.") if not f.code.startswith("deploy.start")]

    @property
    def start_command(self) -> list[Finding]:
        return self._codes("deploy.start")

    @property
    def routes(self) -> list[Finding]:
        return self._codes("api.", "health.")

    def log_tail(self) -> LogTail | str:
        return self.logs if self.logs is not None else \
            "The latest deployment did not fail: no logs to read."


def _railway_missing(config: Config, code: str) -> Finding | None:
    if config.railway is None:
        return skipped(code, "Railway is not configured (no [railway] section)")
    if not registry().read_env(config.railway.token_env):
        return skipped(code, f"${config.railway.token_env} is not set: Railway not checked")
    return None


def investigate(config: Config, timeouts: Timeouts) -> Api404Report:
    report = Api404Report()

    def deployment_check() -> Finding:
        missing = _railway_missing(config, "deploy.ok")
        if missing:
            return missing
        client = RailwayClient.from_config(config, timeouts)
        report.deployment = client.latest_deployment()
        deployment = report.deployment
        if deployment is not None and railway.deploy_state(deployment.status) in (
                railway.DeployState.FAILED, railway.DeployState.CRASHED):
            report.logs = LogTail(deployment.id, client.deployment_logs(deployment.id,
                                                                        LOG_LINES))
        return deploys.status_finding(deployment)

    def start_command_check() -> Finding:
        missing = _railway_missing(config, "deploy.start_command_ok")
        if missing or config.railway is None:
            return missing or skipped("deploy.start_command_ok", "Railway is not configured")
        instance = RailwayClient.from_config(config, timeouts).service_instance()
        return deploys.start_command_finding(instance, config.railway.expected_start_command)

    checks = {
        "deploy.ok": deployment_check,
        "deploy.start_command_ok": start_command_check,
        "api.public": lambda: api_routes.probe_public(config, timeouts),
        "api.protected": lambda: api_routes.probe_protected(config, timeouts),
    }
    # The deployment check makes two requests (list, then logs): two timeouts bound the batch.
    report.findings = run_concurrently(checks, bound=2 * timeouts.total + 1.0)
    return report
