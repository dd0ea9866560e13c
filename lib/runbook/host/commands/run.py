"""runbook run NOTEBOOK [-p NAME VALUE]... [--incident ID] [--config PATH] [--deadline S]"""

from __future__ import annotations

import argparse
import sys

from runbook.archive.layout import NOTEBOOK
from runbook.core.config import load_config
from runbook.host.commands import Subcommands
from runbook.host.runner import deadline_seconds, describe, run_notebook


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("run", help="run a runbook notebook headless and archive the record")
    parser.add_argument("notebook", help="notebook name (sev1_response) or path to an .ipynb")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="a notebook parameter (repeatable)")
    parser.add_argument("--incident", help="incident id to file the run under (default: new)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml)")
    parser.add_argument("--deadline", type=deadline_seconds,
                        help="bound on the whole run, in seconds")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    result = run_notebook(args.notebook, [tuple(p) for p in args.parameter], config,
                          incident_id=args.incident, deadline=args.deadline)
    print(describe(result))
    if result.status == "interrupted":
        print(f"runbook: {result.error}", file=sys.stderr)
    if result.status == "failed":
        print(f"a cell failed: see the marked cell in {result.where(NOTEBOOK)}",
              file=sys.stderr)
    return result.exit_code
