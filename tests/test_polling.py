"""The poller against real databases and a real RSS server on 127.0.0.1.

Leases (two pollers with their own engines), back-off, Retry-After, health
columns, a broken source beside healthy ones, the cursor committed with its
mentions, and a poller process killed with SIGKILL at random instants.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from polling_support import Feed, FeedServer, Reply
from sqlalchemy import func, insert, select, text, update

from inboxtui import polling, sources_admin
from inboxtui.db import Database, open_database
from inboxtui.models import Mention, Source, SourceLease
from inboxtui.polling import (
    BACKOFF_CAP,
    Poller,
    backoff_seconds,
    claim_lease,
    due_source_ids,
    next_after_success,
    poll_source,
)
from inboxtui.services.errors import NotFound
from inboxtui.sources.base import FetchResult, make_client
from inboxtui.timeutil import utcnow

# ---------------------------------------------------------------- fixtures


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(timeout=httpx.Timeout(10.0)) as c:
        yield c


def add_feed(db: Database, server: FeedServer, name: str, items: int = 0, **kw) -> Feed:
    feed, url = server.feed(name, items, **kw)
    sources_admin.add_source(db, "rss", name, {"url": url}, actor="tester", interval=300)
    return feed


def source_row(db: Database, name: str) -> Source:
    with db.read() as session:
        return session.execute(select(Source).where(Source.name == name)).scalar_one()


def mention_ids(db: Database, name: str) -> list[str]:
    with db.read() as session:
        return list(
            session.execute(
                select(Mention.external_id)
                .join(Source, Source.id == Mention.source_id)
                .where(Source.name == name)
                .order_by(Mention.external_id)
            ).scalars()
        )


def lease_rows(db: Database) -> list[tuple[int, str]]:
    with db.read() as session:
        return [tuple(r) for r in session.execute(select(SourceLease.source_id, SourceLease.owner))]


# ---------------------------------------------------------------- back-off (pure)


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    rng = random.Random(4)
    for failures in range(1, 10):
        ceiling = min(BACKOFF_CAP, 300 * 2 ** (failures - 1))
        samples = [backoff_seconds(failures, 300, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert max(samples) - min(samples) > ceiling / 10  # it really is jittered
    # an interval longer than the cap: never retried sooner than the interval allows
    assert all(3600 <= backoff_seconds(3, 7200, rng=rng) <= 7200 for _ in range(50))


def test_permanent_errors_wait_the_cap_and_retry_after_is_a_floor() -> None:
    rng = random.Random(5)
    assert all(
        BACKOFF_CAP / 2 <= backoff_seconds(1, 300, transient=False, rng=rng) <= BACKOFF_CAP
        for _ in range(50)
    )
    assert backoff_seconds(1, 300, retry_after=5000, rng=rng) == 5000
    assert backoff_seconds(1, 300, retry_after=10**9, rng=rng) == polling.RETRY_AFTER_CAP
    assert backoff_seconds(1, 300, retry_after=1, rng=rng) >= 150


def test_nearly_spent_rate_limit_waits_for_the_reset() -> None:
    now = utcnow()
    plenty = FetchResult([], None, rate_remaining=100, rate_reset_after=900)
    low = FetchResult([], None, rate_remaining=2, rate_reset_after=900)
    unknown_reset = FetchResult([], None, rate_remaining=0)
    assert next_after_success(now, 300, plenty) == now + timedelta(seconds=300)
    assert next_after_success(now, 300, low) == now + timedelta(seconds=900)
    assert next_after_success(now, 300, unknown_reset) == now + timedelta(seconds=300)


# ---------------------------------------------------------------- one poll, end to end


async def test_poll_ingests_saves_cursor_and_health(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "blog", 3)
    now = utcnow()
    outcome = await poll_source(db, "blog", client=client, owner="a", now=now)
    assert outcome.status == "ok", outcome
    assert (outcome.fetched, outcome.inserted, outcome.duplicates) == (3, 3, 0)
    row = source_row(db, "blog")
    assert row.last_success_at == now and row.last_polled_at == now
    assert row.consecutive_failures == 0 and row.items_last_poll == 3
    assert row.next_poll_at == now + timedelta(seconds=300)
    cursor = json.loads(row.cursor)
    assert cursor["etag"] == '"blog-3"' and len(cursor["seen"]) == 3
    assert mention_ids(db, "blog") == sorted(feed.ids())
    assert lease_rows(db) == []  # released in the same transaction

    # not due yet: skipped without a request
    outcome = await poll_source(db, "blog", client=client, owner="a")
    assert outcome.status == "skipped" and feed.requests == 1

    # forced: 304, nothing new, health still moves
    outcome = await poll_source(db, "blog", client=client, owner="a", force=True)
    assert (outcome.status, outcome.inserted) == ("ok", 0)
    assert feed.not_modified == 1 and source_row(db, "blog").items_last_poll == 0

    feed.add(2)
    outcome = await poll_source(db, "blog", client=client, owner="a", force=True)
    assert (outcome.inserted, outcome.duplicates) == (2, 0)
    assert mention_ids(db, "blog") == sorted(feed.ids())


async def test_failures_back_off_then_recover(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "flaky", 2)
    feed.fail_with = Reply(500, {}, b"oops")
    now = utcnow()
    for failures in (1, 2, 3):
        outcome = await poll_source(
            db, "flaky", client=client, owner="a", now=now, force=True, rng=random.Random(failures)
        )
        assert outcome.status == "failed" and "500" in (outcome.error or "")
        row = source_row(db, "flaky")
        assert row.consecutive_failures == failures
        assert row.last_error_at == now and "500" in row.last_error
        ceiling = 300 * 2 ** (failures - 1)
        wait = (row.next_poll_at - now).total_seconds()
        assert ceiling / 2 <= wait <= ceiling
        assert row.cursor is None and mention_ids(db, "flaky") == []
    assert lease_rows(db) == []

    feed.fail_with = None
    outcome = await poll_source(db, "flaky", client=client, owner="a", force=True)
    assert (outcome.status, outcome.inserted) == ("ok", 2)
    row = source_row(db, "flaky")
    assert row.consecutive_failures == 0 and row.last_success_at is not None
    info = sources_admin.get_source(db, "flaky")
    assert info.health == "ok"


async def test_retry_after_is_respected(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "limited", 1)
    feed.fail_with = Reply(429, {"Retry-After": "7200"}, b"slow down")
    now = utcnow()
    outcome = await poll_source(db, "limited", client=client, owner="a", now=now)
    assert outcome.status == "failed"
    row = source_row(db, "limited")
    assert row.next_poll_at >= now + timedelta(seconds=7200)
    assert "429" in row.last_error
    assert due_source_ids(db, now + timedelta(seconds=3600)) == []
    assert due_source_ids(db, now + timedelta(seconds=7201)) == [row.id]


async def test_permanent_error_waits_long(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "gone", 1)
    feed.fail_with = Reply(404, {}, b"no such feed")
    now = utcnow()
    await poll_source(db, "gone", client=client, owner="a", now=now)
    row = source_row(db, "gone")
    assert row.next_poll_at >= now + timedelta(seconds=BACKOFF_CAP / 2)


# ---------------------------------------------------------------- leases


def test_only_one_of_many_racing_claims_wins(db: Database) -> None:
    with db.write() as session:
        session.add(Source(kind="rss", name="raced", interval_seconds=300, created_at=utcnow()))
    sid = source_row(db, "raced").id
    others = [open_database(db.url) for _ in range(6)]
    barrier = threading.Barrier(len(others))
    won: list[str] = []

    def race(database: Database, owner: str) -> None:
        barrier.wait()
        with database.write() as session:
            if claim_lease(session, sid, owner, utcnow(), 60):
                won.append(owner)

    threads = [threading.Thread(target=race, args=(d, f"p{i}")) for i, d in enumerate(others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in others:
        d.dispose()
    assert len(won) == 1
    assert lease_rows(db) == [(sid, won[0])]


async def test_two_pollers_never_poll_one_source_at_once(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "shared", 4)
    feed.gate = threading.Event()
    other = open_database(db.url)  # a second poller with an engine of its own
    try:
        first = asyncio.create_task(poll_source(db, "shared", client=client, owner="A"))
        await asyncio.to_thread(feed.entered.wait, 30)  # A is mid-fetch, holding the lease
        second = await poll_source(other, "shared", client=client, owner="B", force=True)
        assert second.status == "busy"
        feed.gate.set()
        assert (await first).status == "ok"
        assert feed.requests == 1
        third = await poll_source(other, "shared", client=client, owner="B", force=True)
        assert third.status == "ok" and third.inserted == 0
    finally:
        feed.gate.set()
        other.dispose()
    assert mention_ids(db, "shared") == sorted(feed.ids())


async def test_expired_lease_of_a_dead_poller_is_taken_over(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    add_feed(db, server, "orphan", 2)
    sid = source_row(db, "orphan").id
    now = utcnow()
    with db.write() as session:
        session.add(
            SourceLease(source_id=sid, owner="dead", expires_at=now + timedelta(seconds=30))
        )
    outcome = await poll_source(db, "orphan", client=client, owner="alive", now=now)
    assert outcome.status == "busy"
    assert due_source_ids(db, now) == []  # a live lease hides it from the scheduler
    later = now + timedelta(seconds=31)
    assert due_source_ids(db, later) == [sid]
    outcome = await poll_source(db, "orphan", client=client, owner="alive", now=later)
    assert (outcome.status, outcome.inserted) == ("ok", 2)
    assert lease_rows(db) == []


async def test_a_poller_that_lost_its_lease_writes_nothing(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "slow", 3)
    feed.gate = threading.Event()
    sid = source_row(db, "slow").id
    task = asyncio.create_task(poll_source(db, "slow", client=client, owner="A"))
    await asyncio.to_thread(feed.entered.wait, 30)
    # A's lease ran out and B took the source over while A was still fetching
    with db.write() as session:
        session.execute(
            update(SourceLease)
            .where(SourceLease.source_id == sid)
            .values(owner="B", expires_at=utcnow() + timedelta(minutes=5))
        )
    feed.gate.set()
    outcome = await task
    assert outcome.status == "busy" and "lost" in (outcome.error or "")
    row = source_row(db, "slow")
    assert row.cursor is None and row.last_success_at is None
    assert mention_ids(db, "slow") == []
    assert lease_rows(db) == [(sid, "B")]  # B's lease is untouched


async def test_cancelled_poll_releases_its_lease(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "stuck", 1)
    feed.gate = threading.Event()
    task = asyncio.create_task(poll_source(db, "stuck", client=client, owner="A"))
    await asyncio.to_thread(feed.entered.wait, 30)
    assert len(lease_rows(db)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    feed.gate.set()
    assert lease_rows(db) == []


# ---------------------------------------------------------------- scheduling


def test_due_sources_exclude_disabled_imported_and_future(db: Database) -> None:
    now = utcnow()
    with db.write() as session:
        for name, extra in (
            ("due", {}),
            ("later", {"next_poll_at": now + timedelta(minutes=5)}),
            ("past", {"next_poll_at": now - timedelta(minutes=5)}),
            ("off", {"enabled": False}),
        ):
            session.add(
                Source(kind="rss", name=name, interval_seconds=300, created_at=now, **extra)
            )
        session.add(Source(kind="rss", name="imported", created_at=now))
    ids = {source_row(db, n).id: n for n in ("due", "past")}
    assert sorted(due_source_ids(db, now)) == sorted(ids)
    assert due_source_ids(db, now, ["past"]) == [source_row(db, "past").id]


async def test_a_hanging_source_does_not_hold_up_the_others(
    db: Database, server: FeedServer
) -> None:
    hanging = add_feed(db, server, "hanging", 1)
    hanging.gate = threading.Event()  # never opened while polling: the request hangs
    feeds = [add_feed(db, server, f"good{i}", 2) for i in range(3)]
    order: list[str] = []
    poller = Poller(db, timeout=3.0, concurrency=8, on_outcome=lambda o: order.append(o.source))
    try:
        outcomes = {o.source: o for o in await poller.poll_once()}
    finally:
        hanging.gate.set()
        await poller.aclose()
    assert outcomes["hanging"].status == "failed"
    assert "timed out" in (outcomes["hanging"].error or "")
    for i, feed in enumerate(feeds):
        assert outcomes[f"good{i}"].inserted == 2
        assert mention_ids(db, f"good{i}") == sorted(feed.ids())
    assert order[-1] == "hanging"  # the healthy ones finished without waiting for it
    assert source_row(db, "hanging").consecutive_failures == 1


async def test_scheduler_ticks_and_polls_due_sources(db: Database, server: FeedServer) -> None:
    feed = add_feed(db, server, "ticked", 5)
    done = asyncio.Event()
    seen = []

    def on_outcome(outcome: polling.PollOutcome) -> None:
        seen.append(outcome)
        done.set()

    poller = Poller(db, tick_seconds=0.2, on_outcome=on_outcome)
    poller.start()
    try:
        await asyncio.wait_for(done.wait(), 30)
        assert poller.scheduler.running
    finally:
        await poller.aclose()
    assert seen[0].status == "ok" and seen[0].inserted == 5
    assert mention_ids(db, "ticked") == sorted(feed.ids())
    assert not poller.scheduler.running


def test_poller_in_a_thread_of_its_own(db: Database, server: FeedServer) -> None:
    """The TUI's way: the UI's event loop never runs a poll (nor its feed parsing)."""
    feed = add_feed(db, server, "threaded", 3)
    done = threading.Event()
    threads = []

    def on_outcome(outcome: polling.PollOutcome) -> None:
        threads.append(threading.current_thread().name)
        done.set()

    poller = Poller(db, tick_seconds=0.2, on_outcome=on_outcome)
    poller.start_in_thread()
    try:
        assert done.wait(30)
    finally:
        poller.stop_thread()
    assert threads == ["inboxtui-poller"]
    assert mention_ids(db, "threaded") == sorted(feed.ids())
    assert lease_rows(db) == []


async def test_poll_once_by_name_forces_and_unknown_name_is_an_error(
    db: Database, server: FeedServer
) -> None:
    add_feed(db, server, "named", 1)
    poller = Poller(db)
    try:
        first = await poller.poll_once(["named"], force=True)
        again = await poller.poll_once(["named"], force=True)
        not_forced = await poller.poll_once(["named"])
        with pytest.raises(NotFound, match="nosuch"):
            await poller.poll_once(["nosuch"], force=True)
    finally:
        await poller.aclose()
    assert [o.status for o in (*first, *again)] == ["ok", "ok"]
    assert not_forced == []


# ---------------------------------------------------------------- hooks


async def test_hooks_run_in_the_poll_transaction(
    db: Database, server: FeedServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = add_feed(db, server, "hooked", 2)
    calls = []

    def broken(session, stats) -> None:
        calls.append(stats.inserted)
        # it sees the new mentions inside the transaction...
        count = session.execute(select(func.count()).select_from(Mention)).scalar_one()
        assert count == 2
        raise RuntimeError("routing rules are broken")

    monkeypatch.setattr(polling, "after_ingest_hooks", [broken])
    outcome = await poll_source(db, "hooked", client=client, owner="a")
    assert outcome.status == "failed" and "routing rules are broken" in (outcome.error or "")
    # ...and its failure rolls the whole poll back: nothing stored, cursor not moved,
    # while the failure itself is recorded
    assert calls == [2] and mention_ids(db, "hooked") == []
    row = source_row(db, "hooked")
    assert row.cursor is None and row.consecutive_failures == 1
    assert "routing rules are broken" in row.last_error

    monkeypatch.setattr(polling, "after_ingest_hooks", [lambda s, st: calls.append(st.inserted)])
    outcome = await poll_source(db, "hooked", client=client, owner="a", force=True)
    assert outcome.status == "ok" and calls == [2, 2]
    assert mention_ids(db, "hooked") == sorted(feed.ids())


async def test_one_source_failing_to_store_does_not_undo_the_others(
    db: Database, server: FeedServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = add_feed(db, server, "good", 3)
    add_feed(db, server, "bad", 2)

    def picky(session, stats) -> None:
        names = session.execute(
            select(Source.name)
            .join(Mention, Mention.source_id == Source.id)
            .where(Mention.id.in_(stats.mention_ids))
        ).scalars()
        if "bad" in set(names):
            raise RuntimeError("cannot route this one")

    monkeypatch.setattr(polling, "after_ingest_hooks", [picky])
    now = utcnow()
    claims = polling.claim_sources(db, ["good", "bad"], "me", now, 60)
    adapters = polling.AdapterCache()
    done = [await polling._fetch(c, client=client, adapters=adapters, timeout=10) for c in claims]
    outcomes = polling.commit_polls(db, done, "me", now)  # one transaction for both
    assert [(o.source, o.status, o.inserted) for o in outcomes] == [
        ("good", "ok", 3),
        ("bad", "failed", 0),
    ]
    assert mention_ids(db, "good") == sorted(good.ids()) and mention_ids(db, "bad") == []
    assert source_row(db, "bad").consecutive_failures == 1
    assert source_row(db, "good").cursor is not None and source_row(db, "bad").cursor is None
    assert lease_rows(db) == []


# ---------------------------------------------------------------- kill -9


POLLER_SCRIPT = """
import asyncio, sys
from inboxtui.db import open_database
from inboxtui.polling import Poller

