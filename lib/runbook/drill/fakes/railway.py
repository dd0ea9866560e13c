"""A fake of Railway's GraphQL API (`POST /graphql/v2`) on loopback.

It reads the operation's root field and its `$variables` (no full GraphQL parser: the library's
operations are known) and answers in Railway's shapes: `deployments { edges { node } }`,
`deploymentLogs [Log]`, `serviceInstance`, `variables` as a JSON map, and Boolean mutations. A
token it does not know gets Railway's own answer: HTTP 200 with `{"errors":[{"message":"Not
Authorized"}]}` (or "Project Token not found" for the Project-Access-Token header).

State is plain dataclasses that scenarios edit: services with their deployments, variables and
instance settings. A deployment's status can follow a schedule of (seconds, status) steps, so a
redeploy can go BUILDING → DEPLOYING → SUCCESS while a notebook waits on it. Every mutation is
kept in `mutations` (`mutation_count` counts them), and listeners (`on_mutation`) let the
simulated app react to one.

Two ways a mutation's answer is lost while the mutation is done, as on a slow or broken link:
`answer_late = SECONDS` does it at once and answers only after SECONDS (past the client's read
timeout), and `reset_after_mutation = True` does it and then resets the connection. Both are
counts of mutations they apply to (`answer_late_times`, a number; the reset, each one while
true).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runbook.drill.fakes.faults import Faults
from runbook.drill.fakes.server import FakeService, Request, Response, json_response

if TYPE_CHECKING:
    from runbook.drill.target import Target

GRAPHQL_PATH = "/graphql/v2"
TOKEN_ENV = "DRILL_RAILWAY_TOKEN"
NOT_AUTHORIZED = "Not Authorized"
PROJECT_TOKEN_NOT_FOUND = "Project Token not found"

_OPERATION = re.compile(r"^\s*(?:(?:query|mutation)\b\s*\w*\s*(?:\([^)]*\))?\s*)?\{\s*(\w+)\s*"
                        r"(\(([^)]*)\))?", re.S)
_ARGUMENT = re.compile(r"(\w+)\s*:\s*(?:\$(\w+)|\"((?:[^\"\\]|\\.)*)\"|(\d+)|(true|false))")
_MUTATIONS = {"deploymentRollback", "deploymentRestart", "deploymentRedeploy", "variableUpsert",
              "serviceInstanceRedeploy", "serviceInstanceUpdate"}


def railway_time(moment: datetime) -> str:
    """Railway's DateTime: ISO-8601 UTC with milliseconds and a Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass
class FakeDeployment:
    id: str
    service_id: str
    status: str
    created_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    can_rollback: bool = True
    can_redeploy: bool = True
    url: str = ""
    static_url: str = ""
    logs: list[dict[str, str]] = field(default_factory=list)
    # (seconds after `schedule_start`, status): the status in force is the last step reached;
    # before the first step, `status`.
    schedule: list[tuple[float, str]] = field(default_factory=list)
    schedule_start: float = field(default_factory=time.monotonic)

    def current_status(self) -> str:
        elapsed = time.monotonic() - self.schedule_start
        status = self.status
        for after, step in sorted(self.schedule):
            if elapsed >= after:
                status = step
        return status

    def set_schedule(self, steps: list[tuple[float, str]]) -> None:
        self.schedule = list(steps)
        self.schedule_start = time.monotonic()

    def log(self, message: str, severity: str = "info", at: datetime | None = None) -> None:
        self.logs.append({"timestamp": railway_time(at or datetime.now(UTC)),
                          "message": message, "severity": severity})

    def node(self) -> dict[str, Any]:
        status = self.current_status()
        return {"id": self.id, "status": status, "createdAt": railway_time(self.created_at),
                "url": self.url, "staticUrl": self.static_url,
                "canRedeploy": self.can_redeploy,
                "canRollback": self.can_rollback and status in ("SUCCESS", "REMOVED"),
                "meta": dict(self.meta)}


@dataclass
class FakeServiceInstance:
    start_command: str | None = None          # None: the Dockerfile's CMD (/app/start.sh)
    healthcheck_path: str | None = "/healthz"
    restart_policy_type: str | None = "ON_FAILURE"
    num_replicas: int | None = 1


@dataclass
class FakeRailwayService:
    id: str
    name: str
    deployments: list[FakeDeployment] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    instance: FakeServiceInstance = field(default_factory=FakeServiceInstance)

    def latest(self) -> FakeDeployment | None:
        return max(self.deployments, key=lambda d: d.created_at, default=None)


