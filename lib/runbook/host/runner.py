"""`runbook run`: papermill, wrapped so that every run leaves a sealed, redacted record.

What papermill alone does not do, and this adds:
- parameters are checked against the notebook before any kernel starts (papermill only warns);
- every save papermill makes (after each cell) goes through the redactor, so no secret value is
  ever written, not even in a partial notebook;
- `--deadline` bounds the whole run (papermill bounds cells only); SIGTERM and Ctrl-C kill the
  kernel (papermill leaves it running) and the partial notebook is kept;
- a `started.json` marker is written before the kernel starts, so a runner killed with SIGKILL
  still shows up as `interrupted`, never as missing;
- what the kernel process writes to its own stdout and stderr (a subprocess's output, which
  ipykernel also copies there) is echoed to the runner's terminal redacted.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import nbformat

from runbook.archive import layout
from runbook.archive import record as records
from runbook.archive.layout import RunRef
from runbook.archive.location import ENV_ARCHIVE, archive_url, open_archive
from runbook.archive.notebook_io import (
    mark_notebook,
    notebook_url,
    register_archive_io,
    save_notebook,
)
from runbook.archive.store import ArchiveStore
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.echo import RedactingPump, pipe_to
from runbook.core.errors import BadInput
from runbook.core.findings import Finding
from runbook.core.notebook_params import declared_parameters, read_notebook, validate
from runbook.core.redaction import registry
from runbook.core.run_env import (
    ENV_CONFIG,
    ENV_INCIDENT,
    ENV_INCIDENT_STARTED,
    ENV_NOTEBOOK,
    ENV_RUN_DIR,
)
from runbook.incident.log import IncidentLog, open_incident
from runbook.incident.seal import seal_run

KERNEL_NAME = "python3"

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 130
INTERRUPTED = "interrupted"   # the run could not be sealed (the disk filled): no record


def notebooks_dir() -> Path:
    override = os.environ.get("RUNBOOK_NOTEBOOKS")
    return Path(override) if override else Path(__file__).resolve().parents[3] / "notebooks"


def resolve_notebook(name: str) -> Path:
    """`sev1_response`, `sev1_response.ipynb` or a path to any notebook."""
    candidate = Path(name)
    if candidate.suffix == ".ipynb" and candidate.is_file():
        return candidate
    stem = candidate.name.removesuffix(".ipynb")
    path = notebooks_dir() / f"{stem}.ipynb"
    if path.is_file():
        return path
    known = sorted(p.stem for p in notebooks_dir().glob("*.ipynb"))
    raise BadInput(f"no notebook {name!r}; available: {', '.join(known) or '(none)'}")


def deadline_seconds(text: str) -> float:
    """`--deadline`'s value: a finite, positive number of seconds (argparse's `type`)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"--deadline must be a positive number of seconds, got {text!r}")
    return value


@dataclass
class RunResult:
    status: str
    exit_code: int
    run_dir: Path
    record: dict[str, Any]
    error: str = ""
    archive: records.Archive | None = None
    run: RunRef | None = None
    chain_head: str | None = None   # the incident's chain head after this run was sealed

    def where(self, name: str) -> str:
        """Where one of the run's files is kept (`layout.RECORD`, `layout.NOTEBOOK`), to show."""
        archive = self.archive or records.Archive(self.run_dir.parent.parent)
        run = self.run or archive.run_ref(self.run_dir)
        return archive.location(run.key(name))

    @property
    def findings(self) -> list[Finding]:
        return [Finding.from_dict(f) for f in self.record.get("findings", [])]


@dataclass
class _Stop:
    """Why a run is being stopped from outside the cell loop (deadline, signal)."""

    reason: str = ""          # "", "timed_out" or "aborted"
    detail: str = ""
    kernel_pid: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, reason: str, detail: str) -> bool:
        """Record the first reason, kill the kernel; False when there is no kernel yet."""
        with self.lock:
            if not self.reason:
                self.reason, self.detail = reason, detail
            pid = self.kernel_pid
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        return True


class _Aborted(BaseException):
    """Raised in the main thread by a signal that came before the kernel started."""


