"""Starting and stopping `runbook serve`: the credentials, uvicorn on a socket bound before it
starts (port 0 gives an ephemeral one, printed), the scheduler, and the order of shutdown.

On SIGTERM or Ctrl-C uvicorn stops accepting and finishes the requests in hand; the lifespan's
end then stops the scheduler and the dispatcher, which SIGTERMs the run in flight (sealed
`aborted`) and reports it. uvicorn re-raises the signal once it is done: the handlers set here
take it, so the command returns 0 after a clean stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from runbook.archive.location import open_archive, runs_dir
from runbook.archive.staged import StagedStore
from runbook.clients.slack import SlackApp
from runbook.core import clock
from runbook.core.config import Config, ServeConfig
from runbook.core.errors import BadInput
from runbook.core.redaction import registry
from runbook.host.serve import logs, schedule
from runbook.host.serve.app import ServeState, build_app
from runbook.host.serve.auth import redact_access_log
from runbook.host.serve.bodies import Gate
from runbook.host.serve.dispatch import Dispatcher, child_environment
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.oncall import OnCall
from runbook.host.serve.outbox import Outbox
from runbook.host.serve.presses import PressDesk
from runbook.host.serve.protocol import with_head_deadline
from runbook.host.serve.slack import SlackStatus, post_to_slack, slack_app, unconfigured
from runbook.incident.windows import fold_options

log = logging.getLogger("runbook.serve")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def credentials(config: Config) -> tuple[str, str | None]:
    settings = config.serve or ServeConfig()
    for name in config.secret_env_names():   # so nothing serve writes can carry one
        registry().read_env(name)
    token = registry().read_env(settings.token_env)
    if not token:
        raise BadInput(f"${settings.token_env} is not set: export the token the alert URLs "
                       "carry ([serve] token_env names the variable); without it anyone "
                       "could start runs")
    if len(token) < 16:
        raise BadInput(f"${settings.token_env} is shorter than 16 characters: use a long "
                       "random token (python3 -c 'import secrets; "
                       "print(secrets.token_urlsafe(32))')")
    secret = registry().read_env(settings.sentry_secret_env)
    if not secret:
        log.warning("$%s is not set: /alerts/sentry answers 401 to everything",
                    settings.sentry_secret_env)
    return token, secret


def press_desk(config: Config, book: IncidentBook, app_bot: SlackApp | None
               ) -> PressDesk | None:
    """The desk for button presses: only with a Slack app (bot token) and its signing secret;
    a bot without the secret posts no buttons anyone could press, so it is refused."""
    if app_bot is None or config.slack is None:
        return None
    secret = registry().read_env(config.slack.signing_secret_env)
    if not secret:
        raise BadInput(f"${config.slack.signing_secret_env} is not set but the Slack app's bot "
                       f"token (${config.slack.bot_token_env}) is: export the app's signing "
                       "secret, or unset the bot token to post without buttons")
    if not config.slack.responders:
        log.warning("[slack] responders is empty: every press will be refused")
    return PressDesk(config, book, app_bot, secret, child_environment(config))


@dataclass(frozen=True)
class Service:
    """What `runbook serve` serves: the ASGI app (its lifespan starts and stops the dispatcher,
    the press desk and the scheduler), the token to keep out of the access log, and where the
    archive is."""

    app: Starlette
    token: str
    archive: str


def build_service(config: Config) -> Service:
    """Everything but the socket and uvicorn: the command serves this app, the tests drive it
    in-process (Starlette's TestClient)."""
    settings = config.serve or ServeConfig()
    if settings.body_deadline_seconds <= 0 or settings.unauthenticated_at_once < 1:
        raise BadInput("[serve] body_deadline_seconds must be above 0 and "
                       "unauthenticated_at_once at least 1")
    token, sentry_secret = credentials(config)
    book = IncidentBook(open_archive(config),
                        timedelta(minutes=settings.reopen_window_minutes),
                        **fold_options(config))
    # Refused before serving, naming the cause: a wrong bucket, endpoint or credentials.
    book.archive.ensure_writable()
    if isinstance(book.archive.store, StagedStore):
        book.archive.store.keep_uploading()   # a lost bucket is retried, not given up on
    app_bot = slack_app(config)
    slack_status = SlackStatus(unconfigured(config, app_bot))
    if slack_status.unconfigured:
        log.warning("%s (/healthz answers 503 until it is)", slack_status.unconfigured)
    outbox = Outbox.beside(runs_dir(config))
    unwritable = outbox.writable()
    if unwritable:
        log.warning("%s: a verdict is lost if serve dies before Slack takes it", unwritable)
    dispatcher = Dispatcher(config, book, child_environment(config), slack_app=app_bot,
                            outbox=outbox, slack_status=slack_status)
    desk = press_desk(config, book, app_bot)
    duty = OnCall(config, book, app_bot, slack_status) if config.oncall is not None else None
    if duty is not None:
        dispatcher.watcher = duty.watch
        if desk is not None:
            desk.oncall = duty
    postmortems = _postmortems_dir(config)

    def run_monitoring() -> None:
        if not dispatcher.submit_scheduled("monitoring_check", schedule.monitoring_incident_id(),
                                           "the monthly monitoring check (scheduled)"):
            log.warning("the monthly monitoring check was not queued (queue full or stopping)")

    def remind_due() -> None:
        overdue = book.postmortems_overdue(postmortems, clock.now())
        if overdue:
            posted = post_to_slack(config, schedule.due_message(overdue, str(postmortems)),
                                   settings.slack_attempts, settings.slack_backoff_seconds)
            slack_status.note(posted)
            log.info("overdue postmortems: %d; Slack %s", len(overdue),
                     "posted" if posted.ok else f"failed: {posted.error}")

    scheduler = schedule.build_scheduler(config, run_monitoring, remind_due)
    if duty is not None:
        schedule.every(scheduler, schedule.ONCALL_JOB, duty.tick_seconds, duty.tick)

    def on_start() -> None:
        dispatcher.start()
        if duty is not None:
            duty.resume()      # the timers are the logs: who is due next is read from them
        scheduler.start()

    def on_stop() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if desk is not None:
            desk.stop()
        if duty is not None:
            duty.stop()
        dispatcher.stop()

    def scheduler_problem() -> str | None:
        if not dispatcher.alive():
            return "the worker that runs notebooks and posts verdicts is not running"
        if not scheduler.running:
            return "the scheduler (monthly monitoring check, postmortem reminders) is stopped"
        return None

    app = build_app(ServeState(dispatcher, book, token, sentry_secret, on_start, on_stop,
                               desk, slack_status, scheduler_problem,
                               settings.body_deadline_seconds,
                               Gate(settings.unauthenticated_at_once)))
    return Service(app, token, book.where)


def run_service(config: Config, host: str | None = None, port: int | None = None) -> int:
    settings = config.serve or ServeConfig()
    logs.configure(logging.INFO)
    service = build_service(config)
    sock = bind(host or settings.host, settings.port if port is None else port)
    server = uvicorn.Server(uvicorn.Config(
        service.app, log_level="info", access_log=True, lifespan="on",
        timeout_graceful_shutdown=10, http=with_head_deadline(settings.body_deadline_seconds)))
    # After uvicorn.Config: it (re)configures its loggers and their handlers.
    redact_access_log(service.token)
    logs.redact_handlers()
    bound_host, bound_port = sock.getsockname()[:2]
    print(f"runbook serve: listening on http://{bound_host}:{bound_port} "
          f"(archive {service.archive})", flush=True)
    stopped_by: list[str] = []

    def note(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
    print("runbook serve: stopped" + (f" ({stopped_by[0]})" if stopped_by else ""), flush=True)
    return 0


def _postmortems_dir(config: Config) -> Path:
    base = Path(config.archive.postmortems_dir)
    return base if base.is_absolute() else config.path.resolve().parent / base
