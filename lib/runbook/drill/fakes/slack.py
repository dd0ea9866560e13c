"""A fake Slack on loopback: an incoming webhook, a Slack app's Web API, and its buttons.

The incoming webhook, `POST /services/T…/B…/<secret>` with JSON, answers as Slack does: 200
with the plain body `ok`; 400 `invalid_payload` for a body without text or blocks; 403
`invalid_token` for a path it does not know; and, when told to, 404 `no_service` (the hook was
removed), 410 `channel_is_archived`, or 429 with `Retry-After`.

The app's Web API (`POST /api/chat.postMessage`, `/api/chat.update`, bearer bot token) keeps
each message with its blocks and every update; `POST /response/<id>` is the `response_url` of a
press. `press` does what Slack does when a person presses a button: it POSTs a signed
`block_actions` payload (form field `payload`) to the app's request URL.
"""

from __future__ import annotations

import json
import secrets as _random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from runbook.clients.slack import sign_request
from runbook.drill.fakes.server import FakeService, Request, Response, json_response

if TYPE_CHECKING:
    from runbook.drill.target import Target

WEBHOOK_ENV = "DRILL_SLACK_WEBHOOK_URL"
BOT_TOKEN_ENV = "DRILL_SLACK_BOT_TOKEN"
SIGNING_SECRET_ENV = "DRILL_SLACK_SIGNING_SECRET"
CHANNEL_ID = "C0DEALIX01"
ERRORS = {"no_service": 404, "channel_not_found": 404, "channel_is_archived": 410,
          "action_prohibited": 403, "invalid_token": 403, "rollup_error": 500}


def _text(body: str, status: int) -> Response:
    return Response(status, body, {"Content-Type": "text/html"})


@dataclass
class Posted:
    channel: str
    payload: dict[str, Any]


