"""runbook report [--since 90d] [--drills] [--out DIR] [--now T]: the incidents' trends, as a
Markdown report, its HTML twin and a chart of the response times."""

from __future__ import annotations

import argparse
from pathlib import Path

from runbook.archive.location import open_archive
from runbook.core import clock
from runbook.core.durations import DurationError, parse_duration
from runbook.core.errors import BadInput
from runbook.drill import scenarios
from runbook.host.commands import Subcommands
from runbook.sections.postmortem import places
from runbook.sections.report import DEFAULT_REPORTS_DIR, build_report, write_report


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "report", help="the incidents' trends: by SEV and trigger, response times over time, "
        "action items, postmortems owed, drills")
    parser.add_argument("--since", default="90d", help="the window, back from now: e.g. 30d, "
                        "12w (default: 90d)")
    parser.add_argument("--drills", action="store_true", help="count drills as incidents too "
                        "(they are always listed apart, with the scenarios not drilled lately)")
    parser.add_argument("--out", help="folder for the report (default: docs/ops/reports "
                        "beside the config, else under the current folder)")
    parser.add_argument("--now", help="the window's end, ISO-8601 (default: now)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml when present)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        since = parse_duration(args.since)
    except DurationError as exc:
        raise BadInput(f"--since: {exc}") from None
    now = clock.parse_given(args.now, "--now") or clock.now()
    where = places(args.config)
    config = where.config
    incidents = open_archive(config, staged=False, drills=False)
    incidents.check_reachable()
    drills = open_archive(config, staged=False, drills=True)
    out = Path(args.out).resolve() if args.out else \
        config.resolve(DEFAULT_REPORTS_DIR) if config is not None else \
        Path.cwd() / DEFAULT_REPORTS_DIR
    figures = build_report(incidents, drills, since=since, now=now, with_drills=args.drills,
                           scenarios=scenarios.names(), postmortems_dir=where.postmortems_dir)
    written = write_report(figures, out)
    print(f"{len(figures.rows)} incident(s) since {clock.iso(figures.since)}"
          + (" (drills counted)" if args.drills else " (drills apart)")
          + f", {len(figures.drills_in_window())} drill(s) run")
    print(repr(written))
    return 0
