"""Report periods: what "today", "7d", "30d" or a custom since/until mean, and their buckets.

A period is a half-open UTC range `[since, until)` cut into equal buckets
(hours, days or weeks), so a chart's bars are comparable. The previous period
is the range of the same length just before it: "this week vs last week".
Rolling windows (`7d` = the last 168 hours) keep both periods the same length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from inboxtui.timeutil import parse_when, to_utc, utcnow

BUCKETS: dict[str, int] = {"hour": 3600, "day": 86400, "week": 7 * 86400}
PRESETS: tuple[str, ...] = ("today", "7d", "30d")


class PeriodError(ValueError):
    """A period the user must fix; the message names the bad value."""


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    bucket: str  # a key of BUCKETS
    label: str

    @property
    def bucket_seconds(self) -> int:
        return BUCKETS[self.bucket]

    @property
    def length(self) -> timedelta:
        return self.until - self.since

    @property
    def previous(self) -> Period:
        """The same length just before: its bucket i lines up with this period's bucket i."""
        return Period(self.since - self.length, self.since, self.bucket, f"before {self.label}")

    @property
    def bucket_count(self) -> int:
        seconds = self.length.total_seconds()
        return max(1, -(-int(seconds) // self.bucket_seconds))

    def bucket_starts(self) -> list[datetime]:
        step = timedelta(seconds=self.bucket_seconds)
        return [self.since + i * step for i in range(self.bucket_count)]


def bucket_for(span: timedelta) -> str:
    """Hours up to two days, days up to three months, weeks beyond: 12-100 bars."""
    if span <= timedelta(days=2):
        return "hour"
    if span <= timedelta(days=92):
        return "day"
    return "week"


def make_period(
    since: str = "7d", until: str | None = None, *, now: datetime | None = None
) -> Period:
    """`since`: `today`, a duration (`7d`, `12h`, `2w`) or an ISO date/time; `until` likewise.

    Times are cut to whole seconds. Raises PeriodError for text that is
    neither, or for an empty range.
    """
    now = to_utc(now or utcnow())
    try:
        end = now if until is None else parse_when(until, now=now)
        if since.strip().lower() == "today":
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            label = "today"
        else:
            start = parse_when(since, now=now)
            label = f"last {since.strip()}" if until is None else f"{since.strip()} to {until}"
    except ValueError as exc:
        raise PeriodError(f"bad period: {exc}") from None
    # whole seconds: buckets are counted in whole epoch seconds, so edges stay exact
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    if start >= end:
        raise PeriodError(
            f"bad period: since ({start:%Y-%m-%d %H:%M}) is not before until ({end:%Y-%m-%d %H:%M})"
        )
    return Period(start, end, bucket_for(end - start), label)


__all__ = ["BUCKETS", "PRESETS", "Period", "PeriodError", "bucket_for", "make_period"]
