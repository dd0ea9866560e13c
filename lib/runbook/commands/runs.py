"""runbook runs [--incident ID]: the archive's table, read from its index."""

from __future__ import annotations

import argparse

from runbook.config import load_config, resolve_path
from runbook.record import Archive, list_runs
from runbook.runs_dir import default_runs_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("runs", help="list archived runs (from the index)")
    parser.add_argument("--incident", help="only this incident's runs")
    parser.add_argument("--config", help="config whose [archive] runs_dir to read")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.config or resolve_path(None).is_file():
        root = load_config(args.config).runs_dir()
    else:
        root = default_runs_dir()
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
