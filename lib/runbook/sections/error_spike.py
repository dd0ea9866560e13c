"""The "High error rate in Sentry" section: the error series and the latest deploy, fetched at
once; the spike verdict; and a chart of errors per 5 minutes with the deploy marked."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from runbook.checks import deploys
from runbook.checks import sentry as spike
from runbook.clients import sentry
from runbook.clients.railway import Deployment, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.concurrency import run_concurrently
from runbook.core.config import Config
from runbook.core.findings import Finding, Status, passed, skipped

__all__ = ["ErrorChart", "ErrorReport", "check_errors"]


@dataclass
class ErrorReport:
    buckets: list[sentry.Bucket] = field(default_factory=list)
    deployment: Deployment | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> Finding | None:
        return next((f for f in self.findings if f.code.startswith("errors.")), None)

    def chart(self) -> ErrorChart:
        return ErrorChart(self.buckets, self.deployment)


@dataclass
class ErrorChart:
    """Errors per 5 minutes, the alert threshold, and the latest deploy as a vertical line."""

    buckets: list[sentry.Bucket]
    deployment: Deployment | None

    def figure(self) -> Any:
        from matplotlib.dates import date2num
        from matplotlib.figure import Figure  # no pyplot: nothing global, nothing shown twice

        figure = Figure(figsize=(9, 3.2), dpi=100)
        axes = figure.subplots()
        if self.buckets:
            axes.bar([float(date2num(b.at)) for b in self.buckets],
                     [b.count for b in self.buckets],
                     width=0.9 * spike.INTERVAL / timedelta(days=1), align="edge",
                     color="#5f6368")
        axes.axhline(spike.ALERT_THRESHOLD, color="#e8710a", linestyle="--", linewidth=1,
                     label=f"alert rule (> {spike.ALERT_THRESHOLD} / 5 min)")
        if self.deployment is not None:
            axes.axvline(float(date2num(self.deployment.created_at)), color="#d93025", linewidth=2,
                         label=f"deploy {self.deployment.short_commit or self.deployment.id[:8]}"
                               f" ({clock.both_zones(self.deployment.created_at)})")
        axes.xaxis_date()
        axes.set_ylabel("errors per 5 min")
        axes.set_title("Sentry errors (UTC)")
        axes.legend(loc="upper left", fontsize=8)
        figure.autofmt_xdate()
        figure.tight_layout()
        return figure

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png")
        return buffer.getvalue()

    def __repr__(self) -> str:
        if not self.buckets:
            return "(no error series)"
        peak = max(self.buckets, key=lambda b: b.count)
        deploy = (f"; deploy at {clock.both_zones(self.deployment.created_at)}"
                  if self.deployment else "")
        return (f"{len(self.buckets)} buckets of 5 min; peak {peak.count} at "
                f"{clock.both_zones(peak.at)}{deploy}")


def check_errors(config: Config, timeouts: Timeouts) -> ErrorReport:
    """Fetch the error series and the latest deploy concurrently, then judge the spike."""
    report = ErrorReport()
    reason = sentry.configured(config)
    if reason:
        report.findings.append(spike.not_configured_finding(reason))
        return report

    def fetch_series() -> Finding:
        report.buckets = sentry.SentryClient.from_config(config, timeouts).error_series()
        return passed("sentry.series", f"{len(report.buckets)} buckets of 5 minutes")

    def fetch_deploy() -> Finding:
        if config.railway is None:
            return skipped("deploy.recent", "Railway is not configured: the spike cannot be "
                           "tied to a deploy")
        report.deployment = RailwayClient.from_config(config, timeouts).latest_deployment()
        return deploys.last_deploy_finding(report.deployment, clock.now())

    fetched = run_concurrently({"errors.normal": fetch_series, "deploy.recent": fetch_deploy},
                               bound=timeouts.total * 3 + 1.0)
    series_ok = any(f.code == "sentry.series" and f.status is Status.PASS for f in fetched)
    report.findings.extend(f for f in fetched if f.code != "sentry.series")
    if series_ok:
        deployment = report.deployment
        label = (f"{deployment.short_commit} {deployment.commit_message}".strip()
                 if deployment else "")
        report.findings.insert(0, spike.classify(
            spike.assess(report.buckets, clock.now()),
            deployment.created_at if deployment else None, label))
    return report
