"""The staged diagnosis: the app's URL tried stage by stage, stopping at the first failure,
with its cause and the runbook's fix; the stage table goes into the record too."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbook.clients.dburl import DbUrl
from runbook.core.findings import Finding, Status, failed, passed
from runbook.core.redaction import registry
from runbook.sections.db_refused.fixes import FIXES
from runbook.sections.db_refused.lookup import UrlLookup
from runbook.sections.db_refused.probe import STAGES, Attempt, Stage, StageFailed
from runbook.sections.db_refused.views import FixView, StagesView


@dataclass
class Diagnosis:
    lookup: UrlLookup
    stages: list[Stage]
    findings: list[Finding]
    server: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> Stage | None:
        return next((s for s in self.stages if s.status is Status.FAIL), None)

    @property
    def verdict(self) -> Finding:
        return self.findings[0]

    def table(self) -> StagesView:
        return StagesView(self.stages, self.lookup)

    def fix(self) -> FixView:
        return FixView(self.failing, self.verdict)


def diagnose(lookup: UrlLookup, connect_timeout: float = 3.0) -> Diagnosis:
    """Try the app's URL stage by stage; stop at the first failure and name its cause."""
    timeout = max(0.1, connect_timeout)
    stages: list[Stage] = []
    url = lookup.url
    started = time.monotonic()
    if url is None:
        code = "db.url_invalid" if lookup.error else "db.url_missing"
        detail = str(lookup.error) if lookup.error else lookup.missing_reason
        stages.append(Stage("parse", Status.FAIL, _since(started), registry().redact(detail),
                            code))
        _skip_rest(stages, "parse")
        evidence: dict[str, Any] = {"stage": "parse", "source": lookup.source}
        if lookup.error:
            evidence["part"] = lookup.error.part
        verdict = failed(code, registry().redact(detail), fix=FIXES[code], **evidence)
        return _with_stages(Diagnosis(lookup, stages, [verdict]))
    stages.append(Stage("parse", Status.PASS, _since(started),
                        f"{url.form} form, sslmode={url.sslmode}, "
                        f"password {url.password_note()}"))
    run = Attempt(url, timeout)
    steps: list[tuple[str, Callable[[], str]]] = [
        ("dns", run.dns), ("tcp", run.tcp), ("handshake", run.handshake), ("auth", run.auth),
        ("query", run.query), ("server", run.server_state)]
    try:
        for name, step in steps:
            started = time.monotonic()
            try:
                detail = step()
            except StageFailed as exc:
                stages.append(Stage(name, Status.FAIL, _since(started), exc.detail,
                                    exc.rule.code))
                _skip_rest(stages, name)
                return _with_stages(Diagnosis(
                    lookup, stages, [_verdict(exc, name, stages[-1], url, lookup, timeout)],
                    run.info))
            stages.append(Stage(name, Status.PASS, _since(started), detail))
    finally:
        run.close()
    info = run.info
    verdict = passed("db.ok", f"connected to {url.dbname} on {url.host}:{url.port} as "
                     f"{url.user}; SELECT 1 answered; {info.get('server_version', '?')}, "
                     f"{info.get('in_use', '?')} of {info.get('max_connections', '?')} "
                     "connections in use", url=url.redacted(), source=lookup.source,
                     seconds=round(sum(s.seconds for s in stages), 3), **info)
    return _with_stages(Diagnosis(lookup, stages, [verdict], info))


def _verdict(exc: StageFailed, stage_name: str, stage: Stage, url: DbUrl, lookup: UrlLookup,
             timeout: float) -> Finding:
    summary = exc.rule.summary.format(host=url.host, port=url.port, dbname=url.dbname,
                                      user=url.user, timeout=timeout)
    return failed(exc.rule.code, registry().redact(summary), fix=exc.rule.fix,
                  stage=stage_name, seconds=stage.seconds, message=exc.detail,
                  url=url.redacted(), source=lookup.source)


def _with_stages(diagnosis: Diagnosis) -> Diagnosis:
    # The record keeps the stage table too: a postmortem reads where and how long it took.
    table = [s.to_dict() for s in diagnosis.stages]
    diagnosis.findings = [dataclasses.replace(f, evidence={**f.evidence, "stages": table})
                          for f in diagnosis.findings]
    return diagnosis


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _skip_rest(stages: list[Stage], failed_stage: str) -> None:
    for name in STAGES[STAGES.index(failed_stage) + 1:]:
        stages.append(Stage(name, Status.SKIPPED, 0.0, f"not tried: the {failed_stage} stage "
                            "failed"))