def prepare(notebook: str, given: list[tuple[str, str]], config: Config
            ) -> tuple[Path, nbformat.NotebookNode, dict[str, Any]]:
    """Everything that can be refused is checked here, before anything is written."""
    path = resolve_notebook(notebook)
    nb = read_notebook(path)
    declared = declared_parameters(nb, str(path))
    config.register_secrets()
    return path, nb, validate(declared, given, registry())


def run_notebook(notebook: str, given: list[tuple[str, str]], config: Config, *,
                 incident_id: str | None = None, deadline: float | None = None,
                 mode: str = "headless", progress: bool | None = None,
                 on_started: Callable[[Path], None] | None = None) -> RunResult:
    """Run one notebook headless and archive it. Raises BadInput before anything starts."""
    path, nb, parameters = prepare(notebook, given, config)
    if deadline is not None and not (math.isfinite(deadline) and deadline > 0):
        raise BadInput(f"--deadline must be a positive number of seconds, got {deadline:g}")
    started = clock.now()
    # The id is checked before the archive is even opened: a bad one must touch nothing.
    incident_id = records.check_incident_id(incident_id) if incident_id else \
        records.new_incident_id(started)
    archive = open_archive(config)
    archive.check_ready(incident_id)
    name = path.stem
    header = open_incident(archive, incident_id, opened_at=started, opened_by=name,
                           service=config.service.name)
    base_record: dict[str, Any] = {
        "incident_id": incident_id, "notebook": name, "status": "aborted",
        "started_at": clock.iso(started), "finished_at": None,
        "parameters": registry().redact_obj(parameters), "severity": None,
        "findings": [], "actions": [], "mode": mode,
        "runbook_version": records.runbook_version(),
    }
    run = archive.start_run(incident_id, name, started,
                            {**base_record, "deadline_seconds": deadline})
    IncidentLog(archive, incident_id).run_started(run, name)
    run_dir = archive.run_dir(run)
    if on_started:
        on_started(run_dir)

    kernel_parameters = {**parameters, "incident_id": incident_id} \
        if "incident_id" in declared_parameters(nb) else parameters
    env = {ENV_RUN_DIR: str(run_dir), ENV_INCIDENT: incident_id,
           ENV_INCIDENT_STARTED: header["started_at"], ENV_NOTEBOOK: name,
           ENV_CONFIG: str(config.path.resolve()),
           # The archives' folder, not this archive's: a drill's kernel opens the drills' in it.
           "RUNBOOK_RUNS_DIR": str(config.runs_dir())}
    if archive_url(config):
        # The kernel opens the same archive: the bucket, staged under the same folder.
        env.update({ENV_ARCHIVE: archive_url(config), "RUNBOOK_RUNS_DIR": str(config.runs_dir())})
    stop = _Stop()
    show_progress = sys.stderr.isatty() if progress is None else progress
    try:
        outcome, error = _execute(path, archive.store, run.key(layout.NOTEBOOK),
                                  kernel_parameters, env, stop, deadline, show_progress)
        status = stop.reason or outcome
        if stop.reason:
            error = stop.detail
        record = _finish(archive, run, base_record, status, error)
    except OSError as exc:
        # The disk filled (or the archive went away) mid-run: no record can be sealed. Say
        # what was kept and where; the run stays `interrupted` in the listing.
        return RunResult(INTERRUPTED, EXIT_FAILED, run_dir, {}, _kept(archive, run, exc),
                         archive, run)
    exit_code = {"completed": EXIT_OK, "failed": EXIT_FAILED, "timed_out": EXIT_FAILED,
                 "aborted": EXIT_ABORTED}[status]
    return RunResult(status, exit_code, run_dir, record, error, archive, run,
                     archive.chain_head(incident_id))


