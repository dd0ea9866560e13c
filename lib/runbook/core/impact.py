"""When the incident started: the earliest evidence of impact, not the first run.

A responder may open the notebook minutes after the service went down; the SEV clock, `runbook
due` and the postmortem count from when the impact began. The evidence, earliest first wins:
- a failing finding's own evidence of when the trouble began: UptimeRobot's `down_since`, an
  alert's `alert_at`, Sentry's `spike_started`, or any check's `impact_since`;
- else the failing finding itself, dated by the start of the run that found it (the run was
  started because of the impact, so it had begun by then).
A responder corrects it with the notebooks' `incident_started` parameter (ISO-8601); a
correction beats every piece of evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbook.core import clock

IMPACT_EVIDENCE = ("down_since", "alert_at", "spike_started", "impact_since")
CORRECTION_PARAMETER = "incident_started"


@dataclass(frozen=True)
class ImpactStart:
    at: datetime
    source: str              # what says so, for the responder: "uptime.down down_since", …
    corrected: bool = False  # given by a responder, not found


def parse_correction(value: str) -> datetime | None:
    """The `incident_started` parameter: empty for none, else ISO-8601 (UTC if no zone)."""
    return clock.parse_given(value, "incident_started")


def evidence_of(finding: Mapping[str, Any], observed: datetime) -> list[ImpactStart]:
    """What one finding (as a record keeps it) says about when the impact began; nothing
    unless it failed. `observed` is the start of the run that reported it."""
    if finding.get("status") != "fail":
        return []
    code = str(finding.get("code", ""))
    evidence = finding.get("evidence") or {}
    found = [ImpactStart(moment, f"{code} {key}") for key in IMPACT_EVIDENCE
             if (moment := clock.moment_or_none(evidence.get(key))) is not None]
    found.append(ImpactStart(observed, f"{code}, the first failing finding"))
    return found


def earliest(candidates: Iterable[ImpactStart | None]) -> ImpactStart | None:
    """A correction (the latest one given, last in `candidates`) beats evidence; else the
    earliest piece of evidence."""
    present = [c for c in candidates if c is not None]
    corrections = [c for c in present if c.corrected]
    if corrections:
        return corrections[-1]
    return min(present, key=lambda c: c.at) if present else None


def impact_start(findings: Iterable[tuple[Mapping[str, Any], datetime]],
                 correction: datetime | None = None) -> ImpactStart | None:
    """The incident's start from (finding, when its run started) pairs and a correction."""
    if correction is not None:
        return ImpactStart(correction, f"the {CORRECTION_PARAMETER} parameter", corrected=True)
    return earliest(c for finding, observed in findings for c in evidence_of(finding, observed))
