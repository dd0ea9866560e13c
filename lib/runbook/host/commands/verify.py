"""runbook verify [INCIDENT_ID]: check records against their chain and hashes (exit 1 if not;
exit 3 when every incident is intact but a folder could not be checked: its name is not an
incident id)."""

from __future__ import annotations

import argparse

from runbook.archive.record import misnamed_reason
from runbook.archive.verify import verify_incident
from runbook.core.errors import BadInput
from runbook.host.commands.runs import command_archive


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("verify", help="check an incident's records against their hash "
                            "chain; exit 1 and name the record when one was edited, removed "
                            "or inserted")
    parser.add_argument("incident", nargs="?", help="incident id (default: every incident)")
    parser.add_argument("--config", help="config whose [archive] runs_dir to read")
    parser.add_argument("--head", help="a chain head given out-of-band (printed at the end of "
                        "a run, posted to Slack): check the chain still holds it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    archive = command_archive(args.config)
    if args.head and not args.incident:
        raise BadInput("--head checks one incident's chain: give the incident id too")
    incidents = [args.incident] if args.incident else archive.incidents()
    intact = True
    for incident in incidents:
        problems = verify_incident(archive, incident, head=args.head)
        head = archive.chain_head(incident)
        if problems:
            intact = False
            print(f"{incident}: NOT intact")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{incident}: intact" + (f" (chain head {head})" if head else ""))
    misnamed = [] if args.incident else archive.misnamed_incidents()
    for folder in misnamed:
        print(f"{folder}: NOT verified: {misnamed_reason(folder)}")
    if not incidents and not misnamed:
        print(f"no incidents under {archive.location()}")
    return 1 if not intact else SKIPPED if misnamed else 0


SKIPPED = 3     # everything checked is intact, but a folder could not be checked
