"""`runbook serve` two ways: in-process (`serving`: the app `runbook serve` serves, driven
through Starlette's TestClient; its runs are real `runbook run` processes) and as a user starts
it (`start_serve`: a real uvicorn on 127.0.0.1, ephemeral port); the drill's fake Slack, and
small notebooks standing in for the sections serve runs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from nbfactory import write_notebook
from runbook.core.config import load_config
from runbook.core.environ import environment_with
from runbook.drill.fakes.server import LoopbackServer
from runbook.drill.fakes.slack import FakeSlack
from runbook.host.serve.service import build_service

TOKEN = "serve-test-token-0123456789abcdef"
SENTRY_SECRET = "sentry-client-secret-fedcba9876543210"
RUNBOOK = str(Path(sys.executable).parent / "runbook")

DOWN_CELLS = ("from runbook.sections.kit import session\nfrom runbook.core.findings import failed\n"
              "rb = session.start(NOTEBOOK, incident_id=incident_id)\n"
              "rb.report(failed('health.down', '/healthz answered 502 Bad Gateway'))",)
PARAMS = 'incident_id: str = ""  # incident\n'


def notebooks(directory: Path, *, sleep: float = 0.0, fail: bool = False) -> Path:
    """sev1_response, error_spike, api_404 and monitoring_check, each reporting a down
    finding (after `sleep` seconds; raising when `fail`)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("sev1_response", "error_spike", "api_404", "monitoring_check"):
        cells = [f"NOTEBOOK = {name!r}", *DOWN_CELLS]
        if sleep:
            cells.append(f"import time\ntime.sleep({sleep})")
        if fail:
            cells.append("raise RuntimeError('the probe broke')")
        write_notebook(directory, name, *cells, parameters=PARAMS)
    return directory


def config_text(slack_env: str = "TEST_SLACK_WEBHOOK_URL", **serve: object) -> str:
    settings = {"token_env": "TEST_SERVE_TOKEN", "sentry_secret_env": "TEST_SENTRY_SECRET",
                "slack_backoff_seconds": 0.2, **serve}
    lines = ['[service]', 'name = "dealix"', 'base_url = "http://127.0.0.1:9"', '',
             '[slack]', f'webhook_url_env = "{slack_env}"', '', '[serve]']
    for key, value in settings.items():
        lines.append(f"{key} = " + (f'"{value}"' if isinstance(value, str) else
                                    str(value).lower() if isinstance(value, bool)
                                    else repr(value)))
    return "\n".join(lines) + "\n"


@dataclass
class Serve:
    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.output)

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def start_serve(config: Path, env: dict[str, str]) -> Serve:
    process = subprocess.Popen(
        [RUNBOOK, "serve", "--config", str(config), "--port", "0"], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 60
    url = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].split()[0]
            break
    if not url:
        process.kill()
        raise AssertionError("serve did not start:\n" + "".join(output))
    stream = process.stdout

    def drain() -> None:
        for line in stream:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return Serve(process, url, output)


def serve_env(tmp_path: Path, slack_url: str, *, sleep: float = 0.0,
              fail: bool = False) -> dict[str, str]:
    return {"TEST_SERVE_TOKEN": TOKEN, "TEST_SENTRY_SECRET": SENTRY_SECRET,
            "TEST_SLACK_WEBHOOK_URL": slack_url,
            "RUNBOOK_NOTEBOOKS": str(notebooks(tmp_path / "notebooks", sleep=sleep, fail=fail))}


@contextlib.contextmanager
def serving(tmp_path: Path, *, sleep: float = 0.0, fail: bool = False,
            **serve: object) -> Iterator[tuple[TestClient, FakeSlack]]:
    """Serve's app in this process (its lifespan runs: the dispatcher starts, and stops at the
    end, stopping a run in flight), with the environment `runbook serve` would be given."""
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        config = tmp_path / "runbook.toml"
        config.write_text(config_text(**serve))
        with environment_with(serve_env(tmp_path, server.url + slack.path, sleep=sleep,
                                        fail=fail)):
            service = build_service(load_config(config))
            with TestClient(service.app) as http:
                yield http, slack


def down_alert(monitor: str = "Dealix API", alert_type: int = 1) -> dict[str, str]:
    """UptimeRobot's webhook variables for one alert."""
    return {"monitorID": "777", "monitorURL": "https://api.dealix.me/healthz",
            "monitorFriendlyName": monitor, "alertType": str(alert_type),
            "alertTypeFriendlyName": "Down" if alert_type == 1 else "Up",
            "alertDetails": "HTTP 502 - Bad Gateway", "alertDuration": "0" if alert_type == 1
            else "240", "alertDateTime": str(int(time.time()))}


def sentry_headers(body: bytes, resource: str = "event_alert",
                   secret: str = SENTRY_SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Sentry-Hook-Resource": resource,
            "Sentry-Hook-Timestamp": str(int(time.time())), "Request-ID": "req-1",
            "Sentry-Hook-Signature": signature}


def wait_for(predicate: object, timeout: float = 60.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(every)
    return False


def client(base_url: str = "") -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10, trust_env=False)


@contextlib.contextmanager
def serving_process(tmp_path: Path, **serve: object) -> Iterator[tuple[Serve, FakeSlack]]:
    """`runbook serve` as a user starts it, for what only the real process shows (uvicorn's
    access log, signals, a restart)."""
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        config = tmp_path / "runbook.toml"
        config.write_text(config_text(**serve))
        running = start_serve(config, serve_env(tmp_path, server.url + slack.path))
        try:
            yield running, slack
        finally:
            running.stop()
