"""From alerts to runs: the per-service incident window, a bounded queue, one run at a time.

An alert for a service with an open incident joins it (an open incident is one whose last
alert came within `incident_window_minutes` and that no recovery closed). A notebook runs once
per incident; the same alert again starts it again only after `rerun_after_minutes`, and never
while that run is queued or in flight. So a storm of duplicates gives one run and one Slack
message, and the rest are events in the incident's timeline. When a run is due and the queue
is full, the alert is refused (503) and nothing of it is stored: the sender retries.

One worker thread takes the queue in order, so at most one `runbook run` is alive at a time.
Stopping (SIGTERM) refuses new alerts, SIGTERMs the run in flight (sealed `aborted`, and still
reported), and leaves the queued ones to the archive: a restarted serve finds them again.
Each run's verdict is owed in the outbox from the run's start until Slack takes it; between
jobs the worker posts what is owed (`outbox`), so neither a killed serve nor a Slack outage
loses one.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook.checks import health
from runbook.clients.slack import SlackApp
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config, ServeConfig
from runbook.core.errors import RecordError, RunbookError
from runbook.core.redaction import registry
from runbook.host.serve import buttons, child, plans, verdict
from runbook.host.serve.alerts import DOWN, RECOVERED, Alert
from runbook.host.serve.changes import ChangesFetch
from runbook.host.serve.incidents import IncidentBook, OpenIncident
from runbook.host.serve.outbox import Outbox, Owed
from runbook.host.serve.slack import SlackPost, SlackStatus, post_to_slack, post_with_app
from runbook.incident import similar
from runbook.incident.fold import RESOLVED, Incident

SEEN_BEFORE_SECONDS = 1.0   # the verdict's budget for comparing with the incidents before
log = logging.getLogger("runbook.serve")


class QueueFull(Exception):
    """No room for another run: answer 503."""


class Stopping(Exception):
    """Serve is shutting down: answer 503."""


@dataclass(frozen=True)
class Decision:
    outcome: str                   # queued, joined, recovered, ignored
    incident_id: str | None = None
    notebook: str | None = None


@dataclass(frozen=True)
class Job:
    incident_id: str
    notebook: str
    reason: str


@dataclass
class LastRun:
    incident_id: str
    notebook: str
    status: str
    severity: str | None
    slack: str
    finished_at: str


@dataclass
class Counters:
    alerts: int = 0
    runs_started: int = 0
    slack_posted: int = 0
    slack_failed: int = 0


def notebook_for(settings: ServeConfig, alert: Alert) -> str:
    return {"uptimerobot": settings.uptimerobot_notebook, "sentry": settings.sentry_notebook,
            "crashed": settings.railway_crashed_notebook,
            "failed": settings.railway_failed_notebook}.get(alert.trigger,
                                                             settings.uptimerobot_notebook)


# The sections whose fix is a variable change: their own run plans it (a dry run, harmless)
# with the fingerprints a button must show, so when a verdict sends the responder there and
# Slack can carry buttons, serve runs them too, once per incident, to offer the fix.
PLANNING_SECTIONS = ("db_refused", "webhook_401")


def follow_ups(record: dict[str, Any] | None, buttons: bool) -> list[str]:
    """The sections a verdict's `next` names that serve runs next, to plan their fix."""
    if not buttons or not record:
        return []
    named = [str(item.get("notebook")) for item in record.get("next") or []
             if isinstance(item, dict)]
    return [notebook for notebook in named if notebook in PLANNING_SECTIONS]


