"""runbook lab [--config PATH] [--port N] [--incident ID] [--notebooks DIR]: JupyterLab for a
responder, on a working copy of the notebooks (never the tracked ones, unless asked), for one
incident: `--incident`, or one allocated now that the first run opens."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from runbook.archive.record import check_incident_id, new_incident_id
from runbook.core import clock
from runbook.core.config import load_config
from runbook.core.errors import BadInput
from runbook.host.commands import Subcommands
from runbook.host.lab import WORK_FOLDER, LabOptions, LabServer, check_port, working_copy
from runbook.host.runner import notebooks_dir


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("lab", help="start JupyterLab on the runbook notebooks (127.0.0.1, "
                            "a kernel of this environment, the config given to every kernel)")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default: any free port)")
    parser.add_argument("--incident", help="incident every notebook run in the lab is filed "
                        "under, and whose working copy to serve (default: a new incident, "
                        "opened by the first run, one for the whole lab session)")
    parser.add_argument("--notebooks", help="serve this directory itself (e.g. the tracked "
                        "notebooks/, to edit them); default: a working copy of notebooks/ "
                        "under the archive's .lab/ folder")
    parser.set_defaults(handler=run)


def options_from(args: argparse.Namespace) -> LabOptions:
    """Everything checked before a server starts: the config loads, the directory exists."""
    config = load_config(args.config)
    port = check_port(args.port)
    incident = check_incident_id(args.incident) if args.incident else \
        new_incident_id(clock.now())
    if args.notebooks:
        directory = Path(args.notebooks)
        if not directory.is_dir():
            raise BadInput(f"notebooks directory {directory} not found")
    else:
        directory = working_copy(notebooks_dir(), config.runs_dir() / WORK_FOLDER / incident)
    return LabOptions(notebooks=directory.resolve(), config=config.path.resolve(), port=port,
                      incident=incident)


class _Stopped(Exception):
    """SIGTERM: stop as Ctrl-C does."""


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    server = LabServer(options)
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        server.start()
        tracked = options.notebooks == notebooks_dir().resolve()
        print(f"JupyterLab is serving {options.notebooks}"
              + (" (the tracked notebooks: save no outputs there)" if tracked else
                 " (a working copy: what you save stays here, out of the repository)"))
        print(f"  config:  {options.config} (RUNBOOK_CONFIG of every kernel)")
        print(f"  incident: {options.incident} (every notebook run here is filed under it)")
        print(f"  open:    {server.url}")
        print("Every notebook's findings and actions are recorded as they happen; archive a "
              "saved notebook with its archive button or `runbook archive PATH --incident "
              f"{options.incident}`. A run not archived when the lab stops is sealed "
              "`abandoned`. Stop with Ctrl-C.", flush=True)
        assert server.process is not None
        code = server.process.wait()
        print(f"runbook: JupyterLab stopped on its own (exit {code}); its log ends:\n"
              f"{server.log_tail()}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stopped):
        print("stopping JupyterLab and its kernels…", file=sys.stderr, flush=True)
        return 0
    finally:
        try:
            server.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
            for record in server.abandoned:
                print(f"sealed {record['notebook']} of incident {record['incident_id']} as "
                      f"abandoned (not archived): {len(record['findings'])} finding(s), "
                      f"{len(record['actions'])} action(s)", file=sys.stderr)
