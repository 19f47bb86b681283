"""Every figure of a KPI report, aggregated in SQL, as plain data.

The Reports screen and `inboxtui report` (Markdown, JSON, CSV) render the same
`Report`, so a number on screen is the number in the shared file.

Scope: an optional filter-language query selects conversations
(`query.conversation_filter`); mention figures count the mentions of those
conversations created in the period; conversation figures count conversations
whose event (first response, resolution, creation) falls in the period.
Definitions, so the numbers can be checked:

- volume: mentions per bucket per source kind; the previous period's bucket i
  is compared with this period's bucket i;
- negative share: negative / (negative + positive) mentions (neutral and
  unscored mentions do not count); None where there are neither;
- share of voice: mentions of conversations matching each topic's query;
- first response: first_response_at - created_at, for conversations first
  answered in the period; resolution: resolved_at - created_at, for
  conversations resolved in the period (whole seconds, nearest-rank p50/p90),
  per role and per agent currently assigned;
- SLA: deadlines (routing's clocks) due in the period, and those missed;
- handled: conversations first answered or resolved in the period;
- outcomes: the current status of conversations created in the period;
- replies sent: outbox replies in state `sent`, sent in the period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    desc,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlmodel import Session, SQLModel

from inboxtui.models import (
    Agent,
    Author,
    Conversation,
    Mention,
    OutboxReply,
    Role,
    Source,
    Template,
)
from inboxtui.query import Query, bounded_filter, conversation_filter, json_ids, parse
from inboxtui.reports import matched, rollups
from inboxtui.reports.durations import Durations, durations
from inboxtui.reports.parallel import Figures, workers
from inboxtui.reports.period import Period
from inboxtui.reports.sql import NONE_NAME, epoch, labelled
from inboxtui.services.sentiment_labels import correction_counts
from inboxtui.timeutil import utcnow

if TYPE_CHECKING:
    from inboxtui.reports.people import PersonFigure

DEFAULT_TARGET = 0.20
TOP_N = 10
# share of voice: up to this many mentions in the period, topics are checked per candidate
BOUNDED_TOPIC_MENTIONS = 100_000
SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Bucket:
    """One bar: mentions by kind in this period's bucket, and the previous period's total."""

    start: datetime
    by_kind: dict[str, int]
    negative: int
    positive: int
    previous_total: int

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def negative_share(self) -> float | None:
        scored = self.negative + self.positive
        return self.negative / scored if scored else None


@dataclass(frozen=True)
class SentimentSplit:
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    unscored: int = 0

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive + self.unscored


@dataclass(frozen=True)
class TopicShare:
    name: str
    query: str
    mentions: int
    sentiment: SentimentSplit

    def share(self, of: int) -> float | None:
        return self.mentions / of if of else None


@dataclass(frozen=True)
class TimeStat:
    """Durations in whole seconds for one group: `dimension` is all, role or agent."""

    dimension: str
    name: str
    count: int
    median: int | None
    p90: int | None


@dataclass(frozen=True)
class AuthorFigure:
    handle: str
    kind: str
    name: str | None
    followers: int | None
    mentions: int
    sentiment: SentimentSplit


@dataclass(frozen=True)
class Sla:
    """Breaches per SLA due column found on `conversation` (routing adds them)."""

    breaches: dict[str, int]
    due: dict[str, int]


@dataclass(frozen=True)
class Report:
    period: Period
    previous: Period
    query: str
    generated_at: datetime
    kinds: tuple[str, ...]
    volume: list[Bucket]
    totals: dict[str, int]
    previous_totals: dict[str, int]
    negative: int
    positive: int
    negative_target: float
    share_of_voice: list[TopicShare]
    first_response: list[TimeStat]
    resolution: list[TimeStat]
    sla: Sla | None
    replies_sent: dict[str, int]
    handled: dict[str, int]
    templates: list[tuple[str, int]]
    templates_all_time: bool
    outcomes: dict[str, int]
    top_by_reach: list[AuthorFigure]
    top_by_volume: list[AuthorFigure]
    notes: list[str] = field(default_factory=list)
    # agents' sentiment corrections made in the period: total and (old, new) -> count
    corrections: int = 0
    corrections_by_change: dict[tuple[str | None, str], int] = field(default_factory=dict)
    # persons tagged advocate / detractor and their mentions in the period (reports.people)
    people: list[PersonFigure] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def previous_total(self) -> int:
        return sum(self.previous_totals.values())

    @property
    def negative_share(self) -> float | None:
        scored = self.negative + self.positive
        return self.negative / scored if scored else None


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class _Scope:
    """The report's filter, compiled once: a condition on `conversation`, or None for all.

    `ids`: the filter's conversation ids as a one-column subquery when they were
    collected (`matched.collected`); the condition is then `conversation.id IN ids`.
    """

    condition: ColumnElement[bool] | None
    dialect: str
    ids: Any | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    _collected: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def conversations(self, statement: Any) -> Any:
        return statement if self.condition is None else statement.where(self.condition)

    def conversation_ids(self) -> Any:
        """The filter's conversation ids, as a subquery (no row read when collected)."""
        return self.ids if self.ids is not None else select(Conversation.id).where(self.condition)

    def active(self, session: Session, period: Period) -> Any:
        """SQLite: the scope's conversations with a mention in the period, as a list.

        Collected by the first topic of share of voice that asks, under a
        lock, and handed to the others: each would otherwise read the
        scope's mentions of the period again.
        """
        with self._lock:
            if "active" not in self._collected:
                found = self.mentions(
                    select(Mention.conversation_id).distinct(), period.since, period.until
                )
                ids = [int(i) for i in session.connection().execute(found).scalars()]
                self._collected["active"] = json_ids(ids)
            return self._collected["active"]

    def mentions(self, statement: Any, start: datetime, end: datetime) -> Any:
        """Mentions created in [start, end), of the scope's conversations."""
        statement = statement.where(Mention.created_at >= start, Mention.created_at < end)
        if self.condition is None:
            return statement
        # IN, not a join: the planner may walk the matching conversations' mentions
        # (ix_mention_conversation) instead of probing a conversation per mention
        return statement.where(Mention.conversation_id.in_(self.conversation_ids()))


