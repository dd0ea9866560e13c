"""Times as the records keep them (ISO-8601 UTC) and as a responder in Riyadh reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from runbook.core.errors import BadInput

RIYADH = timezone(timedelta(hours=3), "AST")  # Saudi Arabia keeps UTC+3 all year


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse ISO-8601; a time without a zone is taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def moment_or_none(value: Any) -> datetime | None:
    """A time as records and events keep it (ISO-8601, or already a datetime); None for
    nothing or something unreadable: evidence that cannot be read is no evidence."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def parse_given(value: str | None, what: str) -> datetime | None:
    """A time a person gave (a parameter, an option): None when empty, else ISO-8601 (UTC when
    it names no zone). BadInput names `what` and shows the form."""
    if not value or not value.strip():
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise BadInput(f"{what} {value!r} is not an ISO-8601 time: give e.g. "
                       "2026-11-27T09:03:00Z (UTC) or 2026-11-27T12:03:00+03:00") from None


def stamp(moment: datetime) -> str:
    """The run directory's stamp: yyyymmddTHHMMSSZ."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def both_zones(moment: datetime) -> str:
    """'2026-11-27 09:03 UTC (12:03 Riyadh)'."""
    utc = moment.astimezone(UTC)
    riyadh = moment.astimezone(RIYADH)
    return f"{utc:%Y-%m-%d %H:%M} UTC ({riyadh:%H:%M} Riyadh)"
