"""`runbook serve` on the `alert-outage` drill: how long from an alert's POST to the Slack
message, and how many runs a storm of alerts starts.

The serve process, the simulated Dealix in its outage and the fake Slack are the drill's, so
each alert runs the real `sev1_response` headless against the real fakes and a real Postgres.
Between two timed alerts the monitor's "up" closes the incident, so the next "down" opens a
new one and runs again.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import Figure, at_most, median
from runbook.core.redaction import registry
from runbook.drill.fakes.slack import FakeSlack, with_slack_app
from runbook.drill.fakes.uptimerobot import FakeMonitor, alert_variables, deliver_alert
from runbook.drill.scenarios.alerts import RESPONDER, TOKEN_ENV, ServeProcess, alert_outage
from runbook.drill.target import simulated_target


@dataclass
class Served:
    url: str                  # the UptimeRobot alert URL, token included
    health: str
    slack: FakeSlack
    monitor: FakeMonitor
    base: str = ""            # serve's own URL
    pid: int = 0              # serve's process

    def messages(self) -> int:
        """Verdicts at the fake Slack: webhook posts and the Slack app's messages."""
        return len(self.slack.state.posted) + len(self.slack.state.messages)


@contextlib.contextmanager
def served(app: bool = False) -> Iterator[Served]:
    """The alert-outage drill served; with `app`, the fake Slack is a Slack app too (so
    /slack/actions verifies presses)."""
    with contextlib.ExitStack() as stack:
        runs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        target = stack.enter_context(simulated_target(runs))
        alert_outage(target)
        if app:
            with_slack_app(target, [RESPONDER])
        config_path = target.write_config()
        stack.enter_context(target.environment())
        stack.callback(registry().clear)
        serve = ServeProcess(config_path)
        stack.callback(serve.stop)
        if not serve.ready.wait(60) or not serve.url:
            raise RuntimeError("runbook serve did not start: " + "".join(serve.lines[-5:]))
        yield Served(f"{serve.url}/alerts/uptimerobot?token={target.env[TOKEN_ENV]}",
                     f"{serve.url}/healthz", target.extras["slack"],
                     target.extras["uptimerobot"].monitors[0], serve.url,
                     serve.process.pid)


def _wait(predicate: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.02)
    return False


def _idle(health: str) -> bool:
    with httpx.Client(timeout=5, trust_env=False) as http:
        state = http.get(health).json()
    return bool(state["runs_in_flight"] == 0 and state["queue_depth"] == 0)


def alert_to_slack_s(repeats: int = 5) -> Figure:
    seconds: list[float] = []
    # A world per repeat: an outage's incident closes only when its monitor recovers *and* a
    # health check then passes, which the drill's broken app never gives, so a second alert
    # in the same world joins the open incident (no new run, no new verdict).
    for _ in range(repeats):
        with served() as world:
            started = time.perf_counter()
            status = deliver_alert(world.url, alert_variables(world.monitor, 1,
                                                              "HTTP 502 - Bad Gateway"))
            if status != 202 or not _wait(lambda w=world: bool(w.slack.state.posted), 120):
                raise RuntimeError(f"no Slack message for the alert (HTTP {status})")
            seconds.append(time.perf_counter() - started)
    value = median(seconds)
    return at_most("alert_to_slack_s", value, 5.0, "s",
                   bound="A fresh `runbook run` per alert: Python and a kernel start, then the "
                         "SEV-1 probes against the drill (most of it is the kernel).",
                   detail={"seconds": [round(s, 2) for s in seconds], "repeats": repeats})


def alert_storm(alerts: int = 200, over_seconds: float = 10.0) -> Figure:
    with served() as world:
        variables = alert_variables(world.monitor, 1, "HTTP 502 - Bad Gateway")
        started = time.perf_counter()

        def one(index: int) -> int:
            # Spread over the window as a flapping monitor and its retries would be.
            delay = started + index * over_seconds / alerts - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            return deliver_alert(world.url, variables)

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(one, range(alerts)))
        _wait(lambda: world.slack.state.posted and _idle(world.health), 120)
        with httpx.Client(timeout=5, trust_env=False) as http:
            state = http.get(world.health).json()
        runs = float(state["counters"]["runs_started"])
        return at_most("alert_storm", runs, 1, "runs",
                       bound="Alerts within the incident window join the open incident; a "
                             "notebook runs once per incident until the rerun interval.",
                       detail={"alerts": alerts, "over_seconds": over_seconds,
                               "accepted": sum(1 for a in answers if a == 202),
                               "slack_messages": len(world.slack.state.posted)})
