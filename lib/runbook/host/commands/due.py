"""runbook due: SEV-1/SEV-2 incidents still without a complete postmortem, and the 48-hour
clock."""

from __future__ import annotations

import argparse

from runbook.archive.location import open_archives
from runbook.core import clock
from runbook.host.commands import Subcommands
from runbook.incident.windows import fold_options
from runbook.sections.postmortem import places
from runbook.sections.postmortem.due import postmortems_due


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "due", help="SEV-1/SEV-2 incidents without a complete postmortem, with the 48 h left "
        "or overdue")
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
    # Drills keep to their own archive; read it only when asked.
    archives = open_archives(where.config, drills=args.drills)
    archives[0].check_reachable()
    due = sorted((item for archive in archives for item in postmortems_due(
        archive, where.postmortems_dir, now, drills=args.drills,
        windows=fold_options(where.config))),
        key=lambda d: (d.deadline, d.incident_id))
    if not due:
        print(f"no postmortem due: every SEV-1/SEV-2 incident under {archives[0].location()} has "
              "a complete one")
        return 0
    print(f"{len(due)} SEV-1/SEV-2 incident(s) without a complete postmortem (the runbook: "
          "within 48 hours):")
    for item in due:
        print("  " + repr(item))
    print("write one with: runbook postmortem INCIDENT_ID; see what is missing with "
          "runbook postmortem INCIDENT_ID --check")
    return 0
