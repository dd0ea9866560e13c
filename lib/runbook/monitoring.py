"""The runbook's monthly Monitoring Setup Check, as checks that return findings:

- Sentry alerts still fire: a test error sent through `sentry_sdk` (DSN from the config's
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx

from runbook.clients.http import (
    Timeouts,
    client,
    describe_failure,
    excerpt,
    json_body,
    request,
    retry_after_seconds,
    transport_failure,
)
from runbook.core import clock
from runbook.core.concurrency import Check, run_concurrently
from runbook.core.config import Config
from runbook.core.errors import ServiceError, ServiceUnavailable
from runbook.core.findings import Finding, Status, errored, failed, passed, skipped
from runbook.core.redaction import registry
from runbook.display import COLOURS, ICONS, FindingsView

CONTACT_MAX_AGE_DAYS = 31
SENTRY_WAIT_SECONDS = 90.0       # Sentry usually shows an event within seconds; allow a backlog
SENTRY_POLL_EVERY = 2.0
UPTIME_STALE_AFTER = timedelta(hours=1)
UPTIME_STATUS = {0: "paused", 1: "not checked yet", 2: "up", 8: "seems down", 9: "down"}
AREAS = (("sentry.", "Sentry: a test error arrives"), ("uptime.", "UptimeRobot polls"),
         ("slack.", "Slack accepts a test message"), ("contacts.", "Emergency contacts current"))
_SLACK_RETRY_BOUND = 5.0


# --- Sentry -------------------------------------------------------------------------------

def send_test_error(dsn: str, message: str, timeout: float) -> str | None:
    """Capture `message` at level error through the SDK, with a client of its own (the
    process's global Sentry setup, if any, is left alone); the event id, None if dropped."""
    import sentry_sdk

    sentry_client = sentry_sdk.Client(
        dsn=dsn, default_integrations=False, auto_enabling_integrations=False,
        integrations=[], http_proxy="", https_proxy="", sample_rate=1.0,
        environment="runbook-monthly-check", shutdown_timeout=timeout)
    try:
        with sentry_sdk.isolation_scope() as scope:
            scope.set_client(sentry_client)
            scope.set_tag("runbook.check", "monitoring_check")
            event_id = scope.capture_message(message, level="error")
        sentry_client.flush(timeout=timeout)
    finally:
        sentry_client.close(timeout=timeout)
    return str(event_id) if event_id else None


def _event_url(config: Config, event_id: str) -> str:
    assert config.sentry is not None
    s = config.sentry
    return f"{s.api_url.rstrip('/')}/projects/{s.org}/{s.project}/events/{event_id}/"


def wait_for_event(config: Config, timeouts: Timeouts, token: str, event_id: str,
                   wait_seconds: float, poll_every: float = SENTRY_POLL_EVERY,
                   sleep: Callable[[float], None] = time.sleep) -> tuple[bool, int, float]:
    """Poll the event until it stops answering 404: (arrived, polls, seconds waited)."""
    assert config.sentry is not None
    started = time.monotonic()
    polls = 0
    with client(timeouts, {"Authorization": f"Bearer {token}"}) as http:
        while True:
            polls += 1
            response = request(http, "Sentry", "GET", _event_url(config, event_id),
                               credential_env=config.sentry.token_env)
            waited = time.monotonic() - started
            if response.status_code == 200:
                json_body(response, "Sentry")
                return True, polls, waited
            if response.status_code != 404:
                raise ServiceError("Sentry", f"the event lookup answered "
                                   f"{response.status_code}: {excerpt(response.text)}")
            if waited + poll_every > wait_seconds:
                return False, polls, waited
            sleep(poll_every)


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
    from sentry_sdk.utils import BadDsn

    try:
        event_id = send_test_error(dsn, message, timeouts.total)
    except BadDsn:
        return failed("sentry.dsn_invalid", f"${settings.dsn_env} is not a valid Sentry DSN",
                      f"copy the DSN from Sentry (Project Settings → Client Keys) into "
                      f"${settings.dsn_env}")
    if event_id is None:
        return failed("sentry.test_event_dropped", "sentry_sdk dropped the test error (no "
                      "event id)", "check the SDK options: sample_rate, before_send filters")
    if not token:
        return skipped("sentry.test_event", f"sent test error {event_id}, but "
                       f"${settings.token_env} is not set: look for it in Sentry by hand",
                       event_id=event_id)
    arrived, polls, waited = wait_for_event(config, timeouts, token, event_id, wait_seconds,
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

def fetch_monitors(config: Config, timeouts: Timeouts, api_key: str) -> list[dict[str, Any]]:
    """getMonitors with the logs and the latest response times (each one is a check)."""
    assert config.uptimerobot is not None
    settings = config.uptimerobot
    form = {"api_key": api_key, "format": "json", "logs": "1", "logs_limit": "10",
            "response_times": "1", "response_times_limit": "3"}
    with client(timeouts, {"Cache-Control": "no-cache"}) as http:
        response = request(http, "UptimeRobot", "POST",
                           settings.api_url.rstrip("/") + "/getMonitors",
                           credential_env=settings.api_key_env, data=form)
    body = json_body(response, "UptimeRobot")
    if not isinstance(body, dict):
        raise ServiceUnavailable("UptimeRobot", f"not an object: {excerpt(response.text)}")
    if body.get("stat") != "ok":
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = excerpt(str((error or {}).get("message") or response.text))
        hint = f": check the value of ${settings.api_key_env}" \
            if (error or {}).get("parameter_name") == "api_key" else ""
        raise ServiceError("UptimeRobot", f"getMonitors failed: {message}{hint}")
    monitors = body.get("monitors")
    if not isinstance(monitors, list):
        raise ServiceUnavailable("UptimeRobot", "the answer has no monitors list")
    return [m for m in monitors if isinstance(m, dict)]


def last_activity(monitor: dict[str, Any]) -> datetime | None:
    """The newest check (response time) or log; the API does not promise an order."""
    stamps = [entry.get("datetime") for key in ("response_times", "logs")
              for entry in monitor.get(key) or [] if isinstance(entry, dict)]
    values = [int(s) for s in stamps if isinstance(s, (int, float, str)) and str(s).isdigit()]
    return datetime.fromtimestamp(max(values), UTC) if values else None


def monitor_finding(monitor: dict[str, Any], now: datetime,
                    stale_after: timedelta = UPTIME_STALE_AFTER) -> Finding:
    name = str(monitor.get("friendly_name") or monitor.get("id"))
    status = int(monitor.get("status", -1))
    last = last_activity(monitor)
    evidence: dict[str, Any] = {"monitor_id": monitor.get("id"), "monitor": name,
                                "status": UPTIME_STATUS.get(status, f"unknown ({status})"),
                                "interval_seconds": monitor.get("interval"),
                                "last_activity": clock.iso(last) if last else None}
    if status == 0:
        return failed("uptime.paused", f"UptimeRobot: {name} is paused: nobody is watching it",
                      "resume the monitor in UptimeRobot (Dashboard → the monitor → Resume)",
                      **evidence)
    if status == 1:
        return failed("uptime.not_checked", f"UptimeRobot: {name} has not been checked yet",
                      "check the monitor's URL and interval in UptimeRobot, wait one interval, "
                      "then run this check again", **evidence)
    if status not in UPTIME_STATUS:
        return errored("uptime.monitors", f"UptimeRobot: {name} has an unknown status "
                       f"{status}", **evidence)
    if last is None or now - last > stale_after:
        ago = f"last activity {clock.both_zones(last)}" if last else "no check or log at all"
        return failed("uptime.stale", f"UptimeRobot: {name} shows {ago}: it may have stopped "
                      "polling", "open the monitor in UptimeRobot; check the account's plan "
                      "and the monitor's interval; pause and resume it", **evidence)
    minutes = max(0, int((now - last).total_seconds() // 60))
    note = f" (it reports the site {UPTIME_STATUS[status]})" if status in (8, 9) else ""
    return passed("uptime.polling", f"UptimeRobot: {name} is polling; last check {minutes} min "
                  f"ago{note}", **evidence)


def check_uptime(config: Config, timeouts: Timeouts,
                 stale_after: timedelta = UPTIME_STALE_AFTER,
                 now: datetime | None = None) -> list[Finding]:
    settings = config.uptimerobot
    if settings is None:
        return [skipped("uptime.monitors", "UptimeRobot is not configured (no [uptimerobot] "
                        "section)")]
    api_key = registry().read_env(settings.api_key_env)
    if not api_key:
        return [skipped("uptime.monitors", f"${settings.api_key_env} is not set: UptimeRobot "
                        "not checked")]
    monitors = fetch_monitors(config, timeouts, api_key)
    if not monitors:
        return [failed("uptime.no_monitors", "UptimeRobot has no monitors: nothing watches "
                       "Dealix", "add an HTTP(s) monitor for /healthz (keyword `ok`, 5 min)")]
    moment = now or clock.now()
    return [monitor_finding(m, moment, stale_after) for m in monitors]


# --- Slack --------------------------------------------------------------------------------

def check_slack(config: Config, timeouts: Timeouts, text: str) -> Finding:
    from runbook.comms import SLACK_ERRORS

    settings = config.slack
    if settings is None:
        return skipped("slack.webhook", "Slack is not configured (no [slack] section)")
    url = registry().read_env(settings.webhook_url_env)
    if not url:
        return skipped("slack.webhook", f"${settings.webhook_url_env} is not set: Slack not "
                       "checked")
    env = f"${settings.webhook_url_env}"
    waited = 0.0
    with client(timeouts) as http:
        while True:
            try:
                response = http.post(url, json={"text": text})
            except httpx.HTTPError as exc:
                return errored("slack.webhook", "Slack: " + describe_failure(
                    transport_failure(exc), url))
            if response.status_code == 429 and waited < _SLACK_RETRY_BOUND:
                delay = min(retry_after_seconds(response), _SLACK_RETRY_BOUND)
                time.sleep(delay)
                waited += delay
                continue
            break
    body = response.text.strip()
    if response.status_code == 200 and body == "ok":
        return passed("slack.posted", f"Slack accepted the test message in {settings.channel}",
                      channel=settings.channel)
    if response.status_code in (429,) or response.status_code >= 500:
        return errored("slack.webhook", f"Slack answered {response.status_code} "
                       f"{excerpt(body)}: try again in a minute", http_status=response.status_code)
    error = body if body in SLACK_ERRORS else ""
    meaning, fix = SLACK_ERRORS.get(error, (f"unexpected answer {excerpt(body)!r}",
                                            "check the webhook URL in {env}"))
    return failed(f"slack.{error}" if error else "slack.failed",
                  f"Slack refused the test message ({response.status_code} "
                  f"{error or 'error'}): {meaning}", fix.format(env=env),
                  http_status=response.status_code, channel=settings.channel)


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


class RecordingSession(Protocol):
    def report(self, findings: Iterable[Finding], title: str = "") -> FindingsView: ...
    def record_action(self, action: dict[str, Any]) -> dict[str, Any]: ...


def record(rb: RecordingSession, findings: list[Finding]) -> Checklist:
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
