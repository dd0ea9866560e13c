"""At serve: an incident closes only for its own signal (its monitor's "up", then /healthz
passing), other recoveries are kept and close nothing, and the same signal alerting again soon
after reopens the incident instead of opening a second one. The dispatcher runs in-process
against a real Dealix simulator on loopback; no run is started (the worker is not)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from runbook.archive.record import Archive
from runbook.core import clock
from runbook.core.config import load_config
from runbook.drill.fakes.dealix import DealixApp
from runbook.drill.fakes.server import LoopbackServer
from runbook.host.serve import alerts
from runbook.host.serve.dispatch import Dispatcher
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.slack import SlackPost
from runbook.incident.log import IncidentLog


@pytest.fixture
def dealix() -> Iterator[tuple[DealixApp, str]]:
    app = DealixApp()
    with LoopbackServer(app) as server:
        yield app, server.url


def _dispatcher(tmp_path: Path, base_url: str) -> tuple[Dispatcher, Archive]:
    config_path = tmp_path / "runbook.toml"
    config_path.write_text(f'[service]\nname = "dealix"\nbase_url = "{base_url}"\n\n'
                           '[probes]\nconnect_timeout = 1\nread_timeout = 1\n\n'
                           '[serve]\nreopen_window_minutes = 30\n')
    archive = Archive(tmp_path / "runs")
    book = IncidentBook(archive, timedelta(minutes=30))
    dispatcher = Dispatcher(load_config(config_path), book, {},
                            post=lambda text: SlackPost(True, 1))
    return dispatcher, archive


def _uptime(alert_type: int, monitor: str = "777", name: str = "Dealix API"
            ) -> alerts.Alert:
    return alerts.parse_uptimerobot({
        "monitorID": monitor, "monitorFriendlyName": name, "alertType": str(alert_type),
        "alertDetails": "HTTP 502" if alert_type == 1 else "HTTP 200",
        "alertDateTime": str(int(time.time()))}, clock.now())


def _sentry_resolved() -> alerts.Alert:
    body = (b'{"action": "resolved", "data": {"metric_alert": {"alert_rule": '
            b'{"name": "Error rate"}}, "description_title": "Error rate back to normal"}}')
    return alerts.parse_sentry("metric_alert", body, clock.now())


def _state(archive: Archive, incident: str) -> str:
    return IncidentLog(archive, incident).fold().state


def _wait_for_check(archive: Archive, incident: str, count: int = 1) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sum(e.kind == "check.observed"
               for e in IncidentLog(archive, incident).events()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no health check was recorded")


def test_other_recoveries_leave_the_outage_open(tmp_path: Path,
                                                dealix: tuple[DealixApp, str]) -> None:
    dispatcher, archive = _dispatcher(tmp_path, dealix[1])
    incident = dispatcher.submit(_uptime(1)).incident_id
    assert incident
    other = dispatcher.submit(_uptime(2, monitor="999", name="Marketing site"))
    sentry = dispatcher.submit(_sentry_resolved())
    assert (other.outcome, other.incident_id) == ("recorded", incident)
    assert (sentry.outcome, sentry.incident_id) == ("recorded", incident)
    assert _state(archive, incident) == "open"
    kinds = [e.kind for e in IncidentLog(archive, incident).events()]
    assert kinds.count("signal.recovered") == 2          # kept as evidence
    # The outage's next alert joins the same incident.
    assert dispatcher.submit(_uptime(1)).incident_id == incident


def test_its_own_up_and_a_passing_check_resolve_it(tmp_path: Path,
                                                   dealix: tuple[DealixApp, str]) -> None:
    app, url = dealix
    dispatcher, archive = _dispatcher(tmp_path, url)
    incident = dispatcher.submit(_uptime(1)).incident_id
    assert incident
    app.state.up = False                          # the monitor says up, /healthz still 502
    assert dispatcher.submit(_uptime(2)).outcome == "recovered"
    _wait_for_check(archive, incident)
    assert _state(archive, incident) == "open"
    app.state.up = True
    dispatcher.submit(_uptime(2))
    _wait_for_check(archive, incident, 2)
    state = IncidentLog(archive, incident).fold()
    assert state.state == "resolved" and state.resolved_at is not None
    # Down again within the reopen window: the same incident, reopened.
    again = dispatcher.submit(_uptime(1))
    assert again.incident_id == incident
    state = IncidentLog(archive, incident).fold()
    assert state.state == "open" and state.reopened == 1
    assert archive.incidents() == [incident]


def test_a_down_alert_from_another_monitor_joins_but_does_not_own(
        tmp_path: Path, dealix: tuple[DealixApp, str]) -> None:
    dispatcher, archive = _dispatcher(tmp_path, dealix[1])
    incident = dispatcher.submit(_uptime(1)).incident_id
    assert incident
    assert dispatcher.submit(_uptime(1, monitor="999")).incident_id == incident
    assert IncidentLog(archive, incident).fold().signal == "uptimerobot:777"
