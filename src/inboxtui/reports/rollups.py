"""Report figures from the rollup tables (migration 0012) instead of a scan of `mention`.

The rollups count every mention exactly, in the transaction of each write:
database triggers on `mention` (edits, sentiment corrections, re-scoring,
deletes; on PostgreSQL inserts too) and, for SQLite's inserts, ingest's one
call into `inboxtui.rollup_counts` (see migration 0012 for why). Reports read them
only for the unfiltered scope (a filter selects conversations, which the
rollups do not know) and only while the triggers exist (`usable`).

Exactness at the edges: a period's edges rarely fall on whole hours. Every
hour that contains an edge (of the period, of the previous period or of a
bucket) is counted from `mention` (a short indexed range); every other hour
from `report_hour`. Top authors walk candidates in an order that bounds the
rest (`report_author`'s all-time count, `author.followers`) and count each
candidate's mentions in the period exactly from `ix_mention_author`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Select, func, literal, or_, select, text, union_all
from sqlalchemy.sql import visitors
from sqlmodel import Session

from inboxtui import query as query_module
from inboxtui.models import (
    Author,
    Conversation,
    Mention,
    ReportAuthor,
    ReportConversation,
    ReportHour,
)
from inboxtui.query import Query
from inboxtui.reports.period import Period
from inboxtui.reports.sql import labelled

HOUR = 3600
TRIGGERS = ("report_mention_insert", "report_mention_update", "report_mention_delete")
SQLITE_TRIGGERS = TRIGGERS[1:]  # inserts: counted by ingest (`inboxtui.rollup_counts`)
# top authors: candidates examined per round at first (doubles each round, up to BATCH_MAX)
BATCH_FIRST = 64
BATCH_MAX = 4096
# top authors: examining more candidates than this share of the period's mentions costs
# more than counting the period's mentions per author directly
WALK_SHARE = 0.25

# (previous?, bucket index, source id) -> [mentions, negative, positive]
VolumeRow = tuple[int, int, int, int, int, int]
# handle, kind, name, followers, mentions, negative, neutral, positive
AuthorRow = tuple[str, str, str | None, int | None, int, int, int, int]


def _seconds(value: datetime) -> int:
    return int(value.timestamp())


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def usable(session: Session, period: Period) -> bool:
    """Whether the rollups may answer for `period`: whole-second edges and the rollups current.

    Current: the triggers exist (a later migration that rebuilds `mention` on
    SQLite drops them) and, on SQLite, no mention is newer than the last one
    ingest counted (`report_state`: an insert that bypassed ingest). Else
    reports read `mention`, slower but never stale.
    """
    if any(t.microsecond for t in (period.since, period.until, period.previous.since)):
        return False
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        names = ", ".join(f"'{name}'" for name in TRIGGERS)
        statement = text(
            "SELECT count(*) = 3 FROM pg_trigger"
            f" WHERE tgrelid = to_regclass('mention') AND tgname IN ({names})"
        )
        return bool(conn.execute(statement).scalar())
    names = ", ".join(f"'{name}'" for name in SQLITE_TRIGGERS)
    triggers = text(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        f" AND tbl_name = 'mention' AND name IN ({names})"
    )
    if conn.execute(triggers).scalar() != len(SQLITE_TRIGGERS):
        return False  # (also a database stamped 0012 without the rollup tables)
    current = text(
        "SELECT coalesce((SELECT max(id) FROM mention), 0)"
        " <= (SELECT mention_id FROM report_state WHERE id = 1)"
    )
    return bool(conn.execute(current).scalar())


# --------------------------------------------------------------------------- volume


def _edge_hours(period: Period) -> list[int]:
    """Hours (epoch seconds) that contain an edge of a bucket of either period, not on the hour."""
    width, n = period.bucket_seconds, period.bucket_count
    starts = (_seconds(period.previous.since), _seconds(period.since))
    edges = {start + i * width for start in starts for i in range(n)}
    edges.add(_seconds(period.until))
    return sorted({edge - edge % HOUR for edge in edges if edge % HOUR})


def _ranges(hours: Sequence[int], lo: int, hi: int) -> list[tuple[int, int]]:
    """Adjacent hours merged into ranges, clipped to [lo, hi)."""
    out: list[list[int]] = []
    for hour in hours:
        start, end = max(hour, lo), min(hour + HOUR, hi)
        if start >= end:
            continue
        if out and out[-1][1] == start:
            out[-1][1] = end
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def volume_rows(
    session: Session, period: Period, raw: Callable[[datetime, datetime], Select[Any]]
) -> list[VolumeRow]:
    """The rows `figures._volume` groups, from `report_hour` plus the edge hours from `mention`.

    `raw(lo, hi)` is the grouped statement over mentions in [lo, hi): it gives
    the edge hours exactly as a full scan would.
    """
    conn = session.connection()
    width = period.bucket_seconds
    start, since, until = (
        _seconds(period.previous.since),
        _seconds(period.since),
        _seconds(period.until),
    )
    edge_hours = _edge_hours(period)
    skip = set(edge_hours)
    acc: dict[tuple[int, int, int], list[int]] = {}
    hours = conn.execute(
        select(ReportHour.hour, ReportHour.source_id, ReportHour.label, ReportHour.mentions).where(
            ReportHour.hour >= start - start % HOUR, ReportHour.hour < until
        )
    )
    for hour, source_id, label, mentions in hours:
        if hour in skip or not mentions:
            continue
        prev = int(hour < since)
        index = (hour - (start if prev else since)) // width
        row = acc.setdefault((prev, index, source_id), [0, 0, 0])
        row[0] += mentions
        if label == "negative":
            row[1] += mentions
        elif label == "positive":
            row[2] += mentions
    for lo, hi in _ranges(edge_hours, start, until):
        for prev, index, source_id, total, negative, positive in conn.execute(
            raw(_at(lo), _at(hi))
        ):
            row = acc.setdefault((int(prev), int(index), int(source_id)), [0, 0, 0])
            row[0] += int(total)
            row[1] += int(negative or 0)
            row[2] += int(positive or 0)
    return [(p, i, k, t, neg, pos) for (p, i, k), (t, neg, pos) in acc.items()]


# --------------------------------------------------------------------------- share of voice


def on_rollup(condition: Any) -> Any | None:
    """`condition` on `conversation` rewritten onto `report_conversation`, if it only uses the id.

    A text topic (`battery OR refund`) tests only `conversation.id`; testing it
    on the rollup row spares a read of each matching conversation's row.
    None when the condition reads other columns of `conversation`.
    """
    table = Conversation.__table__  # type: ignore[attr-defined]

    def ours(element: Any) -> bool:
        return isinstance(element, Column) and element.table is table

    if any(ours(e) and e.name != "id" for e in visitors.iterate(condition)):
        return None
    target = ReportConversation.__table__.c.conversation_id  # type: ignore[attr-defined]
    return visitors.replacement_traverse(
        condition, {}, lambda element: target if ours(element) else None
    )


class _Exists(query_module._Planner):
    """Search words as "one of the conversation's mentions is among the index's matches".

    The matches are collected once (their ids only, no mention row read) and
    each candidate conversation's mentions are probed: right for a short
    period's few conversations, where mapping every match to its
    conversation would read far more rows.
    """

    def text(self, phrases: Any) -> tuple[str, Any]:
        return "exists", None


def probing_filter(session: Session, topic: Query, me_id: int | None) -> Any:
    """`query.conversation_filter` of `topic`, search words tested per candidate (`_Exists`)."""
    return query_module._filter(topic, "sqlite", me_id, _Exists(session))


def topic_split(session: Session, period: Period, candidates: Select[Any]) -> dict[str, int]:
    """Mentions of the period in the `candidates` conversations, by label ('' = other or none).

    One statement: the candidates' rollup rows that overlap the period are
    collected once (a materialised CTE); a conversation whose mentions all lie
    in the period adds its counts, and only those that straddle an edge of
    the period have their mentions read.
    """
    rc = ReportConversation
    since, until = _seconds(period.since), _seconds(period.until)
    condition = candidates.whereclause
    direct = None if condition is None else on_rollup(condition)
    chosen = rc.conversation_id.in_(candidates) if direct is None else direct
    overlapping = (
        select(
            rc.conversation_id,
            rc.first_at,
            rc.last_at,
            rc.negative,
            rc.neutral,
            rc.positive,
            rc.mentions,
        )
        .where(rc.last_at >= since, rc.first_at < until, chosen)
        .cte("overlapping")
        .prefix_with("MATERIALIZED")
    )
    c = overlapping.c
    inside = select(
        literal("*"),
        func.sum(c.mentions),
        func.sum(c.negative),
        func.sum(c.neutral),
        func.sum(c.positive),
    ).where(c.first_at >= since, c.last_at < until)
    straddling = select(c.conversation_id).where(or_(c.first_at < since, c.last_at >= until))
    edges = (
        select(Mention.sentiment_label, func.count(), 0, 0, 0)
        .where(
            Mention.conversation_id.in_(straddling),
            Mention.created_at >= period.since,
            Mention.created_at < period.until,
        )
        .group_by(Mention.sentiment_label)
    )
    counts = {"negative": 0, "neutral": 0, "positive": 0, "": 0}
    for label, total, negative, neutral, positive in session.connection().execute(
        union_all(inside, edges)
    ):
        if label == "*":
            negative, neutral, positive = int(negative or 0), int(neutral or 0), int(positive or 0)
            counts["negative"] += negative
            counts["neutral"] += neutral
            counts["positive"] += positive
            counts[""] += int(total or 0) - negative - neutral - positive
        else:
            counts[label if label in counts else ""] += int(total)
    return counts


# --------------------------------------------------------------------------- top authors


def _period_counts(
    session: Session, author_ids: Iterable[int], period: Period
) -> dict[int, tuple[int, int, int, int]]:
    """Mentions (all, negative, neutral, positive) in the period per author, from the index."""
    ids = list(author_ids)
    if not ids:
        return {}
    statement = (
        select(
            Mention.author_id,
            func.count(),
            labelled("negative"),
            labelled("neutral"),
            labelled("positive"),
        )
        .where(
            Mention.author_id.in_(ids),
            Mention.created_at >= period.since,
            Mention.created_at < period.until,
        )
        .group_by(Mention.author_id)
    )
    return {
        int(a): (int(n), int(neg or 0), int(neu or 0), int(pos or 0))
        for a, n, neg, neu, pos in session.connection().execute(statement)
    }


class _TooMany(Exception):
    """The walk examined more candidates than counting the period directly costs."""


Counts = dict[int, tuple[int, int, int, int]]


def _walk(
    session: Session,
    period: Period,
    ordered: Select[Any],
    done: Callable[[Counts, int], bool],
    budget: int,
    seen: dict[int, int],
) -> Counts:
    """Candidates of `ordered` (id, bound) in rounds until `done(found, last bound)`.

    `seen` receives every candidate's bound (its followers, for the reach order).
    """
    found: Counts = {}
    offset, batch = 0, BATCH_FIRST
    conn = session.connection()
    while True:
        rows = conn.execute(ordered.limit(batch).offset(offset)).all()
        seen.update((int(a), int(bound)) for a, bound in rows)
        counts = _period_counts(session, (int(r[0]) for r in rows), period)
        found.update((a, c) for a, c in counts.items() if c[0])
        offset += len(rows)
        if len(rows) < batch or done(found, int(rows[-1][1])):
            return found
        if offset > budget:
            raise _TooMany
        batch = min(batch * 2, BATCH_MAX)


def top_author_rows(
    session: Session, period: Period, n: int, period_mentions: int
) -> tuple[list[AuthorRow], list[AuthorRow]] | None:
    """The top `n` authors by reach and by volume in the period; None: count directly instead.

    By volume: authors in order of all-time mentions (`report_author`); an
    author never has more mentions in a period than in all time, so the walk
    stops once the n-th best period count exceeds the next all-time count.
    By reach: authors in order of followers; stops once n authors with
    mentions in the period are found and the next has fewer followers.
    Orders (ties) are those of `figures._top_authors`.
    """
    budget = int(period_mentions * WALK_SHARE)
    followers: dict[int, int] = {}

    def volume_key(item: tuple[int, tuple[int, int, int, int]]) -> tuple[int, int]:
        return (-item[1][0], item[0])

    def volume_done(found: Counts, bound: int) -> bool:
        ranked = sorted(found.items(), key=volume_key)
        return len(ranked) >= n and ranked[n - 1][1][0] > bound

    def reach_done(found: Counts, bound: int) -> bool:
        return len(found) >= n and sorted(followers[a] for a in found)[-n] > bound

    volume_order = select(ReportAuthor.author_id, ReportAuthor.mentions).order_by(
        ReportAuthor.mentions.desc(), ReportAuthor.author_id.desc()
    )
    reach_order = (
        select(Author.id, Author.followers)
        .where(Author.followers.is_not(None))
        .order_by(Author.followers.desc(), Author.id)
    )
    try:
        by_volume = _walk(session, period, volume_order, volume_done, budget, {})
        by_reach = _walk(session, period, reach_order, reach_done, budget, followers)
    except _TooMany:
        return None
    top_volume = [a for a, _ in sorted(by_volume.items(), key=volume_key)[:n]]
    top_reach = sorted(by_reach, key=lambda a: (-followers[a], -by_reach[a][0], a))[:n]
    authors = {
        int(row[0]): tuple(row[1:])
        for row in session.connection().execute(
            select(Author.id, Author.handle, Author.kind, Author.name, Author.followers).where(
                Author.id.in_(set(top_volume) | set(top_reach))
            )
        )
    }

    def rows(ids: list[int], counts: Counts) -> list[AuthorRow]:
        return [(*authors[a], *counts[a]) for a in ids]  # type: ignore[misc]

    return rows(top_reach, by_reach), rows(top_volume, by_volume)


__all__ = [
    "TRIGGERS",
    "top_author_rows",
    "topic_split",
    "usable",
    "volume_rows",
]
