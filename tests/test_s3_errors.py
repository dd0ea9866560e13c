"""A wrong bucket, an unreachable endpoint or refused credentials: every command exits 2 with
one line naming the bucket and the cause, and no traceback. Against moto's server on loopback
(a bucket that does not exist; credentials it does not know) and a closed port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from s3_fixtures import Bucket, bucket

__all__ = ["bucket"]

CONFIG = """\
[service]
name = "dealix"
base_url = "http://127.0.0.1:9"

[serve]
token_env = "TEST_SERVE_TOKEN"
"""
COMMANDS = (["runs"], ["verify"], ["due"], ["postmortem", "inc-1"], ["sync"],
            ["run", "sev1_response"])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "runbook.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_refused(args: list[str], url: str, config: Path, cause: str,
                   env: dict[str, str] | None = None) -> None:
    with_config = [] if args[0] == "drill" else ["--config", str(config)]
    done = run_cli(*args, "--archive", url, *with_config,
                   env={"TEST_SERVE_TOKEN": "serve-token-0123456789abcdef", **(env or {})},
                   timeout=120)
    said = done.stderr.strip().splitlines()
    assert done.returncode == 2, f"{args}: {done.returncode}\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout, f"{args}:\n{done.stderr}"
    error = [line for line in said if line.startswith("runbook: error:")]
    assert len(error) == 1, f"{args}:\n{done.stderr}"
    bucket_name = url.removeprefix("s3://").split("/")[0]
    assert f"s3://{bucket_name}" in error[0] and cause in error[0], f"{args}: {error[0]}"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_a_wrong_bucket_is_named_in_every_command(args: list[str], bucket: Bucket,
                                                  config: Path) -> None:
    assert_refused(args, "s3://team-no-such-bucket/x", config, "there is no bucket")


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_an_unreachable_endpoint_is_named_in_every_command(
        args: list[str], config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert_refused(args, "s3://team-unreachable/x", config, "cannot be reached at")


@pytest.mark.parametrize("args", (["serve", "--port", "0"], ["drill", "healthy"]),
                         ids=lambda a: a[0])
def test_serve_and_drill_name_a_wrong_bucket(args: list[str], bucket: Bucket,
                                             config: Path) -> None:
    assert_refused(args, "s3://team-no-such-bucket/x", config, "there is no bucket")


AUTHENTICATING = """
    import os, sys, time
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "1"   # the bucket is made; then keys count
    import boto3
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                 aws_access_key_id="a", aws_secret_access_key="b").create_bucket(
                     Bucket="team-guarded")
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def guarded_endpoint() -> Iterator[str]:
    """moto's server checking credentials: it knows no access key."""
    server = subprocess.Popen([sys.executable, "-c", textwrap.dedent(AUTHENTICATING)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "AWS_ENDPOINT_URL": ""})
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.kill()
        server.wait(10)


@pytest.mark.parametrize("args", (["runs"], ["run", "sev1_response"]), ids=lambda a: a[0])
def test_refused_credentials_are_named(args: list[str], config: Path, guarded_endpoint: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", guarded_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN12")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert_refused(args, "s3://team-guarded/x", config, "check the AWS credentials")
