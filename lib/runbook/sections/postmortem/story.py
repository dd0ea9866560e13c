"""The facts a postmortem tells, read from the incident's log and sealed records: the impact
window, the timeline's lines (every logged event, the fold's milestones, Railway's deploys and
Sentry's readings in the window), what was counted of failed requests and payments at risk.

Nothing here judges the incident: its times and states are the fold's (`History.incident`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from runbook.checks.sentry import ALERT_THRESHOLD
from runbook.clients.sentry import Bucket
from runbook.core import clock
from runbook.incident import codes
from runbook.incident.events import Event as LogEvent
from runbook.sections import error_spike
from runbook.sections.error_spike import ErrorChart
from runbook.sections.postmortem.history import History

BEFORE_IMPACT = timedelta(hours=1)     # the window a reader needs around the impact
AFTER_RESOLUTION = timedelta(minutes=30)


@dataclass(frozen=True)
class Line:
    """One line of the timeline: when, what, who, and the evidence it comes from."""

    at: datetime
    what: str
    kind: str            # alert, run, finding, plan, press, action, message, milestone,
    #                      deploy, sentry, notice, postmortem
    who: str = ""
    run: str = ""        # the run whose page is the evidence ("" : the log line is)
    seq: int = 0         # the log line (0: from a record's evidence, or the fold)
    name: str = ""       # a deploy's short name (its commit, else its deployment id)


def impact_window(history: History) -> tuple[datetime, datetime, bool]:
    """(start, end, ended): from the fold's impact start to its resolution, else its
    mitigation, else the moment the postmortem was written (ended False)."""
    state = history.incident
    end = (state.resolved_at or state.mitigated_at) if state else None
    now = history.now or clock.now()
    return history.started, end or now, end is not None


def chart_window(history: History) -> tuple[datetime, datetime]:
    """1 h before the impact to 30 min after its end (or the moment written, if sooner)."""
    start, end, ended = impact_window(history)
    return start - BEFORE_IMPACT, end + AFTER_RESOLUTION if ended else end


def _body(event: LogEvent, key: str) -> str:
    value = event.get(key)
    return "" if value is None else str(value)


def _log_line(event: LogEvent) -> Line | None:
    kind, who, run = event.kind, event.actor, _body(event, "run")
    if kind == "incident.opened":
        drill = " (a drill)" if event.get("drill") else ""
        by = _body(event, "opened_by") or who
        return Line(event.at, f"Incident opened{' by ' + by if by else ''}{drill}",
                    "milestone", who, seq=event.seq)
    if kind == "alert.received":
        what = _body(event, "summary") or f"{_body(event, 'signal')} alerted"
        return Line(event.at, f"Alert: {what}", "alert", _body(event, "source") or who,
                    seq=event.seq)
    if kind == "signal.recovered":
        what = _body(event, "summary") or f"{_body(event, 'signal')} recovered"
        return Line(event.at, f"Recovered: {what}", "alert", who, seq=event.seq)
    if kind == "check.observed":
        ok = "passed" if event.get("ok") else "failed"
        return Line(event.at, f"Health check {ok}", "finding", who, run, event.seq)
    if kind == "run.started":
        return Line(event.at, f"Run `{_body(event, 'notebook')}` started", "run", who, run,
                    event.seq)
    if kind == "run.sealed":
        return Line(event.at, f"Run `{_body(event, 'notebook')}` {_body(event, 'status')}: "
                    f"{_body(event, 'severity') or 'no SEV'}", "run", who, run, event.seq)
    if kind == "run.aborted":
        return Line(event.at, f"Run `{_body(event, 'notebook')}` ended "
                    f"{_body(event, 'status')}", "run", who, run, event.seq)
    if kind == "finding.observed":
        status = _body(event, "status")
        if status not in ("fail", "error"):
            return None          # a skipped check says nothing about the incident
        word = "failing" if status == "fail" else "could not be checked"
        return Line(event.at, f"`{_body(event, 'code')}` {word}: {_body(event, 'summary')}",
                    "finding", who, run, event.seq)
    if kind == "plan.offered":
        return Line(event.at, f"Offered in Slack: {_body(event, 'label') or _body(event, 'kind')}",
                    "plan", who, seq=event.seq)
    if kind == "press":
        person = _body(event, "user_name") or _body(event, "user") or who
        return Line(event.at, f"{person} pressed `{_body(event, 'action')}`: "
                    f"{_body(event, 'outcome')}", "press", person, seq=event.seq)
    if kind == "action.intent":
        return Line(event.at, f"`{_body(event, 'name')}` on {_body(event, 'target')}: "
                    "about to be called", "action", who, run, event.seq)
    if kind == "action.outcome":
        result = _body(event, "result")
        return Line(event.at, f"`{_body(event, 'name')}` {_body(event, 'outcome')}"
                    + (f": {result}" if result else ""), "action", who, run, event.seq)
    if kind == "message.posted":
        what = _body(event, "what") or "a message"
        return Line(event.at, f"Posted {what} to {_body(event, 'channel')}", "message", who,
                    seq=event.seq)
    if kind == "notice":
        return Line(event.at, f"Notice: {_body(event, 'text') or _body(event, 'what')}",
                    "notice", who, seq=event.seq)
    if kind == "milestone.set":
        note = _body(event, "note")
        return Line(event.at, f"{_body(event, 'milestone').capitalize()} by {who or 'a person'}"
                    + (f": {note}" if note else ""), "milestone", who, seq=event.seq)
    if kind == "page.sent":
        failed = "" if event.get("ok", True) else f" (did not get through: {_body(event, 'error')})"
        return Line(event.at, f"Paged {_body(event, 'responder')} by {_body(event, 'via')} "
                    f"(step {_body(event, 'step')}){failed}", "page", who, seq=event.seq)
    if kind == "flap.noticed":
        return Line(event.at, f"{_body(event, 'signal')} found flapping: one notice posted",
                    "notice", who, seq=event.seq)
    if kind == "status.update":
        return Line(event.at, f"Status update {_body(event, 'stage')}", "message", who,
                    seq=event.seq)
    if kind == "postmortem.saved":
        return Line(event.at, f"Postmortem edits saved by {who or 'a person'}", "postmortem",
                    who, seq=event.seq)
    return Line(event.at, kind, "notice", who, run, event.seq)


def deploys(history: History) -> list[Line]:
    """Railway's deploys the records saw, in the chart's window: each finding's deployment
    (with its commit) and each new deployment an action started."""
    start, end = chart_window(history)
    seen: dict[str, Line] = {}
    for run in history.runs:
        for finding in run.record.get("findings") or []:
            evidence = finding.get("evidence") if isinstance(finding, dict) else None
            if not isinstance(evidence, dict) or not evidence.get("deployment_id"):
                continue
            at = clock.moment_or_none(evidence.get("created_at"))
            deployment = str(evidence["deployment_id"])
            if at is None or deployment in seen or not start <= at <= end:
                continue
            commit = str(evidence.get("commit") or "")[:7]
            message = str(evidence.get("commit_message") or "")
            status = str(evidence.get("status") or "")
            seen[deployment] = Line(
                at, f"Railway deploy {deployment[:8]}"
                + (f" (commit {commit}: {message})" if commit else "")
                + (f", later seen {status}" if status else ""), "deploy", run=run.name,
                name=commit or deployment[:8])
        for action in run.record.get("actions") or []:
            details = action.get("details") if isinstance(action, dict) else None
            new = str(details.get("new deployment") or "") if isinstance(details, dict) else ""
            at = clock.moment_or_none(action.get("at"))
            if new and at is not None and new not in seen:
                seen[new] = Line(at, f"Railway deploy {new[:8]} started by "
                                 f"`{action.get('name')}`", "deploy", run=run.name,
                                 name=new[:8])
    return sorted(seen.values(), key=lambda line: line.at)


def sentry_lines(history: History) -> list[Line]:
    """Sentry's first and last word in the window: its alerts, and the spikes its error
    series showed (a finding's `spike_started`)."""
    lines: list[Line] = []
    alerts = [e for e in history.log if e.kind == "alert.received"
              and str(e.get("source") or "").lower() == "sentry"]
    if alerts:
        lines.append(Line(alerts[0].at, "Sentry: first alert in the window", "sentry",
                          seq=alerts[0].seq))
        if len(alerts) > 1:
            lines.append(Line(alerts[-1].at, "Sentry: last alert in the window", "sentry",
                              seq=alerts[-1].seq))
    series, run_name, _ = _series(history)
    start, end = chart_window(history)
    hot = [b for b in series if b.count > ALERT_THRESHOLD and start <= b.at <= end]
    if hot:
        lines.append(Line(hot[0].at, f"Sentry: errors first above the alert rule ({hot[0].count} "
                          "in 5 min)", "sentry", run=run_name))
        if len(hot) > 1:
            lines.append(Line(hot[-1].at, f"Sentry: errors last above the alert rule "
                              f"({hot[-1].count} in 5 min)", "sentry", run=run_name))
        return lines
    for run in history.runs:
        for finding in run.record.get("findings") or []:
            evidence = finding.get("evidence") if isinstance(finding, dict) else None
            if not isinstance(evidence, dict):
                continue
            started = clock.moment_or_none(evidence.get("spike_started"))
            if started is not None:
                lines.append(Line(started, f"Sentry: errors above the alert rule from here "
                                  f"(up to {evidence.get('recent_max_per_5m')} per 5 min)",
                                  "sentry", run=run.name))
                return lines
    return lines


def _series(history: History) -> tuple[list[Bucket], str, datetime | None]:
    """The newest error series a record kept, the run that kept it, and when it was read."""
    found: tuple[list[Bucket], str, datetime | None] = ([], "", None)
    for run in history.runs:
        for finding in run.record.get("findings") or []:
            evidence = finding.get("evidence") if isinstance(finding, dict) else None
            series = error_spike.series_of(evidence)
            if series and isinstance(evidence, dict):
                found = (series, run.name, clock.moment_or_none(evidence.get("fetched_at")))
    return found


def milestones(history: History) -> list[Line]:
    """The fold's moments: the impact's start (and what says so), detection, mitigation,
    resolution."""
    state = history.incident
    lines = [Line(history.started, f"Impact began ({history.start_source})", "milestone")]
    if state is not None:
        if state.detected_at:
            lines.append(Line(state.detected_at, f"Detected ({state.detected_by})", "milestone"))
        if state.acknowledged_at:
            lines.append(Line(state.acknowledged_at, "Acknowledged"
                              + (f" by {state.acknowledged_by}" if state.acknowledged_by else ""),
                              "milestone", state.acknowledged_by))
        if state.mitigated_at:
            lines.append(Line(state.mitigated_at, "Mitigated (health held after the action)",
                              "milestone"))
        if state.resolved_at:
            lines.append(Line(state.resolved_at, "Resolved", "milestone"))
    return lines


def timeline(history: History) -> list[Line]:
    """Every logged event, the fold's milestones, the deploys and Sentry's readings, in time
    order (the log's own order within one second)."""
    order = {"milestone": 0, "deploy": 0, "sentry": 0}
    logged = [line for event in history.log if (line := _log_line(event)) is not None]
    lines = [*milestones(history), *deploys(history), *sentry_lines(history), *logged]
    return sorted(lines, key=lambda line: (line.at, order.get(line.kind, 1), line.seq))


def error_chart(history: History, zone: tzinfo) -> ErrorChart | None:
    """Sentry's error series as the newest record kept it, drawn over the incident's window
    with its deploys; None when no run read the series."""
    buckets, _, fetched = _series(history)
    if not buckets:
        return None
    start, end, ended = impact_window(history)
    marks = [error_spike.DeployMark(line.at, line.name) for line in deploys(history)]
    return error_spike.ErrorChart(buckets, marks, start, end if ended else None,
                                  fetched or history.now, zone=zone)


# --- what the records counted --------------------------------------------------------------

def _findings_with(history: History, *names: str) -> list[dict[str, Any]]:
    return [f for run in history.runs for f in run.record.get("findings") or []
            if isinstance(f, dict) and str(f.get("code", "")) in names
            and isinstance(f.get("evidence"), dict)]


def failed_requests(history: History) -> str:
    """What Sentry counted, from the error-spike findings' evidence."""
    counted = [f["evidence"] for f in _findings_with(history, *codes.ERROR_RATE_CODES)
               if f["evidence"].get("recent_max_per_5m") is not None]
    if not counted:
        return ("not counted: no Sentry error series in this incident's records (run the "
                "`error_spike` section to count them)")
    peak = max(int(e.get("recent_max_per_5m") or 0) for e in counted)
    hot = max(int(e.get("hot_buckets") or 0) for e in counted)
    return (f"up to {peak} errors per 5 minutes in Sentry, {hot} five-minute buckets above "
            "the alert rule (Sentry's error series, `error_spike` section)")


def payments_at_risk(history: History) -> str:
    """What the Moyasar delivery log showed, from the webhook section's finding."""
    readings = [f for f in _findings_with(history, codes.PAYMENTS_AT_RISK)
                if "payments" in f["evidence"]]
    if not readings:
        return ("none recorded: no run read Moyasar's delivery log (the `webhook_401` section "
                "counts the payments to reconcile)")
    evidence = readings[-1]["evidence"]
    payments = [p for p in evidence.get("payments") or [] if isinstance(p, dict)]
    totals: dict[str, int] = {}
    for payment in payments:
        currency = str(payment.get("currency") or "")
        totals[currency] = totals.get(currency, 0) + int(payment.get("amount") or 0)
    amount = ", ".join(f"{total / 100:,.2f} {currency}".strip()
                       for currency, total in sorted(totals.items()))
    return (f"{len(payments)} payments to reconcile" + (f" ({amount})" if amount else "")
            + f", {evidence.get('rejected_attempts', 0)} webhook deliveries refused "
            "(Moyasar's delivery log, `webhook_401` section)")
