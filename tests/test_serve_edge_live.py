"""The HTTP edge of `runbook serve` over real sockets (uvicorn on 127.0.0.1): a chunked body
over the cap, a body that drips, the gate on unauthenticated bodies, a serve killed in the
middle of a run, /healthz through a Slack outage, escaped alert text and a quiet log."""

from __future__ import annotations

import json
import os
import select
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runbook.archive import record as records
from runbook.drill.fakes.server import LoopbackServer
from runbook.drill.fakes.slack import FakeSlack
from serve_fixtures import (
    SENTRY_SECRET,
    TOKEN,
    client,
    config_text,
    down_alert,
    notebooks,
    serving_process,
    start_serve,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)
MiB = 1024 * 1024


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                    timeout=10)
    return sock


def _signed_headers() -> str:
    """Headers a forger can always send: a fresh timestamp and some signature."""
    return (f"Sentry-Hook-Timestamp: {int(time.time())}\r\n"
            "Sentry-Hook-Signature: " + "0" * 64 + "\r\nSentry-Hook-Resource: event_alert\r\n"
            "Content-Type: application/json\r\n")


def _status(sock: socket.socket, timeout: float = 15.0) -> int:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _send_chunked(url: str, path: str, extra_headers: str, total: int) -> tuple[int, int]:
    """POST `total` bytes as a chunked body (no Content-Length), stopping as soon as an answer
    arrives or the server stops taking bytes: (the answer's status, bytes sent)."""
    sock = _connect(url)
    try:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}"
                      "Transfer-Encoding: chunked\r\n\r\n").encode())
        piece = b"x" * (64 * 1024)
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent = 0
        sock.settimeout(5)
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(piece)
        try:
            return _status(sock), sent
        except (ConnectionResetError, TimeoutError):
            return 0, sent
    finally:
        sock.close()


def test_a_chunked_body_over_the_cap_is_refused_without_being_read(
        tmp_path: Path, runs_dir: Path) -> None:
    """Break 1: 64 MiB offered without a Content-Length, to the Sentry route (no credential
    but a made-up signature) and to a tokened route: 413 after a few hundred KiB, the server
    stops reading, and serve's memory does not grow with what was offered."""
    with serving_process(tmp_path) as (serve, slack):
        before = _rss_kib(serve.process.pid)
        for path, headers in (("/alerts/sentry", _signed_headers()),
                              (f"/alerts/railway/{TOKEN}", "Content-Type: application/json"
                                                           "\r\n")):
            status, sent = _send_chunked(serve.url, path, headers, 64 * MiB)
            assert status == 413, (path, status, sent)
            assert sent < 16 * MiB, (path, sent)     # socket buffers, not the whole body
        peak = _rss_kib(serve.process.pid, "VmHWM")
        with client() as http:
            assert http.get(serve.url + "/livez").status_code == 200
    assert peak - before < 48 * 1024, (before, peak)
    assert records.Archive(runs_dir).incidents() == []
    assert slack.state.posted == []


def test_a_chunked_press_over_the_cap_is_refused_without_being_read(tmp_path: Path) -> None:
    """Break 1 on /slack/actions, with a Slack app configured (so the route reads bodies): a
    forged press with a fresh timestamp and 64 MiB of chunked body gets 413, cut early; a
    stale one gets 401 before any of its body is read."""
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        config = tmp_path / "runbook.toml"
        config.write_text(config_text().replace("[slack]\n", (
            '[slack]\nbot_token_env = "TEST_SLACK_BOT"\nsigning_secret_env = '
            f'"TEST_SLACK_SIGNING"\nresponders = ["U0RESPONDER"]\napi_url = '
            f'"{server.url}/api"\n')))
        env = {"TEST_SERVE_TOKEN": TOKEN, "TEST_SENTRY_SECRET": SENTRY_SECRET,
               "TEST_SLACK_WEBHOOK_URL": server.url + slack.path,
               "TEST_SLACK_BOT": slack.bot_token, "TEST_SLACK_SIGNING": slack.signing_secret,
               "RUNBOOK_NOTEBOOKS": str(notebooks(tmp_path / "notebooks"))}
        serve = start_serve(config, env)
        try:
            forged = (f"X-Slack-Request-Timestamp: {int(time.time())}\r\n"
                      f"X-Slack-Signature: v0={'0' * 64}\r\n")
            status, sent = _send_chunked(serve.url, "/slack/actions", forged, 64 * MiB)
            assert status == 413 and sent < 16 * MiB, (status, sent)
            stale = forged.replace(str(int(time.time()))[:4], "1000", 1)
            status, sent = _send_chunked(serve.url, "/slack/actions", stale, 64 * MiB)
            assert status == 401 and sent < 16 * MiB, (status, sent)
        finally:
            serve.stop()
    assert slack.responses() == [] and slack.state.messages == []


