"""One headless `runbook run` in its own process: the command a person would type, so a
stuck kernel or a crashed runner can never take the service down with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Past the run's own --deadline (the runner stops the kernel and seals `timed_out` itself),
# how long the runner gets to seal before it is killed.
SEAL_GRACE_SECONDS = 60.0
OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class ChildResult:
    exit_code: int
    record_path: str              # the runner's "record: …" line: a path, or an s3:// URL
    output: str                   # the tail of what the runner printed
    killed: bool = False          # it outlived the deadline and its grace


def command(notebook: str, incident_id: str, config_path: Path, deadline: float,
            parameters: Sequence[tuple[str, str]] = ()) -> list[str]:
    given = [part for name, value in parameters for part in ("-p", name, value)]
    return [sys.executable, "-m", "runbook.host.cli", "run", notebook, *given,
            "--incident", incident_id, "--config", str(config_path),
            "--deadline", f"{deadline:g}"]


def run_child(notebook: str, incident_id: str, config_path: Path, deadline: float,
              env: Mapping[str, str], started: Callable[[subprocess.Popen[str]], None],
              parameters: Sequence[tuple[str, str]] = ()) -> ChildResult:
    """Run and wait; `started` gets the process (to be stopped with SIGTERM). `parameters`
    are the notebook's `-p NAME VALUE` (a Slack press: confirm, actor, the plan's own)."""
    process = subprocess.Popen(
        command(notebook, incident_id, config_path, deadline, parameters),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=dict(env),
        # Its own session: a Ctrl-C at serve's terminal reaches the runner only through
        # serve, which stops it with SIGTERM (the runner then seals the record `aborted`).
        start_new_session=True)
    started(process)
    killed = False
    try:
        output, _ = process.communicate(timeout=deadline + SEAL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return ChildResult(process.returncode, record_path(output), output[-OUTPUT_TAIL:], killed)


def record_path(output: str) -> str:
    for line in reversed(output.splitlines()):
        if line.startswith("record: "):
            return line[len("record: "):].strip()
    return ""


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM: the runner kills the kernel, keeps the partial notebook, seals `aborted`."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
