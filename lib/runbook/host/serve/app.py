"""The HTTP side of `runbook serve` (Starlette): three alert endpoints, the Slack buttons' request
URL, and two health routes.

    POST /alerts/uptimerobot[/{token}]   (GET too: UptimeRobot can call with GET)
    POST /alerts/railway[/{token}]
    POST /alerts/sentry                  Sentry-Hook-Signature over the raw body
    POST /slack/actions                  a press of a verdict's button (X-Slack-Signature)
    GET  /healthz                        200 only when serve can do its job, else 503 naming
                                         each failing part (Slack, archive, scheduler, runs)
    GET  /livez                          200 while the process answers (for restarts)

Every answer is JSON. 401: no or a wrong credential (nothing is parsed or stored); 400: a body
that is not the provider's alert; 413: a body over 256 KiB; 408: a body not all there within
the body deadline; 503: the queue is full, serve is stopping, or too many unauthenticated
bodies are being read at once; 202: accepted (queued a run, joined the open incident,
recovered, or ignored).

What can be checked without the body is checked before it is read: the URL token, and for
signed requests the presence of a signature and a timestamp within 5 minutes. The body is
then read within bounds (`bodies`); a signature over it is verified before anything of it is
parsed. `/alerts/sentry` answers 409 to a delivery already accepted (`replays`).
`/slack/actions` answers 401 to a bad signature or a timestamp more than 5 minutes off (a
replay), 404 when serve has no Slack app configured, and otherwise 200 at once: the press is
worked in the background (`presses`), well within Slack's 3 seconds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runbook.clients import slack
from runbook.core import clock
from runbook.core.redaction import registry
from runbook.host.serve import alerts, auth, presses, replays
from runbook.host.serve.bodies import (
    BODY_DEADLINE_SECONDS,
    MAX_BODY,
    BodyRefused,
    Gate,
    read_body,
    refuse_before_body,
)
from runbook.host.serve.dispatch import Dispatcher, QueueFull, Stopping
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.slack import SlackStatus

log = logging.getLogger("runbook.serve")
SLACK_WINDOW_SECONDS = 300    # slack_sdk's own bound on X-Slack-Request-Timestamp
RESPONSE_URL_SECRET = "SLACK_RESPONSE_URL"
ARCHIVE_CHECK_SECONDS = 10.0


@dataclass
class ServeState:
    dispatcher: Dispatcher
    book: IncidentBook
    token: str | None
    sentry_secret: str | None
    on_start: Callable[[], None]
    on_stop: Callable[[], None]
    desk: presses.PressDesk | None = None     # None: no Slack app, so no buttons to press
    slack: SlackStatus | None = None          # None: not checked by /healthz
    scheduler_problem: Callable[[], str | None] | None = None
    body_deadline: float = BODY_DEADLINE_SECONDS
    gate: Gate = field(default_factory=Gate)
    seen: replays.SeenDeliveries = field(default_factory=replays.SeenDeliveries)


def _answer(status: int, **body: object) -> JSONResponse:
    return JSONResponse(body, status_code=status)


async def _busy(request: Request) -> JSONResponse:
    """Refused without a slot; a small body is still drained (outside the gate, within the
    short drain deadline) so the sender reads the 503 rather than a connection reset."""
    return await refuse_before_body(request, 503,
                                    "too many unauthenticated requests at once; retry later",
                                    **{"Retry-After": "5"})


def _slack_timestamp_problem(value: str | None) -> str | None:
    """Checked before the body is read: slack_sdk checks it again with the signature."""
    text = (value or "").strip()
    if not text:
        return "no X-Slack-Request-Timestamp"
    if not (text.isascii() and text.isdigit()):     # "²".isdigit(), yet int("²") fails
        return "X-Slack-Request-Timestamp is not Unix seconds"
    if abs(clock.now().timestamp() - int(text)) > SLACK_WINDOW_SECONDS:
        return "X-Slack-Request-Timestamp is more than 5 minutes off (a replay)"
    return None


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
            return await refuse_before_body(request, 401, "missing or wrong token")
        try:
            return await read_body(request, MAX_BODY, state.body_deadline)
        except BodyRefused as exc:
            return exc.answer()

    async def unauthenticated_body(request: Request) -> bytes | JSONResponse:
        """The body of a request whose signature is over its body: read within a slot of
        the gate, so only a few such bodies are read at once."""
        with state.gate.slot() as held:
            if not held:
                return await _busy(request)
            try:
                return await read_body(request, MAX_BODY, state.body_deadline)
            except BodyRefused as exc:
                return exc.answer()

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
        signature = request.headers.get("sentry-hook-signature")
        if not state.sentry_secret or not signature:
            return await refuse_before_body(request, 401,
                                            "missing or wrong Sentry-Hook-Signature")
        stale = replays.timestamp_problem(request.headers.get("sentry-hook-timestamp"),
                                          clock.now())
        if stale:
            return await refuse_before_body(request, 401, stale)
        body = await unauthenticated_body(request)
        if isinstance(body, JSONResponse):
            return body
        if not auth.sentry_signature_ok(body, signature, state.sentry_secret):
            return _answer(401, error="missing or wrong Sentry-Hook-Signature")
        try:
            alert = alerts.parse_sentry(request.headers.get("sentry-hook-resource", ""), body,
                                        clock.now())
        except alerts.MalformedAlert as exc:
            return _answer(400, error=str(exc))
        delivery = state.seen.keys(request.headers.get("request-id"), body)
        if not state.seen.claim(delivery):
            log.warning("/alerts/sentry: a delivery already received was sent again (a "
                        "replay or a retry); not acted on")
            return _answer(409, error="this delivery (its Request-ID or its signed body) was "
                           "already received: it is not acted on twice")
        answer = await submit(alert)
        if answer.status_code == 503:     # not taken: Sentry's retry must be accepted
            state.seen.release(delivery)
        return answer

    async def slack_actions(request: Request) -> Response:
        desk = state.desk
        if desk is None:
            return _answer(404, error="Slack buttons are not configured ([slack] "
                           "bot_token_env and signing_secret_env)")
        stale = _slack_timestamp_problem(request.headers.get("x-slack-request-timestamp"))
        if stale or not request.headers.get("x-slack-signature"):
            return await refuse_before_body(request, 401, stale or "no X-Slack-Signature")
        body = await unauthenticated_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return _answer(400, error="the body is not UTF-8: not a Slack interaction")
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
        # The response_url takes messages into the channel for 30 minutes: a credential,
        # kept out of every log and record like the configured secrets.
        registry().register(RESPONSE_URL_SECRET, press.response_url)
        desk.accept(press)
        return Response(status_code=200)   # the acknowledgement; the answer follows

    checked: dict[int, tuple[float, bool]] = {}   # the last check of the book: (when, result)
    checking = anyio.Lock()

    async def archive_reachable() -> bool:
        """Whether the archive can be written, checked at most once per
        ARCHIVE_CHECK_SECONDS: /healthz is open to anyone, and each check writes to the
        archive (a bucket's writes cost)."""
        book = state.book
        async with checking:
            last = checked.get(id(book))
            if last is None or anyio.current_time() - last[0] >= ARCHIVE_CHECK_SECONDS:
                result = await anyio.to_thread.run_sync(book.reachable)
                checked.clear()
                checked[id(book)] = last = (anyio.current_time(), result)
            return last[1]

    async def healthz(request: Request) -> JSONResponse:
        """200 only when serve can do its job; else 503 and, under `failing`, each part that
        cannot, in a sentence."""
        health = state.dispatcher.health()
        failing: dict[str, str] = {}
        reachable = await archive_reachable()
        health["archive"] = {"reachable": reachable, "where": state.book.where,
                             **await anyio.to_thread.run_sync(state.book.staging)}
        if not reachable:
            failing["archive"] = f"the archive {state.book.where} cannot be written"
        if state.slack is not None:
            health["slack"] = state.slack.health()
            problem = state.slack.problem()
            if problem:
                failing["slack"] = problem
        if state.scheduler_problem is not None:
            problem = state.scheduler_problem()
            if problem:
                failing["scheduler"] = problem
        if health["status"] == "stopping":
            failing["serve"] = "serve is stopping"
        health["unauthenticated"] = state.gate.health()
        health["failing"] = failing
        if failing and health["status"] == "ok":
            health["status"] = "failing"
        return JSONResponse(health, status_code=503 if failing else 200)

    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

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
        Route("/livez", livez, methods=["GET"]),
    ], lifespan=lifespan)
