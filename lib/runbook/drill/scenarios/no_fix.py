"""`rollback-no-fix`: the rollback succeeds at Railway, and the app stays down.

The outage as `alert-outage-rollback` meets it (serve, a Slack app, the responder presses
"Roll back"), but the crash was not the deploy's: the rolled-back deployment reaches Active and
Dealix still answers 502. Graded: exactly one rollback call at the fake Railway (also after the
rollback notebook is run again, confirmed, in the same incident); the rollback recorded as
done at the provider with the service still down (not as failed); the incident still open,
not mitigated; and the updated verdict proposing the next sections, not the rollback again.
Exit 0 only then.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from runbook.archive.record import Archive
from runbook.core.config import load_config
from runbook.drill.fakes.railway import RailwayHandles
from runbook.drill.fakes.slack import FakeSlack, with_slack_app
from runbook.drill.fakes.uptimerobot import FakeUptimeRobot, alert_variables
from runbook.drill.scenarios.alerts import (
    RESPONDER,
    TOKEN_ENV,
    ServeProcess,
    _archive,
    _no_run,
    _press_graded,
    _wait,
    alert_outage,
)
from runbook.drill.scenarios.base import Scenario, register
from runbook.drill.scenarios.mitigate import rollback_fixes_nothing
from runbook.drill.target import Target
from runbook.host.runner import RunResult
from runbook.incident import views
from runbook.incident.fold import OPEN
from runbook.incident.log import IncidentLog
from runbook.incident.windows import fold_options


def rollback_no_fix(target: Target) -> None:
    alert_outage(target)
    with_slack_app(target, [RESPONDER])
    rollback_fixes_nothing(target)


def exercise_no_fix(target: Target, config_path: Path, deadline: float | None
                    ) -> tuple[RunResult, list[str]]:
    """Serve, alert, press "Roll back", run the rollback again by hand, grade."""
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
        message = slack.state.messages[0]
        button = next((b for b in message.buttons()
                       if str(b["text"]["text"]).startswith("Roll back")), None)
        if button is None:
            return _no_run(archive, incident_id, ["the verdict carries no Roll back button"])
        slack.press(f"{serve.url}/slack/actions", message, button, RESPONDER)
        if not _wait(lambda: message.updates, bound):
            reasons.append("the verdict was never updated with the press's outcome")
        else:
            reasons += _update_graded(str(message.updates[-1].get("text", "")))
        # The same button again, and the notebook by hand: neither may roll back again.
        slack.press(f"{serve.url}/slack/actions", message, button, RESPONDER)
        time.sleep(1.0)
    finally:
        serve.stop()
    reasons += _again_by_hand(config_path, incident_id)
    rollbacks = railway.fake.mutation_names().count("deploymentRollback")
    if rollbacks != 1:
        reasons.append(f"expected exactly one rollback at Railway, got {rollbacks}")
    reasons += _incident_graded(archive, config_path, incident_id)
    return _press_graded(archive, incident_id, reasons, status="done_unverified",
                         first_only=True)


def _update_graded(text: str) -> list[str]:
    reasons = []
    if "still 502" not in text or "NOT FIXED" not in text:
        reasons.append("the updated verdict does not say the rollback was done and the service "
                       f"is still 502: {text[:300]}")
    if "*Next*" not in text or "`rollback`" in text.split("*Next*", 1)[-1]:
        reasons.append(f"the updated verdict does not propose other next sections: {text[:300]}")
    return reasons


def _again_by_hand(config_path: Path, incident_id: str) -> list[str]:
    """`runbook run rollback -p confirm true` in the same incident: the rollback already done
    is shown, not done again."""
    if not incident_id:
        return []
    done = subprocess.run(
        [sys.executable, "-m", "runbook.host.cli", "run", "rollback", "--incident", incident_id,
         "--config", str(config_path), "-p", "confirm", "true", "-p", "wait_seconds", "30"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if "not repeated" not in done.stdout:
        return ["running the rollback again by hand did not show it as already done: "
                + done.stdout[-400:]]
    return []


def _incident_graded(archive: Archive, config_path: Path, incident_id: str) -> list[str]:
    if not incident_id:
        return ["no incident was opened"]
    incident = IncidentLog(archive, incident_id).fold(**fold_options(load_config(config_path)))
    reasons = []
    if incident.state != OPEN:
        reasons.append(f"the incident is {incident.state}, not open")
    rollbacks = [a for a in incident.actions if a.name == "railway.rollback" and not a.dry_run]
    if not rollbacks or rollbacks[0].state != "done" or rollbacks[0].verified is not False:
        reasons.append("the incident's log does not hold the rollback as done and unverified: "
                       f"{[a.to_dict() for a in rollbacks]}")
    sections = [str(s["notebook"]) for s in views.next_of(incident)]
    if not sections or "rollback" in sections:
        reasons.append(f"the incident's next sections are {sections}: expected others than "
                       "the rollback")
    return reasons


register(Scenario(
    "rollback-no-fix", "the outage, met by runbook serve with a Slack app: the rollback "
    "succeeds at Railway but Dealix stays down; exactly one rollback, the incident stays open "
    "and the verdict proposes the next sections", "rollback", rollback_no_fix,
    expect_passing=("railway.rollback", "deploy.ok"), expect_failing=("health.down",),
    exercise=exercise_no_fix))
