"""Secrets echoed back in shapes other than their own: a URL's token alone in a 404, `\\/`
JSON escaping, a secret split across two outputs, a 24-character prefix, HTML-escaped, hex or
base64 inside a longer blob, a subprocess writing to the kernel's descriptors. Every byte
written and printed is searched, against real loopback servers and real kernels."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import all_bytes_under, run_cli
from nbfactory import write_config, write_notebook
from runbook.core.config import load_config
from runbook.core.redaction import SecretRegistry, looks_secret, registry
from runbook.drill.fakes.server import Request, Response
from runbook.drill.scenarios.mitigate import comms_outage
from runbook.drill.target import simulated_target
from runbook.host.runner import run_notebook


def url_secret_parts(url: str) -> list[str]:
    return [segment for segment in urlsplit(url).path.split("/")
            if segment and segment != "services"]


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["text", "json-escaped"])
def test_a_slack_404_naming_the_webhook_path_leaks_no_part_of_it(
        runs_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], shape: str) -> None:
    """A proxy (or Slack) answering `404 Cannot POST /services/T…/B…/<token>`."""
    with simulated_target(runs_dir) as target:
        comms_outage(target)
        slack = target.extras["slack"]

        def not_found(request: Request) -> Response:
            said = f"Cannot POST {request.path}"
            if shape == "text":
                return Response(404, said, {"Content-Type": "text/html"})
            body = json.dumps({"error": said}).replace("/", "\\/")
            return Response(404, body.encode(), {"Content-Type": "application/json"})

        slack.handle = not_found  # type: ignore[method-assign]
        config_path = target.write_config()
        with target.environment():
            result = run_notebook("comms", [("confirm", "true")], load_config(config_path),
                                  incident_id="inc-slack", mode="drill")
        webhook = target.env["DRILL_SLACK_WEBHOOK_URL"]
    assert result.status == "completed", result.error
    assert any(f["code"].startswith("slack.") and f["status"] != "pass"
               for f in result.record["findings"])
    out = tmp_path / "pm"
    postmortem = run_cli("postmortem", "inc-slack", "--out", str(out),
                         env={"RUNBOOK_RUNS_DIR": str(runs_dir)})
    assert postmortem.returncode == 0, postmortem.stderr
    captured = capfd.readouterr()
    haystack = (all_bytes_under(runs_dir) + all_bytes_under(out) + captured.out.encode()
                + captured.err.encode() + postmortem.stdout.encode())
    parts = url_secret_parts(webhook)
    assert len(parts) == 3
    for part in parts:
        assert part.encode() not in haystack, part


def test_the_parts_of_every_url_shaped_secret_are_registered() -> None:
    secrets = SecretRegistry()
    secrets.register("SENTRY_DSN", "https://9f8e7d6c5b4a3210@o451.ingest.sentry.io/5507")
    secrets.register("HOOK", "https://example.test/hook?key=Qm9vbGVhbkFsZ2VicmE&mode=json")
    said = secrets.redact("key 9f8e7d6c5b4a3210 and ?key=Qm9vbGVhbkFsZ2VicmE&mode=json")
    assert "9f8e7d6c5b4a3210" not in said and "Qm9vbGVhbkFsZ2VicmE" not in said
    assert "mode=json" in said  # a plain word is not a secret


# -- structure is never rewritten --------------------------------------------------------

def test_a_plain_platform_value_is_not_a_secret() -> None:
    assert not looks_secret("LOGLEVEL", "error")
    assert not looks_secret("REGION", "production")
    assert looks_secret("SOMETHING_NEW", "opaque-value")
    assert looks_secret("JWT_SECRET", "Zx81kQw0PlmN3bVc")


def test_redaction_never_rewrites_the_records_own_fields() -> None:
    secrets = SecretRegistry()
    secrets.register("ODD_SECRET", "timed_out")
    secrets.register("ANOTHER", "health.ok-but-secret")
    record = {"status": "timed_out", "started_at": "2026-01-01T00:00:00Z",
              "findings": [{"code": "health.ok", "status": "error",
                            "summary": "value timed_out seen", "evidence": {}}],
              "notebook_sha256": "ab" * 32}
    out = secrets.redact_obj(record)
    assert out["status"] == "timed_out"
    assert out["findings"][0]["code"] == "health.ok"
    assert out["findings"][0]["summary"] == "value [redacted:ODD_SECRET] seen"
    assert out["notebook_sha256"] == "ab" * 32


def test_a_railway_loglevel_error_leaves_statuses_alone(tmp_path: Path) -> None:
    import os

    from runbook.clients.railway import RailwayClient
    from runbook.clients.transport import Timeouts
    from runbook.drill.fakes.railway import FakeRailway
    from runbook.drill.fakes.server import LoopbackServer

    fake = FakeRailway("tok-Lq8Zm2Xw5Rv7Ct4")
    service = fake.add_service("dealix")
    service.variables.update({"LOGLEVEL": "error", "JWT_SECRET": "jwt-7Hq2Lm9Zx4Pw"})
    with LoopbackServer(fake) as server:
        config = write_config(tmp_path, f"""
