"""The Slack blocks of a verdict, its mitigation buttons, and of what a press came to.

One recommended action is the primary button (the first plan: the runbook's order puts the
most likely fix first); the others are plain (secondary) buttons, none `danger`: a red wall
of buttons on a phone at night says nothing about which to press. Every button opens Slack's
confirm dialog first. A plan that is the second action of its kind in the incident carries an
input block: the target's short id must be typed, a press alone does not do it.

`secondary` takes further buttons (an Acknowledge button, say): they join the same actions
block, after the plans, with no style."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runbook.clients.slack import escape_mrkdwn as esc
from runbook.host.serve.plans import Plan
from runbook.host.serve.verdict import NO_ACTION_YET, Verdict, plain

SECTION_MAX = 2900            # Slack refuses a section text over 3000 characters
HEADER_MAX = 150              # … and a header's over 150
ACTION_PREFIX = "runbook.plan."
ACTIONS_BLOCK = "runbook_plans"
CONFIRM_AGAIN_BLOCK = "runbook_confirm_again"
CONFIRM_AGAIN_ACTION = "runbook.confirm_again"


def _sections(text: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for line in text.splitlines():
        if chunk and size + len(line) + 1 > SECTION_MAX:
            blocks.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line[:SECTION_MAX])
        size += len(line) + 1
    if chunk and any(line.strip() for line in chunk):
        blocks.append(_section("\n".join(chunk)))
    return blocks


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(text: str) -> dict[str, Any]:
    short = text if len(text) <= HEADER_MAX else text[:HEADER_MAX - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": short}}


def _button(index: int, plan: Plan, primary: bool) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button", "action_id": f"{ACTION_PREFIX}{index}", "value": plan.value,
        "text": {"type": "plain_text", "text": plain(plan.label)},
        "confirm": {"title": {"type": "plain_text", "text": "Do it now?"},
                    "text": {"type": "plain_text", "text": plain(plan.description)[:300]},
                    "confirm": {"type": "plain_text", "text": "Do it"},
                    "deny": {"type": "plain_text", "text": "Cancel"}}}
    if primary:
        button["style"] = "primary"
    return button


def _confirm_again(plan: Plan) -> dict[str, Any]:
    """The input a second action of a kind needs: its target's short id, typed."""
    wanted = str(plan.extra.get("confirm_again", ""))
    return {"type": "input", "block_id": CONFIRM_AGAIN_BLOCK, "optional": True,
            "label": {"type": "plain_text",
                      "text": f"Type {wanted} to confirm a second {plan.kind}"[:2000]},
            "element": {"type": "plain_text_input", "action_id": CONFIRM_AGAIN_ACTION,
                        "placeholder": {"type": "plain_text", "text": wanted or "short id"}}}


def verdict_blocks(message: Verdict | str, plans: list[Plan],
                   secondary: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The verdict: its headline as the header, its parts, then the mitigation (the first
    plan as the one primary button), then the incident's line."""
    if isinstance(message, Verdict):
        blocks = [_header(message.headline)]
        for part in message.parts:
            blocks += _sections(part)
    else:
        blocks = _sections(message)
    if plans or secondary:
        blocks.append({"type": "divider"})
    if plans:
        lines = ["*Mitigate from here* (allow-listed responders; re-checked when pressed; "
                 "each done at most once per incident; who pressed is recorded):"]
        lines += [("*Recommended:* " if i == 0 else "• ") + esc(plain(plan.description))
                  for i, plan in enumerate(plans)]   # commit messages: outside text
        blocks.append(_section("\n".join(lines)[:SECTION_MAX]))
        blocks += [_confirm_again(plan) for plan in plans[:1]
                   if plan.extra.get("confirm_again")]
    elements = [_button(i, p, primary=i == 0) for i, p in enumerate(plans)]
    elements += [dict(button) for button in secondary]
    if elements:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK,
                       "elements": elements[:25]})
    if isinstance(message, Verdict) and message.footer:
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": message.footer[:2900]}]})
    return blocks


def plan_blocks(text: str, plan: Plan) -> list[dict[str, Any]]:
    """An ephemeral refusal that offers a fresh plan in its place (`text` is mrkdwn, its
    outside parts already escaped)."""
    blocks = [_section(plain(text)[:SECTION_MAX])]
    if plan.extra.get("confirm_again"):
        blocks.append(_confirm_again(plan))
    return [*blocks, {"type": "actions", "block_id": ACTIONS_BLOCK,
                      "elements": [_button(0, plan, primary=True)]}]


def outcome_blocks(original: list[dict[str, Any]], outcome: str,
                   obsolete: Sequence[str] = (NO_ACTION_YET,)) -> list[dict[str, Any]]:
    """The message as it was, its buttons and inputs replaced by what the press came to and
    what is next; lines the press made untrue ("nothing was rolled back") are taken out."""
    kept: list[dict[str, Any]] = []
    for block in original:
        if not isinstance(block, dict) or block.get("type") in ("actions", "input"):
            continue
        text = block.get("text") if block.get("type") == "section" else None
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            lines = [line for line in text["text"].splitlines()
                     if not any(line.strip() == gone for gone in obsolete)]
            if not any(line.strip() for line in lines):
                continue
            block = {**block, "text": {**text, "text": "\n".join(lines)}}
        kept.append(block)
    footer = [b for b in kept if b.get("type") == "context"]
    body = [b for b in kept if b.get("type") != "context"]
    return [*body, _section(outcome[:SECTION_MAX]), *footer]
