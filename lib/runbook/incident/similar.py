"""Seen before: is an incident's trigger, and each of its causes, new, rare or frequent, and
which past incidents were alike, what mitigated them and how long that took.

PagerDuty's Outlier, on the archive: a trigger tag or a cause finding that no incident before
this one had is *new*; seen once or twice before, *rare*; more often, *frequent*. "Before" is by
the incidents' start. A past incident is alike when it shares a cause finding, or failing that
the trigger tag (unless unknown), or, where neither names a cause, a failing symptom. Every
fact is the fold's (`IncidentLog.fold`): the trigger (`trigger`), what was done, the TTM.

Drills compare with drills and incidents with incidents: each lives in its own archive, and the
caller passes the archives to compare across (`runbook similar --drills`: both).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from runbook.archive import layout
from runbook.archive import record as records
from runbook.core import clock
from runbook.core.errors import RunbookError, UnknownIncident
from runbook.core.severity import format_delta
from runbook.incident.fold import Incident
from runbook.incident.log import IncidentLog
from runbook.incident.trigger import UNKNOWN, Trigger, trigger_of

NEW, RARE, FREQUENT = "new", "rare", "frequent"
RARE_AT_MOST = 2          # seen once or twice before: rare


def rarity(seen: int) -> str:
    return NEW if seen == 0 else RARE if seen <= RARE_AT_MOST else FREQUENT


@dataclass(frozen=True)
class Folded:
    """An incident as its fold tells it, with its trigger and where it is kept."""

    incident: Incident
    trigger: Trigger
    where: str                       # the incident's folder in its archive, to link

    @property
    def id(self) -> str:
        return self.incident.id

    @property
    def start(self) -> datetime | None:
        return self.incident.started_at or self.incident.opened_at


def fold_all(archives: Iterable[records.Archive], now: datetime | None = None
             ) -> list[Folded]:
    """Every incident of the archives, folded at `now`, oldest first; one whose log cannot be
    read is left out (`runbook verify` names it)."""
    moment = now or clock.now()
    found: list[Folded] = []
    for archive in archives:
        for incident_id in archive.incidents():
            try:
                incident = IncidentLog(archive, incident_id).fold(moment)
            except RunbookError:
                continue
            found.append(Folded(incident, trigger_of(incident),
                                archive.location(layout.incident_key(incident_id))))
    return sorted(found, key=lambda f: (f.start is None, f.start or moment, f.id))


def mitigations(incident: Incident) -> tuple[str, ...]:
    """What mitigated an incident: its actions done for real, else the person who said so."""
    done = tuple(dict.fromkeys(
        f"{action.name} on {action.target}" if action.target else action.name
        for action in incident.actions if action.state == "done" and not action.dry_run))
    if done:
        return done
    marked = [note for _, milestone, note in incident.notes if milestone == "mitigated"]
    if marked:
        return (f"a person marked it mitigated{': ' + marked[0] if marked[0] else ''}",)
    return ()


@dataclass(frozen=True)
class Past:
    """A past incident alike, and how it went."""

    incident_id: str
    started_at: datetime | None
    trigger: str
    shared_causes: tuple[str, ...]
    shared_symptoms: tuple[str, ...]
    same_trigger: bool
    mitigated_by: tuple[str, ...]
    time_to_mitigate: timedelta | None
    severity: str | None
    drill: bool
    where: str

    def describe(self) -> str:
        when = self.started_at.strftime("%Y-%m-%d") if self.started_at else "undated"
        alike = ", ".join(self.shared_causes or self.shared_symptoms) or \
            f"trigger {self.trigger}"
        took = f" in {format_delta(self.time_to_mitigate)}" \
            if self.time_to_mitigate is not None else ""
        how = f"mitigated by {'; '.join(self.mitigated_by)}{took}" if self.mitigated_by else \
            f"mitigated{took}, by no recorded action" if took else "no mitigation recorded"
        return (f"{self.incident_id} ({when}, {self.severity or 'no SEV'}; alike: {alike}): "
                f"{how}")


@dataclass(frozen=True)
class SeenBefore:
    """The structured answer: the verdict, the postmortem and `runbook similar` render it."""

    incident_id: str
    drill: bool
    trigger: str
    trigger_source: str
    trigger_seen: int                       # incidents before with the same trigger tag
    causes: tuple[tuple[str, int], ...]     # (cause code, incidents before that had it)
    symptoms: tuple[str, ...]
    past: tuple[Past, ...]                  # alike, the most alike first, then the newest
    compared: int                           # incidents before this one that were compared

    @property
    def trigger_rarity(self) -> str:
        return rarity(self.trigger_seen) if self.trigger != UNKNOWN else UNKNOWN

    def cause_rarity(self) -> dict[str, str]:
        return {code: rarity(seen) for code, seen in self.causes}

    @property
    def outlier(self) -> str:
        """The incident as a whole: new when its trigger or any cause is new, frequent when
        its trigger or a cause is frequent, else rare; unknown with nothing to compare by."""
        grades = [rarity(seen) for _, seen in self.causes]
        if self.trigger != UNKNOWN:
            grades.append(self.trigger_rarity)
        if not grades:
            return RARE if self.past else NEW
        return NEW if NEW in grades else FREQUENT if FREQUENT in grades else RARE


def _past(candidate: Folded, subject: Folded) -> Past | None:
    causes = set(subject.trigger.causes)
    symptoms = set(subject.trigger.symptoms)
    shared_causes = tuple(c for c in candidate.trigger.causes if c in causes)
    shared_symptoms = tuple(c for c in candidate.trigger.symptoms if c in symptoms)
    same_trigger = candidate.trigger.tag == subject.trigger.tag != UNKNOWN
    no_cause = not causes and not candidate.trigger.causes
    if not (shared_causes or same_trigger or (no_cause and shared_symptoms)):
        return None
    incident = candidate.incident
    return Past(candidate.id, candidate.start, candidate.trigger.tag, shared_causes,
                shared_symptoms, same_trigger, mitigations(incident),
                incident.time_to("mitigate"), incident.peak_severity or incident.severity,
                incident.drill, candidate.where)


def compare(subject: Folded, others: Iterable[Folded]) -> SeenBefore:
    """The subject against the incidents that started before it."""
    start = subject.start
    before = [o for o in others if o.id != subject.id and o.start is not None and
              (start is None or o.start < start)]
    alike = [p for p in (_past(o, subject) for o in before) if p is not None]
    alike.sort(key=lambda p: (-len(p.shared_causes), not p.same_trigger,
                              -len(p.shared_symptoms), -(p.started_at or start or
                                                         clock.now()).timestamp()))
    trigger_seen = sum(1 for o in before if o.trigger.tag == subject.trigger.tag)
    causes = tuple((code, sum(1 for o in before if code in o.trigger.causes))
                   for code in subject.trigger.causes)
    return SeenBefore(subject.id, subject.incident.drill, subject.trigger.tag,
                      subject.trigger.source, trigger_seen, causes, subject.trigger.symptoms,
                      tuple(alike), len(before))


def seen_before(archive: records.Archive, incident_id: str, now: datetime | None = None,
                compare_with: Iterable[records.Archive] | None = None) -> SeenBefore:
    """The incident (in `archive`) against every incident before it in `compare_with`
    (default: its own archive: drills with drills, incidents with incidents). UnknownIncident
    when the archive does not hold it."""
    if not archive.has_incident(records.check_incident_id(incident_id)):
        raise UnknownIncident(incident_id, archive.location())
    moment = now or clock.now()
    incident = IncidentLog(archive, incident_id).fold(moment)
    subject = Folded(incident, trigger_of(incident),
                     archive.location(layout.incident_key(incident_id)))
    others = fold_all(list(compare_with) if compare_with is not None else [archive], moment)
    return compare(subject, others)


def headline(seen: SeenBefore) -> str:
    """The outlier grade, then the trigger's and each cause's."""
    if seen.trigger == UNKNOWN:
        trigger = "trigger unknown"
    else:
        trigger = f"trigger {seen.trigger} {seen.trigger_rarity}" + (
            f" ({seen.trigger_seen} before)" if seen.trigger_seen else "")
    parts = [trigger] + [f"{code} {rarity(count)}" + (f" ({count} before)" if count else "")
                         for code, count in seen.causes]
    return f"Seen before: {seen.outlier.upper()}: " + "; ".join(parts)


def render_line(seen: SeenBefore, limit: int = 3) -> str:
    """One line: the headline and the past incidents alike (the first `limit`)."""
    head = headline(seen)
    if not seen.past:
        kind = "drill" if seen.drill else "incident"
        return f"{head}. No earlier {kind} alike ({seen.compared} compared)."
    shown = "; ".join(p.describe() for p in seen.past[:limit])
    more = f" (+{len(seen.past) - limit} more)" if len(seen.past) > limit else ""
    return f"{head}. Alike: {shown}{more}."


def seen_before_line(archive: records.Archive, incident_id: str,
                     now: datetime | None = None) -> str:
    """The one line the verdict and the postmortem show."""
    return render_line(seen_before(archive, incident_id, now))
