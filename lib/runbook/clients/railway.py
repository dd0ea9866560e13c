"""Railway's GraphQL API: deployments, their logs, the service's settings, variables, and the
mutations the runbook's mitigations need (rollback, restart, redeploy, variable upsert).

Two token kinds exist: an account or workspace token goes in `Authorization: Bearer`, a project
token in `Project-Access-Token` (`[railway] token_kind`). Railway answers a refused token with
HTTP 200 and a GraphQL error ("Not Authorized", "Project Token not found"); both become an
`AuthError` that names the env var and the token kind to fix.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbook.clients.transport import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.clock import parse_iso
from runbook.core.config import Config, RailwayConfig
from runbook.core.errors import AuthError, ConfigError, ServiceError, ServiceUnavailable
from runbook.core.redaction import looks_secret, registry

SERVICE = "Railway"
MAX_LOG_LINES = 500       # a tail longer than this does not fit on a responder's screen
DEFAULT_LOG_LINES = 100



class DeployState(enum.StrEnum):
    """What a deployment's status means for the service: the one reading every caller uses."""

    ACTIVE = "active"            # serving: "Active" in the dashboard
    IN_PROGRESS = "in_progress"  # queued, building or deploying: not serving yet
    FAILED = "failed"            # the build or the deploy failed: it never served
    CRASHED = "crashed"          # it started, then crashed
    REPLACED = "replaced"        # a newer deployment replaced it
    SKIPPED = "skipped"          # Railway did not build it: nothing was deployed
    UNKNOWN = "unknown"          # a status the runbook does not know: never read as a pass


# Every value of Railway's DeploymentStatus enum (its published schema) and its one meaning.
# SLEEPING is an active deployment idled by App Sleeping (it wakes on the next request);
# REMOVED and REMOVING are deployments a newer one replaced (REMOVED ones had been active).
DEPLOY_STATES: Mapping[str, DeployState] = {
    "SUCCESS": DeployState.ACTIVE, "SLEEPING": DeployState.ACTIVE,
    "QUEUED": DeployState.IN_PROGRESS, "WAITING": DeployState.IN_PROGRESS,
    "NEEDS_APPROVAL": DeployState.IN_PROGRESS, "INITIALIZING": DeployState.IN_PROGRESS,
    "BUILDING": DeployState.IN_PROGRESS, "DEPLOYING": DeployState.IN_PROGRESS,
    "FAILED": DeployState.FAILED,
    "CRASHED": DeployState.CRASHED,
    "REMOVED": DeployState.REPLACED, "REMOVING": DeployState.REPLACED,
    "SKIPPED": DeployState.SKIPPED,
}
# How far along towards active a deployment is (4 is active), for a progress bar.
DEPLOY_PROGRESS: Mapping[str, int] = {
    "QUEUED": 1, "WAITING": 1, "NEEDS_APPROVAL": 1, "INITIALIZING": 1, "BUILDING": 2,
    "DEPLOYING": 3, "SUCCESS": 4, "SLEEPING": 4}
DEPLOY_PROGRESS_DONE = 4


def deploy_state(status: str) -> DeployState:
    return DEPLOY_STATES.get(status, DeployState.UNKNOWN)


# What each meaning is, in words a responder reads on a phone; SLEEPING says its own.
STATE_WORDS: Mapping[DeployState, str] = {
    DeployState.ACTIVE: "Active: serving",
    DeployState.IN_PROGRESS: "still deploying, not serving yet",
    DeployState.FAILED: "the build or deploy failed: it never served",
    DeployState.CRASHED: "it started, then crashed",
    DeployState.REPLACED: "replaced by a newer deployment (it had been active)",
    DeployState.SKIPPED: "skipped by Railway: nothing was deployed",
    DeployState.UNKNOWN: "a status runbook does not know: read it in Railway",
}


def explain_status(status: str) -> str:
    """"REMOVED (replaced by a newer deployment …)": every Railway status with its meaning."""
    if status == "SLEEPING":
        return "SLEEPING (Active, idled by App Sleeping: wakes on the next request)"
    return f"{status} ({STATE_WORDS[deploy_state(status)]})"


_AUTH_MARKERS = ("not authorized", "unauthorized", "project token not found",
                 "invalid token", "token not found")

_DEPLOYMENT_FIELDS = "id status createdAt url staticUrl canRedeploy canRollback meta"