@dataclass
class Dispatcher:
    config: Config
    book: IncidentBook
    child_env: dict[str, str]
    post: Callable[[str], SlackPost] | None = None
    slack_app: SlackApp | None = None     # a Slack app's bot: the verdict carries buttons
    settings: ServeConfig = field(init=False)
    service: str = field(init=False)
    counters: Counters = field(default_factory=Counters)
    last_run: LastRun | None = None
    outbox: Outbox | None = None          # verdicts owed, on disk (None: kept nowhere)
    slack_status: SlackStatus | None = None
    # The on-call desk ([oncall]): told of each verdict posted and each alert it may owe a
    # notice for; it decides off the alert's path (None: no on-call loop).
    watcher: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.settings = self.config.serve or ServeConfig()
        self.service = self.config.service.name
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=self.settings.queue_size)
        self._lock = threading.Lock()
        self._open: dict[str, OpenIncident] = {}
        self._resolved: dict[str, OpenIncident] = {}   # for the reopen window
        self._pending: set[tuple[str, str]] = set()
        self._planned: set[tuple[str, str]] = set()   # follow-ups queued, per incident
        self._in_flight: Job | None = None
        self._process: subprocess.Popen[str] | None = None
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="serve-runs", daemon=True)

    # ------------------------------------------------------------ the service's life

    def start(self) -> None:
        """Pick up what the archive says is still open, then start the worker."""
        window = timedelta(minutes=self.settings.incident_window_minutes)
        for incident in self.book.open_incidents(window, clock.now()):
            self._open[incident.service or self.service] = incident
            for notebook in incident.waiting:
                if self._enqueue(Job(incident.incident_id, notebook,
                                     "an alert received before serve restarted")):
                    log.info("resuming %s for %s", notebook, incident.incident_id)
        self._worker.start()

    def stop(self, wait: float = 30.0) -> None:
        with self._lock:
            self._stopping = True
            process = self._process
            while True:   # queued runs stay in the archive as alerts: a restart resumes them
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        if process is not None:
            log.info("stopping the run in flight (SIGTERM): it is sealed as aborted")
            child.stop(process)
        try:
            self._queue.put_nowait(None)
        except queue.Full:  # pragma: no cover - emptied above
            pass
        if self._worker.is_alive():
            self._worker.join(wait)

    def alive(self) -> bool:
        """The worker that runs notebooks and posts verdicts is running."""
        return self._worker.is_alive()

    def health(self) -> dict[str, Any]:
        owed = len(self.outbox.entries()) if self.outbox else None   # disk: not under the lock
        with self._lock:
            in_flight = self._in_flight
            last = self.last_run
            return {
                "status": "stopping" if self._stopping else "ok",
                "queue_depth": self._queue.qsize(), "queue_size": self.settings.queue_size,
                "runs_in_flight": 1 if in_flight else 0,
                "in_flight": {"incident_id": in_flight.incident_id,
                              "notebook": in_flight.notebook} if in_flight else None,
                "open_incidents": sorted(i.incident_id for i in self._open.values()),
                "last_run": last.__dict__ if last else None,
                "counters": self.counters.__dict__,
                "verdicts_owed": owed,
            }

    # ------------------------------------------------------------ alerts in

    def submit(self, alert: Alert, now: datetime | None = None) -> Decision:
        """Decide and record, all under one lock: concurrent duplicates see each other."""
        moment = now or clock.now()
        with self._lock:
            if self._stopping:
                raise Stopping("serve is stopping")
            self.counters.alerts += 1
            incident = self._current(moment)
            if alert.kind == RECOVERED:
                if incident is None:
                    return Decision("ignored")
                self.book.record_recovered(incident, alert)
                self._watch(incident.incident_id)
                if alert.signal != incident.signal:
                    # Another monitor's "up", or a Sentry rule resolving: kept, closes nothing.
                    return Decision("recorded", incident.incident_id)
                self._checker(incident)
                return Decision("recovered", incident.incident_id)
            if alert.kind != DOWN:
                return Decision("ignored", incident.incident_id if incident else None)
            if incident is None:
                incident = self._reopenable(alert, moment)
            notebook = notebook_for(self.settings, alert)
            if incident is not None and self.watcher is not None and \
                    self.book.flapping_with(incident.incident_id, alert, moment):
                # Flapping: the alert updates the log, and posts and runs nothing.
                incident.last_alert = moment
                self.book.record_alert(incident, alert, notebook, "paused: flapping")
                self._watch(incident.incident_id)
                return Decision("paused", incident.incident_id, notebook)
            due = incident is None or self._due(incident, notebook, moment)
            if due and self._queue.full():
                raise QueueFull(f"{self._queue.qsize()} runs already wait")
            if incident is None:
                incident = self.book.open_new(self.service, alert,
                                              opened_by=f"alert {alert.source}")
                self._open[self.service] = incident
                log.info("incident %s opened by %s", incident.incident_id, alert.summary)
            incident.last_alert = moment
            self.book.record_alert(incident, alert, notebook, "run" if due else "joined")
            if not due:
                return Decision("joined", incident.incident_id, notebook)
            incident.ran[notebook] = moment
            self._enqueue(Job(incident.incident_id, notebook, alert.summary))
            return Decision("queued", incident.incident_id, notebook)

    def _reopenable(self, alert: Alert, moment: datetime) -> OpenIncident | None:
        """The incident its signal resolved within the reopen window: this alert reopens it
        (the fold says so when the alert is appended) rather than opening a second one."""
        resolved = self._resolved.get(self.service)
        window = timedelta(minutes=self.settings.reopen_window_minutes)
        if resolved is None or resolved.signal != alert.signal or \
                moment - resolved.last_alert > window + timedelta(
                    minutes=self.settings.incident_window_minutes):
            return None
        state = self.book.fold(resolved.incident_id, moment)
        if state.resolved_at is None or moment - state.resolved_at > window:
            return None
        del self._resolved[self.service]
        resolved.ran.clear()     # reopened: its sections run again
        self._open[self.service] = resolved
        log.info("incident %s reopened by %s", resolved.incident_id, alert.summary)
        return resolved

    def _watch(self, incident_id: str) -> None:
        if self.watcher is not None:
            self.watcher(incident_id)

    def _checker(self, incident: OpenIncident) -> None:
        """After the opening signal recovered: check /healthz (off the alert's path); the
        incident resolves when it passes."""
        threading.Thread(target=self._check_recovery, args=(incident,), daemon=True,
                         name="serve-recovery-check").start()

    def _check_recovery(self, incident: OpenIncident) -> None:
        timeouts = Timeouts(self.config.probes.connect_timeout, self.config.probes.read_timeout)
        try:
            finding = health.probe_healthz(self.config, timeouts)
            ok = finding.code == "health.ok" and finding.status == "pass"
            state = self.book.record_check(incident.incident_id, ok, finding.summary[:300])
        except Exception:  # a check that cannot run leaves the incident open
            log.exception("the recovery check of %s could not run", incident.incident_id)
            return
        if state.state == RESOLVED:
            with self._lock:
                if self._open.get(self.service) is incident:
                    del self._open[self.service]
                    self._resolved[self.service] = incident
            log.info("incident %s resolved: its signal recovered and /healthz passes",
                     incident.incident_id)

    def submit_scheduled(self, notebook: str, incident_id: str, reason: str) -> bool:
        """A scheduled run (the monthly monitoring check): queued unless serve is stopping."""
        with self._lock:
            if self._stopping:
                return False
            return self._enqueue(Job(incident_id, notebook, reason))

    def _current(self, moment: datetime) -> OpenIncident | None:
        incident = self._open.get(self.service)
        window = timedelta(minutes=self.settings.incident_window_minutes)
        if incident is not None and moment - incident.last_alert > window:
            del self._open[self.service]
            return None
        return incident

    def _due(self, incident: OpenIncident, notebook: str, moment: datetime) -> bool:
        if (incident.incident_id, notebook) in self._pending:
            return False
        last = incident.ran.get(notebook)
        return last is None or moment - last > timedelta(
            minutes=self.settings.rerun_after_minutes)

    def _enqueue(self, job: Job) -> bool:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        self._pending.add((job.incident_id, job.notebook))
        return True

    # ------------------------------------------------------------ runs out

    def _work(self) -> None:
        self._drain_outbox()     # verdicts a previous serve owed, first
        while True:
            try:
                job = self._queue.get(timeout=self._outbox_wait())
            except queue.Empty:
                self._drain_outbox()
                continue
            except Exception:  # the outbox unreadable: wait for jobs alone, a while
                log.exception("the outbox could not be read")
                try:
                    job = self._queue.get(timeout=60)
                except queue.Empty:
                    continue
            if job is None:
                return
            try:
                self._run(job)
            except Exception:  # one bad run must not end the worker
                log.exception("the run of %s for %s could not be reported", job.notebook,
                              job.incident_id)
            finally:
                with self._lock:
                    self._pending.discard((job.incident_id, job.notebook))
                    self._in_flight = None
                    self._process = None

    def _started(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._process = process
            stopping = self._stopping
        if stopping:  # the stop came between taking the job and starting the runner
            child.stop(process)

    def _run(self, job: Job) -> None:
        with self._lock:
            if self._stopping:
                return
            self._in_flight = job
            self.counters.runs_started += 1
        log.info("running %s for %s", job.notebook, job.incident_id)
        owed = self.outbox.owe(job.incident_id, job.notebook, job.reason) if self.outbox \
            else None
        # "What changed" is read from Railway while the run goes: never after it, in line.
        fetch = ChangesFetch(self.config, self._timeouts()) if self.config.railway else None
        result = child.run_child(job.notebook, job.incident_id, self.config.path.resolve(),
                                 self.settings.run_deadline_seconds, self.child_env,
                                 self._started)
        record, record_path = self._record(job, result)
        report = verdict.RunReport(job.incident_id, job.notebook, job.reason,
                                   self.config.path.resolve(), record, record_path,
                                   result.exit_code, registry().redact(result.output))
        message = verdict.compose(report, self._incident(job.incident_id), clock.now(),
                                  self.config, fetch.result() if fetch else None,
                                  self._seen_before(job.incident_id) if record else "")
        text = message.text
        if owed is not None and self.outbox is not None:
            self.outbox.composed(owed, text, record_path)
        posted = self._post(message, job.incident_id, record)
        self._settle(owed, posted)
        if posted.ok:
            self.book.record_message(job.incident_id, posted.channel or "slack",
                                     posted.ts or "", f"the verdict of {job.notebook}")
        self._watch(job.incident_id)     # a SEV-1/SEV-2 now has an acknowledgement clock
        with self._lock:
            if posted.ok:
                self.counters.slack_posted += 1
            else:
                self.counters.slack_failed += 1
            self.last_run = LastRun(job.incident_id, job.notebook, report.status,
                                    record.get("severity") if record else None,
                                    "posted" if posted.ok else f"failed: {posted.error}",
                                    clock.iso(clock.now()))
        if not posted.ok:
            log.warning("the Slack verdict for %s was not posted after %d attempt(s): %s",
                        job.incident_id, posted.attempts, posted.error)
            self.book.record_notice(job.incident_id, kind="slack_failed",
                                    notebook=job.notebook, attempts=posted.attempts,
                                    error=posted.error, message=text)
        log.info("%s for %s: %s, %s; Slack %s", job.notebook, job.incident_id, report.status,
                 self.last_run.severity if self.last_run else None,
                 "posted" if posted.ok else "failed")
        self._plan_follow_ups(job, record)

    def _plan_follow_ups(self, job: Job, record: dict[str, Any] | None) -> None:
        for notebook in follow_ups(record, self.slack_app is not None):
            key = (job.incident_id, notebook)
            with self._lock:
                if self._stopping or key in self._planned or notebook == job.notebook:
                    continue
                self._planned.add(key)
                queued = self._enqueue(Job(job.incident_id, notebook,
                                           f"{job.notebook} sent the responder here: planning "
                                           "its fix (a dry run) for a button"))
            if queued:
                log.info("planning %s for %s", notebook, job.incident_id)

    def _record(self, job: Job, result: child.ChildResult
                ) -> tuple[dict[str, Any] | None, str | None]:
        try:
            return self.book.sealed_record(job.incident_id, job.notebook, result.record_path)
        except RecordError as exc:
            log.warning("the record of %s could not be read: %s", job.incident_id, exc)
            return None, None

    # ------------------------------------------------------------ the outbox

    def _settle(self, owed: Owed | None, posted: SlackPost) -> None:
        if self.slack_status is not None:
            self.slack_status.note(posted)
        if owed is None or self.outbox is None:
            return
        if posted.ok:
            self.outbox.settle(owed)
        else:
            self.outbox.failed(owed)

    def _outbox_wait(self) -> float | None:
        """How long the worker may wait for a job before an owed verdict is due again."""
        if self.outbox is None:
            return None
        wait = self.outbox.seconds_to_next(clock.now())
        return None if wait is None else max(0.05, wait)

    def _drain_outbox(self) -> None:
        """Post the verdicts still owed: each once its run's record is sealed (a run that
        outlived a killed serve), or at once when its text was composed and the post failed.
        An entry whose notebook is queued again (resumed) waits: that run owes it anew."""
        if self.outbox is None:
            return
        try:
            due = self.outbox.due(clock.now())
        except Exception:  # never the end of the worker
            log.exception("the outbox could not be read")
            return
        for owed in due:
            with self._lock:
                if self._stopping:
                    return
                queued = owed.key in self._pending
            if queued:
                self.outbox.later(owed, 60.0)
                continue
            try:
                self._post_owed(owed)
            except Exception:  # one bad entry must not stop the others, or the worker
                log.exception("the owed verdict for %s could not be posted", owed.incident_id)
                self.outbox.later(owed, 60.0)

    def _post_owed(self, owed: Owed) -> None:
        record: dict[str, Any] | None = None
        record_path: str | None = owed.record_path or None
        assert self.outbox is not None
        if not owed.text:
            record, record_path = self._owed_record(owed)
            if record is None and not self._given_up(owed):
                self.outbox.later(owed, 10.0)    # its run may still be going
                return
            report = verdict.RunReport(
                owed.incident_id, owed.notebook, owed.reason, self.config.path.resolve(),
                record, record_path, -1, "runbook serve stopped while this run was going; "
                "no sealed record of it was found")
            self.outbox.composed(owed, verdict.compose(
                report, self._incident(owed.incident_id), clock.now(), self.config).text,
                record_path)
        elif record_path is not None:
            try:
                record, _ = self.book.sealed_record(owed.incident_id, owed.notebook,
                                                    record_path)
            except RecordError:
                record = None
        posted = self._post(owed.text, owed.incident_id, record, attempts=1)
        self._settle(owed, posted)
        with self._lock:
            if posted.ok:
                self.counters.slack_posted += 1
            else:
                self.counters.slack_failed += 1
        log.info("the verdict owed for %s (%s): Slack %s", owed.incident_id, owed.notebook,
                 "posted" if posted.ok else f"failed again: {posted.error}")

    def _owed_record(self, owed: Owed) -> tuple[dict[str, Any] | None, str | None]:
        """The sealed record of the owed run: the newest of its notebook in the incident,
        started after the verdict was owed; read through the store."""
        try:
            record, where = self.book.sealed_record(owed.incident_id, owed.notebook)
            if record is None:
                return None, None
            started = clock.parse_iso(str(record.get("started_at")))
            owed_at = clock.parse_iso(owed.owed_at)
        except (RecordError, ValueError):
            return None, None
        if started < owed_at - timedelta(seconds=5):
            return None, None
        return record, where

    def _given_up(self, owed: Owed) -> bool:
        """Past the run's deadline and the runner's grace: no record will come."""
        try:
            owed_at = clock.parse_iso(owed.owed_at)
        except ValueError:
            return True
        return clock.now() - owed_at > timedelta(
            seconds=self.settings.run_deadline_seconds + child.SEAL_GRACE_SECONDS + 30)

    # ------------------------------------------------------------ Slack

    def _timeouts(self) -> Timeouts:
        return Timeouts(self.config.probes.connect_timeout, self.config.probes.read_timeout)

    def _incident(self, incident_id: str) -> Incident | None:
        """The incident as its log tells it now; None when the log cannot be read (the
        verdict still goes out, from the record alone)."""
        try:
            return self.book.fold(incident_id)
        except RunbookError:
            log.exception("the log of %s could not be folded for its verdict", incident_id)
            return None

    def _seen_before(self, incident_id: str) -> str:
        """Whether the incident's trigger and causes were seen before, with the incidents
        alike; "" when the archive cannot say within SEEN_BEFORE_SECONDS (the verdict does
        not wait on a long history: the postmortem and `runbook similar` say it in full)."""
        outcome: list[str] = []

        def compare() -> None:
            try:
                outcome.append(similar.seen_before_line(self.book.archive, incident_id))
            except Exception:   # a comparison never stops the verdict
                log.exception("the incidents before %s could not be compared", incident_id)

        worker = threading.Thread(target=compare, name="seen-before", daemon=True)
        worker.start()
        worker.join(SEEN_BEFORE_SECONDS)
        return outcome[0] if outcome else ""

    def _post(self, message: verdict.Verdict | str, incident_id: str = "",
              record: dict[str, Any] | None = None, attempts: int | None = None
              ) -> SlackPost:
        text = message.text if isinstance(message, verdict.Verdict) else message
        if self.post is not None:
            return self.post(text)
        with self._lock:
            tries = 1 if self._stopping else self.settings.slack_attempts
        attempts = tries if attempts is None else min(attempts, tries)
        if self.slack_app is not None:
            posted = self._post_with_buttons(message, incident_id, record, attempts)
            if posted.ok or self.config.slack is None or \
                    not registry().read_env(self.config.slack.webhook_url_env):
                return posted
            log.warning("the Slack app could not post (%s): falling back to the incoming "
                        "webhook, without buttons", posted.error)
        return post_to_slack(self.config, text, attempts, self.settings.slack_backoff_seconds)

    def _post_with_buttons(self, message: verdict.Verdict | str, incident_id: str,
                           record: dict[str, Any] | None, attempts: int) -> SlackPost:
        """The verdict through the Slack app, one button per mitigation its `next` calls for
        (a completed run with a severity only); each plan is kept in the incident."""
        assert self.slack_app is not None
        offered: list[plans.Plan] = []
        if record is not None and record.get("status") == "completed" and \
                record.get("severity"):
            incident = self._incident(incident_id)
            sections = [name for name, _ in verdict.sections_for(record, incident)]
            offered = plans.plans_for(self.config, self._timeouts(), incident_id, record,
                                      sections, incident)
        text = message.text if isinstance(message, verdict.Verdict) else message
        blocks = buttons.verdict_blocks(message, offered)
        if self.watcher is not None and record is not None:
            blocks = verdict.with_acknowledge(blocks, incident_id, record.get("severity"))
        posted = post_with_app(self.config, self.slack_app, text, blocks, attempts,
                               self.settings.slack_backoff_seconds)
        if posted.ok:
            for plan in offered:
                self.book.record_plan(incident_id, plan.to_event(), posted.channel, posted.ts)
        return posted


def child_environment(config: Config) -> dict[str, str]:
    """The runner's environment: serve's own, without serve's credentials (no notebook
    needs the alert token, Sentry's client secret, or the Slack app's token and secret)."""
    settings = config.serve or ServeConfig()
    withheld = {settings.token_env, settings.sentry_secret_env}
    if config.slack is not None:
        withheld |= {config.slack.bot_token_env, config.slack.signing_secret_env}
    return {k: v for k, v in os.environ.items() if k not in withheld}
