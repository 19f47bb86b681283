"""Response-time percentiles from duration bins equal a full sort, on both backends.

Durations are set to values that spread over many bins, share bins and tie,
and include negative ones; every percentile is recomputed here from the raw
columns (nearest rank of the sorted values).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from inboxtui.db import Database
from inboxtui.models import Agent, Conversation
from inboxtui.reports import compute_report, durations, make_period
from inboxtui.seed import seed_demo
from inboxtui.timeutil import utcnow


def _nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[-(-len(ordered) * p // 100) - 1]


def _spread(db: Database) -> None:
    """First responses and resolutions at chosen durations, within the last week."""
    rng = random.Random(8)
    now = utcnow().replace(microsecond=0)
    choices = [-30, 0, 5, 5, 999, 1000, 1001, 1009, 1010, 12_345, 12_345, 12_349, 98_765, 400_000]
    with db.write() as session:
        ids = list(session.execute(select(Conversation.id)).scalars())
        for i, cid in enumerate(ids):
            created = now - timedelta(days=rng.uniform(0, 6), seconds=rng.randrange(60))
            secs = rng.choice(choices) if i % 3 else rng.randrange(-100, 2_000_000)
            answered = created + timedelta(seconds=secs, microseconds=rng.randrange(999_999))
            answered = min(answered, now - timedelta(seconds=1))
            resolved = created + timedelta(seconds=rng.choice(choices)) if i % 2 else None
            if resolved is not None:
                resolved = min(resolved, now - timedelta(seconds=1))
            session.execute(
                update(Conversation)
                .where(Conversation.id == cid)
                .values(
                    created_at=created,
                    first_response_at=answered if i % 5 else None,
                    resolved_at=resolved,
                )
            )


def _expected(
    db: Database, event: str, since: str = "7d"
) -> dict[tuple[str, object], tuple[int, int, int]]:
    period = make_period(since)
    c = Conversation
    column = getattr(c, event)
    with db.read() as session:
        rows = session.execute(select(c.created_at, column, c.role_id, c.agent_id)).all()
    groups: dict[tuple[str, object], list[int]] = defaultdict(list)
    for created, happened, role, agent in rows:
        if happened is None or not period.since <= happened < period.until:
            continue
        secs = int(happened.timestamp()) - int(created.timestamp())
        for key in (("all", None), ("role", role), ("agent", agent)):
            groups[key].append(secs)
    return {k: (len(v), _nearest_rank(v, 50), _nearest_rank(v, 90)) for k, v in groups.items()}


@pytest.mark.parametrize("since", ["7d", "today"])
def test_binned_percentiles_equal_a_full_sort(db: Database, since: str) -> None:
    """Whichever plan SQLite takes (the bins walk, the period's range, the filtered
    range: `_few_in_period`), the numbers are those of a full sort."""
    seed_demo(db, 300, seed=5)
    _spread(db)
    period = make_period(since)
    for event in ("first_response_at", "resolved_at"):
        for filtered in (False, True):
            with db.read() as session:
                found = durations.durations(
                    session.connection(),
                    event,
                    period.since,
                    period.until,
                    lambda s: s,
                    filtered=filtered,
                )
            groups = found.groups
            got = {(g.dimension, g.key): (g.count, g.values[50], g.values[90]) for g in groups}
            assert got == _expected(db, event, since)
            assert len(got) > (3 if since == "7d" else 0)


def test_handled_counts_answered_or_resolved(db: Database) -> None:
    seed_demo(db, 300, seed=6)
    _spread(db)
    period = make_period("7d")
    c = Conversation
    with db.read() as session:
        rows = session.execute(
            select(c.first_response_at, c.resolved_at, Agent.handle).outerjoin(
                Agent, Agent.id == c.agent_id
            )
        ).all()
        report = compute_report(session, period, topics=[])
    expected: dict[str, int] = defaultdict(int)
    for answered, resolved, handle in rows:
        inside = [t for t in (answered, resolved) if t and period.since <= t < period.until]
        if inside:
            expected[handle or "(none)"] += 1
    assert report.handled == dict(sorted(expected.items()))


def test_sqlite_walks_the_bins_index_only_for_a_large_share_of_the_store(
    sqlite_db: Database,
) -> None:
    seed_demo(sqlite_db, 300, seed=5)
    _spread(sqlite_db)
    now = utcnow()
    with sqlite_db.engine.connect() as conn:
        for event in durations.INDEXES:
            column = getattr(Conversation, event)
            week = make_period("7d", now=now)
            assert not durations._few_in_period(conn, column, week.since, week.until)
            quiet = now - timedelta(days=30)  # before the spread week: no event at all
            assert durations._few_in_period(conn, column, quiet, quiet + timedelta(days=1))


def test_sqlite_reads_the_bins_indexes(sqlite_db: Database) -> None:
    for event, index in durations.INDEXES.items():
        bin_ = durations.bin_sql(event, "sqlite")
        sql = (
            f"SELECT {bin_}, role_id, agent_id, count(*) FROM conversation"
            f" WHERE conversation.{event} IS NOT NULL AND +conversation.{event} >= :a"
            f" AND +conversation.{event} < :b GROUP BY {bin_}, role_id, agent_id"
        )
        with sqlite_db.engine.connect() as conn:
            plan = conn.execute(
                text("EXPLAIN QUERY PLAN " + sql), {"a": "2026-01-01", "b": "2026-02-01"}
            ).all()
            exact = conn.execute(
                text(
                    f"EXPLAIN QUERY PLAN SELECT {durations.seconds_sql(event, 'sqlite')}"
                    f" FROM conversation WHERE conversation.{event} IS NOT NULL"
                    f" AND {bin_} IN (4123, 5100)"
                )
            ).all()
        assert any(f"COVERING INDEX {index}" in row[3] for row in plan), plan
        assert any(index in row[3] for row in exact), exact
