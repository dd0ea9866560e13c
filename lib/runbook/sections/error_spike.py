"""The "High error rate in Sentry" section: the error series and the latest deploy, fetched at
once; the spike verdict; and a chart of errors per 5 minutes with the deploy marked."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from runbook.checks import deploys
from runbook.checks import sentry as spike
from runbook.clients import sentry
from runbook.clients.railway import Deployment, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.concurrency import run_concurrently
from runbook.core.config import Config, timezone_of
from runbook.core.findings import Finding, Status, passed, skipped

__all__ = ["DeployMark", "ErrorChart", "ErrorReport", "check_errors", "series_of"]


@dataclass
class ErrorReport:
    buckets: list[sentry.Bucket] = field(default_factory=list)
    deployment: Deployment | None = None
    findings: list[Finding] = field(default_factory=list)
    fetched_at: datetime | None = None     # when the series was read: its last bucket's end
    zone: tzinfo = UTC                     # the team's (`[oncall] timezone`)

    @property
    def verdict(self) -> Finding | None:
        return next((f for f in self.findings if f.code.startswith("errors.")), None)

    def chart(self, impact_start: datetime | None = None, resolved: datetime | None = None,
              zone: tzinfo | None = None) -> ErrorChart:
        """The chart around the impact: `impact_start` (default: the spike's start, as the
        verdict's evidence says) and `resolved` (default: not yet)."""
        verdict = self.verdict
        began = clock.moment_or_none(verdict.evidence.get("spike_started")) if verdict else None
        starts = [moment for moment in (impact_start, began) if moment is not None]
        marks = [DeployMark.of(self.deployment)] if self.deployment else []
        return ErrorChart(self.buckets, marks,
                          min(starts) if starts else None, resolved, self.fetched_at,
                          zone=zone or self.zone)


@dataclass(frozen=True)
class DeployMark:
    """A deploy drawn on the chart: when, and its name (commit or deployment id)."""

    at: datetime
    name: str

    @classmethod
    def of(cls, deployment: Deployment) -> DeployMark:
        return cls(deployment.created_at, deployment.short_commit or deployment.id[:8])


WINDOW_BEFORE = timedelta(hours=1)       # the chart starts this long before the impact
WINDOW_AFTER = timedelta(minutes=30)     # and ends this long after its resolution (or now)


@dataclass
class ErrorChart:
    """Errors per 5 minutes around the impact (1 h before it to 30 min after its resolution,
    or now), the alert threshold, each deploy in the window as a vertical line, and a last
    bucket still counting drawn as partial, not as a drop. Times in `zone`, on one axis."""

    buckets: list[sentry.Bucket]
    deployments: list[DeployMark] = field(default_factory=list)
    impact_start: datetime | None = None
    resolved: datetime | None = None
    now: datetime | None = None
    threshold: float = float(spike.ALERT_THRESHOLD)
    zone: tzinfo = UTC

    def window(self) -> tuple[datetime, datetime]:
        now = self.now or clock.now()
        start = self.impact_start or (now - WINDOW_BEFORE)
        end = self.resolved + WINDOW_AFTER if self.resolved else now
        return start - WINDOW_BEFORE, max(end, start)

    def partial(self, bucket: sentry.Bucket) -> bool:
        """A bucket whose five minutes had not ended when the series was read."""
        return bucket.at + spike.INTERVAL > (self.now or clock.now())

    def figure(self) -> Any:
        from matplotlib.dates import DateFormatter, date2num
        from matplotlib.figure import Figure  # no pyplot: nothing global, nothing shown twice

        start, end = self.window()
        shown = [b for b in self.buckets
                 if b.at + spike.INTERVAL > start and b.at < end]
        whole = [b for b in shown if not self.partial(b)]
        partial = [b for b in shown if self.partial(b)]
        width = 0.9 * spike.INTERVAL / timedelta(days=1)
        figure = Figure(figsize=(9, 3.2), dpi=100)
        axes = figure.subplots()
        axes.bar([float(date2num(b.at)) for b in whole], [b.count for b in whole],
                 width=width, align="edge", color="#5f6368", label="errors per 5 min",
                 gid="buckets")
        if partial:
            axes.bar([float(date2num(b.at)) for b in partial], [b.count for b in partial],
                     width=width, align="edge", color="#dadce0", hatch="//",
                     edgecolor="#5f6368", label="partial bucket (still counting)",
                     gid="partial")
        axes.axhline(self.threshold, color="#e8710a", linestyle="--", linewidth=1,
                     label=f"alert threshold (> {self.threshold:g} / 5 min)", gid="threshold")
        for deploy in self.deployments:
            if start <= deploy.at <= end:
                axes.axvline(float(date2num(deploy.at)), color="#d93025", linewidth=2,
                             gid="deploy", label=f"deploy {deploy.name} "
                                                 f"({deploy.at.astimezone(self.zone):%H:%M})")
        if self.impact_start is not None:
            axes.axvline(float(date2num(self.impact_start)), color="#202124", linestyle=":",
                         linewidth=1, label="impact start", gid="impact")
        axes.set_xlim(float(date2num(start)), float(date2num(end)))
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=self.zone))
        zone_name = getattr(self.zone, "key", None) or str(self.zone)
        axes.set_xlabel(f"time ({zone_name})")
        axes.set_ylabel("errors per 5 min")
        axes.set_title("Sentry errors around the impact")
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
        deploy = (f"; deploy at {clock.both_zones(self.deployments[-1].at)}"
                  if self.deployments else "")
        return (f"{len(self.buckets)} buckets of 5 min; peak {peak.count} at "
                f"{clock.both_zones(peak.at)}{deploy}")


SERIES_KEPT = timedelta(hours=6)   # how much of the series a record keeps


def series_evidence(buckets: list[sentry.Bucket]) -> list[list[Any]]:
    """The last hours of the series as [ISO time, count] pairs (a record's evidence)."""
    if not buckets:
        return []
    since = max(b.at for b in buckets) - SERIES_KEPT
    return [[clock.iso(b.at), b.count] for b in buckets if b.at >= since]


def series_of(evidence: Any) -> list[sentry.Bucket]:
    """The series back from a record's evidence; [] for none or one not readable."""
    pairs = evidence.get("series") if isinstance(evidence, dict) else None
    buckets = []
    for pair in pairs if isinstance(pairs, list) else []:
        moment = clock.moment_or_none(pair[0]) if isinstance(pair, list) and pair else None
        if moment is not None and len(pair) == 2 and isinstance(pair[1], int):
            buckets.append(sentry.Bucket(moment, pair[1]))
    return buckets


def check_errors(config: Config, timeouts: Timeouts) -> ErrorReport:
    """Fetch the error series and the latest deploy concurrently, then judge the spike."""
    report = ErrorReport(zone=timezone_of(config))
    reason = sentry.configured(config)
    if reason:
        report.findings.append(spike.not_configured_finding(reason))
        return report

    def fetch_series() -> Finding:
        report.buckets = sentry.SentryClient.from_config(config, timeouts).error_series()
        report.fetched_at = clock.now()
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
        verdict = spike.classify(spike.assess(report.buckets, clock.now()),
                                 deployment.created_at if deployment else None, label)
        # The series itself, so a postmortem can draw it from the record long after.
        report.findings.insert(0, dataclasses.replace(verdict, evidence={
            **verdict.evidence, "series": series_evidence(report.buckets),
            "fetched_at": clock.iso(report.fetched_at or clock.now())}))
    return report
