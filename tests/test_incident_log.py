"""One incident, one truth: the hash-chained event log, the fold every view reads, its clock,
its states, and what it takes for an incident to close."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from runbook.archive import chained
from runbook.archive.record import Archive
from runbook.archive.store import LocalStore
from runbook.core import clock
from runbook.incident import events as kinds
from runbook.incident.events import Event, LogError, decode
from runbook.incident.fold import MITIGATED, OPEN, RESOLVED, fold
from runbook.incident.log import IncidentLog, open_incident

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=clock.UTC)
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SIGNAL = "uptimerobot:777"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(minutes: float, signal: str = SIGNAL, down_since: datetime | None = None) -> Event:
    return Event("alert.received", at(minutes), {
        "signal": signal, "down_since": clock.iso(down_since) if down_since else None})


def opened(minutes: float = 0, by: str = "alert uptimerobot") -> Event:
    return Event("incident.opened", at(minutes), {"service": "dealix", "opened_by": by,
                                                  "signal": SIGNAL})


# ---------------------------------------------------------------- the chain, as bytes

def _log_bytes(count: int) -> bytes:
    lines: list[dict[str, object]] = []
    for number in range(count):
        lines.append(chained.link(lines[-1] if lines else None, {"kind": "notice", "n": number}))
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)


def test_a_chain_written_by_link_reads_back_whole() -> None:
    lines, problems = chained.read(_log_bytes(5))
    assert problems == [] and [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert chained.head(_log_bytes(5)) == lines[-1]["hash"]


@pytest.mark.parametrize("position", range(0, 400, 7))
def test_one_byte_edited_anywhere_is_seen(position: int) -> None:
    data = bytearray(_log_bytes(5))
    position %= len(data)
    if data[position] == ord("\n"):
        position += 1
    data[position] = ord("X") if data[position] != ord("X") else ord("Y")
    _, problems = chained.read(bytes(data))
    assert problems, f"an edit at byte {position} went unseen"


def test_removed_reordered_and_cut_lines_are_seen() -> None:
    raw = _log_bytes(4).splitlines(keepends=True)
    _, removed = chained.read(b"".join([raw[0], raw[2], raw[3]]))
    _, reordered = chained.read(b"".join([raw[0], raw[2], raw[1], raw[3]]))
    _, first_gone = chained.read(b"".join(raw[1:]))
    _, cut = chained.read(b"".join(raw)[:-5])
    assert removed and reordered and first_gone
    assert cut and cut[-1].corrupt


def test_a_line_that_is_not_json_is_corrupt_and_named() -> None:
    raw = _log_bytes(3).splitlines(keepends=True)
    _, problems = chained.read(raw[0] + b"{not json\n" + raw[2])
    assert any(p.corrupt and p.line == 2 for p in problems)


# ---------------------------------------------------------------- the kinds

def test_an_unknown_kind_stops_the_read_naming_file_and_line() -> None:
    with pytest.raises(LogError, match=r"log.jsonl line 4: unknown event kind 'alert.eaten'"):
        decode({"kind": "alert.eaten", "v": 1, "at": clock.iso(T0), "body": {}},
               "runs/inc-x/log.jsonl line 4")


def test_a_kind_without_its_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="needs signal"):
        kinds.payload("alert.received", {}, T0)
    with pytest.raises(ValueError, match="milestone 'fixed'"):
        kinds.payload("milestone.set", {"milestone": "fixed"}, T0)


def test_every_kind_has_an_apply() -> None:
    from runbook.incident.fold import APPLY
    assert set(APPLY) == set(kinds.KINDS)


# ---------------------------------------------------------------- the clock

def test_the_start_is_the_monitors_down_since_not_the_alert() -> None:
    state = fold("inc-a", [opened(), alert(0, down_since=at(-11))], at(1))
    assert state.started_at == at(-11) and state.detected_at == at(0)
    assert state.time_to("detect") == timedelta(minutes=11)


def test_the_first_failing_observation_can_be_earlier() -> None:
    finding = Event("finding.observed", at(2), {
        "code": "uptime.down", "status": "fail", "summary": "down",
        "evidence": {"down_since": clock.iso(at(-20))}})
    state = fold("inc-a", [opened(), alert(0, down_since=at(-5)), finding], at(3))
    assert state.started_at == at(-20)
    assert "down_since" in state.start_source


def test_a_declared_start_counts_and_a_person_opening_it_is_detection() -> None:
    declared = Event("milestone.set", at(4), {"milestone": "declared",
                                              "start": clock.iso(at(-30))}, actor="sami")
    state = fold("inc-a", [opened(3, by="person sami"), declared], at(5))
    assert state.started_at == at(-30) and state.detected_at == at(3)


def test_milestones_are_dated_by_when_they_happened_not_when_written() -> None:
    ack = Event("milestone.set", at(2), {"milestone": "acknowledged"}, actor="sami")
    resolved = Event("milestone.set", at(9), {"milestone": "resolved"}, actor="sami")
    state = fold("inc-a", [opened(), alert(0, down_since=at(-1)), resolved, ack], at(20))
    assert state.acknowledged_at == at(2) and state.acknowledged_by == "sami"
    assert state.state == RESOLVED and state.resolved_at == at(9)
    assert state.time_to("acknowledge") == timedelta(minutes=2)
    assert state.time_to("resolve") == timedelta(minutes=10)


# ---------------------------------------------------------------- closing, reopening

def _recovered(minutes: float, signal: str = SIGNAL) -> Event:
    return Event("signal.recovered", at(minutes), {"signal": signal})


def _check(minutes: float, ok: bool) -> Event:
    return Event("check.observed", at(minutes), {"ok": ok})


def test_another_signals_recovery_closes_nothing() -> None:
    events = [opened(), alert(0), _recovered(5, "uptimerobot:999"), _check(6, True),
              _recovered(7, "sentry:metric alert"), _check(8, True)]
    assert fold("inc-a", events, at(9)).state == OPEN


def test_its_own_recovery_closes_it_only_once_a_check_passes() -> None:
    events = [opened(), alert(0), _recovered(5)]
    assert fold("inc-a", events, at(6)).state == OPEN
    assert fold("inc-a", [*events, _check(6, False)], at(7)).state == OPEN
    state = fold("inc-a", [*events, _check(6, False), _check(7, True)], at(8))
    assert state.state == RESOLVED and state.resolved_at == at(7)


def test_its_signal_alerting_again_within_the_window_reopens_it() -> None:
    closed = [opened(), alert(0), _recovered(5), _check(6, True)]
    again = fold("inc-a", [*closed, alert(20)], at(21))
    assert again.state == OPEN and again.reopened == 1 and again.resolved_at is None
    late = fold("inc-a", [*closed, alert(60)], at(61))
    assert late.state == RESOLVED


def test_mitigated_only_once_checks_pass_for_the_stabilisation_window() -> None:
    done = Event("action.outcome", at(5), {"name": "railway.rollback", "target": "svc",
                                           "outcome": "done"})
    events = [opened(), alert(0), done, _check(6, True)]
    assert fold("inc-a", events, at(7)).state == OPEN          # not stable for 2 minutes yet
    state = fold("inc-a", events, at(8, ))
    assert state.state == MITIGATED and state.mitigated_at == at(8)
    relapsed = fold("inc-a", [*events, _check(7, False)], at(9))
    assert relapsed.state == OPEN
    no_action = fold("inc-a", [opened(), alert(0), _check(6, True)], at(30))
    assert no_action.state == OPEN


# ---------------------------------------------------------------- the log in the archive

def test_the_log_appends_chained_lines_and_folds(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "runs")
    open_incident(archive, "inc-log", opened_at=at(0), opened_by="alert uptimerobot",
                  service="dealix", signal=SIGNAL)
    log = IncidentLog(archive, "inc-log")
    log.append("alert.received", {"signal": SIGNAL, "down_since": clock.iso(at(-4))},
               at=at(0))
    log.append("milestone.set", {"milestone": "acknowledged"}, at=at(1), actor="sami")
    state = log.fold(at(2))
    assert state.started_at == at(-4) and state.acknowledged_by == "sami"
    assert state.events == 3 and state.chain_head == chained.head(log.raw())
    _, problems = chained.read(log.raw())
    assert problems == []


def test_a_secret_never_reaches_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    from runbook.core.redaction import registry
    monkeypatch.setenv("CANARY_TOKEN", "canary-8c1f0e0d9b7a6c5e")
    registry().read_env("CANARY_TOKEN")
    archive = Archive(tmp_path / "runs")
    open_incident(archive, "inc-sec", opened_at=at(0), opened_by="run")
    IncidentLog(archive, "inc-sec").append("notice", {"error": "token canary-8c1f0e0d9b7a6c5e"})
    assert b"canary-8c1f0e0d9b7a6c5e" not in (tmp_path / "runs/inc-sec/log.jsonl").read_bytes()
    assert chained.read((tmp_path / "runs/inc-sec/log.jsonl").read_bytes())[1] == []


@pytest.mark.parametrize("fixture", ["archive_v1", "archive_fa17daa"])
def test_archives_from_before_the_log_fold(tmp_path: Path, fixture: str) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES / fixture / "runs", runs)
    archive = Archive(runs)
    for incident_id in archive.incidents():
        state = IncidentLog(archive, incident_id).fold()
        assert state.severity in ("SEV-1", "SEV-2") and state.started_at is not None
        assert state.detected_at is not None and state.events > 0


def test_the_served_outage_of_fa17daa_reads_as_it_happened(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES / "archive_fa17daa" / "runs", runs)
    archive = Archive(runs)
    [served] = [i for i in archive.incidents()
                if (runs / i / "incident_events.jsonl").exists()]
    state = IncidentLog(archive, served).fold()
    assert state.signal.startswith("uptimerobot:") and state.opened_by == "alert uptimerobot"
    assert state.started_at is not None and state.detected_at is not None
    assert state.started_at < state.detected_at          # the monitor's down-since
    assert [a.state for a in state.actions if not a.dry_run] == ["done"]


# ---------------------------------------------------------------- `runbook incident`

def _incident(tmp_path: Path) -> tuple[Path, str]:
    runs = tmp_path / "runs"
    archive = Archive(runs)
    started = clock.now() - timedelta(minutes=10)
    open_incident(archive, "inc-cli", opened_at=started, opened_by="alert uptimerobot",
                  service="dealix", signal=SIGNAL)
    IncidentLog(archive, "inc-cli").append("alert.received", {
        "signal": SIGNAL, "down_since": clock.iso(started - timedelta(minutes=3))}, at=started)
    return runs, "inc-cli"


def test_incident_show_json_has_the_fold(tmp_path: Path) -> None:
    runs, incident = _incident(tmp_path)
    shown = run_cli("incident", "show", incident, "--json", "--archive", str(runs))
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    for key in ("id", "service", "drill", "state", "severity", "peak_severity", "opened_by",
                "started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at",
                "next", "actions", "events", "chain_head"):
        assert key in data, key
    assert data["state"] == "open" and data["drill"] is False and data["events"] == 2


def test_milestones_from_the_command_line(tmp_path: Path) -> None:
    runs, incident = _incident(tmp_path)
    acked = run_cli("incident", "ack", incident, "--note", "on it", "--by", "sami",
                    "--archive", str(runs))
    assert acked.returncode == 0, acked.stderr
    resolved = run_cli("incident", "resolve", incident, "--archive", str(runs))
    assert resolved.returncode == 0 and "now resolved" in resolved.stdout
    data = json.loads(run_cli("incident", "show", incident, "--json", "--archive",
                              str(runs)).stdout)
    assert data["acknowledged_at"] and data["resolved_at"] and data["state"] == "resolved"
    assert run_cli("verify", incident, "--archive", str(runs)).returncode == 0


@pytest.mark.parametrize("args, says", [
    (("ack", "inc-nope"), "no incident 'inc-nope'"),
    (("show", "inc-nope"), "no incident 'inc-nope'"),
    (("ack", "inc-cli", "--at", "yesterday"), "not an ISO-8601 time"),
    (("ack", "inc-cli", "--at", "2099-01-01T00:00:00Z"), "in the future"),
    (("resolve", "inc-cli", "--at", "2020-01-01T00:00:00Z"), "before the incident's first"),
])
def test_bad_milestones_get_exit_2_and_write_nothing(tmp_path: Path, args: tuple[str, ...],
                                                     says: str) -> None:
    runs, _ = _incident(tmp_path)
    before = (runs / "inc-cli" / "log.jsonl").read_bytes()
    result = run_cli("incident", *args, "--archive", str(runs))
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert (runs / "inc-cli" / "log.jsonl").read_bytes() == before


def test_declare_opens_an_incident_only_when_asked(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    assert run_cli("incident", "declare", "inc-new", "--archive", str(runs)).returncode == 2
    start = clock.iso(clock.now() - timedelta(minutes=30))
    made = run_cli("incident", "declare", "inc-new", "--open", "--start", start,
                   "--service", "dealix", "--archive", str(runs))
    assert made.returncode == 0, made.stderr
    data = json.loads(run_cli("incident", "show", "inc-new", "--json", "--archive",
                              str(runs)).stdout)
    assert data["started_at"] == start and data["opened_by"].startswith("person ")


# ---------------------------------------------------------------- verify covers every file

def _sealed_incident(tmp_path: Path) -> tuple[Path, str]:
    runs, incident = _incident(tmp_path)
    archive = Archive(runs)
    from runbook.incident.seal import seal_run
    run = archive.start_run(incident, "sev1_response", clock.now(), {
        "incident_id": incident, "notebook": "sev1_response",
        "started_at": clock.iso(clock.now())})
    LocalStore(runs).replace(run.key("notebook.ipynb"), b"{}\n")
    archive.append_event(run, {"type": "finding", "finding": {
        "code": "health.down", "status": "fail", "summary": "502", "evidence": {}}})
    seal_run(archive, run, {"incident_id": incident, "notebook": "sev1_response",
                            "started_at": clock.iso(clock.now()), "parameters": {}},
             status="completed")
    return runs, incident


@pytest.mark.slow
def test_editing_any_file_of_the_incident_fails_verify(tmp_path: Path) -> None:
    runs, incident = _sealed_incident(tmp_path)
    assert run_cli("verify", incident, "--archive", str(runs)).returncode == 0
    files = [p for p in sorted((runs / incident).rglob("*")) if p.is_file()
             and p.name != ".lock" and "locks" not in p.parts]
    assert {p.name for p in files} >= {"log.jsonl", "incident.json", "chain.jsonl",
                                       "record.json", "notebook.ipynb", "started.json",
                                       "events.jsonl"}
    for path in files:
        original = path.read_bytes()
        middle = len(original) // 2
        path.write_bytes(original[:middle] + (b"#" if original[middle:middle + 1] != b"#"
                                              else b"%") + original[middle + 1:])
        try:
            result = run_cli("verify", incident, "--archive", str(runs))
            assert result.returncode in (1, 3), f"an edit of {path.name} went unseen"
            assert "NOT intact" in result.stdout
        finally:
            path.write_bytes(original)


def test_a_corrupt_log_line_gets_exit_3_naming_file_and_line(tmp_path: Path) -> None:
    runs, incident = _incident(tmp_path)
    log = runs / incident / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + b"{torn\n")
    result = run_cli("verify", incident, "--archive", str(runs))
    assert result.returncode == 3
    assert "log.jsonl line 2" in result.stdout
    shown = run_cli("incident", "show", incident, "--archive", str(runs))
    assert shown.returncode != 0 and "log.jsonl line 2" in shown.stderr


def test_a_deleted_or_truncated_log_fails_verify(tmp_path: Path) -> None:
    runs, incident = _sealed_incident(tmp_path)
    log = runs / incident / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0])                          # cut at a line: still a valid chain
    cut = run_cli("verify", incident, "--archive", str(runs))
    assert cut.returncode == 1 and "log.jsonl is shorter" in cut.stdout
    log.unlink()
    gone = run_cli("verify", incident, "--archive", str(runs))
    assert gone.returncode == 1 and "log.jsonl is gone" in gone.stdout
