"""Which section of the runbook to open next: failing finding codes → the notebook that
mitigates them, in the order a responder should act on them."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

from runbook.core.findings import Finding, Status


@dataclass(frozen=True)
class Mitigation:
    codes: tuple[str, ...]     # failing codes this applies to; a trailing "." is a prefix
    notebook: str              # "" when no notebook applies
    action: str

    def applies(self, code: str) -> bool:
        return any(code.startswith(c) if c.endswith(".") else code == c for c in self.codes)


# Most specific cause first: a wrong start command explains a 404 and a crash explains a 502.
MITIGATIONS: tuple[Mitigation, ...] = (
    Mitigation(("deploy.start_command_wrong",), "api_404",
               "Set Railway → Settings → Start Command = /app/start.sh and redeploy"),
    Mitigation(("deploy.failed", "api.not_found", "health.wrong_app"), "api_404",
               "Read the failed deploy's logs, fix, redeploy; or fix the start command"),
    Mitigation(("db.",), "db_refused",
               "Fix DATABASE_URL from Railway's Postgres service and redeploy"),
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
    Mitigation(("health.degraded",), "db_refused",
               "A dependency is failing: start with the database section"),
    Mitigation(("moyasar.down",), "comms",
               "Moyasar's API is down: contact Moyasar support and post the customer notice"),
    Mitigation(("moyasar.key_rejected",), "",
               "Moyasar refuses the secret key: compare it with the dashboard's"),
)


@dataclass(frozen=True)
class Recommendation:
    mitigation: Mitigation
    because: tuple[str, ...]   # the failing codes that call for it


@dataclass
class MitigationView:
    recommendations: list[Recommendation]

    @property
    def first(self) -> Recommendation | None:
        return self.recommendations[0] if self.recommendations else None

    @property
    def notebook(self) -> str:
        return self.first.mitigation.notebook if self.first else ""

    def __repr__(self) -> str:
        if not self.recommendations:
            return "No mitigation needed: nothing failed."
        lines = []
        for index, rec in enumerate(self.recommendations):
            where = f" → notebooks/{rec.mitigation.notebook}.ipynb" \
                if rec.mitigation.notebook else ""
            head = "Recommended" if index == 0 else "Then"
            lines.append(f"{head}: {rec.mitigation.action}{where} "
                         f"(because {', '.join(rec.because)})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.recommendations:
            return "<p><b>No mitigation needed</b>: nothing failed.</p>"
        items = []
        for index, rec in enumerate(self.recommendations):
            notebook = rec.mitigation.notebook
            link = (f' — open <a href="{notebook}.ipynb"><code>{notebook}.ipynb</code></a>'
                    if notebook else "")
            weight = "bold" if index == 0 else "normal"
            items.append(f'<li style="font-weight:{weight}">{html.escape(rec.mitigation.action)}'
                         f"{link} <small>(because {html.escape(', '.join(rec.because))})</small>"
                         "</li>")
        return f"<h4>Mitigation</h4><ol>{''.join(items)}</ol>"


def recommend(findings: Iterable[Finding]) -> MitigationView:
    failing = [f.code for f in findings if f.status is Status.FAIL]
    chosen = []
    for mitigation in MITIGATIONS:
        because = tuple(dict.fromkeys(c for c in failing if mitigation.applies(c)))
        if because:
            chosen.append(Recommendation(mitigation, because))
    return MitigationView(chosen)
