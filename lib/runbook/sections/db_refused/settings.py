"""The `[database]` section, with its defaults when the config has none."""

from __future__ import annotations

from runbook.core.config import Config, DatabaseConfig


def database_settings(config: Config) -> DatabaseConfig:
    return config.database or DatabaseConfig()


def connect_timeout(config: Config, override: float = 0.0) -> float:
    """The notebook parameter when given (> 0), else `[database] connect_timeout`."""
    return override if override > 0 else database_settings(config).connect_timeout

