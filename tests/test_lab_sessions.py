"""A real JupyterLab, its kernels driven as a responder's notebooks drive them: every run of a
lab session is filed under one incident, and what the session leaves unarchived is sealed
`abandoned` with its findings when the lab stops.

Notebooks are opened through the server's REST API (a session per notebook, as JupyterLab
opens them), and their cells are sent to each kernel with jupyter_client over the kernel's own
connection file. Every server and kernel started here is stopped before the test returns.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import psutil
import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from conftest import RUNBOOK, run_cli
from runbook.archive.record import read_record
from runbook.host.commands.lab import options_from
from runbook.host.lab import LabServer

pytestmark = pytest.mark.slow

CELLS = """\
from runbook.sections.kit import session
from runbook.core.findings import failed
rb = session.start({notebook!r}, incident_id="")
rb.report(failed("health.down", "/healthz answers 502 ({notebook})"))
print("incident:", rb.incident_id)
"""


def lab_env(tmp_path: Path) -> dict[str, str]:
    """Keep JupyterLab's own settings and workspaces out of the user's home."""
    return {"JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
            "IPYTHONDIR": str(tmp_path / "ipython")}


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    return config


@dataclasses.dataclass
class Lab:
    base_url: str
    token: str
    root_pid: int     # the process the server runs under (the server, or `runbook lab`)

    def open_notebook(self, path: str) -> str:
        """Open `path` as JupyterLab does (a session with a kernel); the kernel's id."""
        answer = httpx.post(f"{self.base_url}/api/sessions",
                            headers={"Authorization": f"token {self.token}"}, timeout=120,
                            json={"path": path, "name": path, "type": "notebook",
                                  "kernel": {"name": "python3"}})
        answer.raise_for_status()
        return str(answer.json()["kernel"]["id"])

    def kernel_process(self, kernel_id: str) -> psutil.Process:
        wanted = f"kernel-{kernel_id}.json"
        for process in psutil.Process(self.root_pid).children(recursive=True):
            try:
                if any(arg.endswith(wanted) for arg in process.cmdline()):
                    return process
            except psutil.Error:
                continue
        raise AssertionError(f"no process for kernel {kernel_id}")

    def client(self, kernel_id: str) -> BlockingKernelClient:
        argv = self.kernel_process(kernel_id).cmdline()
        client = BlockingKernelClient()
        client.load_connection_file(argv[argv.index("-f") + 1])
        # No heartbeat: a kernel still starting on a busy machine would look dead to it.
        client.start_channels(hb=False)
        client.wait_for_ready(timeout=120)
        return client


def run_cells_at_once(lab: Lab, notebooks: dict[str, str]) -> dict[str, str]:
    """Send each notebook's cells to its kernel at once, then wait for both: two responders
    starting two notebooks together. The incident each session said it files under."""
    clients = {name: lab.client(kernel) for name, kernel in notebooks.items()}
    try:
        sent = {name: client.execute(CELLS.format(notebook=name))
                for name, client in clients.items()}
        said = {}
        for name, client in clients.items():
            reply = client.get_shell_msg(timeout=180)
            while reply["parent_header"].get("msg_id") != sent[name]:   # kernel_info's, late
                reply = client.get_shell_msg(timeout=180)
            output = collect_output(client, sent[name])
            assert reply["content"]["status"] == "ok", output
            said[name] = output.split("incident:", 1)[1].split()[0]
        return said
    finally:
        for client in clients.values():
            client.stop_channels()


def collect_output(client: BlockingKernelClient, msg_id: str) -> str:
    text = []
    while True:
        message = client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        content = message["content"]
        if message["msg_type"] == "stream":
            text.append(content["text"])
        elif message["msg_type"] == "error":
            text.append("\n".join(content["traceback"]))
        elif message["msg_type"] == "status" and content["execution_state"] == "idle":
            return "".join(text)


