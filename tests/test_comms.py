"""Slack, the customer email and the status page, each against a real server on loopback
(a fake Slack webhook, a fake Statuspage, a real SMTP server), and who to contact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from runbook.core.config import load_config, parse_config
from runbook.core.errors import BadInput
from runbook.core.findings import failed, passed
from runbook.drill.fakes.slack import FakeSlack
from runbook.drill.fakes.smtp import PASSWORD_ENV, LoopbackSMTP
from runbook.drill.fakes.statuspage import FakeStatuspage
from runbook.drill.scenarios.mitigate import comms_outage
from runbook.drill.target import Target, simulated_target
from runbook.host.runner import run_notebook
from runbook.incident import contacts
from runbook.sections import comms
from runbook.sections.kit import actions, session

# The loopback SMTP server takes a plain-text login on purpose; aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@dataclass
class Comms:
    target: Target
    config_path: Path

    @property
    def slack(self) -> FakeSlack:
        return self.target.extras["slack"]  # type: ignore[no-any-return]

    @property
    def smtp(self) -> LoopbackSMTP:
        return self.target.extras["smtp"]  # type: ignore[no-any-return]

    @property
    def statuspage(self) -> FakeStatuspage:
        return self.target.extras["statuspage"]  # type: ignore[no-any-return]

    def session(self, notebook: str = "comms", incident: str = "inc-comms") -> session.Session:
        rb = session.start(notebook, incident_id=incident, config_path=str(self.config_path))
        rb.report(failed("health.down", "healthz answered 502"))
        return rb


@pytest.fixture
def env(runs_dir: Path) -> Iterator[Comms]:
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        comms_outage(target)
        config_path = target.write_config()
        with target.environment():
            yield Comms(target, config_path)


# -- email ------------------------------------------------------------------------------

def test_the_arabic_email_arrives_byte_exact_and_once(env: Comms) -> None:
    rb = env.session()
    message = comms.customer_message("outage", 30)
    assert "سنحدثكم خلال 30 دقيقة." in message.arabic
    assert "within 30 minutes" in message.english
    dry = actions.run(rb, comms.email_action(rb, message))
    assert dry.status == actions.DRY_RUN and env.smtp.messages == []
    assert "2 recipient(s)" in dry.plan

    sent = actions.run(rb, comms.email_action(rb, message), confirm=True)
    assert sent.status == actions.SUCCEEDED, sent.summary
    (received,) = env.smtp.messages
    assert set(received.rcpt_tos) == {"customer1@example.com", "customer2@example.com"}
    email = received.message()
    assert "customer1@example.com" not in received.data.decode("ascii")  # envelope only
    assert email["Subject"] == message.subject
    plain = email.get_body(("plain",))
    rich = email.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content_charset() == "utf-8" and rich.get_content_charset() == "utf-8"
    assert plain.get_content() == message.text()
    assert rich.get_content() == message.html()
    assert '<div dir="rtl" lang="ar"' in rich.get_content()
    assert message.arabic.splitlines()[0] in plain.get_content()

    again = actions.run(env.session(), comms.email_action(rb, message), confirm=True)
    assert again.status == actions.ALREADY_DONE and len(env.smtp.messages) == 1


def test_smtp_login_refused_is_a_clear_finding(env: Comms,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    rb = env.session()
    result = actions.run(rb, comms.email_action(rb, comms.customer_message()), confirm=True)
    assert result.status == actions.FAILED
    finding = next(f for f in result.findings if f.code == "email.auth_failed")
    assert "refused the login" in finding.summary and PASSWORD_ENV in finding.fix
    assert "not-the-password" not in repr(result)
    assert env.smtp.messages == []


def test_recipients_from_csv_and_parameter(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Name,Email\nA,a@x.sa\nB,A@X.sa\nC,\nD,d@y.com\n", encoding="utf-8")
    assert comms.load_recipients(str(path), "e@z.io, d@y.com") == ["a@x.sa", "d@y.com",
                                                                   "e@z.io"]
    path.write_text("email\nnot-an-address\n")
    with pytest.raises(BadInput, match="line 2"):
        comms.load_recipients(str(path))
    path.write_text("mail\nx@y.z\n")
    with pytest.raises(BadInput, match="no `email` column"):
        comms.load_recipients(str(path))


# -- Slack ------------------------------------------------------------------------------

def test_slack_posts_once(env: Comms) -> None:
    rb = env.session()
    text = comms.slack_text(rb, kind="outage")
    assert "SEV-1" in text and "healthz answered 502" in text and "30 minutes" in text
    assert actions.run(rb, comms.slack_action(rb, text)).status == actions.DRY_RUN
    assert env.slack.state.posted == []
    assert actions.run(rb, comms.slack_action(rb, text), confirm=True).status == \
        actions.SUCCEEDED
    assert actions.run(rb, comms.slack_action(rb, text), confirm=True).status == \
        actions.ALREADY_DONE
    assert [p.payload["text"] for p in env.slack.state.posted] == [text]


def test_slack_no_service_is_a_clear_finding(env: Comms) -> None:
    env.slack.state.fault = "no_service"
    rb = env.session()
    result = actions.run(rb, comms.slack_action(rb, "x"), confirm=True)
    finding = next(f for f in result.findings if f.code == "slack.no_service")
    assert "no longer exists" in finding.summary and "$DRILL_SLACK_WEBHOOK_URL" in finding.fix
    assert env.slack.path not in repr(result)  # the webhook URL is a secret


def test_slack_429_waits_for_retry_after_or_reports_it(env: Comms) -> None:
    rb = env.session()
    env.slack.state.rate_limited, env.slack.state.retry_after = 1, 1
    assert actions.run(rb, comms.slack_action(rb, "x", "a"), confirm=True).ok
    env.slack.state.rate_limited, env.slack.state.retry_after = 1, 120
    result = actions.run(rb, comms.slack_action(rb, "x", "b"), confirm=True)
    finding = next(f for f in result.findings if f.code == "slack.rate_limited")
    assert "Retry-After 120s" in finding.summary
    assert len(env.slack.state.posted) == 1


# -- Statuspage -------------------------------------------------------------------------

def test_statuspage_create_then_each_step(env: Comms) -> None:
    rb = env.session(incident="inc-sp")
    assert actions.run(rb, comms.statuspage_action(rb, "investigating", "looking")).status == \
        actions.DRY_RUN
    assert env.statuspage.incidents == {}
    for status in ("investigating", "identified", "monitoring", "resolved"):
        result = actions.run(rb, comms.statuspage_action(rb, status, f"now {status}"),
                             confirm=True)
        assert result.status == actions.SUCCEEDED, result.summary
    (incident,) = env.statuspage.incidents.values()
    assert incident["status"] == "resolved" and incident["impact_override"] == "critical"
    assert [u["status"] for u in reversed(incident["incident_updates"])] == [
        "investigating", "identified", "monitoring", "resolved"]
    again = actions.run(rb, comms.statuspage_action(rb, "resolved", "x"), confirm=True)
    assert again.status == actions.ALREADY_DONE
    assert len(incident["incident_updates"]) == 4

    other = env.session(incident="inc-sp-2")
    for status in ("investigating", "monitoring"):
        assert actions.run(other, comms.statuspage_action(other, status, "x"),
                           confirm=True).status == actions.SUCCEEDED
    back = actions.run(other, comms.statuspage_action(other, "identified", "x"), confirm=True)
    assert back.status == actions.BLOCKED and "cannot go back" in back.summary


def test_statuspage_key_refused(env: Comms, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILL_STATUSPAGE_API_KEY", "wrong-key-0000")
    rb = env.session()
    result = actions.run(rb, comms.statuspage_action(rb, "investigating", "x"), confirm=True)
    assert any(f.code == "statuspage.auth_failed" for f in result.findings)


# -- routing by severity, and who to contact --------------------------------------------

def test_route_follows_the_sev_matrix(env: Comms) -> None:
    rb = session.start("comms", incident_id="inc-route", config_path=str(env.config_path))
    assert comms.route(rb).channels == ()
    rb.report(failed("api.not_found", "404"))
    sev2 = comms.route(rb)
    assert sev2.level == "SEV-2" and sev2.channels == ("slack", "statuspage")
    skipped = actions.run(rb, comms.email_action(rb, comms.customer_message(), chosen=sev2),
                          confirm=True)
    assert skipped.status == actions.BLOCKED and env.smtp.messages == []
    assert skipped.findings[0].status.value == "skipped"
    assert comms.route(rb, "email").channels == ("email",)


def test_who_to_call(tmp_path: Path) -> None:
    config = parse_config({
        "service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
        "contacts": [
            {"name": "Sami", "role": "founder", "issue": "backend", "phone": "+966",
             "verified": "2026-11-01"},
            {"name": "Moyasar support", "role": "payments", "issue": "payments",
             "verified": "2026-01-01"}]}, tmp_path / "x.toml")
    today = date(2026, 11, 20)
    view = contacts.who_to_call(config, [failed("health.down", "502"),
                                         failed("webhook.secret_mismatch", "401"),
                                         failed("db.dns_failed", "dns"),
                                         passed("api.ok", "fine")], today)
    assert [c.contact.name for c in view.calls] == ["Sami", "Moyasar support"]
    assert view.calls[0].stale == "" and "days ago" in view.calls[1].stale
    assert view.missing == ["hosting"]
    assert "Sami" in view._repr_html_() and "hosting" in repr(view)
    assert repr(contacts.who_to_call(config, [passed("health.ok", "ok")])).startswith("Nobody")


# -- the notebook, headless -------------------------------------------------------------

def test_comms_notebook_sends_the_arabic_email(runs_dir: Path) -> None:
    with simulated_target(runs_dir, probe_timeout=1.0) as target:
        comms_outage(target)
        config_path = target.write_config()
        with target.environment():
            result = run_notebook("comms", [("confirm", "true")], load_config(config_path),
                                  incident_id="inc-nb-comms", mode="drill")
        smtp: LoopbackSMTP = target.extras["smtp"]
        slack: FakeSlack = target.extras["slack"]
        messages = smtp.messages
        posted = list(slack.state.posted)
    assert result.status == "completed", result.error
    assert [a["status"] for a in result.record["actions"]] == ["succeeded", "succeeded",
                                                               "blocked"]
    assert len(messages) == 1 and len(posted) == 1
    body = messages[0].message().get_body(("plain",))
    assert body is not None
    assert comms.customer_message("outage", 30).arabic in body.get_content()
