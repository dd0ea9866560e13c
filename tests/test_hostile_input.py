"""Hostile input on the command line and in the config: each is refused with exit 2 and a
clear message before anything runs, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from runbook.core.config import load_config
from runbook.core.errors import ConfigError

BASE = "[service]\nname = 'dealix'\nbase_url = 'http://127.0.0.1:9'\n"


def refused(tmp_path: Path, *args: str) -> str:
    runs = tmp_path / "runs"
    result = run_cli(*args, env={"RUNBOOK_RUNS_DIR": str(runs)}, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert not runs.exists() or not any(runs.iterdir()), "something was written"
    return result.stderr


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "runbook.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["sk_live_51Hx0aBcDeFgHiJkLmNoPq", "xoxb_1234567890_abcdef",
                                   "pk_test_abcdef123456", "eyJhbGciOiJIUzI1NiJ9",
                                   "Zx81kQw0PlmN3bVc7TyU2rEs", "AKIAIOSFODNN7EXAMPLE",
                                   "MOYASAR_KEY_9f8e7d6c5b4a39281706f5e4d3c2"])
def test_a_key_where_an_env_name_belongs_is_refused(tmp_path: Path, value: str) -> None:
    path = config(tmp_path, f"[moyasar]\nsecret_key_env = '{value}'\n")
    with pytest.raises(ConfigError, match="secret_key_env"):
        load_config(path)
    stderr = refused(tmp_path, "run", "sev1_response", "--config", str(path))
    assert value not in stderr


@pytest.mark.parametrize("value", ["MOYASAR_SECRET_KEY", "SLACK_WEBHOOK_URL", "Sentry_Token",
                                   "DEALIX_DB_URL_2"])
def test_ordinary_env_names_are_kept(tmp_path: Path, value: str) -> None:
    path = config(tmp_path, f"[moyasar]\nsecret_key_env = '{value}'\n")
    assert load_config(path).moyasar is not None


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-inf", "0.0"])
def test_a_read_timeout_that_bounds_nothing_is_refused(tmp_path: Path, value: str) -> None:
    path = config(tmp_path, f"[probes]\nread_timeout = {value}\n")
    with pytest.raises(ConfigError, match="read_timeout"):
        load_config(path)
    assert "read_timeout" in refused(tmp_path, "run", "sev1_response", "--config", str(path))


def test_a_deeply_nested_config_is_refused_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)
    assert "nested too deeply" in refused(tmp_path, "run", "sev1_response", "--config",
                                          str(path))


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_a_deadline_that_is_not_a_positive_number_is_refused(tmp_path: Path,
                                                             value: str) -> None:
    path = config(tmp_path)
    stderr = refused(tmp_path, "run", "sev1_response", "--config", str(path),
                     "--deadline", value)
    assert "--deadline must be a positive number of seconds" in stderr


def test_an_incident_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path)
    stderr = refused(tmp_path, "run", "sev1_response", "--config", str(path),
                     "--incident", "inc-1\n")
    assert "is not valid" in stderr


def test_incident_ids_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from runbook.archive.record import Archive
    from runbook.core.errors import BadInput

    archive = Archive(tmp_path / "runs")
    archive.open_incident("inc-Case", datetime.now(UTC))
    with pytest.raises(BadInput, match="differs only in case"):
        archive.open_incident("INC-case", datetime.now(UTC))
    assert archive.incidents() == ["inc-Case"]
    assert archive.incident_dir("inc-Case").is_dir()
