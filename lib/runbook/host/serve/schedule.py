"""The scheduled work serve does in the same process, on APScheduler's cron triggers (UTC):
the monthly `monitoring_check` (queued like any run, so it never overlaps an incident's run)
and the daily reminder of overdue postmortems (posted to Slack); with `[oncall]`, the on-call
loop's tick every few seconds (`every`). `[serve] monitoring_check_cron`
and `due_cron` set each schedule; an empty string turns it off."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from runbook.clients.slack import escape_mrkdwn as esc
from runbook.core import clock
from runbook.core.config import Config, ServeConfig
from runbook.core.errors import BadInput

log = logging.getLogger("runbook.serve")

MONITORING_JOB, DUE_JOB, ONCALL_JOB = "monitoring_check", "postmortems_due", "oncall"
# crontab counts weekdays from Sunday = 0 (7 too); APScheduler 3 from Monday = 0. Numbers are
# given to it as names, so a crontab line means what it says.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_NUMBER = re.compile(r"(?<![/\d])\d+")


def _weekday_names(field: str) -> str:
    return _WEEKDAY_NUMBER.sub(lambda m: _WEEKDAYS[int(m.group()) % 7], field)


def trigger(expression: str, key: str) -> CronTrigger | None:
    """A crontab line (minute hour day month weekday, UTC), or None when turned off."""
    if not expression.strip():
        return None
    fields = expression.split()
    try:
        if len(fields) != 5:
            raise ValueError(f"{len(fields)} fields, expected 5")
        minute, hour, day, month, weekday = fields
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_weekday_names(weekday), timezone=UTC)
    except ValueError as exc:
        raise BadInput(f"[serve] {key} = {expression!r} is not a crontab line "
                       f"(minute hour day month weekday): {exc}") from None


def build_scheduler(config: Config, run_monitoring: Callable[[], None],
                    remind_due: Callable[[], None]) -> BackgroundScheduler:
    """The scheduler with the jobs `[serve]` asks for (not started)."""
    settings = config.serve or ServeConfig()
    scheduler = BackgroundScheduler(timezone=UTC)
    for job_id, key, expression, func in (
            (MONITORING_JOB, "monitoring_check_cron", settings.monitoring_check_cron,
             run_monitoring),
            (DUE_JOB, "due_cron", settings.due_cron, remind_due)):
        cron = trigger(expression, key)
        if cron is not None:
            # A job missed while serve was down runs once when it is back, within an hour.
            scheduler.add_job(func, cron, id=job_id, name=job_id, coalesce=True,
                              max_instances=1, misfire_grace_time=3600)
    return scheduler


def every(scheduler: BackgroundScheduler, job_id: str, seconds: float,
          func: Callable[[], None]) -> None:
    """An interval job (the on-call loop): one at a time, a late one run once, not queued."""
    scheduler.add_job(func, IntervalTrigger(seconds=seconds, timezone=UTC), id=job_id,
                      name=job_id, coalesce=True, max_instances=1, misfire_grace_time=None)


def monitoring_incident_id() -> str:
    return f"check-{clock.now():%Y%m%d}-monitoring"


def due_message(overdue: list[str], postmortems_dir: str) -> str:
    lines = [f"*{len(overdue)} postmortem(s) overdue* (the runbook: within 48 hours of a "
             f"SEV-1/SEV-2), none found in `{esc(postmortems_dir)}`:"]
    lines += [f"• {esc(line)}" for line in overdue]
    lines.append("Write one with: `runbook postmortem INCIDENT_ID`")
    return "\n".join(lines)