def _scope(session: Session, query: Query | None, me_id: int | None) -> _Scope:
    dialect = session.get_bind().dialect.name
    if query is None or query.root is None:
        return _Scope(None, dialect)
    condition = conversation_filter(query, dialect=dialect, me_id=me_id)
    ids = matched.collected(session, condition)  # matched once, not per figure
    if ids is None:
        return _Scope(condition, dialect)
    return _Scope(Conversation.id.in_(ids), dialect, ids)


def _split(counts: dict[str | None, int]) -> SentimentSplit:
    return SentimentSplit(
        negative=counts.get("negative", 0),
        neutral=counts.get("neutral", 0),
        positive=counts.get("positive", 0),
        unscored=sum(v for k, v in counts.items() if k not in SENTIMENTS),
    )


# --------------------------------------------------------------------------- figures


def _volume(
    session: Session, scope: _Scope, period: Period
) -> tuple[list[Bucket], dict[str, int], dict[str, int], tuple[str, ...]]:
    """One pass over both periods: (previous?, bucket, kind) -> mentions, negative, positive."""
    previous = period.previous
    width = period.bucket_seconds
    is_previous = Mention.created_at < period.since
    origin = case(
        (is_previous, int(previous.since.timestamp())), else_=int(period.since.timestamp())
    )
    bucket = (epoch(Mention.created_at, scope.dialect) - origin) // width
    flag = case((is_previous, 1), else_=0)
    # per source, not kind: a join to `source` per mention costs a third more; kinds after
    statement = select(
        flag.label("prev"),
        bucket.label("bucket"),
        Mention.source_id,
        func.count(),
        labelled("negative"),
        labelled("positive"),
    ).select_from(Mention)

    def grouped(lo: datetime, hi: datetime) -> Any:
        return scope.mentions(statement, lo, hi).group_by(flag, bucket, Mention.source_id)

    conn = session.connection()
    kind_of = dict(conn.execute(select(Source.id, Source.kind)).all())
    if scope.condition is None and rollups.usable(session, period):
        rows: Any = rollups.volume_rows(session, period, grouped)  # no scan of `mention`
    else:
        rows = conn.execute(grouped(previous.since, period.until))
    n = period.bucket_count
    counts: list[dict[str, int]] = [{} for _ in range(n)]
    negative = [0] * n
    positive = [0] * n
    previous_by_bucket = [0] * n
    totals: dict[str, int] = {}
    previous_totals: dict[str, int] = {}
    for prev, index, source_id, total, neg, pos in rows:
        kind = kind_of.get(source_id, "")
        index = min(int(index), n - 1)
        if prev:
            previous_by_bucket[index] += total
            previous_totals[kind] = previous_totals.get(kind, 0) + total
            continue
        counts[index][kind] = counts[index].get(kind, 0) + total
        negative[index] += int(neg or 0)
        positive[index] += int(pos or 0)
        totals[kind] = totals.get(kind, 0) + total
    kinds = tuple(sorted(set(totals) | set(previous_totals)))
    buckets = [
        Bucket(
            start=start,
            by_kind={k: counts[i].get(k, 0) for k in kinds},
            negative=negative[i],
            positive=positive[i],
            previous_total=previous_by_bucket[i],
        )
        for i, start in enumerate(period.bucket_starts())
    ]
    return buckets, totals, previous_totals, kinds


