"""The Slack blocks of a verdict with mitigation buttons, and of what a press came to."""

from __future__ import annotations

from typing import Any

from runbook.clients.slack import escape_mrkdwn as esc
from runbook.host.serve.plans import Plan

SECTION_MAX = 2900            # Slack refuses a section text over 3000 characters
ACTION_PREFIX = "runbook.plan."


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
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    return blocks


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(index: int, plan: Plan) -> dict[str, Any]:
    return {"type": "button", "action_id": f"{ACTION_PREFIX}{index}", "value": plan.value,
            "style": "danger", "text": {"type": "plain_text", "text": plan.label},
            "confirm": {"title": {"type": "plain_text", "text": "Do it now?"},
                        "text": {"type": "plain_text", "text": plan.description[:300]},
                        "confirm": {"type": "plain_text", "text": "Do it"},
                        "deny": {"type": "plain_text", "text": "Cancel"}}}


def verdict_blocks(text: str, plans: list[Plan]) -> list[dict[str, Any]]:
    """The verdict as sections, then one button per plan, each saying what it does."""
    blocks = _sections(text)
    if not plans:
        return blocks
    lines = ["*Mitigate from here* (allow-listed responders only; re-checked when pressed, "
             "done at most once per incident, recorded with who pressed):"]
    lines += [f"• {esc(plan.description)}" for plan in plans]   # commit messages: outside text
    blocks += [{"type": "divider"}, _section("\n".join(lines)[:SECTION_MAX]),
               {"type": "actions", "block_id": "runbook_plans",
                "elements": [_button(i, p) for i, p in enumerate(plans)]}]
    return blocks


def plan_blocks(text: str, plan: Plan) -> list[dict[str, Any]]:
    """An ephemeral refusal that offers a fresh plan in its place (`text` is mrkdwn, its
    outside parts already escaped)."""
    return [_section(text[:SECTION_MAX]),
            {"type": "actions", "block_id": "runbook_plans", "elements": [_button(0, plan)]}]


def outcome_blocks(original: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    """The message as it was, its buttons replaced by what the press came to."""
    kept = [b for b in original if isinstance(b, dict) and b.get("type") != "actions"]
    return [*kept, _section(outcome[:SECTION_MAX])]
