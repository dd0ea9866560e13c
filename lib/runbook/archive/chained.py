"""Hash-chained JSON lines: the incident's event log as bytes, with no idea what an event means.

Each line is one JSON object in the archive's compact encoding, carrying four fields of its own:

    seq     1, 2, 3 …: its place in the log
    prev    the `hash` of the line before it ("" for the first)
    scheme  how `hash` is computed, named per line so that a later scheme can sit beside it
    hash    SHA-256 of the line's own encoding without `hash` (keys in the order written)

So an edit of any byte of a line breaks its own hash (or makes it no longer the canonical
encoding), a line removed or moved breaks the next line's `prev` and `seq`, and the last line's
hash is the log's head: given back out-of-band it proves the tail is still there.

Appends are atomic reads-then-writes of the store's (`append_after`: a flock on disk, a
compare-and-swap on S3), so two writers on two machines never both write line n.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runbook.archive.lines import encode_line
from runbook.archive.store import ArchiveStore

SCHEME = "sha256-line-v1"
OWN_FIELDS = ("seq", "prev", "scheme", "hash")


@dataclass(frozen=True)
class LineProblem:
    line: int          # 1-based; 0 for the file as a whole
    detail: str
    corrupt: bool      # the line cannot be read at all (not JSON): verify exits 3

    def __str__(self) -> str:
        return f"line {self.line}: {self.detail}" if self.line else self.detail


def line_hash(fields: Mapping[str, Any]) -> str:
    body = {key: value for key, value in fields.items() if key != "hash"}
    return hashlib.sha256(encode_line(body)).hexdigest()


def link(previous: Mapping[str, Any] | None, payload: Mapping[str, Any]) -> dict[str, Any]:
    """`payload` as the next line after `previous` (None: the first line)."""
    clash = [key for key in OWN_FIELDS if key in payload]
    if clash:
        raise ValueError(f"a chained line's payload may not set {', '.join(clash)}")
    seq = int(previous["seq"]) + 1 if previous else 1
    line = {"seq": seq, **payload, "prev": str(previous["hash"]) if previous else "",
            "scheme": SCHEME}
    line["hash"] = line_hash(line)
    return line


def last_line(data: bytes) -> dict[str, Any] | None:
    """The last whole line of a log, parsed; None for an empty log."""
    end = data.rstrip(b"\n").rfind(b"\n")
    tail = data[end + 1:].strip()
    if not tail:
        return None
    parsed = json.loads(tail)
    if not isinstance(parsed, dict) or "hash" not in parsed or "seq" not in parsed:
        raise ValueError("the log's last line is not a chained line")
    return parsed


def append_linked(store: ArchiveStore, key: str,
                  payloads: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Append `payloads` to the log at `key` as its next chained lines, in one atomic append
    (a compare-and-swap on S3): no other writer's line lands between the read of the last
    line and the write. Returns the lines."""
    def after(data: bytes) -> list[dict[str, Any]]:
        previous = last_line(data)
        lines = []
        for payload in payloads:
            previous = link(previous, payload)
            lines.append(previous)
        return lines

    return store.append_after(key, after)


def read(data: bytes) -> tuple[list[dict[str, Any]], list[LineProblem]]:
    """The log's lines, and every way its bytes differ from a chain written by `link`.

    A line that is not JSON is reported as corrupt and skipped; the lines after it are still
    read (their `prev` then names the hash of a line that cannot be checked)."""
    lines: list[dict[str, Any]] = []
    problems: list[LineProblem] = []
    previous: dict[str, Any] | None = None
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    elif raw_lines:
        problems.append(LineProblem(len(raw_lines), "the last line is not whole (no newline "
                                    "at its end): the log was cut", corrupt=True))
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            problems.append(LineProblem(number, "is not valid JSON", corrupt=True))
            previous = None
            continue
        if not isinstance(line, dict):
            problems.append(LineProblem(number, "is not a JSON object", corrupt=True))
            continue
        problems.extend(LineProblem(number, detail, corrupt=False)
                        for detail in _check(raw, line, previous, number))
        lines.append(line)
        previous = line
    return lines, problems


def _check(raw: bytes, line: dict[str, Any], previous: dict[str, Any] | None,
           number: int) -> list[str]:
    if line.get("scheme") != SCHEME:
        return [f"names an unknown hash scheme {line.get('scheme')!r}"]
    problems = []
    if line_hash(line) != line.get("hash") or encode_line(line) != raw + b"\n":
        problems.append("was edited: it no longer has the hash it was written with")
    if line.get("seq") != number:
        problems.append(f"is numbered {line.get('seq')!r} where {number} belongs: lines were "
                        "removed, inserted or reordered")
    expected = str(previous.get("hash")) if previous else ""
    if previous is not None and line.get("prev") != expected:
        problems.append("does not follow the line before it (a line was removed, inserted, "
                        "reordered or edited)")
    if previous is None and number == 1 and line.get("prev") != "":
        problems.append("is the first line but names a line before it: lines were removed")
    return problems


def head(data: bytes) -> str | None:
    """The log's head: the hash of its last line (None for an empty log)."""
    try:
        last = last_line(data)
    except ValueError:
        return None
    return str(last["hash"]) if last else None
