"""The runbook's monthly Monitoring Setup Check, as checks that return findings:

- Sentry alerts still fire: a test error sent through Sentry's SDK (DSN from the config's
  `[sentry] dsn_env`), then confirmed through the API: the event's URL answers 404 until Sentry
  has processed it, so it is polled, within a bound, until it answers.
- UptimeRobot still polls: every monitor is active (not paused, not "not checked yet") and its
  latest check (response time) or log is recent.
- The Slack channel is alive: its incoming webhook accepts a test message (200, body `ok`).
- The emergency numbers are current: every `[[contacts]]` entry was verified within 31 days.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from runbook.checks import uptime
from runbook.clients import slack
from runbook.clients.sentry import POLL_EVERY, BadDsn, SentryClient, send_test_error
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.concurrency import Check, run_concurrently
from runbook.core.config import Config
from runbook.core.errors import ServiceUnavailable
from runbook.core.findings import Finding, Status, errored, failed, passed, skipped
from runbook.core.redaction import registry
from runbook.sections.kit.display import COLOURS, ICONS
from runbook.sections.kit.session_protocol import SessionProtocol

__all__ = ["Checklist", "check_contacts", "check_sentry", "check_slack", "check_uptime", "record",
           "run_checks"]

CONTACT_MAX_AGE_DAYS = 31
SENTRY_WAIT_SECONDS = 90.0       # Sentry usually shows an event within seconds; allow a backlog
SENTRY_POLL_EVERY = POLL_EVERY
UPTIME_STALE_AFTER = uptime.STALE_AFTER
AREAS = (("sentry.", "Sentry: a test error arrives"), ("uptime.", "UptimeRobot polls"),
         ("slack.", "Slack accepts a test message"), ("contacts.", "Emergency contacts current"))


# --- Sentry -------------------------------------------------------------------------------

def wait_for_event(config: Config, timeouts: Timeouts, event_id: str, wait_seconds: float,
                   poll_every: float = SENTRY_POLL_EVERY,
                   sleep: Callable[[float], None] = time.sleep) -> tuple[bool, int, float]:
    """Poll the event until it stops answering 404: (arrived, polls, seconds waited)."""
    return SentryClient.from_config(config, timeouts).wait_for_event(event_id, wait_seconds,
                                                                     poll_every, sleep)


def check_sentry(config: Config, timeouts: Timeouts, wait_seconds: float = SENTRY_WAIT_SECONDS,
                 incident_id: str = "", poll_every: float = SENTRY_POLL_EVERY) -> Finding:
    settings = config.sentry
    if settings is None:
        return skipped("sentry.test_event", "Sentry is not configured (no [sentry] section)")
    dsn = registry().read_env(settings.dsn_env)
    if not dsn:
        return skipped("sentry.test_event", f"${settings.dsn_env} is not set: export the "
                       "backend's Sentry DSN (Project Settings → Client Keys) to send a test "
                       "error")
    token = registry().read_env(settings.token_env)
    moment = clock.iso(clock.now())
    message = (f"Dealix runbook monthly monitoring check: test error at {moment}"
               + (f" (incident {incident_id})" if incident_id else ""))
    try:
        event_id = send_test_error(dsn, message, timeouts.total, tag="monitoring_check")
    except BadDsn:
        return failed("sentry.dsn_invalid", f"${settings.dsn_env} is not a valid Sentry DSN",
                      f"copy the DSN from Sentry (Project Settings → Client Keys) into "
                      f"${settings.dsn_env}")
    if event_id is None:
        return failed("sentry.test_event_dropped", "the Sentry SDK dropped the test error (no "
                      "event id)", "check the SDK options: sample_rate, before_send filters")
    if not token:
        return skipped("sentry.test_event", f"sent test error {event_id}, but "
                       f"${settings.token_env} is not set: look for it in Sentry by hand",
                       event_id=event_id)
    arrived, polls, waited = wait_for_event(config, timeouts, event_id, wait_seconds,
                                            poll_every)
    evidence = {"event_id": event_id, "polls": polls, "seconds": round(waited, 1),
                "project": f"{settings.org}/{settings.project}"}
    if arrived:
        return passed("sentry.test_event_received", f"Sentry received the test error "
                      f"{event_id} after {waited:.0f}s: errors reach Sentry", **evidence)
    return failed("sentry.test_event_missing", f"Sentry did not show the test error {event_id} "
                  f"within {wait_seconds:g}s: errors may not reach it, and alerts would not fire",
                  f"check ${settings.dsn_env} is the DSN of {settings.org}/{settings.project}, "
                  "the project's inbound filters and its quota; then run this check again",
                  **evidence)


# --- UptimeRobot --------------------------------------------------------------------------

def check_uptime(config: Config, timeouts: Timeouts,
                 stale_after: timedelta = UPTIME_STALE_AFTER,
                 now: datetime | None = None) -> list[Finding]:
    """Every monitor is active, and its newest check or log is recent."""
    return uptime.check_polling(config, timeouts, stale_after, now)


# --- Slack --------------------------------------------------------------------------------

def check_slack(config: Config, timeouts: Timeouts, text: str) -> Finding:
    settings = config.slack
    if settings is None:
        return skipped("slack.webhook", "Slack is not configured (no [slack] section)")
    url = registry().read_env(settings.webhook_url_env)
    if not url:
        return skipped("slack.webhook", f"${settings.webhook_url_env} is not set: Slack not "
                       "checked")
    try:
        answer = slack.post_message(url, text, timeouts)
    except ServiceUnavailable as exc:
        return errored("slack.webhook", str(exc))
    if answer.ok:
        return passed("slack.posted", f"Slack accepted the test message in {settings.channel}",
                      channel=settings.channel)
    if answer.rate_limited or answer.status >= 500:
        return errored("slack.webhook", f"Slack answered {answer.status} "
                       f"{answer.body}: try again in a minute", http_status=answer.status)
    return failed(f"slack.{answer.error}" if answer.error else "slack.failed",
                  f"Slack refused the test message ({answer.status} "
                  f"{answer.error or 'error'}): {answer.meaning}",
                  answer.fix(f"${settings.webhook_url_env}"),
                  http_status=answer.status, channel=settings.channel)


# --- contacts -----------------------------------------------------------------------------

def check_contacts(config: Config, today: date | None = None,
                   max_age_days: int = CONTACT_MAX_AGE_DAYS) -> list[Finding]:
    today = today or clock.now().date()
    if not config.contacts:
        return [failed("contacts.none", "no emergency contacts in the config",
                       "add the runbook's Who to Contact table as [[contacts]] entries, each "
                       "with verified = \"YYYY-MM-DD\"")]
    fix = ("call or message them to confirm the number and channel, then set verified = "
           f"\"{today.isoformat()}\" for them in the config")
    findings = []
    for contact in config.contacts:
        evidence: dict[str, Any] = {"contact": contact.name, "role": contact.role,
                                    "issue": contact.issue, "verified": contact.verified,
                                    "has_phone": bool(contact.phone)}
        who = f"{contact.name} ({contact.role})"
        try:
            verified = date.fromisoformat(contact.verified) if contact.verified else None
        except ValueError:
            findings.append(failed("contacts.unverified", f"{who}: verified = "
                                   f"{contact.verified!r} is not a date (YYYY-MM-DD)", fix,
                                   **evidence))
            continue
        if verified is None:
            findings.append(failed("contacts.unverified", f"{who}: never verified", fix,
                                   **evidence))
            continue
        age = (today - verified).days
        evidence["age_days"] = age
        if age > max_age_days:
            findings.append(failed("contacts.stale", f"{who}: last verified {age} days ago "
                                   f"({verified}), more than {max_age_days}", fix, **evidence))
        else:
            findings.append(passed("contacts.verified", f"{who}: verified {age} days ago "
                                   f"({verified})", **evidence))
    return findings


# --- the whole check ----------------------------------------------------------------------

def run_checks(config: Config, timeouts: Timeouts, *, incident_id: str = "",
               sentry_wait_seconds: float = SENTRY_WAIT_SECONDS,
               uptime_stale_minutes: float = UPTIME_STALE_AFTER.total_seconds() / 60,
               contact_max_age_days: int = CONTACT_MAX_AGE_DAYS,
               slack_text: str = "") -> list[Finding]:
    """Every check at once; each bounded by its own timeouts, the whole by the Sentry wait."""
    text = slack_text or ("Monthly monitoring check from the Dealix runbook: this channel "
                          "receives alerts." + (f" ({incident_id})" if incident_id else ""))
    checks: dict[str, Check] = {
        "sentry.test_event": lambda: check_sentry(config, timeouts, sentry_wait_seconds,
                                                  incident_id),
        "uptime.monitors": lambda: check_uptime(config, timeouts,
                                                timedelta(minutes=uptime_stale_minutes)),
        "slack.webhook": lambda: check_slack(config, timeouts, text),
        "contacts.verified": lambda: check_contacts(config, max_age_days=contact_max_age_days),
    }
    bound = sentry_wait_seconds + 4 * timeouts.total + 10
    return run_concurrently(checks, bound)


def area_of(finding: Finding) -> str:
    return next((label for prefix, label in AREAS if finding.code.startswith(prefix)),
                finding.code)


@dataclass
class Checklist:
    """The monthly check as a table: one row per area and item, with its status."""

    findings: list[Finding]

    def rows(self) -> list[tuple[str, Status, str]]:
        order = {label: index for index, (_, label) in enumerate(AREAS)}
        ordered = sorted(self.findings, key=lambda f: order.get(area_of(f), len(order)))
        return [(area_of(f), f.status, f.summary) for f in ordered]

    @property
    def status(self) -> Status:
        from runbook.core.findings import worst

        return worst(self.findings)

    def __repr__(self) -> str:
        lines = [f"Monthly monitoring check: {self.status.value}"]
        for area, status, summary in self.rows():
            lines.append(f"  [{ICONS[status]}] {status.value:<7} {area:<32} {summary}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for area, status, summary in self.rows():
            rows.append(f'<tr><td style="background:{COLOURS[status]};color:white;'
                        f'font-weight:bold;text-align:center">{ICONS[status]} {status.value}'
                        f"</td><td>{html.escape(area)}</td>"
                        f'<td style="text-align:left">{html.escape(summary)}</td></tr>')
        return (f"<h4>Monthly monitoring check: {self.status.value}</h4>"
                '<table class="runbook-checklist"><thead><tr><th>status</th><th>check</th>'
                f"<th>detail</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def record(rb: SessionProtocol, findings: list[Finding]) -> Checklist:
    """Put the findings and the two things the check sent (a test error, a test message) into
    the run's record, and return the checklist to display."""
    rb.report(findings, title="Monthly monitoring check")
    for finding in findings:
        if finding.code.startswith("sentry.test_event") and finding.evidence.get("event_id"):
            rb.record_action({"name": "sentry.test_error", "dry_run": False,
                              "result": finding.summary,
                              "event_id": finding.evidence["event_id"]})
        if finding.code.startswith("slack.") and finding.status is not Status.SKIPPED:
            rb.record_action({"name": "slack.test_message", "dry_run": False,
                              "ok": finding.status is Status.PASS, "result": finding.summary})
    return Checklist(findings)
