"""The fold's windows as the config sets them: every caller of the fold asks here, so the
stabilisation window a responder configured (`[oncall] stabilisation`) is the one every view,
the serve loop and the actions' post-checks judge `mitigated` by."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runbook.core.config import Config
from runbook.incident.fold import STABILISATION


def stabilisation_of(config: Config | None) -> timedelta:
    """`[oncall] stabilisation` (default 2m): how long the opening signal's health must hold
    after an action before the incident counts as mitigated."""
    if config is None or config.oncall is None:
        return STABILISATION
    return config.oncall.duration("stabilisation")


def fold_options(config: Config | None) -> dict[str, Any]:
    """The keyword arguments every caller passes to the fold (`IncidentLog.fold(now,
    **fold_options(config))`)."""
    options: dict[str, Any] = {"stabilisation": stabilisation_of(config)}
    if config is not None and config.oncall is not None:
        options["flap_count"] = config.oncall.flap_count
        options["flap_window"] = config.oncall.duration("flap_window")
    return options
