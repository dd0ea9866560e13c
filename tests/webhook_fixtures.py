"""Fixtures for the webhook 401 tests: a simulated Dealix with fake Railway and Moyasar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.clients.transport import Timeouts
from runbook.core.config import Config, load_config
from runbook.drill.scenarios.webhook import webhook_rejecting
from runbook.drill.target import Target, simulated_target
from runbook.sections.webhook_401 import forget_typed

FAST = Timeouts(connect=1.0, read=2.0)
APP_COPY = "whsec_app-copy-7f3e9a1c5b2d"
DASHBOARD_COPY = "whsec_dashboard-copy-0a8b6c4d2e"


@pytest.fixture
def target(runs_dir: Path) -> Iterator[Target]:
    forget_typed()
    with simulated_target(runs_dir, probe_timeout=2.0) as built:
        yield built
    forget_typed()


def configure(target: Target, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Write the target's config and put its secrets into this process's environment."""
    for name, value in target.env.items():
        monkeypatch.setenv(name, value)
    return load_config(target.write_config())


@pytest.fixture
def rejecting(target: Target, monkeypatch: pytest.MonkeyPatch) -> tuple[Target, Config]:
    """The webhook-401 fault with known values: the app runs APP_COPY, Moyasar sends
    DASHBOARD_COPY."""
    webhook_rejecting(target, APP_COPY, DASHBOARD_COPY)
    return target, configure(target, monkeypatch)
