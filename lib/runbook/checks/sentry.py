"""Sentry's error series as findings: the spike rule, and whether a spike follows a deploy.

The spike rule, with its numbers:
- baseline: the median of the 5-minute error counts in the last 24 hours, leaving out the
  recent window (`RECENT_WINDOW`, 30 minutes);
- a bucket is *hot* when its count is above both Dealix's Sentry alert rule (more than
  `ALERT_THRESHOLD` = 10 events in 5 minutes) and `SPIKE_FACTOR` (k = 5) times the baseline;
- a spike is at least `MIN_HOT_BUCKETS` (2) hot buckets in the recent window; it started at the
  first bucket of the unbroken hot run that reaches into that window;
- a spike that starts within `DEPLOY_WINDOW` (N = 30 minutes) after the latest deploy (or in the
  bucket the deploy fell into) is `errors.spike_after_deploy`; any other spike is `errors.spike`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runbook.clients.sentry import Bucket
from runbook.core.clock import both_zones, iso
from runbook.core.findings import Finding, failed, passed, skipped

ALERT_THRESHOLD = 10                      # Dealix's alert rule: > 10 events in 5 minutes
SPIKE_FACTOR = 5.0                        # k: how many times the baseline median
INTERVAL = timedelta(minutes=5)
RECENT_WINDOW = timedelta(minutes=30)
MIN_HOT_BUCKETS = 2
DEPLOY_WINDOW = timedelta(minutes=30)     # N: a spike this soon after a deploy is the deploy's

FIX_AFTER_DEPLOY = ("The spike began right after the latest deploy: check that deploy's diff, "
                    "then roll back (rollback notebook)")
FIX_SPIKE = ("The spike is not tied to a deploy: check Sentry's top issues; if it is traffic, "
             "scale Railway resources (Settings → Resources / replicas)")


@dataclass(frozen=True)
class SpikeAssessment:
    spike: bool
    started_at: datetime | None
    threshold: float
    baseline_median: float
    hot_buckets: int
    recent_max: int

    def evidence(self) -> dict[str, Any]:
        return {"threshold_per_5m": round(self.threshold, 1),
                "baseline_median_per_5m": round(self.baseline_median, 1),
                "hot_buckets": self.hot_buckets, "recent_max_per_5m": self.recent_max,
                "spike_started": iso(self.started_at) if self.started_at else None,
                "rule": f"> {ALERT_THRESHOLD}/5m and > {SPIKE_FACTOR:g}× the 24h median, "
                        f"{MIN_HOT_BUCKETS}+ buckets in the last "
                        f"{int(RECENT_WINDOW.total_seconds() // 60)} min"}


def assess(buckets: list[Bucket], now: datetime) -> SpikeAssessment:
    ordered = sorted(buckets, key=lambda b: b.at)
    cutoff = now - RECENT_WINDOW
    baseline = [b.count for b in ordered if b.at < cutoff]
    median = float(statistics.median(baseline)) if baseline else 0.0
    threshold = max(float(ALERT_THRESHOLD), SPIKE_FACTOR * median)
    recent = [b for b in ordered if b.at >= cutoff]
    hot = [b for b in recent if b.count > threshold]
    started: datetime | None = None
    if len(hot) >= MIN_HOT_BUCKETS:
        index = ordered.index(hot[0])
        while index > 0 and ordered[index - 1].count > threshold:
            index -= 1
        started = ordered[index].at
    return SpikeAssessment(len(hot) >= MIN_HOT_BUCKETS, started, threshold, median, len(hot),
                           max((b.count for b in recent), default=0))


def classify(assessment: SpikeAssessment, deploy_at: datetime | None,
             deploy_label: str = "") -> Finding:
    evidence = assessment.evidence()
    if deploy_at is not None:
        evidence["deploy_at"] = iso(deploy_at)
        if deploy_label:
            evidence["deploy"] = deploy_label
    if not assessment.spike or assessment.started_at is None:
        return passed("errors.normal", f"errors are normal: at most {assessment.recent_max} "
                      f"per 5 min recently (threshold {assessment.threshold:g})", **evidence)
    started = assessment.started_at
    if deploy_at is not None and deploy_at - INTERVAL <= started <= deploy_at + DEPLOY_WINDOW:
        minutes = round((started - deploy_at).total_seconds() / 60)
        when = f"{minutes} min after" if minutes > 0 else "right after"
        return failed("errors.spike_after_deploy",
                      f"errors spiked to {assessment.recent_max} per 5 min from "
                      f"{both_zones(started)}, {when} the deploy at {both_zones(deploy_at)}",
                      FIX_AFTER_DEPLOY, **evidence)
    return failed("errors.spike", f"errors spiked to {assessment.recent_max} per 5 min from "
                  f"{both_zones(started)}, not tied to a deploy", FIX_SPIKE, **evidence)


def not_configured_finding(reason: str) -> Finding:
    return skipped("errors.normal", reason)
