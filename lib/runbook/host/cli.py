"""The `runbook` command. Exit codes: 0 done (findings may still fail: read the record),
1 a cell failed or the run timed out, 2 bad input (nothing started), 3 a drill's diagnosis
did not name the injected fault, 130 stopped by Ctrl-C or SIGTERM (the record says aborted)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

from runbook.archive.location import ENV_ARCHIVE, is_bucket
from runbook.core.environ import environment_with
from runbook.core.errors import BadInput, RunbookError
from runbook.core.redaction import registry

COMMANDS = ["run", "drill", "runs", "verify", "postmortem", "due", "lab", "archive", "serve",
            "sync"]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only the named command's module is imported (each
    brings its own dependencies: papermill, nbconvert, matplotlib…), so `runbook runs` does
    not pay for `runbook run`'s imports."""
    parser = argparse.ArgumentParser(
        prog="runbook", description="Executable incident runbooks for Dealix.",
        epilog="Exit codes: 0 done, 1 a cell failed, 2 bad input, 3 drill mismatch, "
               "130 aborted.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    named = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    for name in named:
        importlib.import_module(f"runbook.host.commands.{name}").register(sub)
    for command in sub.choices.values():
        command.add_argument(
            "--archive", metavar="URL", help="the archive: s3://bucket/prefix (a team's "
            "shared archive; endpoint from [archive] endpoint_url or AWS_ENDPOINT_URL) or a "
            "folder (default: the config's [archive] url, else runs_dir, else ./runs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        with archive_from_command_line(getattr(args, "archive", None)):
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


@contextlib.contextmanager
def archive_from_command_line(url: str | None) -> Iterator[None]:
    """`--archive URL` for the command and all it starts (kernels, JupyterLab sessions): a
    bucket through $RUNBOOK_ARCHIVE, a folder through $RUNBOOK_RUNS_DIR."""
    if not url:
        yield
        return
    if is_bucket(url):
        values: dict[str, str | None] = {ENV_ARCHIVE: url}
    else:
        values = {"RUNBOOK_RUNS_DIR": str(Path(url.removeprefix("file://")).resolve()),
                  ENV_ARCHIVE: None}
    with environment_with(values):
        yield

if __name__ == "__main__":
    sys.exit(main())
