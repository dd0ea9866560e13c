"""runbook runs [--incident ID] [--reindex] [--drills]: the archive's table, read from its index.
Drills are listed only with --drills (they keep to their own archive, `drills/`)."""

from __future__ import annotations

import argparse

from runbook.archive.location import archive_holding, open_archive, open_archives
from runbook.archive.record import Archive, RunRow, list_runs
from runbook.archive.reindex import reindex
from runbook.core import clock
from runbook.core.config import Config, load_config, resolve_path
from runbook.host.commands import Subcommands
from runbook.incident import views
from runbook.incident.log import IncidentLog
from runbook.incident.windows import fold_options


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("runs", help="list archived runs (from the index)")
    parser.add_argument("--incident", help="only this incident's runs")
    parser.add_argument("--config", help="config whose [archive] to read")
    parser.add_argument("--reindex", action="store_true",
                        help="rebuild the index from the records first")
    parser.add_argument("--drills", action="store_true",
                        help="list the drills' runs too (kept apart, under drills/)")
    parser.set_defaults(handler=run)


def command_config(config_path: str | None) -> Config | None:
    """The config a reading command uses: the one given, $RUNBOOK_CONFIG or ./runbook.toml
    when there is one, else None."""
    return load_config(config_path) if config_path or resolve_path(None).is_file() else None


def command_archive(config_path: str | None) -> Archive:
    """The archive a reading command uses: --archive, the config's when there is one, else
    $RUNBOOK_RUNS_DIR or ./runs. Read straight from a bucket (no staging)."""
    return open_archive(command_config(config_path), staged=False)


def command_archives(config_path: str | None, drills: bool) -> list[Archive]:
    """The incidents' archive, and the drills' too when asked (`--drills`)."""
    return open_archives(command_config(config_path), staged=False, drills=drills)


def incident_archive(config_path: str | None, incident_id: str) -> Archive:
    """The archive holding an incident, the incidents' or the drills': an id is found
    wherever it is."""
    return archive_holding(incident_id, command_config(config_path), staged=False)


def run(args: argparse.Namespace) -> int:
    archives = [incident_archive(args.config, args.incident)] if args.incident else \
        command_archives(args.config, args.drills)
    rows: list[RunRow] = []
    for number, archive in enumerate(archives):
        if args.reindex:
            count = reindex(archive)
            print(f"index rebuilt from {count} run(s) under {archive.location()}")
        listed = list_runs(archive, args.incident)
        if number:       # the drills' archive, after the incidents'
            for drill in listed:
                drill.incident_id += " (drill)"
        rows += listed
    archive = archives[0]
    if not rows:
        print(f"no runs under {archive.location()}" + (f" for incident {args.incident}"
                                                      if args.incident else ""))
        if not args.incident and not args.drills:
            drilled = len(list_runs(open_archive(command_config(args.config), staged=False,
                                                 drills=True)))
            if drilled:
                print(f"{drilled} drill run(s) are kept apart: runbook runs --drills")
        return 0
    if len(archives) > 1:
        rows.sort(key=lambda listed_row: (listed_row.started_at, listed_row.run))
    if args.incident:
        # One incident: its state from the fold of its log, above its runs.
        print(views.one_line(IncidentLog(archive, args.incident).fold(
            **fold_options(command_config(args.config))), clock.now()))
    header = ("incident", "notebook", "status", "severity", "started", "first failing finding")
    table = [header] + [(r.incident_id, r.notebook, r.status, r.severity or "-", r.started_at,
                         r.first_failure or "-") for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  "
              + str(row[-1]))
    return 0
