"""`alert-outage`: the outage, met by `runbook serve` instead of a person.

The simulated world starts in the outage state (the crashed deploy, the 502s, UptimeRobot's
down monitor); `runbook serve` starts against it on 127.0.0.1 with an ephemeral port; the
simulated UptimeRobot delivers a down alert, then a burst of 50 duplicates. Graded: exactly
one run, its record SEV-1 with the outage's findings, and exactly one message at the fake
Slack. This scenario is not a notebook run: `exercise` drives it (see `drill/run.py`).

`alert-outage-rollback`: the same outage, and the fake Slack is a Slack app. The verdict
carries buttons; the on-call responder presses "Roll back" (a signed press from an allow-listed
user id). Graded: the press acknowledged within 3 s, exactly one rollback at the fake Railway,
the verdict updated with the outcome, the press's sealed record showing the rollback done by
that user, and the app's `/healthz` answering 200. Exit 0 only then.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.location import open_archive
from runbook.core.config import Config, load_config
from runbook.core.errors import RecordError
from runbook.core.severity import SEVERITIES
from runbook.drill.fakes.railway import RailwayHandles
from runbook.drill.fakes.slack import AppMessage, FakeSlack, with_slack_app
from runbook.drill.fakes.uptimerobot import FakeUptimeRobot, alert_variables, deliver_alert
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.scenarios.core import outage
from runbook.drill.scenarios.mitigate import rollback_restores
from runbook.drill.target import Target
from runbook.host.runner import RunResult
from runbook.host.serve.verdict import local_time
from runbook.incident.log import IncidentLog
from runbook.incident.windows import fold_options

TOKEN_ENV = "DRILL_SERVE_TOKEN"
SENTRY_SECRET_ENV = "DRILL_SENTRY_CLIENT_SECRET"
DUPLICATES = 50
EXIT_MISMATCH = 3
RESPONDER = "U0DEALIXSAMI"      # the founder on call: the one user id allowed to confirm
ACK_SECONDS = 3.0


def alert_outage(target: Target) -> None:
    outage(target)
    # A drill's world is its own service: its alerts must never join an incident that another
    # drill (or a real outage sharing this archive) has open for Dealix itself.
    target.sections["service"]["name"] = f"dealix-drill-{secrets.token_hex(4)}"
    target.secret(TOKEN_ENV, "drill-serve-" + secrets.token_urlsafe(24))
    target.secret(SENTRY_SECRET_ENV)
    target.sections["serve"] = {"token_env": TOKEN_ENV, "sentry_secret_env": SENTRY_SECRET_ENV,
                                "monitoring_check_cron": "", "due_cron": "",
                                "slack_backoff_seconds": 0.5}


class ServeProcess:
    """`runbook serve` as a person starts it, its output kept for the report."""

    def __init__(self, config_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runbook.host.cli", "serve", "--config", str(config_path),
             "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=dict(os.environ))
        self.lines: list[str] = []
        self.url = ""
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if not self.url and "listening on " in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                self.ready.set()
        self.ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _archive(config_path: Path) -> records.Archive:
    """The archive serve writes to, as the drill's config (or --archive) names it: a folder
    or a bucket, read through its store."""
    return open_archive(load_config(config_path), staged=False)


def _wait(predicate: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def exercise(target: Target, config_path: Path, deadline: float | None
             ) -> tuple[RunResult, list[str]]:
    """Serve, alert, storm, grade. The RunResult is the one run serve started."""
    slack: FakeSlack = target.extras["slack"]
    uptime: FakeUptimeRobot = target.extras["uptimerobot"]
    monitor = uptime.monitors[0]
    archive = _archive(config_path)
    serve = ServeProcess(config_path)
    reasons: list[str] = []
    incident_id = ""
    try:
        if not serve.ready.wait(60) or not serve.url:
            return _no_run(archive, "", ["runbook serve did not start: "
                                         + "".join(serve.lines[-5:]).strip()])
        url = f"{serve.url}/alerts/uptimerobot?token={target.env[TOKEN_ENV]}"
        down = alert_variables(monitor, 1, "HTTP 502 - Bad Gateway")
        with httpx.Client(timeout=10, trust_env=False) as http:
            first = http.post(httpx.URL(url).copy_merge_params(down))
        if first.status_code != 202:
            return _no_run(archive, "", [f"the down alert got HTTP {first.status_code}"])
        incident_id = str(first.json().get("incident") or "")
        with ThreadPoolExecutor(max_workers=8) as pool, \
                httpx.Client(timeout=10, trust_env=False) as storm:
            answers = list(pool.map(lambda _: deliver_alert(url, down, http=storm),
                                    range(DUPLICATES)))
        refused = [a for a in answers if a != 202]
        if refused:
            reasons.append(f"{len(refused)} of the {DUPLICATES} duplicates were not accepted "
                           f"(HTTP {sorted(set(refused))})")
        if not _wait(lambda: slack.state.posted, deadline or 120.0):
            reasons.append("no Slack message arrived")
        time.sleep(2.0)   # room for a second run or message, which would be wrong
    finally:
        serve.stop()
    return _graded(archive, incident_id, slack, reasons, load_config(config_path))


def _graded(archive: records.Archive, incident_id: str, slack: FakeSlack,
            reasons: list[str], config: Config) -> tuple[RunResult, list[str]]:
    # One message: serve posted once. The same text twice is one post delivered twice: a
    # retry after Slack's answer was late (serve delivers a verdict at least once, since a
    # webhook takes no idempotency key); a second run or a second verdict would differ.
    texts = list(dict.fromkeys(str(p.payload.get("text", "")) for p in slack.state.posted))
    posted = len(texts)
    if posted != 1:
        firsts = [text.split("\n", 1)[0][:100] for text in texts]
        reasons.append(f"expected one Slack message, got {posted}: {firsts}")
    elif "SEV-1" not in str(slack.state.posted[0].payload.get("text", "")):
        reasons.append("the Slack message does not name SEV-1")
    else:
        reasons += _clock_agrees(archive, incident_id,
                                 str(slack.state.posted[0].payload.get("text", "")), config)
    return _graded_run(archive, incident_id, reasons)


def _graded_run(archive: records.Archive, incident_id: str, reasons: list[str]
                ) -> tuple[RunResult, list[str]]:
    """The incident's one run (the notebook serve started), judged with `reasons`."""
    runs = records.list_runs(archive, incident_id) if incident_id else []
    if len(runs) != 1:
        reasons.append(f"expected one run for the incident, got {len(runs)}")
    if not runs:
        return _no_run(archive, incident_id, reasons)
    run = RunRef.parse(runs[0].run)
    run_dir = archive.run_dir(run)
    try:
        record = records.archived_record(archive, run)
    except RecordError as exc:
        return _no_run(archive, incident_id, [*reasons, str(exc)])
    status = str(record["status"])
    ok = status == "completed" and not reasons
    return RunResult(status, 0 if ok else EXIT_MISMATCH, run_dir, record,
                     str(record.get("error") or "")), reasons


