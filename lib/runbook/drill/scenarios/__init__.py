"""The drill's scenarios: each injects one fault into a simulated target and names the
notebook that must diagnose it and the finding codes that prove it did.

Each section's scenarios live in their own module beside the fakes they need; importing them
here registers them, so `get` and `names` see them all."""

from __future__ import annotations

from runbook.core.errors import BadInput
from runbook.drill.scenarios import (
    alerts,
    core,
    db,
    mitigate,
    monitoring,
    no_fix,
    oncall,
    sev1,
    webhook,
)
from runbook.drill.scenarios.base import SCENARIOS, Scenario, register

__all__ = ["SCENARIOS", "Scenario", "alerts", "core", "db", "get", "mitigate", "monitoring",
           "names", "no_fix", "oncall", "register", "sev1", "webhook"]


def get(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise BadInput(f"unknown drill scenario {name!r}; scenarios: "
                       + ", ".join(sorted(SCENARIOS)))
    return SCENARIOS[name]


def names() -> list[str]:
    return sorted(SCENARIOS)
