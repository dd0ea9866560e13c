"""The ways serve posts to Slack, all through the one Slack client (`clients.slack`): the
incoming webhook (which also waits out a short 429), retried with backoff when the failure may
pass; and, when the config names a Slack app's bot token, `chat.postMessage` with buttons. A
message that still fails is returned as such: the run stands, and the caller records the
failure in the incident's timeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runbook.clients import slack
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.errors import ServiceUnavailable
from runbook.core.redaction import registry

# A post whose answer comes late may still have been delivered, and its retry then shows the
# channel the same message twice (an incoming webhook takes no idempotency key). So a post waits
# longer for its answer than a probe does: a slow Slack, or a loaded machine, is waited out
# rather than answered twice. A refused connection, where nothing was sent, is retried as before.
POST_READ_TIMEOUT = 10.0


def posting_timeouts(config: Config) -> Timeouts:
    return Timeouts(config.probes.connect_timeout,
                    max(config.probes.read_timeout, POST_READ_TIMEOUT))


@dataclass(frozen=True)
class SlackPost:
    ok: bool
    attempts: int
    error: str = ""
    channel: str = ""      # a Slack app's message: where it went and its ts (for updates)
    ts: str = ""


class SlackStatus:
    """Whether serve can tell anyone anything: Slack is configured, and the last message it
    posted got through (or none was posted yet). `/healthz` reads it."""

    def __init__(self, unconfigured: str = "") -> None:
        self.unconfigured = unconfigured      # why Slack is not configured; "" when it is
        self._lock = threading.Lock()
        self._last: SlackPost | None = None
        self._last_at = ""

    def note(self, posted: SlackPost) -> None:
        with self._lock:
            self._last, self._last_at = posted, clock.iso(clock.now())

    def problem(self) -> str | None:
        if self.unconfigured:
            return self.unconfigured
        with self._lock:
            last = self._last
        if last is not None and not last.ok:
            return f"the last post to Slack failed: {last.error}"
        return None

    def health(self) -> dict[str, Any]:
        with self._lock:
            last, at = self._last, self._last_at
        return {"configured": not self.unconfigured,
                "last_post": None if last is None else
                {"ok": last.ok, "at": at, "attempts": last.attempts, "error": last.error}}


def unconfigured(config: Config, app: slack.SlackApp | None) -> str:
    """Why serve cannot post to Slack as configured, or "" when it can (a Slack app's bot
    token, or the incoming webhook's URL, is set)."""
    settings = config.slack
    if settings is None:
        return "no [slack] section in the config: no verdict can be posted"
    if app is not None or registry().read_env(settings.webhook_url_env):
        return ""
    return f"${settings.webhook_url_env} is not set: no verdict can be posted"


def slack_app(config: Config) -> slack.SlackApp | None:
    """The Slack app's bot, when the config names one and its token is set; else None (an
    incoming webhook carries no buttons)."""
    settings = config.slack
    if settings is None or not settings.bot_token_env:
        return None
    token = registry().read_env(settings.bot_token_env)
    if not token:
        return None
    return slack.SlackApp(token, posting_timeouts(config), settings.api_url)


def post_with_app(config: Config, app: slack.SlackApp, text: str,
                  blocks: list[dict[str, Any]], attempts: int = 4, backoff: float = 1.0,
                  sleep: Callable[[float], None] = time.sleep) -> SlackPost:
    """chat.postMessage to `[slack] channel`, retried like the webhook; the answer's channel
    and ts are what later updates of the message name."""
    channel = config.slack.channel if config.slack else ""
    tries = max(1, attempts)
    error = ""
    for attempt in range(1, tries + 1):
        answer = app.post_message(channel, registry().redact(text), registry().redact_obj(blocks))
        if answer.ok:
            return SlackPost(True, attempt, channel=answer.channel, ts=answer.ts)
        error = f"Slack refused chat.postMessage: {answer.error}"
        if answer.error in ("invalid_auth", "not_authed", "channel_not_found", "not_in_channel",
                            "account_inactive", "token_revoked", "missing_scope"):
            break
        if attempt < tries:
            sleep(backoff * 2 ** (attempt - 1))
    return SlackPost(False, attempt, registry().redact(error))


def post_to_slack(config: Config, text: str, attempts: int = 4, backoff: float = 1.0,
                  sleep: Callable[[float], None] = time.sleep) -> SlackPost:
    settings = config.slack
    if settings is None:
        return SlackPost(False, 0, "no [slack] section in the config: nothing was posted")
    url = registry().read_env(settings.webhook_url_env)
    if not url:
        return SlackPost(False, 0, f"${settings.webhook_url_env} is not set: nothing was posted")
    timeouts = posting_timeouts(config)
    error = ""
    tries = max(1, attempts)
    for attempt in range(1, tries + 1):
        permanent = False
        try:
            answer = slack.post_message(url, registry().redact(text), timeouts)
        except ServiceUnavailable as exc:
            error = str(exc)
        else:
            if answer.ok:
                return SlackPost(True, attempt)
            error = f"Slack refused the message ({answer.status}): {answer.meaning}"
            permanent = answer.permanent
        if permanent or attempt == tries:
            return SlackPost(False, attempt, registry().redact(error))
        sleep(backoff * 2 ** (attempt - 1))
    return SlackPost(False, tries, error)  # pragma: no cover - the loop always returns
