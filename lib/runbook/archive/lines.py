"""JSON lines, the archive's append-only format: one object a line, torn lines skipped."""

from __future__ import annotations

import json
from typing import Any


def encode_line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def encode_json(data: Any) -> bytes:
    """A whole JSON document as the archive writes it (indented, key order kept)."""
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def json_lines(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of the whole lines in `data`; a line that does not parse (a killed
    writer's torn line) is skipped."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    try:
        # One parse for all lines is several times faster than one per line.
        parsed = json.loads(b"[" + b",".join(lines) + b"]")
        if isinstance(parsed, list) and len(parsed) == len(lines):
            return [item for item in parsed if isinstance(item, dict)]
    except ValueError:
        pass
    result = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            result.append(item)
    return result
