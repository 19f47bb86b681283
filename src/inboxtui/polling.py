"""Polling sources: one poll of one source, and the scheduler that polls the due ones.

One poll:
1. claim the source's lease (a write transaction: a conditional upsert that
   only succeeds when no other poller holds an unexpired lease, for a source
   that is enabled and due), reading its cursor, options and health;
2. fetch with the adapter (network only, under a per-source timeout);
3. in ONE write transaction: check the lease is still ours, ingest the
   mentions, run `after_ingest_hooks`, save the cursor and the health columns,
   release the lease. Killed at any instant, a poller leaves either all of it
   or none of it; a dead poller's lease expires and another takes over.

A failure is recorded the same way (health + back-off + release) and never
propagates: back-off is exponential with jitter per source, at least what the
server asked for (Retry-After / reset headers), and a broken source only ever
delays itself. Error texts are redacted of the source's secret before they are
stored or logged.

`Poller` runs polls concurrently on an asyncio loop (APScheduler's
`AsyncIOScheduler` ticks it), for `inboxtui poll` and inside the TUI. Database
work runs in threads, so the event loop (and the UI on it) never waits on a
lock. Claims and commits of polls that finish together share a transaction
(each source's mentions under a savepoint of their own): an idle poll (304)
then costs a few rows in a shared statement rather than two transactions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
from sqlalchemy import Connection, Table, Text, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

from inboxtui.db import Database
from inboxtui.secrets import SecretError, env_secret, env_var_name, get_secret, redact
from inboxtui.services.errors import NotFound
from inboxtui.sources.base import ConfigError, FetchResult, SourceAdapter, SourceError
from inboxtui.sources.registry import adapter_class
from inboxtui.timeutil import utcnow

if TYPE_CHECKING:
    from inboxtui.ingest import IngestStats

log = logging.getLogger(__name__)

POLL_ACTOR = "system:poller"
DEFAULT_TIMEOUT = 120.0  # seconds one fetch may take before it counts as failed
LEASE_MARGIN = 60.0  # a lease outlives the fetch timeout by this much
OUTBOX_SECONDS = 15.0  # how often a poller sends the outbox's due replies
BACKOFF_CAP = 3600.0  # a failing source is still tried at least hourly...
RETRY_AFTER_CAP = 86400.0  # ...unless the server asked for longer (believed up to a day)
RATE_LOW = 5  # requests left in the server's window below which we wait for its reset
ERROR_CHARS = 500
_CHUNK = 500  # ids per IN list / rows per multi-row insert

# Called inside the poll's write transaction when a poll stored new mentions,
# before the cursor moves: routing, sentiment and crisis checks plug in here, so
# a new mention is never stored without passing through them. An exception
# rolls that source's poll back (nothing stored, cursor unmoved) and is recorded
# as its error; the next poll tries again.
AfterIngestHook = Callable[[Session, "IngestStats"], None]
after_ingest_hooks: list[AfterIngestHook] = []


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


SOURCE = _table("source")
LEASE = _table("source_lease")
Key = int | str


@dataclass
class PollOutcome:
    """What one poll did. `status`: ok | failed | busy (another poller has it) | skipped."""

    source: str
    source_id: int | None
    status: str
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = None
    next_poll_at: datetime | None = None
    notes: list[str] = field(default_factory=list)
    mention_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary(self) -> str:
        if self.status == "ok":
            text = f"{self.source}: {self.inserted} new, {self.duplicates} already known"
            return text + (f", {self.rejected} rejected" if self.rejected else "")
        if self.status == "failed":
            return f"{self.source}: failed: {self.error}"
        return f"{self.source}: {self.status}" + (f" ({self.error})" if self.error else "")


@dataclass
class _Claim:
    """A source whose lease we hold, with what the fetch needs."""

    id: int
    name: str
    kind: str
    options: dict[str, str]
    config_text: str
    cursor: dict[str, Any] | None
    secret_ref: str | None
    interval: float
    failures: int


@dataclass
class _Done:
    """A finished fetch waiting to be committed (or its failure, to be recorded)."""

    claim: _Claim
    secret: str | None
    result: FetchResult | None = None
    mentions: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cursor_text: str | None = None
    error: str | None = None
    transient: bool = True
    retry_after: float | None = None


def make_owner() -> str:
    """A lease owner unique to this poller: host, pid and a random part (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# ---------------------------------------------------------------- back-off


def backoff_seconds(
    failures: int,
    interval: float,
    *,
    transient: bool = True,
    retry_after: float | None = None,
    cap: float = BACKOFF_CAP,
    rng: random.Random | None = None,
) -> float:
    """Delay before the next try after `failures` consecutive failures (>= 1).

    Exponential from the source's own interval, capped (the cap is never below
    the interval); "equal jitter" picks uniformly in [delay/2, delay] so that
    sources failing together do not retry together. A permanent error (bad
    secret, bad option) waits the cap: retrying sooner cannot help. The
    server's Retry-After is a floor.
    """
    rng = rng or random
    cap = max(cap, interval)
    delay = min(cap, interval * 2 ** min(max(failures, 1) - 1, 32)) if transient else cap
    wait = rng.uniform(delay / 2, delay)
    if retry_after is not None and retry_after > 0:
        wait = max(wait, min(retry_after, RETRY_AFTER_CAP))
    return wait


def next_after_success(now: datetime, interval: float, result: FetchResult) -> datetime:
    """The interval, or the server's rate-limit reset when its quota is nearly spent."""
    wait = interval
    low = result.rate_remaining is not None and result.rate_remaining <= RATE_LOW
    if low and result.rate_reset_after:
        wait = max(wait, min(result.rate_reset_after, RETRY_AFTER_CAP))
    return now + timedelta(seconds=wait)


# ---------------------------------------------------------------- leases


@contextmanager
def write_connection(db: Database) -> Iterator[Connection]:
    """`Database.write` on a bare connection (BEGIN IMMEDIATE on SQLite, as there).

    An idle poll writes a few rows; an ORM session's bookkeeping would cost more
    than they do. Commits on success, rolls back on any exception.
    """
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def _ids_param(name: str) -> Any:
    return bindparam(name, expanding=True)


_LEASE_UPSERTS: dict[str, Any] = {}
_LEASES_OF = select(LEASE.c.source_id).where(
    LEASE.c.source_id.in_(_ids_param("b_ids")), LEASE.c.owner == bindparam("b_owner")
)
_LEASES_HELD = (
    select(LEASE.c.source_id)
    .where(
        LEASE.c.source_id.in_(_ids_param("b_ids")),
        LEASE.c.owner == bindparam("b_owner"),
        LEASE.c.expires_at > bindparam("b_now"),
    )
    .order_by(LEASE.c.source_id)
    .with_for_update()
)
_LEASES_RELEASE = delete(LEASE).where(
    LEASE.c.source_id.in_(_ids_param("b_ids")), LEASE.c.owner == bindparam("b_owner")
)


def _lease_upsert(dialect: str) -> Any:
    """INSERT a lease, or take over an expired one (built once per dialect: statements cost)."""
    stmt = _LEASE_UPSERTS.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        base = insert(LEASE).values(
            source_id=bindparam("b_sid"), owner=bindparam("b_owner"), expires_at=bindparam("b_exp")
        )
        stmt = base.on_conflict_do_update(
            index_elements=[LEASE.c.source_id],
            set_={"owner": base.excluded.owner, "expires_at": base.excluded.expires_at},
            where=LEASE.c.expires_at <= bindparam("b_now"),
        )
        _LEASE_UPSERTS[dialect] = stmt
    return stmt


def claim_leases(
    conn: Connection, source_ids: Iterable[int], owner: str, now: datetime, seconds: float
) -> set[int]:
    """Take the leases nobody holds (or whose holder's time ran out); returns those now ours.

    One statement decides per source (INSERT ... ON CONFLICT DO UPDATE ... WHERE
    expired), so two pollers racing for a source cannot both win: SQLite
    serialises the write transactions, PostgreSQL locks the conflicting row and
    re-checks the WHERE. Ids go in ascending order, so racing pollers lock alike.
    """
    ids = sorted(set(source_ids))
    if not ids:
        return set()
    expires = now + timedelta(seconds=seconds)
    conn.execute(
        _lease_upsert(conn.dialect.name),
        [{"b_sid": i, "b_owner": owner, "b_exp": expires, "b_now": now} for i in ids],
    )
    won: set[int] = set()
    for chunk in _chunks(ids):
        won.update(conn.execute(_LEASES_OF, {"b_ids": list(chunk), "b_owner": owner}).scalars())
    return won


def claim_lease(
    session: Session, source_id: int, owner: str, now: datetime, seconds: float
) -> bool:
    """`claim_leases` for one source, inside the caller's write transaction."""
    return source_id in claim_leases(session.connection(), [source_id], owner, now, seconds)


def held_leases(conn: Connection, source_ids: Iterable[int], owner: str, now: datetime) -> set[int]:
    """Of these sources, those whose unexpired lease is ours (locked on PostgreSQL)."""
    held: set[int] = set()
    for chunk in _chunks(sorted(set(source_ids))):
        params = {"b_ids": list(chunk), "b_owner": owner, "b_now": now}
        held.update(conn.execute(_LEASES_HELD, params).scalars())
    return held


def release_leases(conn: Connection, source_ids: Iterable[int], owner: str) -> None:
    for chunk in _chunks(sorted(set(source_ids))):
        conn.execute(_LEASES_RELEASE, {"b_ids": list(chunk), "b_owner": owner})


def _release_quietly(db: Database, source_ids: list[int], owner: str) -> None:
    try:
        with write_connection(db) as conn:
            release_leases(conn, source_ids, owner)
    except Exception:  # the leases will expire on their own
        log.warning("could not release the lease of source(s) %s; they will expire", source_ids)


# ---------------------------------------------------------------- claiming


_CLAIM_COLUMNS = (
    SOURCE.c.id,
    SOURCE.c.name,
    SOURCE.c.kind,
    SOURCE.c.url,
    SOURCE.c.config,
    SOURCE.c.cursor,
    SOURCE.c.secret_ref,
    SOURCE.c.enabled,
    SOURCE.c.interval_seconds,
    SOURCE.c.consecutive_failures,
    SOURCE.c.next_poll_at,
)
_SOURCES_BY_ID = select(*_CLAIM_COLUMNS).where(SOURCE.c.id.in_(_ids_param("b_keys")))
_SOURCES_BY_NAME = select(*_CLAIM_COLUMNS).where(SOURCE.c.name.in_(_ids_param("b_keys")))


def _options(row: Any) -> dict[str, str]:
    try:
        options = json.loads(row.config or "{}")
    except ValueError:
        options = {}
    if not isinstance(options, dict):
        options = {}
    options = {str(k): str(v) for k, v in options.items()}
    if row.url and "url" not in options:
        options["url"] = row.url
    return options


def _claim_of(row: Any) -> _Claim:
    try:
        cursor = json.loads(row.cursor) if row.cursor else None
    except ValueError:
        cursor = None
    return _Claim(
        id=row.id,
        name=row.name,
        kind=row.kind,
        options=_options(row),
        config_text=row.config or "{}",
        cursor=cursor if isinstance(cursor, dict) else None,
        secret_ref=row.secret_ref,
        interval=float(row.interval_seconds),
        failures=row.consecutive_failures or 0,
    )


def _claim_in(
    conn: Connection,
    keys: Sequence[Key],
    owner: str,
    now: datetime,
    lease_seconds: float,
    forced: Sequence[bool],
) -> list[_Claim | PollOutcome | None]:
    rows: list[Any] = []
    for stmt, values in (
        (_SOURCES_BY_ID, [k for k in keys if isinstance(k, int)]),
        (_SOURCES_BY_NAME, [k for k in keys if isinstance(k, str)]),
    ):
        for chunk in _chunks(values):
            rows += conn.execute(stmt, {"b_keys": list(chunk)}).all()
    by_key: dict[Key, Any] = {r.id: r for r in rows} | {r.name: r for r in rows}
    results: list[_Claim | PollOutcome | None] = []
    wanted: list[int] = []
    for key, key_forced in zip(keys, forced, strict=True):
        row = by_key.get(key)
        if row is None:
            results.append(None)
        elif row.interval_seconds is None:
            why = "not set up for polling (imported mentions only)"
            results.append(PollOutcome(row.name, row.id, "skipped", error=why))
        elif not row.enabled:
            results.append(PollOutcome(row.name, row.id, "skipped", error="disabled"))
        elif not key_forced and row.next_poll_at is not None and row.next_poll_at > now:
            results.append(PollOutcome(row.name, row.id, "skipped", error="not due"))
        else:
            results.append(_claim_of(row))
            wanted.append(row.id)
    won = claim_leases(conn, wanted, owner, now, lease_seconds)
    return [
        PollOutcome(r.name, r.id, "busy", error="another poller has it")
        if isinstance(r, _Claim) and r.id not in won
        else r
        for r in results
    ]


def claim_sources(
    db: Database,
    keys: Sequence[Key],
    owner: str,
    now: datetime,
    lease_seconds: float,
    force: bool | Sequence[bool] = False,
) -> list[_Claim | PollOutcome | None]:
    """Claim sources (ids or names) in one transaction; per key: a claim, why not, or None.

    A key is skipped when its source is disabled, imported only, or (unless
    forced) not due; "busy" when another poller holds its lease.
    """
    forced = [force] * len(keys) if isinstance(force, bool) else list(force)
    with write_connection(db) as conn:
        return _claim_in(conn, keys, owner, now, lease_seconds, forced)


# ---------------------------------------------------------------- fetching


def source_secret(name: str, secret_ref: str | None) -> str | None:
    """The environment variable of the source (or of its reference), else its keyring entry.

    The keyring is only asked when the source has a reference: a source without
    one needs no secret, and asking a desktop keyring on every poll is not free.
    """
    if secret_ref is None:
        return env_secret(name)
    value = get_secret(secret_ref)
    if value is None:
        raise ConfigError(
            f"source {name!r} needs its secret: run `inboxtui secret set {secret_ref}` "
            f"or set {env_var_name(secret_ref)}"
        )
    return value


class AdapterCache:
    """Adapters kept between polls, so they may keep sessions and profile caches in memory.

    An adapter is rebuilt when its source's options or secret change.
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[tuple[Any, ...], SourceAdapter]] = {}

    def get(self, claim: _Claim, client: httpx.AsyncClient, secret: str | None) -> SourceAdapter:
        fingerprint = (claim.kind, claim.name, claim.config_text, secret, id(client))
        cached = self._items.get(claim.id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        adapter = adapter_class(claim.kind)(claim.name, claim.options, client, secret)
        self._items[claim.id] = (fingerprint, adapter)
        return adapter


def scrub_records(records: list[dict[str, Any]], secret: str | None) -> list[dict[str, Any]]:
    """Records with any echo of the secret masked (a server may reflect what it was sent)."""
    if not secret:
        return records
    dumped = json.dumps(records, ensure_ascii=False)
    cleaned = redact(dumped, [secret])
    return records if cleaned == dumped else json.loads(cleaned)


def _cursor_text(cursor: dict[str, Any] | None, secret: str | None) -> str | None:
    """The cursor as stored (None: keep the old one); an adapter bug never stores a secret."""
    if cursor is None:
        return None
    text = json.dumps(cursor, ensure_ascii=False, sort_keys=True)
    cleaned = redact(text, [secret])
    if cleaned != text:
        log.error("the adapter put the source's secret in its cursor; masked before storing")
    return cleaned


def _parse(claim: _Claim, records: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    """Validated mentions of this source, and why the others were refused."""
    from inboxtui.ingest import RecordError, parse_record

    mentions, problems = [], []
    for record in records:
        if isinstance(record, dict):
            record = {**record, "source": claim.name, "kind": claim.kind}
        try:
            mentions.append(parse_record(record))
        except RecordError as exc:
            external = record.get("external_id") if isinstance(record, dict) else None
            problems.append(f"record {external!r} refused: {exc}")
    return mentions, problems


def _describe(exc: BaseException, secret: str | None) -> tuple[str, bool, float | None]:
    """(message for users, transient?, retry after) of a failure, secret masked."""
    if isinstance(exc, SourceError):
        message, transient, retry_after = str(exc), exc.transient, exc.retry_after
    elif isinstance(exc, SecretError):
        message, transient, retry_after = str(exc), False, None
    else:
        message = f"internal error ({type(exc).__name__}: {exc})"
        transient, retry_after = True, None
        text = "".join(traceback.format_exception(exc))
        log.error("%s", redact(text, [secret]))
    return redact(message, [secret])[:ERROR_CHARS], transient, retry_after


async def _fetch(
    claim: _Claim, *, client: httpx.AsyncClient, adapters: AdapterCache, timeout: float
) -> _Done:
    """Fetch and validate; every failure becomes a `_Done` with an error (never raises)."""
    secret: str | None = None
    try:
        if claim.secret_ref is None:
            secret = env_secret(claim.name)
        else:  # a keyring may be slow (D-Bus, a locked file): not on the event loop
            secret = await asyncio.to_thread(source_secret, claim.name, claim.secret_ref)
        adapter = adapters.get(claim, client, secret)
        try:
            result = await asyncio.wait_for(adapter.fetch(claim.cursor), timeout)
        except TimeoutError:
            raise SourceError(f"{claim.name}: timed out after {timeout:g}s") from None
        records = scrub_records(result.mentions, secret)
        mentions, problems = _parse(claim, records)
        unchanged = result.cursor is None or result.cursor == claim.cursor
        cursor_text = None if unchanged else _cursor_text(result.cursor, secret)
        return _Done(claim, secret, result, mentions, problems, cursor_text)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        message, transient, retry_after = _describe(exc, secret)
        log.warning("%s: %s", claim.name, message)
        return _Done(claim, secret, error=message, transient=transient, retry_after=retry_after)


# ---------------------------------------------------------------- committing


_SUCCESS = (
    update(SOURCE)
    .where(SOURCE.c.id == bindparam("b_id"))
    .values(
        last_polled_at=bindparam("b_now", type_=SOURCE.c.last_polled_at.type),
        last_success_at=bindparam("b_now", type_=SOURCE.c.last_success_at.type),
        consecutive_failures=0,
        items_last_poll=bindparam("b_items"),
        next_poll_at=bindparam("b_next", type_=SOURCE.c.next_poll_at.type),
        cursor=func.coalesce(bindparam("b_cursor", type_=Text), SOURCE.c.cursor),
    )
)


def _store(conn: Connection, done: _Done) -> IngestStats:
    """One source's mentions and hooks under a savepoint: its failure is its own."""
    from inboxtui.ingest import IngestStats, ingest_batch

    if not done.mentions:
        return IngestStats()
    # joins the connection's transaction; commits and rollbacks stay the caller's
    with Session(bind=conn, expire_on_commit=False) as session, session.begin_nested():
        stats = ingest_batch(session, done.mentions, actor=POLL_ACTOR)
        if stats.inserted:
            for hook in after_ingest_hooks:
                hook(session, stats)
    return stats


def _commit_in(
    conn: Connection,
    items: Sequence[_Done],
    owner: str,
    now: datetime,
    rng: random.Random | None,
) -> list[PollOutcome]:
    outcomes: list[PollOutcome | None] = [None] * len(items)
    held = held_leases(conn, (d.claim.id for d in items), owner, now)
    successes: list[dict[str, Any]] = []
    for index in sorted(range(len(items)), key=lambda i: items[i].claim.id):
        done, claim = items[index], items[index].claim
        if claim.id not in held:
            log.warning("%s: lease lost mid-poll; another poller has taken over", claim.name)
            outcomes[index] = PollOutcome(claim.name, claim.id, "busy", error="lease lost mid-poll")
            continue
        if done.error is None:
            try:
                stats = _store(conn, done)
            except Exception as exc:
                done.error, done.transient, done.retry_after = _describe(exc, done.secret)
                done.error = f"storing failed: {done.error}"
            else:
                assert done.result is not None
                next_poll = next_after_success(now, claim.interval, done.result)
                successes.append(
                    {
                        "b_id": claim.id,
                        "b_now": now,
                        "b_items": stats.inserted,
                        "b_next": next_poll,
                        "b_cursor": done.cursor_text,
                    }
                )
                outcomes[index] = _success(done, stats, next_poll)
                continue
        outcomes[index] = _record_failure(conn, done, now, rng)
    if successes:
        conn.execute(_SUCCESS, successes)
    release_leases(conn, held, owner)
    return [o for o in outcomes if o is not None]


def commit_polls(
    db: Database,
    items: Sequence[_Done],
    owner: str,
    now: datetime,
    rng: random.Random | None = None,
) -> list[PollOutcome]:
    """Store finished polls in ONE transaction: mentions, cursors, health, lease release.

    A source whose lease is no longer ours writes nothing ("busy": another
    poller took over). A source whose mentions cannot be stored (or whose hook
    fails) is rolled back to its savepoint and recorded as failed.
    """
    with write_connection(db) as conn:
        return _commit_in(conn, items, owner, now, rng)


def db_round(
    db: Database,
    commits: Sequence[_Done],
    claims: Sequence[tuple[Key, bool]],
    owner: str,
    now: datetime,
    lease_seconds: float,
) -> tuple[list[PollOutcome], list[_Claim | PollOutcome | None]]:
    """Finished polls committed and new ones claimed, in one transaction (the poller's)."""
    with write_connection(db) as conn:
        done = _commit_in(conn, commits, owner, now, None) if commits else []
        claimed = (
            _claim_in(
                conn, [k for k, _ in claims], owner, now, lease_seconds, [f for _, f in claims]
            )
            if claims
            else []
        )
    return done, claimed


def _success(done: _Done, stats: IngestStats, next_poll: datetime) -> PollOutcome:
    assert done.result is not None
    secret = [done.secret]
    notes = [redact(n, secret) for n in (*done.result.notes, *done.problems)]
    notes += [f"record #{pos}: {why}" for pos, why in stats.rejected]
    for note in notes:
        log.warning("%s: %s", done.claim.name, note)
    return PollOutcome(
        done.claim.name,
        done.claim.id,
        "ok",
        fetched=len(done.result.mentions),
        inserted=stats.inserted,
        duplicates=stats.duplicates,
        rejected=len(done.problems) + len(stats.rejected),
        next_poll_at=next_poll,
        notes=notes,
        mention_ids=list(stats.mention_ids),
    )


def _record_failure(
    conn: Connection, done: _Done, now: datetime, rng: random.Random | None
) -> PollOutcome:
    claim = done.claim
    failures = claim.failures + 1
    wait = backoff_seconds(
        failures, claim.interval, transient=done.transient, retry_after=done.retry_after, rng=rng
    )
    next_poll = now + timedelta(seconds=wait)
    conn.execute(
        update(SOURCE)
        .where(SOURCE.c.id == claim.id)
        .values(
            last_polled_at=now,
            last_error=(done.error or "")[:ERROR_CHARS],
            last_error_at=now,
            consecutive_failures=SOURCE.c.consecutive_failures + 1,
            next_poll_at=next_poll,
        )
    )
    return PollOutcome(claim.name, claim.id, "failed", error=done.error, next_poll_at=next_poll)


# ---------------------------------------------------------------- one poll


async def poll_source(
    db: Database,
    source: Key,
    *,
    client: httpx.AsyncClient,
    owner: str,
    now: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    lease_seconds: float | None = None,
    force: bool = False,
    rng: random.Random | None = None,
    adapters: AdapterCache | None = None,
) -> PollOutcome:
    """Poll one source once (by id or name); failures are recorded, never raised.

    `force` polls a source that is not due yet. `now` pins the clock (tests).
    Raises `NotFound` for an unknown source: that is the caller's mistake.
    """
    lease_seconds = lease_seconds if lease_seconds is not None else timeout + LEASE_MARGIN

    def clock() -> datetime:
        return now if now is not None else utcnow()

    [claimed] = await asyncio.to_thread(
        claim_sources, db, [source], owner, clock(), lease_seconds, force
    )
    if claimed is None:
        raise NotFound(f"no source {source!r} (see: inboxtui source list)")
    if isinstance(claimed, PollOutcome):
        return claimed
    finished = False
    try:
        done = await _fetch(
            claimed, client=client, adapters=adapters or AdapterCache(), timeout=timeout
        )
        [outcome] = await asyncio.to_thread(commit_polls, db, [done], owner, clock(), rng)
        finished = True
        return outcome
    finally:
        if not finished:  # cancelled, or the database failed: free the source at once
            await asyncio.shield(asyncio.to_thread(_release_quietly, db, [claimed.id], owner))


# ---------------------------------------------------------------- the scheduler


T = TypeVar("T")
R = TypeVar("R")


class _Batcher(Generic[T, R]):
    """Runs `fn(items)` in a thread for every item submitted while the previous run ran.

    With nothing in flight a submission runs at once (no added latency); under
    load, work queues up during a run and the next run takes all of it.
    `orphan(result)` is called for a result whose submitter was cancelled.
    """

    def __init__(
        self, fn: Callable[[list[T]], list[R]], orphan: Callable[[R], None] | None = None
    ) -> None:
        self.fn = fn
        self.orphan = orphan
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await asyncio.to_thread(self.fn, [item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
                elif self.orphan is not None:
                    self.orphan(result)


def due_source_ids(db: Database, now: datetime, names: Sequence[str] | None = None) -> list[int]:
    """Enabled, configured sources whose time has come and whose lease is free."""
    with db.read() as session:
        stmt = (
            select(SOURCE.c.id)
            .outerjoin(LEASE, (LEASE.c.source_id == SOURCE.c.id) & (LEASE.c.expires_at > now))
            .where(
                SOURCE.c.enabled.is_(True),
                SOURCE.c.interval_seconds.is_not(None),
                or_(SOURCE.c.next_poll_at.is_(None), SOURCE.c.next_poll_at <= now),
                LEASE.c.source_id.is_(None),
            )
            .order_by(SOURCE.c.next_poll_at.is_not(None), SOURCE.c.next_poll_at, SOURCE.c.id)
        )
        if names is not None:
            stmt = stmt.where(SOURCE.c.name.in_(list(names)))
        return list(session.execute(stmt).scalars())


class Poller:
    """Polls due sources concurrently; `start()` hands the ticking to APScheduler.

    At most `concurrency` polls run at once and each has its own timeout, so a
    hanging server holds one slot for at most `timeout` seconds while the
    others go on. A source already being polled by this poller is not started
    again; one being polled by another process is skipped by its lease. `only`
    limits the poller to the named sources.
    """

    def __init__(
        self,
        db: Database,
        *,
        client: httpx.AsyncClient | None = None,
        owner: str | None = None,
        tick_seconds: float = 10.0,
        concurrency: int = 16,
        timeout: float = DEFAULT_TIMEOUT,
        lease_seconds: float | None = None,
        on_outcome: Callable[[PollOutcome], None] | None = None,
        only: Sequence[str] | None = None,
    ) -> None:
        self.db = db
        self.owner = owner or make_owner()
        self.tick_seconds = tick_seconds
        self.concurrency = concurrency
        self.timeout = timeout
        self.lease_seconds = lease_seconds if lease_seconds is not None else timeout + LEASE_MARGIN
        self.on_outcome = on_outcome
        self.only = list(only) if only else None
        self._client = client
        # Our own clients: one per poll slot. httpcore checks every idle pooled
        # connection (two syscalls each) whenever a request starts or ends, so a
        # pool's cost per request grows with its size: small pools halve the CPU
        # of an idle poll. A source always uses the same pool (keep-alive), and
        # the pools share one TLS context (building one costs ~30 ms).
        self._clients: list[httpx.AsyncClient] = []
        self._pools = max(1, concurrency)
        self._adapters = AdapterCache()
        self._inflight: dict[int, asyncio.Task[PollOutcome]] = {}
        self._slots: asyncio.Semaphore | None = None
        # claims and commits of polls that meet in time share one transaction
        self._db: _Batcher[tuple[str, Any], Any] = _Batcher(self._db_batch, self._orphan)
        self.scheduler: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def client_for(self, source_id: int) -> httpx.AsyncClient:
        """The caller's client if one was given, else this source's pool among ours."""
        if self._client is not None:
            return self._client
        if not self._clients:
            from inboxtui.sources.base import make_client

            tls = httpx.create_ssl_context()
            self._clients = [make_client(verify=tls) for _ in range(self._pools)]
        return self._clients[source_id % len(self._clients)]

    def _db_batch(self, items: list[tuple[str, Any]]) -> list[Any]:
        commits = [item for kind, item in items if kind == "commit"]
        claims = [item for kind, item in items if kind == "claim"]
        committed, claimed = db_round(
            self.db, commits, claims, self.owner, utcnow(), self.lease_seconds
        )
        results = iter(committed), iter(claimed)
        return [next(results[kind == "claim"]) for kind, _ in items]

    def _orphan(self, result: Any) -> None:
        """A claim whose poll was cancelled while it was being made: give the lease back."""
        if isinstance(result, _Claim):
            _release_quietly(self.db, [result.id], self.owner)

    async def _poll(self, source_id: int, force: bool) -> PollOutcome:
        try:
            outcome = await self._poll_one(source_id, force)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database itself failed: say so, keep going
            log.error("source #%s: poll failed: %s", source_id, exc)
            outcome = PollOutcome(f"#{source_id}", source_id, "failed", error=str(exc))
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                log.exception("on_outcome callback failed")
        if outcome.inserted:  # after the commit, never inside it
            await self.detect()
        return outcome

    async def send_replies(self) -> None:
        """Send what the outbox holds due (retries, approved replies), as every poller does.

        The composer sends at once; this round is what retries a reply whose
        first try failed, and sends one an approver let through, without anyone
        running `inboxtui outbox send`. Leases keep two pollers from sending the
        same reply; a failure is recorded on the reply and never stops polling.
        """
        from inboxtui.outbox import OutboxWorker

        try:
            await OutboxWorker(self.db, owner=self.owner, client=self.client_for(0)).run_once()
        except Exception:
            log.exception("outbox round failed")

    async def detect(self) -> None:
        """Crisis detection in a thread: after polls that stored mentions, and on a timer."""
        from inboxtui.detection.hook import detect_quietly

        await asyncio.to_thread(detect_quietly, self.db)

    async def _poll_one(self, source_id: int, force: bool) -> PollOutcome:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        finished = False
        claimed: Any = None
        try:
            async with self._slots:  # bounds fetches in flight; the database work is batched
                claimed = await self._db(("claim", (source_id, force)))
                if claimed is None:
                    finished = True
                    return PollOutcome(f"#{source_id}", source_id, "skipped", error="removed")
                if isinstance(claimed, PollOutcome):
                    finished = True
                    return claimed
                done = await _fetch(
                    claimed,
                    client=self.client_for(claimed.id),
                    adapters=self._adapters,
                    timeout=self.timeout,
                )
            outcome = await self._db(("commit", done))
            finished = True
            return outcome
        finally:
            if not finished and isinstance(claimed, _Claim):
                await asyncio.shield(
                    asyncio.to_thread(_release_quietly, self.db, [claimed.id], self.owner)
                )

    def _launch(self, ids: Iterable[int], force: bool) -> list[asyncio.Task[PollOutcome]]:
        tasks = []
        for source_id in ids:
            task = self._inflight.get(source_id)
            if task is None or task.done():
                task = asyncio.create_task(self._poll(source_id, force))
                self._inflight[source_id] = task
                task.add_done_callback(lambda t, sid=source_id: self._forget(sid, t))
            tasks.append(task)
        return tasks

    def _forget(self, source_id: int, task: asyncio.Task[PollOutcome]) -> None:
        if self._inflight.get(source_id) is task:
            del self._inflight[source_id]

    async def tick(self) -> int:
        """Start polls of the due sources (without waiting for them); returns how many."""
        ids = await asyncio.to_thread(due_source_ids, self.db, utcnow(), self.only)
        fresh = [i for i in ids if i not in self._inflight]
        self._launch(fresh, force=False)
        return len(fresh)

    async def poll_once(
        self, names: Sequence[str] | None = None, *, force: bool = False
    ) -> list[PollOutcome]:
        """Poll every due source (or the named ones; `force`: even if not due) and wait.

        Raises `NotFound` naming an unknown source before polling anything.
        """
        if names:
            ids = await asyncio.to_thread(self._ids_of, names)
            if not force:
                due = set(await asyncio.to_thread(due_source_ids, self.db, utcnow(), names))
                ids = [i for i in ids if i in due]
        else:
            ids = await asyncio.to_thread(due_source_ids, self.db, utcnow(), self.only)
        return list(await asyncio.gather(*self._launch(ids, force)))

    def _ids_of(self, names: Sequence[str]) -> list[int]:
        found: dict[str, int] = {}
        with self.db.read() as session:
            for chunk in _chunks(list(names)):
                rows = session.execute(
                    select(SOURCE.c.name, SOURCE.c.id).where(SOURCE.c.name.in_(chunk))
                ).all()
                found.update((name, source_id) for name, source_id in rows)
        missing = [n for n in names if n not in found]
        if missing:
            raise NotFound(f"no source {missing[0]!r} (see: inboxtui source list)")
        return [found[n] for n in names]

    def start(self) -> None:
        """Tick now and every `tick_seconds`, on the running event loop."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            next_run_time=utcnow(),
            id="inboxtui-poll-tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        if self.only is None:  # a poller limited to some sources leaves replies to others
            self.scheduler.add_job(
                self.send_replies,
                "interval",
                seconds=OUTBOX_SECONDS,
                next_run_time=utcnow(),
                id="inboxtui-outbox",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        from inboxtui.detection.hook import DETECT_SECONDS

        self.scheduler.add_job(
            self.detect,
            "interval",
            seconds=DETECT_SECONDS,
            id="inboxtui-detect-tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self.scheduler.start()

    async def aclose(self) -> None:
        """Stop ticking, cancel polls in flight (their leases are released), close the client."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The daemon: tick until `stop` is set."""
        self.start()
        try:
            await stop.wait()
        finally:
            await self.aclose()

    def start_in_thread(self) -> None:
        """Run the scheduler on an event loop of its own in a daemon thread (the TUI's way).

        Adapters parse what they fetch synchronously (feedparser takes ~0.5 ms an
        entry), which must never stall a UI's event loop. `on_outcome` is then
        called from the poller's thread (a Textual app wraps it in
        `call_from_thread`). `stop_thread()` ends it.
        """
        ready = threading.Event()

        async def main() -> None:
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            ready.set()
            await self.run_forever(self._stop)

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="inboxtui-poller", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop_thread(self, timeout: float = 30.0) -> None:
        """Stop the thread of `start_in_thread`: polls in flight are cancelled, leases released."""
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None


__all__ = [
    "POLL_ACTOR",
    "AdapterCache",
    "PollOutcome",
    "Poller",
    "after_ingest_hooks",
    "backoff_seconds",
    "claim_lease",
    "claim_leases",
    "claim_sources",
    "commit_polls",
    "due_source_ids",
    "held_leases",
    "make_owner",
    "next_after_success",
    "poll_source",
    "release_leases",
    "scrub_records",
    "source_secret",
]
