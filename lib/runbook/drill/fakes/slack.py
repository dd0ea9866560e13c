"""A fake Slack incoming webhook on loopback: `POST /services/T…/B…/<secret>` with JSON.

It answers as Slack does: 200 with the plain body `ok`; 400 `invalid_payload` for a body
without text or blocks; 403 `invalid_token` for a path it does not know; and, when told to,
404 `no_service` (the hook was removed), 410 `channel_is_archived`, or 429 with `Retry-After`.
"""

from __future__ import annotations

import json
import secrets as _random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbook.drill.fakes.server import FakeService, Request, Response

if TYPE_CHECKING:
    from runbook.drill.target import Target

WEBHOOK_ENV = "DRILL_SLACK_WEBHOOK_URL"
ERRORS = {"no_service": 404, "channel_not_found": 404, "channel_is_archived": 410,
          "action_prohibited": 403, "invalid_token": 403, "rollup_error": 500}


def _text(body: str, status: int) -> Response:
    return Response(status, body, {"Content-Type": "text/html"})


@dataclass
class Posted:
    channel: str
    payload: dict[str, Any]


@dataclass
class SlackState:
    fault: str = ""                    # one of ERRORS: every post answers with it
    rate_limited: int = 0              # how many next posts get a 429
    retry_after: int = 1
    posted: list[Posted] = field(default_factory=list)


class FakeSlack(FakeService):
    name = "slack"

    def __init__(self, channel: str = "#dealix-alerts") -> None:
        super().__init__()
        self.channel = channel
        self.path = (f"/services/T{_random.token_hex(4).upper()}/B{_random.token_hex(4).upper()}"
                     f"/{_random.token_hex(12)}")
        self.state = SlackState()

    def handle(self, request: Request) -> Response:
        with self.lock:
            state = self.state
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
    target.secret(WEBHOOK_ENV, server.url + fake.path)
    target.sections["slack"] = {"webhook_url_env": WEBHOOK_ENV, "channel": fake.channel}
    target.extras["slack"] = fake
    return fake
