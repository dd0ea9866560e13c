"""The on-call loop, met by `runbook serve` (not a notebook run: `exercise` drives each).

`alert-escalation`: the outage, a Slack app, two responders in `[oncall]` (`ack_timeout =
"10s"`) and a real SMTP server on loopback. Nobody presses Acknowledge. Graded: the verdict
carries Acknowledge; within 30 s of the alert, a message mentions the second responder
(`<@U…>`) and an email to them reaches the SMTP server; the incident's log has both pages and
no acknowledgement.

`flapping`: the outage, and the monitor then goes up and down, again and again, more often
than `flap_count` within `flap_window`. Graded: exactly one flapping notice, no post after it
however many more alerts come, every alert in the incident's log, one run.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from runbook.drill.fakes.slack import FakeSlack, with_slack_app
from runbook.drill.fakes.smtp import LoopbackSMTP, with_smtp
from runbook.drill.fakes.uptimerobot import FakeUptimeRobot, alert_variables
from runbook.drill.scenarios.alerts import (
    RESPONDER,
    TOKEN_ENV,
    ServeProcess,
    _archive,
    _graded_run,
    _no_run,
    _wait,
    alert_outage,
)
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.target import Target
from runbook.host.runner import RunResult
from runbook.incident.log import IncidentLog

SECOND = "U0DEALIXNORA"              # the other founder: paged when Sami does not answer
RESPONDERS = [{"name": "Sami", "slack_id": RESPONDER, "email": "sami@dealix.example"},
              {"name": "Nora", "slack_id": SECOND, "email": "nora@dealix.example"}]
ACK_TIMEOUT_SECONDS = 10
PAGED_WITHIN_SECONDS = 30.0
FLAP_COUNT = 3
FLAPS = 4                            # down-up cycles after the first down: 8 more changes


def _oncall(target: Target, **settings: object) -> None:
    alert_outage(target)
    with_slack_app(target, [RESPONDER])
    target.sections["oncall"] = {"responders": RESPONDERS, **settings}


def alert_escalation(target: Target) -> None:
    _oncall(target, ack_timeout=f"{ACK_TIMEOUT_SECONDS}s", repage_every="1h")
    with_smtp(target)


def flapping(target: Target) -> None:
    _oncall(target, ack_timeout="1h", flap_count=FLAP_COUNT, flap_window="10m")


def _post_alert(url: str, variables: dict[str, str]) -> int:
    with httpx.Client(timeout=10, trust_env=False) as http:
        return http.post(httpx.URL(url).copy_merge_params(variables)).status_code


def exercise_escalation(target: Target, config_path: Path, deadline: float | None
                        ) -> tuple[RunResult, list[str]]:
    """Serve, the down alert, nobody acknowledges: the second responder must be paged."""
    slack: FakeSlack = target.extras["slack"]
    smtp: LoopbackSMTP = target.extras["smtp"]
    uptime: FakeUptimeRobot = target.extras["uptimerobot"]
    archive = _archive(config_path)
    serve = ServeProcess(config_path)
    reasons: list[str] = []
    incident_id = ""
    mention = f"<@{SECOND}>"
    try:
        if not serve.ready.wait(60) or not serve.url:
            return _no_run(archive, "", ["runbook serve did not start: "
                                         + "".join(serve.lines[-5:]).strip()])
        url = f"{serve.url}/alerts/uptimerobot?token={target.env[TOKEN_ENV]}"
        alerted = time.monotonic()
        with httpx.Client(timeout=10, trust_env=False) as http:
            first = http.post(httpx.URL(url).copy_merge_params(
                alert_variables(uptime.monitors[0], 1, "HTTP 502 - Bad Gateway")))
        if first.status_code != 202:
            return _no_run(archive, "", [f"the down alert got HTTP {first.status_code}"])
        incident_id = str(first.json().get("incident") or "")
        bound = max(PAGED_WITHIN_SECONDS, deadline or 0.0)
        if not _wait(lambda: slack.state.messages, bound):
            return _no_run(archive, incident_id, ["no verdict reached the Slack app"])
        verdict = slack.state.messages[0]
        if not any(b.get("action_id") == "runbook.ack" for b in verdict.buttons()):
            reasons.append("the SEV-1 verdict carries no Acknowledge button")
        paged = _wait(lambda: any(mention in m.text and incident_id in m.text
                                  for m in slack.state.messages),
                      bound - (time.monotonic() - alerted))
        took = time.monotonic() - alerted
        if not paged:
            reasons.append(f"nobody mentioned {mention} within {bound:g}s of the alert")
        nora = RESPONDERS[1]["email"]
        if not _wait(lambda: any(nora in m.rcpt_tos and incident_id in str(
                m.message()["Subject"]) for m in smtp.messages), 10.0):
            reasons.append(f"no email naming the incident reached {nora} at the SMTP server "
                           f"({len(smtp.messages)} received)")
        if paged:
            serve.lines.append(f"drill: {mention} paged {took:.1f}s after the alert\n")
    finally:
        serve.stop()
    incident = IncidentLog(archive, incident_id).fold()
    if incident.acknowledged_at is not None:
        reasons.append("the incident is acknowledged, though nobody pressed")
    vias = sorted({str(p.get("via")) for p in (*incident.pages, *incident.emails)
                   if p.get("slack_id") == SECOND or p.get("email") == RESPONDERS[1]["email"]})
    if vias != ["email", "slack"]:
        reasons.append(f"the log's pages to the second responder: {vias or 'none'}")
    return _graded_run(archive, incident_id, reasons)


def exercise_flapping(target: Target, config_path: Path, deadline: float | None
                      ) -> tuple[RunResult, list[str]]:
    """Serve, the down alert, then the monitor flapping: one notice, then quiet."""
    slack: FakeSlack = target.extras["slack"]
    uptime: FakeUptimeRobot = target.extras["uptimerobot"]
    archive = _archive(config_path)
    serve = ServeProcess(config_path)
    reasons: list[str] = []
    incident_id = ""
    down = alert_variables(uptime.monitors[0], 1, "HTTP 502 - Bad Gateway")
    up = alert_variables(uptime.monitors[0], 2, "HTTP 200 - OK")
    try:
        if not serve.ready.wait(60) or not serve.url:
            return _no_run(archive, "", ["runbook serve did not start: "
                                         + "".join(serve.lines[-5:]).strip()])
        url = f"{serve.url}/alerts/uptimerobot?token={target.env[TOKEN_ENV]}"
        with httpx.Client(timeout=10, trust_env=False) as http:
            first = http.post(httpx.URL(url).copy_merge_params(down))
        if first.status_code != 202:
            return _no_run(archive, "", [f"the down alert got HTTP {first.status_code}"])
        incident_id = str(first.json().get("incident") or "")
        if not _wait(lambda: slack.state.messages, deadline or 120.0):
            return _no_run(archive, incident_id, ["no verdict reached the Slack app"])
        sent = 1
        for _ in range(FLAPS):
            for variables in (up, down):
                status = _post_alert(url, variables)
                sent += 1
                if status != 202:
                    reasons.append(f"a flapping alert got HTTP {status}")
                time.sleep(0.3)

        def notices() -> list[str]:
            return [m.text for m in slack.state.messages if "Flapping" in m.text]

        if not _wait(lambda: notices(), 15.0):
            reasons.append("no flapping notice was posted")
        posts_then = len(slack.state.messages)
        for variables in (up, down, up, down):     # still flapping: the log only
            _post_alert(url, variables)
            sent += 1
            time.sleep(0.3)
        time.sleep(3.0)      # room for a post, which would be wrong
        if len(notices()) != 1:
            reasons.append(f"expected one flapping notice, got {len(notices())}")
        if len(slack.state.messages) != posts_then:
            reasons.append(f"{len(slack.state.messages) - posts_then} post(s) after the "
                           "flapping notice")
        if len(slack.state.messages) != 2:
            reasons.append(f"expected the verdict and the notice only, got "
                           f"{len(slack.state.messages)} messages")
    finally:
        serve.stop()
    events = IncidentLog(archive, incident_id).events() if incident_id else []
    logged = sum(1 for e in events if e.kind in ("alert.received", "signal.recovered"))
    if logged != sent:
        reasons.append(f"{sent} alerts sent, {logged} in the incident's log")
    paused = sum(1 for e in events if e.kind == "alert.received"
                 and str(e.get("outcome", "")).startswith("paused"))
    if not paused:
        reasons.append("no alert was recorded as paused for flapping")
    return _graded_run(archive, incident_id, reasons)


register(Scenario(
    "alert-escalation", "the outage, met by runbook serve with two responders on call and "
    "ack_timeout 10s: nobody acknowledges, and the second responder is mentioned in Slack and "
    "emailed within 30 s", "sev1_response", alert_escalation,
    expect_failing=("health.down", "deploy.crashed", "uptime.down"), expect_severity="SEV-1",
    exercise=exercise_escalation))
register(Scenario(
    "flapping", "the outage, then the monitor going up and down more than flap_count times: "
    "one flapping notice, then every alert only in the incident's log", "sev1_response",
    flapping, expect_failing=("health.down", "deploy.crashed", "uptime.down"),
    expect_severity="SEV-1", exercise=exercise_flapping))
