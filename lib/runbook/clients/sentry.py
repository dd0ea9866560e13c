"""Sentry: the error series (`events-stats`, 5-minute buckets) and the spike rule.

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
from datetime import UTC, datetime, timedelta
from typing import Any

from runbook.clients.http import Timeouts, client, excerpt, json_body, request, required_secret
from runbook.core.clock import both_zones, iso
from runbook.core.config import Config, SentryConfig
from runbook.core.errors import ServiceError, ServiceUnavailable
from runbook.core.findings import Finding, failed, passed, skipped
from runbook.core.redaction import registry

SERVICE = "Sentry"

ALERT_THRESHOLD = 10                      # Dealix's alert rule: > 10 events in 5 minutes
SPIKE_FACTOR = 5.0                        # k: how many times the baseline median
INTERVAL = timedelta(minutes=5)
STATS_PERIOD = "24h"
RECENT_WINDOW = timedelta(minutes=30)
MIN_HOT_BUCKETS = 2
DEPLOY_WINDOW = timedelta(minutes=30)     # N: a spike this soon after a deploy is the deploy's

FIX_AFTER_DEPLOY = ("The spike began right after the latest deploy: check that deploy's diff, "
                    "then roll back (rollback notebook)")
FIX_SPIKE = ("The spike is not tied to a deploy: check Sentry's top issues; if it is traffic, "
             "scale Railway resources (Settings → Resources / replicas)")


@dataclass(frozen=True)
class Bucket:
    at: datetime       # the bucket's start
    count: int


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


class SentryClient:
    def __init__(self, settings: SentryConfig, token: str, timeouts: Timeouts) -> None:
        self.settings = settings
        self._token = token
        self.timeouts = timeouts

    @classmethod
    def from_config(cls, config: Config, timeouts: Timeouts) -> SentryClient:
        settings = config.sentry
        if settings is None:
            raise ServiceError(SERVICE, "no [sentry] section in the config")
        token = required_secret(SERVICE, settings.token_env,
                                "export a Sentry auth token with org:read and event:read")
        return cls(settings, token, timeouts)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.settings.api_url.rstrip("/") + path
        with client(self.timeouts, {"Authorization": f"Bearer {self._token}"}) as http:
            response = request(http, SERVICE, "GET", url, credential_env=self.settings.token_env,
                               params=params)
        if response.status_code == 404:
            raise ServiceError(SERVICE, f"{path} not found ({excerpt(response.text)}): check "
                               f"[sentry] org = {self.settings.org!r} and project = "
                               f"{self.settings.project!r}")
        if response.status_code != 200:
            raise ServiceUnavailable(SERVICE, f"answered {response.status_code}: "
                                     f"{excerpt(response.text)}")
        return json_body(response, SERVICE)

    def project_id(self) -> str:
        if self.settings.project_id:
            return self.settings.project_id
        body = self._get(f"/projects/{self.settings.org}/{self.settings.project}/")
        if not isinstance(body, dict) or not body.get("id"):
            raise ServiceUnavailable(SERVICE, "the project answer has no id")
        return str(body["id"])

    def error_series(self, stats_period: str = STATS_PERIOD) -> list[Bucket]:
        """Errors per 5 minutes over `stats_period`, oldest first."""
        body = self._get(f"/organizations/{self.settings.org}/events-stats/", {
            "project": self.project_id(), "query": "event.type:error",
            "statsPeriod": stats_period, "interval": "5m", "yAxis": "count()"})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ServiceUnavailable(SERVICE, "events-stats answered without a data list")
        buckets = []
        for point in data:
            try:
                stamp, values = point
                count = sum(int(v.get("count") or 0) for v in values)
                buckets.append(Bucket(datetime.fromtimestamp(int(stamp), UTC), count))
            except (TypeError, ValueError, AttributeError):
                raise ServiceUnavailable(SERVICE, f"events-stats point not understood: "
                                         f"{excerpt(repr(point))}") from None
        return sorted(buckets, key=lambda b: b.at)


def configured(config: Config) -> str:
    """Why Sentry cannot be asked ("" when it can)."""
    if config.sentry is None:
        return "Sentry is not configured (no [sentry] section)"
    if not registry().read_env(config.sentry.token_env):
        return f"${config.sentry.token_env} is not set: Sentry not checked"
    return ""


def not_configured_finding(reason: str) -> Finding:
    return skipped("errors.normal", reason)
