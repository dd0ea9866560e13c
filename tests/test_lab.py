"""`runbook lab`: loopback only, a kernel of this environment with the config, lean, and every
process stopped at the end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from conftest import run_cli
from runbook.host import lab
from runbook.host.lab import LabOptions, LabServer


def options(tmp_path: Path, **extra: object) -> LabOptions:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir(exist_ok=True)
    return LabOptions(notebooks=notebooks, config=config.resolve(),
                      state_dir=tmp_path / "state", **extra)  # type: ignore[arg-type]


def test_server_config_is_loopback_and_lean(tmp_path: Path) -> None:
    config = lab.server_config(options(tmp_path, port=8899))
    server = config["ServerApp"]
    assert (server["ip"], server["port"], server["port_retries"]) == ("127.0.0.1", 8899, 0)
    assert server["open_browser"] is False and server["terminals_enabled"] is False
    assert server["allow_remote_access"] is False
    assert all(value is False for value in server["jpserver_extensions"].values())
    assert config["LabApp"]["news_url"] is None
    assert config["LabApp"]["check_for_updates_class"] == "jupyterlab.NeverCheckForUpdate"
    assert config["LabApp"]["extension_manager"] == "readonly"


def test_kernel_spec_is_this_environment(tmp_path: Path) -> None:
    opts = options(tmp_path)
    lab.prepare_state(opts, tmp_path / "state")
    spec = json.loads((tmp_path / "state" / "share" / "jupyter" / "kernels" / "python3" /
                       "kernel.json").read_text())
    assert spec["argv"][:3] == [sys.executable, "-m", "ipykernel_launcher"]
    overrides = json.loads((tmp_path / "state" / "lab-settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


def test_environment_gives_kernels_the_config_and_no_headless_run(tmp_path: Path) -> None:
    opts = options(tmp_path, extra_env={"DRILL_TOKEN": "x"})
    base = {"RUNBOOK_RUN_DIR": "/somewhere", "RUNBOOK_NOTEBOOK": "db_refused",
            "RUNBOOK_INCIDENT": "inc-1", "JUPYTER_PATH": "/user/jupyter", "PATH": "/bin"}
    env = lab.environment(opts, tmp_path / "state", "tok", base)
    assert env["RUNBOOK_CONFIG"] == str(opts.config) and Path(env["RUNBOOK_CONFIG"]).is_absolute()
    assert not {"RUNBOOK_RUN_DIR", "RUNBOOK_NOTEBOOK", "RUNBOOK_INCIDENT"} & set(env)
    assert env["JUPYTER_PATH"].split(":")[0] == str(tmp_path / "state" / "share" / "jupyter")
    assert env["JUPYTER_PATH"].endswith("/user/jupyter")
    assert env["JUPYTER_TOKEN"] == "tok" and env["DRILL_TOKEN"] == "x"
    assert "tok" not in " ".join(lab.command(tmp_path / "c.json"))   # not visible in `ps`
    assert not {"RUNBOOK_LAB_INCIDENT", "RUNBOOK_LAB_SESSION"} & set(env)


def test_environment_gives_kernels_the_lab_incident_and_session(tmp_path: Path) -> None:
    opts = options(tmp_path, incident="inc-lab-9")
    base = {"RUNBOOK_LAB_INCIDENT": "inc-other", "RUNBOOK_LAB_SESSION": "other", "PATH": "/bin"}
    env = lab.environment(opts, tmp_path / "state", "tok", base, lab_session="s1")
    assert (env["RUNBOOK_LAB_INCIDENT"], env["RUNBOOK_LAB_SESSION"]) == ("inc-lab-9", "s1")


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "missing.toml"], "not found"),
    (["--port", "70000"], "not a port number"),
    (["--notebooks", "no-such-dir"], "not found"),
])
def test_bad_input_starts_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    done = run_cli("lab", "--config", str(config), *args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and message in done.stderr
    assert "open:" not in done.stdout


@pytest.mark.slow
def test_server_runs_kernels_of_this_environment_and_stops_them(tmp_path: Path) -> None:
    opts = options(tmp_path)
    (opts.notebooks / "sev1_response.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    server = LabServer(opts)
    with server:
        assert server.url.startswith("http://127.0.0.1:") and server.token in server.url
        specs = server.api("/api/kernelspecs")
        assert specs["default"] == "python3"
        assert specs["kernelspecs"]["python3"]["spec"]["argv"][0] == sys.executable
        names = [item["name"] for item in server.api("/api/contents")["content"]]
        assert names == ["sev1_response.ipynb"]
        refused = httpx.get(f"{server.base_url}/api/contents", timeout=5)
        assert refused.status_code == 403                       # no token, no access
        assert httpx.get(f"{server.base_url}/api/terminals",
                         headers={"Authorization": f"token {server.token}"},
                         timeout=5).status_code == 404          # no terminals
        started = httpx.post(f"{server.base_url}/api/kernels", json={"name": "python3"},
                             headers={"Authorization": f"token {server.token}"}, timeout=60)
        assert started.status_code == 201
        assert server.process is not None
        kernels = [p for p in psutil.Process(server.process.pid).children(recursive=True)
                   if "ipykernel_launcher" in " ".join(p.cmdline())]
        assert len(kernels) == 1
        environ = kernels[0].environ()
        assert environ["RUNBOOK_CONFIG"] == str(opts.config)
        assert kernels[0].cmdline()[0] == sys.executable
        listening = {c.laddr.ip for c in psutil.Process(server.process.pid).net_connections()
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}
    assert not server.running()
    assert not kernels[0].is_running() or kernels[0].status() == psutil.STATUS_ZOMBIE
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.base_url}/api/status", timeout=2)
