"""What set an incident off: its trigger tag (deploy, config, dependency, traffic,
infrastructure, data, unknown) and its cause findings, kept apart from its symptoms.

Read from the fold alone: every code that failed during the incident (`Incident.failed`) and
the actions that were done. A failing code the catalogue ties to a trigger (`codes.TRIGGER_OF`)
is a cause; the rest are symptoms. With no cause found, an action that mitigated it says what
it undid (a rollback: a deploy); else the trigger is `unknown`, for a person to set.
"""

from __future__ import annotations

from dataclasses import dataclass

from runbook.incident import codes
from runbook.incident.fold import Incident

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Trigger:
    tag: str                         # one of codes.TRIGGERS
    causes: tuple[str, ...]          # the failing codes that name a cause, first seen first
    symptoms: tuple[str, ...]        # the other failing codes
    source: str                      # what says so, for a person

    def __str__(self) -> str:
        return f"{self.tag} ({self.source})"


def _first_seen(incident: Incident) -> list[str]:
    return sorted(incident.failed, key=lambda code: (incident.failed[code].get("at") is None,
                                                     incident.failed[code].get("at"), code))


def cause_codes(incident: Incident) -> tuple[str, ...]:
    """The codes that failed during the incident and name a cause, first seen first."""
    return tuple(code for code in _first_seen(incident) if code in codes.TRIGGER_OF)


def trigger_of(incident: Incident) -> Trigger:
    seen = _first_seen(incident)
    causes = tuple(code for code in seen if code in codes.TRIGGER_OF)
    symptoms = tuple(code for code in seen if code not in codes.TRIGGER_OF)
    if causes:
        return Trigger(codes.TRIGGER_OF[causes[0]], causes, symptoms, f"the finding {causes[0]}")
    for action in incident.actions:
        tag = codes.TRIGGER_OF_MITIGATION.get(action.name)
        if tag and action.state == "done" and not action.dry_run:
            return Trigger(tag, causes, symptoms, f"{action.name} mitigated it")
    return Trigger(UNKNOWN, causes, symptoms, "no finding names a cause")


def trigger_tag(incident: Incident) -> str:
    """The incident's trigger tag, one of `codes.TRIGGERS`."""
    return trigger_of(incident).tag
