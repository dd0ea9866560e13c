"""Slack: incoming webhooks, the Web API of a Slack app, and its signed interactivity requests.

Incoming webhooks: `POST <webhook URL>` with `{"text": …}`.

Success is 200 with the plain body `ok`; anything else is a failure whose body names it
(`no_service`, `channel_not_found`, …: see `ERRORS`). A 429 carries Retry-After (Slack allows
about one message a second per webhook): it is waited out while the total wait stays within
`RETRY_BOUND`, and reported past that. The webhook URL is the secret: it is never shown.

A Slack app (bot token with `chat:write`) can post messages with buttons (`chat.postMessage`)
and replace them (`chat.update`); each answers 200 with `{"ok": true|false, "error": …}`.
When a button is pressed Slack POSTs a signed form to the app's request URL; `verify_request`
checks the signature with `slack_sdk`'s verifier, which also refuses a timestamp more than
5 minutes away (a replay). The press's `response_url` takes follow-up messages for 30 minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from runbook.clients.transport import (
    Timeouts,
    client,
    describe_failure,
    excerpt,
    retry_after_seconds,
    transport_failure,
)
from runbook.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    # imported where a signature is checked or made: every kernel imports this module (for the
    # error vocabulary), and slack_sdk's package brings its whole web client along
    from slack_sdk.signature import Clock

SERVICE = "Slack"
RETRY_BOUND = 10.0     # seconds waited on 429s in all before the rate limit is reported

# Slack's error bodies: (what it means, how to fix it; {env} is the webhook URL's env var).
ERRORS = {
    "no_service": ("the webhook no longer exists (removed, or its Slack app uninstalled)",
                   "create a new incoming webhook for the channel and put its URL in {env}"),
    "channel_not_found": ("the webhook's channel was deleted or renamed",
                          "create a new incoming webhook for the channel, URL in {env}"),
    "channel_is_archived": ("the channel is archived", "unarchive it, or make a webhook for "
                            "another channel and put its URL in {env}"),
    "invalid_token": ("Slack does not know the webhook's token", "check {env} holds the "
                      "whole webhook URL"),
    "action_prohibited": ("a workspace admin restricts this webhook", "ask a Slack admin"),
    "invalid_payload": ("Slack rejected the message body", "a bug: report it"),
    "rollup_error": ("Slack had an internal error", "try again in a minute"),
}
UNKNOWN_FIX = "check the webhook URL in {env}"
# The answers no retry can change: the webhook or channel is gone, or the message is refused.
PERMANENT = frozenset({"no_service", "channel_not_found", "channel_is_archived",
                       "invalid_token", "action_prohibited", "invalid_payload"})


@dataclass(frozen=True)
class SlackAnswer:
    """What the webhook answered to one message (after any 429s that were waited out)."""

    status: int
    body: str                 # redacted and cut to an excerpt
    retry_after: float = 0.0  # on a 429 left unretried: what Slack asked for
    waited: float = 0.0       # seconds spent waiting out 429s

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body == "ok"

    @property
    def rate_limited(self) -> bool:
        return self.status == 429

    @property
    def error(self) -> str:
        """Slack's error name when the body is one it documents, else ""."""
        return self.body if self.body in ERRORS else ""

    @property
    def permanent(self) -> bool:
        """Sending the same message again cannot succeed."""
        return self.error in PERMANENT

    @property
    def meaning(self) -> str:
        return ERRORS[self.error][0] if self.error else f"unexpected answer {self.body!r}"

    def fix(self, env: str) -> str:
        """How to fix it; `env` is the webhook URL's env var, written as `$NAME`."""
        return (ERRORS[self.error][1] if self.error else UNKNOWN_FIX).format(env=env)


def post_message(url: str, text: str, timeouts: Timeouts, *,
                 retry_bound: float = RETRY_BOUND,
                 on_answer: Callable[[int, str], None] | None = None) -> SlackAnswer:
    """Post `text` to the webhook at `url`. ServiceUnavailable when Slack cannot be reached;
    otherwise Slack's answer, whatever it is. `on_answer(status, body)` sees every answer,
    429s included (for a step log)."""
    waited = 0.0
    with client(timeouts) as http:
        while True:
            try:
                response = http.post(url, json={"text": text})
            except httpx.HTTPError as exc:
                # The URL holds the secret: only its host is named.
                raise ServiceUnavailable(SERVICE, describe_failure(transport_failure(exc),
                                                                   url)) from None
            body = excerpt(response.text)
            if on_answer is not None:
                on_answer(response.status_code, body)
            if response.status_code == 429:
                delay = retry_after_seconds(response)
                if waited + delay <= retry_bound:
                    time.sleep(delay)
                    waited += delay
                    continue
                return SlackAnswer(429, body, retry_after=delay, waited=waited)
            return SlackAnswer(response.status_code, body, waited=waited)


