"""What follows from what failed (the record's `next`, the Mitigate cell's list), and the
webhook's live proof: harmless, recognisable, one row per incident however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runbook.clients.transport import Timeouts
from runbook.core.config import Config, parse_config
from runbook.core.findings import Finding, Status, errored, failed, passed
from runbook.drill.fakes.dealix import AppState, DealixApp
from runbook.drill.fakes.server import FakeService, LoopbackServer, Request, Response
from runbook.host.serve import verdict
from runbook.sections import webhook_401
from runbook.sections.kit import mitigation

FAST = Timeouts(connect=0.5, read=1.0)
SECRET = "whsec_probe-check-0123456789"


def degraded(*failing: str) -> Finding:
    return failed("health.degraded", "deep check is degraded", failing=list(failing))


def sections(findings: list[Finding]) -> list[str]:
    return [s["notebook"] for s in mitigation.next_sections(findings)]


def test_degraded_goes_to_the_database_only_when_postgres_fails() -> None:
    assert sections([degraded("postgres")]) == ["db_refused"]
    assert sections([degraded("redis")]) == []
    assert sections([degraded("dlq", "llm_providers")]) == []
    view = mitigation.recommend([degraded("redis")])
    assert view.recommendations and "redis" in repr(view)


def test_a_wrong_app_goes_to_api_404_not_rollback_or_the_database() -> None:
    findings = [failed("health.wrong_app", "healthz 404"), failed("api.not_found", "404"),
                passed("deploy.ok", "SUCCESS")]
    assert sections(findings) == ["api_404"]
    assert mitigation.next_sections(findings) == [
        {"notebook": "api_404", "because": ["health.wrong_app", "api.not_found"]}]


def test_next_is_in_order_once_each_and_the_cell_shows_it() -> None:
    findings = [failed("health.down", "502"), failed("deploy.crashed", "CRASHED"),
                failed("db.refused", "refused")]
    nxt = mitigation.next_sections(findings)
    assert [s["notebook"] for s in nxt] == ["db_refused", "rollback", "comms"]
    assert nxt[1]["because"] == ["deploy.crashed", "health.down"]
    view = mitigation.recommend(findings)
    text, page = repr(view), view._repr_html_()
    assert text.splitlines()[-1].startswith("Open next: db_refused → rollback → comms") or \
        text.splitlines()[-1].startswith("Open next: db_refused (because")
    for section in nxt:
        assert section["notebook"] in text and f"{section['notebook']}.ipynb" in page
    assert mitigation.next_sections([passed("health.ok", "ok")]) == []


def test_the_slack_verdict_reads_the_same_next_and_lists_errors_apart() -> None:
    findings = [failed("deploy.crashed", "CRASHED"), errored("db.ok", "no answer"),
                failed("health.down", "502")]
    record = {"status": "completed", "severity": "SEV-1",
              "findings": [f.to_dict() for f in findings]}      # sealed before `next` was kept
    expected = [(s["notebook"], s["because"]) for s in mitigation.next_sections(findings)]
    assert verdict.next_sections(record) == expected
    assert [name for name, _ in expected] == ["rollback", "comms"]
    report = verdict.RunReport("inc-x", "sev1_response", "alert", Path("c.toml"), record,
                               Path("r.json"), 0)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    text = verdict.compose(report, None, now, config_for("http://127.0.0.1:9")).text
    failing, errors = text.split("Could not check")
    assert "• CRASHED" in failing and "no answer" not in failing     # plain words, no codes
    assert "no answer" in errors.split("*Next*")[0]
    assert "*Next*: `rollback`, `comms`" in text


def config_for(base_url: str) -> Config:
    return parse_config({"service": {"name": "dealix", "base_url": base_url}}, Path("t.toml"))


def copies(value: str = SECRET) -> webhook_401.SecretCopies:
    return webhook_401.SecretCopies(webhook_401.SecretCopy(webhook_401.APP, "$APP", value),
                                webhook_401.SecretCopy(webhook_401.DASHBOARD, "$DASH", value))


def test_the_probe_leaves_one_recognisable_row_per_incident() -> None:
    state = AppState(webhook_secret=SECRET)
    with LoopbackServer(DealixApp(state)) as server:
        config = config_for(server.url)
        first = webhook_401.prove_live(config, FAST, copies(), "inc-20261129-2200-abcd")
        again = webhook_401.prove_live(config, FAST, copies(), "inc-20261129-2200-abcd")
    for found in (first, again):
        by_code = {f.code: f for f in found}
        assert all(f.status is Status.PASS for f in found), found
        assert by_code["webhook.endpoint_checks"].status is Status.PASS
    outcomes = sorted(f.evidence.get("outcome", "") for f in first + again
                      if f.code.endswith("_copy_accepted"))
    assert outcomes == ["duplicate", "duplicate", "duplicate", "ok"]
    [row] = state.payment_events
    assert "runbook" in row.event_id and "inc-20261129-2200-abcd" in row.event_id
    assert row.event_type == webhook_401.PROBE_EVENT_TYPE
    assert not row.event_type.startswith("payment")
    assert row.payment_status is None          # no data.status: no receipt, invoice, alert
    assert state.side_effects == []


def test_another_incident_has_its_own_id() -> None:
    assert webhook_401.probe_event_id("inc-a") != webhook_401.probe_event_id("inc-b")
    event = webhook_401.verification_event("t", "inc-a")
    assert "status" not in event["data"] and event["id"] == webhook_401.probe_event_id("inc-a")


def test_dlq_counts_as_accepted() -> None:
    state = AppState(webhook_secret=SECRET, webhook_processing_fails=True)
    with LoopbackServer(DealixApp(state)) as server:
        found = webhook_401.prove_live(config_for(server.url), FAST, copies(), "inc-dlq")
    accepted = [f for f in found if f.code.endswith("_copy_accepted")]
    assert all(f.status is Status.PASS for f in accepted)
    assert "dlq" in {f.evidence.get("outcome") for f in accepted}


class Answers(FakeService):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def handle(self, request: Request) -> Response:
        return Response(self.status, "<html>nope</html>", {"Content-Type": "text/html"})


@pytest.mark.parametrize("status", [404, 501, 500, 503])
def test_404_501_and_5xx_are_not_dealix(status: int) -> None:
    with LoopbackServer(Answers(status)) as server:
        found = webhook_401.prove_live(config_for(server.url), FAST, copies(), "inc-x")
    for finding in found:
        assert finding.status is Status.FAIL, finding
        assert "not the Dealix API" in finding.summary
        assert finding.fix == webhook_401.FIX_NOT_API


def test_a_static_wrong_app_is_not_dealix() -> None:
    state = AppState(webhook_secret=SECRET, serves_api=False, other_app="static")
    with LoopbackServer(DealixApp(state)) as server:
        found = webhook_401.prove_live(config_for(server.url), FAST, copies(), "inc-x")
    assert {f.evidence["answer"][:3] for f in found} == {"501"}
    assert all(f.status is Status.FAIL for f in found)


def test_a_degraded_deep_check_that_names_nothing_is_not_the_database() -> None:
    assert sections([degraded()]) == []
    assert mitigation.recommend([degraded()]).recommendations
