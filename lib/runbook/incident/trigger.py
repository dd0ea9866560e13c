"""What set an incident off: its trigger, named from the cause findings its runs observed.

The catalogue (`codes.CAUSES`) says which failing codes are causes and with which tag from the
fixed list (deploy, config, dependency, traffic, infrastructure, data, unknown); every other
failing code is a symptom. The cause is the first of the catalogue's order that failed (a
crashed deploy explains a down site, not the other way round). With no cause observed, an
action that mitigated it says what it undid (a rollback: a deploy); else the trigger is
`unknown`, for a person to set. Read from the fold alone (`Incident.observed`, its actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbook.core import clock
from runbook.incident import codes
from runbook.incident.fold import Incident

UNKNOWN = codes.UNKNOWN
CHANGE_OF_TAG = {
    codes.DEPLOY: "A deploy",
    codes.CONFIG: "A configuration change",
    codes.DEPENDENCY: "A dependency's failure",
    codes.TRAFFIC: "Traffic",
    codes.INFRASTRUCTURE: "An infrastructure fault",
    codes.DATA: "A data change",
    codes.UNKNOWN: "An unknown change",
}


@dataclass(frozen=True)
class Trigger:
    tag: str                       # one of codes.TRIGGER_TAGS
    code: str = ""                 # the cause finding; "" when no cause was observed
    change: str = CHANGE_OF_TAG[codes.UNKNOWN]
    did: str = ""
    summary: str = ""              # the finding's own words
    at: datetime | None = None     # when the change happened, when the evidence says
    run: str = ""                  # the run that observed it
    commit: str = ""
    deployment: str = ""
    causes: tuple[str, ...] = ()   # every failing code that names a cause, catalogue order
    symptoms: tuple[str, ...] = ()  # the other failing codes, first observed first
    source: str = "no finding names a cause"   # what says so, for a person

    @property
    def headline(self) -> str:
        return f"{self.change} {self.did}".strip() if self.did else \
            "No cause finding: the trigger is not known yet"

    def __str__(self) -> str:
        return f"{self.tag} ({self.source})"


def _deploy_name(evidence: dict[str, Any]) -> tuple[str, str, str]:
    commit = str(evidence.get("commit") or "")
    deployment = str(evidence.get("deployment_id") or evidence.get("deploy_id") or "")
    message = str(evidence.get("commit_message") or evidence.get("deploy") or "").strip()
    name = f"Deploy {commit[:7] or deployment[:8]}".strip() if commit or deployment \
        else "A deploy"
    if message and commit:
        name += f" (\u201c{message[:80]}\u201d)"
    return name, commit, deployment


def cause_codes(incident: Incident) -> list[str]:
    """The failing codes the catalogue reads as causes, in its order."""
    return [code for code in codes.CAUSES if code in incident.observed]


def symptom_codes(incident: Incident) -> list[str]:
    """The failing codes that are not causes, in the order first observed."""
    return [code for code in incident.observed if code not in codes.CAUSES]


def trigger_of(incident: Incident) -> Trigger:
    causes = tuple(cause_codes(incident))
    symptoms = tuple(symptom_codes(incident))
    if not causes:
        for action in incident.actions:
            tag = codes.TRIGGER_OF_MITIGATION.get(action.name)
            if tag and action.state == "done" and not action.dry_run:
                return Trigger(tag, change=CHANGE_OF_TAG[tag], causes=causes,
                               symptoms=symptoms, source=f"{action.name} mitigated it")
        return Trigger(codes.UNKNOWN, causes=causes, symptoms=symptoms)
    code = causes[0]
    cause = codes.CAUSES[code]
    finding = incident.observed[code]
    evidence = finding.get("evidence") or {}
    evidence = evidence if isinstance(evidence, dict) else {}
    change, commit, deployment = CHANGE_OF_TAG[cause.tag], "", ""
    at = None
    if cause.tag == codes.DEPLOY:
        change, commit, deployment = _deploy_name(evidence)
        at = clock.moment_or_none(evidence.get("created_at") or evidence.get("deploy_at"))
    return Trigger(cause.tag, code, change, cause.did, str(finding.get("summary") or ""), at,
                   str(finding.get("run") or ""), commit, deployment, causes, symptoms,
                   f"the finding {code}")


def trigger_tag(incident: Incident) -> str:
    """The incident's trigger tag, one of `codes.TRIGGER_TAGS`."""
    return trigger_of(incident).tag
