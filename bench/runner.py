"""`runbook run` against plain `papermill` on the same notebook, the kernel's cold start by
itself, and the peak memory of a run (the runner and its kernel).

Both runs are subprocesses started the same way from the same folder, taking turns, and the
medians are compared: what `runbook run` adds (parameter checks, the archive, redacted saves,
the sealed record) is the difference.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import psutil

from bench.common import BIN, Figure, at_most, below, interleaved, median, ms

# Real work without the network: the library's imports, findings, the severity, the views a
# responder sees (HTML table, pandas frame), as a SEV-1 notebook's cells do.
CELLS = (
    'incident_id: str = ""\nrepeat: int = 40',
    "from runbook.sections.kit.display import FindingsView, findings_frame\n"
    "from runbook.core.findings import errored, failed, passed, skipped\n"
    "from runbook.incident.rules import run_severity",
    "findings = []\n"
    "for i in range(repeat):\n"
    "    findings += [passed(f'health.ok', f'probe {i} answered 200', seconds=0.01 * i),\n"
    "                 failed('deploy.crashed', f'deployment {i} CRASHED', 'roll back'),\n"
    "                 errored('uptime.up', 'no answer within the timeout'),\n"
    "                 skipped('moyasar.ok', 'not configured')]\n"
    "len(findings)",
    "run_severity(findings)",
    "view = FindingsView(findings, title='Confirm')\nview",
    "findings_frame(findings).groupby('status').size()",
)

CONFIG = """[service]
name = "dealix"
base_url = "http://127.0.0.1:9"
"""


def write_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.cells[0].metadata["tags"] = ["parameters"]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"c{index:02d}"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


class Workspace:
    """A folder with the notebook, a config that points nowhere, and its own archive."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notebook = write_notebook(root / "bench_cells.ipynb")
        (root / "runbook.toml").write_text(CONFIG, encoding="utf-8")
        self.runs = root / "runs"
        self.count = 0

    def env(self) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
        return {**env, "RUNBOOK_RUNS_DIR": str(self.runs),
                "RUNBOOK_CONFIG": str(self.root / "runbook.toml")}

    def runbook_cmd(self) -> list[str]:
        return [str(BIN / "runbook"), "run", str(self.notebook), "--incident", "bench-runner"]

    def papermill_cmd(self) -> list[str]:
        self.count += 1
        out = self.root / f"papermill-out-{self.count}.ipynb"
        return [str(BIN / "papermill"), str(self.notebook), str(out), "-k", "python3",
                "--no-progress-bar"]

    def run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {done.stderr[-2000:]}")
        return done


def runner_overhead(repeats: int = 3) -> Figure:
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        ws = Workspace(Path(tmp))
        ws.run(ws.runbook_cmd())          # warm: the page cache, .pyc files, the kernelspec
        ws.run(ws.papermill_cmd())
        seconds = interleaved({"runbook_run": lambda: ws.run(ws.runbook_cmd()),
                               "papermill": lambda: ws.run(ws.papermill_cmd())}, repeats)
    ours, theirs = median(seconds["runbook_run"]), median(seconds["papermill"])
    return at_most(
        "runner_overhead", ours / theirs, 1.25, "ratio",
        bound=("Both pay Python's start, papermill's imports and the kernel's cold start; "
               "the archive adds a few small atomic writes and a redacted save per cell. "
               "papermill's CLI also pays ~1 s building an IRI parser at import (jsonschema's "
               "rfc3987_syntax) that `runbook` skips."),
        detail={"runbook_run_ms": ms(ours), "papermill_ms": ms(theirs), "repeats": repeats,
                "runbook_run_runs_ms": [ms(s) for s in seconds["runbook_run"]],
                "papermill_runs_ms": [ms(s) for s in seconds["papermill"]],
                "cells": len(CELLS)})


def kernel_cold_start(repeats: int = 3) -> dict[str, Any]:
    """A python3 kernel started, ready, and one kernel_info round trip, then shut down. IPC
    sockets in a folder of its own, as the runner uses."""
    from jupyter_client.manager import KernelManager

    def once() -> float:
        sockets = tempfile.mkdtemp(prefix="bench-k-")
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "k"))
        started = time.perf_counter()
        km.start_kernel()
        kc = km.client()
        try:
            kc.start_channels()
            kc.wait_for_ready(timeout=60)
            kc.kernel_info(reply=True, timeout=30)
            return time.perf_counter() - started
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            shutil.rmtree(sockets, ignore_errors=True)

    runs = [once() for _ in range(repeats)]
    return {"median_ms": ms(median(runs)), "runs_ms": [ms(s) for s in runs]}


def _tree_rss(process: psutil.Process) -> tuple[int, dict[str, int]]:
    parts: dict[str, int] = {}
    for proc in [process, *process.children(recursive=True)]:
        try:
            rss = proc.memory_info().rss
            name = "runner" if proc.pid == process.pid else \
                ("kernel" if "ipykernel" in " ".join(proc.cmdline()) else proc.name())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        parts[name] = parts.get(name, 0) + rss
    return sum(parts.values()), parts


def peak_rss_mb(interval: float = 0.02) -> Figure:
    """The sum of RSS over `runbook run` and every process under it, sampled while it runs."""
    peak, peak_parts, samples = 0, {}, 0
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        ws = Workspace(Path(tmp))
        proc = psutil.Popen(ws.runbook_cmd(), cwd=ws.root, env=ws.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finished = threading.Event()

        def wait() -> None:
            proc.wait()
            finished.set()

        threading.Thread(target=wait, daemon=True).start()
        started = time.perf_counter()
        while not finished.is_set():
            try:
                total, parts = _tree_rss(proc)
            except psutil.NoSuchProcess:
                break
            samples += 1
            if total > peak:
                peak, peak_parts = total, parts
            finished.wait(interval)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"runbook run exited {proc.returncode}")
    mib = peak / (1024 * 1024)
    return below(
        "peak_rss_mb", mib, 400, "MB",
        bound=("The kernel: IPython and the library's imports (no pandas since the findings' "
               "table is the library's own); the runner holds papermill, nbclient and "
               "jupyter_client. Shared pages are counted in both, so the sum is an upper "
               "bound."),
        detail={"at_peak_mb": {k: round(v / (1024 * 1024), 1) for k, v in peak_parts.items()},
                "samples": samples, "run_ms": ms(seconds), "sample_interval_ms": ms(interval)})
