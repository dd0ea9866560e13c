"""runbook serve [--config PATH] [--host H] [--port N] [--archive URL]"""

from __future__ import annotations

import argparse

from runbook.core.config import load_config
from runbook.core.errors import BadInput
from runbook.host.commands import Subcommands


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "serve", help="turn UptimeRobot, Sentry and Railway alerts into headless runs and a "
                      "Slack verdict (diagnosis only: it never acts)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml)")
    parser.add_argument("--host", help="address to listen on (default: [serve] host, "
                        "127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: [serve] port, 8080; 0 picks "
                        "a free one and prints it)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from runbook.host.serve.service import run_service

    # `--archive URL` (added to every command by the CLI) reaches the runs serve starts through
    # the environment, so their records land in the same archive as serve's incident events.
    if args.port is not None and not 0 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is not a port number")
    return run_service(load_config(args.config), args.host, args.port)
