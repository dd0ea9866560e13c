"""What a drill scenario is, and the registry each section's scenarios add themselves to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.drill.target import Target

if TYPE_CHECKING:
    from runbook.host.runner import RunResult

# A scenario that is not one notebook run (serve, driven by alerts) drives itself: given the
# target and its config, it returns the run it judged and what it found wrong beyond `judge`.
Exercise = Callable[[Target, Path, "float | None"], "tuple[RunResult, list[str]]"]


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
    expect_no_failing: bool = False           # no finding may fail (or error)
    expect_next_first: str | None = None      # the record's `next` starts with this section
    parameters: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    exercise: Exercise | None = None


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    SCENARIOS[scenario.name] = scenario
    return scenario