async def main(url, names):
    db = open_database(url)
    poller = Poller(db, timeout=5, lease_seconds=1, concurrency=4)
    while True:
        outcomes = await poller.poll_once(names, force=True)
        print(" ".join(f"{o.status}:{o.inserted}" for o in outcomes), flush=True)
        if any(o.status != "ok" for o in outcomes):
            await asyncio.sleep(0.05)

asyncio.run(main(sys.argv[1], sys.argv[2:]))
"""


async def test_killed_poller_loses_and_duplicates_nothing(
    db: Database, server: FeedServer, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    """SIGKILL a poller process (3 sources, shared transactions) at random instants."""
    names = ["grow-a", "grow-b", "grow-c"]
    feeds = [add_feed(db, server, name, 5, grow=7) for name in names]
    script = tmp_path / "poller.py"
    script.write_text(POLLER_SCRIPT)
    rng = random.Random(11)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _round in range(6):
        proc = subprocess.Popen(
            [sys.executable, str(script), db.url, *names],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        try:
            # wait until it is really polling, then kill it at a random instant
            await asyncio.to_thread(proc.stdout.readline)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
    for feed in feeds:
        feed.grow = 0
    # the last poller's leases may outlive it by up to a second: wait them out, then poll
    for name, feed in zip(names, feeds, strict=True):
        for _ in range(200):
            outcome = await poll_source(db, name, client=client, owner="final", force=True)
            if outcome.status == "ok":
                break
            await asyncio.sleep(0.05)
        assert outcome.status == "ok", outcome
        published = feed.ids()
        stored = mention_ids(db, name)
        assert len(stored) == len(set(stored)) == len(published)
        assert stored == sorted(published)
        assert len(published) > 5 + 7 * 6  # every round got at least one poll in
    with db.read() as session:
        indexed = session.execute(text("SELECT count(*) FROM mention_search")).scalar_one()
        total = session.execute(select(func.count()).select_from(Mention)).scalar_one()
    assert indexed == total  # the search index is as complete as the store


async def test_poller_shutdown_releases_leases_of_polls_in_flight(
    db: Database, server: FeedServer
) -> None:
    feed = add_feed(db, server, "inflight", 1)
    feed.gate = threading.Event()
    poller = Poller(db)
    task = asyncio.create_task(poller.poll_once())
    await asyncio.to_thread(feed.entered.wait, 30)
    assert len(lease_rows(db)) == 1
    await poller.aclose()
    with pytest.raises(asyncio.CancelledError):
        await task
    feed.gate.set()
    assert lease_rows(db) == []
    assert source_row(db, "inflight").cursor is None


# ---------------------------------------------------------------- unusual rows


async def test_imported_and_disabled_sources_are_never_polled(
    db: Database, server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed = add_feed(db, server, "paused", 1)
    sources_admin.set_enabled(db, "paused", False, actor="tester")
    outcome = await poll_source(db, "paused", client=client, owner="a", force=True)
    assert (outcome.status, outcome.error) == ("skipped", "disabled")
    with db.write() as session:
        session.execute(insert(Source).values(kind="rss", name="imported", created_at=utcnow()))
    outcome = await poll_source(db, "imported", client=client, owner="a", force=True)
    assert outcome.status == "skipped" and "imported" in (outcome.error or "")
    assert feed.requests == 0
    with pytest.raises(NotFound):
        await poll_source(db, "missing", client=client, owner="a")
