"""Per-topic counts over sliding windows, computed in SQL.

The current window is `[now - window, now)`: it slides with every run. The
baseline is the `baseline_days` worth of window-long buckets aligned to round
times that end before the current window starts (for 1 h windows: the 168
whole hours before it). One grouped query reads them through
`ix_mention_created`, joins each mention's conversation (primary key) and keeps
those matching the topic's query; only counts per bucket and label leave the
database, never rows.

Aligned buckets change only when a window boundary passes, so the baseline is
computed once per boundary and kept per engine (`_BASELINES`): a run between
boundaries costs one query over the current window, however large the store
and however long the baseline. The price: a mention that arrives late for an
old bucket (a backfill after an outage) joins the baseline at the next boundary.

Sentiment: the stored `sentiment_label`; where ingest left it NULL but stored a
score, `inboxtui.sentiment.label_for(score)` (or +-0.25 when that module is
absent). Such rows are grouped by their distinct score, so the label is exact.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, literal, select
from sqlmodel import Session

from inboxtui.detection.topics import TopicSpec
from inboxtui.models import Author, Conversation, Mention
from inboxtui.query import bounded_filter, conversation_filter, parse


def _fallback_label(score: float) -> str:
    if score <= -0.25:
        return "negative"
    if score >= 0.25:
        return "positive"
    return "neutral"


def _label_function() -> Callable[[float], str]:
    try:
        from inboxtui.sentiment import label_for
    except ImportError:  # the scorer is optional for detection
        return _fallback_label
    return label_for


label_for: Callable[[float], str] = _label_function()

# The window's mentions under a name of their own: the topic's filter has subqueries
# on `mention` that must correlate with `conversation` only, never with these rows.
WM = Mention.__table__.alias("wm")  # type: ignore[attr-defined]
_CONV = Conversation.__table__  # type: ignore[attr-defined]
_AUTHOR = Author.__table__  # type: ignore[attr-defined]


@dataclass
class Bucket:
    count: int = 0
    negative: int = 0
    positive: int = 0

    @property
    def polar(self) -> int:
        return self.negative + self.positive

    @property
    def share(self) -> float | None:
        """negative / (negative + positive), None without polar mentions."""
        return self.negative / self.polar if self.polar else None

    def add(self, label: str | None, n: int) -> None:
        self.count += n
        if label == "negative":
            self.negative += n
        elif label == "positive":
            self.positive += n


@dataclass
class WindowStats:
    """A topic's current window and its baseline (the same-length windows before it)."""

    window_seconds: int
    current: Bucket
    baseline: list[Bucket] = field(default_factory=list)  # buckets with data history only
    baseline_windows: int = 0  # how many the topic's baseline span holds

    @property
    def mean(self) -> float:
        return sum(b.count for b in self.baseline) / len(self.baseline) if self.baseline else 0.0

    @property
    def sigma(self) -> float:
        if len(self.baseline) < 2:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((b.count - mean) ** 2 for b in self.baseline) / len(self.baseline))

    @property
    def baseline_share(self) -> float | None:
        negative = sum(b.negative for b in self.baseline)
        polar = negative + sum(b.positive for b in self.baseline)
        return negative / polar if polar else None


def topic_condition(session: Session, topic: TopicSpec, *, bounded: bool = True) -> Any:
    """The topic's query as a condition over `conversation` (joined to each mention).

    `bounded`: for statements over one window's mentions (`query.bounded_filter`:
    search words are checked on the candidates' own documents), planned once per
    session; else the self-contained form that collects matches first (baselines).
    """
    if not bounded:
        dialect = session.get_bind().dialect.name
        return conversation_filter(parse(topic.query), dialect=dialect, me_id=None)
    planned = session.info.setdefault("inboxtui.topic_conditions", {})
    if topic.query not in planned:
        planned[topic.query] = bounded_filter(session, topic.query)
    return planned[topic.query]


def _epoch(session: Session, column: Any) -> Any:
    """Whole seconds since 1970 of a stored time, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def _from_window() -> Any:
    return WM.join(_CONV, _CONV.c.id == WM.c.conversation_id)


def topic_mentions(
    session: Session, topic: TopicSpec, start: datetime, end: datetime, *, bounded: bool = True
) -> Any:
    """The window's mentions (`WM` joined to conversation) in [start, end) of the topic."""
    condition = topic_condition(session, topic, bounded=bounded)
    return and_(WM.c.created_at >= start, WM.c.created_at < end, condition)


def _labelled(rows: Any) -> list[tuple[Any, str | None, int]]:
    """(key, label, count) rows, labels derived from scores where none was stored."""
    out = []
    for key, label, score, n in rows:
        if label is None and score is not None:
            label = label_for(float(score))
        out.append((key, label, int(n)))
    return out


def _label_columns() -> tuple[Any, Any]:
    unlabelled = case((WM.c.sentiment_label.is_(None), WM.c.sentiment), else_=None)
    return func.lower(WM.c.sentiment_label), unlabelled


def current_bucket(
    session: Session, topic: TopicSpec, now: datetime, *, seconds: int | None = None
) -> Bucket:
    """Counts in the sliding window `[now - window, now)` (or the last `seconds`)."""
    start = now - timedelta(seconds=seconds or topic.window_seconds)
    label, unlabelled = _label_columns()
    stmt = (
        select(literal(0), label, unlabelled, func.count())
        .select_from(_from_window())
        .where(topic_mentions(session, topic, start, now))
        .group_by(label, unlabelled)
    )
    bucket = Bucket()
    for _, name, n in _labelled(session.execute(stmt)):
        bucket.add(name, n)
    return bucket


