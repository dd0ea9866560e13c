"""runbook drill SCENARIO: rehearse a section against the simulated Dealix."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from runbook.drill import scenarios
from runbook.drill.run import run_drill
from runbook.host.commands import Subcommands
from runbook.host.runner import deadline_seconds, describe


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "drill", help="run a notebook against a simulated Dealix with one injected fault",
        description="Scenarios: " + ", ".join(scenarios.names()))
    parser.add_argument("scenario", help="one of: " + ", ".join(scenarios.names()))
    parser.add_argument("--incident", help="incident id to file the drill under (default: new)")
    parser.add_argument("--deadline", type=deadline_seconds,
                        help="bound on the whole run, in seconds")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    scenario = scenarios.get(args.scenario)
    runs_dir = Path(os.environ.get("RUNBOOK_RUNS_DIR") or "runs")
    print(f"drill {scenario.name}: {scenario.description}")
    result = run_drill(scenario.name, runs_dir, incident_id=args.incident,
                       deadline=args.deadline)
    print(describe(result.run))
    if result.run.status != "completed":
        print(f"verdict: the run did not complete ({result.run.status})")
    elif result.matched:
        print(f"verdict: PASS: the diagnosis names the injected fault ({scenario.name})")
    else:
        print("verdict: MISMATCH: " + "; ".join(result.reasons))
    print(f"incident: {result.run.record['incident_id']}")
    return result.exit_code
