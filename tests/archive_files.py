"""The archive's files read and written as files, for tests that look at what is on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.archive.lines import encode_line, json_lines


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every whole JSON line of a .jsonl file; [] when there is none."""
    return json_lines(path.read_bytes()) if path.is_file() else []


def append_line(path: Path, data: dict[str, Any]) -> None:
    with path.open("ab") as handle:
        handle.write(encode_line(data))
