"""Slack incoming webhooks: `POST <webhook URL>` with `{"text": …}`.

Success is 200 with the plain body `ok`; anything else is a failure whose body names it
(`no_service`, `channel_not_found`, …: see `ERRORS`). A 429 carries Retry-After (Slack allows
about one message a second per webhook): it is waited out while the total wait stays within
`RETRY_BOUND`, and reported past that. The webhook URL is the secret: it is never shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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
