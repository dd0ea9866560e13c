"""A real S3 protocol on loopback: moto's server, started and stopped per test, over HTTP."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

# Canary credentials: a test proves they never reach an object of the archive.
CANARY_KEY_ID = "AKIACANARY" + "7Q4XZ2PL9M"
CANARY_SECRET = "canary-secret/" + "vT3kQ9sW1xY7zP2mL8nR4bC6dF0gH5jK"
CANARY_TOKEN = "canary-session-token-" + "Zq8Wm3Xr7Tn2Pv5Ls9Kd4Hf6Jb1Gc0Ny"


@dataclass
class Bucket:
    server: object
    endpoint: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"s3://{self.name}/team"

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def objects(self) -> dict[str, bytes]:
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
                Bucket=self.name):
            for item in page.get("Contents") or []:
                found[item["Key"]] = client.get_object(  # type: ignore[attr-defined]
                    Bucket=self.name, Key=item["Key"])["Body"].read()
        return found

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]

    def restart(self) -> None:
        """The same bucket back on the same port (moto keeps its state in this process)."""
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self.server.start()  # type: ignore[attr-defined]


def start_moto() -> Bucket:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    bucket = Bucket(server, f"http://{host}:{port}", f"team-{secrets.token_hex(4)}", port)
    bucket.client().create_bucket(Bucket=bucket.name)  # type: ignore[attr-defined]
    return bucket


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("RUNBOOK_ARCHIVE", raising=False)
    started = start_moto()
    monkeypatch.setenv("AWS_ENDPOINT_URL", started.endpoint)
    try:
        yield started
    finally:
        started.stop()
