"""The rules that decide what a responder is told, pinned at their edges: the severity matrix,
the sections to open next, who to call, and the four states of a finding.

Each test names a rule of the runbook and checks the cases where a slightly wrong rule would
give another answer (the boundary, the other kind, the other signal); `python3 bootstrap.py
mutate` measures that they would notice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runbook.core import findings as findings_module
from runbook.core.config import Config, parse_config
from runbook.core.errors import ServiceUnavailable
from runbook.core.findings import (
    Finding,
    Status,
    errored,
    failed,
    guarded,
    passed,
    skipped,
    worst,
)
from runbook.core.severity import SEVERITIES, format_delta, time_left
from runbook.incident import contacts, rules
from runbook.incident.rules import incident_severity, run_severity

# ---------------------------------------------------------------- the severity matrix

FULL_OUTAGE = ("health.down", "health.timeout", "deploy.crashed", "uptime.down")
MAJOR = ("api.not_found", "health.wrong_app", "health.deep_timeout", "deploy.failed",
         "deploy.start_command_wrong", "health.degraded", "webhook.secret_mismatch",
         "webhook.secret_whitespace", "webhook.secret_missing", "webhook.app_stale",
         "errors.spike", "errors.spike_after_deploy", "moyasar.down", "db.refused",
         "db.dns_failed")


def _level(findings: list[Finding]) -> str | None:
    severity = run_severity(findings)
    return severity.level if severity else None


@pytest.mark.parametrize("code", FULL_OUTAGE)
def test_each_full_outage_code_is_sev1_even_beside_a_major_one(code: str) -> None:
    assert _level([failed("api.not_found", ""), failed(code, "")]) == "SEV-1"
    assert _level([failed(code, ""), failed("api.not_found", "")]) == "SEV-1"


@pytest.mark.parametrize("code", MAJOR)
def test_each_major_code_is_sev2_and_not_sev1(code: str) -> None:
    assert _level([passed("health.ok", ""), failed(code, "")]) == "SEV-2"




@pytest.mark.parametrize("status", [Status.PASS, Status.ERROR, Status.SKIPPED])
def test_only_a_failing_finding_rates_a_run(status: Status) -> None:
    assert _level([Finding("health.down", status, ""), Finding("db.refused", status, ""),
                   Finding("other.thing", status, "")]) is None


def test_the_matrix_is_the_runbooks() -> None:
    rows = {level: (s.response_time, s.communication) for level, s in SEVERITIES.items()}
    assert rows == {
        "SEV-1": (timedelta(minutes=15), "Immediate Slack + email customers"),
        "SEV-2": (timedelta(hours=1), "Slack alert, status page update"),
        "SEV-3": (timedelta(hours=4), "Individual customer comms"),
        "SEV-4": (timedelta(hours=24), "Ticket only"),
    }


def test_the_deadline_is_the_start_plus_the_response_time() -> None:
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert SEVERITIES["SEV-2"].deadline(start) == start + timedelta(hours=1)
    assert time_left(SEVERITIES["SEV-1"], start, start) == timedelta(minutes=15)
    assert time_left(SEVERITIES["SEV-1"], start, start + timedelta(minutes=16)) == \
        timedelta(minutes=-1)


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0m 00s"), (1, "0m 01s"), (59, "0m 59s"), (60, "1m 00s"), (3599, "59m 59s"),
    (3600, "1h 00m"), (3661, "1h 01m"), (90061, "25h 01m"),
    (-1, "-0m 01s"), (-61, "-1m 01s"), (-3600, "-1h 00m"),
])
def test_format_delta_at_each_boundary(seconds: int, shown: str) -> None:
    assert format_delta(timedelta(seconds=seconds)) == shown


def test_an_incident_takes_its_worst_rated_run() -> None:
    assert incident_severity(["SEV-4", "SEV-2", "SEV-3"]) == SEVERITIES["SEV-2"]
    assert incident_severity(["SEV-4"]) == SEVERITIES["SEV-4"]
    assert incident_severity([None, SEVERITIES["SEV-3"], "SEV-9"]) == SEVERITIES["SEV-3"]


# ---------------------------------------------------------------- what to open next

def _sections(*found: Finding) -> list[dict[str, Any]]:
    return rules.next_sections(list(found))


def _degraded(*names: str) -> Finding:
    return failed("health.degraded", "deep check fails", failing=list(names))


def test_a_spike_after_a_deploy_is_a_rollback_not_the_plain_spike_section() -> None:
    assert _sections(failed("errors.spike_after_deploy", "")) == [
        {"notebook": "rollback", "because": ["errors.spike_after_deploy"]}]
    assert _sections(failed("errors.spike", "")) == [
        {"notebook": "error_spike", "because": ["errors.spike"]}]




def test_only_failing_findings_call_for_a_section() -> None:
    for status in (Status.PASS, Status.ERROR, Status.SKIPPED):
        assert _sections(Finding("health.down", status, ""), Finding("db.refused", status, "")
                         ) == []


def test_a_degraded_deep_check_goes_where_its_failing_dependency_says() -> None:
    postgres, redis = rules.MITIGATIONS[3], rules.MITIGATIONS[11]
    assert postgres.notebook == "db_refused" and redis.notebook == ""
    assert [m for m, _ in rules.mitigations([_degraded("postgres")])] == [postgres]
    assert [m for m, _ in rules.mitigations([_degraded("redis")])] == [redis]
    assert [m for m, _ in rules.mitigations([_degraded("redis", "postgres")])] == [postgres, redis]
    assert [m for m, _ in rules.mitigations([_degraded()])] == [redis]     # named none: read it
    assert [m for m, _ in rules.mitigations([failed("health.degraded", "")])] == [redis]
    assert _sections(_degraded("postgres")) == [
        {"notebook": "db_refused", "because": ["health.degraded"]}]
    assert _sections(_degraded("redis")) == []


def test_each_section_once_in_order_of_first_need_with_every_code_once() -> None:
    found = [failed("uptime.down", ""), failed("health.down", ""), failed("uptime.down", ""),
             failed("deploy.start_command_wrong", "")]
    assert _sections(*found) == [
        {"notebook": "api_404", "because": ["deploy.start_command_wrong"]},
        {"notebook": "rollback", "because": ["uptime.down", "health.down"]},
        {"notebook": "comms", "because": ["uptime.down", "health.down"]}]
    both = _sections(failed("deploy.failed", ""), failed("health.wrong_app", ""))
    assert both == [{"notebook": "api_404",
                     "because": ["health.wrong_app", "deploy.failed"]}]




# ---------------------------------------------------------------- who to call

def _config(tmp_path: Path, *entries: dict[str, str]) -> Config:
    return parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"},
                         "contacts": list(entries)}, tmp_path / "runbook.toml")


PEOPLE = (
    {"name": "Sami", "role": "founder", "issue": "backend", "phone": "+966 5", "channel": "#x",
     "verified": "2026-11-20"},
    {"name": "Moyasar support", "role": "payments", "issue": " Payments ",
     "verified": "2026-11-20"},
    {"name": "Registrar", "role": "dns", "issue": "dns", "verified": "2026-11-20"},
    {"name": "Railway support", "role": "hosting", "issue": "hosting",
     "verified": "2026-11-20"},
)
TODAY = date(2026, 11, 20)




def test_a_dns_failure_in_the_evidence_is_the_registrars() -> None:
    assert rules.issue_of(failed("health.down", "", failure="dns")) == "dns"
    assert rules.issue_of(failed("health.down", "", failure="refused")) == "backend"
    assert rules.issue_of(failed("moyasar.down", "", failure="dns")) == "payments"




def test_an_issue_nobody_covers_is_named_and_nobody_is_called_for_passes(
        tmp_path: Path) -> None:
    config = _config(tmp_path, PEOPLE[0])
    view = contacts.who_to_call(config, [failed("db.dns_failed", ""),
                                         failed("moyasar.down", "")], TODAY)
    assert view.calls == [] and view.missing == ["payments", "hosting"]
    text = repr(view)
    assert 'issue = "payments"' in text and 'issue = "hosting"' in text
    nobody = contacts.who_to_call(config, [passed("health.ok", "")], TODAY)
    assert nobody.calls == [] and nobody.missing == []
    assert repr(nobody) == "Nobody to call: no finding fails."
    assert "Nobody to call" in nobody._repr_html_()


def test_every_contact_for_an_issue_is_called(tmp_path: Path) -> None:
    deputy = {**PEOPLE[0], "name": "Deputy", "issue": "BACKEND"}
    view = contacts.who_to_call(_config(tmp_path, PEOPLE[0], deputy),
                                [failed("health.down", "")], TODAY)
    assert [c.contact.name for c in view.calls] == ["Sami", "Deputy"]


@pytest.mark.parametrize(("verified", "note"), [
    ("2026-10-20", ""),                                      # 31 days: within the month
    ("2026-10-19", "last confirmed 32 days ago: check the details"),
    ("2026-11-20", ""),
    ("", "never confirmed: check the details"),
    ("last week", "verified date 'last week' is not YYYY-MM-DD"),
])
def test_details_older_than_the_monthly_check_are_flagged(tmp_path: Path, verified: str,
                                                          note: str) -> None:
    contact = _config(tmp_path, {**PEOPLE[0], "verified": verified}).contacts[0]
    assert contacts.stale_note(contact, TODAY) == note




# ---------------------------------------------------------------- a finding's four states



def test_a_status_given_as_text_becomes_the_status() -> None:
    finding = Finding("a.b", "fail", "x")  # type: ignore[arg-type]
    assert finding.status is Status.FAIL and str(finding.status) == "fail"
    assert Finding("a.b", "skipped", "x").status is Status.SKIPPED  # type: ignore[arg-type]


@pytest.mark.parametrize(("make", "status"), [
    (passed, Status.PASS), (errored, Status.ERROR), (skipped, Status.SKIPPED)])
def test_each_maker_keeps_code_summary_and_evidence(make: Any, status: Status) -> None:
    finding = make("db.refused", "what was seen", port=5432)
    assert finding == Finding("db.refused", status, "what was seen", {"port": 5432})


def test_a_failure_keeps_its_fix() -> None:
    finding = failed("db.refused", "refused", "fix DATABASE_URL", port=5432)
    assert finding == Finding("db.refused", Status.FAIL, "refused", {"port": 5432},
                              "fix DATABASE_URL")
    assert finding.to_dict() == {"code": "db.refused", "status": "fail",
                                 "summary": "refused", "evidence": {"port": 5432},
                                 "fix": "fix DATABASE_URL"}
    assert "fix" not in passed("db.ok", "fine").to_dict()
    assert failed("db.refused", "refused").fix == ""
    assert "fix" not in failed("db.refused", "refused").to_dict()


def test_a_record_without_the_optional_fields_reads_back_empty() -> None:
    finding = Finding.from_dict({"code": "db.refused", "status": "error"})
    assert finding == Finding("db.refused", Status.ERROR, "", {}, "")
    assert Finding.from_dict({"code": "a.b", "status": "pass", "evidence": None}).evidence == {}


@pytest.mark.parametrize("order", [0, 1])
def test_worst_is_fail_then_error_then_pass_then_skipped(order: int) -> None:
    ranked = [failed("a", ""), errored("b", ""), passed("c", ""), skipped("d", "")]
    for index, expected in enumerate((Status.FAIL, Status.ERROR, Status.PASS,
                                      Status.SKIPPED)):
        rest = ranked[index:]
        assert worst(rest if order else list(reversed(rest))) is expected


def _clock(monkeypatch: pytest.MonkeyPatch, *readings: float) -> None:
    times = list(readings)
    monkeypatch.setattr(findings_module.time, "monotonic",
                        lambda: times.pop(0) if len(times) > 1 else times[0])


def test_a_library_error_becomes_an_error_with_its_own_message(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> Finding:
        raise ServiceUnavailable("railway", "no answer")

    _clock(monkeypatch, 100.0, 101.23456)
    (finding,) = guarded("deploy.status", unavailable)
    assert finding.status is Status.ERROR and finding.code == "deploy.status"
    assert finding.summary == str(ServiceUnavailable("railway", "no answer"))
    assert dict(finding.evidence) == {"error": "ServiceUnavailable", "seconds": 1.235}


def test_a_bug_in_a_check_is_an_error_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Finding:
        raise KeyError("railway")

    _clock(monkeypatch, 100.0, 102.25049)
    (finding,) = guarded("deploy.status", broken)
    assert finding.status is Status.ERROR
    assert finding.summary == "the check itself failed: KeyError: 'railway'"
    assert dict(finding.evidence) == {"error": "KeyError", "seconds": 2.25}


def test_a_check_may_return_one_finding_or_several() -> None:
    one = passed("a.b", "")
    several = [passed("a.b", ""), failed("a.c", "")]
    assert guarded("a", lambda: one) == [one]
    result = guarded("a", lambda: several)
    assert result == several
    assert guarded("a", lambda: []) == []




# ---------------------------------------------------------------- what was tried, and then

@pytest.mark.parametrize(("actions", "tried"), [
    ([("railway.rollback", "done", False, True)], {"rollback": True}),
    ([("railway.rollback", "done", False, False)], {"rollback": False}),
    ([("railway.rollback", "done", False, None)], {"rollback": None}),
    ([("railway.rollback", "done", True, True)], {}),        # a dry run tried nothing
    ([("railway.rollback", "failed", False, None)], {}),     # nor a failed or unknown call
    ([("railway.rollback", "unknown", False, None)], {}),
    ([("not.an_action", "done", False, True)], {}),          # nor one the catalogue lacks
    # one verified action of a section is enough, whatever was done after it
    ([("railway.rollback", "done", False, True), ("railway.restart", "done", False, False)],
     {"rollback": True}),
    ([("railway.restart", "done", False, False), ("railway.rollback", "done", False, True)],
     {"rollback": True}),
    ([("railway.restart", "done", False, None), ("railway.rollback", "done", False, False)],
     {"rollback": False}),
    ([("railway.rollback", "done", False, False), ("railway.restart", "done", True, True)],
     {"rollback": False}),
])
def test_a_section_is_tried_only_by_an_action_done_for_real(
        actions: list[tuple[str, str, bool, bool | None]], tried: dict[str, bool | None]
        ) -> None:
    assert rules.tried_sections(actions) == tried


OUTAGE = [failed("health.down", ""), failed("deploy.crashed", "")]
BOTH = ["deploy.crashed", "health.down"]


def test_a_rollback_that_held_needs_no_more_and_one_that_did_not_gives_way() -> None:
    comms = {"notebook": "comms", "because": ["health.down", "deploy.crashed"]}
    assert rules.next_sections(OUTAGE) == [{"notebook": "rollback", "because": BOTH}, comms]
    assert rules.next_sections(OUTAGE, {}) == rules.next_sections(OUTAGE)
    assert rules.next_sections(OUTAGE, {"rollback": True}) == [comms]
    for held in (False, None):
        assert rules.next_sections(OUTAGE, {"rollback": held}) == [
            {"notebook": "db_refused", "because": BOTH},
            {"notebook": "error_spike", "because": BOTH}, comms]
    # a section already tried is not offered instead of another
    assert rules.next_sections(OUTAGE, {"rollback": False, "db_refused": None}) == [
        {"notebook": "error_spike", "because": BOTH}, comms]
    assert rules.next_sections(OUTAGE, {"rollback": False, "db_refused": True}) == [
        {"notebook": "error_spike", "because": BOTH}, comms]


def test_the_steps_instead_of_a_second_rollback_are_the_catalogues() -> None:
    from runbook.incident.codes import NOT_THE_DEPLOY, READ_THE_ERRORS

    chosen = rules.mitigations(OUTAGE, {"rollback": False})
    assert chosen[:4] == [(NOT_THE_DEPLOY, ("deploy.crashed",)),
                          (READ_THE_ERRORS, ("deploy.crashed",)),
                          (NOT_THE_DEPLOY, ("health.down",)),
                          (READ_THE_ERRORS, ("health.down",))]
    assert [step.notebook for step, _ in rules.mitigations(OUTAGE)] == ["rollback", "rollback",
                                                                        "comms"]


def test_who_to_call_is_in_the_runbooks_order_each_code_once() -> None:
    findings = [failed("moyasar.down", ""), failed("health.down", "", failure="dns"),
                failed("deploy.crashed", ""), failed("deploy.crashed", ""),
                passed("health.ok", "")]
    assert rules.contacts(findings) == {"backend": ["deploy.crashed"],
                                        "payments": ["moyasar.down"], "dns": ["health.down"]}
    assert list(rules.contacts(findings)) == ["backend", "payments", "dns"]


def test_the_contact_table_and_its_views_say_every_detail(tmp_path: Path) -> None:
    stale = {**PEOPLE[0], "verified": "2026-01-01"}
    config = _config(tmp_path, stale, {"name": "R&D", "role": "dns <ops>", "issue": "dns"})
    table = contacts.contact_table(config, TODAY)
    assert [(c.contact.name, c.reasons) for c in table.calls] == [
        ("Sami", ("runbook table",)), ("R&D", ("runbook table",))]
    assert [c.stale for c in table.calls] == [
        "last confirmed 323 days ago: check the details", "never confirmed: check the details"]
    view = contacts.who_to_call(config, [failed("health.down", ""), failed("moyasar.down", "")],
                                TODAY)
    assert repr(view) == (
        "Who to contact:\n"
        "  Sami (founder) — backend: +966 5 #x  because health.down"
        "  [last confirmed 323 days ago: check the details]\n"
        '  no contact configured for payments: add a [[contacts]] entry with issue = "payments"')
    assert view._repr_html_() == (
        "<h4>Who to contact</h4><table><thead><tr><th>who</th><th>issue</th>"
        "<th>phone</th><th>channel</th><th>why</th></tr></thead><tbody>"
        "<tr><td><b>Sami</b><br>founder</td><td>backend</td>"
        '<td><a href="tel:+966 5">+966 5</a></td><td>#x</td><td>health.down'
        '<br><span style="color:#e8710a">last confirmed 323 days ago: check the details</span>'
        "</td></tr>"
        '<tr><td colspan="5" style="color:#d93025">No contact configured for <b>payments</b>: '
        "add a <code>[[contacts]]</code> entry</td></tr></tbody></table>")
    dns = contacts.who_to_call(config, [failed("health.down", "", failure="dns")], TODAY)
    assert repr(dns) == ("Who to contact:\n  R&D (dns <ops>) — dns: -   because health.down"
                         "  [never confirmed: check the details]")
    assert "<td><b>R&amp;D</b><br>dns &lt;ops&gt;</td><td>dns</td><td></td><td></td>" in \
        dns._repr_html_()
