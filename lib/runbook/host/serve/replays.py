"""Sentry deliveries are signed over the body only: `Sentry-Hook-Timestamp` and `Request-ID`
are not covered by the signature. So a delivery is refused when its timestamp is more than
5 minutes off (as Slack's verifier does for presses), and when its Request-ID, or its exact
signed body, was already accepted: a replay with fresh headers still repeats the body."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime

WINDOW_SECONDS = 300.0
REMEMBERED = 4096            # deliveries remembered (oldest forgotten first)


def timestamp_problem(value: str | None, now: datetime,
                      window: float = WINDOW_SECONDS) -> str | None:
    """Why `Sentry-Hook-Timestamp` is refused (missing, not Unix seconds, too far from
    now), or None when it is within the window."""
    if not value or not value.strip():
        return "no Sentry-Hook-Timestamp"
    try:
        moment = float(value.strip())
    except ValueError:
        return "Sentry-Hook-Timestamp is not Unix seconds"
    if moment != moment or abs(now.timestamp() - moment) > window:   # NaN, or off
        return f"Sentry-Hook-Timestamp is more than {window / 60:g} minutes off (a replay?)"
    return None


class SeenDeliveries:
    """The Request-IDs and body digests of accepted deliveries, bounded."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    @staticmethod
    def keys(request_id: str | None, body: bytes) -> list[str]:
        keys = ["body:" + hashlib.sha256(body).hexdigest()]
        if request_id and request_id.strip():
            keys.append("id:" + request_id.strip()[:200])
        return keys

    def claim(self, keys: list[str]) -> bool:
        """True when none of `keys` was seen, and remember them; False for a replay. No await
        comes between the check and the remembering, so two copies cannot both pass."""
        if any(key in self._seen for key in keys):
            return False
        for key in keys:
            self._seen[key] = None
            self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True

    def release(self, keys: list[str]) -> None:
        """Forget a delivery that was not accepted after all (503): Sentry may retry it."""
        for key in keys:
            self._seen.pop(key, None)
