"""Where the archive is when no config says: $RUNBOOK_RUNS_DIR, else ./runs."""

from __future__ import annotations

import os
from pathlib import Path


def default_runs_dir() -> Path:
    return Path(os.environ.get("RUNBOOK_RUNS_DIR") or "runs").resolve()
