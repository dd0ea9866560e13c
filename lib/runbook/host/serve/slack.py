"""The one way serve posts to Slack: the incoming-webhook client (`clients.slack`, which also
waits out a short 429), retried with backoff when the failure may pass. A message that still
fails is returned as such: the run stands, and the caller records the failure in the
incident's timeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from runbook.clients import slack
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.errors import ServiceUnavailable
from runbook.core.redaction import registry


@dataclass(frozen=True)
class SlackPost:
    ok: bool
    attempts: int
    error: str = ""


def post_to_slack(config: Config, text: str, attempts: int = 4, backoff: float = 1.0,
                  sleep: Callable[[float], None] = time.sleep) -> SlackPost:
    settings = config.slack
    if settings is None:
        return SlackPost(False, 0, "no [slack] section in the config: nothing was posted")
    url = registry().read_env(settings.webhook_url_env)
    if not url:
        return SlackPost(False, 0, f"${settings.webhook_url_env} is not set: nothing was posted")
    timeouts = Timeouts(config.probes.connect_timeout, config.probes.read_timeout)
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