@contextlib.contextmanager
def _stop_on_signals(stop: _Stop) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not stop.request("aborted", f"stopped by {name}"):
            raise _Aborted(name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _execute(path: Path, store: ArchiveStore, output: str, parameters: dict[str, Any],
             env: dict[str, str], stop: _Stop, deadline: float | None,
             progress: bool) -> tuple[str, str]:
    """Run the notebook; ('completed'|'failed'|'aborted', error text)."""
    import papermill
    from jupyter_client.manager import AsyncKernelManager
    from papermill.exceptions import PapermillExecutionError

    register_archive_io()
    timer: threading.Timer | None = None
    km: AsyncKernelManager | None = None
    try:
        with _stop_on_signals(stop):
            km = _KernelManager(kernel_name=KERNEL_NAME, stop=stop, extra_env=env,
                                cwd=str(path.parent))
            if deadline is not None:
                timer = threading.Timer(deadline, stop.request,
                                        ("timed_out", f"the {deadline:g}s deadline passed"))
                timer.daemon = True
                timer.start()
            papermill.execute_notebook(
                str(path), notebook_url(store, output), parameters=parameters,
                kernel_name=KERNEL_NAME, progress_bar=progress, km=km,
                start_timeout=60, autosave_cell_every=10)
        return "completed", ""
    except PapermillExecutionError as exc:
        return "failed", registry().redact(f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}")
    except _Aborted as exc:
        return "aborted", f"stopped by {exc} before the kernel started"
    except Exception as exc:  # noqa: BLE001 - a dead kernel, a failed start: keep the record
        kind = type(exc).__name__
        if kind == "DeadKernelError" or stop.reason:
            return "aborted", registry().redact(f"the kernel died: {exc}")
        return "failed", registry().redact(f"{kind}: {exc}")
    finally:
        if timer is not None:
            timer.cancel()
        if km is not None:
            _shutdown(km)
        if not store.exists(output):
            _write_unexecuted(path, store, output, parameters)


def _shutdown(km: Any) -> None:
    from jupyter_core.utils import run_sync

    with contextlib.suppress(Exception):
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    km.cleanup_sockets()


def _write_unexecuted(path: Path, store: ArchiveStore, output: str,
                      parameters: dict[str, Any]) -> None:
    """The run stopped before papermill's first save: archive the notebook as it was given."""
    nb = read_notebook(path)
    nb.metadata["papermill"] = {"parameters": parameters}
    save_notebook(nb, store, output)


def _kernel_manager_class() -> type:
    from runbook.core.adapters.jupyter_client_launch import LaunchHookedKernelManager

    class KernelManager(LaunchHookedKernelManager):
        """A kernel of this environment for one run: its own environment and working directory
        (nothing process-wide is changed, so runs can share a process), IPC sockets at a path
        of its own, and its pid told to the stopper as soon as it exists."""

        def __init__(self, stop: _Stop, extra_env: dict[str, str], cwd: str,
                     **kwargs: Any) -> None:
            # Unix sockets instead of TCP ports: nothing listens on the network, and a unique
            # path per kernel cannot collide with a concurrent run.
            socket_dir = tempfile.mkdtemp(prefix="rbk-")
            super().__init__(transport="ipc", ip=str(Path(socket_dir) / "k"), **kwargs)
            self._runbook_stop = stop
            self._runbook_env = extra_env
            self._runbook_cwd = cwd
            self._runbook_socket_dir = socket_dir
            self._runbook_pumps: list[RedactingPump] = []
            self._runbook_pipe_ends: list[int] = []

        def launch_options(self, kw: dict[str, Any]) -> dict[str, Any]:
            kw["env"] = {**os.environ, **kw.get("env", {}), **self._runbook_env}
            kw["cwd"] = self._runbook_cwd
            # The kernel's own stdout and stderr (its logs, a subprocess writing to them, the
            # copy ipykernel echoes to the terminal) reach the runner's terminal through the
            # redactor, never straight from the kernel's file descriptors.
            for fd, name in ((1, "stdout"), (2, "stderr")):
                write_end, pump = pipe_to(fd, f"kernel-{name}")
                self._runbook_pumps.append(pump)
                self._runbook_pipe_ends.append(write_end)
                kw[name] = write_end
            return kw

        def launch_finished(self) -> None:
            for write_end in self._runbook_pipe_ends:  # the kernel holds its own copies
                with contextlib.suppress(OSError):
                    os.close(write_end)
            self._runbook_pipe_ends.clear()

        def launched(self) -> None:
            process = getattr(self.provisioner, "process", None)
            if process is not None:
                with self._runbook_stop.lock:
                    self._runbook_stop.kernel_pid = process.pid
                    pending = self._runbook_stop.reason
                if pending:  # a signal or the deadline came while the kernel was starting
                    self._runbook_stop.request(pending, self._runbook_stop.detail)

        def cleanup_sockets(self) -> None:
            shutil.rmtree(self._runbook_socket_dir, ignore_errors=True)
            for pump in self._runbook_pumps:  # the kernel is gone: its last lines drain
                pump.join(timeout=2.0)

    return KernelManager


def _KernelManager(**kwargs: Any) -> Any:
    return _kernel_manager_class()(**kwargs)


def _finish(archive: records.Archive, run: RunRef, base: dict[str, Any], status: str,
            error: str) -> dict[str, Any]:
    """Mark the notebook with the run's outcome, then seal the record. A run stopped from
    outside says which cell it stopped in (papermill closes that cell as completed)."""
    where = mark_notebook(archive.store, run.key(layout.NOTEBOOK), status, error)
    if where:
        error = f"{error}, in {where}" if error else f"stopped in {where}"
    return seal_run(archive, run, base, status=status, error=error)


def _kept(archive: records.Archive, run: RunRef, exc: OSError) -> str:
    """What a run that could not be sealed left behind, and where."""
    kept = []
    for name, what in ((layout.STARTED, "its start marker"),
                       (layout.EVENTS, "its findings and actions as they happened"),
                       (layout.NOTEBOOK, "the notebook as last saved")):
        with contextlib.suppress(OSError):
            if archive.store.exists(run.key(name)):
                kept.append(f"{name} ({what})")
    reason = exc.strerror or str(exc)
    return registry().redact(
        f"the archive could not be written ({reason}) so no {layout.RECORD} was sealed; "
        "kept in "
        f"{archive.location(run.prefix)}: {', '.join(kept) or 'nothing'}. The run shows as "
        "interrupted in `runbook runs`: free space, then run the notebook again")


def describe(result: RunResult) -> str:
    """The runner's closing lines for a person."""
    if result.status == INTERRUPTED:
        return registry().redact(f"status: {INTERRUPTED}\n{result.error}")
    lines = [f"status: {result.status}" + (f" ({result.error})" if result.error else "")]
    severity = result.record.get("severity")
    for finding in result.record.get("findings", []):
        lines.append(f"  {finding['status']:<7} {finding['code']:<28} {finding['summary']}")
    for action in result.record.get("actions", []):
        lines.append(action_line(action))
    lines.append(f"record: {result.where(layout.RECORD)}")
    if result.chain_head:
        # Kept outside the archive (posted, pasted), it proves later that no run sealed up to
        # now was removed: runbook verify INCIDENT --head HASH.
        lines.append(f"chain head: {result.chain_head} (runbook verify "
                     f"{result.record.get('incident_id')} --head {result.chain_head})")
    offline = getattr(result.archive.store, "offline", "") if result.archive else ""
    if offline:
        lines.append(f"the shared archive could not be reached ({offline}): this run is kept "
                     f"at {result.run_dir}; upload it with `runbook sync`")
    # Last, where a person's eye lands: how bad, and where to go from here.
    sections = [str(item.get("notebook")) for item in result.record.get("next") or []
                if isinstance(item, dict)]
    lines.append(f"severity: {severity or 'none'}")
    lines.append("next: " + (", ".join(sections) if sections else "nothing more to open"))
    return registry().redact("\n".join(lines))


def action_line(action: dict[str, Any]) -> str:
    """A dry run says what it would do ("would roll back dealix from A to B"); a confirmed
    one what came of it."""
    name = action.get("name", "")
    if action.get("dry_run"):
        headline = str(action.get("headline") or "")
        what = f"would {headline}" if headline else f"would: {action.get('plan') or ''}"
        return f"  action  {name} (dry run): {what}"[:600]
    state = str(action.get("outcome") or action.get("status") or "")
    if action.get("status") == "done_unverified":
        state = "done at the provider, not a fix"
    return f"  action  {name} ({state}): {action.get('result') or ''}"[:600]


def incident_started(header: dict[str, Any]) -> datetime:
    return clock.parse_iso(header["started_at"])
