"""runbook due: SEV-1/SEV-2 incidents still without a postmortem, and the 48-hour clock."""

from __future__ import annotations

import argparse

from runbook.core import clock
from runbook.host.commands import Subcommands
from runbook.incident.windows import fold_options
from runbook.sections.postmortem import places
from runbook.sections.postmortem.due import postmortems_due


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "due", help="SEV-1/SEV-2 incidents without a postmortem, with the 48 h left or overdue")
    parser.add_argument("--out", help="folder the postmortems are in (default: the config's "
                        "[archive] postmortems_dir, else ./docs/ops/postmortems)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml when present)")
    parser.add_argument("--now", help="the time to measure from, ISO-8601 (default: now); "
                        "for rehearsing the rule")
    parser.add_argument("--drills", action="store_true", help="list drill incidents too "
                        "(kept out by default: a drill needs no postmortem)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    now = clock.parse_given(args.now, "--now") or clock.now()
    where = places(args.config, args.out)
    where.archive.check_reachable()
    due = postmortems_due(where.archive, where.postmortems_dir, now, drills=args.drills,
                          windows=fold_options(where.config))
    if not due:
        print(f"no postmortem due: every SEV-1/SEV-2 incident under {where.archive.location()} has "
              f"one in {where.postmortems_dir}")
        return 0
    print(f"{len(due)} SEV-1/SEV-2 incident(s) without a postmortem in "
          f"{where.postmortems_dir} (the runbook: within 48 hours):")
    for item in due:
        print("  " + repr(item))
    print("write one with: runbook postmortem INCIDENT_ID")
    return 0
