"""UptimeRobot's monitors as findings: is the site down, and since when (`uptime.up` /
`uptime.down`, for the SEV-1 probes); and is UptimeRobot still watching at all (`uptime.polling`
/ `uptime.stale`, for the monthly monitoring check)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runbook.clients.transport import Timeouts
from runbook.clients.uptimerobot import STATUS_NAMES, Monitor, UptimeRobotClient, configured
from runbook.core import clock
from runbook.core.clock import both_zones, iso
from runbook.core.config import Config
from runbook.core.findings import Finding, errored, failed, passed, skipped

FIX_DOWN = ("UptimeRobot confirms the outage: check Railway's service status and latest deploy, "
            "then roll back or restart (rollback notebook)")
FIX_PAUSED = "The monitor is paused: resume it in UptimeRobot so the next outage is noticed"
STALE_AFTER = timedelta(hours=1)
RECENT_CHECKS = 3        # latest checks asked for per monitor: the newest is what counts
POLLING_LOGS = 10


def monitor_finding(monitor: Monitor) -> Finding:
    evidence: dict[str, Any] = {"monitor_id": monitor.id, "monitor": monitor.friendly_name,
                                "url": monitor.url, "status": monitor.status_name}
    if monitor.is_down:
        since = monitor.down_since()
        if since is None:
            return failed("uptime.down", f"UptimeRobot: {monitor.friendly_name} is "
                          f"{monitor.status_name}; no down log gives the start",
                          FIX_DOWN, down_since=None, **evidence)
        return failed("uptime.down", f"UptimeRobot: {monitor.friendly_name} is "
                      f"{monitor.status_name} since {both_zones(since)}", FIX_DOWN,
                      down_since=iso(since), down_since_local=both_zones(since), **evidence)
    if monitor.status == 0:
        return failed("uptime.paused", f"UptimeRobot: {monitor.friendly_name} is paused: "
                      "nobody is watching it", FIX_PAUSED, **evidence)
    return passed("uptime.up", f"UptimeRobot: {monitor.friendly_name} is "
                  f"{monitor.status_name}", **evidence)


def check_uptime(config: Config, timeouts: Timeouts) -> list[Finding]:
    """One finding per monitor (`monitor_id = 0`: every monitor of the account)."""
    reason = configured(config)
    if reason:
        return [skipped("uptime.up", reason)]
    settings = config.uptimerobot
    assert settings is not None
    monitors = UptimeRobotClient.from_config(config, timeouts).monitors(
        [settings.monitor_id] if settings.monitor_id else None)
    if not monitors:
        return [skipped("uptime.up", "UptimeRobot has no monitor "
                        + (f"{settings.monitor_id}" if settings.monitor_id else "at all"))]
    return [monitor_finding(m) for m in monitors]


def polling_finding(monitor: Monitor, now: datetime,
                    stale_after: timedelta = STALE_AFTER) -> Finding:
    """Is UptimeRobot still watching this monitor: active, and checked or logged recently."""
    name = monitor.friendly_name or str(monitor.id)
    status = monitor.status
    last = monitor.last_activity()
    evidence: dict[str, Any] = {"monitor_id": monitor.id, "monitor": name,
                                "status": monitor.status_name,
                                "interval_seconds": monitor.interval,
                                "last_activity": clock.iso(last) if last else None}
    if status == 0:
        return failed("uptime.paused", f"UptimeRobot: {name} is paused: nobody is watching it",
                      "resume the monitor in UptimeRobot (Dashboard → the monitor → Resume)",
                      **evidence)
    if status == 1:
        return failed("uptime.not_checked", f"UptimeRobot: {name} has not been checked yet",
                      "check the monitor's URL and interval in UptimeRobot, wait one interval, "
                      "then run this check again", **evidence)
    if status not in STATUS_NAMES:
        return errored("uptime.monitors", f"UptimeRobot: {name} has an unknown status "
                       f"{status}", **evidence)
    if last is None or now - last > stale_after:
        ago = f"last activity {clock.both_zones(last)}" if last else "no check or log at all"
        return failed("uptime.stale", f"UptimeRobot: {name} shows {ago}: it may have stopped "
                      "polling", "open the monitor in UptimeRobot; check the account's plan "
                      "and the monitor's interval; pause and resume it", **evidence)
    minutes = max(0, int((now - last).total_seconds() // 60))
    note = f" (it reports the site {STATUS_NAMES[status]})" if monitor.is_down else ""
    return passed("uptime.polling", f"UptimeRobot: {name} is polling; last check {minutes} min "
                  f"ago{note}", **evidence)


def check_polling(config: Config, timeouts: Timeouts, stale_after: timedelta = STALE_AFTER,
                  now: datetime | None = None) -> list[Finding]:
    """Every monitor of the account: one `uptime.polling`-or-worse finding each."""
    reason = configured(config)
    if reason:
        return [skipped("uptime.monitors", reason)]
    monitors = UptimeRobotClient.from_config(config, timeouts).monitors(
        logs_limit=POLLING_LOGS, response_times=RECENT_CHECKS)
    if not monitors:
        return [failed("uptime.no_monitors", "UptimeRobot has no monitors: nothing watches "
                       "Dealix", "add an HTTP(s) monitor for /healthz (keyword `ok`, 5 min)")]
    moment = now or clock.now()
    return [polling_finding(m, moment, stale_after) for m in monitors]