[service]
name = "dealix"
base_url = "http://127.0.0.1:9"
[railway]
api_url = "{server.url}/graphql/v2"
project_id = "{fake.project_id}"
environment_id = "{fake.environment_id}"
service_id = "{service.id}"
token_env = "TEST_RAILWAY_TOKEN"
""")
        os.environ["TEST_RAILWAY_TOKEN"] = fake.token
        try:
            client = RailwayClient.from_config(load_config(config), Timeouts(1.0, 2.0))
            variables = client.variables()
        finally:
            os.environ.pop("TEST_RAILWAY_TOKEN", None)
    assert variables["LOGLEVEL"] == "error"
    assert registry().redact("status error") == "status error"
    assert registry().redact_obj({"status": "error"}) == {"status": "error"}
    assert "jwt-7Hq2Lm9Zx4Pw" not in registry().redact("JWT is jwt-7Hq2Lm9Zx4Pw")


# -- other shapes, inside a real kernel and through the runner's echo ------------------------

SECRET = "Rk7vQ2mZp9LxW4nB8cT1yH6sD3fG5jK0"   # 32 characters, learned inside the kernel only
CONFIG_SECRET = "cfg-Tq8Wm3Zr6Lp1Xv9Bn4Hs7Kd2"   # named by the config: the runner knows it too


def shapes(secret: str) -> list[str]:
    blob = b"Authorization: Bearer " + secret.encode() + b"\nX-Trace: 1\n"
    encoded = base64.b64encode(blob).decode()
    start = (len(b"Authorization: Bearer ") + 2) // 3 * 4
    return [secret, secret[:24], secret[:16], secret[16:], html.escape(secret),
            secret.encode().hex(), encoded[start:start + 16]]


def test_secrets_in_other_shapes_leak_nowhere(tmp_path: Path, runs_dir: Path,
                                              capfd: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTILE_LEARNED", SECRET)
    monkeypatch.setenv("TEST_RAILWAY_TOKEN", CONFIG_SECRET)
    config = write_config(tmp_path)
    notebook = write_notebook(
        tmp_path, "echoes",
        "import base64, html, os, subprocess, sys\n"
        "from runbook.sections.kit import kernel_output\n"
        "from runbook.core.redaction import registry\n"
        "kernel_output.install()\n"
        "s = os.environ['HOSTILE_LEARNED']\n"
        "registry().register('HOSTILE_LEARNED', s)\n"
        "c = os.environ['TEST_RAILWAY_TOKEN']",
        "print(s[:24])\nprint(s[:16], end='')\nprint(s[16:])",
        "display(s[:16])\ndisplay(s[16:])",
        "from IPython.display import HTML\ndisplay(HTML('<b>' + html.escape('<' + s + '>') + "
        "'</b>'))\nprint(('blob:' + s).encode().hex())",
        "blob = b'Authorization: Bearer ' + s.encode() + b'\\nX-Trace: 1\\n'\n"
        "print(base64.b64encode(blob).decode())",
        "subprocess.run(['sh', '-c', 'echo \"$0\"; echo \"$1\" >&2; printf %s \"$0\" | head -c 24',"
        " s, c], check=True)",
        "os.write(1, ('raw ' + s + ' ' + c + '\\n').encode())\n"
        "os.write(2, ('raw ' + s[:24] + '\\n').encode())")
    result = run_notebook(str(notebook), [], load_config(config), incident_id="inc-echo")
    assert result.status == "completed", result.error
    captured = capfd.readouterr()
    said = (captured.out + captured.err).encode()
    archived = all_bytes_under(runs_dir)
    nb_text = (result.run_dir / "notebook.ipynb").read_text()
    assert "[redacted:HOSTILE_LEARNED]" in nb_text
    for shape in shapes(SECRET) + shapes(CONFIG_SECRET):
        assert shape.encode() not in archived, shape
        assert shape.encode() not in said, shape



def test_a_secret_under_a_structural_key_of_another_shape_is_still_redacted() -> None:
    secrets = SecretRegistry()
    token = "Xq7bLm92KdPz4RtY8wVc1NaE"
    secrets.register("SLACK_BOT_TOKEN", token)
    shown = secrets.redact_obj({"application/json": {"status": token, "code": f"x {token}",
                                                     "at": token, "sha256": token}})
    assert token not in json.dumps(shown)
