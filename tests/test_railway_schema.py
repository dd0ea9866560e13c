"""Every GraphQL operation the library sends to Railway, checked against Railway's published
schema (a copy with its MIT licence is in tests/railway_schema/): the query's shape and
arguments, and the variables the code really builds against their declared types.

Nothing here lists the operations: every module-level string of `runbook.clients.railway` that
parses as a GraphQL operation is one, and every public method of `RailwayClient` is called
against the fake Railway to record what the code sends. A new operation is covered as soon as
it is added; one that no method sends fails the test."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_client_schema,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from runbook.checks import deploys
from runbook.clients import railway
from runbook.clients.railway import Deployment, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.config import parse_config
from runbook.core.findings import Status
from runbook.drill.fakes.railway import FakeRailway
from runbook.drill.fakes.server import LoopbackServer

SCHEMA_PATH = Path(__file__).parent / "railway_schema" / "schema.json"
TOKEN = "railway-token-schema-check"


@cache
def schema() -> GraphQLSchema:
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # Railway's schema as published fails graphql-core's whole-schema check on one deprecation
    # (Team.id deprecated, Node.id not); the operations are validated, not the schema.
    return build_client_schema(data.get("data", data), assume_valid=True)


def operations() -> dict[str, DocumentNode]:
    """The operations defined in the Railway client, by their operation name."""
    found: dict[str, DocumentNode] = {}
    for name, value in vars(railway).items():
        if not isinstance(value, str) or name.startswith("__"):
            continue
        try:
            document = parse(value)
        except GraphQLError:
            continue
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                found[definition.name.value] = document
    return found


def test_the_scan_finds_the_operations() -> None:
    names = set(operations())
    assert {"deployments", "deploymentLogs", "deploymentRollback", "variableUpsert"} <= names


@pytest.mark.parametrize("name", sorted(operations()))
def test_operation_is_valid_against_the_schema(name: str) -> None:
    errors = validate(schema(), operations()[name])
    assert not errors, [e.message for e in errors]


# ---------------------------------------------------------------- what the code really sends

def _argument(service_id: str, deployment_id: str, parameter: inspect.Parameter) -> Any:
    """A value for one parameter of a client method, from its name and annotation."""
    name, annotation = parameter.name, str(parameter.annotation)
    if "deployment" in name:
        return deployment_id
    if "service" in name:
        return service_id
    if annotation.startswith("int"):
        return 5
    if annotation.startswith("bool"):
        return False
    if name == "name":
        return "RUNBOOK_SCHEMA_CHECK"
    return "schema-check-value"


@pytest.fixture(scope="module")
def sent() -> Iterator[list[dict[str, Any]]]:
    """Every request body the client sent while each public method was called once."""
    fake = FakeRailway(TOKEN)
    service = fake.add_service("dealix")
    now = datetime.now(UTC)
    fake.add_deployment(service.id, "SUCCESS", now - timedelta(days=1), commit_hash="b" * 40)
    latest = fake.add_deployment(service.id, "SUCCESS", now - timedelta(minutes=5),
                                 commit_hash="c" * 40)
    with LoopbackServer(fake) as server:
        config = parse_config({
            "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
            "railway": {"api_url": server.url + "/graphql/v2", "project_id": fake.project_id,
                        "environment_id": fake.environment_id, "service_id": service.id,
                        "token_env": "SCHEMA_RAILWAY_TOKEN"}}, Path("runbook.toml"))
        client = RailwayClient(config.railway, TOKEN, Timeouts(1.0, 2.0))  # type: ignore[arg-type]
        for name, method in inspect.getmembers(client, inspect.ismethod):
            if name.startswith("_") or name in ("graphql", "from_config"):
                continue
            parameters = [p for p in inspect.signature(method).parameters.values()
                          if p.default is inspect.Parameter.empty]
            method(*(_argument(service.id, latest.id, p) for p in parameters))
        bodies = [json.loads(r.body) for r in fake.seen("POST")]
    yield bodies


def _operation_name(body: dict[str, Any]) -> str:
    document = parse(body["query"])
    [definition] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert definition.name is not None
    return definition.name.value


def test_every_operation_is_sent_by_some_method(sent: list[dict[str, Any]]) -> None:
    assert set(operations()) <= {_operation_name(body) for body in sent}


def test_the_variables_sent_match_their_declared_types(sent: list[dict[str, Any]]) -> None:
    for body in sent:
        document = parse(body["query"])
        assert not validate(schema(), document), body["query"]
        [definition] = [d for d in document.definitions
                        if isinstance(d, OperationDefinitionNode)]
        coerced = get_variable_values(schema(), definition.variable_definitions,
                                      body.get("variables") or {})
        errors = coerced if isinstance(coerced, list) else []
        assert not errors, (_operation_name(body), [e.message for e in errors])


# ---------------------------------------------------------------- every DeploymentStatus

def deployment_statuses() -> list[str]:
    enum = schema().get_type("DeploymentStatus")
    assert isinstance(enum, GraphQLEnumType)
    return sorted(enum.values)


def test_the_runbook_knows_every_deployment_status() -> None:
    assert set(deployment_statuses()) == set(railway.KNOWN_STATUSES)
    assert len(deployment_statuses()) == 13


def _deployment(status: str) -> Deployment:
    return Deployment("d" * 36, status, datetime.now(UTC), "", "", True, True, {}, "", "")


@pytest.mark.parametrize("status", deployment_statuses())
def test_every_status_has_a_verdict(status: str) -> None:
    finding = deploys.status_finding(_deployment(status))
    assert finding.status is not Status.ERROR
    if status in ("SUCCESS", "SLEEPING", "REMOVED", "REMOVING", "SKIPPED"):
        assert finding.status is Status.PASS, finding
    if status in ("CRASHED", "FAILED") or status in railway.IN_PROGRESS:
        assert finding.status is Status.FAIL


def test_an_unknown_status_is_an_error_that_names_it() -> None:
    finding = deploys.status_finding(_deployment("HIBERNATING"))
    assert finding.status is Status.ERROR and finding.code == "deploy.unknown_status"
    assert "HIBERNATING" in finding.summary
