"""The drill's scenarios: each injects one fault into a simulated target and names the
notebook that must diagnose it and the finding codes that prove it did."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runbook.drill.target import Target
from runbook.errors import BadInput


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    notebook: str
    setup: Callable[[Target], None]
    expect_failing: tuple[str, ...] = ()      # each must be reported with status fail
    expect_passing: tuple[str, ...] = ()      # each must be reported with status pass
    expect_severity: str | None = None        # None: the severity is not checked
    expect_no_severity: bool = False
    parameters: tuple[tuple[str, str], ...] = field(default_factory=tuple)


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    SCENARIOS[scenario.name] = scenario
    return scenario


def get(name: str) -> Scenario:
    _load_all()
    if name not in SCENARIOS:
        raise BadInput(f"unknown drill scenario {name!r}; scenarios: "
                       + ", ".join(sorted(SCENARIOS)))
    return SCENARIOS[name]


def names() -> list[str]:
    _load_all()
    return sorted(SCENARIOS)


def _load_all() -> None:
    # Each section's scenarios live beside the fakes they need; importing registers them.
    from runbook.drill import (
        scenarios_core,  # noqa: F401
        scenarios_db,  # noqa: F401
        scenarios_mitigate,  # noqa: F401
        scenarios_monitoring,  # noqa: F401
        scenarios_sev1,  # noqa: F401
        scenarios_webhook,  # noqa: F401
    )
