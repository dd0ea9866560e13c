"""`runbook lab`: JupyterLab on the runbook notebooks, for a responder at the keyboard.

The server is started the way an incident needs it, not the way a laptop default has it:
- bound to 127.0.0.1 (a runbook reaches production secrets: it is never served to a network),
  on the port asked for or one the system picks, with a fresh random token;
- a `python3` kernel of *this* environment: a kernel spec written to a private directory that
  comes first on JUPYTER_PATH, so a responder's own `python3` kernel cannot shadow it;
- every kernel gets the config through RUNBOOK_CONFIG (an absolute path) and no headless
  run's variables, so `session.start()` opens an interactive, recorded session;
- lean: no terminals, no language servers, no news or update checks, no extension manager
  talking to PyPI, no browser opened.

It serves a working copy of the notebooks, one per incident, under the archive's `.lab/`
folder (`runs/.lab/<incident>/`, beside the records and never in the repository): what a
responder saves there, outputs and all, stays out of the tracked `notebooks/`. `--notebooks
DIR` serves a directory itself (the tracked notebooks, to change them).

A lab session belongs to one incident (`LabOptions.incident`: `--incident`, or one allocated
when the lab starts): every kernel is told it, so each notebook's run is filed under it, and
the first run opens it for the whole session. Each kernel is also told the lab session's id,
which its runs carry; a kernel shut down seals its unarchived run `abandoned`, and when the lab
stops it seals, through the same function, whatever run of the session no record covers yet
(a kernel killed before it could).

`LabServer` is used by `runbook lab` and by the tests; `stop()` shuts the kernels down first,
then the server, so nothing is left running, and then seals what was left unarchived.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets as _random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from runbook.archive.location import open_archive
from runbook.core.config import load_config
from runbook.core.environ import environment_with
from runbook.core.errors import BadInput, LabError
from runbook.core.run_env import (
    ENV_CONFIG,
    ENV_INCIDENT,
    ENV_INCIDENT_STARTED,
    ENV_LAB_INCIDENT,
    ENV_LAB_SESSION,
    ENV_NOTEBOOK,
    ENV_RUN_DIR,
)
from runbook.sections.kit.interactive import abandon_lab_session

HOST = "127.0.0.1"
KERNEL_NAME = "python3"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0

# What a headless run tells its kernel; an interactive kernel must not inherit it, or its
# session would write into some other run's directory.
_HEADLESS_ENV = (ENV_RUN_DIR, ENV_INCIDENT, ENV_INCIDENT_STARTED, ENV_NOTEBOOK)
# Nor another lab's session (a lab started from a kernel's shell): this lab says its own.
_LAB_ENV = (ENV_LAB_INCIDENT, ENV_LAB_SESSION)

# Server extensions a responder does not need; each costs start-up time or opens a door.
_DISABLED_EXTENSIONS = ("jupyter_lsp", "jupyter_server_terminals", "notebook_shim")


# Under the archive's root; a dot-name, so the archive never takes it for an incident.
WORK_FOLDER = ".lab"


def working_copy(source: Path, destination: Path) -> Path:
    """The notebooks of `source`, copied into `destination` (made if need be). A notebook
    already there is the responder's own work, kept as it is; only missing ones are copied."""
    if not source.is_dir():
        raise BadInput(f"notebooks directory {source} not found")
    try:
        destination.mkdir(parents=True, exist_ok=True)
        for notebook in sorted(source.glob("*.ipynb")):
            target = destination / notebook.name
            if not target.exists():
                shutil.copyfile(notebook, target)
    except OSError as exc:
        raise BadInput(f"cannot make the working copy {destination}: "
                       f"{exc.strerror or exc}") from None
    return destination


@dataclass(frozen=True)
class LabOptions:
    notebooks: Path                 # the directory JupyterLab serves
    config: Path                    # the target config, absolute
    port: int = 0                   # 0: the system picks a free one
    state_dir: Path | None = None   # kernel spec, runtime files, server config; default: temp
    extra_env: Mapping[str, str] = field(default_factory=dict)
    incident: str = ""              # every notebook's runs filed under it; "": each its own


def check_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise BadInput(f"--port {port} is not a port number: give 1-65535, or 0 for any free port")
    return port


def kernel_spec() -> dict[str, Any]:
    """The `python3` kernel: this interpreter (the runbook's environment), nothing else."""
    return {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (runbook)", "language": "python",
            "metadata": {"debugger": True}}


def server_config(options: LabOptions) -> dict[str, Any]:
    """Everything about the server that is not a secret, as a JSON config file's content."""
    return {
        "ServerApp": {
            "ip": HOST, "port": options.port, "port_retries": 0,
            "root_dir": str(options.notebooks), "open_browser": False,
            "allow_remote_access": False, "terminals_enabled": False,
            # Containers and CI run as root; the server refuses to unless told.
            "allow_root": os.geteuid() == 0,
            "jpserver_extensions": dict.fromkeys(_DISABLED_EXTENSIONS, False),
            # A responder who closes the browser tab must not lose the kernel's state.
            "shutdown_no_activity_timeout": 0,
        },
        "LabApp": {
            "app_settings_dir": str(_app_settings_dir(options)),
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "extension_manager": "readonly",
        },
        "LabServerApp": {"extension_manager": "readonly"},
        "KernelSpecManager": {"ensure_native_kernel": False},
    }


# Lab-wide setting defaults: no news prompt, no update check (nothing fetched from the web),
# and a notebook opens on this environment's kernel without a "Select Kernel" prompt: at 3 a.m.
# there is one right answer, and JupyterLab asks when it has not yet listed the kernel specs.
SETTINGS_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false", "checkForUpdates": False},
    # Every cell stays rendered (no windowing): a runbook notebook is short, and the SEV banner
    # and the confirm buttons must stay live wherever the responder has scrolled.
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True,
                                               "windowingMode": "none"},
}


