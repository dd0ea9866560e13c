"""The HTTP side of `runbook serve` (Starlette): three alert endpoints and `/healthz`.

    POST /alerts/uptimerobot[/{token}]   (GET too: UptimeRobot can call with GET)
    POST /alerts/railway[/{token}]
    POST /alerts/sentry                  Sentry-Hook-Signature over the raw body
    POST /slack/actions                  a press of a verdict's button (X-Slack-Signature)
    GET  /healthz                        queue, run in flight, last verdict, archive reachable

Every answer is JSON. 401: no or a wrong credential (nothing is parsed or stored); 400: a body
that is not the provider's alert; 413: a body over 256 KiB; 503: the queue is full or serve is
stopping; 202: accepted (queued a run, joined the open incident, recovered, or ignored).
`/slack/actions` answers 401 to a bad signature or a timestamp more than 5 minutes off (a
replay), 404 when serve has no Slack app configured, and otherwise 200 at once: the press is
worked in the background (`presses`), well within Slack's 3 seconds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runbook.clients import slack
from runbook.core import clock
from runbook.host.serve import alerts, auth, presses
from runbook.host.serve.dispatch import Dispatcher, QueueFull, Stopping
from runbook.host.serve.incidents import IncidentBook

log = logging.getLogger("runbook.serve")
MAX_BODY = 256 * 1024


@dataclass
class ServeState:
    dispatcher: Dispatcher
    book: IncidentBook
    token: str | None
    sentry_secret: str | None
    on_start: Callable[[], None]
    on_stop: Callable[[], None]
    desk: presses.PressDesk | None = None     # None: no Slack app, so no buttons to press


def _answer(status: int, **body: object) -> JSONResponse:
    return JSONResponse(body, status_code=status)


async def _body(request: Request) -> bytes | None:
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_BODY:
        return None
    body = await request.body()
    return body if len(body) <= MAX_BODY else None


def build_app(state: ServeState) -> Starlette:
    async def submit(alert: alerts.Alert) -> JSONResponse:
        if alert.kind == alerts.UNKNOWN:
            # Acknowledged, so the sender does not retry it forever; recorded as unknown.
            log.warning("%s: %s, keys %s", alert.source, alert.summary, alert.details)
        try:
            decision = await anyio.to_thread.run_sync(state.dispatcher.submit, alert)
        except QueueFull as exc:
            return JSONResponse({"error": f"queue full: {exc}; retry later"}, 503,
                                headers={"Retry-After": "30"})
        except Stopping:
            return JSONResponse({"error": "serve is stopping; retry later"}, 503,
                                headers={"Retry-After": "30"})
        return _answer(202, outcome=decision.outcome if alert.kind != alerts.UNKNOWN
                       else "unknown", incident=decision.incident_id,
                       notebook=decision.notebook, alert=alert.summary)

    def token_of(request: Request) -> str | None:
        return request.path_params.get("token") or request.query_params.get("token")

    async def tokened_body(request: Request) -> bytes | JSONResponse:
        """The body of a request that carries serve's token (UptimeRobot and Railway cannot
        sign), or the answer that refuses it; nothing of a refused request is read further."""
        if not auth.token_ok(token_of(request), state.token):
            return _answer(401, error="missing or wrong token")
        body = await _body(request)
        if body is None:
            return _answer(413, error=f"body over {MAX_BODY} bytes")
        return body

    async def uptimerobot(request: Request) -> JSONResponse:
        body = await tokened_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            fields = alerts.uptimerobot_fields(request.query_params,
                                               request.headers.get("content-type", ""), body)
            alert = alerts.parse_uptimerobot(fields, clock.now())
        except alerts.MalformedAlert as exc:
            return _answer(400, error=str(exc))
        return await submit(alert)

    async def railway(request: Request) -> JSONResponse:
        body = await tokened_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            alert = alerts.parse_railway(body, clock.now())
        except alerts.MalformedAlert as exc:
            return _answer(400, error=str(exc))
        return await submit(alert)

    async def sentry(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _answer(413, error=f"body over {MAX_BODY} bytes")
        if not auth.sentry_signature_ok(body, request.headers.get("sentry-hook-signature"),
                                        state.sentry_secret):
            return _answer(401, error="missing or wrong Sentry-Hook-Signature")
        try:
            alert = alerts.parse_sentry(request.headers.get("sentry-hook-resource", ""), body,
                                        clock.now())
        except alerts.MalformedAlert as exc:
            return _answer(400, error=str(exc))
        return await submit(alert)

    async def slack_actions(request: Request) -> Response:
        desk = state.desk
        if desk is None:
            return _answer(404, error="Slack buttons are not configured ([slack] "
                           "bot_token_env and signing_secret_env)")
        body = await _body(request)
        if body is None:
            return _answer(413, error=f"body over {MAX_BODY} bytes")
        # slack_sdk's verifier: the HMAC over v0:{timestamp}:{body}, and a timestamp within
        # 5 minutes of now, so a recorded press cannot be replayed.
        if not slack.verify_request(desk.signing_secret, body, request.headers):
            log.warning("/slack/actions: bad signature or a timestamp over 5 minutes off")
            return _answer(401, error="bad or missing X-Slack-Signature, or an "
                           "X-Slack-Request-Timestamp more than 5 minutes off (a replay)")
        try:
            press = presses.parse_press(body, clock.now())
        except presses.BadPress as exc:
            return _answer(400, error=str(exc))
        desk.accept(press)
        return Response(status_code=200)   # the acknowledgement; the answer follows

    async def healthz(request: Request) -> JSONResponse:
        health = state.dispatcher.health()
        reachable = await anyio.to_thread.run_sync(state.book.reachable)
        health["archive"] = {"reachable": reachable, "where": state.book.where}
        return JSONResponse(health, status_code=200 if reachable else 503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.on_start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(state.on_stop)

    return Starlette(routes=[
        Route("/alerts/uptimerobot", uptimerobot, methods=["GET", "POST"]),
        Route("/alerts/uptimerobot/{token}", uptimerobot, methods=["GET", "POST"]),
        Route("/alerts/railway", railway, methods=["POST"]),
        Route("/alerts/railway/{token}", railway, methods=["POST"]),
        Route("/alerts/sentry", sentry, methods=["POST"]),
        Route("/slack/actions", slack_actions, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ], lifespan=lifespan)