@dataclass
class AppMessage:
    """A message the app posted: its blocks as they are now, and every update it had."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    updates: list[dict[str, Any]] = field(default_factory=list)

    def buttons(self) -> list[dict[str, Any]]:
        return [element for block in self.blocks if block.get("type") == "actions"
                for element in block.get("elements", []) if element.get("type") == "button"]


@dataclass
class SlackState:
    fault: str = ""                    # one of ERRORS: every post answers with it
    rate_limited: int = 0              # how many next posts get a 429
    retry_after: int = 1
    posted: list[Posted] = field(default_factory=list)
    messages: list[AppMessage] = field(default_factory=list)        # chat.postMessage
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by response id


class FakeSlack(FakeService):
    name = "slack"

    def __init__(self, channel: str = "#dealix-alerts") -> None:
        super().__init__()
        self.channel = channel
        self.path = (f"/services/T{_random.token_hex(4).upper()}/B{_random.token_hex(4).upper()}"
                     f"/{_random.token_hex(12)}")
        self.state = SlackState()
        self.bot_token = "xoxb-drill-" + _random.token_hex(12)
        self.signing_secret = _random.token_hex(16)
        self.url = ""                  # set once served: where response URLs point

    # ------------------------------------------------------------ the app's Web API

    def _api(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return json_response({"ok": False, "error": "invalid_auth"})
        try:
            body = request.json()
        except ValueError:
            return json_response({"ok": False, "error": "invalid_json"})
        if not isinstance(body, dict):
            return json_response({"ok": False, "error": "invalid_arguments"})
        method = request.path.rsplit("/", 1)[-1]
        if method == "chat.postMessage":
            if not body.get("channel"):
                return json_response({"ok": False, "error": "channel_not_found"})
            ts = f"{time.time():.6f}"
            self.state.messages.append(AppMessage(CHANNEL_ID, ts, str(body.get("text", "")),
                                                  list(body.get("blocks") or [])))
            return json_response({"ok": True, "channel": CHANNEL_ID, "ts": ts})
        if method == "chat.update":
            message = self.message(str(body.get("ts", "")))
            if message is None or body.get("channel") != message.channel:
                return json_response({"ok": False, "error": "message_not_found"})
            message.updates.append(body)
            message.text = str(body.get("text", message.text))
            message.blocks = list(body.get("blocks") or [])
            return json_response({"ok": True, "channel": message.channel, "ts": message.ts})
        return json_response({"ok": False, "error": "unknown_method"})

    def message(self, ts: str) -> AppMessage | None:
        return next((m for m in self.state.messages if m.ts == ts), None)

    def responses(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for answers in self.state.responses.values() for r in answers]

    def updates(self) -> list[dict[str, Any]]:
        with self.lock:
            return [u for m in self.state.messages for u in m.updates]

    def press(self, request_url: str, message: AppMessage, button: dict[str, Any],
              user_id: str, *, timestamp: float | None = None,
              secret: str | None = None) -> httpx.Response:
        """Press `button` of `message` as `user_id`: Slack's signed block_actions POST to
        the app's request URL. `timestamp` and `secret` let a test replay or forge one."""
        body, headers = self.press_request(message, button, user_id, timestamp=timestamp,
                                           secret=secret)
        with httpx.Client(timeout=10, trust_env=False) as http:
            return http.post(request_url, content=body, headers=headers)

    def press_request(self, message: AppMessage, button: dict[str, Any], user_id: str, *,
                      timestamp: float | None = None, secret: str | None = None,
                      channel: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The signed body and headers of a press (for an app served in-process); `channel`
        makes it come from another channel than the message's."""
        response_id = _random.token_hex(8)
        with self.lock:
            self.state.responses.setdefault(response_id, [])
        payload = {
            "type": "block_actions", "user": {"id": user_id, "username": user_id.lower()},
            "team": {"id": "T0DEALIX"}, "api_app_id": "A0RUNBOOK",
            "container": {"type": "message", "message_ts": message.ts,
                          "channel_id": channel or message.channel},
            "channel": {"id": channel or message.channel, "name": "dealix-alerts"},
            "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
            "response_url": f"{self.url}/response/{response_id}",
            "trigger_id": _random.token_hex(8),
            "actions": [{"type": "button", "action_id": button.get("action_id"),
                         "block_id": "plans", "value": button.get("value"),
                         "text": button.get("text"), "action_ts": f"{time.time():.6f}"}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        moment = int(time.time() if timestamp is None else timestamp)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   **sign_request(self.signing_secret if secret is None else secret, body,
                                  moment)}
        return body, headers

    # ------------------------------------------------------------ every request

    def handle(self, request: Request) -> Response:
        with self.lock:
            state = self.state
            if request.method == "POST" and request.path.startswith("/api/"):
                return self._api(request)
            if request.method == "POST" and request.path.startswith("/response/"):
                answers = state.responses.get(request.path.rsplit("/", 1)[-1])
                if answers is None:
                    return _text("used_url", 404)
                try:
                    answers.append(request.json())
                except ValueError:
                    return _text("invalid_payload", 400)
                return _text("ok", 200)
            if request.method != "POST" or not request.path.startswith("/services/"):
                return _text("invalid_request", 404) if request.method == "POST" else \
                    Response(405, "")
            if request.path != self.path:
                return _text("invalid_token", 403)
            if state.rate_limited > 0:
                state.rate_limited -= 1
                return Response(429, "rate_limited", {"Content-Type": "text/html",
                                                      "Retry-After": str(state.retry_after)})
            if state.fault:
                return _text(state.fault, ERRORS[state.fault])
            try:
                payload = json.loads(request.body or b"null")
            except ValueError:
                return _text("invalid_payload", 400)
            if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
                return _text("no_text", 400) if isinstance(payload, dict) else \
                    _text("invalid_payload", 400)
            state.posted.append(Posted(self.channel, payload))
            return _text("ok", 200)


def with_slack(target: Target) -> FakeSlack:
    """Serve a fake Slack webhook for `target`: the config's [slack] and the URL as a secret."""
    fake = FakeSlack()
    server = target.serve(fake)
    fake.url = server.url
    target.secret(WEBHOOK_ENV, server.url + fake.path)
    target.sections["slack"] = {"webhook_url_env": WEBHOOK_ENV, "channel": fake.channel}
    target.extras["slack"] = fake
    return fake


def with_slack_app(target: Target, responders: list[str]) -> FakeSlack:
    """Make the target's fake Slack a Slack app too: bot token, signing secret, the Web API
    at the fake, and the responders allowed to confirm (call after `with_slack`)."""
    fake: FakeSlack = target.extras["slack"]
    target.secret(BOT_TOKEN_ENV, fake.bot_token)
    target.secret(SIGNING_SECRET_ENV, fake.signing_secret)
    target.sections["slack"].update({
        "bot_token_env": BOT_TOKEN_ENV, "signing_secret_env": SIGNING_SECRET_ENV,
        "responders": list(responders), "api_url": fake.url + "/api"})
    return fake
