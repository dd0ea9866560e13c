"""Block Kit as Slack reads it: every block parsed and validated with slack_sdk's models."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block


def validate_blocks(blocks: list[dict[str, Any]]) -> None:
    """AssertionError naming the block slack_sdk refuses (or cannot read)."""
    assert blocks, "no blocks"
    assert len(blocks) <= 50, f"{len(blocks)} blocks: Slack takes at most 50"
    for index, raw in enumerate(blocks):
        block = Block.parse(raw)
        assert block is not None, f"block {index} ({raw.get('type')}) is not a Block Kit block"
        block.validate_json()
        assert block.to_dict() == raw or raw.get("type") in ("input",), \
            f"block {index} ({raw.get('type')}) does not survive slack_sdk's model: {raw}"
