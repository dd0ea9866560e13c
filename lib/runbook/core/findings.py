"""The result type every check returns: four states, so an error never reads as a pass."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runbook.core.errors import RunbookError


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"

    def __str__(self) -> str:  # shows as "fail", not "Status.FAIL", in tables and records
        return self.value


@dataclass(frozen=True)
class Finding:
    """One check's verdict. `code` is one of the design's codes (`health.down`, `db.refused`…)."""

    code: str
    status: Status
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: str = ""  # the runbook's fix step for this cause, shown to the responder

    def __post_init__(self) -> None:
        # Accept "fail" as well as Status.FAIL, and refuse anything else early.
        object.__setattr__(self, "status", Status(self.status))

    @property
    def failed(self) -> bool:
        """The check was made and found the fault: status `fail`, and only that.

        An `error` is a check that could not be made (the service did not answer, the probe
        itself broke): never a pass, and never evidence of impact. It raises no severity,
        chooses no next section and calls nobody (`runbook.incident.rules`); the views show it
        as an error, beside the failures, not among them."""
        return self.status is Status.FAIL

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": dict(self.evidence),
        }
        if self.fix:
            data["fix"] = self.fix
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            code=str(data["code"]),
            status=Status(data["status"]),
            summary=str(data.get("summary", "")),
            evidence=dict(data.get("evidence") or {}),
            fix=str(data.get("fix", "")),
        )


def passed(code: str, summary: str, **evidence: Any) -> Finding:
    return Finding(code, Status.PASS, summary, evidence)


def failed(code: str, summary: str, fix: str = "", **evidence: Any) -> Finding:
    return Finding(code, Status.FAIL, summary, evidence, fix)


def errored(code: str, summary: str, **evidence: Any) -> Finding:
    return Finding(code, Status.ERROR, summary, evidence)


def skipped(code: str, reason: str, **evidence: Any) -> Finding:
    return Finding(code, Status.SKIPPED, reason, evidence)


def guarded(code: str, check: Callable[[], Finding | list[Finding]]) -> list[Finding]:
    """Run `check`; whatever it raises becomes an `error` finding under `code`, never a pass.

    Library errors carry a responder-facing message; anything else is a bug, reported with its
    type so that it is not mistaken for a verdict on the service.
    """
    started = time.monotonic()
    try:
        result = check()
    except RunbookError as exc:
        return [errored(code, str(exc), error=type(exc).__name__,
                        seconds=round(time.monotonic() - started, 3))]
    except Exception as exc:  # noqa: BLE001 - a check that raises must still report
        return [errored(code, f"the check itself failed: {type(exc).__name__}: {exc}",
                        error=type(exc).__name__, seconds=round(time.monotonic() - started, 3))]
    return result if isinstance(result, list) else [result]


def worst(findings: list[Finding]) -> Status:
    """The status a list of findings adds up to: fail beats error beats pass beats skipped."""
    order = [Status.FAIL, Status.ERROR, Status.PASS, Status.SKIPPED]
    for status in order:
        if any(f.status is status for f in findings):
            return status
    return Status.SKIPPED
