"""The report's figures, from the incidents' folds: what happened in the window, how fast the
team detected, acknowledged, mitigated and resolved, the follow-ups still open, the
postmortems owed, and the drills run.

Every number is the fold's (`incident.similar.fold_all`); nothing here reads a file. Drills
count only when asked: they are listed apart, and the scenarios not drilled lately are named.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from runbook.incident.events import Event
from runbook.incident.similar import Folded
from runbook.incident.trigger import UNKNOWN

METRICS = (("TTD", "detect"), ("TTA", "acknowledge"), ("TTM", "mitigate"), ("TTR", "resolve"))
DRILL_FRESH = timedelta(days=90)           # a scenario not drilled for this long is named
SAVED = "postmortem.saved"                 # the event a saved postmortem's fields are kept in


@dataclass(frozen=True)
class Row:
    """One incident (or drill) in the window, as the report lists it."""

    id: str
    started_at: datetime
    severity: str | None
    trigger: str
    state: str
    drill: bool
    scenario: str
    times: dict[str, timedelta | None]     # TTD, TTA, TTM, TTR


@dataclass(frozen=True)
class ActionItem:
    incident_id: str
    title: str
    owner: str
    due: date | None
    done: bool


@dataclass(frozen=True)
class Owed:
    """A postmortem owed: missing, or failing the check (its problems)."""

    incident_id: str
    severity: str
    deadline: datetime
    problems: tuple[str, ...] = ()

    @property
    def missing(self) -> bool:
        return not self.problems


@dataclass
class Trends:
    since: datetime
    now: datetime
    with_drills: bool
    rows: list[Row]
    drills: list[Row]
    scenarios: list[str]                                  # every scenario the drill knows
    action_items: list[ActionItem] | None = None          # None: no postmortem saved any
    owed: list[Owed] = field(default_factory=list)
    checked: bool = False                                 # postmortems were run through a check

    def by_severity(self) -> dict[str, int]:
        counts = Counter(row.severity or "no SEV" for row in self.rows)
        return dict(sorted(counts.items()))

    def by_trigger(self) -> dict[str, int]:
        counts = Counter(row.trigger for row in self.rows)
        return dict(sorted(counts.items(), key=lambda kv: (kv[0] == UNKNOWN, -kv[1], kv[0])))

    def medians(self, rows: Iterable[Row] | None = None) -> dict[str, timedelta | None]:
        chosen = list(self.rows if rows is None else rows)
        return {name: median([row.times[name] for row in chosen]) for name, _ in METRICS}

    def weekly(self) -> list[tuple[date, dict[str, timedelta | None], int]]:
        """Per week (starting Monday) with incidents: the medians and how many incidents."""
        weeks: dict[date, list[Row]] = {}
        for row in self.rows:
            day = row.started_at.date()
            weeks.setdefault(day - timedelta(days=day.weekday()), []).append(row)
        return [(week, self.medians(rows), len(rows)) for week, rows in sorted(weeks.items())]

    def open_items(self) -> list[ActionItem]:
        return [item for item in self.action_items or [] if not item.done]

    def overdue_items(self) -> list[ActionItem]:
        today = self.now.date()
        return [item for item in self.open_items() if item.due is not None and item.due < today]

    def drills_in_window(self) -> list[Row]:
        return [row for row in self.drills if self.since <= row.started_at <= self.now]

    def drilled_lately(self) -> dict[str, datetime]:
        """Each scenario's last drill within DRILL_FRESH of now."""
        last: dict[str, datetime] = {}
        for row in self.drills:
            if row.scenario and self.now - row.started_at <= DRILL_FRESH:
                last[row.scenario] = max(last.get(row.scenario, row.started_at), row.started_at)
        return last

    def not_drilled(self) -> list[str]:
        lately = self.drilled_lately()
        return [name for name in self.scenarios if name not in lately]


def median(values: Iterable[timedelta | None]) -> timedelta | None:
    known = [value.total_seconds() for value in values if value is not None]
    return timedelta(seconds=statistics.median(known)) if known else None


def row_of(folded: Folded) -> Row | None:
    incident = folded.incident
    start = folded.start
    if start is None:
        return None
    return Row(incident.id, start, incident.peak_severity or incident.severity,
               folded.trigger.tag, incident.state, incident.drill, incident.scenario,
               {name: incident.time_to(milestone) for name, milestone in METRICS})


def action_items(incident_id: str, events: Iterable[Event]) -> list[ActionItem] | None:
    """The action items of the incident's last saved postmortem (`postmortem.saved`, its body's
    `action_items`: title, owner, due as YYYY-MM-DD, done or status), None when none was
    saved."""
    saved = [event for event in events if event.kind == SAVED]
    if not saved:
        return None
    items = saved[-1].get("action_items") or []
    return [item for item in (_item(incident_id, raw) for raw in items if isinstance(raw, dict))
            if item is not None]


def _item(incident_id: str, raw: dict[str, Any]) -> ActionItem | None:
    title = str(raw.get("title") or raw.get("what") or raw.get("text") or "").strip()
    if not title:
        return None
    try:
        due = date.fromisoformat(str(raw.get("due"))[:10]) if raw.get("due") else None
    except ValueError:
        due = None
    status = str(raw.get("status") or "").lower()
    done = bool(raw.get("done")) or status in ("done", "closed", "dropped")
    return ActionItem(incident_id, title, str(raw.get("owner") or ""), due, done)


def trends(folded: Iterable[Folded], drills: Iterable[Folded], *, since: datetime,
           now: datetime, with_drills: bool, scenarios: list[str],
           events_of: Callable[[str], list[Event]] | None = None,
           owed: list[Owed] | None = None, checked: bool = False) -> Trends:
    """The report's figures for incidents started in [since, now]. `drills`: every drill
    (their list and the scenarios' freshness); with `with_drills`, they count as incidents too.
    `events_of`: an incident's events, for its saved postmortem's action items."""
    def in_window(rows: Iterable[Folded]) -> list[Row]:
        found = [row_of(f) for f in rows]
        return sorted((r for r in found if r is not None and since <= r.started_at <= now),
                      key=lambda r: (r.started_at, r.id))

    incidents = [f for f in folded if not f.incident.drill]
    drill_list = list(drills) + [f for f in folded if f.incident.drill]   # older archives
    all_drills = sorted((r for r in (row_of(f) for f in drill_list) if r is not None),
                        key=lambda r: (r.started_at, r.id))
    rows = in_window(incidents) + (in_window(drill_list) if with_drills else [])
    rows.sort(key=lambda r: (r.started_at, r.id))
    items: list[ActionItem] | None = None
    if events_of is not None:
        for row in rows:
            found = action_items(row.id, events_of(row.id))
            if found is not None:
                items = [*(items or []), *found]
    return Trends(since, now, with_drills, rows, all_drills, sorted(scenarios), items,
                  list(owed or []), checked)
