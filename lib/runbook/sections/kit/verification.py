"""A mitigation's pre-check and post-check: the health of the signal that opened the incident.

An action done at the provider (Railway took the rollback, the variable is set) is not yet a
mitigation. Before the call the pre-check probes the service's health; after it, the
post-check waits for the first passing probe, then keeps probing for the stabilisation window
(`[oncall] stabilisation`, seconds in drills). Each probe is a `check.observed` event in the
incident's log, so the fold marks the incident mitigated at the moment the window was held,
and not before. The monitors that open incidents (UptimeRobot, Railway's crash) watch the
service's `/healthz`: its probe is the opening signal's health as runbook can read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from runbook.checks import health
from runbook.core import clock
from runbook.core.findings import Finding, Status
from runbook.incident.log import IncidentLog
from runbook.incident.windows import stabilisation_of
from runbook.sections.kit.session_protocol import SessionProtocol

__all__ = ["Check", "Verification", "health_verification", "in_words"]

PRE, POST = "pre-check", "post-check"
MAX_INTERVAL = 15.0          # seconds between probes inside the window, at most


@dataclass(frozen=True)
class Check:
    """What one pre- or post-check saw."""

    phase: str                 # pre-check or post-check
    ok: bool
    summary: str               # for the record: what the probes said
    state: str                 # in words: "up", "502", "unreachable"
    at: str
    probes: int = 1
    finding: Finding | None = None

    def to_record(self) -> dict[str, Any]:
        return {"phase": self.phase, "ok": self.ok, "summary": self.summary,
                "state": self.state, "at": self.at, "probes": self.probes}


def in_words(finding: Finding) -> str:
    """The health a probe saw, short: "up", "502", "timing out", "unreachable"."""
    if finding.status is Status.PASS:
        return "up"
    status = finding.evidence.get("http_status")
    if status:
        return str(status)
    if "timeout" in finding.code:
        return "timing out"
    return "unreachable" if finding.status is Status.FAIL else "not checkable"


@dataclass(frozen=True)
class Verification:
    """How an action's effect is judged: `probe` is one look at the opening signal's health,
    `note` keeps each look in the incident's log."""

    probe: Callable[[], Finding]
    window: timedelta
    note: Callable[[str, Finding], None]
    first_pass_attempts: int = 5      # probes while the new deployment's edge catches up
    first_pass_interval: float = 3.0
    sleep: Callable[[float], None] = time.sleep

    @property
    def interval(self) -> float:
        return max(0.5, min(MAX_INTERVAL, self.window.total_seconds() / 4))

    def pre(self) -> Check:
        finding = self.probe()
        self.note(PRE, finding)
        return Check(PRE, finding.status is Status.PASS, finding.summary, in_words(finding),
                     clock.iso(clock.now()), 1, finding)

    def post(self) -> Check:
        """Passing once, then passing for the whole window; a failure ends it as failed."""
        probes = 0
        finding = self.probe()
        probes += 1
        self.note(POST, finding)
        while finding.status is not Status.PASS and probes < max(1, self.first_pass_attempts):
            self.sleep(self.first_pass_interval)
            finding = self.probe()
            probes += 1
            self.note(POST, finding)
        if finding.status is not Status.PASS:
            return Check(POST, False, f"service still {in_words(finding)} after {probes} "
                         f"probe(s): {finding.summary}", in_words(finding),
                         clock.iso(clock.now()), probes, finding)
        held_from = time.monotonic()
        window = self.window.total_seconds()
        while (elapsed := time.monotonic() - held_from) < window:
            self.sleep(min(self.interval, max(0.0, window - elapsed)))
            finding = self.probe()
            probes += 1
            self.note(POST, finding)
            if finding.status is not Status.PASS:
                return Check(POST, False, f"service came up, then {in_words(finding)} again "
                             f"within the {_span(self.window)} stabilisation window: "
                             f"{finding.summary}", in_words(finding), clock.iso(clock.now()),
                             probes, finding)
        return Check(POST, True, f"healthy for the {_span(self.window)} stabilisation window "
                     f"({probes} probes): {finding.summary}", "up", clock.iso(clock.now()),
                     probes, finding)


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds}s"


def health_verification(rb: SessionProtocol, action_name: str, *, attempts: int = 5,
                        interval: float = 3.0) -> Verification:
    """The service's `/healthz` as the opening signal's health, each probe logged as a
    `check.observed` of the incident, over the configured stabilisation window."""

    def probe() -> Finding:
        return health.probe_healthz(rb.config, rb.timeouts)

    def note(phase: str, finding: Finding) -> None:
        IncidentLog(rb.archive, rb.run.incident_id).append(
            "check.observed", {"ok": finding.status is Status.PASS, "phase": phase,
                               "action": action_name, "code": finding.code,
                               "summary": finding.summary[:300], "run": rb.run.name})

    return Verification(probe, stabilisation_of(rb.config), note, attempts, interval)
