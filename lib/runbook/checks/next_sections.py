"""The runbook's mitigation rules: failing finding codes → the section that mitigates them, in
the order a responder should act on them; and `next_sections`, a run's `next` as its record
keeps it (the sections to open, in order, each once, with the failing codes that call for it).

`runbook.sections.kit.mitigation` shows the same rules to a responder (the notebooks'
"Mitigate" cell)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runbook.core.findings import Finding, Status


@dataclass(frozen=True)
class Mitigation:
    codes: tuple[str, ...]     # failing codes this applies to; a trailing "." is a prefix
    notebook: str              # "" when no notebook applies
    action: str
    # Further condition on the failing finding (its evidence), e.g. which dependency failed.
    when: Callable[[Finding], bool] | None = None

    def applies(self, code: str) -> bool:
        return any(code.startswith(c) if c.endswith(".") else code == c for c in self.codes)

    def applies_to(self, finding: Finding) -> bool:
        return self.applies(finding.code) and (self.when is None or self.when(finding))


def _deep_check_failing(*names: str) -> Callable[[Finding], bool]:
    """The deep check's failing dependencies (its `failing` evidence) include one of `names`."""
    def check(finding: Finding) -> bool:
        failing = finding.evidence.get("failing") or []
        return any(name in failing for name in names)
    return check


def _deep_check_not_only_postgres(finding: Finding) -> bool:
    """Something other than postgres fails, or the deep check named nothing."""
    failing = finding.evidence.get("failing") or []
    return not failing or any(name != "postgres" for name in failing)


# Most specific cause first: a wrong start command explains a 404 and a crash explains a 502.
MITIGATIONS: tuple[Mitigation, ...] = (
    Mitigation(("deploy.start_command_wrong", "health.wrong_app"), "api_404",
               "Set Railway → Settings → Start Command = /app/start.sh (or clear it) and "
               "redeploy: another app answers on the domain"),
    Mitigation(("deploy.failed", "api.not_found"), "api_404",
               "Read the failed deploy's logs, fix, redeploy; or fix the start command"),
    Mitigation(("db.",), "db_refused",
               "Fix DATABASE_URL from Railway's Postgres service and redeploy"),
    Mitigation(("health.degraded",), "db_refused",
               "The deep check's postgres fails: follow the database section",
               when=_deep_check_failing("postgres")),
    Mitigation(("health.deep_timeout",), "db_refused",
               "The deep check hangs while /healthz answers: a dependency hangs; start with the "
               "database section"),
    Mitigation(("webhook.",), "webhook_401",
               "Make MOYASAR_WEBHOOK_SECRET identical in Railway and Moyasar's dashboard"),
    Mitigation(("errors.spike_after_deploy",), "rollback",
               "The error spike follows the latest deploy: roll it back"),
    Mitigation(("deploy.crashed", "deploy.not_active"), "rollback",
               "Roll back to the previous successful deployment if a recent change caused it, "
               "else restart the service"),
    Mitigation(("health.down", "health.timeout", "uptime.down"), "rollback",
               "Roll back the last deploy if it caused this, else restart the service in "
               "Railway; then check env vars"),
    Mitigation(("health.down", "health.timeout", "uptime.down", "deploy.crashed"), "comms",
               "Tell customers and #dealix-alerts as the SEV matrix says (SEV-1: Slack + email "
               "customers; update within 30 minutes)"),
    Mitigation(("errors.spike",), "error_spike",
               "Not deploy-related: check Sentry's top issues and scale Railway resources"),
    Mitigation(("health.degraded",), "",
               "A dependency other than Postgres fails (redis, dlq, llm_providers), or the deep "
               "check named none: read its evidence; check REDIS_URL, the dead-letter queues' "
               "backlog, the LLM provider keys in Railway → Variables",
               when=_deep_check_not_only_postgres),
    Mitigation(("moyasar.down",), "comms",
               "Moyasar's API is down: contact Moyasar support and post the customer notice"),
    Mitigation(("moyasar.key_rejected",), "",
               "Moyasar refuses the secret key: compare it with the dashboard's"),
)


def matching(findings: Iterable[Finding]) -> list[tuple[Mitigation, tuple[str, ...]]]:
    """Each mitigation that applies, in the rules' order, with the failing codes that call for
    it."""
    failing = [f for f in findings if f.status is Status.FAIL]
    chosen = []
    for mitigation in MITIGATIONS:
        because = tuple(dict.fromkeys(f.code for f in failing if mitigation.applies_to(f)))
        if because:
            chosen.append((mitigation, because))
    return chosen


def next_sections(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The record's `next`: the sections to open, in order, each once, with the failing codes
    that call for it: [{"notebook": "api_404", "because": ["api.not_found"]}, …]."""
    return sections_of(matching(findings))


def sections_of(chosen: Iterable[tuple[Mitigation, tuple[str, ...]]]) -> list[dict[str, Any]]:
    """Chosen mitigations as the sections to open: each notebook once, in order of first need."""
    sections: dict[str, list[str]] = {}
    for mitigation, codes in chosen:
        if mitigation.notebook:
            because = sections.setdefault(mitigation.notebook, [])
            because.extend(c for c in codes if c not in because)
    return [{"notebook": notebook, "because": because}
            for notebook, because in sections.items()]
