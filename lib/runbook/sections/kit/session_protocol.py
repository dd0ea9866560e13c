"""What the library needs from a notebook's session: the one Session protocol.

`runbook.sections.kit.session.Session` is the implementation a notebook opens (`session.start`); the
sections, the guarded actions, the banner and the monthly check take any object with this
shape, so a test (or another executor) can hand them its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from runbook.archive.layout import RunRef
from runbook.archive.record import Archive
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.findings import Finding

__all__ = ["SessionProtocol"]


class SessionProtocol(Protocol):
    config: Config
    notebook: str
    incident_id: str
    run_dir: Path            # where the run is kept, to show; reads and writes use `run`
    archive: Archive
    run: RunRef
    mode: str                # "headless" or "interactive"
    findings: list[Finding]  # everything reported so far, in order

    @property
    def incident_started(self) -> datetime:
        """When the incident's impact began (the SEV clock counts from it)."""
        ...

    @property
    def timeouts(self) -> Timeouts: ...

    def report(self, findings: Finding | Iterable[Finding], title: str = "") -> Any:
        """Record findings in the run and return their display."""
        ...

    def record_action(self, action: dict[str, Any]) -> dict[str, Any]:
        """Record an action (its intent or its outcome) in the run."""
        ...

    def secret(self, env_name: str) -> str | None:
        """A secret's value by its env var's name, registered for redaction."""
        ...

    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener` with every event the run records from now on."""
        ...
