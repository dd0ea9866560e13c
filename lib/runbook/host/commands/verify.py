"""runbook verify [INCIDENT_ID]: check every file of an incident against its chain and its event
log. Exit 1 when one was edited, removed or inserted; 3 when a log line cannot be read, or when
everything else is intact but a folder could not be checked (its name is not an incident id)."""

from __future__ import annotations

import argparse

from runbook.archive.record import Archive, misnamed_reason
from runbook.archive.verify import Problem, verify_incident
from runbook.core.errors import BadInput
from runbook.host.commands import Subcommands
from runbook.host.commands.runs import command_archives, incident_archive
from runbook.incident.integrity import known_heads, log_problems

EXIT_CORRUPT = 3


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("verify", help="check an incident's records against their hash "
                            "chain; exit 1 and name the record when one was edited, removed "
                            "or inserted")
    parser.add_argument("incident", nargs="?", help="incident id (default: every incident)")
    parser.add_argument("--config", help="config whose [archive] runs_dir to read")
    parser.add_argument("--head", help="a chain head given out-of-band (printed at the end of "
                        "a run, posted to Slack): check the chain still holds it")
    parser.add_argument("--drills", action="store_true",
                        help="with no incident id: the drills' incidents too")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.head and not args.incident:
        raise BadInput("--head checks one incident's chain: give the incident id too")
    archives = [incident_archive(args.config, args.incident)] if args.incident else \
        command_archives(args.config, args.drills)
    intact, corrupt, misnamed, checked = True, False, False, False
    for archive in archives:
        result = _verify(archive, args)
        intact, corrupt = intact and result[0], corrupt or result[1]
        misnamed, checked = misnamed or result[2], checked or result[3]
    if not checked:
        print(f"no incidents under {archives[0].location()}")
    if corrupt:
        return EXIT_CORRUPT
    return 1 if not intact else EXIT_CORRUPT if misnamed else 0


def _verify(archive: Archive, args: argparse.Namespace) -> tuple[bool, bool, bool, bool]:
    """One archive's incidents: (intact, a log corrupt, a folder misnamed, anything seen)."""
    incidents = [args.incident] if args.incident else archive.incidents()
    intact, corrupt = True, False
    for incident in incidents:
        problems = verify_incident(archive, incident) + log_problems(archive, incident)
        if args.head and args.head.strip().lower() not in known_heads(archive, incident):
            problems.append(Problem("(chain)", "head_missing", f"neither the chain nor the "
                                    f"log ever had the head {args.head.strip()}: what was "
                                    "sealed or logged up to then was removed or rewritten"))
        chain_head = archive.chain_head(incident)
        if problems:
            intact = False
            corrupt = corrupt or any(p.kind == "log_corrupt" for p in problems)
            print(f"{incident}: NOT intact")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{incident}: intact" + (f" (chain head {chain_head})" if chain_head else ""))
    misnamed = [] if args.incident else archive.misnamed_incidents()
    for folder in misnamed:
        print(f"{folder}: NOT verified: {misnamed_reason(folder)}")
    return intact, corrupt, bool(misnamed), bool(incidents or misnamed)
