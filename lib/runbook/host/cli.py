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
from typing import Any

from runbook.archive.location import ENV_ARCHIVE, is_bucket
from runbook.core.environ import environment_with
from runbook.core.errors import BadInput, RunbookError
from runbook.core.redaction import registry

COMMANDS = ["run", "drill", "runs", "verify", "incident", "digest", "postmortem", "due", "lab",
            "archive", "serve", "sync", "similar", "report"]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only the named command's module is imported (each
    brings its own dependencies: papermill, nbconvert, matplotlib…), so `runbook runs` does
    not pay for `runbook run`'s imports."""
    parser = argparse.ArgumentParser(
        prog="runbook", description="Executable incident runbooks for Dealix.",
        epilog="Exit codes: 0 done, 1 a cell failed, 2 bad input, 3 drill mismatch, "
               "130 aborted.")
    created: list[argparse.ArgumentParser] = []

    class CommandParser(argparse.ArgumentParser):
        """A command's parser, and its own actions' (`incident show`…): argparse makes those
        of the class of the parser they belong to, so each one made is seen here."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=CommandParser)
    named = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    for name in named:
        importlib.import_module(f"runbook.host.commands.{name}").register(sub)
    commands = {id(command) for command in sub.choices.values()}
    for command in created:
        # A command's own action does not override `--archive` given before it.
        _archive_option(command, default=None if id(command) in commands
                        else argparse.SUPPRESS)
    return parser


def _archive_option(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--archive", metavar="URL", default=default, help="the archive: s3://bucket/prefix "
        "(a team's shared archive; endpoint from [archive] endpoint_url or AWS_ENDPOINT_URL) "
        "or a folder (default: the config's [archive] url, else runs_dir, else ./runs)")


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
