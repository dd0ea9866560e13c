"""A press of a mitigation button: checked, then done through the notebooks' guarded path.

`POST /slack/actions` has verified Slack's signature (and refused a stale timestamp) before a
press gets here; the route answers 200 at once and the desk works in the background:

1. Only a user id in `[slack] responders` may confirm; anyone else gets an ephemeral refusal,
   and the attempt is recorded in the incident.
2. One press acts per plan, and one at a time per incident: a double press, or two people at
   once, leave one to act and refuse the others (the guards below would refuse them too).
3. The plan is re-checked (`plans.stale_reason`); a stale one is refused with the reason and a
   fresh plan is offered in its place.
4. The press runs the plan's notebook headless, as serve runs every notebook, with
   `-p confirm true -p actor <Slack user id>` and the plan's parameters. So the mutation goes
   through `runbook.sections.kit.actions` exactly as from JupyterLab: the archive's lock (one at a
   time),
   the incident's ledger (never twice), and a sealed record naming the Slack user as actor.
5. Started, then done / failed / refused, go back to the channel (`response_url`, then
   `chat.update` of the verdict: its buttons replaced by the outcome), and every step is a
   `press` event of the incident.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from runbook.clients import slack
from runbook.clients.slack import escape_mrkdwn as esc
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config, ServeConfig
from runbook.core.errors import RecordError, RunbookError
from runbook.core.redaction import registry
from runbook.host.serve import buttons, child, oncall
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.plans import Plan, fresh_plan, replanned, stale_reason
from runbook.host.serve.verdict import command, local_time, plain
from runbook.incident import views
from runbook.incident.fold import MITIGATED, Incident

log = logging.getLogger("runbook.serve")
VALUE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})/([0-9a-f]{12})$")
ACK_VALUE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})/(ack)$")
PLAN, ACK, PUBLISH = "plan", "ack", "publish"
# action_id → what the press is: a plan's mitigation, Acknowledge, or Publish (on call)
ACTIONS = {oncall.ACK_ACTION: (ACK, ACK_VALUE), oncall.PUBLISH_ACTION: (PUBLISH, VALUE)}
USER_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")    # Slack's ids (U0…, W0…): safe in <@…>
# A press's run waits on Railway (up to the rollback notebook's 600 s) and then /healthz.
PRESS_DEADLINE_SECONDS = 900.0
DONE, FAILED, REFUSED, STARTED = "done", "failed", "refused", "started"


class BadPress(ValueError):
    """A signed request that is not a press of one of our buttons (HTTP 400)."""


@dataclass(frozen=True)
class Press:
    user_id: str
    user_name: str
    incident_id: str
    plan_id: str
    response_url: str
    channel: str
    message_ts: str
    message_blocks: list[dict[str, Any]]
    at: datetime
    action: str = PLAN        # plan, ack or publish
    typed: str = ""          # the short id typed to confirm a second action of a kind


def parse_press(body: bytes, received: datetime) -> Press:
    """Slack's `block_actions` form (`payload=<JSON>`) → the press of one runbook button."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][-1])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise BadPress("expected a form with one field `payload` holding JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise BadPress("not a block_actions payload")
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    action_id = str(action.get("action_id", "")) if isinstance(action, dict) else ""
    kind, pattern = ACTIONS.get(action_id, (PLAN, VALUE))
    if not isinstance(action, dict) or (kind == PLAN and not action_id.startswith(
            buttons.ACTION_PREFIX)):
        raise BadPress("not a press of a runbook button")
    found = pattern.match(str(action.get("value", "")))
    if found is None:
        raise BadPress("the button's value is not <incident>/<plan>")
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    user_id = str((user or {}).get("id") or "")
    if not USER_ID.match(user_id):
        raise BadPress("no user.id, or not a Slack user id")
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    blocks = (message or {}).get("blocks")
    return Press(user_id, str((user or {}).get("username") or (user or {}).get("name") or ""),
                 found.group(1), found.group(2), str(payload.get("response_url") or ""),
                 str((channel or {}).get("id") or (container or {}).get("channel_id") or ""),
                 str((message or {}).get("ts") or (container or {}).get("message_ts") or ""),
                 [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else [],
                 received, kind, _typed(payload))



def _typed(payload: dict[str, Any]) -> str:
    """The message's confirm-again input as the press carried it (`state.values`)."""
    state = payload.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block = values.get(buttons.CONFIRM_AGAIN_BLOCK) if isinstance(values, dict) else None
    field = block.get(buttons.CONFIRM_AGAIN_ACTION) if isinstance(block, dict) else None
    value = field.get("value") if isinstance(field, dict) else None
    return str(value or "").strip()[:64]


@dataclass(frozen=True)
class Judged:
    outcome: str            # done, failed, refused
    summary: str
    record_path: str | None
    verified: bool | None = None   # done: did the post-check hold (None: none was made)


def judge(plan: Plan, result: child.ChildResult, book: IncidentBook) -> Judged:
    """What the press's sealed record says the guarded action came to."""
    try:
        record, path = book.sealed_record(plan.incident_id, plan.notebook, result.record_path)
    except RecordError as exc:
        return Judged(FAILED, f"the record cannot be read: {exc}", None)
    if record is None:
        return Judged(FAILED, "no record was sealed: " + (result.output.strip().splitlines()
                                                          or ["see the serve log"])[-1], None)
    entries = [a for a in record.get("actions", []) if isinstance(a, dict)
               and a.get("name") == plan.action_name and not a.get("dry_run")]
    if not entries:
        blocked = [a for a in record.get("actions", []) if isinstance(a, dict)
                   and a.get("status") == "blocked"]
        if blocked:
            return Judged(REFUSED, str(blocked[-1].get("result", "blocked")), path)
        error = str(record.get("error") or f"the run ended {record.get('status')} before "
                    "the action")
        return Judged(FAILED, error, path)
    entry = entries[-1]
    status, summary = str(entry.get("status", "")), str(entry.get("result", ""))
    outcome = {"succeeded": DONE, "already_done": DONE, "done_unverified": DONE,
               "failed": FAILED, "refused": REFUSED, "blocked": REFUSED}.get(status, FAILED)
    verified = entry.get("verified")
    return Judged(outcome, summary, path, verified if isinstance(verified, bool) else None)


class PressDesk:
    """Takes verified presses and works them in the background, one action at a time."""

    def __init__(self, config: Config, book: IncidentBook, app: slack.SlackApp | None,
                 signing_secret: str, child_env: dict[str, str]) -> None:
        self.config = config
        self.book = book
        self.app = app
        self.signing_secret = signing_secret
        self.child_env = child_env
        self.settings = config.serve or ServeConfig()
        self.timeouts = Timeouts(config.probes.connect_timeout, config.probes.read_timeout)
        self.responders = frozenset(config.slack.responders if config.slack else ())
        self._lock = threading.Lock()
        self._busy: dict[str, str] = {}        # incident → who acts on it, and what
        self._claimed: set[str] = set()        # plan ids a press has acted on
        self._process: subprocess.Popen[str] | None = None
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="serve-press")
        self.oncall: oncall.OnCall | None = None     # Acknowledge and Publish, with [oncall]

    # ------------------------------------------------------------ the service's life

    def accept(self, press: Press) -> None:
        with self._lock:
            if self._stopping:
                return
        self._pool.submit(self._work, press)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None:
            log.info("stopping the press's run in flight (SIGTERM): it is sealed as aborted")
            child.stop(process)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _started(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._process = process
            stopping = self._stopping
        if stopping:
            child.stop(process)

    # ------------------------------------------------------------ one press

    def _work(self, press: Press) -> None:
        try:
            self._handle(press)
        except Exception:  # one bad press must not go unanswered
            log.exception("the press of %s by %s failed", press.plan_id, press.user_id)
            self._respond(press, {"response_type": "ephemeral", "replace_original": False,
                                  "text": "runbook serve could not handle this press: see "
                                  "its log. Nothing was started."})

    def _handle(self, press: Press) -> None:
        who = {"user": press.user_id, "user_name": press.user_name, "plan_id": press.plan_id,
               "pressed_at": clock.iso(press.at)}
        if press.action != PLAN:
            if self.oncall is None:
                self._refuse(press, "on call is not configured ([oncall]). Nothing was done.")
            else:
                self.oncall.handle_press(press, self._respond)
            return
        known = self.book.has_incident(press.incident_id)
        refused_channel = oncall.channel_refusal(self.config, self.book, press.incident_id,
                                                 press.channel) if known else None
        if refused_channel:
            log.warning("press by %s refused: %s", press.user_id, refused_channel)
            self.book.record_press(press.incident_id, **who, outcome=REFUSED,
                                   reason=refused_channel)
            self._refuse(press, f"{esc(refused_channel)}. Nothing was done; the attempt is "
                         "recorded.")
            return
        if press.user_id not in self.responders:
            log.warning("press by %s refused: not in [slack] responders", press.user_id)
            if known:
                self.book.record_press(press.incident_id, **who, outcome=REFUSED,
                                       reason="not in [slack] responders")
            self._refuse(press, "only the responders in runbook's allow-list ([slack] "
                         "responders) can confirm a mitigation. Nothing was done; the attempt "
                         "is recorded.")
            return
        altered = self.book.log_problems(press.incident_id) if known else []
        if altered:
            log.warning("press of %s refused: the incident's log was altered: %s",
                        press.plan_id, altered[0])
            self._refuse(press, "the incident's log no longer matches what was written to it "
                         f"({altered[0]}): no plan from it is acted on. Run `runbook verify "
                         f"{press.incident_id}`. Nothing was done.")
            return
        event = self.book.plan_event(press.incident_id, press.plan_id) if known else None
        if event is None:
            self._refuse(press, "this button's plan is not in the archive (from another "
                         "runbook serve, or the archive moved). Nothing was done.")
            return
        plan = Plan.from_event(press.incident_id, event)
        who["action"] = plan.action_name
        claimed, reason = self._claim(press, plan)
        if not claimed:
            self.book.record_press(press.incident_id, **who, outcome=REFUSED, reason=reason)
            self._refuse(press, reason)
            return
        try:
            self._act(press, plan, who)
        finally:
            with self._lock:
                self._busy.pop(press.incident_id, None)

    def _claim(self, press: Press, plan: Plan) -> tuple[bool, str]:
        """Under one lock: is another action running for the incident, or was this plan
        already pressed? Else this press acts."""
        with self._lock:
            busy = self._busy.get(press.incident_id)
            if busy:
                return False, f"{busy} is in progress for this incident: wait for its outcome " \
                    "in the thread. Nothing more was done."
            earlier = plan.plan_id in self._claimed or any(
                p.get("plan_id") == plan.plan_id and p.get("outcome") == STARTED
                for p in self.book.presses(press.incident_id))
            if earlier:
                return False, f"“{esc(plan.label)}” was already pressed: see its outcome in " \
                    "the thread. It is never done twice."
            self._busy[press.incident_id] = f"<@{press.user_id}>'s “{esc(plan.label)}”"
            self._claimed.add(plan.plan_id)
            return True, ""

    def _act(self, press: Press, plan: Plan, who: dict[str, Any]) -> None:
        closed = self.book.is_closed(press.incident_id)
        stale = stale_reason(self.config, self.timeouts, plan, closed, clock.now())
        if stale:
            with self._lock:   # refused before acting: the same button gives the same reason
                self._claimed.discard(plan.plan_id)
            fresh = None if closed else fresh_plan(self.config, self.timeouts, plan)
            if fresh is not None:
                self.book.record_plan(press.incident_id, fresh.to_event(), press.channel,
                                      press.message_ts)
            self.book.record_press(press.incident_id, **who, outcome=REFUSED,
                                   reason=f"stale: {stale}",
                                   fresh_plan=fresh.plan_id if fresh else None)
            text = f":no_entry: Refused: {esc(stale)}. Nothing was done."
            if fresh is not None:
                text += f"\nA fresh plan, as things are now: {esc(fresh.description)}"
                self._respond(press, {"response_type": "ephemeral", "replace_original": False,
                                      "text": text, "blocks": buttons.plan_blocks(text, fresh)})
            else:
                self._refuse(press, f"{esc(stale)}. Nothing was done.")
            return
        wanted = str(plan.extra.get("confirm_again") or "")
        if wanted and press.typed != wanted:
            with self._lock:   # typed wrong or not at all: the same button may be pressed again
                self._claimed.discard(plan.plan_id)
            typed = f"typed {press.typed!r}" if press.typed else "nothing was typed"
            reason = (f"a second {plan.kind} in this incident needs its target's short id "
                      f"typed in the box above the button ({typed})")
            self.book.record_press(press.incident_id, **who, outcome=REFUSED, reason=reason)
            self._refuse(press, f"{esc(reason)}: type {esc(wanted)}, then press again. "
                         "Nothing was done.")
            return
        self.book.record_press(press.incident_id, **who, outcome=STARTED,
                               description=plan.description)
        at = local_time(press.at, self.config)
        self._respond(press, {"response_type": "in_channel", "replace_original": False,
                              "text": f":hourglass_flowing_sand: <@{press.user_id}> pressed "
                              f"“{esc(plain(plan.label))}” at {at}: started. "
                              f"{esc(plain(plan.description))}"})
        log.info("press by %s: %s for %s", press.user_id, plan.kind, press.incident_id)
        parameters = [*plan.parameters.items(), ("confirm", "true"),
                      ("actor", press.user_id)]
        if wanted:
            parameters.append(("confirm_again", press.typed))
        result = child.run_child(plan.notebook, press.incident_id, self.config.path.resolve(),
                                 max(self.settings.run_deadline_seconds,
                                     PRESS_DEADLINE_SECONDS),
                                 self.child_env, self._started, parameters)
        with self._lock:
            self._process = None
        judged = judge(plan, result, self.book)
        self.book.record_press(press.incident_id, **who, outcome=judged.outcome,
                               summary=judged.summary,
                               record=str(judged.record_path) if judged.record_path else None)
        log.info("press by %s: %s", press.user_id, judged.outcome)
        self._update(press, self._outcome_text(press, plan, judged))
        if judged.outcome == REFUSED:
            self._offer_replanned(press, plan, judged)

    def _outcome_text(self, press: Press, plan: Plan, judged: Judged) -> str:
        """What was done, what came of it, and what is next, as the incident's fold says."""
        unfixed = judged.outcome == DONE and judged.verified is False
        icon = ":warning:" if unfixed else {DONE: ":white_check_mark:", FAILED: ":x:",
                                            REFUSED: ":no_entry:"}[judged.outcome]
        said = "DONE AT THE PROVIDER, NOT FIXED" if unfixed else judged.outcome.upper()
        lines = [f"{icon} <@{press.user_id}> pressed “{esc(plain(plan.label))}” at "
                 f"{local_time(press.at, self.config)}: *{said}* — "
                 f"{esc(plain(judged.summary))[:600]}"]
        try:
            incident: Incident | None = self.book.fold(press.incident_id)
        except RunbookError:
            incident = None
        if incident is not None:
            if incident.state == MITIGATED and incident.mitigated_at:
                lines.append(f"Mitigated at {local_time(incident.mitigated_at, self.config)}: "
                             "the service held healthy for the stabilisation window.")
            elif unfixed:
                lines.append("The incident stays open: this is not done again.")
            sections = [str(s["notebook"]) for s in views.next_of(incident)]
            if sections:
                lines.append("*Next*: " + ", ".join(f"`{esc(s)}`" for s in sections) + " · "
                             + f"`{esc(command(sections[0], press.incident_id))}`")
            elif incident.is_open:
                lines.append("*Next*: watch that it holds; `runbook incident show "
                             f"{esc(press.incident_id)}`")
        return "\n".join(lines)

    def _offer_replanned(self, press: Press, plan: Plan, judged: Judged) -> None:
        """A press refused by its run because the value changed gets that run's new plan."""
        if not judged.record_path:
            return
        try:
            record, _ = self.book.sealed_record(plan.incident_id, plan.notebook,
                                                judged.record_path)
        except RecordError:
            return
        fresh = replanned(self.config, self.timeouts, plan, record or {})
        if fresh is None:
            return
        self.book.record_plan(press.incident_id, fresh.to_event(), press.channel,
                              press.message_ts)
        text = f"A new plan, as things are now: {fresh.description}"
        self._respond(press, {"response_type": "in_channel", "replace_original": False,
                              "text": text, "blocks": buttons.plan_blocks(text, fresh)})

    # ------------------------------------------------------------ answers to Slack

    def _refuse(self, press: Press, reason: str) -> None:
        self._respond(press, {"response_type": "ephemeral", "replace_original": False,
                              "text": f":no_entry: Refused: {plain(reason)}"})

    def _respond(self, press: Press, message: dict[str, Any]) -> None:
        if not self._response_url_ok(press.response_url):
            log.warning("press by %s: no usable response_url; answer not sent", press.user_id)
            return
        answer = slack.respond(press.response_url, registry().redact_obj(message),
                               self.timeouts)
        if not answer.ok:
            log.warning("the answer to %s's press was not delivered: %s", press.user_id,
                        answer.error)

    def _update(self, press: Press, line: str) -> None:
        """The verdict's buttons replaced by the outcome (chat.update); else response_url."""
        blocks = buttons.outcome_blocks(press.message_blocks, line)
        if self.app is not None and press.channel and press.message_ts:
            answer = self.app.update_message(press.channel, press.message_ts,
                                             registry().redact(line),
                                             registry().redact_obj(blocks))
            if answer.ok:
                return
            log.warning("chat.update failed (%s): answering through response_url",
                        answer.error)
        self._respond(press, {"replace_original": True, "text": line, "blocks": blocks})

    def _response_url_ok(self, url: str) -> bool:
        """Slack's response URLs are https; plain http only to the configured api_url's host
        (a fake Slack on loopback in drills and tests)."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return True
        api = urlsplit(self.config.slack.api_url if self.config.slack else "")
        return parts.scheme == "http" and bool(parts.hostname) and \
            parts.hostname == api.hostname
