"""runbook archive NOTEBOOK_PATH --incident ID [--config PATH]: seal a responder's saved
notebook, redacted, with its session's findings and actions, as a `completed` record."""

from __future__ import annotations

import argparse

from runbook.core.config import load_config
from runbook.host.commands import Subcommands
from runbook.sections.kit.interactive import archive_notebook


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("archive", help="archive a notebook run in JupyterLab (saved to "
                            "disk) as a completed record of the incident")
    parser.add_argument("notebook", metavar="NOTEBOOK_PATH", help="the saved .ipynb")
    parser.add_argument("--incident", required=True, help="the incident the session ran under")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml): its secrets are redacted, its archive is used")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    archived = archive_notebook(args.notebook, args.incident, config)
    print(repr(archived))
    return 0
