"""`runbook drill SCENARIO`: build the target, inject the fault, run the notebook headless,
archive the record, and judge whether the diagnosis names the injected fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runbook.core.config import load_config
from runbook.core.environ import environment_with
from runbook.core.findings import Status
from runbook.core.run_env import ENV_DRILL, ENV_DRILL_SCENARIO
from runbook.drill import scenarios
from runbook.drill.target import simulated_target
from runbook.host.runner import RunResult, run_notebook

EXIT_MISMATCH = 3


@dataclass
class DrillResult:
    scenario: scenarios.Scenario
    run: RunResult
    matched: bool
    reasons: list[str]
    # The drill's own throwaway secrets, for tests that prove none of them was archived.
    secret_values: list[str] = field(default_factory=list, repr=False)

    @property
    def exit_code(self) -> int:
        if self.run.status != "completed":
            return self.run.exit_code
        return 0 if self.matched else EXIT_MISMATCH


def judge(scenario: scenarios.Scenario, run: RunResult) -> list[str]:
    """What the diagnosis missed; empty when it names the injected fault."""
    findings = run.findings
    missing: list[str] = []
    for code in scenario.expect_failing:
        if not any(f.code == code and f.status is Status.FAIL for f in findings):
            missing.append(f"expected a failing {code}")
    for code in scenario.expect_passing:
        if not any(f.code == code and f.status is Status.PASS for f in findings):
            missing.append(f"expected a passing {code}")
    if scenario.expect_no_failing:
        # Nothing failing, and no check that could not be made either: an error is no pass.
        missing.extend(f"expected nothing failing, got {f.status} {f.code}: {f.summary}"
                       for f in findings if f.failed or f.status is Status.ERROR)
    if scenario.expect_next_first:
        sections = [s.get("notebook") for s in run.record.get("next") or []]
        if sections[:1] != [scenario.expect_next_first]:
            missing.append(f"expected next to start with {scenario.expect_next_first}, got "
                           f"{sections}")
    severity = run.record.get("severity")
    if scenario.expect_severity and severity != scenario.expect_severity:
        missing.append(f"expected severity {scenario.expect_severity}, got {severity}")
    if scenario.expect_no_severity and severity:
        missing.append(f"expected no severity, got {severity}")
    return missing


def run_drill(name: str, runs_dir: Path, incident_id: str | None = None,
              deadline: float | None = None, probe_timeout: float = 2.0,
              archive: dict[str, str] | None = None) -> DrillResult:
    """Run a scenario, archived in the drills' archive under `runs_dir` (or, with `archive`'s
    `url`, under the bucket's)."""
    scenario = scenarios.get(name)
    with simulated_target(runs_dir, probe_timeout, archive) as target:
        scenario.setup(target)
        config_path = target.write_config()
        # Everything the drill opens, here and in every process it starts, is a drill's, and
        # says which scenario it rehearses.
        with target.environment(), environment_with({ENV_DRILL: "1",
                                                     ENV_DRILL_SCENARIO: scenario.name}):
            extra: list[str] = []
            if scenario.exercise is not None:
                result, extra = scenario.exercise(target, config_path, deadline)
            else:
                config = load_config(config_path)
                params = [*scenario.parameters, *target.parameters]
                result = run_notebook(scenario.notebook, params, config,
                                      incident_id=incident_id, deadline=deadline, mode="drill")
        secret_values = list(target.env.values())
    reasons = [*extra, *judge(scenario, result)]
    return DrillResult(scenario, result, not reasons, reasons, secret_values)
