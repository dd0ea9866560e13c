"""The on-call facts are the fold's: acknowledgements (TTA from the first, the holder the
last), pages and who is due next, flapping episodes, status updates and their cadence, and the
handoff digest formatted from it all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from runbook.incident import oncall, views
from runbook.incident.events import Event
from runbook.incident.fold import Incident, fold

T0 = datetime(2026, 12, 5, 0, 12, tzinfo=UTC)
SIGNAL = "uptimerobot:777"
RIYADH = ZoneInfo("Asia/Riyadh")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(kind: str, seconds: float, actor: str = "", **body: Any) -> Event:
    return Event(kind, at(seconds), body, actor)


def opened(severity: str | None = "SEV-1") -> list[Event]:
    events = [ev("incident.opened", 0, service="dealix", opened_by="alert uptimerobot",
                 signal=SIGNAL),
              ev("alert.received", 0, signal=SIGNAL, down_since=at(-60).isoformat())]
    if severity:
        events.append(ev("run.sealed", 20, run="r1", notebook="sev1_response",
                         status="completed", severity=severity))
    return events


def folded(events: list[Event], now: float, **windows: Any) -> Incident:
    return fold("inc-1", events, at(now), **windows)


def page(seconds: float, step: int, slack_id: str, via: str = "slack") -> Event:
    return ev("page.sent", seconds, "runbook serve", responder="x", via=via, step=step,
              slack_id=slack_id)


def ack(seconds: float, who: str) -> Event:
    return ev("milestone.set", seconds, who, milestone="acknowledged", responder=who)


def test_next_page_counts_from_detection_then_repages_cycling_through_the_list() -> None:
    timeout, every = timedelta(seconds=10), timedelta(seconds=60)
    due = oncall.next_page(folded(opened(), 5), 3, timeout, every)
    assert due is not None and (due.step, due.responder, due.due_at) == (1, 1, at(10))
    events = [*opened(), page(11, 1, "U1")]
    due = oncall.next_page(folded(events, 12), 3, timeout, every)
    assert due is not None and (due.step, due.responder, due.due_at) == (2, 2, at(71))
    events += [page(72, 2, "U2")]
    due = oncall.next_page(folded(events, 73), 3, timeout, every)
    assert due is not None and (due.step, due.responder) == (3, 0)
    one = oncall.next_page(folded(events, 73), 1, timeout, every)
    assert one is not None and one.responder == 0
    # emails are their own record: they do not advance the steps
    events += [page(72, 2, "U2", via="email")]
    assert len(folded(events, 73).pages) == 2 and len(folded(events, 73).emails) == 1


def test_no_page_once_acknowledged_closed_or_below_sev2() -> None:
    timeout, every = timedelta(seconds=10), timedelta(seconds=60)
    assert oncall.next_page(folded([*opened(), ack(5, "U1")], 30), 2, timeout, every) is None
    assert oncall.next_page(folded(opened("SEV-3"), 30), 2, timeout, every) is None
    by_hand = [ev("incident.opened", 0, service="dealix", opened_by="sami")]
    assert oncall.next_page(folded(by_hand, 30), 2, timeout, every) is None
    resolved = [*opened(), ev("milestone.set", 25, "sami", milestone="resolved")]
    assert oncall.next_page(folded(resolved, 30), 2, timeout, every) is None
    assert oncall.next_page(folded(opened(), 30), 0, timeout, every) is None


def test_acknowledgements_tta_from_the_first_the_holder_is_the_last() -> None:
    incident = folded([*opened(), ack(30, "U1"), ack(90, "U2")], 100)
    assert incident.acknowledged_by == "U1" and incident.acknowledged_at == at(30)
    assert incident.time_to("acknowledge") == timedelta(seconds=30)
    assert incident.acknowledged_now_by == "U2"
    assert [who for _, who in incident.acks] == ["U1", "U2"]


def flaps(times: list[float]) -> list[Event]:
    """Alternating down and up changes of the signal at `times` (the first a down)."""
    events = opened()
    for index, second in enumerate(times):
        kind = "alert.received" if index % 2 == 0 else "signal.recovered"
        events.append(ev(kind, second, signal=SIGNAL))
    return events


def test_flapping_is_more_than_flap_count_changes_within_the_window() -> None:
    window = timedelta(minutes=15)
    # The opening alert at 0 is the first change; 4 more make 5 > 4.
    four = flaps([0, 60, 120, 180])[1:]        # the opening down, then up/down/up: 4 changes
    assert folded(four, 200, flap_count=4, flap_window=window).flapping == {}
    five = flaps([0, 60, 120, 180, 240])
    incident = folded(five, 250, flap_count=4, flap_window=window)
    assert incident.flapping == {SIGNAL: at(240)}
    # the same state again is no change
    repeated = [*five, ev("alert.received", 245, signal=SIGNAL)]
    assert [c for c in folded(repeated, 250).changes if c[1] == SIGNAL][-1][0] == at(240)


def test_flapping_ends_once_still_for_the_window_and_spreads_out_changes_do_not_flap() -> None:
    window = timedelta(minutes=15)
    five = flaps([0, 60, 120, 180, 240])
    assert folded(five, 240 + 899, flap_count=4, flap_window=window).flapping
    assert folded(five, 240 + 900, flap_count=4, flap_window=window).flapping == {}
    spread = flaps([0, 400, 800, 1200, 1600, 2000])
    assert folded(spread, 2001, flap_count=4, flap_window=window).flapping == {}
    # another signal's changes are counted apart
    other = [*opened(), *[ev("alert.received" if i % 2 == 0 else "signal.recovered", i * 10,
                             signal="sentry:1") for i in range(6)]]
    assert list(folded(other, 61, flap_count=4, flap_window=window).flapping) == ["sentry:1"]


def test_a_new_episode_after_a_still_window_is_flapping_since_its_own_start() -> None:
    window = timedelta(minutes=1)
    first = [0, 5, 10, 15, 20]
    second = [200, 205, 210, 215, 220]
    incident = folded(flaps(first + second), 221, flap_count=4, flap_window=window)
    assert incident.flapping == {SIGNAL: at(220)}
    noticed = [*flaps(first + second), ev("flap.noticed", 21, signal=SIGNAL)]
    assert folded(noticed, 221, flap_count=4, flap_window=window).flap_noticed == {
        SIGNAL: at(21)}


def test_status_updates_and_their_cadence() -> None:
    every = timedelta(minutes=30)
    events = opened()
    assert not oncall.status_due(folded(events, 29 * 60), every, at(29 * 60))
    assert oncall.status_due(folded(events, 31 * 60), every, at(31 * 60))
    events += [ev("status.update", 31 * 60, stage="reminded")]
    assert not oncall.status_due(folded(events, 40 * 60), every, at(40 * 60))
    events += [ev("status.update", 45 * 60, "U1", stage="published", statuspage_id="sp1",
                  status="investigating")]
    incident = folded(events, 70 * 60)
    assert incident.last_published is not None and incident.last_published["statuspage_id"] \
        == "sp1"
    assert not oncall.status_due(incident, every, at(70 * 60))
    assert oncall.status_due(folded(events, 76 * 60), every, at(76 * 60))
    assert not oncall.status_due(folded(opened("SEV-3"), 99 * 60), every, at(99 * 60))


def test_the_draft_says_what_is_affected_what_is_done_and_when_next() -> None:
    incident = folded(opened(), 60)
    text = oncall.status_draft(incident, "Dealix", timedelta(minutes=30), at(60), RIYADH)
    assert "Dealix is unavailable" in text and "since 03:11" in text
    assert "investigating" in text and "Next update by 03:43" in text
    assert oncall.statuspage_status(incident) == "investigating"
    acted = [*opened(), ev("action.intent", 30, "U1", name="railway.rollback", target="d1"),
             ev("action.outcome", 40, "U1", name="railway.rollback", target="d1",
                outcome="done")]
    assert oncall.statuspage_status(folded(acted, 60)) == "identified"
    assert "applied a fix" in oncall.status_draft(folded(acted, 60), "Dealix",
                                                   timedelta(minutes=30), at(60), RIYADH)


def test_the_digest_lists_each_open_incident_from_the_fold() -> None:
    held = fold("inc-1", [*opened(), ack(30, "U1"), ack(90, "U2")], at(120))
    closed = fold("inc-2", [*opened(), ev("milestone.set", 25, "s", milestone="resolved")],
                  at(120))
    text = views.digest([held, closed], at(120), RIYADH)
    assert "1 open incident" in text and "inc-1" in text and "inc-2" not in text
    assert "SEV-1" in text and "acknowledged by U2" in text and "first: U1" in text
    assert "done: nothing yet" in text and "next:" in text
    unacked = fold("inc-3", opened(), at(120))
    assert "NOT acknowledged" in views.digest([unacked], at(120), RIYADH)
    assert views.digest([closed], at(120), RIYADH) == "No open incident."


def test_show_carries_the_acknowledgements_pages_and_flapping() -> None:
    events = [*flaps([0, 60, 120, 180, 240]), page(250, 1, "U2"),
              page(250, 1, "U2", via="email")]
    incident = fold("inc-1", events, at(260))
    shown = views.as_json(incident)
    assert [p["via"] for p in shown["pages"]] == ["slack", "email"]
    assert shown["flapping"] == {SIGNAL: at(240).isoformat().replace("+00:00", "Z")}
    text = views.as_text(incident, at(260))
    assert "paged        1 time(s), last x" in text and f"flapping     {SIGNAL}" in text
    held = fold("inc-1", [*opened(), ack(30, "U1")], at(60))
    assert views.as_json(held)["acknowledgements"] == [
        {"at": at(30).isoformat().replace("+00:00", "Z"), "by": "U1"}]


def test_an_alert_no_run_has_rated_yet_still_escalates() -> None:
    """A slow or failed diagnosis must not keep the founders from being paged."""
    unrated = folded(opened(None), 30)
    assert oncall.escalation_level(unrated) == oncall.UNRATED
    assert oncall.paged_severity(unrated) is None        # no status update for it
    due = oncall.next_page(unrated, 2, timedelta(seconds=10), timedelta(seconds=60))
    assert due is not None and due.step == 1 and due.responder == 1
    assert oncall.escalation_level(folded(opened("SEV-3"), 30)) is None