DEPLOYMENTS_QUERY = f"""
query deployments($input: DeploymentListInput!, $first: Int) {{
  deployments(input: $input, first: $first) {{
    edges {{ node {{ {_DEPLOYMENT_FIELDS} }} }}
  }}
}}"""

DEPLOYMENT_QUERY = f"""
query deployment($id: String!) {{
  deployment(id: $id) {{ {_DEPLOYMENT_FIELDS} }}
}}"""

DEPLOYMENT_LOGS_QUERY = """
query deploymentLogs($deploymentId: String!, $limit: Int) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit) { timestamp message severity }
}"""

SERVICE_INSTANCE_QUERY = """
query serviceInstance($environmentId: String!, $serviceId: String!) {
  serviceInstance(environmentId: $environmentId, serviceId: $serviceId) {
    startCommand healthcheckPath restartPolicyType numReplicas
    latestDeployment { id status }
  }
}"""

VARIABLES_QUERY = """
query variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}"""

ROLLBACK_MUTATION = """
mutation deploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}"""

RESTART_MUTATION = """
mutation deploymentRestart($id: String!) {
  deploymentRestart(id: $id)
}"""

REDEPLOY_MUTATION = f"""
mutation deploymentRedeploy($id: String!) {{
  deploymentRedeploy(id: $id) {{ {_DEPLOYMENT_FIELDS} }}
}}"""

VARIABLE_UPSERT_MUTATION = """
mutation variableUpsert($input: VariableUpsertInput!) {
  variableUpsert(input: $input)
}"""


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str
    created_at: datetime
    url: str
    static_url: str
    can_redeploy: bool
    can_rollback: bool
    meta: dict[str, Any]
    commit_hash: str
    commit_message: str
    commit_author: str = ""           # meta.commitAuthor, when Railway knows it

    @property
    def short_commit(self) -> str:
        return self.commit_hash[:7]

    @classmethod
    def from_node(cls, node: Any) -> Deployment:
        if not isinstance(node, dict) or not node.get("id") or not node.get("createdAt"):
            raise ServiceUnavailable(SERVICE, f"a deployment without id or createdAt: "
                                     f"{excerpt(json.dumps(node))}")
        meta = node.get("meta")
        if isinstance(meta, str):  # JSON scalars sometimes arrive as an encoded string
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        meta = meta if isinstance(meta, dict) else {}
        try:
            created = parse_iso(str(node["createdAt"]))
        except ValueError:
            raise ServiceUnavailable(SERVICE, f"deployment {node['id']} has an unreadable "
                                     f"createdAt {node['createdAt']!r}") from None
        return cls(
            id=str(node["id"]), status=str(node.get("status") or "UNKNOWN"), created_at=created,
            url=str(node.get("url") or ""), static_url=str(node.get("staticUrl") or ""),
            can_redeploy=bool(node.get("canRedeploy")), can_rollback=bool(node.get("canRollback")),
            meta=meta, commit_hash=str(meta.get("commitHash") or ""),
            commit_message=str(meta.get("commitMessage") or ""),
            commit_author=str(meta.get("commitAuthor") or ""))


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    message: str
    severity: str


@dataclass(frozen=True)
class ServiceInstance:
    start_command: str | None
    healthcheck_path: str | None
    restart_policy_type: str | None
    num_replicas: int | None
    latest_deployment_id: str | None
    latest_deployment_status: str | None


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


