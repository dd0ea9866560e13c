"""The `runbook` command. Exit codes: 0 done (findings may still fail: read the record),
1 a cell failed or the run timed out, 2 bad input (nothing started), 3 a drill's diagnosis
did not name the injected fault, 130 stopped by Ctrl-C or SIGTERM (the record says aborted)."""

from __future__ import annotations

import argparse
import importlib
import sys

from runbook.errors import BadInput, RunbookError
from runbook.secrets import registry

COMMANDS = ["run", "drill", "runs", "verify", "postmortem", "due", "lab", "archive"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runbook", description="Executable incident runbooks for Dealix.",
        epilog="Exit codes: 0 done, 1 a cell failed, 2 bad input, 3 drill mismatch, "
               "130 aborted.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"runbook.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except BadInput as exc:
        print(f"runbook: error: {registry().redact(str(exc))}", file=sys.stderr)
        return 2
    except RunbookError as exc:
        print(f"runbook: {registry().redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("runbook: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