def topics_from_table(session: Session) -> list[tuple[str, str]]:
    """Watched topics (name, query) from the `topic` table: enabled ones, by name.

    Looked up in the models' metadata (no database round trip), so reports
    work on a schema without topics and keep working while topics grow columns.
    """
    topic = SQLModel.metadata.tables.get("topic")
    if topic is None or not {"name", "query"} <= set(topic.c.keys()):
        return []
    statement = select(topic.c.name, topic.c.query).order_by(topic.c.name)
    if "enabled" in topic.c:
        statement = statement.where(topic.c.enabled == true())
    rows = session.connection().execute(statement)
    return [(str(name), str(q)) for name, q in rows if q]


def _topic_share(
    session: Session,
    scope: _Scope,
    period: Period,
    topic: tuple[str, Query],
    me_id: int | None,
    period_mentions: int,
) -> TopicShare:
    """Mentions of the period in conversations matching one topic, by sentiment.

    Only conversations with a mention in the period can count. On SQLite, for
    a short period the topic's query is planned for that bounded set
    (`query.bounded_filter`: search words are checked on the candidates' own
    mentions); past `BOUNDED_TOPIC_MENTIONS` checking every candidate costs
    more than collecting the store's matches once (`conversation_filter`),
    which PostgreSQL's index does faster in every case measured.
    With the rollups (`rollups.topic_split`), the candidates' mentions are
    counted per conversation from `report_conversation`; on SQLite a short
    period's topic words are probed per candidate (`rollups.probing_filter`).
    """
    name, query = topic
    in_period = and_(Mention.created_at >= period.since, Mention.created_at < period.until)
    short = scope.dialect == "sqlite" and period_mentions <= BOUNDED_TOPIC_MENTIONS
    if rollups.usable(session, period):
        # whole conversations from the rollup, not every mention of the period (a filter
        # only narrows the candidate conversations)
        condition = (
            rollups.probing_filter(session, query, me_id)
            if short
            else conversation_filter(query, dialect=scope.dialect, me_id=me_id)
        )
        candidates = select(Conversation.id).where(condition)
        if short and scope.condition is not None:
            # the filter's conversations with a mention in the period (within the filter, so
            # the candidates test only `conversation.id`: `rollups.on_rollup`)
            candidates = candidates.where(Conversation.id.in_(scope.active(session, period)))
        else:
            candidates = scope.conversations(candidates)
        split = _split(dict(rollups.topic_split(session, period, candidates)))
        return TopicShare(name, query.text, split.total, split)
    if short:
        candidates = select(Conversation.id).where(
            Conversation.id.in_(scope.active(session, period)),
            bounded_filter(session, query, me_id=me_id),
        )
    else:
        condition = conversation_filter(query, dialect=scope.dialect, me_id=me_id)
        candidates = scope.conversations(select(Conversation.id).where(condition))
    statement = (
        select(Mention.sentiment_label, func.count())
        .where(in_period, Mention.conversation_id.in_(candidates))
        .group_by(Mention.sentiment_label)
    )
    split = _split(dict(session.connection().execute(statement).all()))
    return TopicShare(name, query.text, split.total, split)


