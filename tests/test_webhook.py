"""The webhook secret: reading both copies, comparing them without revealing them, the live
probes against the simulated Dealix, and the guarded fix through the fake Railway."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from runbook.core.config import Config
from runbook.core.findings import Finding, Status
from runbook.core.redaction import fingerprint, registry
from runbook.drill.fakes.moyasar import DASHBOARD_SECRET_ENV, WEBHOOK_SECRET_ENV
from runbook.drill.fakes.server import FakeService, Request, Response, json_response
from runbook.drill.target import Target
from runbook.sections import webhook_401, webhook_401_fix
from runbook.sections.kit import actions, session
from runbook.sections.webhook_401 import DASHBOARD, RAILWAY_VARIABLE, SecretCopies, SecretCopy
from webhook_fixtures import APP_COPY, DASHBOARD_COPY, FAST, configure, rejecting, target

__all__ = ["rejecting", "target"]  # fixtures used by name

SECRET = "whsec_Zx81-canary-q7"


def copy(side: str, value: str | None, problem: str = "") -> SecretCopy:
    return SecretCopy(side, f"test {side}", value, problem)


def shows_no_value(finding: Finding, *values: str) -> None:
    text = json.dumps(finding.to_dict()) + repr(finding)
    for value in values:
        assert value.strip() not in text


# -- comparison -------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "issues"), [
    (SECRET, []),
    (SECRET + "\n", ["trailing newline"]),
    (SECRET + "\r\n", ["trailing newline", "trailing carriage return"]),
    ("  " + SECRET, ["leading spaces"]),
    (SECRET + " \n", ["trailing newline", "trailing space"]),
    (f'"{SECRET}"', ["surrounding quotes"]),
    (f"'{SECRET}'\n", ["trailing newline", "surrounding quotes"]),
])
def test_whitespace_is_described_never_shown(value: str, issues: list[str]) -> None:
    assert webhook_401.whitespace_issues(value) == issues
    assert webhook_401.normalized(value) == SECRET


def test_identical_copies_are_ok() -> None:
    finding = webhook_401.compare(copy("app", SECRET), copy(DASHBOARD, SECRET))
    assert (finding.code, finding.status) == ("webhook.ok", Status.PASS)
    assert finding.evidence["app"]["fingerprint"] == fingerprint(SECRET)
    assert finding.evidence["app"]["length"] == len(SECRET)
    shows_no_value(finding, SECRET)


def test_a_trailing_newline_on_railway_is_whitespace_and_says_which_side() -> None:
    finding = webhook_401.compare(copy("app", SECRET + "\n"), copy(DASHBOARD, SECRET))
    assert (finding.code, finding.status) == ("webhook.secret_whitespace", Status.FAIL)
    assert finding.evidence["app"]["whitespace"] == ["trailing newline"]
    assert finding.evidence["dashboard"]["whitespace"] == []
    assert "the app's copy has a trailing newline" in finding.summary
    assert "MOYASAR_WEBHOOK_SECRET" in finding.fix and "identical string" in finding.fix
    shows_no_value(finding, SECRET)


def test_quotes_on_the_dashboard_side_are_whitespace_too() -> None:
    finding = webhook_401.compare(copy("app", SECRET), copy(DASHBOARD, f'"{SECRET}" '))
    assert finding.code == "webhook.secret_whitespace"
    assert finding.evidence["dashboard"]["whitespace"] == ["trailing space",
                                                           "surrounding quotes"]


def test_different_copies_are_a_mismatch() -> None:
    other = "whsec_another-value-55"
    finding = webhook_401.compare(copy("app", SECRET), copy(DASHBOARD, other))
    assert (finding.code, finding.status) == ("webhook.secret_mismatch", Status.FAIL)
    assert fingerprint(SECRET) in finding.summary and fingerprint(other) in finding.summary
    shows_no_value(finding, SECRET, other)


@pytest.mark.parametrize("missing", ["app", DASHBOARD])
def test_an_unset_copy_is_missing(missing: str) -> None:
    app = copy("app", None if missing == "app" else SECRET)
    dashboard = copy(DASHBOARD, None if missing == DASHBOARD else SECRET)
    finding = webhook_401.compare(app, dashboard)
    assert (finding.code, finding.status) == ("webhook.secret_missing", Status.FAIL)
    assert f"the {missing}'s copy is not set" in finding.summary


def test_an_unreadable_copy_is_an_error_not_a_verdict() -> None:
    finding = webhook_401.compare(copy("app", None, "Railway refused the token"),
                              copy(DASHBOARD, SECRET))
    assert finding.status is Status.ERROR
    assert "Railway refused the token" in finding.summary


def test_a_copy_never_shows_its_value() -> None:
    both = SecretCopies(copy("app", SECRET + "\n"), copy(DASHBOARD, SECRET))
    assert SECRET not in repr(both) + both._repr_html_() + repr(both.app)
    assert fingerprint(SECRET) in repr(both)


# -- reading the copies -----------------------------------------------------------------------

def test_app_copy_comes_from_railway_then_the_env_var_wins(
        rejecting: tuple[Target, Config], monkeypatch: pytest.MonkeyPatch) -> None:
    _target, config = rejecting
    app = webhook_401.read_app_copy(config, FAST)
    assert app.value == APP_COPY and "Railway variable" in app.source
    assert registry().contains_secret(f"x {APP_COPY} y") == RAILWAY_VARIABLE
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "whsec_from-env-3141")
    app = webhook_401.read_app_copy(config, FAST)
    assert app.value == "whsec_from-env-3141" and app.source == f"${WEBHOOK_SECRET_ENV}"


def test_railway_refusing_the_token_is_a_problem_not_missing(
        rejecting: tuple[Target, Config], monkeypatch: pytest.MonkeyPatch) -> None:
    _target, config = rejecting
    monkeypatch.setenv(config.railway.token_env, "wrong-token-1234")
    app = webhook_401.read_app_copy(config, FAST)
    assert app.value is None and "Not Authorized" in app.problem


def test_typed_dashboard_copy_is_registered_and_wins(
        rejecting: tuple[Target, Config]) -> None:
    _target, config = rejecting
    assert webhook_401.read_dashboard_copy(config).value == DASHBOARD_COPY
    typed = "whsec_typed-by-hand-2718"
    message = webhook_401.provide_dashboard_secret(config, typed)
    assert typed not in message and fingerprint(typed) in message
    assert registry().contains_secret(typed) == DASHBOARD_SECRET_ENV
    dashboard = webhook_401.read_dashboard_copy(config)
    assert dashboard.value == typed and dashboard.source == "typed in this session"
    webhook_401.provide_dashboard_secret(config, "")
    assert webhook_401.read_dashboard_copy(config).value == DASHBOARD_COPY


def test_password_widget_hands_the_value_over_and_empties_itself(
        rejecting: tuple[Target, Config]) -> None:
    _target, config = rejecting
    box_widget = webhook_401.dashboard_secret_widget(config)
    row, status = box_widget.children
    password, button = row.children
    password.value = "whsec_typed-in-widget-99"
    button.click()
    assert password.value == ""
    assert "whsec_typed-in-widget-99" not in status.value
    assert webhook_401.read_dashboard_copy(config).value == "whsec_typed-in-widget-99"


# -- the simulated endpoint answers exactly like Dealix --------------------------------------

def test_simulated_webhook_answers_like_the_real_app(target: Target) -> None:
    target.app.state.webhook_secret = SECRET
    url = target.app_server.url + "/api/v1/webhooks/moyasar"
    event = webhook_401.verification_event(SECRET)
    with httpx.Client(trust_env=False) as http:
        bad_json = http.post(url, content=b"{not json",
                             headers={"Content-Type": "application/json"})
        wrong = http.post(url, json=webhook_401.verification_event("whsec_wrong-one"))
        no_token = http.post(url, json={k: v for k, v in event.items() if k != "secret_token"})
        newline = http.post(url, json=webhook_401.verification_event(SECRET + "\n"))
        first = http.post(url, json=event)
        again = http.post(url, json=event)
        target.app.state.webhook_secret = None
        unset = http.post(url, json=webhook_401.verification_event(SECRET))
    assert (bad_json.status_code, bad_json.json()) == (400, {"detail": "invalid_json"})
    for rejected in (wrong, no_token, newline, unset):
        assert (rejected.status_code, rejected.json()) == (401, {"detail": "bad_signature"})
    assert (first.status_code, first.json()) == (200, {"status": "ok", "event_id": event["id"]})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate", "id": event["id"]})


# -- live proof -------------------------------------------------------------------------------

def by_code(findings: list[Finding]) -> dict[str, Finding]:
    return {f.code: f for f in findings}


def test_live_proof_of_a_mismatch(rejecting: tuple[Target, Config]) -> None:
    target, config = rejecting
    copies = webhook_401.read_copies(config, FAST)
    found = by_code(webhook_401.prove_live(config, FAST, copies))
    assert found["webhook.endpoint_checks"].status is Status.PASS
    assert found["webhook.app_copy_accepted"].status is Status.PASS
    assert found["webhook.dashboard_copy_accepted"].status is Status.FAIL
    assert "webhook.app_stale" not in found
    # Three POSTs to the app, none anywhere else.
    assert len(target.app.seen("POST", "/api/v1/webhooks/moyasar")) == 3
    assert not target.extras["moyasar"].seen("POST")
    for finding in found.values():
        shows_no_value(finding, APP_COPY, DASHBOARD_COPY)


def test_app_stale_when_railway_is_right_but_the_app_was_not_redeployed(
        rejecting: tuple[Target, Config]) -> None:
    target, config = rejecting
    target.extras["railway"].dealix.variables[RAILWAY_VARIABLE] = DASHBOARD_COPY
    copies = webhook_401.read_copies(config, FAST)
    assert webhook_401.compare(copies.app, copies.dashboard).code == "webhook.ok"
    found = by_code(webhook_401.prove_live(config, FAST, copies))
    stale = found["webhook.app_stale"]
    assert stale.status is Status.FAIL and "Redeploy" in stale.fix
    assert found["webhook.endpoint_checks"].status is Status.PASS


class AcceptsAnything(FakeService):
    name = "careless"

    def handle(self, request: Request) -> Response:
        return json_response({"status": "ok"})


def test_an_endpoint_that_accepts_a_random_token_fails(
        target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    careless = target.serve(AcceptsAnything())
    target.sections["service"]["base_url"] = careless.url
    config = configure(target, monkeypatch)
    finding = webhook_401.probe_random(config, FAST)
    assert (finding.code, finding.status) == ("webhook.endpoint_checks", Status.FAIL)
    assert "ACCEPTED a random token" in finding.summary


def test_an_endpoint_that_is_down_is_an_error(target: Target,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    target.app.state.up = False
    finding = webhook_401.probe_random(configure(target, monkeypatch), FAST)
    assert finding.status is Status.ERROR and "502" in finding.summary


# -- the fix ----------------------------------------------------------------------------------

def open_session(config_path: Path) -> session.Session:
    return session.start("webhook_401", config_path=str(config_path))


def test_fix_is_a_recorded_dry_run_by_default(rejecting: tuple[Target, Config]) -> None:
    target, config = rejecting
    rb = open_session(config.path)
    copies = webhook_401.read_copies(config, FAST)
    plan = webhook_401_fix.plan_fix(config, FAST, copies)
    assert not plan.blocked and fingerprint(DASHBOARD_COPY) in plan.plan
    result = actions.run(rb, plan, confirm=False)
    assert result.status == actions.DRY_RUN
    assert target.extras["railway"].fake.mutation_names() == []
    (entry,) = rb.actions
    assert (entry["name"], entry["dry_run"], entry["target"]) == (
        "railway.variable_upsert", True, "MOYASAR_WEBHOOK_SECRET")
    saved = json.dumps(entry) + repr(result) + result._repr_html_()
    assert APP_COPY not in saved and DASHBOARD_COPY not in saved


def test_confirmed_fix_sets_the_variable_and_the_app_then_accepts(
        rejecting: tuple[Target, Config]) -> None:
    target, config = rejecting
    rb = open_session(config.path)
    copies = webhook_401.read_copies(config, FAST)
    plan = webhook_401_fix.plan_fix(config, FAST, copies, wait_seconds=5,
                                poll_seconds=0.2)
    result = actions.run(rb, plan, confirm=True)
    assert result.status == actions.SUCCEEDED, repr(result)
    assert target.extras["railway"].dealix.variables[RAILWAY_VARIABLE] == DASHBOARD_COPY
    assert target.extras["railway"].fake.mutation_names() == ["variableUpsert"]
    assert any(f.code == "webhook.ok" and f.status is Status.PASS for f in rb.findings)
    (entry,) = rb.actions
    assert entry["dry_run"] is False and entry["status"] == "succeeded"
    assert DASHBOARD_COPY not in json.dumps(entry)
    # After the fix both copies agree, so planning again finds nothing to do.
    again = webhook_401_fix.plan_fix(config, FAST,
                                 webhook_401.read_copies(config, FAST))
    assert again.blocked.startswith("not needed")


def test_fix_without_a_redeploy_ends_in_app_stale(rejecting: tuple[Target, Config]) -> None:
    target, config = rejecting
    target.extras["railway"].fake.on_mutation.clear()  # the app never picks the value up
    rb = open_session(config.path)
    copies = webhook_401.read_copies(config, FAST)
    plan = webhook_401_fix.plan_fix(config, FAST, copies, wait_seconds=0.6,
                                poll_seconds=0.2)
    result = actions.run(rb, plan, confirm=True)
    assert result.status == actions.FAILED
    assert any(f.code == "webhook.app_stale" and f.status is Status.FAIL for f in rb.findings)


def test_fix_is_blocked_without_the_dashboard_copy(rejecting: tuple[Target, Config],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _target, config = rejecting
    monkeypatch.delenv(DASHBOARD_SECRET_ENV)
    copies = webhook_401.read_copies(config, FAST)
    plan = webhook_401_fix.plan_fix(config, FAST, copies)
    assert "dashboard's copy is not known" in plan.blocked


def test_wait_until_accepted_gives_up_after_the_wait(rejecting: tuple[Target, Config]) -> None:
    _target, config = rejecting
    ticks = iter(range(100))
    accepted, answer, waited = webhook_401_fix.wait_until_accepted(
        config, FAST, DASHBOARD_COPY, wait_seconds=3, poll_seconds=1,
        clock=lambda: float(next(ticks)), sleep=lambda _s: None)
    assert not accepted and answer.startswith("401") and waited <= 3
