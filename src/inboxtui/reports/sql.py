"""SQL pieces the report figures share, written once for SQLite and PostgreSQL.

Durations are whole seconds between whole-second epochs (`unixepoch()` on
SQLite, `floor(extract(epoch ...))` on PostgreSQL): exact integers, so both
backends (and the tests' own arithmetic) agree to the second.

Percentiles are nearest-rank: the p-th percentile of n sorted values is the
value at rank ceil(p * n / 100), one of the values themselves (the median of
four values is the second). A window function ranks the values in one sort;
no backend-specific percentile function is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)

NONE_NAME = "(none)"


def epoch(column: Any, dialect: str) -> Any:
    """Whole seconds since 1970 of a timestamp column, as an integer expression."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return func.unixepoch(column)


def seconds_between(start: Any, end: Any, dialect: str) -> Any:
    return epoch(end, dialect) - epoch(start, dialect)


@dataclass(frozen=True)
class GroupPercentiles:
    """One group's count and percentiles: dimension "all" (key None) or e.g. "role", role id."""

    dimension: str
    key: int | None
    count: int
    values: dict[int, int]


def nearest_rank_percentiles(
    conn: Connection, base: Select[Any], dimensions: tuple[str, ...], percentiles: tuple[int, ...]
) -> list[GroupPercentiles]:
    """Nearest-rank percentiles of `base`'s `secs`, overall and per value of each dimension.

    `base` selects `secs` and one id column per dimension. Two statements,
    one sort of the values whatever the number of groups:
    1. the groups and their sizes (GROUP BY per dimension);
    2. one pass in `secs` order keeping a running count per group
       (`count(*) FILTER (WHERE group) OVER (ORDER BY secs ROWS ...)`); the
       value at rank ceil(p * n / 100) of a group is the row where its running
       count reaches that rank (ties have equal values, so any order of ties
       gives the same answer).
    Ranking each dimension's groups with PARTITION BY would sort the rows
    once per dimension instead.
    """
    rows = base.subquery("base")
    sizes = [
        select(literal("all").label("dim"), null().label("key"), func.count()).select_from(rows)
    ]
    sizes += [
        select(literal(dim), rows.c[dim], func.count()).group_by(rows.c[dim]) for dim in dimensions
    ]
    groups = [
        (str(dim), None if key is None else int(key), int(n))
        for dim, key, n in conn.execute(union_all(*sizes))
        if n
    ]
    if not groups:
        return []
    order = {"order_by": rows.c.secs, "rows": (None, 0)}
    running = [
        func.count().over(**order).label("r0")
        if dim == "all"
        else func.count().filter(_member(rows.c[dim], key)).over(**order).label(f"r{i}")
        for i, (dim, key, _) in enumerate(groups)
    ]
    ranked = select(rows.c.secs, *(rows.c[d] for d in dimensions), *running).subquery("ranked")
    picks = []
    for i, (dim, key, n) in enumerate(groups):
        member = true() if dim == "all" else _member(ranked.c[dim], key)
        for p in percentiles:
            rank = -(-n * p // 100)
            hit = and_(member, ranked.c[f"r{i}"] == rank)
            picks.append(func.max(case((hit, ranked.c.secs))))
    values = list(conn.execute(select(*picks)).one())
    out = []
    for i, (dim, key, n) in enumerate(groups):
        got = values[i * len(percentiles) : (i + 1) * len(percentiles)]
        out.append(
            GroupPercentiles(
                dim, key, n, {p: int(v) for p, v in zip(percentiles, got, strict=True)}
            )
        )
    return out


def _member(column: Any, key: int | None) -> Any:
    return column.is_(None) if key is None else column == key


__all__ = [
    "NONE_NAME",
    "GroupPercentiles",
    "epoch",
    "nearest_rank_percentiles",
    "seconds_between",
]
