"""Slack buttons on serve's verdict, pressed for real over HTTP: a real `runbook serve`
(uvicorn on 127.0.0.1) against the drill's outage, its fake Railway (which counts mutations)
and its fake Slack app (which signs presses and receives chat.update and response_url calls).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from blockkit import validate_blocks
from conftest import incident_events, run_cli
from runbook.archive import record as records
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import parse_config
from runbook.core.errors import ConfigError
from runbook.drill.fakes.railway import RailwayHandles
from runbook.drill.fakes.slack import AppMessage, FakeSlack
from runbook.drill.fakes.uptimerobot import FakeUptimeRobot, alert_variables
from runbook.drill.scenarios.alerts import (
    RESPONDER,
    TOKEN_ENV,
    ServeProcess,
    alert_outage_rollback,
)
from runbook.drill.target import Target, simulated_target
from runbook.host.serve.plans import Plan, stale_reason
from runbook.host.serve.verdict import UUID, local_time
from runbook.incident.log import IncidentLog
from runbook.sections.postmortem.history import load_history

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
OTHER_RESPONDER = "U0DEALIXNORA"
STRANGER = "U0SOMEONE"


@dataclass
class Pressing:
    target: Target
    serve: ServeProcess
    slack: FakeSlack
    railway: RailwayHandles
    message: AppMessage
    incident_id: str
    archive: records.Archive
    shown: list[dict[str, Any]]      # the verdict's buttons as first posted (a press removes them)

    @property
    def actions_url(self) -> str:
        return f"{self.serve.url}/slack/actions"

    def button(self, label_start: str) -> dict[str, Any]:
        return next(b for b in self.shown
                    if str(b["text"]["text"]).startswith(label_start))

    def press(self, label_start: str = "Roll back", user: str = RESPONDER,
              **kwargs: Any) -> httpx.Response:
        return self.slack.press(self.actions_url, self.message, self.button(label_start), user,
                                **kwargs)

    def mutations(self) -> list[str]:
        return self.railway.fake.mutation_names()

    def presses(self) -> list[dict[str, Any]]:
        return [e for e in incident_events(self.archive, self.incident_id)
                if e["event"] == "press"]

    def ephemeral(self) -> list[dict[str, Any]]:
        return [r for r in self.slack.responses() if r.get("response_type") == "ephemeral"]

    def up_alert(self) -> None:
        uptime: FakeUptimeRobot = self.target.extras["uptimerobot"]
        self._alert(alert_variables(uptime.monitors[0], 2, "HTTP 200 - OK"))

    def _alert(self, variables: dict[str, str]) -> httpx.Response:
        url = f"{self.serve.url}/alerts/uptimerobot?token={self.target.env[TOKEN_ENV]}"
        with httpx.Client(timeout=10, trust_env=False) as http:
            return http.post(httpx.URL(url).copy_merge_params(variables))


def _wait(predicate: Any, timeout: float = 90.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def pressing(runs_dir: Path, **slack: Any) -> Iterator[Pressing]:
    """The outage, serve with a Slack app, the down alert, and the verdict with its buttons."""
    with simulated_target(runs_dir) as target:
        alert_outage_rollback(target)
        target.sections["slack"]["responders"] = [RESPONDER, OTHER_RESPONDER]
        target.sections["slack"].update(slack)
        config_path = target.write_config()
        with target.environment():
            serve = ServeProcess(config_path)
            try:
                assert serve.ready.wait(60) and serve.url, "".join(serve.lines)
                fake: FakeSlack = target.extras["slack"]
                uptime: FakeUptimeRobot = target.extras["uptimerobot"]
                url = f"{serve.url}/alerts/uptimerobot?token={target.env[TOKEN_ENV]}"
                down = alert_variables(uptime.monitors[0], 1, "HTTP 502 - Bad Gateway")
                with httpx.Client(timeout=10, trust_env=False) as http:
                    first = http.post(httpx.URL(url).copy_merge_params(down))
                assert first.status_code == 202
                assert _wait(lambda: fake.state.messages), "".join(serve.lines)
                yield Pressing(target, serve, fake, target.extras["railway"],
                               fake.state.messages[0], first.json()["incident"],
                               records.Archive(runs_dir), fake.state.messages[0].buttons())
            finally:
                serve.stop()


def test_a_valid_press_rolls_back_once_and_updates_the_thread(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        shown = [b["text"]["text"] for b in p.message.buttons()]
        assert shown[-1] == "Acknowledge", shown      # the on-call loop's, after the plans
        labels = shown[:-1]
        assert [label.split()[0] for label in labels] == ["Roll", "Restart", "Redeploy"]
        assert all("commit" in label for label in labels), labels
        assert not p.slack.state.posted, "with a bot token the webhook is not used"
        started = time.monotonic()
        answer = p.press()
        assert answer.status_code == 200 and time.monotonic() - started < 3.0
        assert _wait(lambda: p.message.updates)
        time.sleep(1.5)   # room for a second mutation or update, which would be wrong
        assert p.mutations().count("deploymentRollback") == 1
        assert len(p.message.updates) == 1
        update = p.message.updates[0]
        assert "DONE" in update["text"] and "healthy for the" in update["text"]
        assert f"<@{RESPONDER}>" in update["text"]
        assert not any(b.get("type") == "actions" for b in update["blocks"])
        # What the press made untrue is gone; what was done and what is next is there.
        shown = json.dumps(update["blocks"])
        assert "nothing was rolled back" not in shown and "DONE" in shown
        assert "record.json" not in shown and "Mitigated at" in shown
        validate_blocks(update["blocks"])
        started_notes = [r for r in p.slack.responses() if "started" in r.get("text", "")]
        assert len(started_notes) == 1 and started_notes[0]["response_type"] == "in_channel"
        with httpx.Client(timeout=5, trust_env=False) as http:
            assert http.get(p.target.app_server.url + "/healthz").status_code == 200
        outcomes = [e["outcome"] for e in p.presses()]
        assert outcomes == ["started", "done"]
        runs = [r for r in records.list_runs(p.archive, p.incident_id)
                if r.notebook == "rollback"]
        assert len(runs) == 1
        record = records.read_record(p.archive.root / runs[0].run / "record.json")
        assert record["parameters"]["actor"] == RESPONDER
        done = [a for a in record["actions"] if a["name"] == "railway.rollback"]
        assert done[0]["status"] == "succeeded" and done[0]["actor"] == RESPONDER
        timeline = [e for e in load_history(p.archive, p.incident_id).events
                    if e.kind == "action" and e.code == "railway.rollback"]
        assert [e.title for e in timeline] == [f"Action `railway.rollback` by {RESPONDER}"]
        assert timeline[0].status == "succeeded" and "Active" in timeline[0].detail


def test_forged_replayed_and_stranger_presses_change_nothing(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        assert p.press(secret="not-the-signing-secret").status_code == 401
        assert p.press(timestamp=time.time() - 301).status_code == 401
        stranger = p.press(user=STRANGER)
        assert stranger.status_code == 200
        assert _wait(lambda: p.ephemeral())
        time.sleep(1.0)
        assert p.mutations() == []
        assert p.message.updates == []
        refusal = p.ephemeral()[0]["text"]
        assert "allow-list" in refusal and "Nothing was done" in refusal
        (event,) = p.presses()
        assert event["user"] == STRANGER and event["outcome"] == "refused"
        assert "responders" in event["reason"]
        with httpx.Client(timeout=5, trust_env=False) as http:
            assert http.get(p.target.app_server.url + "/healthz").status_code == 502


def test_a_double_press_gives_one_mutation(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda _: p.press(), range(2)))
        assert [a.status_code for a in answers] == [200, 200]
        assert _wait(lambda: p.message.updates)
        assert p.press().status_code == 200          # and once more, after it is done
        assert _wait(lambda: len(p.ephemeral()) == 2)
        time.sleep(1.0)
        assert p.mutations().count("deploymentRollback") == 1
        assert len(p.message.updates) == 1
        assert [e["outcome"] for e in p.presses()].count("refused") == 2


def test_two_users_at_once_give_one_mutation(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        users = [RESPONDER, OTHER_RESPONDER]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda user: p.press(user=user), users))
        assert [a.status_code for a in answers] == [200, 200]
        assert _wait(lambda: p.message.updates) and _wait(lambda: p.ephemeral())
        time.sleep(1.0)
        assert len(p.mutations()) == 1 and p.mutations() == ["deploymentRollback"]
        presses = p.presses()
        assert {e["user"] for e in presses} == set(users)
        assert [e["outcome"] for e in presses].count("refused") == 1


def test_a_stale_plan_is_refused_and_a_fresh_one_offered(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        handles = p.railway
        handles.fake.add_deployment(handles.dealix.id, "CRASHED", commit_hash="ab" * 20,
                                    commit_message="Another hotfix attempt")
        assert p.press().status_code == 200
        assert _wait(lambda: p.ephemeral())
        refusal = p.ephemeral()[0]
        assert "no longer the latest" in refusal["text"]
        assert p.mutations() == []
        fresh = next(b for block in refusal["blocks"] if block["type"] == "actions"
                     for b in block["elements"])
        assert fresh["value"] != p.button("Roll back")["value"]
        answer = p.slack.press(p.actions_url, p.message, fresh, RESPONDER)
        assert answer.status_code == 200
        assert _wait(lambda: p.message.updates)
        assert p.mutations() == ["deploymentRollback"]
        assert "DONE" in p.message.updates[0]["text"]


def test_a_press_after_the_incident_closed_is_refused(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        # Its own monitor says up and /healthz passes: the incident resolves.
        p.target.app.state.up = True
        p.up_alert()
        assert _wait(lambda: IncidentLog(p.archive, p.incident_id).fold().state == "resolved")
        assert p.press().status_code == 200
        assert _wait(lambda: p.ephemeral())
        assert "incident is closed" in p.ephemeral()[0]["text"]
        time.sleep(0.5)
        assert p.mutations() == []


def test_an_old_plan_is_stale(tmp_path: Path) -> None:
    config = parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
                           "slack": {"plan_max_age_minutes": 15}}, tmp_path / "runbook.toml")
    made = clock.now() - timedelta(minutes=16)
    plan = Plan("0123456789ab", "inc-1", "rollback", "rollback", {}, "Roll back", "", "",
                made)
    reason = stale_reason(config, Timeouts(), plan, False, clock.now())
    assert "more than 15 minutes ago" in reason
    assert stale_reason(config, Timeouts(), plan, False, made) == ""
    assert "closed" in stale_reason(config, Timeouts(), plan, True, made)


def test_the_slack_app_keys_are_validated(tmp_path: Path) -> None:
    base = {"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"}}
    ok = parse_config({**base, "slack": {"responders": ["U0DEALIXSAMI", "W012ABC"]}},
                      tmp_path / "runbook.toml")
    assert ok.slack is not None and ok.slack.api_url == "https://slack.com/api"
    assert "SLACK_BOT_TOKEN" in ok.secret_env_names()
    assert "SLACK_SIGNING_SECRET" in ok.secret_env_names()
    for bad in ({"responders": ["sami"]}, {"api_url": "slack.com"},
                {"signing_secret_env": "xoxb-123-abc"}, {"plan_max_age_minutes": 0}):
        with pytest.raises(ConfigError):
            parse_config({**base, "slack": bad}, tmp_path / "runbook.toml")


def test_an_edited_plan_in_the_log_is_refused_at_press_time(runs_dir: Path) -> None:
    with pressing(runs_dir) as p:
        log = runs_dir / p.incident_id / "log.jsonl"
        assert _wait(lambda: b'"plan.offered"' in log.read_bytes())
        lines = log.read_bytes().splitlines(keepends=True)
        plan = next(i for i, line in enumerate(lines) if b'"plan.offered"' in line
                    and b'"kind":"rollback"' in line)
        # Someone points the Roll back plan at another deployment, hashes and all left be.
        data = json.loads(lines[plan])
        data["body"]["parameters"]["deployment_id"] = "00000000-evil-0000-0000-000000000000"
        lines[plan] = (json.dumps(data, separators=(",", ":"), ensure_ascii=False)
                       + "\n").encode()
        log.write_bytes(b"".join(lines))
        assert p.press().status_code == 200
        assert _wait(lambda: p.ephemeral())
        assert "no longer matches" in p.ephemeral()[0]["text"]
        time.sleep(0.5)
        assert p.mutations() == []
    verified = run_cli("verify", p.incident_id)
    assert verified.returncode == 1 and "log.jsonl" in verified.stdout


def _texts(value: Any) -> list[str]:
    """Every text a person reads in blocks (not ids, values or styles)."""
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for k, v in value.items() if k not in ("value", "action_id")
                        for t in _texts(v)]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


def test_the_verdict_reads_in_five_seconds(runs_dir: Path) -> None:
    """SEV, service and what is broken first, counted from the monitor's down-since; what
    changed (the last deploy's commit message and author); one primary button; Block Kit;
    no server path and no full UUID."""
    with pressing(runs_dir) as p:
        blocks = p.message.blocks
        validate_blocks(blocks)
        config = parse_config({"service": {"name": "x", "base_url": "http://127.0.0.1:9"}},
                              Path("runbook.toml"))
        incident = IncidentLog(p.archive, p.incident_id).fold()
        assert incident.started_at is not None and "down" in incident.start_source  # the monitor
        head = blocks[0]
        assert head["type"] == "header"
        line = head["text"]["text"]
        service = str(p.target.sections["service"]["name"])
        assert line.startswith(f"SEV-1 · {service} API down (502) since "
                               f"{local_time(incident.started_at, config)}"), line
        assert "left to mitigate" in line and "Riyadh" in line
        texts = _texts(blocks)
        shown = "\n".join(texts)
        assert "*What changed*" in shown
        assert "“Merge pull request #231 from dealix/async-lead-import” by Faisal Alharbi" in shown
        assert "min before impact" in shown and "Rollback target" in shown
        assert "CRASHED (it started, then crashed)" in shown
        buttons = p.message.buttons()
        assert [b.get("style") for b in buttons].count("primary") == 1
        assert buttons[0].get("style") == "primary"
        assert [b.get("style") for b in buttons].count("danger") <= 1
        assert not UUID.search(shown), UUID.search(shown)
        assert not re.search(r"(?<![\w:/.~-])(?:/[\w.@+-]+){2,}", shown), shown
        assert str(runs_dir) not in json.dumps(blocks)
        assert f"Incident `{p.incident_id}` · chain `" in shown
