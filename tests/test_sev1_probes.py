"""The SEV-1, api_404 and mitigation verdicts against the simulated target, without a kernel."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.findings import Finding, Status, failed
from runbook.drill.scenarios import sev1 as scenario
from runbook.drill.scenarios.sev1 import WRONG_START_COMMAND, crash, with_monitoring
from runbook.drill.target import Target, simulated_target
from runbook.sections import api_404, sev1_response
from runbook.sections.kit import mitigation

FAST = Timeouts(connect=1.0, read=0.5)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with simulated_target(tmp_path / "runs", probe_timeout=0.5) as target:
        yield target


def load(target: Target) -> Config:
    return parse_config(target.sections, target.workdir / "runbook.toml")


def statuses(findings: list[Finding]) -> dict[str, Status]:
    return {f.code: f.status for f in findings}


def test_healthy_everything_passes(target: Target) -> None:
    with_monitoring(target)
    with target.environment():
        report = sev1_response.investigate(load(target), FAST)
    assert statuses(report.findings) == {
        "health.ok": Status.PASS, "deploy.ok": Status.PASS, "deploy.not_recent": Status.PASS,
        "uptime.up": Status.PASS, "db.ok": Status.SKIPPED, "moyasar.ok": Status.PASS}
    assert not mitigation.recommend(report.findings).recommendations


def test_outage_sections(target: Target) -> None:
    with_monitoring(target)
    crash(target)
    with target.environment():
        report = sev1_response.investigate(load(target), FAST)
    assert {f.code for f in report.confirm if f.failed} == {"health.down"}
    assert [f.code for f in report.railway] == ["deploy.crashed"]
    [down] = report.uptime
    assert down.code == "uptime.down" and down.evidence["down_since"]
    assert [f.code for f in report.diagnose] == ["deploy.recent", "db.ok", "moyasar.ok"]
    assert report.deployment is not None and report.deployment.status == "CRASHED"
    assert mitigation.recommend(report.findings).notebook == "rollback"


@pytest.mark.parametrize("service,code", [("railway", "deploy.ok"),
                                           ("uptimerobot", "uptime.up"),
                                           ("moyasar", "moyasar.down")])
def test_one_hung_service_is_reported_not_waited_for(target: Target, service: str,
                                                      code: str) -> None:
    with_monitoring(target)
    target.servers[service].service.hang = True
    with target.environment():
        report = sev1_response.investigate(load(target), FAST)
    found = [f for f in report.findings if f.code == code]
    assert found and found[0].status in (Status.ERROR, Status.FAIL)
    assert "timeout" in found[0].summary
    assert statuses(report.findings)["health.ok"] is Status.PASS


def test_unconfigured_services_are_skipped(target: Target) -> None:
    with target.environment():
        report = sev1_response.investigate(load(target), FAST)
    skipped = {f.code for f in report.findings if f.status is Status.SKIPPED}
    assert skipped == {"deploy.ok", "uptime.up", "db.ok", "moyasar.ok"}
    assert all(f.summary for f in report.findings)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_db_url_from_railway_variables_refused(target: Target) -> None:
    handles = with_monitoring(target).railway_handles
    handles.dealix.variables["DATABASE_URL"] = \
        f"postgresql://postgres:pg-pass-9876@127.0.0.1:{_closed_port()}/railway"
    target.sections["database"] = {"url_env": "DRILL_DATABASE_URL_UNSET"}
    with target.environment():
        finding = sev1_response.check_db_connection(load(target), FAST)
    assert finding.code == "db.refused" and finding.status is Status.FAIL
    assert "Railway variables" in finding.evidence["source"]
    assert "pg-pass-9876" not in repr(finding)


def test_db_url_invalid(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILL_DATABASE_URL", "not-a-url")
    target.sections["database"] = {"url_env": "DRILL_DATABASE_URL"}
    finding = sev1_response.check_db_connection(load(target), FAST)
    assert finding.code == "db.url_invalid"
    assert finding.status is Status.FAIL


def test_api_404_report(target: Target) -> None:
    scenario.api_404(target)
    with target.environment():
        report = api_404.investigate(load(target), FAST)
    assert statuses(report.deploy) == {"deploy.ok": Status.PASS}
    [start] = report.start_command
    assert start.code == "deploy.start_command_wrong"
    assert start.evidence["start_command"] == WRONG_START_COMMAND and "/app/start.sh" in start.fix
    assert [(f.code, f.evidence["route"]) for f in report.routes] == [
        ("api.not_found", "public"), ("api.not_found", "protected")]
    assert "did not fail" in str(report.log_tail())
    assert mitigation.recommend(report.findings).notebook == "api_404"


def test_api_404_failed_deploy_shows_its_logs(target: Target) -> None:
    with_monitoring(target)
    crash(target)
    with target.environment():
        report = api_404.investigate(load(target), FAST)
    assert report.logs is not None
    assert "ModuleNotFoundError" in repr(report.logs)
    assert "ModuleNotFoundError" in report.logs._repr_html_()


def test_api_healthy_routes(target: Target) -> None:
    with_monitoring(target)
    with target.environment():
        report = api_404.investigate(load(target), FAST)
    assert [f.code for f in report.routes] == ["api.ok", "api.ok"]
    assert statuses(report.start_command) == {"deploy.start_command_ok": Status.PASS}


def test_mitigation_order_and_view() -> None:
    view = mitigation.recommend([failed("uptime.down", "x"), failed("db.refused", "y"),
                                 failed("deploy.start_command_wrong", "z")])
    assert [r.mitigation.notebook for r in view.recommendations] == \
        ["api_404", "db_refused", "rollback", "comms"]
    assert 'href="api_404.ipynb"' in view._repr_html_()
    assert repr(view).startswith("Recommended: Set Railway")
    assert mitigation.recommend([failed("errors.spike", "s")]).notebook == "error_spike"
    assert mitigation.recommend([failed("webhook.secret_mismatch", "w")]).notebook == \
        "webhook_401"
    assert "No mitigation" in repr(mitigation.recommend([]))
    assert mitigation.recommend([failed("moyasar.down", "m")]).notebook == "comms"