# ---------------------------------------------------------------- the Web API of a Slack app

DEFAULT_API_URL = "https://slack.com/api"


@dataclass(frozen=True)
class ApiAnswer:
    """What one Web API call (or a response_url post) came to."""

    ok: bool
    error: str = ""                      # Slack's error name, or what went wrong on the way
    channel: str = ""                    # chat.postMessage: the channel id it went to
    ts: str = ""                         # chat.postMessage / chat.update: the message's ts


class SlackApp:
    """A Slack app's bot: post a message with blocks, update it, answer a press."""

    def __init__(self, token: str, timeouts: Timeouts, api_url: str = DEFAULT_API_URL) -> None:
        self.token = token
        self.timeouts = timeouts
        self.api_url = api_url.rstrip("/")

    def _call(self, method: str, body: dict[str, Any]) -> ApiAnswer:
        url = f"{self.api_url}/{method}"
        try:
            with client(self.timeouts, {"Authorization": f"Bearer {self.token}"}) as http:
                response = http.post(url, json=body)
        except httpx.HTTPError as exc:
            return ApiAnswer(False, describe_failure(transport_failure(exc), url))
        try:
            data = response.json()
        except ValueError:
            return ApiAnswer(False, f"HTTP {response.status_code}: {excerpt(response.text)}")
        if not isinstance(data, dict):
            return ApiAnswer(False, f"HTTP {response.status_code}: not a JSON object")
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        return ApiAnswer(bool(data.get("ok")), str(data.get("error") or ""),
                         str(data.get("channel") or ""),
                         str(data.get("ts") or (message or {}).get("ts") or ""))

    def post_message(self, channel: str, text: str,
                     blocks: list[dict[str, Any]] | None = None) -> ApiAnswer:
        body: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            body["blocks"] = blocks
        return self._call("chat.postMessage", body)

    def update_message(self, channel: str, ts: str, text: str,
                       blocks: list[dict[str, Any]] | None = None) -> ApiAnswer:
        return self._call("chat.update", {"channel": channel, "ts": ts, "text": text,
                                          "blocks": blocks or []})


def respond(response_url: str, message: dict[str, Any], timeouts: Timeouts) -> ApiAnswer:
    """POST a follow-up to a press's `response_url` (`response_type` ephemeral or in_channel,
    `replace_original`…). The URL is a credential of its own: only its host is ever named."""
    try:
        with client(timeouts) as http:
            response = http.post(response_url, json=message)
    except httpx.HTTPError as exc:
        return ApiAnswer(False, describe_failure(transport_failure(exc), response_url))
    if response.status_code != 200:
        return ApiAnswer(False, f"HTTP {response.status_code}: {excerpt(response.text)}")
    return ApiAnswer(True)


def verify_request(signing_secret: str, body: bytes, headers: Mapping[str, str],
                   clock: Clock | None = None) -> bool:
    """Slack signed this body (X-Slack-Signature over `v0:{timestamp}:{body}`), within the
    last 5 minutes. Both checks are slack_sdk's: no signature code of our own."""
    from slack_sdk.signature import SignatureVerifier

    if not signing_secret:
        return False
    verifier = SignatureVerifier(signing_secret, clock) if clock else \
        SignatureVerifier(signing_secret)
    try:
        return verifier.is_valid_request(body, dict(headers))
    except (ValueError, UnicodeDecodeError):   # a timestamp not a number, a body not UTF-8
        return False


def escape_mrkdwn(text: object) -> str:
    """`text` made inert in Slack's mrkdwn: `&`, `<` and `>` escaped, as Slack asks, so text
    from outside (an alert title, a commit message, a log line) can neither mention
    (`<!channel>`) nor link (`<https://…|Roll back>`). Formatting characters (`*`, `_`,
    backticks) are left: they style text but cannot ping anyone or hide a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign_request(signing_secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers Slack would send with `body` at `timestamp` (for the drill's fake Slack)."""
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(signing_secret).generate_signature(
        timestamp=str(timestamp), body=body)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature or ""}
