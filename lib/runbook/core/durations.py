"""Durations as people write them in config and on the command line: `10s`, `5m`, `2h`, `90d`.

One parser, so that `[oncall] ack_timeout`, `--since 90d` and the drill's seconds-long windows
all read the same way, and a typo is refused with the accepted forms named."""
from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class DurationError(ValueError):
    """Text that is not a duration; its message names the accepted forms."""


def parse_duration(text: str) -> timedelta:
    """`10s`, `5m`, `1.5h`, `90d`, `2w` as a timedelta above zero; DurationError otherwise."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise DurationError(f"{text!r} is not a duration: write a number and a unit, "
                            "s, m, h, d or w (e.g. \"10s\", \"5m\", \"90d\")")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise DurationError(f"{text!r} is not above zero")
    return timedelta(seconds=seconds)


def say_duration(span: timedelta) -> str:
    """A span in the largest units that keep it exact enough to read: `4m`, `1h 05m`, `40s`."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"