def save_executed(directory: Path, name: str) -> Path:
    """The notebook as JupyterLab saves it once its cells ran."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELLS.format(notebook=name), execution_count=1)]
    path = directory / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def records_of(runs_dir: Path, incident: str) -> dict[str, dict[str, Any]]:
    return {record["notebook"]: record for record in
            (read_record(path) for path in runs_dir.glob(f"{incident}/*/record.json"))}


@pytest.fixture
def cli_lab(tmp_path: Path, runs_dir: Path) -> Iterator[tuple[subprocess.Popen[str], Lab]]:
    """`runbook lab --incident inc-lab-two` as a responder starts it; stopped by the test or
    else at the end."""
    config = write_config(tmp_path)
    command = subprocess.Popen(
        [RUNBOOK, "lab", "--config", str(config), "--incident", "inc-lab-two"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **lab_env(tmp_path)})
    try:
        url = ""
        assert command.stdout is not None
        for line in command.stdout:
            if line.strip().startswith("open:"):
                url = line.split("open:", 1)[1].strip()
                break
        assert url.startswith("http://127.0.0.1:"), command.stderr
        base, token = url.split("/lab?token=")
        yield command, Lab(base, token, command.pid)
    finally:
        if command.poll() is None:
            command.send_signal(signal.SIGTERM)
            command.communicate(timeout=120)


def test_lab_with_an_incident_files_every_notebook_under_it_and_seals_what_is_left(
        cli_lab: tuple[subprocess.Popen[str], Lab], runs_dir: Path) -> None:
    command, lab = cli_lab
    kernels = {name: lab.open_notebook(f"{name}.ipynb") for name in ("alpha", "beta")}
    said = run_cells_at_once(lab, kernels)
    assert said == {"alpha": "inc-lab-two", "beta": "inc-lab-two"}
    save_executed(runs_dir / ".lab" / "inc-lab-two", "alpha")
    # beta's kernel dies without a word (killed): the lab seals its run when it stops.
    lab.kernel_process(kernels["beta"]).kill()

    command.send_signal(signal.SIGTERM)
    _, stderr = command.communicate(timeout=180)
    assert command.returncode == 0, stderr
    assert [p.name for p in runs_dir.iterdir() if p.is_dir() and p.name != ".lab"] == \
        ["inc-lab-two"]
    records = records_of(runs_dir, "inc-lab-two")
    assert sorted(records) == ["alpha", "beta"]
    for name, record in records.items():
        assert record["status"] == "abandoned", record
        assert [(f["code"], f["status"]) for f in record["findings"]] == \
            [("health.down", "fail")]
        assert name in record["findings"][0]["summary"] and record["severity"] == "SEV-1"
    assert "sealed beta of incident inc-lab-two as abandoned" in stderr
    assert records["beta"]["error"] == "the lab session ended before this run was archived"
    # alpha's notebook, as saved in the working copy, is what its record holds.
    (alpha_dir,) = [p.parent for p in runs_dir.glob("inc-lab-two/*-alpha/record.json")]
    kept = json.loads((alpha_dir / "notebook.ipynb").read_text())
    assert "health.down" in "".join(kept["cells"][1]["source"])
    listed = run_cli("runs", "--incident", "inc-lab-two")
    assert listed.stdout.count("abandoned") == 2 and "interrupted" not in listed.stdout
    verified = run_cli("verify", "inc-lab-two")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_lab_without_an_incident_opens_one_for_the_whole_session(
        tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    options = options_from(argparse.Namespace(config=str(config), port=0, incident=None,
                                              notebooks=None))
    options = dataclasses.replace(options, extra_env=lab_env(tmp_path))
    server = LabServer(options)
    with server:
        assert server.process is not None
        lab = Lab(server.base_url, server.token, server.process.pid)
        kernels = {name: lab.open_notebook(f"{name}.ipynb") for name in ("alpha", "beta")}
        said = run_cells_at_once(lab, kernels)
        assert said["alpha"] == said["beta"] == options.incident
        # alpha is archived while the lab runs; beta is left as it is.
        saved = save_executed(options.notebooks, "alpha")
        archived = run_cli("archive", str(saved), "--incident", options.incident,
                           "--config", str(config))
        assert archived.returncode == 0, archived.stderr
    assert not server.running()
    assert [p.name for p in runs_dir.iterdir() if p.is_dir() and p.name != ".lab"] == \
        [options.incident]
    records = records_of(runs_dir, options.incident)
    assert {name: r["status"] for name, r in records.items()} == \
        {"alpha": "completed", "beta": "abandoned"}
    assert [f["code"] for f in records["beta"]["findings"]] == ["health.down"]
