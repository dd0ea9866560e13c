"""The on-call loop in serve: Acknowledge, escalation, the flapping notice, status updates on a
cadence, and the handoff digest.

Every decision is read from the incident's fold (`incident.oncall`, `incident.fold`) and every
step is appended to its log before the next decision is made, so the timers are the log: a
serve restarted between two pages finds who is due next and when. The scheduler's interval job
(`tick`) tends each watched incident; an alert that needs a notice, and a posted verdict, kick
it at once (on this desk's own thread, never on the alert's path).

    a SEV-1/SEV-2 verdict carries **Acknowledge**; a signed press by a responder records
      `milestone.set acknowledged` (TTA) and stops escalation; an acknowledgement of an
      incident someone else held is a handoff, and the digest is posted
    unacknowledged at `ack_timeout`: `<@next responder>` in the channel and an email (SMTP),
      each a `page.sent`; again every `repage_every`, cycling through `[oncall] responders`
    a flapping signal: one notice (`flap.noticed`); its alerts only update the log
    with `[statuspage]`: a drafted update with **Publish** (`status.update drafted`), a press
      publishes it (`published`), and a reminder with a fresh draft when the last published
      one is older than the cadence (`reminded`)
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from runbook.clients import slack, smtp
from runbook.clients.slack import escape_mrkdwn as esc
from runbook.clients.statuspage import StatuspageClient
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config, OncallConfig, Responder, ServeConfig, timezone_of
from runbook.core.durations import say_duration
from runbook.core.errors import RunbookError
from runbook.core.redaction import registry
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.slack import SlackPost, SlackStatus, post_to_slack, post_with_app
from runbook.incident import oncall as duty
from runbook.incident import views
from runbook.incident.fold import Incident

log = logging.getLogger("runbook.serve")

ACK_ACTION = "runbook.ack"
PUBLISH_ACTION = "runbook.publish"
ACK_VALUE = "ack"
ONCALL_JOB = "oncall"
SECTION_MAX = 2900
CHANNEL_GRACE_SECONDS = 1.0    # a press may beat the record of the message it was made on

Respond = Callable[[Any, dict[str, Any]], None]


def acknowledge_button(incident_id: str) -> dict[str, Any]:
    """The verdict's secondary button: no style, no confirmation (it changes nothing but who
    holds the incident)."""
    return {"type": "button", "action_id": ACK_ACTION, "value": f"{incident_id}/{ACK_VALUE}",
            "text": {"type": "plain_text", "text": "Acknowledge"}}


def publish_button(incident_id: str, draft_id: str) -> dict[str, Any]:
    return {"type": "button", "action_id": PUBLISH_ACTION, "style": "primary",
            "value": f"{incident_id}/{draft_id}",
            "text": {"type": "plain_text", "text": "Publish"},
            "confirm": {"title": {"type": "plain_text", "text": "Publish to the status page?"},
                        "text": {"type": "plain_text", "text": "Customers will read it."},
                        "confirm": {"type": "plain_text", "text": "Publish"},
                        "deny": {"type": "plain_text", "text": "Cancel"}}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX]}}


def tick_seconds(settings: OncallConfig) -> float:
    """How often the desk looks: a fifth of the shortest timer, within 1 to 15 seconds."""
    spans = [settings.ack_timeout_for("SEV-1"), settings.ack_timeout_for("SEV-2"),
             settings.duration("repage_every"), settings.duration("flap_window"),
             settings.status_update_every("SEV-1"), settings.status_update_every("SEV-2")]
    return max(1.0, min(15.0, min(s.total_seconds() for s in spans) / 5))


def allowed_pressers(config: Config) -> frozenset[str]:
    """Who may acknowledge or publish: `[slack] responders` and `[oncall] responders`."""
    ids = set(config.slack.responders if config.slack else ())
    ids |= set(config.oncall.slack_ids() if config.oncall else ())
    return frozenset(ids)


def incident_channels(config: Config, book: IncidentBook, incident_id: str) -> set[str]:
    """The channels a press may come from: the configured one, and those serve posted the
    incident's messages to (Slack answers with the channel's id, the config may name it)."""
    channels = {config.slack.channel} if config.slack else set()
    for event in book.log(incident_id).events():
        if event.kind in ("message.posted", "plan.offered", "page.sent", "status.update"):
            channel = event.get("channel")
            if channel:
                channels.add(str(channel))
    return channels


def channel_refusal(config: Config, book: IncidentBook, incident_id: str,
                    channel: str) -> str | None:
    """Why a press from `channel` is refused (not the incident's channel), or None. A press
    that names no channel is judged by its user alone (Slack names it for every message
    button)."""
    if not channel:
        return None
    for attempt in range(2):
        if channel and channel in incident_channels(config, book, incident_id):
            return None
        if attempt == 0:
            time.sleep(CHANNEL_GRACE_SECONDS)
    return (f"this press came from channel {channel}, not the incident's channel "
            f"({config.slack.channel if config.slack else 'none configured'})")


class OnCall:
    """Tends the open SEV-1/SEV-2 incidents: one at a time, from the fold, each step logged."""

    def __init__(self, config: Config, book: IncidentBook, app: slack.SlackApp | None,
                 slack_status: SlackStatus | None = None) -> None:
        assert config.oncall is not None
        self.config = config
        self.settings = config.oncall
        self.serve = config.serve or ServeConfig()
        self.book = book
        self.app = app
        self.slack_status = slack_status
        self.zone = timezone_of(config)
        self.timeouts = Timeouts(config.probes.connect_timeout, config.probes.read_timeout)
        self._watched: set[str] = set()
        self._lock = threading.Lock()            # the watched set
        self._tending = threading.Lock()         # one incident tended at a time
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serve-oncall")

    # ------------------------------------------------------------ the service's life

    @property
    def tick_seconds(self) -> float:
        return tick_seconds(self.settings)

    def resume(self) -> None:
        """This service's incidents the archive says are open (a restart): watched again."""
        window = timedelta(minutes=self.serve.incident_window_minutes)
        for incident in self.book.open_incidents(window, clock.now()):
            if incident.service and incident.service != self.config.service.name:
                continue      # another service's serve tends it
            with self._lock:
                self._watched.add(incident.incident_id)

    def watch(self, incident_id: str) -> None:
        """Tend `incident_id` from now on, and at once (off the caller's thread)."""
        with self._lock:
            self._watched.add(incident_id)
            if self._stopping:
                return
            try:
                self._pool.submit(self._tend_safely, incident_id)
            except RuntimeError:      # shut down meanwhile: the log keeps what is owed
                log.info("on call is stopping: %s is left to the next serve", incident_id)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def tick(self) -> None:
        with self._lock:
            watched = sorted(self._watched)
        for incident_id in watched:
            self._tend_safely(incident_id)

    def _tend_safely(self, incident_id: str) -> None:
        try:
            self.tend(incident_id, clock.now())
        except Exception:  # one incident must not stop the others, or the scheduler
            log.exception("the on-call loop could not tend %s", incident_id)

    # ------------------------------------------------------------ one incident

    def tend(self, incident_id: str, now: datetime) -> None:
        with self._tending:
            incident = self.book.fold(incident_id, now)
            if not incident.is_open or (incident.service and
                                        incident.service != self.config.service.name):
                # closed, or another service's (its own serve pages for it)
                with self._lock:
                    self._watched.discard(incident_id)
                return
            self._notice_flapping(incident)
            self._escalate(incident, now)
            self._email_owed(self.book.fold(incident_id, now))
            # folded again: a publish pressed while this incident was tended is recorded by
            # now, and a reminder must not call it missing
            self._status(self.book.fold(incident_id, now), now)

    def _notice_flapping(self, incident: Incident) -> None:
        for signal, since in incident.flapping.items():
            noticed = incident.flap_noticed.get(signal)
            if noticed is not None and noticed >= since:
                continue       # this episode has its one notice
            window = self.settings.duration("flap_window")
            changes = sum(1 for c in incident.changes if c[1] == signal
                          and since - c[0] < window)
            text = (f":repeat: *Flapping* · `{esc(signal)}` changed state {changes} times "
                    f"within {say_duration(window)} (incident `{esc(incident.id)}`). Its alerts "
                    "are paused: each is recorded in the incident, with no new post, until it "
                    f"is still for {say_duration(window)}.")
            posted = self._post(text)
            self.book.log(incident.id).append("flap.noticed", {
                "signal": signal, "since": clock.iso(since), "changes": changes,
                "ok": posted.ok, "error": posted.error, "channel": posted.channel,
                "ts": posted.ts}, actor="runbook serve")
            log.info("incident %s: %s is flapping (notice %s)", incident.id, signal,
                     "posted" if posted.ok else f"failed: {posted.error}")

    def _escalate(self, incident: Incident, now: datetime) -> None:
        level = duty.escalation_level(incident)
        if level is None:
            return
        # Not rated yet: the SEV-2 timeout (the shorter SEV-1 one once a run says SEV-1).
        due = duty.next_page(incident, len(self.settings.responders),
                             self.settings.ack_timeout_for(
                                 "SEV-2" if level == duty.UNRATED else level),
                             self.settings.duration("repage_every"))
        if due is None or due.due_at > now:
            return
        responder = self.settings.responders[due.responder]
        waited = now - (incident.detected_at or now)
        severity = "not yet rated" if level == duty.UNRATED else level
        text = (f":rotating_light: <@{responder.slack_id}> you are paged: *{esc(severity)}* "
                f"incident `{esc(incident.id)}`"
                + (f" ({esc(incident.service)})" if incident.service else "")
                + f" is not acknowledged {say_duration(waited)} after it was detected"
                f" ({self._at(incident.detected_at)}). Press *Acknowledge* to take it; "
                f"until someone does, the next responder is paged every "
                f"{say_duration(self.settings.duration('repage_every'))}.")
        blocks = [_section(text), {"type": "actions", "block_id": "runbook_oncall",
                                   "elements": [acknowledge_button(incident.id)]}]
        posted = self._post(text, blocks)
        self.book.log(incident.id).append("page.sent", {
            "responder": responder.name, "slack_id": responder.slack_id, "via": "slack",
            "step": due.step, "due_at": clock.iso(due.due_at), "severity": severity,
            "ok": posted.ok, "error": posted.error, "channel": posted.channel,
            "ts": posted.ts}, actor="runbook serve")
        log.info("incident %s: paged %s (step %d) in Slack: %s", incident.id, responder.name,
                 due.step, "posted" if posted.ok else f"failed: {posted.error}")

    def _email_owed(self, incident: Incident) -> None:
        for page in duty.emails_owed(incident):
            responder = next((r for r in self.settings.responders
                              if r.slack_id == page.get("slack_id")), None)
            if responder is None:
                continue
            ok, error = self._email(incident, responder, str(page.get("severity") or ""))
            self.book.log(incident.id).append("page.sent", {
                "responder": responder.name, "email": responder.email, "via": "email",
                "step": page.get("step"), "ok": ok, "error": error}, actor="runbook serve")
            log.info("incident %s: emailed %s (step %s): %s", incident.id, responder.name,
                     page.get("step"), "sent" if ok else f"failed: {error}")

    def _email(self, incident: Incident, responder: Responder,
               severity: str) -> tuple[bool, str]:
        settings = self.config.email
        if settings is None:
            return False, "no [email] section in the config: no email was sent"
        message = EmailMessage()
        message["From"] = settings.from_address
        message["To"] = responder.email
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="runbook.local")
        message["Subject"] = (f"[{severity or 'incident'}] {incident.service or 'Dealix'}: "
                              f"you are paged, {incident.id} is not acknowledged")
        message.set_content(
            f"{responder.name},\n\nincident {incident.id} ({severity}, "
            f"{incident.service or 'Dealix'}) was detected at {self._at(incident.detected_at)} "
            "and nobody has acknowledged it yet.\n\nOpen Slack "
            f"({self.config.slack.channel if self.config.slack else 'the alerts channel'}) and "
            "press Acknowledge on the verdict to take it.\n\n— runbook serve\n")
        try:
            smtp.send(settings, registry().read_env(settings.password_env), message,
                      [responder.email], self.config.probes.read_timeout,
                      lambda *args, **kwargs: None)
        except RunbookError as exc:
            return False, registry().redact(str(exc))
        return True, ""

    def _status(self, incident: Incident, now: datetime) -> None:
        """With a status page and a Slack app (the Publish button): the first draft, then a
        reminder with a fresh draft whenever the last published update is past the cadence."""
        severity = duty.paged_severity(incident)
        if self.config.statuspage is None or self.app is None or severity is None:
            return
        every = self.settings.status_update_every(severity)
        drafted = any(u.get("stage") == "drafted" for u in incident.status_updates)
        if not drafted:
            self._draft(incident, every, now, "")
        elif duty.status_due(incident, every, now):
            last = incident.last_published
            why = (f"the last published update is {say_duration(now - last['at'])} old"
                   if last else f"nothing was published in {say_duration(every)}")
            self._draft(incident, every, now, f":alarm_clock: *Status update due* ({why}; "
                        f"the cadence for a {esc(severity)} is {say_duration(every)}).\n")
            self.book.log(incident.id).append("status.update", {
                "stage": "reminded", "why": why}, actor="runbook serve")

    def _draft(self, incident: Incident, every: timedelta, now: datetime, lead: str) -> None:
        draft_id = secrets.token_hex(6)
        body = duty.status_draft(incident, self.config.service.name, every, now, self.zone)
        status = duty.statuspage_status(incident)
        text = (f"{lead}:memo: Draft status update for `{esc(incident.id)}` "
                f"(Statuspage: *{status}*):\n> {esc(body)}\nPress *Publish* to post it.")
        blocks = [_section(text), {"type": "actions", "block_id": "runbook_status",
                                   "elements": [publish_button(incident.id, draft_id)]}]
        posted = self._post(text, blocks)
        self.book.log(incident.id).append("status.update", {
            "stage": "drafted", "draft_id": draft_id, "status": status, "body": body,
            "ok": posted.ok, "error": posted.error, "channel": posted.channel,
            "ts": posted.ts}, actor="runbook serve")

    # ------------------------------------------------------------ presses

    def handle_press(self, press: Any, respond: Respond) -> None:
        """An Acknowledge or Publish press (its signature already verified): refused unless
        from a responder, in the incident's channel; every outcome is in the log."""
        who = {"user": press.user_id, "user_name": press.user_name, "plan_id": press.plan_id,
               "action": press.action, "pressed_at": clock.iso(press.at)}
        if not self.book.has_incident(press.incident_id):
            respond(press, _ephemeral("this button's incident is not in the archive. "
                                      "Nothing was done."))
            return
        reason = None
        if press.user_id not in allowed_pressers(self.config):
            reason = "not in [oncall] or [slack] responders"
        else:
            reason = channel_refusal(self.config, self.book, press.incident_id, press.channel)
        if reason:
            log.warning("press of %s by %s refused: %s", press.action, press.user_id, reason)
            self.book.record_press(press.incident_id, **who, outcome="refused", reason=reason)
            respond(press, _ephemeral(f"{esc(reason)}. Nothing was done; the attempt is "
                                      "recorded."))
            return
        if press.action == "ack":
            self._acknowledge(press, who, respond)
        else:
            self._publish(press, who, respond)

    def _acknowledge(self, press: Any, who: dict[str, Any], respond: Respond) -> None:
        with self._tending:     # not between a page's decision and its record
            before = self.book.fold(press.incident_id, press.at)
            if before.acknowledged_now_by == press.user_id:
                respond(press, _ephemeral(f"you already hold this incident (acknowledged "
                                          f"{self._at(before.acks[-1][0])})."))
                return
            name = next((r.name for r in self.settings.responders
                         if r.slack_id == press.user_id), press.user_name or press.user_id)
            self.book.log(press.incident_id).append("milestone.set", {
                "milestone": "acknowledged", "responder": name, "user": press.user_id,
                "via": "slack", "note": "pressed Acknowledge in Slack"},
                at=press.at, actor=press.user_id)
            self.book.record_press(press.incident_id, **who, outcome="done")
            after = self.book.fold(press.incident_id, press.at)
        handoff = before.acknowledged_now_by
        tta = after.time_to("acknowledge")
        text = (f":white_check_mark: <@{press.user_id}> acknowledged `{esc(press.incident_id)}` "
                f"at {self._at(press.at)}"
                + (f" (TTA {say_duration(tta)})" if tta is not None and not handoff else "")
                + (f", taking it over from <@{handoff}>" if handoff else "")
                + ". Escalation stopped.")
        respond(press, {"response_type": "in_channel", "replace_original": False,
                        "text": text})
        log.info("incident %s acknowledged by %s%s", press.incident_id, press.user_id,
                 f" (handoff from {handoff})" if handoff else "")
        if handoff:
            self.post_digest(drills=after.drill)

    def _publish(self, press: Any, who: dict[str, Any], respond: Respond) -> None:
        settings = self.config.statuspage
        incident = self.book.fold(press.incident_id)
        draft = next((u for u in incident.status_updates if u.get("stage") == "drafted"
                      and u.get("draft_id") == press.plan_id), None)
        if settings is None or draft is None:
            respond(press, _ephemeral("this draft is not in the incident's log (or no "
                                      "[statuspage] is configured). Nothing was published."))
            return
        if any(u.get("stage") == "published" and u.get("draft_id") == press.plan_id
               for u in incident.status_updates):
            respond(press, _ephemeral("this draft was already published: it is never "
                                      "published twice."))
            return
        client = StatuspageClient(settings, registry().read_env(settings.api_key_env) or "",
                                  self.timeouts)
        last = incident.last_published
        try:
            if last and last.get("statuspage_id"):
                page = client.update_incident(str(last["statuspage_id"]),
                                              str(draft.get("status")), str(draft.get("body")))
            else:
                page = client.create_incident(f"{self.config.service.name} disruption",
                                              str(draft.get("status")), str(draft.get("body")))
        except RunbookError as exc:
            error = registry().redact(str(exc))
            self.book.log(press.incident_id).append("status.update", {
                "stage": "failed", "draft_id": press.plan_id, "error": error},
                actor=press.user_id)
            self.book.record_press(press.incident_id, **who, outcome="failed", summary=error)
            respond(press, _ephemeral(f"Statuspage refused the update: {esc(error)}"))
            return
        with self._tending:     # not between a reminder's decision and its record
            self.book.log(press.incident_id).append("status.update", {
                "stage": "published", "draft_id": press.plan_id, "statuspage_id": page.id,
                "status": page.status, "body": draft.get("body")}, actor=press.user_id)
        self.book.record_press(press.incident_id, **who, outcome="done")
        respond(press, {"response_type": "in_channel", "replace_original": False,
                        "text": f":loudspeaker: <@{press.user_id}> published the status update "
                        f"({esc(page.status)}) at {self._at(press.at)}."})

    # ------------------------------------------------------------ the digest, Slack

    def post_digest(self, drills: bool = False) -> SlackPost:
        text = open_digest(self.book, clock.now(), self.zone, drills=drills)
        return self._post(f"*Handoff*\n```{esc(text)}```")

    def _post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> SlackPost:
        attempts = min(2, self.serve.slack_attempts)
        if self.app is not None:
            posted = post_with_app(self.config, self.app, text, blocks or [_section(text)],
                                   attempts, self.serve.slack_backoff_seconds)
        else:
            posted = post_to_slack(self.config, text, attempts,
                                   self.serve.slack_backoff_seconds)
        if self.slack_status is not None:
            self.slack_status.note(posted)
        return posted

    def _at(self, moment: datetime | None) -> str:
        return duty.at_zone(moment, self.zone, seconds=True) if moment else "—"


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False,
            "text": f":no_entry: {text}"}


def open_digest(book: IncidentBook, now: datetime, zone: Any, *, drills: bool = False,
                since: timedelta = timedelta(days=7),
                also: tuple[IncidentBook, ...] = ()) -> str:
    """The handoff digest of the archive's open incidents active within `since` (and those
    of the books `also` names: the drills' archive, when asked)."""
    folded = []
    for each, incident_id in [(b, i) for b in (book, *also) for i in b.archive.incidents()]:
        try:
            incident = each.fold(incident_id, now)
        except RunbookError:
            continue
        active = incident.last_alert_at or incident.detected_at or incident.opened_at
        if not incident.is_open or (incident.drill and not drills) or active is None or \
                now - active > since:
            continue
        folded.append(incident)
    return views.digest(folded, now, zone)
