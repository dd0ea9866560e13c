"""The finding-code catalogue holds exactly the codes the library emits, and the rules read it:
a failing code weighs what its row says, sends to the sections its row names (notebooks that
exist), and calls the issues of the contact table; an error weighs nothing, anywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from code_scan import Scan
from runbook.clients import slack
from runbook.core.findings import Finding, Status, errored, failed, passed
from runbook.incident import codes, rules
from runbook.incident.codes import CATALOGUE, ISSUES, MITIGATIONS, WEIGHTS
from runbook.sections import comms, webhook_401
from runbook.sections.db_refused import libpq

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}

# The design's code list (design.md, "Contract: findings"): each keeps its meaning.
DESIGN_CODES = (
    "health.ok", "health.down", "health.degraded", "health.timeout",
    "api.ok", "api.not_found",
    "deploy.ok", "deploy.failed", "deploy.crashed", "deploy.in_progress", "deploy.recent",
    "deploy.start_command_wrong",
    "webhook.ok", "webhook.secret_mismatch", "webhook.secret_whitespace", "webhook.secret_missing",
    "webhook.app_stale",
    "db.ok", "db.url_missing", "db.url_invalid", "db.dns_failed", "db.refused", "db.timeout",
    "db.ssl_required",
    "db.auth_failed", "db.database_missing", "db.too_many_connections", "db.starting_up",
    "errors.normal", "errors.spike", "errors.spike_after_deploy",
    "uptime.up", "uptime.down",
    "moyasar.ok", "moyasar.down",
)


def action_names(scan: Scan) -> set[str]:
    return {code for code, origins in scan.origins.items() if "Action" in origins}


def libpq_codes(scan: Scan) -> set[str]:
    return {rule.code for rule in libpq.RULES} | {libpq.UNKNOWN.code}


def slack_codes(scan: Scan) -> set[str]:
    return {f"slack.{error}" for error in slack.ERRORS}


# Where a code is not a literal the scan can read, and where its values come from. A new such
# place fails `test_every_code_the_scan_cannot_read_is_accounted_for` until it is added here.
DYNAMIC: dict[tuple[str, str], Callable[[Scan], set[str]]] = {
    # the keys of the checks given to it, read at each call
    ("runbook.core.concurrency.run_concurrently", "code"): lambda scan: set(),
    ("runbook.sections.comms._post_slack", "f'slack.{answer.error}'"): slack_codes,
    ("runbook.sections.monitoring_check.check_slack", "f'slack.{answer.error}'"): slack_codes,
    ("runbook.sections.comms._send_email", "code"):
        lambda scan: {code for code, _ in comms._EMAIL_FAILURES.values()},
    # the action that opened the status page incident, named again
    ("runbook.sections.comms.statuspage_action", "opened.name"):
        lambda scan: {"statuspage.create", "statuspage.update"},
    ("runbook.sections.db_refused.stages._verdict", "exc.rule.code"): libpq_codes,
    ("runbook.sections.sev1_response.check_db_connection", "cause.code"): libpq_codes,
    ("runbook.sections.kit.actions._call", "action.name"): action_names,
    # done at the provider, its post-check failing: the action's own finding, still its name
    ("runbook.sections.kit.actions._post_check", "action.name"): action_names,
    # the planned action again, refused because its value changed: its name is an action's
    ("runbook.sections.db_refused.action.changed_since_plan", "action.name"): action_names,
    ("runbook.sections.kit.actions._decide", "f'{action.name}.unknown'"):
        lambda scan: {f"{name}.unknown" for name in action_names(scan)},
    ("runbook.sections.kit.actions._unknown", "f'{action.name}.unknown'"):
        lambda scan: {f"{name}.unknown" for name in action_names(scan)},
    ("runbook.sections.webhook_401.probe_copy", "f'webhook.{copy.side}_copy_accepted'"):
        lambda scan: {f"webhook.{side}_copy_accepted"
                      for side in (webhook_401.APP, webhook_401.DASHBOARD)},
}


@pytest.fixture(scope="module")
def scan() -> Scan:
    return Scan().run()


def emitted(scan: Scan) -> set[str]:
    return set(scan.codes).union(*(values(scan) for values in DYNAMIC.values()))


def test_the_scan_reads_codes_through_helpers_and_tables(scan: Scan) -> None:
    # A literal, a conditional, a helper's parameter with a suffix, a run_concurrently key.
    assert {"health.ok", "health.timeout", "railway.rollback_blocked", "health.healthz",
            "email.no_recipients", "slack.not_called_for"} <= set(scan.codes)
    assert "railway.rollback" in action_names(scan)


def test_the_scan_sees_a_new_code_and_a_code_it_cannot_read(tmp_path: Path) -> None:
    package = tmp_path / "runbook"
    package.mkdir()
    (package / "probe.py").write_text(
        "from runbook.core.findings import failed, passed\n\n"
        "def _verdict(code, summary):\n    return failed(code, summary)\n\n"
        "def check(answer):\n"
        "    _verdict('brand.new', 'x')\n"
        "    return passed(answer.code, 'y')\n", encoding="utf-8")
    found = Scan(package).run()
    assert set(found.codes) == {"brand.new"}
    assert found.unresolved == {("runbook.probe.check", "answer.code")}


def test_every_code_the_scan_cannot_read_is_accounted_for(scan: Scan) -> None:
    assert scan.unresolved == set(DYNAMIC), (
        "a finding code the scan cannot read: add where its values come from to DYNAMIC")


def test_the_catalogue_holds_every_code_the_library_emits(scan: Scan) -> None:
    missing = sorted(emitted(scan) - set(CATALOGUE))
    assert missing == [], "add a row to runbook/incident/codes.py for each"


def test_the_catalogue_holds_no_code_nothing_emits(scan: Scan) -> None:
    unused = sorted(set(CATALOGUE) - emitted(scan))
    assert unused == [], "nothing emits these codes: remove their rows"


def test_the_design_codes_are_all_catalogued() -> None:
    assert sorted(set(DESIGN_CODES) - set(CATALOGUE)) == []
    assert CATALOGUE["webhook.app_stale"].weight == "SEV-2"


def test_each_row_is_well_formed() -> None:
    for code, row in CATALOGUE.items():
        assert row.code == code and code.count(".") >= 1, code
        assert row.weight in WEIGHTS, code
        assert row.section in NOTEBOOKS, f"{code}: no notebook {row.section}"
        assert row.meaning.strip() and "\n" not in row.meaning, code
        assert all(step in MITIGATIONS for step in row.next), code
        assert all(issue.name in ISSUES for issue in row.call), code


def test_every_mitigation_is_called_for_and_names_a_notebook() -> None:
    used = {step for row in CATALOGUE.values() for step in row.next}
    assert set(MITIGATIONS) == used
    for step in MITIGATIONS:
        assert step.notebook == "" or step.notebook in NOTEBOOKS, step.notebook
        assert step.action.strip()


def test_the_known_issues_are_the_contact_table() -> None:
    assert ISSUES == ("backend", "payments", "dns", "hosting")
    called = {issue.name for row in CATALOGUE.values() for issue in row.call}
    assert called == set(ISSUES)


def test_a_failing_code_weighs_what_its_row_says() -> None:
    wrong = {}
    for code, row in CATALOGUE.items():
        level = rules.run_severity([failed(code, "x"), passed("health.ok", "ok")])
        if (level.level if level else None) != row.weight:
            wrong[code] = level
    assert wrong == {}


def test_an_error_is_evidence_of_nothing() -> None:
    for code in CATALOGUE:
        findings = [errored(code, "the check could not be made")]
        assert not findings[0].failed, code
        assert rules.run_severity(findings) is None, code
        assert rules.next_sections(findings) == [], code
        assert rules.contacts(findings) == {}, code


def test_a_failing_code_sends_to_its_rows_sections() -> None:
    for code, row in CATALOGUE.items():
        # Evidence that satisfies every condition a step of this row may put on it.
        finding = Finding(code, Status.FAIL, "x", {"failing": ["postgres", "redis"]})
        expected = [step.notebook for step in MITIGATIONS if step in row.next and step.notebook]
        chosen = rules.next_sections([finding])
        assert [s["notebook"] for s in chosen] == list(dict.fromkeys(expected)), code
        assert all(s["because"] == [code] for s in chosen), code


def test_the_sev1_codes_are_the_runbooks_full_outage() -> None:
    sev1 = sorted(code for code, row in CATALOGUE.items() if row.weight == "SEV-1")
    assert sev1 == ["deploy.crashed", "health.down", "health.timeout", "uptime.down"]
    for code in sev1:
        level = rules.run_severity([failed("api.not_found", "404"), failed(code, "x")])
        assert level is not None and level.level == "SEV-1"


def test_an_unknown_failing_code_weighs_sev3_and_sends_nowhere() -> None:
    finding = failed("something.else", "from an old record")
    assert codes.lookup("something.else") is None
    level = rules.run_severity([finding])
    assert level is not None and level.level == "SEV-3"
    assert rules.next_sections([finding]) == [] and rules.contacts([finding]) == {}


def test_contacts_follow_the_rows_and_the_evidence() -> None:
    unresolved = failed("health.down", "name not known", failure="dns")
    assert rules.contacts([failed("health.down", "502"), failed("db.dns_failed", "dns"),
                           failed("moyasar.down", "5xx"), unresolved]) == {
        "backend": ["health.down"], "payments": ["moyasar.down"],
        "dns": ["health.down"], "hosting": ["db.dns_failed"]}
    assert rules.contacts([failed("slack.no_service", "gone")]) == {}


def test_the_runbooks_own_tools_weigh_nothing() -> None:
    # A message that could not be sent, or an action that failed, says nothing of customers.
    for code in ("slack.no_service", "email.auth_failed", "railway.rollback", "git.push_failed",
                 "contacts.stale", "uptime.paused"):
        assert rules.run_severity([failed(code, "x")]) is None, code
