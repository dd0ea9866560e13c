"""runbook postmortem INCIDENT_ID [--check] [--out DIR] [--now TIME]: the postmortem, built
from the incident's log and records, and the check that it is complete."""

from __future__ import annotations

import argparse
import getpass

from runbook.archive.location import archive_holding
from runbook.core import clock
from runbook.host.commands import Subcommands
from runbook.sections.postmortem import check, places, write_postmortem


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "postmortem", help="write the incident's postmortem from its records (--check: is it "
        "complete?)",
        description="Writes YYYY-MM-DD-<slug>.md (and its .html twin) with a timeline chart "
                    "and the evidence beside it. Your parts (root cause, action items, "
                    "lessons) live in YYYY-MM-DD-<slug>.edits.toml: a re-run keeps them and "
                    "saves them to the incident's log. --check lists every required field "
                    "still empty or a prompt (exit 1 while any is).")
    parser.add_argument("incident", metavar="INCIDENT_ID", help="the incident (see `runbook runs`)")
    parser.add_argument("--check", action="store_true", help="write nothing: list what is still "
                        "empty or a prompt; exit 1 while anything is")
    parser.add_argument("--out", help="folder for the postmortem (default: the config's "
                        "[archive] postmortems_dir, else ./docs/ops/postmortems)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml when present)")
    parser.add_argument("--now", help="the time to judge the incident at, ISO-8601 (default: "
                        "now); e.g. to write it as of its resolution")
    parser.add_argument("--evidence", choices=["fast", "nbconvert"], default="fast",
                        help="how to render each archived notebook to HTML: fast (default) or "
                        "through nbconvert (Jupyter's exporter: highlighted, slower)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    now = clock.parse_given(args.now, "--now")
    where = places(args.config, args.out)
    # A drill's incident is in the drills' archive: found there all the same.
    archive = archive_holding(args.incident, where.config)
    archive.check_reachable()
    if args.check:
        missing = check(archive, args.incident, where.postmortems_dir, where.config)
        if not missing:
            print(f"the postmortem of {args.incident} is complete")
            return 0
        print(f"the postmortem of {args.incident} is not complete ({len(missing)}):")
        for problem in missing:
            print(f"  - {problem}")
        return 1
    written = write_postmortem(archive, args.incident, where.postmortems_dir,
                               evidence_engine=args.evidence, config=where.config, now=now,
                               actor=getpass.getuser())
    print(repr(written))
    return 0