def _durations(
    session: Session, scope: _Scope, period: Period, event: str, answered_too: bool = False
) -> Durations:
    return durations(
        session.connection(),
        event,
        period.since,
        period.until,
        scope.conversations,
        filtered=scope.condition is not None,
        answered_too=answered_too,
    )


def _names(session: Session) -> dict[str, dict[int, str]]:
    conn = session.connection()
    return {
        "role": dict(conn.execute(select(Role.id, Role.name)).all()),
        "agent": dict(conn.execute(select(Agent.id, Agent.handle)).all()),
    }


def _times(found: Durations, names: dict[str, dict[int, str]]) -> list[TimeStat]:
    """Median and p90 of the durations, overall and per role and agent."""
    order = {"all": 0, "role": 1, "agent": 2}
    stats = [
        TimeStat(
            g.dimension,
            "" if g.dimension == "all" else names[g.dimension].get(g.key, NONE_NAME),  # type: ignore[arg-type]
            g.count,
            g.values[50],
            g.values[90],
        )
        for g in found.groups
    ]
    return sorted(stats, key=lambda s: (order[s.dimension], s.name))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _in(column_: Any, period: Period) -> ColumnElement[bool]:
    return and_(column_ >= period.since, column_ < period.until)


SLA_CLOCKS: tuple[tuple[str, str, str], ...] = (
    ("first_response", "first_response_due_at", "first_response_at"),
    ("resolution", "resolution_due_at", "resolved_at"),
)


def _sla(session: Session, scope: _Scope, period: Period, now: datetime) -> Sla | None:
    """Deadlines (routing's SLA clocks) that fell due in the period, and how many were missed.

    A deadline is missed when what it waits for (first response, resolution)
    came after it, or has not come and the deadline passed before the clock
    was paused (pending, snoozed) or before now. None when the schema has no
    SLA clocks.
    """
    conversation = Conversation.__table__  # type: ignore[attr-defined]
    clocks = [clock for clock in SLA_CLOCKS if clock[1] in conversation.c]
    if not clocks:
        return None
    paused = conversation.c.get("sla_paused_at")
    until = min(period.until, now)
    counted: list[tuple[ColumnElement[bool], Any]] = []  # (due in the period, missed)
    for _, due_name, done_name in clocks:
        due = conversation.c[due_name]
        stop = [conversation.c[done_name]]
        if paused is not None:
            stop.append(paused)
        counted.append((and_(due >= period.since, due < until), func.coalesce(*stop, now) > due))
    if scope.condition is None:
        # per clock, a range of its due index
        rows = [
            session.connection()
            .execute(
                select(func.count(), func.sum(case((missed, 1), else_=0)))
                .select_from(conversation)
                .where(in_period)
            )
            .one()
            for in_period, missed in counted
        ]
    else:
        # the filter's conversations (by its index) are read once for every clock
        sums = [func.sum(case((in_period, 1), else_=0)) for in_period, _ in counted] + [
            func.sum(case((and_(in_period, missed), 1), else_=0)) for in_period, missed in counted
        ]
        statement = scope.conversations(
            select(*sums).select_from(conversation).where(or_(*(c for c, _ in counted)))
        )
        found = session.connection().execute(statement).one()
        rows = [(found[i], found[i + len(counted)]) for i in range(len(counted))]
    due_counts = {clock[0]: int(total or 0) for clock, (total, _) in zip(clocks, rows, strict=True)}
    breaches = {clock[0]: int(missed or 0) for clock, (_, missed) in zip(clocks, rows, strict=True)}
    return Sla(breaches, due_counts)