@dataclass
class Mutation:
    name: str
    arguments: dict[str, Any]
    result: Any
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class GraphQLError(Exception):
    pass


def _errors(message: str, status: int = 200) -> Response:
    return json_response({"errors": [{"message": message, "locations": [],
                                      "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
                          "data": None}, status)


class FakeRailway(FakeService):
    name = "railway"

    def __init__(self, token: str, project_id: str = "", environment_id: str = "") -> None:
        super().__init__()
        self.token = token
        self.project_id = project_id or str(uuid.uuid4())
        self.environment_id = environment_id or str(uuid.uuid4())
        self.services: dict[str, FakeRailwayService] = {}
        self.mutations: list[Mutation] = []
        self.on_mutation: list[Callable[[Mutation], None]] = []
        self.faults = Faults()
        # What a deployment made by a mutation goes through; the last step is where it stays.
        self.new_deployment_schedule: list[tuple[float, str]] = [(0.0, "SUCCESS")]
        # A mutation done but its answer lost: late (seconds) for the next `answer_late_times`
        # mutations, or the connection reset after it while `reset_after_mutation`.
        self.answer_late = 0.0
        self.answer_late_times = 1
        self.reset_after_mutation = False
        self._stopping = threading.Event()

    # -- state helpers for scenarios -------------------------------------------------------

    def add_service(self, name: str, service_id: str = "") -> FakeRailwayService:
        with self.lock:
            service = FakeRailwayService(service_id or str(uuid.uuid4()), name)
            self.services[service.id] = service
            return service

    def add_deployment(self, service_id: str, status: str, created_at: datetime | None = None,
                       commit_hash: str = "", commit_message: str = "",
                       commit_author: str = "", **fields: Any) -> FakeDeployment:
        with self.lock:
            meta: dict[str, Any] = dict(fields.pop("meta", {}))
            if commit_hash:
                meta.setdefault("commitHash", commit_hash)
            if commit_message:
                meta.setdefault("commitMessage", commit_message)
            if commit_author:
                meta.setdefault("commitAuthor", commit_author)
            deployment = FakeDeployment(str(uuid.uuid4()), service_id, status,
                                        created_at or datetime.now(UTC), meta, **fields)
            self.services[service_id].deployments.append(deployment)
            return deployment

    def find_deployment(self, deployment_id: str) -> FakeDeployment:
        for service in self.services.values():
            for deployment in service.deployments:
                if deployment.id == deployment_id:
                    return deployment
        raise GraphQLError("Deployment not found")

    def mutation_names(self) -> list[str]:
        with self.lock:
            return [m.name for m in self.mutations]

    def mutation_count(self, name: str | None = None) -> int:
        """How many mutations were done (of one name), whether or not their answer arrived."""
        with self.lock:
            return sum(1 for m in self.mutations if name is None or m.name == name)

    def stop_waiting(self) -> None:
        """Release late answers at once (the fake is stopping)."""
        self._stopping.set()

    # -- HTTP ------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> str:
        """"" when the token is right, else the error message Railway gives."""
        project_token = request.headers.get("Project-Access-Token")
        if project_token is not None:
            return "" if project_token == self.token else PROJECT_TOKEN_NOT_FOUND
        bearer = request.headers.get("Authorization", "")
        return "" if bearer == f"Bearer {self.token}" else NOT_AUTHORIZED

    def handle(self, request: Request) -> Response:
        canned = self.faults.take()
        if canned is not None:
            return canned
        if request.path != GRAPHQL_PATH:
            return Response(404, "Not Found")
        if request.method != "POST":
            return _errors("Must provide query string.", 400)
        refused = self._authorized(request)
        if refused:
            return _errors(refused)
        try:
            payload = request.json()
        except ValueError:
            return _errors("Unexpected token in JSON", 400)
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return _errors("Must provide query string.", 400)
        variables = payload.get("variables") or {}
        match = _OPERATION.match(payload["query"])
        if not match or not isinstance(variables, dict):
            return _errors("Syntax Error: could not read the operation", 400)
        root = match.group(1)
        arguments = self._arguments(match.group(3) or "", variables)
        with self.lock:
            try:
                result = self._resolve(root, arguments)
            except GraphQLError as exc:
                return _errors(str(exc))
            if root in _MUTATIONS:
                mutation = Mutation(root, arguments, result)
                self.mutations.append(mutation)
                listeners = list(self.on_mutation)
            else:
                listeners = []
        for listener in listeners:
            listener(mutation)
        if root in _MUTATIONS:
            lost = self._lose_answer()
            if lost is not None:
                return lost
        return json_response({"data": {root: result}})

    def _lose_answer(self) -> Response | None:
        """After a mutation was done: a reset, a late answer, or None to answer now."""
        with self.lock:
            if self.reset_after_mutation:
                return Response(reset=True)
            late = self.answer_late if self.answer_late > 0 and self.answer_late_times > 0 \
                else 0.0
            if late:
                self.answer_late_times -= 1
        if late:
            self._stopping.wait(late)
        return None

    @staticmethod
    def _arguments(text: str, variables: dict[str, Any]) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        for name, var, string, number, boolean in _ARGUMENT.findall(text):
            if var:
                arguments[name] = variables.get(var)
            elif number:
                arguments[name] = int(number)
            elif boolean:
                arguments[name] = boolean == "true"
            else:
                arguments[name] = string
        return arguments

    def _service(self, service_id: Any) -> FakeRailwayService:
        service = self.services.get(str(service_id))
        if service is None:
            raise GraphQLError("Service not found")
        return service

    def _check_scope(self, project_id: Any = None, environment_id: Any = None) -> None:
        if project_id is not None and project_id != self.project_id:
            raise GraphQLError("Project not found")
        if environment_id is not None and environment_id != self.environment_id:
            raise GraphQLError("Environment not found")

    def _resolve(self, root: str, args: dict[str, Any]) -> Any:
        # Resolvers are named `_q_<root field>`, in Railway's camelCase, mutations included.
        resolver = getattr(self, f"_q_{root}", None)
        if resolver is None:
            raise GraphQLError(f'Cannot query field "{root}" on type "Query".')
        return resolver(args)

    # -- queries ---------------------------------------------------------------------------

    def _q_deployments(self, args: dict[str, Any]) -> Any:
        spec = args.get("input") or {}
        self._check_scope(spec.get("projectId"), spec.get("environmentId"))
        services = [self._service(spec["serviceId"])] if spec.get("serviceId") else \
            list(self.services.values())
        found = [d for s in services for d in s.deployments]
        status_filter = spec.get("status") or {}
        if status_filter.get("in"):
            found = [d for d in found if d.current_status() in status_filter["in"]]
        if status_filter.get("notIn"):
            found = [d for d in found if d.current_status() not in status_filter["notIn"]]
        # Railway's order is not documented; answer oldest first so a client must sort.
        found.sort(key=lambda d: d.created_at)
        first = args.get("first")
        if isinstance(first, int) and first > 0:
            found = found[-first:]
        return {"edges": [{"node": d.node()} for d in found]}

    def _q_deployment(self, args: dict[str, Any]) -> Any:
        return self.find_deployment(str(args.get("id"))).node()

    def _q_deploymentLogs(self, args: dict[str, Any]) -> Any:
        deployment = self.find_deployment(str(args.get("deploymentId")))
        limit = args.get("limit")
        logs = deployment.logs
        return logs[-limit:] if isinstance(limit, int) and limit > 0 else list(logs)

    _q_buildLogs = _q_deploymentLogs

    def _q_serviceInstance(self, args: dict[str, Any]) -> Any:
        self._check_scope(None, args.get("environmentId"))
        service = self._service(args.get("serviceId"))
        latest = service.latest()
        instance = service.instance
        return {"startCommand": instance.start_command,
                "healthcheckPath": instance.healthcheck_path,
                "restartPolicyType": instance.restart_policy_type,
                "numReplicas": instance.num_replicas,
                "latestDeployment": {"id": latest.id, "status": latest.current_status()}
                if latest else None}

    def _q_variables(self, args: dict[str, Any]) -> Any:
        self._check_scope(args.get("projectId"), args.get("environmentId"))
        if args.get("serviceId"):
            return dict(self._service(args["serviceId"]).variables)
        return {}

    # -- mutations -------------------------------------------------------------------------

    def _new_deployment(self, service: FakeRailwayService, meta: dict[str, Any]
                        ) -> FakeDeployment:
        for old in service.deployments:
            if old.current_status() == "SUCCESS":
                old.status, old.schedule = "REMOVED", []
        deployment = FakeDeployment(str(uuid.uuid4()), service.id, "QUEUED",
                                    datetime.now(UTC), dict(meta))
        deployment.set_schedule(self.new_deployment_schedule)
        service.deployments.append(deployment)
        return deployment

    def _q_deploymentRollback(self, args: dict[str, Any]) -> Any:
        chosen = self.find_deployment(str(args.get("id")))
        if not chosen.node()["canRollback"]:
            raise GraphQLError("Deployment cannot be rolled back")
        self._new_deployment(self.services[chosen.service_id], chosen.meta)
        return True

    def _q_deploymentRestart(self, args: dict[str, Any]) -> Any:
        # A restart runs the same deployment's image again: no new deployment appears.
        chosen = self.find_deployment(str(args.get("id")))
        chosen.status = "SUCCESS"
        chosen.set_schedule(self.new_deployment_schedule)
        return True

    def _q_deploymentRedeploy(self, args: dict[str, Any]) -> Any:
        chosen = self.find_deployment(str(args.get("id")))
        if not chosen.can_redeploy:
            raise GraphQLError("Deployment cannot be redeployed")
        return self._new_deployment(self.services[chosen.service_id], chosen.meta).node()

    def _q_serviceInstanceRedeploy(self, args: dict[str, Any]) -> Any:
        self._check_scope(None, args.get("environmentId"))
        service = self._service(args.get("serviceId"))
        latest = service.latest()
        self._new_deployment(service, latest.meta if latest else {})
        return True

    def _q_serviceInstanceUpdate(self, args: dict[str, Any]) -> Any:
        self._check_scope(None, args.get("environmentId"))
        service = self._service(args.get("serviceId"))
        update = args.get("input") or {}
        if "startCommand" in update:
            service.instance.start_command = update["startCommand"]
        if "healthcheckPath" in update:
            service.instance.healthcheck_path = update["healthcheckPath"]
        if "numReplicas" in update:
            service.instance.num_replicas = update["numReplicas"]
        return True

    def _q_variableUpsert(self, args: dict[str, Any]) -> Any:
        spec = args.get("input") or {}
        self._check_scope(spec.get("projectId"), spec.get("environmentId"))
        if not spec.get("name") or spec.get("value") is None:
            raise GraphQLError("Variable name and value are required")
        service = self._service(spec.get("serviceId"))
        service.variables[str(spec["name"])] = str(spec["value"])
        if not spec.get("skipDeploys"):
            latest = service.latest()
            self._new_deployment(service, latest.meta if latest else {})
        return True


@dataclass
class RailwayHandles:
    """What `with_railway` set up, for scenarios to edit."""

    fake: FakeRailway
    dealix: FakeRailwayService
    postgres: FakeRailwayService


def with_railway(target: Target, token_kind: str = "account") -> FakeRailway:
    """Serve a fake Railway for `target`: the Dealix and Postgres services, a healthy history
    (the latest Dealix deployment is SUCCESS at the app's git sha), the config section and the
    token secret. The handles are also in `target.extras["railway"]`. Several parts of a
    scenario may ask for Railway: they all get the one fake."""
    if "railway" in target.extras:
        handles: RailwayHandles = target.extras["railway"]
        return handles.fake
    token = target.secret(TOKEN_ENV)
    fake = FakeRailway(token)
    dealix = fake.add_service("dealix")
    postgres = fake.add_service("Postgres")
    now = datetime.now(UTC)
    for days, message in ((3, "Add pricing page copy"), (1, "Tune lead scoring weights")):
        fake.add_deployment(dealix.id, "REMOVED", now - timedelta(days=days),
                            commit_hash=uuid.uuid4().hex + uuid.uuid4().hex[:8],
                            commit_message=message)
    fake.add_deployment(dealix.id, "SUCCESS", now - timedelta(hours=6),
                        commit_hash=target.app.state.git_sha,
                        commit_message="Merge pull request #212 from dealix/lead-export",
                        url="dealix-production.up.railway.app",
                        static_url="dealix-production.up.railway.app")
    fake.add_deployment(postgres.id, "SUCCESS", now - timedelta(days=30),
                        meta={"image": "ghcr.io/railwayapp-templates/postgres-ssl:16"})
    server = target.serve(fake)
    target.sections["railway"] = {
        "api_url": server.url + GRAPHQL_PATH, "project_id": fake.project_id,
        "environment_id": fake.environment_id, "service_id": dealix.id,
        "token_env": TOKEN_ENV, "token_kind": token_kind}
    target.extras["railway"] = RailwayHandles(fake, dealix, postgres)
    return fake
