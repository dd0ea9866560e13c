"""The parts of a postmortem a person writes: the root cause, the action items and the lessons.

They live in one small TOML file beside the draft (`<draft>.edits.toml`), proposed from the
records the first time, then the person's: `runbook postmortem` reads it back on every run
(so a re-run never loses an edit), and appends it to the incident's log as `postmortem.saved`
when it changed, so another machine (and `runbook due`) sees it. A field that is empty or
still starts with a prompt mark is one the check (`missing`) names.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from runbook.core.errors import BadInput
from runbook.incident import codes

TO_CONFIRM = "TO CONFIRM:"     # generated, for a person to confirm or correct
TO_FILL = "TO FILL:"           # a prompt: a person writes the answer
PROMPT_MARKS = (TO_CONFIRM, TO_FILL)
LESSONS = (("went_well", "went well"), ("went_badly", "went badly"),
           ("got_lucky", "where we got lucky"))
# The runbook's priorities: a SEV-1's action items within 4 weeks, the rest within 8.
DUE_AFTER = {"SEV-1": timedelta(weeks=4)}
DUE_AFTER_DEFAULT = timedelta(weeks=8)


class EditsError(BadInput):
    """An edits file that cannot be read: exit 2, naming the file and line."""


@dataclass
class ActionItem:
    title: str
    type: str                     # one of codes.FOLLOW_UP_TYPES
    owner: str = ""
    due: str = ""                 # YYYY-MM-DD
    done: bool = False
    source: str = ""              # where it was proposed from ("" when a person added it)


@dataclass
class Edits:
    root_cause: str = ""
    action_items: list[ActionItem] = field(default_factory=list)
    went_well: str = ""
    went_badly: str = ""
    got_lucky: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "the saved edits") -> Edits:
        items = data.get("action_items") or []
        if not isinstance(items, list):
            raise EditsError(f"{where}: action_items must be a list of [[action_items]] tables")
        parsed = [_item(item, f"{where}: action item {number}")
                  for number, item in enumerate(items, 1)]
        edits = cls(action_items=parsed)
        for name in ("root_cause", "went_well", "went_badly", "got_lucky"):
            value = data.get(name, "")
            if not isinstance(value, str):
                raise EditsError(f"{where}: {name} must be a string")
            setattr(edits, name, value)
        return edits


def _item(data: Any, where: str) -> ActionItem:
    if not isinstance(data, dict):
        raise EditsError(f"{where} is not a table")
    kind = str(data.get("type", ""))
    if kind not in codes.FOLLOW_UP_TYPES:
        raise EditsError(f"{where}: type {kind!r} is not one of "
                         f"{', '.join(codes.FOLLOW_UP_TYPES)}")
    due = data.get("due", "")
    if isinstance(due, date):
        due = due.isoformat()
    due = str(due)
    if due and not re.fullmatch(r"\d{4}-\d\d-\d\d", due):
        raise EditsError(f"{where}: due {due!r} is not a date (YYYY-MM-DD)")
    return ActionItem(str(data.get("title", "")), kind, str(data.get("owner", "")), due,
                      bool(data.get("done", False)), str(data.get("source", "")))


def is_prompt(text: str) -> bool:
    """Empty, or still the generated text a person has to replace."""
    stripped = text.strip()
    return not stripped or stripped.startswith(PROMPT_MARKS)


def missing(edits: Edits) -> list[str]:
    """Every required field that is empty or still a prompt, in the document's order."""
    problems = []
    if is_prompt(edits.root_cause):
        problems.append(f"root cause: still marked {TO_CONFIRM!r} or empty: confirm or "
                        "correct it, and remove the mark")
    if not edits.action_items:
        problems.append("action items: none: add at least one follow-up")
    for number, item in enumerate(edits.action_items, 1):
        name = f"action item {number} ({item.title[:40] or 'untitled'})"
        for what, value in (("title", item.title), ("owner", item.owner), ("due", item.due)):
            if is_prompt(value):
                problems.append(f"{name}: no {what}")
    for name, label in LESSONS:
        if is_prompt(getattr(edits, name)):
            problems.append(f"lessons: {label} ({name}) is empty or still a prompt")
    return problems


def due_date(severity: str | None, started: date) -> str:
    return (started + DUE_AFTER.get(str(severity), DUE_AFTER_DEFAULT)).isoformat()


# --- the file ------------------------------------------------------------------------------

def _string(text: str) -> str:
    """A TOML string: JSON's escapes are TOML's (DEL is the one TOML also refuses raw)."""
    if "\n" in text:
        body = text.replace("\\", "\\\\").replace('"""', '""\\"').replace("\x7f", "\\u007f")
        body = re.sub(r"[\x00-\x08\x0b-\x1f]", lambda m: f"\\u{ord(m.group()):04x}", body)
        return f'"""\n{body}"""'
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(edits: Edits, incident_id: str) -> str:
    lines = [
        f"# The postmortem of {incident_id}: the parts a person writes.",
        "# Edit this file, then run `runbook postmortem "
        f"{incident_id}` again: the draft is rewritten",
        "# from the records with these parts, and they are saved to the incident's log.",
        f"# `runbook postmortem {incident_id} --check` names what is still empty or a prompt",
        f"# ({TO_CONFIRM} or {TO_FILL}): replace those with your own words.",
        "",
        "# The cause in words, apart from the symptoms.",
        f"root_cause = {_string(edits.root_cause)}",
        "",
        "# Lessons: prompts pre-filled with what the records measured.",
        f"went_well = {_string(edits.went_well)}",
        f"went_badly = {_string(edits.went_badly)}",
        f"got_lucky = {_string(edits.got_lucky)}",
        "",
        "# Action items: follow-ups after the incident (not the steps taken during it).",
        f"# type: {', '.join(codes.FOLLOW_UP_TYPES)}; owner: a person; due: YYYY-MM-DD.",
        "# Add, edit or drop items freely.",
    ]
    for item in edits.action_items:
        lines += ["", "[[action_items]]", f"title = {_string(item.title)}",
                  f"type = {_string(item.type)}", f"owner = {_string(item.owner)}",
                  f"due = {_string(item.due)}", f"done = {'true' if item.done else 'false'}"]
        if item.source:
            lines.append(f"source = {_string(item.source)}")
    return "\n".join(lines) + "\n"


def read(path: Path) -> Edits:
    """The edits file; EditsError naming the file and line when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EditsError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = f" line {where.group(1)}" if where else ""
        raise EditsError(f"{path}{line}: not valid TOML ({exc}): fix it, then run again "
                         "(the draft was left as it was)") from None
    return Edits.from_dict(data, str(path))