def _replies_sent(session: Session, scope: _Scope, period: Period) -> dict[str, int]:
    statement = scope.conversations(
        select(func.coalesce(Agent.handle, "(none)"), func.count())
        .select_from(OutboxReply)
        .join(Conversation, Conversation.id == OutboxReply.conversation_id)
        .outerjoin(Agent, Agent.id == OutboxReply.agent_id)
        .where(OutboxReply.state == "sent", _in(OutboxReply.sent_at, period))
        .group_by(Agent.handle)
    )
    return dict(sorted(session.connection().execute(statement).all()))


def _handled(answered: Durations, resolved: Durations, handles: dict[int, str]) -> dict[str, int]:
    """Conversations first answered or resolved in the period, per agent: both counts less
    those in both (`resolved.answered_by_agent`)."""
    out: dict[str, int] = {}
    for agent in set(answered.by_agent) | set(resolved.by_agent):
        n = (
            answered.by_agent.get(agent, 0)
            + resolved.by_agent.get(agent, 0)
            - resolved.answered_by_agent.get(agent, 0)
        )
        handle = handles.get(agent, NONE_NAME) if agent is not None else NONE_NAME
        out[handle] = out.get(handle, 0) + n
    return dict(sorted((h, n) for h, n in out.items() if n))


def _templates(
    session: Session, scope: _Scope, period: Period
) -> tuple[list[tuple[str, int]], bool]:
    """Most used templates: sent replies in the period when replies record their template.

    Without that link only the all-time `usage_count` exists (second value True).
    """
    outbox = OutboxReply.__table__  # type: ignore[attr-defined]
    if "template_id" in outbox.c:
        statement = scope.conversations(
            select(Template.name, func.count().label("uses"))
            .select_from(outbox)
            .join(Template, Template.id == outbox.c.template_id)
            .join(Conversation, Conversation.id == outbox.c.conversation_id)
            .where(outbox.c.state == "sent", _in(outbox.c.sent_at, period))
            .group_by(Template.name)
            .order_by(desc("uses"), Template.name)
            .limit(TOP_N)
        )
        return [(n, int(c)) for n, c in session.connection().execute(statement)], False
    statement = (
        select(Template.name, Template.usage_count)
        .where(Template.usage_count > 0)
        .order_by(Template.usage_count.desc(), Template.name)
        .limit(TOP_N)
    )
    return [(n, int(c)) for n, c in session.connection().execute(statement)], True


def _outcomes(session: Session, scope: _Scope, period: Period) -> dict[str, int]:
    """Current status of the conversations created in the period.

    Unfiltered on SQLite: per status a range of `ix_conversation_status_created`
    (the statuses found by a seek each): SQLite's GROUP BY would sort every
    conversation of the period. A filter tests each conversation of the period
    anyway; PostgreSQL hashes the groups.
    """
    c = Conversation
    if scope.condition is not None or scope.dialect != "sqlite":
        grouped = scope.conversations(
            select(c.status, func.count()).where(_in(c.created_at, period)).group_by(c.status)
        )
        return dict(sorted(session.connection().execute(grouped).all()))
    statuses = select(func.min(c.status).label("v")).cte("statuses", recursive=True)
    following = select(func.min(c.status)).where(c.status > statuses.c.v).scalar_subquery()
    statuses = statuses.union_all(
        select(following.label("v")).select_from(statuses).where(statuses.c.v.is_not(None))
    )
    counted = scope.conversations(
        select(func.count())
        .select_from(c)
        .where(c.status == statuses.c.v, _in(c.created_at, period))
    ).scalar_subquery()
    statement = select(statuses.c.v, counted).where(statuses.c.v.is_not(None))
    rows = session.connection().execute(statement).all()
    return dict(sorted((str(status), int(n)) for status, n in rows if n))


