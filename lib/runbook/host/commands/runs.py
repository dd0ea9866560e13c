"""runbook runs [--incident ID]: the archive's table, read from its index."""

from __future__ import annotations

import argparse
from pathlib import Path

from runbook.archive.location import default_runs_dir
from runbook.archive.record import Archive, list_runs
from runbook.core.config import load_config, resolve_path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("runs", help="list archived runs (from the index)")
    parser.add_argument("--incident", help="only this incident's runs")
    parser.add_argument("--config", help="config whose [archive] runs_dir to read")
    parser.set_defaults(handler=run)


def archive_root(config_path: str | None) -> Path:
    """The archive a listing reads: the config's when there is one, else ./runs."""
    if config_path or resolve_path(None).is_file():
        return load_config(config_path).runs_dir()
    return default_runs_dir()


def run(args: argparse.Namespace) -> int:
    root = archive_root(args.config)
    rows = list_runs(Archive(root), args.incident)
    if not rows:
        print(f"no runs under {root}" + (f" for incident {args.incident}" if args.incident
                                          else ""))
        return 0
    header = ("incident", "notebook", "status", "severity", "started", "first failing finding")
    table = [header] + [(r.incident_id, r.notebook, r.status, r.severity or "-", r.started_at,
                         r.first_failure or "-") for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  "
              + str(row[-1]))
    return 0
