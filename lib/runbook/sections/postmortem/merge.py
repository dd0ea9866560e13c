"""Regenerate a postmortem without losing what a person wrote.

Generated parts sit between markers that carry a hash of what was generated:

    <!-- generated:timeline sha=0123456789ab -->
    …
    <!-- /generated:timeline -->

On a re-run, a block whose text still matches its hash is replaced by the fresh one; a block a
person edited (the hash no longer matches) is kept as it is; everything outside the markers is
kept. Ticking a checkbox (`- [x]`) is not an edit: the tick is carried into the fresh block.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_BLOCK = re.compile(
    r"<!-- generated:(?P<name>[A-Za-z0-9_-]+)(?: sha=(?P<sha>[0-9a-f]{12}))? -->\n"
    r"(?P<body>.*?)<!-- /generated:(?P=name) -->", re.S)
_CHECKED = re.compile(r"^(\s*[-*] )\[[xX]\] ", re.M)


def _normalized(body: str) -> str:
    return _CHECKED.sub(r"\1[ ] ", body).strip()


def body_sha(body: str) -> str:
    return hashlib.sha256(_normalized(body).encode("utf-8")).hexdigest()[:12]


def block(name: str, body: str) -> str:
    body = body.rstrip("\n") + "\n"
    return f"<!-- generated:{name} sha={body_sha(body)} -->\n{body}<!-- /generated:{name} -->"


def blocks(text: str) -> dict[str, str]:
    """name → body of every generated block in a document."""
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}


def _carry_ticks(old_body: str, new_body: str) -> str:
    ticked = {line.split("] ", 1)[1].strip() for line in old_body.splitlines()
              if _CHECKED.match(line)}
    if not ticked:
        return new_body
    lines = []
    for line in new_body.splitlines(keepends=True):
        match = re.match(r"^(\s*[-*] )\[ \] (.*)$", line.rstrip("\n"))
        if match and match.group(2).strip() in ticked:
            line = f"{match.group(1)}[x] {match.group(2)}" + ("\n" if line.endswith("\n") else "")
        lines.append(line)
    return "".join(lines)


@dataclass
class Merged:
    text: str
    kept_edited: list[str] = field(default_factory=list)   # blocks a person changed: kept
    refreshed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)          # blocks new in this version


def merge(existing: str, fresh: str) -> Merged | None:
    """The existing document with its untouched generated blocks refreshed; None when it has no
    generated blocks at all (a hand-written file: the caller must not overwrite it)."""
    if not _BLOCK.search(existing):
        return None
    fresh_blocks = {m.group("name"): m for m in _BLOCK.finditer(fresh)}
    result = Merged("")
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name, sha, body = match.group("name"), match.group("sha"), match.group("body")
        seen.add(name)
        if sha is None or body_sha(body) != sha:
            result.kept_edited.append(name)
            return match.group(0)
        new = fresh_blocks.get(name)
        if new is None:
            return match.group(0)
        result.refreshed.append(name)
        return block(name, _carry_ticks(body, new.group("body")))

    text = _BLOCK.sub(replace, existing)
    for name, match in fresh_blocks.items():
        if name not in seen:
            result.added.append(name)
            text = text.rstrip("\n") + "\n\n" + match.group(0) + "\n"
    result.text = text
    return result