class RailwayClient:
    """One Railway project/environment; `service_id=None` in a call means the configured one."""

    def __init__(self, settings: RailwayConfig, token: str, timeouts: Timeouts,
                 max_rate_limit_wait: float = 10.0) -> None:
        self.settings = settings
        self._token = token
        self.timeouts = timeouts
        self.max_rate_limit_wait = max_rate_limit_wait

    @classmethod
    def from_config(cls, config: Config, timeouts: Timeouts) -> RailwayClient:
        settings = config.railway
        if settings is None:
            raise ConfigError(f"{config.path}: no [railway] section: add project_id, "
                              "environment_id, service_id and token_env")
        where = ("Account Settings → Tokens" if settings.token_kind == "account"
                 else "Project Settings → Tokens")
        token = required_secret(SERVICE, settings.token_env, f"export the Railway "
                                f"{settings.token_kind} token in it (Railway → {where})")
        return cls(settings, token, timeouts)

    # -- plumbing -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.settings.token_kind == "project":
            return {"Project-Access-Token": self._token}
        return {"Authorization": f"Bearer {self._token}"}

    def _auth_hint(self, message: str) -> str:
        env, kind = self.settings.token_env, self.settings.token_kind
        header = "Project-Access-Token" if kind == "project" else "Authorization: Bearer"
        if "project token not found" in message.lower():
            other = ("it may be an account or workspace token: set [railway] token_kind = "
                     '"account"') if kind == "project" else ""
            return (f"Railway does not know the project token in ${env} ({message}); create a "
                    f"new one in Project Settings → Tokens" + (f", or {other}" if other else ""))
        other_kind = "account" if kind == "project" else "project"
        return (f"Railway refused the {kind} token in ${env}, sent as {header} ({message}): "
                f"check that ${env} holds a valid {kind} token with access to project "
                f"{self.settings.project_id}, or if it is a {other_kind} token set [railway] "
                f'token_kind = "{other_kind}"')

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one operation; the `data` object, or a ServiceError a responder can act on."""
        if query is not VARIABLES_QUERY:
            self._register_variables_first()
        with client(self.timeouts, self._headers()) as http:
            response = request(http, SERVICE, "POST", self.settings.api_url,
                               credential_env=self.settings.token_env,
                               max_rate_limit_wait=self.max_rate_limit_wait,
                               json={"query": query, "variables": variables})
        body = json_body(response, SERVICE)
        if not isinstance(body, dict):
            raise ServiceUnavailable(SERVICE, f"answered {response.status_code} with JSON that "
                                     f"is not a GraphQL response: {excerpt(response.text)}")
        errors = body.get("errors")
        if errors:
            messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e)
                        for e in (errors if isinstance(errors, list) else [errors])]
            message = excerpt("; ".join(messages))
            if any(marker in message.lower() for marker in _AUTH_MARKERS):
                raise AuthError(SERVICE, self._auth_hint(message))
            raise ServiceError(SERVICE, f"GraphQL error: {message}")
        if response.status_code != 200:
            raise ServiceUnavailable(SERVICE, f"answered {response.status_code}: "
                                     f"{excerpt(response.text)}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ServiceUnavailable(SERVICE, f"a GraphQL response without data: "
                                     f"{excerpt(response.text)}")
        return data

    def _field(self, data: dict[str, Any], name: str) -> Any:
        if name not in data:
            raise ServiceUnavailable(SERVICE, f"the answer has no {name!r} field")
        return data[name]

    def _service(self, service_id: str | None) -> str:
        return service_id or self.settings.service_id

    # -- queries --------------------------------------------------------------------------

    def deployments(self, service_id: str | None = None, first: int = 20) -> list[Deployment]:
        """The service's deployments, newest first (Railway does not document an order)."""
        data = self.graphql(DEPLOYMENTS_QUERY, {
            "input": {"projectId": self.settings.project_id,
                      "environmentId": self.settings.environment_id,
                      "serviceId": self._service(service_id)},
            "first": first})
        connection = self._field(data, "deployments")
        edges = connection.get("edges") if isinstance(connection, dict) else None
        if not isinstance(edges, list):
            raise ServiceUnavailable(SERVICE, "deployments came back without edges")
        found = [Deployment.from_node(edge.get("node") if isinstance(edge, dict) else None)
                 for edge in edges]
        return sorted(found, key=lambda d: d.created_at, reverse=True)

    def latest_deployment(self, service_id: str | None = None) -> Deployment | None:
        found = self.deployments(service_id)
        return found[0] if found else None

    def deployment(self, deployment_id: str) -> Deployment:
        data = self.graphql(DEPLOYMENT_QUERY, {"id": deployment_id})
        return Deployment.from_node(self._field(data, "deployment"))

    def deployment_logs(self, deployment_id: str,
                        limit: int = DEFAULT_LOG_LINES) -> list[LogLine]:
        """The last `limit` lines (at most MAX_LOG_LINES) of a deployment's runtime logs."""
        limit = max(1, min(limit, MAX_LOG_LINES))
        data = self.graphql(DEPLOYMENT_LOGS_QUERY, {"deploymentId": deployment_id,
                                                    "limit": limit})
        lines = self._field(data, "deploymentLogs")
        if not isinstance(lines, list):
            raise ServiceUnavailable(SERVICE, "deploymentLogs is not a list")
        logs = [LogLine(str(line.get("timestamp", "")), str(line.get("message", "")),
                        str(line.get("severity") or "info"))
                for line in lines if isinstance(line, dict)]
        return logs[-limit:]

    def service_instance(self, service_id: str | None = None) -> ServiceInstance:
        data = self.graphql(SERVICE_INSTANCE_QUERY, {
            "environmentId": self.settings.environment_id,
            "serviceId": self._service(service_id)})
        node = self._field(data, "serviceInstance")
        if not isinstance(node, dict):
            raise ServiceUnavailable(SERVICE, "serviceInstance is not an object")
        latest = node.get("latestDeployment") if isinstance(node.get("latestDeployment"),
                                                            dict) else {}
        replicas = node.get("numReplicas")
        return ServiceInstance(
            start_command=_optional_str(node.get("startCommand")),
            healthcheck_path=_optional_str(node.get("healthcheckPath")),
            restart_policy_type=_optional_str(node.get("restartPolicyType")),
            num_replicas=replicas if isinstance(replicas, int) else None,
            latest_deployment_id=_optional_str((latest or {}).get("id")),
            latest_deployment_status=_optional_str((latest or {}).get("status")))

    def _register_variables_first(self) -> None:
        """Railway's variables are registered as secrets before anything else Railway says can
        be shown: a deploy log line or a start command may print DATABASE_URL or a JWT secret
        that only Railway knows. Once per service and process; a refused read is left to the
        operation that follows, which meets the same refusal and reports it."""
        if not registry().first_read_of(self._variables_source()):
            return
        with contextlib.suppress(ServiceError):
            self.variables()

    def _variables_source(self, service_id: str | None = None) -> str:
        return (f"railway:{self.settings.project_id}:{self.settings.environment_id}:"
                f"{self._service(service_id)}")

    def variables(self, service_id: str | None = None) -> dict[str, str]:
        """The service's variables; every value that may be secret (all but the platform's
        plain ones, see `secrets.looks_secret`) is registered as a secret under its name."""
        data = self.graphql(VARIABLES_QUERY, {
            "projectId": self.settings.project_id,
            "environmentId": self.settings.environment_id,
            "serviceId": self._service(service_id)})
        values = self._field(data, "variables")
        if not isinstance(values, dict):
            raise ServiceUnavailable(SERVICE, "variables is not a JSON object")
        result = {str(name): "" if value is None else str(value)
                  for name, value in values.items()}
        for name, value in result.items():
            if looks_secret(name, value):
                registry().register(name, value)
        registry().first_read_of(self._variables_source(service_id))  # read: no need again
        return result

    # -- mutations ------------------------------------------------------------------------

    def _boolean(self, data: dict[str, Any], name: str) -> bool:
        value = self._field(data, name)
        if not isinstance(value, bool):
            raise ServiceUnavailable(SERVICE, f"{name} did not answer a Boolean")
        return value

    def deployment_rollback(self, deployment_id: str) -> bool:
        """Roll back to `deployment_id` (only where its canRollback is true)."""
        data = self.graphql(ROLLBACK_MUTATION, {"id": deployment_id})
        return self._boolean(data, "deploymentRollback")

    def deployment_restart(self, deployment_id: str) -> bool:
        data = self.graphql(RESTART_MUTATION, {"id": deployment_id})
        return self._boolean(data, "deploymentRestart")

    def deployment_redeploy(self, deployment_id: str) -> Deployment:
        data = self.graphql(REDEPLOY_MUTATION, {"id": deployment_id})
        return Deployment.from_node(self._field(data, "deploymentRedeploy"))

    def variable_upsert(self, name: str, value: str, service_id: str | None = None,
                        skip_deploys: bool = False) -> bool:
        """Set a variable; without `skip_deploys` Railway redeploys the service."""
        registry().register(name, value)
        data = self.graphql(VARIABLE_UPSERT_MUTATION, {"input": {
            "projectId": self.settings.project_id,
            "environmentId": self.settings.environment_id,
            "serviceId": self._service(service_id),
            "name": name, "value": value, "skipDeploys": skip_deploys}})
        return self._boolean(data, "variableUpsert")
