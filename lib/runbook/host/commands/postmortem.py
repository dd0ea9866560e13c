"""runbook postmortem INCIDENT_ID [--out DIR]: the postmortem, built from the incident's records."""

from __future__ import annotations

import argparse

from runbook.archive.location import archive_holding
from runbook.host.commands import Subcommands
from runbook.sections.postmortem import places, write_postmortem


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "postmortem", help="write the incident's postmortem from its records",
        description="Writes YYYY-MM-DD-<slug>.md with a timeline chart and the rendered "
                    "notebooks beside it. Re-running refreshes only the generated parts: what "
                    "a person wrote is kept.")
    parser.add_argument("incident", metavar="INCIDENT_ID", help="the incident (see `runbook runs`)")
    parser.add_argument("--out", help="folder for the postmortem (default: the config's "
                        "[archive] postmortems_dir, else ./docs/ops/postmortems)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml when present)")
    parser.add_argument("--evidence", choices=["fast", "nbconvert"], default="fast",
                        help="how to render each archived notebook to HTML: fast (default) or "
                        "through nbconvert (Jupyter's exporter: highlighted, slower)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    where = places(args.config, args.out)
    # A drill's incident is in the drills' archive: found there all the same.
    archive = archive_holding(args.incident, where.config)
    archive.check_reachable()
    written = write_postmortem(archive, args.incident, where.postmortems_dir,
                               evidence_engine=args.evidence)
    print(repr(written))
    return 0
