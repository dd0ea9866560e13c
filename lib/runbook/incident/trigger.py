"""What set an incident off: its trigger, named from the cause findings its runs observed.

The catalogue (`codes.CAUSES`) says which failing codes are causes and with which tag from the
fixed list (deploy, config, dependency, traffic, infrastructure, data, unknown); every other
failing code is a symptom. The cause is the first of the catalogue's order that failed (a
crashed deploy explains a down site, not the other way round); none failing: `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbook.core import clock
from runbook.incident import codes
from runbook.incident.fold import Incident

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

    @property
    def headline(self) -> str:
        return f"{self.change} {self.did}".strip() if self.did else \
            "No cause finding: the trigger is not known yet"


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
    causes = cause_codes(incident)
    if not causes:
        return Trigger(codes.UNKNOWN)
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
                   str(finding.get("run") or ""), commit, deployment)
