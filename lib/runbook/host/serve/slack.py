"""The one way serve posts to Slack: the incoming webhook POST the comms section already
makes (`comms._post_slack`, which also waits out a short 429), retried with backoff when the
failure may pass. A message that still fails is returned as such: the run stands, and the
caller records the failure in the incident's timeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from runbook import comms
from runbook.actions import StepLog
from runbook.clients.http import Timeouts
from runbook.core.config import Config
from runbook.core.redaction import registry

# Slack's answers that no retry can change: the webhook or channel is gone, or refused.
PERMANENT = {"slack.no_service", "slack.channel_not_found", "slack.channel_is_archived",
             "slack.invalid_token", "slack.action_prohibited", "slack.invalid_payload"}


@dataclass(frozen=True)
class SlackPost:
    ok: bool
    attempts: int
    error: str = ""


@dataclass(frozen=True)
class _Poster:
    """What `comms._post_slack` reads from its session: the timeouts."""

    timeouts: Timeouts


def post_to_slack(config: Config, text: str, attempts: int = 4, backoff: float = 1.0,
                  sleep: Callable[[float], None] = time.sleep) -> SlackPost:
    settings = config.slack
    if settings is None:
        return SlackPost(False, 0, "no [slack] section in the config: nothing was posted")
    url = registry().read_env(settings.webhook_url_env)
    if not url:
        return SlackPost(False, 0, f"${settings.webhook_url_env} is not set: nothing was posted")
    poster = cast(Any, _Poster(Timeouts(config.probes.connect_timeout,
                                        config.probes.read_timeout)))
    error = ""
    tries = max(1, attempts)
    for attempt in range(1, tries + 1):
        outcome = comms._post_slack(poster, url, settings.webhook_url_env, settings.channel,
                                    registry().redact(text), StepLog())
        if outcome.ok:
            return SlackPost(True, attempt)
        error = outcome.summary
        if any(f.code in PERMANENT for f in outcome.findings) or attempt == tries:
            return SlackPost(False, attempt, error)
        sleep(backoff * 2 ** (attempt - 1))
    return SlackPost(False, tries, error)  # pragma: no cover - the loop always returns
