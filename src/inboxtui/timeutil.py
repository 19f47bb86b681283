"""UTC time helpers: every datetime in inboxtui is timezone-aware UTC.

SQLModel's `UTCDateTime` columns refuse naive values, which keeps local time
from sneaking in; the edges speak ISO 8601.

Relative forms (`2d`, `3h`, `90m`, `1w`) are shared by the filter language
(`since:2d`), snoozing (`--until 3h`) and reports.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (`Z` allowed; no offset means UTC) into aware UTC.

    Raises ValueError with the offending text.
    """
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        return to_utc(datetime.fromisoformat(candidate))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from None


def parse_duration(text: str) -> timedelta:
    """`2d` -> 2 days. Raises ValueError naming the accepted units."""
    match = _RELATIVE.match(text.strip().lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 3h, 2d, 1w)")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def parse_when(text: str, *, now: datetime | None = None, future: bool = False) -> datetime:
    """A relative duration (`2d`: that long ago, or from now when `future`) or an ISO time."""
    now = now or utcnow()
    try:
        delta = parse_duration(text)
    except ValueError:
        pass
    else:
        return now + delta if future else now - delta
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use a duration like 2d or 3h, or a date like 2026-11-01)"
        ) from None


def iso(value: datetime | None) -> str | None:
    """-> `2026-11-20T10:00:00Z` (None stays None); sub-second precision is kept."""
    if value is None:
        return None
    value = to_utc(value).replace(tzinfo=None)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec) + "Z"
