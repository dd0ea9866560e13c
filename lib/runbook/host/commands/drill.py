"""runbook drill SCENARIO: rehearse a section against the simulated Dealix."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from types import FrameType

from runbook.archive.location import default_runs_dir, is_bucket
from runbook.core.errors import BadInput
from runbook.drill import scenarios
from runbook.drill.run import run_drill
from runbook.drill.world import World, drill_world
from runbook.host.commands import Subcommands
from runbook.host.commands.runs import command_config
from runbook.host.runner import deadline_seconds, describe


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "drill", help="run a notebook against a simulated Dealix with one injected fault",
        description="Scenarios: " + ", ".join(scenarios.names()))
    parser.add_argument("scenario", help="one of: " + ", ".join(scenarios.names()))
    parser.add_argument("--incident", help="incident id to file the drill under (default: new)")
    parser.add_argument("--deadline", type=deadline_seconds,
                        help="bound on the whole run, in seconds")
    parser.add_argument("--config", help="the team's config whose archive keeps the drill "
                        "(under its drills/; default: $RUNBOOK_CONFIG or ./runbook.toml when "
                        "present, else $RUNBOOK_RUNS_DIR or ./runs)")
    parser.add_argument("--world", action="store_true",
                        help="run nothing: keep the scenario's simulated world up until "
                        "Ctrl-C, and write its config and throwaway secrets (a file to "
                        "source), to try runbook run, serve or lab against it by hand")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    scenario = scenarios.get(args.scenario)
    # The team's archive, as its config names it (paths read from the config's folder); the
    # drill's own config points there, and the run files itself under its drills/.
    config = command_config(args.config)
    runs_dir = config.runs_dir() if config is not None else default_runs_dir()
    archive = {"url": config.archive.url, "endpoint_url": config.archive.endpoint_url} \
        if config is not None and is_bucket(config.archive.url) else {}
    if args.world:
        if args.incident or args.deadline:
            raise BadInput("--world runs nothing: --incident and --deadline are for a drill's "
                           "run; give them to the runbook commands you run in the world")
        return hold_world(scenario.name, runs_dir)
    print(f"drill {scenario.name}: {scenario.description}")
    result = run_drill(scenario.name, runs_dir, incident_id=args.incident,
                       deadline=args.deadline, archive=archive)
    print(describe(result.run))
    if result.run.status != "completed":
        print(f"verdict: the run did not complete ({result.run.status})")
    elif result.matched:
        print(f"verdict: PASS: the diagnosis names the injected fault ({scenario.name})")
    else:
        print("verdict: MISMATCH: " + "; ".join(result.reasons))
    if result.run.archive is not None:
        print(f"kept with the drills, apart from incidents: {result.run.archive.location()} "
              "(runbook runs --drills)")
    print(f"incident: {result.run.record['incident_id']}")
    return result.exit_code


class _Stopped(Exception):
    """SIGTERM: stop as Ctrl-C does."""


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def hold_world(name: str, runs_dir: Path) -> int:
    """Keep the world up, showing what the fake Slack receives, until Ctrl-C or SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        with drill_world(name, runs_dir) as world:
            _describe_world(world)
            shown = (0, 0)
            while True:
                shown = _show_slack(world, shown)
                time.sleep(0.5)
    except (KeyboardInterrupt, _Stopped):
        print("world stopped; its folder is removed", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _describe_world(world: World) -> None:
    folder = world.config_path.parent
    print(f"drill {world.scenario.name} --world: {world.scenario.description}")
    print(f"  config      {world.config_path}")
    print(f"  secrets     {world.env_file} (the drill's own, made up for its fakes)")
    for service, url in world.urls.items():
        print(f"  {service:<11} {url}")
    print("Nothing runs until you run it. In another shell:")
    print(f"  . {world.env_file}          # RUNBOOK_CONFIG, RUNBOOK_DRILL=1 and the secrets")
    print(f"  runbook run {world.scenario.notebook}")
    sections = world.target.sections
    if "serve" in sections:
        print("  runbook serve --port 0    # then, with the port it prints:")
        uptime = world.target.extras.get("uptimerobot")
        monitor = uptime.monitors[0].id if uptime is not None and uptime.monitors else 1
        token = sections["serve"]["token_env"]
        print(f'  curl -X POST "http://127.0.0.1:PORT/alerts/uptimerobot?token=${token}'
              f'&monitorID={monitor}&alertType=1&alertDetails=HTTP%20502"')
    print(f"Ctrl-C stops the world and removes {folder}; the runs stay in the archive.",
          flush=True)


def _show_slack(world: World, shown: tuple[int, int]) -> tuple[int, int]:
    """Print what reached the fake Slack (webhook posts, app messages) since `shown`."""
    slack = world.target.extras.get("slack")
    if slack is None:
        return shown
    posted = [str(p.payload.get("text", "")) for p in slack.state.posted]
    messages = [m.text for m in slack.state.messages]
    for text in posted[shown[0]:] + messages[shown[1]:]:
        print(f"slack: {text.splitlines()[0] if text else '(blocks only)'}", flush=True)
    return len(posted), len(messages)