def _top_authors(
    session: Session, scope: _Scope, period: Period, period_mentions: Callable[[], int]
) -> tuple[list[AuthorFigure], list[AuthorFigure]]:
    """Authors of the period's mentions: the top by followers and the top by mentions.

    `period_mentions` (the rollups' walk budget) is asked only when unfiltered.
    """
    if scope.condition is None and rollups.usable(session, period):
        found = rollups.top_author_rows(session, period, TOP_N, period_mentions())
        if found is not None:
            return _author_figures(found[0]), _author_figures(found[1])
    per_author = (
        scope.mentions(
            select(
                Mention.author_id.label("author_id"),
                func.count().label("mentions"),
                labelled("negative").label("negative"),
                labelled("neutral").label("neutral"),
                labelled("positive").label("positive"),
            ).select_from(Mention),
            period.since,
            period.until,
        )
        .group_by(Mention.author_id)
        .cte("per_author")
        .prefix_with("MATERIALIZED")  # counted once for both orders
    )
    base = select(
        Author.handle,
        Author.kind,
        Author.name,
        Author.followers,
        per_author.c.mentions,
        per_author.c.negative,
        per_author.c.neutral,
        per_author.c.positive,
        Author.id,
    ).join(Author, Author.id == per_author.c.author_id)
    by_reach = (
        base.add_columns(literal(0).label("top"))
        .where(Author.followers.is_not(None))
        .order_by(Author.followers.desc(), per_author.c.mentions.desc(), Author.id)
        .limit(TOP_N)
        .subquery()
    )
    by_volume = (
        base.add_columns(literal(1).label("top"))
        .order_by(per_author.c.mentions.desc(), Author.id)
        .limit(TOP_N)
        .subquery()
    )
    rows = session.connection().execute(union_all(select(by_reach), select(by_volume))).all()
    # a compound keeps no order: each top is sorted again here, by the same keys (<= 2 x TOP_N)
    reach = sorted((r for r in rows if r.top == 0), key=lambda r: (-r[3], -r[4], r[8]))
    volume = sorted((r for r in rows if r.top == 1), key=lambda r: (-r[4], r[8]))
    return _author_figures(r[:8] for r in reach), _author_figures(r[:8] for r in volume)


def _author_figures(rows: Any) -> list[AuthorFigure]:
    out = []
    for handle, kind, name, followers, n, neg, neu, pos in rows:
        neg, neu, pos = int(neg or 0), int(neu or 0), int(pos or 0)
        split = SentimentSplit(neg, neu, pos, int(n) - neg - neu - pos)
        out.append(AuthorFigure(handle, kind, name, followers, int(n), split))
    return out


# --------------------------------------------------------------------------- entry point