def _app_settings_dir(options: LabOptions) -> Path:
    assert options.state_dir is not None
    return options.state_dir / "lab-settings"


def prepare_state(options: LabOptions, state_dir: Path) -> Path:
    """Write the kernel spec, the settings defaults and the server config under `state_dir`;
    the server config's path."""
    options = dataclasses.replace(options, state_dir=state_dir)
    settings_dir = _app_settings_dir(options)
    settings_dir.mkdir(parents=True, exist_ok=True)
    (settings_dir / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES, indent=1) + "\n")
    kernel_dir = state_dir / "share" / "jupyter" / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    (kernel_dir / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    (state_dir / "runtime").mkdir(exist_ok=True)
    config_path = state_dir / "jupyter_server_config.json"
    config_path.write_text(json.dumps(server_config(options), indent=1) + "\n")
    return config_path


def command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "jupyterlab", f"--config={config_path}"]


def environment(options: LabOptions, state_dir: Path, token: str,
                base: Mapping[str, str] | None = None, lab_session: str = "") -> dict[str, str]:
    """The server's environment, which every kernel inherits."""
    env = dict(os.environ if base is None else base)
    for name in _HEADLESS_ENV + _LAB_ENV:
        env.pop(name, None)
    if options.incident:
        env[ENV_LAB_INCIDENT] = options.incident
        env[ENV_LAB_SESSION] = lab_session
    env.update(options.extra_env)
    paths = [str(state_dir / "share" / "jupyter")]
    if env.get("JUPYTER_PATH"):
        paths.append(env["JUPYTER_PATH"])
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    env["JUPYTER_RUNTIME_DIR"] = str(state_dir / "runtime")
    env["JUPYTER_TOKEN"] = token      # in the environment, not on a command line `ps` shows
    env[ENV_CONFIG] = str(options.config)
    return env


class LabServer:
    """A JupyterLab server process; a context manager that always stops it."""

    def __init__(self, options: LabOptions) -> None:
        self.options = options
        self.token = _random.token_urlsafe(24)
        self.lab_session = _random.token_hex(8)   # marks the runs this lab's kernels start
        self.abandoned: list[dict[str, Any]] = []  # records sealed `abandoned` when it stopped
        self._own_state = options.state_dir is None
        self.state_dir = options.state_dir or Path(tempfile.mkdtemp(prefix="runbook-lab-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def log_path(self) -> Path:
        """The server's own log (its output), kept beside its runtime files."""
        return self.state_dir / "server.log"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """What a responder opens: JupyterLab, logged in by the token."""
        return f"{self.base_url}/lab?token={self.token}"

    def notebook_url(self, name: str) -> str:
        return f"{self.base_url}/lab/tree/{name}?token={self.token}"

    def start(self, timeout: float = START_TIMEOUT) -> LabServer:
        config_path = prepare_state(self.options, self.state_dir)
        env = environment(self.options, self.state_dir, self.token,
                          lab_session=self.lab_session)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command(config_path), env=env, cwd=str(self.options.notebooks),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            self.port = self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> int:
        """The port from the server's runtime file, once its API answers."""
        assert self.process is not None
        runtime = self.state_dir / "runtime" / f"jpserver-{self.process.pid}.json"
        deadline = time.monotonic() + timeout
        port = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                hint = " (is the port in use? try another --port)" if self.options.port else ""
                raise LabError(f"JupyterLab exited with code {self.process.returncode} while "
                               f"starting{hint}; its log ends:\n{self.log_tail()}")
            if not port and runtime.is_file():
                with contextlib.suppress(ValueError, OSError):
                    port = int(json.loads(runtime.read_text()).get("port") or 0)
            if port:
                try:
                    answer = httpx.get(f"http://{HOST}:{port}/api/status",
                                       headers=self._auth(), timeout=2.0)
                    if answer.status_code == 200:
                        return port
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise LabError(f"JupyterLab did not answer within {timeout:g}s; its log ends:\n"
                       f"{self.log_tail()}")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def api(self, path: str) -> Any:
        answer = httpx.get(f"{self.base_url}{path}", headers=self._auth(), timeout=10.0)
        answer.raise_for_status()
        return answer.json()

    def kernels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("/api/kernels")
        return result

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Shut the kernels down through the API, then the server (TERM, then KILL); then
        seal what the lab session left unarchived (`abandon_unarchived`)."""
        try:
            self._stop_server()
        finally:
            if self._own_state:
                shutil.rmtree(self.state_dir, ignore_errors=True)
        if self.process is not None:
            self.abandoned += self.abandon_unarchived()

    def abandon_unarchived(self) -> list[dict[str, Any]]:
        """Seal `abandoned` every run of this lab session that no record covers: the kernels
        are gone, so nothing more will come. In the environment the kernels had (the archive
        and the secrets they were given), so the records land beside the runs, redacted."""
        if not self.options.incident:
            return []
        with environment_with(dict(self.options.extra_env)):
            config = load_config(str(self.options.config))
            config.register_secrets()
            archive = open_archive(config)
            return abandon_lab_session(
                archive, self.options.incident, self.lab_session,
                "the lab session ended before this run was archived")

    def _stop_server(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            if self.port:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    for kernel in self.kernels():
                        httpx.delete(f"{self.base_url}/api/kernels/{kernel['id']}",
                                     headers=self._auth(), timeout=10.0)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)

    def __enter__(self) -> LabServer:
        return self.start() if self.process is None else self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
