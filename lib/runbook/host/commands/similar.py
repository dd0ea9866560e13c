"""runbook similar ID [--drills] [--json]: the incidents before this one that were alike,
what mitigated them and how long it took, and whether its trigger and causes are new, rare
or frequent. Drills compare with drills, incidents with incidents, unless --drills."""

from __future__ import annotations

import argparse
import json
from typing import Any

from runbook.core import clock
from runbook.host.commands import Subcommands
from runbook.host.commands.runs import command_archives, incident_archive
from runbook.incident.similar import SeenBefore, headline, render_line, seen_before


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "similar", help="incidents before this one that were alike: new, rare or frequent")
    parser.add_argument("incident", metavar="INCIDENT_ID", help="the incident to compare")
    parser.add_argument("--drills", action="store_true",
                        help="compare across incidents and drills alike (default: a drill "
                        "with drills, an incident with incidents)")
    parser.add_argument("--json", action="store_true", help="for scripts: the comparison")
    parser.add_argument("--now", help="fold as of this time, ISO-8601 (default: now)")
    parser.add_argument("--config", help="config whose archive to read")
    parser.set_defaults(handler=run)


def as_json(seen: SeenBefore) -> dict[str, Any]:
    return {
        "id": seen.incident_id, "drill": seen.drill, "outlier": seen.outlier,
        "trigger": seen.trigger, "trigger_source": seen.trigger_source,
        "trigger_seen": seen.trigger_seen, "trigger_rarity": seen.trigger_rarity,
        "causes": [{"code": code, "seen": count, "rarity": seen.cause_rarity()[code]}
                   for code, count in seen.causes],
        "symptoms": list(seen.symptoms), "compared": seen.compared,
        "alike": [{"id": p.incident_id,
                   "started_at": clock.iso(p.started_at) if p.started_at else None,
                   "trigger": p.trigger, "shared_causes": list(p.shared_causes),
                   "shared_symptoms": list(p.shared_symptoms), "same_trigger": p.same_trigger,
                   "mitigated_by": list(p.mitigated_by),
                   "ttm_seconds": int(p.time_to_mitigate.total_seconds())
                   if p.time_to_mitigate is not None else None,
                   "severity": p.severity, "drill": p.drill, "where": p.where}
                  for p in seen.past],
    }


def run(args: argparse.Namespace) -> int:
    now = clock.parse_given(args.now, "--now") or clock.now()
    archive = incident_archive(args.config, args.incident)
    compare_with = command_archives(args.config, drills=True) if args.drills else [archive]
    seen = seen_before(archive, args.incident, now, compare_with)
    if args.json:
        print(json.dumps(as_json(seen), indent=2, ensure_ascii=False))
        return 0
    if not seen.past:
        print(render_line(seen))
        return 0
    print(headline(seen))
    print(f"{len(seen.past)} earlier {'drill' if seen.drill else 'incident'}(s) alike, the "
          "most alike first:")
    for past in seen.past:
        print(f"  {past.describe()}")
        print(f"    {past.where}")
    return 0