def compute_report(
    session: Session,
    period: Period,
    *,
    query: Query | str = "",
    topics: list[tuple[str, str]] | None = None,
    me_id: int | None = None,
    negative_target: float = DEFAULT_TARGET,
    now: datetime | None = None,
    timings: dict[str, float] | None = None,
    threads: int | None = None,
) -> Report:
    """All figures for `period`, restricted to conversations matching `query`.

    `topics`: (name, filter-language query) pairs for share of voice; None
    reads the watched topics from the `topic` table when there is one.
    `timings`, when given, receives the seconds each figure took (benchmarks).
    `threads`: figures computed side by side (`reports.parallel`; default:
    the machine's cores, 1: in order on `session`).
    Raises `query.QueryError` for a bad query or topic query.
    """
    from inboxtui.reports.people import people_figures  # it imports this module

    now = now or utcnow()
    spent = timings if timings is not None else {}
    parsed = parse(query) if isinstance(query, str) else query
    named = topics
    if named is None:
        started = time.perf_counter()
        named = topics_from_table(session)
        spent["topics"] = spent.get("topics", 0.0) + time.perf_counter() - started
    topic_queries = [(name, parse(text)) for name, text in named]
    scope = _scope(session, parsed, me_id)
    with Figures(session, spent, threads or workers()) as figures:
        # the longest first; the figures that plan by the period's size wait for `volume`
        volume = figures.submit("volume", lambda s: _volume(s, scope, period))

        def period_mentions() -> int:
            return sum(volume.result()[1].values())

        answered = figures.submit(
            "first_response", lambda s: _durations(s, scope, period, "first_response_at")
        )
        # resolved_at is set only while resolved (triage and ingest clear it on reopen)
        resolved = figures.submit(
            "resolution",
            lambda s: _durations(s, scope, period, "resolved_at", answered_too=True),
        )
        authors = figures.submit(
            "top_authors", lambda s: _top_authors(s, scope, period, period_mentions)
        )
        shares = [
            figures.submit(
                "share_of_voice",
                lambda s, t=topic: _topic_share(s, scope, period, t, me_id, period_mentions()),
            )
            for topic in topic_queries
        ]
        names = figures.submit("names", _names)
        sla = figures.submit("sla", lambda s: _sla(s, scope, period, now))
        templates = figures.submit("templates", lambda s: _templates(s, scope, period))
        corrected = figures.submit(
            "corrections",
            lambda s: correction_counts(s, since=period.since, until=period.until),
        )
        replies = figures.submit("replies_sent", lambda s: _replies_sent(s, scope, period))
        outcomes = figures.submit("outcomes", lambda s: _outcomes(s, scope, period))
        people = figures.submit("people", lambda s: people_figures(s, scope, period))
    notes: list[str] = []
    if not named:
        notes.append("share of voice: no watched topics (pass --topic NAME=QUERY)")
    if sla.result() is None:
        notes.append("SLA breaches: no SLA due times are recorded on conversations")
    template_counts, all_time = templates.result()
    if all_time:
        notes.append("templates: replies do not record their template; all-time usage shown")
    if corrected.result().total and parsed.text:
        notes.append("sentiment corrections: counted for the whole inbox, not the filter")
    buckets, totals, previous_totals, kinds = volume.result()
    by_reach, by_volume = authors.result()
    return Report(
        period=period,
        previous=period.previous,
        query=parsed.text,
        generated_at=now,
        kinds=kinds,
        volume=buckets,
        totals=totals,
        previous_totals=previous_totals,
        negative=sum(b.negative for b in buckets),
        positive=sum(b.positive for b in buckets),
        negative_target=negative_target,
        share_of_voice=[share.result() for share in shares],
        first_response=_times(answered.result(), names.result()),
        resolution=_times(resolved.result(), names.result()),
        sla=sla.result(),
        replies_sent=replies.result(),
        handled=_handled(answered.result(), resolved.result(), names.result()["agent"]),
        templates=template_counts,
        templates_all_time=all_time,
        outcomes=outcomes.result(),
        top_by_reach=by_reach,
        top_by_volume=by_volume,
        notes=notes,
        corrections=corrected.result().total,
        corrections_by_change=corrected.result().by_change,
        people=people.result(),
    )


__all__ = [
    "DEFAULT_TARGET",
    "AuthorFigure",
    "Bucket",
    "Report",
    "SentimentSplit",
    "Sla",
    "TimeStat",
    "TopicShare",
    "compute_report",
    "topics_from_table",
]
