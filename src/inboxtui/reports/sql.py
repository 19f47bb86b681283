"""SQL pieces the report figures share, written once for SQLite and PostgreSQL.

Durations are whole seconds between whole-second epochs (`unixepoch()` on
SQLite, `floor(extract(epoch ...))` on PostgreSQL): exact integers, so both
backends (and the tests' own arithmetic) agree to the second.

Percentiles are nearest-rank: the p-th percentile of n sorted values is the
value at rank ceil(p * n / 100), one of the values themselves (the median of
four values is the second); `reports.durations` finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, case, cast, extract, func

from inboxtui.models import Mention

NONE_NAME = "(none)"


def epoch(column: Any, dialect: str) -> Any:
    """Whole seconds since 1970 of a timestamp column, as an integer expression."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return func.unixepoch(column)


def labelled(label: str) -> Any:
    """Mentions with sentiment `label`, as a sum beside count(*) in one grouped pass."""
    return func.sum(case((Mention.sentiment_label == label, 1), else_=0))


@dataclass(frozen=True)
class GroupPercentiles:
    """One group's count and percentiles: dimension "all" (key None) or e.g. "role", role id."""

    dimension: str
    key: int | None
    count: int
    values: dict[int, int]


__all__ = ["NONE_NAME", "GroupPercentiles", "epoch", "labelled"]
