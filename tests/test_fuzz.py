"""Bad input never gives a traceback: only the library's documented errors come out, and each
names the bad part. Fuzzed with hypothesis over the four readers of outside input."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook.archive.record import read_record
from runbook.clients.dburl import parse
from runbook.core.config import parse_config
from runbook.core.errors import BadInput, ConfigError, DbUrlError, ParameterError, RecordError
from runbook.core.notebook_params import Parameter, coerce
from runbook.core.redaction import registry

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

toml_scalars = st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
                         st.booleans(), st.lists(st.text(max_size=5), max_size=3))
sections = st.dictionaries(
    st.sampled_from(["service", "probes", "railway", "database", "moyasar", "sentry",
                     "uptimerobot", "slack", "email", "statuspage", "git", "archive",
                     "contacts", "servce"]),
    st.one_of(st.dictionaries(st.sampled_from(
        ["name", "base_url", "project_id", "environment_id", "service_id", "token_env",
         "monitor_id", "read_timeout", "url_env", "org", "project", "page_id", "smtp_host",
         "from_address", "token_kind", "security", "bogus"]), toml_scalars, max_size=6),
        toml_scalars, st.lists(st.dictionaries(st.sampled_from(["name", "role", "issue"]),
                                               toml_scalars), max_size=2)),
    max_size=5)


@FUZZ
@given(sections)
def test_config_loader_raises_only_config_errors(raw: dict) -> None:  # type: ignore[type-arg]
    try:
        parse_config(raw, Path("fuzz.toml"))
    except ConfigError as exc:
        assert "fuzz.toml" in str(exc)


@FUZZ
@given(st.text(max_size=200))
def test_config_text_raises_only_config_errors(text: str) -> None:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    try:
        parse_config(raw, Path("fuzz.toml"))
    except ConfigError:
        pass


url_parts = st.one_of(
    st.text(max_size=80),
    st.builds(lambda scheme, user, pw, host, port, db, query:
              f"{scheme}://{user}:{pw}@{host}:{port}/{db}{query}",
              st.sampled_from(["postgres", "postgresql", "mysql", "", "postgresql+asyncpg"]),
              st.text(max_size=8), st.text(max_size=12),
              st.sampled_from(["db.internal", "", "[::1]", "h o s t", "x.invalid"]),
              st.one_of(st.integers(-5, 70000).map(str), st.text(max_size=4)),
              st.text(max_size=8),
              st.sampled_from(["", "?sslmode=require", "?sslmode=maybe", "?x", "?bogus=1",
                               "?sslmode=disable&connect_timeout=3"])),
    st.builds(lambda host, pw, extra: f"host={host} password={pw} {extra}",
              st.text(max_size=8), st.text(max_size=8), st.text(max_size=12)),
)


@FUZZ
@given(url_parts)
def test_database_url_parser_raises_only_db_url_errors(value: str) -> None:
    try:
        parsed = parse(value)
    except DbUrlError as exc:
        assert exc.part
        return
    assert parsed.host is not None


@FUZZ
@given(st.sampled_from(["str", "int", "float", "bool"]), st.text(max_size=40))
def test_parameter_coercion_raises_only_parameter_errors(type_name: str, raw: str) -> None:
    parameter = Parameter("p", type_name, None, "")
    try:
        value = coerce(parameter, raw)
    except ParameterError as exc:
        assert "parameter p expects" in str(exc)
        return
    assert type(value).__name__ == type_name


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                       children, max_size=3),
    max_leaves=10)
records = st.one_of(
    st.binary(max_size=100),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({
        "incident_id": st.one_of(st.text(max_size=5), st.integers()),
        "notebook": st.text(max_size=5), "status": st.sampled_from(
            ["completed", "failed", "done", 3]),
        "started_at": st.text(max_size=5), "findings": st.lists(json_values, max_size=2),
        "actions": st.one_of(st.lists(json_values, max_size=2), st.none())},
    ).map(lambda v: json.dumps(v).encode()))


@FUZZ
@given(records)
def test_record_reader_raises_only_record_errors(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "record.json"
    path.write_bytes(payload)
    try:
        read_record(path)
    except RecordError as exc:
        assert str(path) in str(exc)


def test_documented_errors_share_one_root() -> None:
    for error in (ConfigError, ParameterError, DbUrlError):
        assert issubclass(error, BadInput)
    registry().clear()