def _clock_agrees(archive: records.Archive, incident_id: str, text: str,
                  config: Config) -> list[str]:
    """The verdict's first line names the SEV and counts from the incident's one start (the
    monitor's down-since), as `runbook incident show` says it, in the team's zone."""
    incident = IncidentLog(archive, incident_id).fold(**fold_options(config))
    level = SEVERITIES.get(str(incident.severity))
    if incident.started_at is None or level is None:
        return [f"the incident has no start or no SEV ({incident.severity})"]
    first = text.splitlines()[0] if text else ""
    since = f"since {local_time(incident.started_at, config)}"
    deadline = f"respond by {local_time(level.deadline(incident.started_at), config)}"
    return [f"the verdict's first line does not say {want!r}: {first!r}"
            for want in (f"{level.level} · ", since) if want not in first] + \
        ([] if deadline in text else [f"the verdict does not say {deadline!r}"])


def _no_run(archive: records.Archive, incident_id: str, reasons: list[str]
            ) -> tuple[RunResult, list[str]]:
    record: dict[str, Any] = {"incident_id": incident_id or "(none)", "status": "failed",
                              "severity": None, "findings": []}
    return RunResult("failed", EXIT_MISMATCH, archive.root, record, "; ".join(reasons)), reasons


def alert_outage_rollback(target: Target) -> None:
    alert_outage(target)
    with_slack_app(target, [RESPONDER])
    rollback_restores(target)