def test_a_dripping_body_is_cut_at_the_body_deadline(tmp_path: Path) -> None:
    """Break 13: one byte every 0.3 s of a 1,000-byte body; the deadline is 1 s: 408, and the
    connection is closed."""
    with serving_process(tmp_path, body_deadline_seconds=1.0) as (serve, _):
        sock = _connect(serve.url)
        try:
            sock.sendall(("POST /alerts/sentry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"{_signed_headers()}Content-Length: 1000\r\n\r\n").encode())
            started = time.monotonic()
            answered = False
            while time.monotonic() - started < 20 and not answered:
                try:
                    sock.sendall(b"{")
                except (BrokenPipeError, ConnectionResetError):
                    break
                answered = bool(select.select([sock], [], [], 0.3)[0])
            assert _status(sock) == 408
            sock.settimeout(5)
            assert sock.recv(65536) == b"" or True   # drained: the server closes next
        finally:
            sock.close()


def test_a_dripping_head_or_a_silent_connection_is_closed_at_the_deadline(
        tmp_path: Path) -> None:
    """Break 13, before the body: a request line and headers sent one byte every 0.3 s, and
    a connection that sends nothing, are each closed once the deadline (1 s here) passes;
    an alert sent meanwhile is taken."""
    with serving_process(tmp_path, body_deadline_seconds=1.0) as (serve, _), client() as http:
        dripping, silent = _connect(serve.url), _connect(serve.url)
        try:
            dripping.sendall(b"POST /alerts/sentry HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started, closed = time.monotonic(), False
            while time.monotonic() - started < 20 and not closed:
                try:
                    dripping.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if select.select([dripping], [], [], 0.3)[0]:
                    closed = dripping.recv(4096) == b""
            assert closed, "the dripping head was never cut"
            silent.settimeout(20)
            assert silent.recv(4096) == b""          # closed by serve, nothing said
            assert http.post(serve.url + "/alerts/uptimerobot",
                             params={"token": TOKEN, **down_alert()}).status_code == 202
        finally:
            dripping.close()
            silent.close()


def test_unauthenticated_bodies_past_the_gate_get_503(tmp_path: Path) -> None:
    """Break 13: with two slots, two signed-looking requests that never send their body hold
    both; a third is refused at once; once they go, the route answers again (401: forged)."""
    with serving_process(tmp_path, unauthenticated_at_once=2, body_deadline_seconds=30.0) as (
            serve, _), client() as http:
        holders = []
        for _ in range(2):
            sock = _connect(serve.url)
            sock.sendall(("POST /alerts/sentry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"{_signed_headers()}Content-Length: 500\r\n\r\n").encode())
            holders.append(sock)
        assert wait_for(lambda: http.get(serve.url + "/healthz").json()["unauthenticated"][
            "reading"] == 2, 20)
        body = json.dumps({"action": "triggered"}).encode()
        headers = {"Sentry-Hook-Timestamp": str(int(time.time())),
                   "Sentry-Hook-Signature": "0" * 64, "Sentry-Hook-Resource": "event_alert"}
        refused = http.post(serve.url + "/alerts/sentry", content=body, headers=headers)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        # An alert with the token is not held up by them.
        assert http.post(serve.url + "/alerts/uptimerobot", params={"token": TOKEN,
                                                                      **down_alert()}
                         ).status_code == 202
        for sock in holders:
            sock.close()
        assert wait_for(lambda: http.get(serve.url + "/healthz").json()["unauthenticated"][
            "reading"] == 0, 20)
        assert http.post(serve.url + "/alerts/sentry", content=body, headers=headers
                         ).status_code == 401


@pytest.mark.slow
def test_a_killed_serve_posts_the_verdict_after_its_restart(tmp_path: Path,
                                                            runs_dir: Path) -> None:
    """Break 11: serve is SIGKILLed while its run is in flight; the runner finishes and seals
    the record; the restarted serve finds the verdict owed in its outbox and posts it."""
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        config = tmp_path / "runbook.toml"
        config.write_text(config_text())
        env = {"TEST_SERVE_TOKEN": TOKEN, "TEST_SENTRY_SECRET": SENTRY_SECRET,
               "TEST_SLACK_WEBHOOK_URL": server.url + slack.path,
               "RUNBOOK_NOTEBOOKS": str(notebooks(tmp_path / "notebooks", sleep=4))}
        first = start_serve(config, env)
        try:
            with client() as http:
                answer = http.post(first.url + "/alerts/uptimerobot",
                                   params={"token": TOKEN, **down_alert()})
                assert answer.status_code == 202
                incident = answer.json()["incident"]
                assert wait_for(lambda: http.get(first.url + "/healthz").json()[
                    "runs_in_flight"] == 1, 60)
            owed = list((runs_dir.parent / ".runbook-serve-outbox").glob("*.json"))
            assert len(owed) == 1
            first.process.kill()
            first.process.wait(30)
        finally:
            if first.process.poll() is None:
                first.process.kill()
        archive = records.Archive(runs_dir)
        assert wait_for(lambda: [r.status for r in records.list_runs(archive, incident)]
                        == ["completed"], 90), records.list_runs(archive, incident)
        assert slack.state.posted == []
        second = start_serve(config, env)
        try:
            assert wait_for(lambda: slack.state.posted, 60), second.text()
        finally:
            second.stop()
    assert len(slack.state.posted) == 1
    text = slack.state.posted[0].payload["text"]
    assert incident in text and "SEV-1" in text and f"runbook incident show {incident}" in text
    assert "record.json" not in text
    assert list((runs_dir.parent / ".runbook-serve-outbox").glob("*.json")) == []
    assert len(records.list_runs(records.Archive(runs_dir), incident)) == 1


@pytest.mark.slow
def test_healthz_is_503_while_slack_fails_and_200_once_it_answers(tmp_path: Path) -> None:
    """Honest health: after one alert whose verdict Slack refuses, /healthz is 503 naming
    Slack; when Slack answers again, the owed verdict goes out and /healthz is 200."""
    with serving_process(tmp_path, slack_attempts=1) as (serve, slack), client() as http:
        assert http.get(serve.url + "/healthz").status_code == 200
        slack.state.fault = "rollup_error"
        assert http.post(serve.url + "/alerts/uptimerobot",
                         params={"token": TOKEN, **down_alert()}).status_code == 202
        assert wait_for(lambda: http.get(serve.url + "/healthz").status_code == 503, 90)
        failing = http.get(serve.url + "/healthz").json()["failing"]
        assert list(failing) == ["slack"] and "internal error" in failing["slack"]
        assert http.get(serve.url + "/livez").status_code == 200
        slack.state.fault = ""
        assert wait_for(lambda: http.get(serve.url + "/healthz").status_code == 200, 60)
        assert len(slack.state.posted) == 1


def test_healthz_is_503_when_slack_is_not_configured(tmp_path: Path) -> None:
    with serving_process(tmp_path, slack_env="TEST_NO_SUCH_WEBHOOK") as (serve, _), \
            client() as http:
        answer = http.get(serve.url + "/healthz")
    assert answer.status_code == 503
    assert "TEST_NO_SUCH_WEBHOOK" in answer.json()["failing"]["slack"]


@pytest.mark.slow
def test_an_alert_title_reaches_slack_escaped_and_the_webhook_stays_out_of_the_log(
        tmp_path: Path) -> None:
    """Break 6 end to end, and break 7 as a user runs serve: the monitor's name mentions
    the channel and carries a link; both arrive inert. httpx's request lines name the
    webhook's URL: serve's log shows none of it."""
    evil = "<!channel> <https://evil.example|Roll back to 1a2b3c4d>"
    with serving_process(tmp_path) as (serve, slack), client() as http:
        answer = http.post(serve.url + "/alerts/uptimerobot",
                           params={"token": TOKEN, **down_alert(monitor=evil)})
        assert answer.status_code == 202
        assert wait_for(lambda: slack.state.posted, 90)
        time.sleep(0.5)
        log = serve.text()
    text = slack.state.posted[0].payload["text"]
    assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|Roll back to 1a2b3c4d&gt;" in text
    secret_part = slack.path.rsplit("/", 1)[-1]
    assert secret_part not in log and slack.path not in log
    assert TOKEN not in log
    assert os.environ.get("TEST_SLACK_WEBHOOK_URL") is None


@pytest.mark.slow
def test_the_soak_attacker_gets_only_refusals_and_serve_stays_up(tmp_path: Path) -> None:
    """The soak's attacker (bench.attack), in a tiny configuration against a real serve:
    every answer is a refusal (401, 404, 408, 413, 503 or a reset after a refusal), never a
    500, and serve still answers afterwards. No time is asserted: the soak is in bench/."""
    import subprocess
    import sys

    from conftest import ROOT

    settings = {"duration": 3.0, "slow": 6, "chunked": 2, "chunked_mib": 32, "presses": 20,
                "deliveries": 20}
    with serving_process(tmp_path, body_deadline_seconds=1.0, unauthenticated_at_once=4) as (
            serve, slack), client() as http:
        done = subprocess.run([sys.executable, "-m", "bench.attack",
                               json.dumps({"url": serve.url, **settings})], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert http.get(serve.url + "/livez").status_code == 200
        health = http.get(serve.url + "/healthz").json()
    answers = {status for kind in summary["answers"].values() for status in kind}
    assert answers <= {"401", "404", "408", "413", "503", "none", "ConnectionResetError",
                       "BrokenPipeError"}, summary
    assert "500" not in answers
    assert sum(summary["answers"]["presses"].values()) == 20
    assert summary["chunked_bytes_sent_max"] < 16 * MiB    # cut, not read whole
    assert health["counters"]["alerts"] == 0 and slack.state.posted == []
