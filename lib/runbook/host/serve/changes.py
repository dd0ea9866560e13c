"""What changed before the impact: the verdict's "What changed" from Railway's deployments.

68% of outages follow a change, so the verdict puts the last deploy before the impact's start
beside the alert: its commit message, author and how long before the impact; a new deployment
of the same commit (Railway redeploys when a variable or a setting changes: a config change);
and the deployment a rollback would go back to. Railway is read once per verdict, in the
background while the run goes (`ChangesFetch`), under a deadline: a slow Railway never holds
the verdict back, it only leaves this part out, saying so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runbook.clients.railway import Deployment, RailwayClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.errors import RunbookError
from runbook.sections.rollback import choose_rollback

DEADLINE_SECONDS = 3.0       # the verdict waits at most this long for Railway, after its run
FIRST = 20                   # deployments read: enough to find a rollback target


@dataclass(frozen=True)
class WhatChanged:
    deployments: list[Deployment] = field(default_factory=list)   # newest first
    error: str = ""                       # why Railway could not be read ("" when it was)

    def last_deploy_before(self, started: datetime | None) -> Deployment | None:
        """The most recent deployment created before the impact began (the newest, with no
        start known)."""
        if started is None:
            return self.deployments[0] if self.deployments else None
        return next((d for d in self.deployments if d.created_at <= started), None)

    def config_changes(self, started: datetime | None) -> list[tuple[Deployment, Deployment]]:
        """(deployment, the one before it) where Railway deployed the same commit again before
        the impact: a variable or a setting changed (or someone redeployed)."""
        pairs = list(zip(self.deployments, self.deployments[1:], strict=False))
        return [(new, old) for new, old in pairs
                if new.commit_hash and new.commit_hash == old.commit_hash
                and (started is None or new.created_at <= started)][:2]

    def rollback_target(self) -> Deployment | None:
        try:
            _, chosen = choose_rollback(self.deployments)
        except RunbookError:
            return None
        return chosen


def minutes_before(deployment: Deployment, started: datetime) -> int:
    return max(0, int((started - deployment.created_at) / timedelta(minutes=1)))


def read_changes(config: Config, timeouts: Timeouts) -> WhatChanged:
    """Railway's deployments of the service, newest first (none without [railway])."""
    if config.railway is None:
        return WhatChanged(error="no [railway] section in the config")
    try:
        found = RailwayClient.from_config(config, timeouts).deployments(first=FIRST)
    except RunbookError as exc:
        return WhatChanged(error=f"Railway could not be read: {exc}")
    return WhatChanged(sorted(found, key=lambda d: d.created_at, reverse=True))


class ChangesFetch:
    """`read_changes` on its own thread, started when a run starts; `result` waits for it
    at most until the deadline."""

    def __init__(self, config: Config, timeouts: Timeouts) -> None:
        self._done = threading.Event()
        self._result = WhatChanged(error="Railway did not answer in time")
        self._thread = threading.Thread(target=self._read, args=(config, timeouts),
                                        daemon=True, name="serve-what-changed")
        self._thread.start()

    def _read(self, config: Config, timeouts: Timeouts) -> None:
        try:
            self._result = read_changes(config, timeouts)
        except Exception as exc:  # noqa: BLE001 - the verdict goes out without this part
            self._result = WhatChanged(error=f"Railway could not be read: {exc}")
        finally:
            self._done.set()

    def result(self, deadline: float = DEADLINE_SECONDS) -> WhatChanged:
        self._done.wait(deadline)
        return self._result if self._done.is_set() else \
            WhatChanged(error=f"Railway did not answer within {deadline:g}s")