def exercise_rollback(target: Target, config_path: Path, deadline: float | None
                      ) -> tuple[RunResult, list[str]]:
    """Serve, alert, press "Roll back" in Slack, grade the press's record and /healthz."""
    slack: FakeSlack = target.extras["slack"]
    railway: RailwayHandles = target.extras["railway"]
    uptime: FakeUptimeRobot = target.extras["uptimerobot"]
    archive = _archive(config_path)
    serve = ServeProcess(config_path)
    reasons: list[str] = []
    incident_id = ""
    bound = deadline or 180.0
    try:
        if not serve.ready.wait(60) or not serve.url:
            return _no_run(archive, "", ["runbook serve did not start: "
                                         + "".join(serve.lines[-5:]).strip()])
        url = f"{serve.url}/alerts/uptimerobot?token={target.env[TOKEN_ENV]}"
        down = alert_variables(uptime.monitors[0], 1, "HTTP 502 - Bad Gateway")
        with httpx.Client(timeout=10, trust_env=False) as http:
            first = http.post(httpx.URL(url).copy_merge_params(down))
        if first.status_code != 202:
            return _no_run(archive, "", [f"the down alert got HTTP {first.status_code}"])
        incident_id = str(first.json().get("incident") or "")
        if not _wait(lambda: slack.state.messages, bound):
            return _no_run(archive, incident_id, ["no verdict reached the Slack app"])
        message: AppMessage = slack.state.messages[0]
        button = next((b for b in message.buttons()
                       if str(b["text"]["text"]).startswith("Roll back")), None)
        if button is None:
            return _no_run(archive, incident_id, ["the verdict carries no Roll back button ("
                                                  f"{len(message.buttons())} buttons)"])
        started = time.monotonic()
        answer = slack.press(f"{serve.url}/slack/actions", message, button, RESPONDER)
        took = time.monotonic() - started
        if answer.status_code != 200 or took > ACK_SECONDS:
            reasons.append(f"the press got HTTP {answer.status_code} after {took:.1f}s "
                           f"(expected 200 within {ACK_SECONDS:g}s)")
        if not _wait(lambda: message.updates, bound):
            reasons.append("the verdict was never updated with the press's outcome")
        elif "DONE" not in str(message.updates[-1].get("text", "")):
            reasons.append("the press did not end DONE: "
                           + str(message.updates[-1].get("text", ""))[:300])
        time.sleep(1.0)   # room for a second mutation, which would be wrong
    finally:
        serve.stop()
    rollbacks = railway.fake.mutation_names().count("deploymentRollback")
    if rollbacks != 1:
        reasons.append(f"expected exactly one rollback at Railway, got {rollbacks}")
    healthz = target.app_server.url + str(target.sections["service"].get("healthz_path",
                                                                         "/healthz"))
    with httpx.Client(timeout=5, trust_env=False) as http:
        status = http.get(healthz).status_code
    if status != 200:
        reasons.append(f"/healthz answers {status} after the press, not 200")
    return _press_graded(archive, incident_id, reasons)


def _press_graded(archive: records.Archive, incident_id: str, reasons: list[str],
                  status: str = "succeeded", first_only: bool = False
                  ) -> tuple[RunResult, list[str]]:
    """The press's own run (the rollback notebook) is the one judged; `first_only`: later
    rollback runs (by hand, after the press) are the scenario's to judge."""
    runs = [r for r in records.list_runs(archive, incident_id) if r.notebook == "rollback"] \
        if incident_id else []
    if first_only:
        runs = sorted(runs, key=lambda r: r.started_at)[:1]
    if len(runs) != 1:
        return _no_run(archive, incident_id, [*reasons, "expected one rollback run for the "
                                              f"press, got {len(runs)}"])
    run = RunRef.parse(runs[0].run)
    run_dir = archive.run_dir(run)
    try:
        record = records.archived_record(archive, run)
    except RecordError as exc:
        return _no_run(archive, incident_id, [*reasons, str(exc)])
    done = [a for a in record.get("actions", []) if a.get("name") == "railway.rollback"
            and a.get("status") == status]
    if not done:
        reasons.append(f"the press's record has no {status} railway.rollback")
    elif done[0].get("actor") != RESPONDER:
        reasons.append(f"the rollback's actor is {done[0].get('actor')!r}, not {RESPONDER}")
    status = str(record["status"])
    ok = status == "completed" and not reasons
    return RunResult(status, 0 if ok else EXIT_MISMATCH, run_dir, record,
                     str(record.get("error") or "")), reasons


register(Scenario(
    "alert-outage", "the outage, met by runbook serve: UptimeRobot's down alert and 50 "
    "duplicates give one run, a SEV-1 record and one Slack message", "sev1_response",
    alert_outage, expect_failing=("health.down", "deploy.crashed", "uptime.down"),
    expect_severity="SEV-1", exercise=exercise))
register(Scenario(
    "alert-outage-rollback", "the outage, met by runbook serve with a Slack app: the verdict's "
    "Roll back button, pressed by the allow-listed responder, rolls back once and /healthz "
    "answers 200", "rollback", alert_outage_rollback,
    expect_passing=("railway.rollback", "deploy.ok", "health.ok"),
    exercise=exercise_rollback))
