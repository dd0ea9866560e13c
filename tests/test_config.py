from __future__ import annotations

from pathlib import Path

import pytest

from runbook.core.config import load_config
from runbook.core.errors import ConfigError

GOOD = """
[service]
name = "dealix"
base_url = "https://api.dealix.me"

[railway]
project_id = "p"
environment_id = "e"
service_id = "s"
token_env = "RAILWAY_TOKEN"

[uptimerobot]
monitor_id = 42

[[contacts]]
name = "Sami"
role = "founder, on-call 24/7"
issue = "backend"
phone = "+966500000000"
verified = "2026-11-01"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runbook.toml"
    path.write_text(text)
    return path


def test_loads_the_design_example(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.service.healthz_path == "/healthz"
    assert config.railway is not None and config.railway.expected_start_command == "/app/start.sh"
    assert config.uptimerobot is not None and config.uptimerobot.monitor_id == 42
    assert config.contacts[0].name == "Sami"
    assert config.sentry is None
    assert "RAILWAY_TOKEN" in config.secret_env_names()
    assert config.url("/healthz") == "https://api.dealix.me/healthz"


def test_the_example_config_in_the_repo_loads() -> None:
    example = Path(__file__).resolve().parents[1] / "runbook.example.toml"
    config = load_config(example)
    assert config.railway and config.sentry and config.moyasar and config.slack


def test_default_path_comes_from_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("RUNBOOK_CONFIG", str(path))
    assert load_config().path == path


@pytest.mark.parametrize(("text", "names"), [
    ("", ["missing section [service]"]),
    ("[service]\nname = 'x'\n", ["missing key [service] base_url"]),
    ("[service]\nname = 'x'\nbase_url = 'https://a'\nbase_ur = 'y'\n",
     ["unknown key [service] base_ur"]),
    ("[servce]\nname = 'x'\n", ["unknown section [servce]"]),
    ("[service]\nname = 1\nbase_url = 'https://a'\n", ["[service] name", "string"]),
    ("[service]\nname = 'x'\nbase_url = 'https://a'\n[uptimerobot]\nmonitor_id = '7'\n",
     ["[uptimerobot] monitor_id", "integer"]),
    ("[service]\nname = 'x'\nbase_url = 'https://a'\n[probes]\nread_timeout = true\n",
     ["[probes] read_timeout", "number"]),
    ("[service]\nname = 'x'\nbase_url = 'ftp://a'\n", ["base_url", "http(s) URL"]),
    ("[service]\nname = 'x'\nbase_url = 'https://a'\n[slack]\nwebhook_url_env = "
     "'https://hooks.slack.com/services/T/B/x'\n", ["webhook_url_env", "NAME"]),
    ("[service]\nname = 'x'\nbase_url = 'https://a'\n[railway]\nproject_id='p'\n"
     "environment_id='e'\nservice_id='s'\ntoken_kind='team'\n", ["token_kind", "account"]),
    ("[service\n", ["not valid TOML"]),
    ("[service]\nname = 'x'\nbase_url = 'https://a'\ncontacts = 3\n", ["unknown key"]),
])
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, text: str,
                                               names: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"runbook\.example\.toml"):
        load_config(tmp_path / "nope.toml")


def test_environment_with_sets_unsets_and_puts_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from runbook.core.environ import environment_with

    monkeypatch.setenv("RB_KEPT", "before")
    monkeypatch.delenv("RB_NEW", raising=False)
    with environment_with({"RB_KEPT": None, "RB_NEW": "during"}):
        assert "RB_KEPT" not in os.environ and os.environ["RB_NEW"] == "during"
    assert os.environ["RB_KEPT"] == "before" and "RB_NEW" not in os.environ
