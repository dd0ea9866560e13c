"""One module per `runbook` subcommand: each has `register(subparsers)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
from typing import Any, Protocol


class Subcommands(Protocol):
    """What `register` is given: `parser.add_subparsers()`, which adds a command's parser."""

    def add_parser(self, *args: Any, **kwargs: Any) -> argparse.ArgumentParser: ...
