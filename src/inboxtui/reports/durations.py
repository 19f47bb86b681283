"""First-response and resolution times: exact nearest-rank percentiles from a histogram.

Ranking every conversation answered in a week (~300,000 at 1,000,000
mentions) costs seconds, whether a window function ranks them or Python
sorts them. Instead, two statements per event:

1. counts per duration bin, role and agent (bins 0.1-1% wide, in duration
   order: the number of digits and three leading digits). The p-th
   percentile of a group of n values is its value at rank ceil(p * n / 100);
   walking the group's bins in order finds the bin holding that rank, and
   the rank within the bin;
2. the exact durations of only those bins, sorted here: the value at that
   rank within its bin is the percentile, exactly as a sort of every value
   would give it.

On SQLite both are index reads (migration 0014: partial indexes on these
very expressions, in bin order; `EXPRESSIONS` must stay the migration's).
PostgreSQL hashes the same expressions. The resolution counts also count
the conversations first answered in the period too, so "conversations
handled" (answered or resolved) needs no statement of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, literal_column, select, text

from inboxtui.models import Conversation
from inboxtui.reports.sql import GroupPercentiles

INDEXES = {
    "first_response_at": "ix_conversation_first_response_bins",
    "resolved_at": "ix_conversation_resolved_bins",
}
ALL = ("all", None)
# SQLite: a period holding under 1/RANGE_SHARE of all conversations is read as a range
RANGE_SHARE = 10


def seconds_sql(event: str, dialect: str) -> str:
    """`event - created_at` in whole seconds, as SQL text (the migration's expression)."""
    if dialect == "postgresql":
        return (
            f"(CAST(floor(extract(epoch FROM conversation.{event})) AS bigint)"
            " - CAST(floor(extract(epoch FROM conversation.created_at)) AS bigint))"
        )
    return f"(unixepoch(conversation.{event}) - unixepoch(conversation.created_at))"


def bin_sql(event: str, dialect: str) -> str:
    """Duration bin: below 1000 s the value (-1: negative), else digits and 3 leading digits."""
    s = seconds_sql(event, dialect)
    if dialect == "postgresql":
        return (
            f"(CASE WHEN {s} < 1000 THEN greatest({s}, -1)"
            f" ELSE length(CAST({s} AS text)) * 1000"
            f" + CAST(substr(CAST({s} AS text), 1, 3) AS integer) END)"
        )
    return (
        f"(CASE WHEN {s} < 1000 THEN max({s}, -1)"
        f" ELSE length({s}) * 1000 + CAST(substr({s}, 1, 3) AS INTEGER) END)"
    )


@dataclass(frozen=True)
class Durations:
    """Percentiles per group, and the conversations counted per agent (for "handled")."""

    groups: list[GroupPercentiles]
    by_agent: dict[int | None, int] = field(default_factory=dict)
    # resolution only: of those, the conversations first answered in the period too
    answered_by_agent: dict[int | None, int] = field(default_factory=dict)


def _has_index(conn: Connection, name: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": name}
    )
    return found.first() is not None


def _few_in_period(conn: Connection, column: Any, since: datetime, until: datetime) -> bool:
    """SQLite: whether the period holds few enough events that a range beats the walk.

    The walk of a bins index reads every answered (resolved) conversation of
    the store, about 0.35 µs each; a range of the event's own index reads
    only the period's, but computes each bin and sorts the groups, about
    2.6 µs each (measured at 1,000,000 mentions). So a period holding under
    a tenth of the store's conversations is read as a range: a week of a
    store with years of history, not a week of the 14-day benchmark. The
    count stops at that bound (an index-only count, a few ms).
    """
    conversations = conn.execute(select(func.max(Conversation.id))).scalar() or 0
    bound = conversations // RANGE_SHARE
    inside = (
        select(literal_column("1"))
        .select_from(Conversation)
        .where(column >= since, column < until)
        .limit(bound + 1)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(inside)).scalar_one()) <= bound


def durations(
    conn: Connection,
    event: str,
    since: datetime,
    until: datetime,
    scoped: Callable[[Select[Any]], Select[Any]],
    *,
    filtered: bool,
    percentiles: tuple[int, ...] = (50, 90),
    answered_too: bool = False,
) -> Durations:
    """Nearest-rank percentiles of `event - created_at` for conversations whose `event` is in
    [since, until), overall and per role and agent (`scoped` adds the report's filter).

    `answered_too`: count per agent those also first answered in [since, until).
    """
    dialect = conn.dialect.name
    column = Conversation.__table__.c[event]  # type: ignore[attr-defined]
    bin_ = literal_column(bin_sql(event, dialect))
    ranged = column
    if (
        dialect == "sqlite"
        and not filtered
        and _has_index(conn, INDEXES[event])
        and not _few_in_period(conn, column, since, until)
    ):
        # no index term on the range: the walk of the bins index in bin order is the plan
        ranged = literal_column(f"+conversation.{event}", type_=column.type)
    in_period = and_(column.is_not(None), ranged >= since, ranged < until)
    role, agent = Conversation.role_id, Conversation.agent_id
    counted = [bin_, role, agent, func.count()]
    if answered_too:
        answered = Conversation.first_response_at
        counted.append(func.sum(case((and_(answered >= since, answered < until), 1), else_=0)))
    statement = scoped(select(*counted).select_from(Conversation).where(in_period))
    rows = conn.execute(statement.group_by(bin_, role, agent)).all()

    by_group: dict[tuple[str, int | None], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_agent: dict[int | None, int] = defaultdict(int)
    answered_by_agent: dict[int | None, int] = defaultdict(int)
    for row in rows:
        b, r, a, n = int(row[0]), row[1], row[2], int(row[3])
        for key in (ALL, ("role", r), ("agent", a)):
            by_group[key][b] += n
        by_agent[a] += n
        if answered_too:
            answered_by_agent[a] += int(row[4] or 0)
    if not by_group:
        return Durations([])

    # the bin holding each percentile's rank, and the rank within it
    wanted: dict[tuple[tuple[str, int | None], int], tuple[int, int]] = {}
    sizes = {}
    for key, bins in by_group.items():
        n = sizes[key] = sum(bins.values())
        for p in percentiles:
            rank, before = -(-n * p // 100), 0
            for b in sorted(bins):
                if before + bins[b] >= rank:
                    wanted[key, p] = (b, rank - before)
                    break
                before += bins[b]
    needed = sorted({b for b, _ in wanted.values()})
    exact = scoped(
        select(bin_, literal_column(seconds_sql(event, dialect)), role, agent)
        .select_from(Conversation)
        .where(and_(column.is_not(None), column >= since, column < until), bin_.in_(needed))
    )
    values: dict[tuple[tuple[str, int | None], int], list[int]] = defaultdict(list)
    keys_needed = {(key, b) for (key, _), (b, _) in wanted.items()}
    for b, secs, r, a in conn.execute(exact):
        for key in (ALL, ("role", r), ("agent", a)):
            if (key, b) in keys_needed:
                values[key, b].append(int(secs))
    for found in values.values():
        found.sort()

    groups = [
        GroupPercentiles(
            key[0],
            key[1],
            sizes[key],
            {p: values[key, wanted[key, p][0]][wanted[key, p][1] - 1] for p in percentiles},
        )
        for key in by_group
    ]
    return Durations(groups, dict(by_agent), dict(answered_by_agent))


__all__ = ["INDEXES", "Durations", "bin_sql", "durations", "seconds_sql"]
