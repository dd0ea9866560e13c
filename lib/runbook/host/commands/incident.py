"""runbook incident show|declare|ack|mitigated|resolve ID: the fold of an incident's log, and
the milestones a person sets, each appended to the log."""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import timedelta

from runbook.archive import record as records
from runbook.core import clock
from runbook.core.errors import BadInput, UnknownIncident
from runbook.host.commands import Subcommands
from runbook.host.commands.runs import command_config, incident_archive
from runbook.incident import views
from runbook.incident.log import IncidentLog, open_incident
from runbook.incident.windows import fold_options

MILESTONE_OF = {"declare": "declared", "ack": "acknowledged", "mitigated": "mitigated",
                "resolve": "resolved"}
CLOCK_SKEW = timedelta(minutes=1)   # a time this far ahead of ours is still "now"


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("incident", help="an incident's state from its event log (show), "
                            "or a milestone a person sets (declare, ack, mitigated, resolve)")
    actions = parser.add_subparsers(dest="incident_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="the incident as its log tells it")
    show.add_argument("incident", help="incident id")
    show.add_argument("--json", action="store_true", help="for scripts: the fold as JSON")
    show.add_argument("--config", help="config whose archive to read")
    show.set_defaults(handler=run_show)
    for name, milestone in MILESTONE_OF.items():
        setter = actions.add_parser(name, help=f"record that the incident was {milestone}")
        setter.add_argument("incident", help="incident id")
        setter.add_argument("--at", help="when (ISO-8601; default: now); not in the future, "
                            "not before the incident's first event")
        setter.add_argument("--note", default="", help="a line for the timeline")
        setter.add_argument("--by", default="", help="who (default: the local user)")
        setter.add_argument("--config", help="config whose archive to write")
        if name == "declare":
            setter.add_argument("--start", help="when the impact began, if earlier than "
                                "anything the incident has seen (ISO-8601)")
            setter.add_argument("--open", action="store_true", help="open the incident if "
                                "the archive has none by that id")
            setter.add_argument("--service", default="", help="with --open: the service")
        setter.set_defaults(handler=run_milestone, milestone=milestone)


def _known(archive: records.Archive, incident_id: str) -> str:
    incident_id = records.check_incident_id(incident_id)
    if not archive.has_incident(incident_id):
        raise UnknownIncident(incident_id, archive.location())
    return incident_id


def run_show(args: argparse.Namespace) -> int:
    archive = incident_archive(args.config, args.incident)
    incident = IncidentLog(archive, _known(archive, args.incident)).fold(
        **fold_options(command_config(args.config)))
    if args.json:
        print(json.dumps(views.as_json(incident), indent=2, ensure_ascii=False))
    else:
        print(views.as_text(incident, clock.now()))
    return 0


def run_milestone(args: argparse.Namespace) -> int:
    archive = incident_archive(args.config, args.incident)
    now = clock.now()
    at = clock.parse_given(args.at, "--at") or now
    start = clock.parse_given(getattr(args, "start", None), "--start")
    for name, moment in (("--at", at), ("--start", start)):
        if moment is not None and moment > now + CLOCK_SKEW:
            raise BadInput(f"{name} {clock.iso(moment)} is in the future (now is "
                           f"{clock.iso(now)}): give the time it happened")
    actor = args.by.strip() or getpass.getuser()
    incident_id = records.check_incident_id(args.incident)
    if not archive.has_incident(incident_id):
        if not getattr(args, "open", False):
            raise UnknownIncident(incident_id, archive.location())
        archive.check_ready(incident_id)
        open_incident(archive, incident_id, opened_at=at, opened_by=f"person {actor}",
                      service=args.service)
    log = IncidentLog(archive, incident_id)
    events = log.events()
    first = min((event.at for event in events), default=None)
    if first is not None and at < first:
        raise BadInput(f"--at {clock.iso(at)} is before the incident's first event "
                       f"({clock.iso(first)}): a milestone cannot come before the incident")
    body: dict[str, object] = {"milestone": args.milestone, "note": args.note}
    if start is not None:
        body["start"] = clock.iso(start)
    log.append("milestone.set", body, at=at, actor=actor)
    incident = log.fold(**fold_options(command_config(args.config)))
    print(f"{incident_id}: {args.milestone} at {clock.iso(at)} by {actor}; now "
          f"{incident.state}" + (f", {incident.severity}" if incident.severity else ""))
    return 0