def baseline_end(topic: TopicSpec, now: datetime) -> datetime:
    """The round time the baseline ends at: at or before the current window's start."""
    window = topic.window_seconds
    start = int((now - timedelta(seconds=window)).timestamp())
    return datetime.fromtimestamp(start - start % window, tz=UTC)


def _baseline(session: Session, topic: TopicSpec, end: datetime, buckets: int) -> list[Bucket]:
    """Aligned buckets before `end`, newest first, with their counts."""
    window = topic.window_seconds
    start = end - timedelta(seconds=window * buckets)
    stamp = int(end.timestamp())
    # integer division on both backends; the difference is never negative in range
    index = (literal(stamp, BigInteger) - 1 - _epoch(session, WM.c.created_at)) / window
    label, unlabelled = _label_columns()
    stmt = (
        select(index, label, unlabelled, func.count())
        .select_from(_from_window())
        .where(topic_mentions(session, topic, start, end, bounded=False))
        .group_by(index, label, unlabelled)
    )
    counts = [Bucket() for _ in range(buckets)]
    for key, name, n in _labelled(session.execute(stmt)):
        if key is not None and 0 <= int(key) < buckets:
            counts[int(key)].add(name, n)
    return counts


_CACHE_SIZE = 256
_BASELINES: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], list[Bucket]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def _cached_baseline(
    session: Session, topic: TopicSpec, end: datetime, buckets: int
) -> list[Bucket]:
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)
    key = (topic.id, topic.query, topic.window_seconds, buckets, end)
    with _LOCK:
        cache = _BASELINES.setdefault(engine, OrderedDict())
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    counts = _baseline(session, topic, end, buckets)
    with _LOCK:
        cache[key] = counts
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return counts


def forget_baselines() -> None:
    """Drop every cached baseline (after a backfill, or in tests)."""
    with _LOCK:
        _BASELINES.clear()


def window_stats(session: Session, topic: TopicSpec, now: datetime) -> WindowStats:
    """The current window and the baseline windows with data (see the module doc)."""
    window = topic.window_seconds
    buckets = max(1, topic.baseline_days * 86400 // window)
    end = baseline_end(topic, now)
    counts = _cached_baseline(session, topic, end, buckets)
    first = session.execute(select(func.min(Mention.created_at))).scalar()
    history = buckets
    if first is not None:
        # baseline windows that overlap the time the store has data for
        known = math.ceil((end - first).total_seconds() / window)
        history = max(0, min(buckets, known))
    return WindowStats(window, current_bucket(session, topic, now), counts[:history], buckets)


@dataclass(frozen=True)
class Candidate:
    """A negative mention in the window, with what reach needs."""

    mention_id: int
    conversation_id: int
    kind: str
    handle: str
    followers: int | None
    raw: str
    created_at: datetime


CANDIDATES_MAX = 2000


def _negative() -> Any:
    """Negative by stored label, or possibly negative by score (decided by `label_for`)."""
    return (func.lower(WM.c.sentiment_label) == "negative") | and_(
        WM.c.sentiment_label.is_(None), WM.c.sentiment < 0
    )


def negative_mentions(session: Session, topic: TopicSpec, now: datetime) -> list[Candidate]:
    """Negative mentions of the topic in the current window (the influencer check's input)."""
    start = now - timedelta(seconds=topic.window_seconds)
    stmt = (
        select(
            WM.c.id,
            WM.c.conversation_id,
            _CONV.c.kind,
            _AUTHOR.c.handle,
            _AUTHOR.c.followers,
            WM.c.raw,
            WM.c.created_at,
            WM.c.sentiment,
            WM.c.sentiment_label,
        )
        .select_from(_from_window().join(_AUTHOR, _AUTHOR.c.id == WM.c.author_id))
        .where(topic_mentions(session, topic, start, now), _negative())
        .order_by(func.coalesce(_AUTHOR.c.followers, -1).desc(), WM.c.id)
        .limit(CANDIDATES_MAX)
    )
    found = []
    for row in session.execute(stmt):
        if row.sentiment_label is None and label_for(float(row.sentiment)) != "negative":
            continue
        found.append(
            Candidate(
                row.id,
                row.conversation_id,
                row.kind,
                row.handle,
                row.followers,
                row.raw,
                row.created_at,
            )
        )
    return found


def busiest_conversations(
    session: Session,
    topic: TopicSpec,
    now: datetime,
    *,
    negative_only: bool,
    limit: int,
    seconds: int | None = None,
) -> list[int]:
    """The topic's conversations with the most (negative) mentions in the window."""
    start = now - timedelta(seconds=seconds or topic.window_seconds)
    conditions = [topic_mentions(session, topic, start, now)]
    if negative_only:
        conditions.append(_negative())
    stmt = (
        select(WM.c.conversation_id, func.count().label("n"))
        .select_from(_from_window())
        .where(*conditions)
        .group_by(WM.c.conversation_id)
        .order_by(func.count().desc(), WM.c.conversation_id)
        .limit(limit)
    )
    return [int(r[0]) for r in session.execute(stmt)]


def series(session: Session, topic: TopicSpec, now: datetime, points: int) -> list[Bucket]:
    """The last `points` aligned windows up to `now`, oldest first (the TUI's sparklines)."""
    window = topic.window_seconds
    stamp = int(now.timestamp())
    end = datetime.fromtimestamp(stamp - stamp % window + window, tz=UTC)
    return list(reversed(_baseline(session, topic, end, points)))


__all__ = [
    "WM",
    "Bucket",
    "Candidate",
    "WindowStats",
    "baseline_end",
    "busiest_conversations",
    "current_bucket",
    "forget_baselines",
    "label_for",
    "negative_mentions",
    "series",
    "topic_condition",
    "window_stats",
]
