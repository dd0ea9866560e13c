"""The SEV-1 probes against the drill: all at once against one after another, and the cost of
a service that accepts a connection and never answers.

Measured in-process on the probe phase alone (`sev1.investigate`), so a kernel's start-up does
not dilute the ratio. The target is the `outage` drill as `runbook drill outage` builds it (Dealix
crashed; Railway, UptimeRobot, Moyasar and Sentry fakes; a real Postgres), so every SEV-1 check
does its real work.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Figure, at_most, interleaved, median, ms, timed
from runbook.clients.transport import Timeouts
from runbook.core.config import Config, load_config
from runbook.core.findings import Finding, guarded
from runbook.core.redaction import registry
from runbook.drill import scenarios
from runbook.drill.target import Target, simulated_target
from runbook.sections import sev1_response

SCENARIO = "outage"


@dataclass
class Drill:
    target: Target
    config: Config
    timeouts: Timeouts
    database: str              # "postgres", or why there is none

    def set_faults(self, delay: float = 0.0, hang: str = "") -> None:
        for name, server in self.target.servers.items():
            with server.service.lock:
                server.service.delay = delay
                server.service.hang = name == hang

    def probed_services(self) -> list[str]:
        """The fakes the SEV-1 probes talk to (Sentry is served but not asked)."""
        return sorted(name for name, server in self.target.servers.items()
                      if server.service.requests)


@contextlib.contextmanager
def drill(probe_timeout: float) -> Iterator[Drill]:
    """The SEV-1 drill target, its config loaded and its secrets in the environment."""
    with contextlib.ExitStack() as stack:
        runs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-runs-")))
        target = stack.enter_context(simulated_target(runs, probe_timeout=probe_timeout))
        scenarios.get(SCENARIO).setup(target)
        database = "postgres" if "database" in target.sections else "none in the scenario"
        config = load_config(target.write_config())
        stack.enter_context(target.environment())
        stack.callback(registry().clear)
        timeouts = Timeouts(config.probes.connect_timeout, config.probes.read_timeout)
        yield Drill(target, config, timeouts, database)


def parallel(d: Drill) -> list[Finding]:
    return sev1_response.investigate(d.config, d.timeouts).findings


def serial(d: Drill) -> list[Finding]:
    """The same checks as `investigate`, one after another."""
    checks = sev1_response.sev1_checks(d.config, d.timeouts, sev1_response.Sev1Report())
    findings: list[Finding] = []
    for code, check in checks.items():
        findings.extend(guarded(code, check))
    return findings


def _statuses(findings: list[Finding]) -> dict[str, str]:
    return {f.code: f.status.value for f in findings}


def _slowest_check(d: Drill) -> dict[str, float]:
    """Each check alone, in ms: the slowest bounds the parallel time."""
    checks = sev1_response.sev1_checks(d.config, d.timeouts, sev1_response.Sev1Report())
    return {code: ms(timed(lambda c=check, k=code: guarded(k, c))[0])  # type: ignore[misc]
            for code, check in checks.items()}


def triage_parallel_vs_serial(repeats: int = 3, delay: float = 0.3) -> Figure:
    with drill(probe_timeout=2.0) as d:
        d.set_faults(delay=delay)
        parallel(d)  # warm: imports, the first TLS context, Postgres' first connection
        seconds = interleaved({"parallel": lambda: parallel(d), "serial": lambda: serial(d)},
                              repeats)
        each = _slowest_check(d)
        findings = parallel(d)
        services = d.probed_services()
    par, ser = median(seconds["parallel"]), median(seconds["serial"])
    return at_most(
        "triage_parallel_vs_serial", par / ser, 0.35, "ratio",
        bound=("The slowest single check (one delayed request; the database check connects to "
               "Postgres, which is not delayed), plus starting the threads and their clients "
               "under one GIL."),
        detail={"parallel_ms": ms(par), "serial_ms": ms(ser), "delay_ms": ms(delay),
                "repeats": repeats, "parallel_runs_ms": [ms(s) for s in seconds["parallel"]],
                "serial_runs_ms": [ms(s) for s in seconds["serial"]],
                "each_check_alone_ms": each, "delayed_services": services,
                "database": d.database, "scenario": SCENARIO,
                "findings": _statuses(findings)})


def hang_bound(repeats: int = 3, timeout: float = 1.0) -> Figure:
    """For each service the probes use, in turn: it accepts and never answers. Normal and hung
    runs take turns, and each side's median is used."""
    per_service: dict[str, Any] = {}
    normal_all: list[float] = []
    with drill(probe_timeout=timeout) as d:
        d.set_faults()
        parallel(d)
        for service in d.probed_services():
            normal, hung, findings = [], [], []
            for _ in range(repeats):
                d.set_faults()
                normal.append(timed(lambda: parallel(d))[0])
                d.set_faults(hang=service)
                seconds, findings = timed(lambda: parallel(d))
                hung.append(seconds)
            d.set_faults()
            normal_all += normal
            touched = [f for f in findings if f.status.value in ("fail", "error")
                       and ("timeout" in f.summary or "no answer" in f.summary
                            or f.code == "health.timeout")]
            per_service[service] = {
                "hung_ms": ms(median(hung)), "normal_ms": ms(median(normal)),
                "ratio": round((median(hung) - median(normal)) / timeout, 3),
                "hung_runs_ms": [ms(s) for s in hung],
                "reported_as": sorted({f"{f.code} ({f.status.value})" for f in touched})}
    worst = max(per_service, key=lambda s: per_service[s]["ratio"])
    value = per_service[worst]["ratio"]
    return at_most(
        "hang_bound", value, 1.2, "ratio",
        bound=("One read timeout T: every check has its own timeout and they run at once, so a "
               "hung service costs T, never T per check."),
        detail={"timeout_s": timeout, "normal_ms": ms(median(normal_all)),
                "worst_service": worst, "repeats": repeats, "per_service": per_service,
                "database": d.database})
