"""The one ingest path: every source, the importer and the demo seeder end here.

`parse_record` turns an untrusted interchange record (a JSON object) into a
validated, sanitised `MentionIn`; `ingest` writes mentions in batches, one
write transaction per batch, and returns only after the commit (so a poller
may move its cursor then, never before).

Per batch: resolve sources -> drop duplicates (unique source + external id,
also within the batch) -> upsert authors -> thread -> insert conversations,
mentions and their full-text rows -> update the summaries of conversations
that gained mentions. Everything is set-based (`IN` look-ups, executemany);
mention and conversation ids are allocated up front so that threading happens
in Python and every insert is a plain executemany.

Threading: a conversation is a thread on one source, keyed by `root_key`.
- A root (no `in_reply_to`) has root_key = its external id; if replies came
  first, their conversation (root_key = this id) is waiting and the root joins
  it at depth 0, adopting the replies as its children.
- A reply whose parent is known joins the parent's conversation at parent
  depth + 1. Otherwise it joins (or creates) the conversation whose root_key is
  the parent's id, at depth 1; a mid-thread mention whose own replies came
  first joins their conversation, which is re-keyed to its parent's id.
- Known limit: a mention whose parent is known but whose replies arrived first
  leaves those replies in their own conversation, unlinked (merging would move
  assignment and audit history behind the team's back). Rare: it needs a
  mention to arrive after both its parent and its replies.

Status on new activity: a resolved conversation is reopened (`reopen` event);
a snoozed one is woken (status open, snooze cleared, `wake` event), because a
new message is exactly what a snooze waits for. `pending` stays pending: the
agent chose it, and the conversation still rises in the queue by activity.
Every conversation that gains mentions gets `version` + 1 and a new
`updated_at`, so an open TUI (and a concurrent editor's version check) sees it.

Speed (target: 20,000 mentions/s on SQLite with FTS and dedup): well-formed
records take a cheap validation path (`_parse_common`, checked against the
careful one by tests). A batch takes `prepare`d mentions: plain tuples that
already hold the search document and the time as the database stores it, so
the JSONL import can make them in a second process (`inboxtui.jsonl`) while
this one writes. Look-ups bind one JSON/array parameter instead of thousands;
the big inserts and updates go through the DBAPI cursor of the batch's own
connection, skipping SQLAlchemy's per-row processing (on PostgreSQL, fresh
rows go in by COPY and new authors in one statement: one statement per row
would fire the statement triggers once per row); a conversation UPDATE
sets only the columns that changed (each SET column costs its index entries);
authors whose row would not change are not updated. A run of batches
(`BulkWrites`) keeps author rows between batches and pauses the cyclic GC.

Edits: a record may carry `edited_at` (the author's last edit). A mention
already stored and seen again with a newer `edited_at` and other text (or
title) takes the new text, title, raw record, sentiment (unless an agent
corrected the label) and search document; the conversation's excerpt follows
if it is the latest mention, its title if it is the root; the conversation's
version moves and an `edited` event keeps the old text. Every other duplicate
stays a no-op: edits are looked for only among a batch's duplicates that
carry `edited_at`. Within one batch, the newest version of a mention wins.

Concurrency: SQLite serialises writers (`BEGIN IMMEDIATE`); on PostgreSQL the
batch takes a transaction-scoped advisory lock per source, reads conversations
`FOR UPDATE`, and inserts sources and authors with `ON CONFLICT DO NOTHING`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

from inboxtui import rollup_counts, search, sla
from inboxtui.db import Database
from inboxtui.models import PRIORITY_RANK, Status
from inboxtui.records import (  # the parsing half of ingest
    P_AT,
    P_DOC,
    P_EDITED,
    P_EXTERNAL_ID,
    P_FOLLOWERS,
    P_HANDLE,
    P_KIND,
    P_LABEL,
    P_LANG,
    P_NAME,
    P_RAW,
    P_REPLY_TO,
    P_SENTIMENT,
    P_SOURCE,
    P_TEXT,
    P_TITLE,
    P_URL,
    MentionIn,
    Prepared,
    RecordError,  # noqa: F401  (re-exported: pollers and the CLI take it from here)
    db_time,
    parse_record,  # noqa: F401  (re-exported: pollers and the CLI take it from here)
    prepare,
)
from inboxtui.text import one_line
from inboxtui.timeutil import iso, utcnow
from inboxtui.wal_checkpoints import Checkpoints

_PG_LOCK_NAMESPACE = 7_301_001  # first key of pg_advisory_xact_lock(int, int)
_NEW, _OPEN, _RESOLVED, _SNOOZED = (
    Status.NEW.value,
    Status.OPEN.value,
    Status.RESOLVED.value,
    Status.SNOOZED.value,
)  # an Enum's .value is a slow descriptor; these are read per conversation
_NORMAL = PRIORITY_RANK["normal"]
_SQLITE_CACHE_KIB = 65_536
_SQLITE_BIG_BATCH_CACHE_KIB = 262_144  # for batches over 5,000 mentions (see `_Sql`)
_SQLITE_CHECKPOINT_PAGES = 16_384  # 64 MB of WAL between checkpoints (default 1000 pages)
_BULK_CHECKPOINT_BATCH = 2000  # batches this big: a thread checkpoints (`BulkWrites`)
_SQLITE_MAX_PARAMS = 32_766  # bound parameters per statement (SQLite's default limit since 3.32)
_MULTI_ROWS = 64  # rows of the smaller multi-row INSERT (see `_Sql._insert_sqlite`)


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


SOURCE = _table("source")
AUTHOR = _table("author")
MENTION = _table("mention")


# ---------------------------------------------------------------- ingest


@dataclass
class IngestStats:
    inserted: int = 0
    duplicates: int = 0
    conversations_created: int = 0
    reopened: int = 0  # resolved conversations reopened plus snoozed ones woken
    edited: int = 0  # stored mentions that took a newer edit (not counted as duplicates)
    mention_ids: list[int] = field(default_factory=list)
    conversation_ids: list[int] = field(default_factory=list)  # created by this ingest
    # (position in the input, reason) of mentions refused, e.g. a source of another kind
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: IngestStats) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.conversations_created += other.conversations_created
        self.reopened += other.reopened
        self.edited += other.edited
        self.mention_ids.extend(other.mention_ids)
        self.conversation_ids.extend(other.conversation_ids)
        self.rejected.extend(other.rejected)


def ingest(
    db: Database,
    mentions: Iterable[MentionIn],
    *,
    actor: str = "system:ingest",
    batch_size: int = 5000,
) -> IngestStats:
    """Store `mentions`, one write transaction per batch; returns after the last commit."""
    stats = IngestStats()
    offset = 0
    dialect = db.dialect
    with BulkWrites(db) as bulk:
        for batch in _batches(mentions, max(1, batch_size)):
            prepared = [prepare(m, dialect) for m in batch]
            stats.add(bulk.ingest(prepared, actor=actor, offset=offset))
            offset += len(batch)
    return stats


def ingest_batch(
    session: Session,
    mentions: Sequence[MentionIn],
    *,
    actor: str = "system:ingest",
    offset: int = 0,
) -> IngestStats:
    """One batch inside the caller's write transaction, which commits it (or not).

    For callers that must write something else atomically with the mentions: the
    poller saves a source's cursor in the same transaction. `offset` numbers the
    positions in `rejected` (the batch's place in a longer input).
    """
    conn = session.connection()
    dialect = conn.dialect.name
    prepared = [prepare(m, dialect) for m in mentions]
    stats = _Batch(conn, actor, offset, len(prepared)).run(prepared)
    _route_new(conn, stats)
    return stats


def _route_new(conn: Connection, stats: IngestStats) -> None:
    """Routing rules run in the transaction that creates a conversation: never seen unrouted."""
    if stats.conversation_ids:
        from inboxtui.routing import route_new

        route_new(conn, stats.conversation_ids)


class AuthorCache:
    """Author rows that one run of SQLite batches read and wrote, kept between batches.

    In a big import most authors come back batch after batch, and reading them
    again is a good part of a batch's work. The run holds one connection
    throughout (`BulkWrites`), so the rows stay true until another connection
    commits, which `PRAGMA data_version` tells: each batch checks it first and
    starts afresh when it moved. A batch that fails empties the cache too.
    """

    def __init__(self) -> None:
        # (kind, handle) -> (id, name, followers, first_seen_at, last_seen_at), `db_time` form
        self.rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.stamp: tuple[object, int] | None = None  # (DBAPI connection, data_version)

    def validate(self, connection: sqlite3.Connection) -> None:
        """At the start of each batch's transaction."""
        stamp = (connection, connection.execute("PRAGMA data_version").fetchone()[0])
        if stamp != self.stamp:
            self.rows.clear()
        self.stamp = stamp

    def clear(self) -> None:
        self.rows.clear()
        self.stamp = None


class BulkWrites:
    """A long run of batches (an import, the demo seeder), one transaction each.

    - One connection is held for the whole run, so that nothing else in this
      process writes through it between batches (see `AuthorCache`).
    - The cyclic garbage collector is paused (for the whole process; restored
      on exit): a batch allocates hundreds of thousands of objects, which would
      set off full collections of everything the process holds, again and
      again (measured: about a seventh of an import's time). A batch leaves no
      reference cycles behind, so nothing piles up meanwhile.
    - SQLite, big batches: the WAL is checkpointed by a thread of its own
      (`inboxtui.wal_checkpoints`) instead of by the writer at commit.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.authors = AuthorCache() if db.dialect == "sqlite" else None
        self.conn: Connection | None = None
        self.gc_was_enabled = False
        self.checkpoints: Checkpoints | None = None
        self.checkpoints_tried = False
        self.temp_store = 0  # the pooled connection's own setting, restored on exit

    def __enter__(self) -> BulkWrites:
        self.conn = self.db.engine.connect()
        if self.db.dialect == "sqlite":
            self.conn = self.conn.execution_options(sqlite_begin="IMMEDIATE")  # as `db.write`
            # A multi-row INSERT (`_Sql._insert_sqlite`) keeps a statement journal (the
            # pages it changes, to undo a failed statement alone); beyond 64 KiB SQLite
            # spills it to a temporary file, written for nothing (measured: a third more
            # system time in an import). In memory it holds one statement's pages at most.
            # (A change of temp_store drops TEMP tables; inboxtui keeps none.)
            driver = self.conn.connection.driver_connection
            self.temp_store = driver.execute("PRAGMA temp_store").fetchone()[0]  # type: ignore[union-attr]
            driver.execute("PRAGMA temp_store=MEMORY")  # type: ignore[union-attr]
        self.gc_was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.gc_was_enabled:
            gc.enable()
        if self.checkpoints is not None:
            self.checkpoints.close()
            self.checkpoints = None
        if self.conn is not None:
            if self.db.dialect == "sqlite":  # a big batch's page cache goes back to the pool
                with contextlib.suppress(sqlite3.Error):
                    driver = self.conn.connection.driver_connection
                    driver.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")  # type: ignore[union-attr]
                    driver.execute(f"PRAGMA wal_autocheckpoint={_SQLITE_CHECKPOINT_PAGES}")  # type: ignore[union-attr]
                    driver.execute(f"PRAGMA temp_store={int(self.temp_store)}")  # type: ignore[union-attr]
            self.conn.close()
            self.conn = None

    def _checkpointing(self, size: int) -> bool:
        """Whether the writer leaves checkpoints to a thread (SQLite WAL file, big batches)."""
        if self.checkpoints is not None and self.checkpoints.error is not None:
            self.checkpoints.close()  # it failed: the writer checkpoints again, as usual
            self.checkpoints = None
        if self.checkpoints_tried or size < _BULK_CHECKPOINT_BATCH or self.authors is None:
            return self.checkpoints is not None
        self.checkpoints_tried = True
        assert self.conn is not None
        path = self.conn.engine.url.database
        driver = self.conn.connection.driver_connection
        mode = driver.execute("PRAGMA journal_mode").fetchone()[0]  # type: ignore[union-attr]
        if path and path != ":memory:" and str(mode).lower() == "wal":
            self.checkpoints = Checkpoints(path)
        return self.checkpoints is not None

    def ingest(
        self, batch: Sequence[Prepared], *, actor: str = "system:ingest", offset: int = 0
    ) -> IngestStats:
        """One batch of `prepare`d mentions in one write transaction; returns after the commit."""
        assert self.conn is not None, "use BulkWrites as a context manager"
        checkpoints = self.checkpoints if self._checkpointing(len(batch)) else None
        if checkpoints is not None:
            checkpoints.before_write()
        try:
            with self.conn.begin():
                stats = _Batch(
                    self.conn,
                    actor,
                    offset,
                    len(batch),
                    self.authors,
                    autocheckpoint=checkpoints is None,
                ).run(batch)
                _route_new(self.conn, stats)
        except BaseException:
            if self.authors is not None:
                self.authors.clear()  # it may hold rows of the rolled-back batch
            raise
        if checkpoints is not None:
            checkpoints.after_commit()
        return stats  # only once committed


def _batches(items: Iterable[MentionIn], size: int) -> Iterator[list[MentionIn]]:
    batch: list[MentionIn] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_ignoring_conflicts(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def allocate_ids(conn: Connection, table: str, count: int) -> list[int]:
    """`count` fresh primary keys for `table`, so rows can reference each other before insert.

    SQLite: the batch holds the write lock, so max(id)+1.. is ours. PostgreSQL:
    the column's own sequence, safe under concurrent writers.
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"
                " FROM generate_series(1, :n)"
            ),
            {"n": count},
        ).scalars()
        return sorted(rows)
    top = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
    return list(range(top + 1, top + 1 + count))


class _Sql:
    """Hot-path reads and writes through the DBAPI cursor of the batch's own connection.

    Measured: SQLAlchemy's per-row parameter processing cost more than SQLite's
    own insert work, so the big executemany calls skip it. Times travel in
    `db_time` form both ways: SQLite's text is kept as text (`read_time`).
    """

    def __init__(self, conn: Connection, rows: int, *, autocheckpoint: bool = True) -> None:
        self.pg = conn.dialect.name == "postgresql"
        self.connection: Any = conn.connection.dbapi_connection
        self.cursor = self.connection.cursor()
        if not self.pg:
            # Bulk imports: a big inbox's index pages do not fit the default 2 MB page cache
            # (nor, for a big batch, 64 MB: its random index inserts would spill), and
            # checkpointing the WAL after every batch rewrites the same hot pages again and
            # again. Both settings belong to this (pooled) connection only. Not
            # `autocheckpoint`: a thread checkpoints instead (`BulkWrites`).
            cache = _SQLITE_CACHE_KIB if rows <= 5000 else _SQLITE_BIG_BATCH_CACHE_KIB
            self.cursor.execute(f"PRAGMA cache_size=-{cache}")
            pages = _SQLITE_CHECKPOINT_PAGES if autocheckpoint else 0
            self.cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
            self.max_params = min(
                _SQLITE_MAX_PARAMS, self.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            )

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(sql.replace("?", "%s") if self.pg else sql, rows)

    def insert(self, sql: str, copy: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert fresh rows: `sql` (executemany) on SQLite, one COPY (`copy`, its
        `table (columns)`) on PostgreSQL.

        Why COPY: an executemany runs one statement per row, and each fires the
        table's statement triggers (change notification, report rollups) once;
        COPY fires them once for all the rows, and parses nothing per row.
        """
        if not rows:
            return
        if not self.pg:
            self._insert_sqlite(sql, rows)
            return
        with self.cursor.copy(f"COPY {copy} FROM STDIN") as out:
            write = out.write_row
            for row in rows:
                write(row)

    def _insert_sqlite(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Fresh rows as multi-row `INSERT ... VALUES (...), (...)` statements.

        Why not executemany: each of its rows is a statement of its own, which
        opens a cursor on the table, on every index and on every foreign key's
        parent, and closes them all again; one statement of many rows keeps them
        open and positioned (measured: 7% fewer instructions per mention on a
        fresh file). Statements come in two sizes only, as many rows as the
        limit of bound parameters allows and `_MULTI_ROWS`, so the module's
        statement cache keeps two compiled statements per table (a big one is
        large), not one per batch; the last few rows go by executemany.
        """
        head, _, one = sql.partition(" VALUES ")
        start = 0
        most = self.max_params // one.count("?")
        for per in (most, min(most, _MULTI_ROWS)):
            count = (len(rows) - start) // per if per > 1 else 0
            if count:
                statement = f"{head} VALUES {', '.join([one] * per)}"
                for _ in range(count):
                    chunk = rows[start : start + per]
                    self.cursor.execute(statement, list(chain.from_iterable(chunk)))
                    start += per
        if start < len(rows):
            self.cursor.executemany(sql, rows[start:])

    def rows_in(self, sql: str, params: Sequence[Any], values: Iterable[Any]) -> list[Any]:
        """Rows of `sql`, whose last condition is `<column> IN :values` written as `IN ?`.

        One bound parameter whatever the count (a JSON array on SQLite, an
        array on PostgreSQL), so no chunking and no per-value binding cost.
        """
        values = list(values)
        if not values:
            return []
        if self.pg:
            self.cursor.execute(
                sql.replace("IN ?", "= ANY(?)").replace("?", "%s"), (*params, values)
            )
        else:
            self.cursor.execute(
                sql.replace("IN ?", "IN (SELECT value FROM json_each(?))"),
                (*params, orjson.dumps(values).decode()),
            )
        return self.cursor.fetchall()

    def read_time(self, value: Any) -> Any:
        """A time column as read by the raw cursor -> `db_time` form."""
        if value is None:
            return None
        if isinstance(value, datetime):  # PostgreSQL: in the session's time zone
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if len(value) == 26 and value[10] == " ":
            return value  # SQLAlchemy's form, as written by every path
        return db_time(datetime.fromisoformat(value).replace(tzinfo=UTC), "sqlite")


def _as_datetime(value: Any) -> datetime | None:
    """A `db_time` value -> aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class _New:
    """A mention being inserted in this batch."""

    __slots__ = (
        "at",
        "author",
        "author_id",
        "conv",
        "depth",
        "ext",
        "id",
        "key",
        "p",
        "parent_id",
        "position",
        "reply_to",
        "sid",
    )

    def __init__(self, p: Prepared, sid: int, key: tuple[int, str], position: int) -> None:
        self.p = p
        self.sid = sid
        self.key = key  # (source id, external id)
        self.author = (p[P_KIND], p[P_HANDLE])
        self.position = position
        self.ext: str = p[P_EXTERNAL_ID]
        self.reply_to: str | None = p[P_REPLY_TO]
        self.at = p[P_AT]
        self.id = 0
        self.author_id = 0
        self.conv: _Conv | None = None
        self.parent_id: int | None = None
        self.depth = 0


_ORDER = attrgetter("at", "position")


class _Conv:
    """A conversation touched by this batch: its stored state plus what the batch adds."""

    __slots__ = (
        "added",
        "adopt_depth_changed",
        "author_id",
        "created_at",
        "excerpt",
        "id",
        "is_new",
        "last_activity_at",
        "loaded",
        "mention_count",
        "resolved_at",
        "root",
        "root_key",
        "sid",
        "snooze_until",
        "status",
        "title",
        "version",
    )

    def __init__(self, sid: int, root_key: str) -> None:
        self.sid = sid
        self.root_key = root_key
        self.id = 0
        self.is_new = True
        self.status = _NEW
        self.snooze_until: Any = None
        self.resolved_at: Any = None
        self.created_at: Any = None  # times in `db_time` form
        self.last_activity_at: Any = None
        self.mention_count = 0
        self.excerpt = ""
        self.title: str | None = None
        self.author_id: int | None = None
        self.version = 1
        self.root: _New | None = None
        self.added: list[_New] = []
        self.adopt_depth_changed = False
        self.loaded: tuple[Any, ...] = ()  # stored values of _CONV_SUMMARY (see `summary`)

    def summary(self) -> tuple[Any, ...]:
        return (
            self.root_key,
            self.author_id,
            self.title,
            self.excerpt,
            self.status,
            self.snooze_until,
            self.resolved_at,
            self.created_at,
            self.last_activity_at,
        )


_INSERT_EVENTS = (
    'INSERT INTO event (conversation_id, actor, action, version, "before", "after",'
    " detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_CONV_INSERT = (
    "id, source_id, root_key, kind, author_id, title, excerpt, status, priority, escalated,"
    " created_at, last_activity_at, updated_at, mention_count, version"
)
_MENTION_INSERT = (
    "id, source_id, external_id, conversation_id, parent_id, in_reply_to, depth, author_id,"
    " created_at, title, text, url, lang, sentiment, sentiment_label, raw, fetched_at, edited_at"
)


def _marks(columns: str) -> str:
    """`?, ?, ...`: one placeholder per column of a column list."""
    return ", ".join("?" * (columns.count(",") + 1))


_CONV_COLUMNS = (
    "id, source_id, root_key, status, snooze_until, resolved_at, created_at, last_activity_at,"
    " mention_count, excerpt, title, author_id, version"
)
# What new mentions may change; an UPDATE sets only those that did change, because
# SQLite rewrites an index entry whenever one of its columns is SET (even to its value).
_CONV_SUMMARY = (
    "root_key",
    "author_id",
    "title",
    "excerpt",
    "status",
    "snooze_until",
    "resolved_at",
    "created_at",
    "last_activity_at",
)


_AUTHOR_COLUMNS = ("id", "name", "followers", "first_seen_at", "last_seen_at")  # `_authors` rows


class _Batch:
    """One batch, one transaction. Steps are methods so each reads on its own."""

    def __init__(
        self,
        conn: Connection,
        actor: str,
        offset: int,
        size: int,
        authors: AuthorCache | None = None,
        *,
        autocheckpoint: bool = True,
    ) -> None:
        self.conn = conn
        self.actor = actor
        self.offset = offset
        self.pg = conn.dialect.name == "postgresql"
        self.now = db_time(utcnow(), conn.dialect.name)
        self.stats = IngestStats()
        self.sql = _Sql(conn, size, autocheckpoint=autocheckpoint)
        self.authors = None if self.pg else authors
        if self.authors is not None:
            self.authors.validate(self.sql.connection)
        self.kinds: dict[int, str] = {}  # source id -> kind
        # (source id, external id) -> (mention id, conversation id, depth) already stored
        self.stored: dict[tuple[int, str], tuple[int, int, int]] = {}
        self.convs: dict[tuple[int, str], _Conv] = {}  # by (source id, root_key)
        self.convs_by_id: dict[int, _Conv] = {}
        self.adoptions: list[tuple[_Conv, _New]] = []
        # source id -> external ids of the batch's mentions and of their parents
        self.keys: dict[int, set[str]] = {}
        self.edits: list[_New] = []  # duplicates of stored mentions that carry edited_at

    def run(self, batch: Sequence[Prepared]) -> IngestStats:
        fresh = self._resolve_sources(batch)
        if self.pg:
            for sid in sorted(self.kinds):
                self.conn.execute(
                    text("SELECT pg_advisory_xact_lock(:ns, :sid)"),
                    {"ns": _PG_LOCK_NAMESPACE, "sid": sid},
                )
        fresh = self._drop_stored(fresh)
        if not fresh:
            return self._apply_edits()
        fresh = _parents_first(fresh)
        self._load_conversations(fresh)
        self._upsert_authors(fresh)
        self._thread(fresh, allocate_ids(self.conn, "mention", len(fresh)))
        self._insert(fresh)
        self._adopt()
        self._update_conversations()
        self.stats.inserted = len(fresh)
        self.stats.mention_ids = [n.id for n in sorted(fresh, key=attrgetter("position"))]
        for n in fresh:
            n.conv = None  # no reference cycles: bulk imports run with the cyclic GC paused
        return self._apply_edits()  # last: conversation versions are final by now

    # -- sources, and duplicates within the batch

    def _resolve_sources(self, batch: Sequence[Prepared]) -> list[_New]:
        wanted: dict[str, str] = {}
        for p in batch:
            if p[P_SOURCE] not in wanted:
                wanted[p[P_SOURCE]] = p[P_KIND]
        found = self._sources(list(wanted))
        # sorted: two processes creating the same sources lock them in one order (no deadlock)
        missing = sorted(name for name in wanted if name not in found)
        if missing:
            self.conn.execute(
                _insert_ignoring_conflicts(self.conn, SOURCE),
                [
                    {
                        "kind": wanted[name],
                        "name": name,
                        "config": "{}",
                        "enabled": True,
                        "created_at": _as_datetime(self.now),
                    }
                    for name in missing
                ],
            )
            found.update(self._sources(missing))
        out: list[_New] = []
        seen: dict[tuple[int, str], _New] = {}
        for position, p in enumerate(batch, start=self.offset):
            sid, kind = found[p[P_SOURCE]]
            if kind != p[P_KIND]:
                self.stats.rejected.append(
                    (
                        position,
                        f"kind: source {p[P_SOURCE]!r} is a {kind} source, not {p[P_KIND]}",
                    )
                )
                continue
            key = (sid, p[P_EXTERNAL_ID])
            if key in seen:
                self.stats.duplicates += 1
                if p[P_EDITED] is not None:
                    _keep_newest(seen[key], p)
                continue
            self.kinds[sid] = kind
            n = seen[key] = _New(p, sid, key, position)
            out.append(n)
        return out

    def _sources(self, names: list[str]) -> dict[str, tuple[int, str]]:
        rows = self.sql.rows_in("SELECT id, name, kind FROM source WHERE name IN ?", (), names)
        return {name: (sid, kind) for sid, name, kind in rows}

    # -- duplicates of stored mentions (and stored parents)

    def _drop_stored(self, unique: list[_New]) -> list[_New]:
        self.keys = _keys(unique)
        stored = self.stored
        for sid, ids in self.keys.items():
            rows = self.sql.rows_in(
                "SELECT external_id, id, conversation_id, depth FROM mention"
                " WHERE source_id = ? AND external_id IN ?",
                (sid,),
                ids,
            )
            for external_id, mid, conv_id, depth in rows:
                stored[(sid, external_id)] = (mid, conv_id, depth)
        if not stored:
            return unique
        fresh = [n for n in unique if n.key not in stored]
        self.stats.duplicates += len(unique) - len(fresh)
        if len(fresh) < len(unique):
            self.edits = [n for n in unique if n.p[P_EDITED] is not None and n.key in stored]
            self.keys = _keys(fresh)
        return fresh

    # -- conversations

    def _load_conversations(self, fresh: list[_New]) -> None:
        for sid, root_keys in self.keys.items():
            self._remember("source_id = ? AND root_key IN ?", (sid,), root_keys)
        stored = self.stored
        parent_convs = {
            stored[(n.sid, n.reply_to)][1]
            for n in fresh
            if n.reply_to and (n.sid, n.reply_to) in stored
        }
        self._remember("id IN ?", (), parent_convs - set(self.convs_by_id))

    def _remember(self, where: str, params: Sequence[Any], values: Iterable[Any]) -> None:
        """Load conversations (locked FOR UPDATE on PostgreSQL) into the batch's maps."""
        sql = f"SELECT {_CONV_COLUMNS} FROM conversation WHERE {where}"
        read = self.sql.read_time
        for row in self.sql.rows_in(sql + (" FOR UPDATE" if self.pg else ""), params, values):
            if row[0] in self.convs_by_id:
                continue
            conv = _Conv(row[1], row[2])
            conv.is_new = False
            (conv.id, _, _, conv.status, snooze, resolved, created, last) = row[:8]
            conv.snooze_until, conv.resolved_at = read(snooze), read(resolved)
            conv.created_at, conv.last_activity_at = read(created), read(last)
            (conv.mention_count, conv.excerpt, conv.title, conv.author_id, conv.version) = row[8:]
            conv.loaded = conv.summary()
            self.convs_by_id[conv.id] = conv
            self.convs[(conv.sid, conv.root_key)] = conv

    # -- authors

    def _upsert_authors(self, fresh: list[_New]) -> None:
        """Insert unknown authors; refresh name/followers/seen times from this batch."""
        newest: dict[tuple[str, str], _New] = {}
        oldest: dict[tuple[str, str], Any] = {}
        for n in fresh:
            key = n.author
            current = newest.get(key)
            if current is None:
                newest[key] = n
                oldest[key] = n.at
            else:
                if n.at >= current.at:
                    newest[key] = n
                if n.at < oldest[key]:
                    oldest[key] = n.at
        cached = self.authors.rows if self.authors is not None else {}
        state = {key: cached[key] for key in newest if key in cached}
        state.update(self._authors([key for key in newest if key not in cached]))
        state = self._refresh_authors(state, newest, oldest)
        missing = [key for key in newest if key not in state]
        if missing:
            state.update(self._insert_authors(missing, newest, oldest))
        cached.update(state)
        for n in fresh:
            n.author_id = state[n.author][0]

    def _refresh_authors(
        self,
        state: dict[tuple[str, str], tuple[Any, ...]],
        newest: dict[tuple[str, str], _New],
        oldest: dict[tuple[str, str], Any],
    ) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Update stored authors (only those whose row changes); -> the rows as they are now.

        An UPDATE sets only the columns that changed: setting `followers`, even to
        its value, rewrites its index entry, and most updates only move last_seen_at.
        """
        by_columns: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        now = {}
        for key, row in state.items():
            author_id, name, followers, first_seen, last_seen = row
            m = newest[key]
            first = oldest[key]
            if m.at <= last_seen and first >= first_seen:
                now[key] = row  # nothing newer or older than what is stored
                continue
            if m.at > last_seen:
                if m.p[P_NAME] is not None:
                    name = m.p[P_NAME]
                if m.p[P_FOLLOWERS] is not None:
                    followers = m.p[P_FOLLOWERS]
            new = now[key] = (
                author_id,
                name,
                followers,
                min(first, first_seen),
                max(m.at, last_seen),
            )
            changed = tuple(i for i in (1, 2, 3, 4) if new[i] != row[i])
            if changed:
                by_columns.setdefault(changed, []).append((*(new[i] for i in changed), author_id))
        for changed, rows in by_columns.items():
            sets = ", ".join(f"{_AUTHOR_COLUMNS[i]} = ?" for i in changed)
            self.sql.many(f"UPDATE author SET {sets} WHERE id = ?", rows)
        return now

    def _insert_authors(
        self,
        missing: list[tuple[str, str]],
        newest: dict[tuple[str, str], _New],
        oldest: dict[tuple[str, str], Any],
    ) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Insert new authors; -> their rows."""
        rows = {
            key: (newest[key].p[P_NAME], newest[key].p[P_FOLLOWERS], oldest[key], newest[key].at)
            for key in missing
        }
        if self.pg:  # another writer may add the same author meanwhile: keep theirs
            # one statement for all the rows (arrays), not one per row
            values = [(*key, *row) for key, row in rows.items()]
            columns = [list(column) for column in zip(*values, strict=True)]
            self.sql.cursor.execute(
                "INSERT INTO author (kind, handle, name, followers, first_seen_at, last_seen_at)"
                " SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::int[],"
                " %s::timestamptz[], %s::timestamptz[]) ON CONFLICT DO NOTHING",
                columns,
            )
            return self._authors(missing)
        # SQLite: the write lock is ours, so nobody else inserts, and the ids are ours too
        ids = allocate_ids(self.conn, "author", len(rows))
        self.sql.many(
            "INSERT INTO author (kind, handle, name, followers, first_seen_at, last_seen_at, id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*key, *row, i) for (key, row), i in zip(rows.items(), ids, strict=True)],
        )
        return {key: (i, *row) for (key, row), i in zip(rows.items(), ids, strict=True)}

    def _authors(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, ...]]:
        """(kind, handle) -> (id, name, followers, first_seen_at, last_seen_at)."""
        by_kind: dict[str, list[str]] = {}
        for kind, handle in keys:
            by_kind.setdefault(kind, []).append(handle)
        found: dict[tuple[str, str], tuple[Any, ...]] = {}
        read = self.sql.read_time
        for kind, handles in by_kind.items():
            rows = self.sql.rows_in(
                "SELECT handle, id, name, followers, first_seen_at, last_seen_at FROM author"
                " WHERE kind = ? AND handle IN ?",
                (kind,),
                handles,
            )
            for handle, author_id, name, followers, first, last in rows:
                found[(kind, handle)] = (author_id, name, followers, read(first), read(last))
        return found

    # -- threading

    def _thread(self, fresh: list[_New], ids: list[int]) -> None:
        """Give each mention (parents first) its id and a place in a conversation.

        See the module docstring for the rules.
        """
        placed: dict[tuple[int, str], _New] = {}
        convs = self.convs
        stored = self.stored
        for n, mention_id in zip(fresh, ids, strict=True):
            n.id = mention_id
            own = n.key
            reply_to = n.reply_to if n.reply_to != n.ext else None
            if reply_to is None:
                conv = convs.get(own) or self._new_conv(n.sid, n.ext)
                if conv.root is None:
                    conv.root = n
                if not conv.is_new:
                    self.adoptions.append((conv, n))
            else:
                parent_key = (n.sid, reply_to)
                parent = placed.get(parent_key)
                if parent is not None:
                    assert parent.conv is not None
                    conv, n.parent_id, n.depth = parent.conv, parent.id, parent.depth + 1
                elif parent_key in stored:
                    parent_id, conv_id, depth = stored[parent_key]
                    conv, n.parent_id, n.depth = self.convs_by_id[conv_id], parent_id, depth + 1
                else:
                    n.depth = 1
                    conv = convs.get(parent_key)  # siblings arrived before the parent
                    if conv is None:
                        waiting = convs.get(own)  # our own replies arrived first
                        if waiting is not None:
                            del convs[own]
                            waiting.root_key = reply_to
                            convs[parent_key] = waiting
                            conv = waiting
                            if not conv.is_new:
                                conv.adopt_depth_changed = True
                                self.adoptions.append((conv, n))
                        else:
                            conv = self._new_conv(n.sid, reply_to)
            n.conv = conv
            conv.added.append(n)
            placed[own] = n

    def _new_conv(self, sid: int, root_key: str) -> _Conv:
        conv = _Conv(sid, root_key)
        self.convs[(sid, root_key)] = conv
        return conv

    # -- writes

    def _insert(self, fresh: list[_New]) -> None:
        touched = _unique_convs(fresh)
        created = [c for c in touched if c.is_new]
        for conv, conv_id in zip(
            created, allocate_ids(self.conn, "conversation", len(created)), strict=True
        ):
            conv.id = conv_id
        for conv in touched:
            _summarise(conv)
        now = self.now
        kinds = self.kinds
        self.sql.insert(
            f"INSERT INTO conversation ({_CONV_INSERT}) VALUES ({_marks(_CONV_INSERT)})",
            f"conversation ({_CONV_INSERT})",
            [
                (
                    c.id,
                    c.sid,
                    c.root_key,
                    kinds[c.sid],
                    c.author_id,
                    c.title,
                    c.excerpt,
                    _NEW,
                    _NORMAL,
                    False,
                    c.created_at,
                    c.last_activity_at,
                    now,
                    c.mention_count,
                    1,
                )
                for c in created
            ],
        )
        self.stats.conversations_created = len(created)
        self.stats.conversation_ids = [c.id for c in created]
        rows = []
        documents = []
        counted = []  # for the report rollups
        for n in fresh:
            p = n.p
            conv_id = n.conv.id  # type: ignore[union-attr]
            rows.append(
                (
                    n.id,
                    n.sid,
                    n.ext,
                    conv_id,
                    n.parent_id,
                    n.reply_to,
                    n.depth,
                    n.author_id,
                    n.at,
                    p[P_TITLE],
                    p[P_TEXT],
                    p[P_URL],
                    p[P_LANG],
                    p[P_SENTIMENT],
                    p[P_LABEL],
                    p[P_RAW],
                    now,
                    p[P_EDITED],
                )
            )
            documents.append((n.id, p[P_DOC]))
            counted.append((n.id, n.sid, conv_id, n.author_id, n.at, p[P_LABEL]))
        self.sql.insert(
            f"INSERT INTO mention ({_MENTION_INSERT}) VALUES ({_marks(_MENTION_INSERT)})",
            f"mention ({_MENTION_INSERT})",
            rows,
        )
        # report rollups: one call (SQLite; on PostgreSQL a statement trigger counts them)
        rollup_counts.count_inserted(self.conn, counted)
        # fresh ids: nothing to replace, so PostgreSQL's ON CONFLICT is not needed here
        self.sql.insert(
            search.insert_sql(self.conn.dialect.name), "mention_search (mention_id, doc)", documents
        )

    def _adopt(self) -> None:
        """Replies stored before this batch's mention get it as their parent."""
        for conv, parent in self.adoptions:
            self.conn.execute(
                update(MENTION)
                .where(
                    MENTION.c.conversation_id == conv.id,
                    MENTION.c.parent_id.is_(None),
                    MENTION.c.in_reply_to == parent.ext,
                    MENTION.c.id != parent.id,
                )
                .values(parent_id=parent.id, depth=parent.depth + 1)
            )
            if conv.adopt_depth_changed:
                _redepth(self.conn, conv.id)

    def _update_conversations(self) -> None:
        by_columns: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        events = []
        now = self.now
        for conv in self.convs_by_id.values():
            if not conv.added:
                continue
            before: dict[str, Any] = {"status": conv.status}
            action = None
            if conv.status == _RESOLVED:
                action, conv.resolved_at = "reopen", None
            elif conv.status == _SNOOZED:
                action = "wake"
                before["snooze_until"] = iso(_as_datetime(conv.snooze_until))
                conv.snooze_until = None
            conv.version += 1
            if action:
                conv.status = _OPEN
                after: dict[str, Any] = {"status": conv.status}
                if action == "wake":
                    after["snooze_until"] = None
                first = min(conv.added, key=attrgetter("position"))
                events.append(
                    (
                        conv.id,
                        self.actor,
                        action,
                        conv.version,
                        json.dumps(before, sort_keys=True, ensure_ascii=False),
                        json.dumps(after, sort_keys=True, ensure_ascii=False),
                        f"new mention {first.ext}",
                        now,
                    )
                )
            summary = conv.summary()
            changed = tuple(i for i, v in enumerate(summary) if v != conv.loaded[i])
            by_columns.setdefault(changed, []).append(
                (*(summary[i] for i in changed), conv.mention_count, conv.version, now, conv.id)
            )
        for changed, rows in by_columns.items():
            sets = "".join(f"{_CONV_SUMMARY[i]} = ?, " for i in changed)
            self.sql.many(
                f"UPDATE conversation SET {sets}mention_count = ?, version = ?, updated_at = ?"
                " WHERE id = ?",
                rows,
            )
        self.sql.many(
            _INSERT_EVENTS,
            events,
        )
        self.stats.reopened = len(events)
        # A reopened or woken conversation's SLA clock runs again: the same refresh
        # triage does (a wake credits the snoozed time and moves the deadlines).
        sla.refresh(self.conn, [event[0] for event in events])

    # -- edits of stored mentions

    def _apply_edits(self) -> IngestStats:
        """Stored mentions seen again with a newer edit and other text take the new version."""
        if not self.edits:
            return self.stats
        changed = self._newer_edits()
        if not changed:
            return self.stats
        corrected = "CASE WHEN sentiment_corrected THEN sentiment_label ELSE ? END"
        self.sql.many(
            "UPDATE mention SET text = ?, title = ?, raw = ?, edited_at = ?, sentiment = ?,"
            f" sentiment_label = {corrected} WHERE id = ?",
            [
                (p[P_TEXT], p[P_TITLE], p[P_RAW], p[P_EDITED], p[P_SENTIMENT], p[P_LABEL], mid)
                for p, mid, *_ in changed
            ],
        )
        if not self.pg:  # FTS5 rows are replaced by delete + insert
            self.sql.many("DELETE FROM mention_search WHERE rowid = ?", [(c[1],) for c in changed])
        self.sql.many(
            search.insert_sql(self.conn.dialect.name), [(c[1], c[0][P_DOC]) for c in changed]
        )
        versions = self._edit_conversations(changed)
        events = []
        for p, _mid, conv_id, _root, old_text, old_title, old_edit in changed:
            before: dict[str, Any] = {"text": old_text, "edited_at": iso(_as_datetime(old_edit))}
            after: dict[str, Any] = {"text": p[P_TEXT], "edited_at": iso(_as_datetime(p[P_EDITED]))}
            if p[P_TITLE] != old_title:
                before["title"], after["title"] = old_title, p[P_TITLE]
            events.append(
                (
                    conv_id,
                    self.actor,
                    "edited",
                    versions[conv_id],
                    json.dumps(before, sort_keys=True, ensure_ascii=False),
                    json.dumps(after, sort_keys=True, ensure_ascii=False),
                    f"mention {p[P_EXTERNAL_ID]}",
                    self.now,
                )
            )
        self.sql.many(
            _INSERT_EVENTS,
            events,
        )
        self.stats.edited += len(changed)
        self.stats.duplicates -= len(changed)
        return self.stats

    def _newer_edits(self) -> list[tuple[Any, ...]]:
        """(prepared, mention id, conversation id, is root, old text, old title, old edit)
        of the duplicates whose edit is newer than the stored one and changes the text."""
        wanted: dict[int, list[str]] = {}
        for n in self.edits:
            wanted.setdefault(n.sid, []).append(n.ext)
        stored: dict[tuple[int, str], tuple[Any, ...]] = {}
        for sid, ids in wanted.items():
            rows = self.sql.rows_in(
                "SELECT external_id, id, conversation_id, parent_id, in_reply_to, text, title,"
                " edited_at FROM mention WHERE source_id = ? AND external_id IN ?",
                (sid,),
                ids,
            )
            for external_id, *row in rows:
                stored[(sid, external_id)] = tuple(row)
        changed = []
        for n in self.edits:
            if n.key not in stored:
                continue  # deleted meanwhile by another writer: nothing to edit
            mid, conv_id, parent_id, reply_to, old_text, old_title, old_edit = stored[n.key]
            old_edit = self.sql.read_time(old_edit)
            p = n.p
            if old_edit is not None and p[P_EDITED] <= old_edit:
                continue  # an older or the same edit: what is stored stays
            if p[P_TEXT] == old_text and p[P_TITLE] == old_title:
                continue  # e.g. GitHub moves updated_at for other reasons: nothing to show
            is_root = parent_id is None and reply_to is None
            changed.append((p, mid, conv_id, is_root, old_text, old_title, old_edit))
        return changed

    def _edit_conversations(self, changed: list[tuple[Any, ...]]) -> dict[int, int]:
        """Excerpt (latest mention) and title (root) follow the edits; -> new versions."""
        by_conv: dict[int, list[tuple[Any, ...]]] = {}
        for change in changed:
            by_conv.setdefault(change[2], []).append(change)
        lock = " FOR UPDATE" if self.pg else ""
        rows = self.sql.rows_in(
            f"SELECT id, version, excerpt, title FROM conversation WHERE id IN ?{lock}",
            (),
            by_conv,
        )
        latest_sql = (
            "SELECT id FROM mention WHERE conversation_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1"
        )
        versions: dict[int, int] = {}
        updates = []
        cursor = self.sql.cursor
        for conv_id, version, excerpt, title in rows:
            cursor.execute(latest_sql.replace("?", "%s") if self.pg else latest_sql, (conv_id,))
            latest = cursor.fetchone()[0]
            for p, mid, _conv, is_root, *_ in by_conv[conv_id]:
                if mid == latest:
                    excerpt = one_line(p[P_TEXT])
                if is_root:
                    title = p[P_TITLE] or title
            versions[conv_id] = version + 1
            updates.append((excerpt, title, version + 1, self.now, conv_id))
        self.sql.many(
            "UPDATE conversation SET excerpt = ?, title = ?, version = ?, updated_at = ?"
            " WHERE id = ?",
            updates,
        )
        return versions


def _keep_newest(n: _New, p: Prepared) -> None:
    """Two versions of one mention in one batch: the later edit is the one stored."""
    if n.p[P_EDITED] is None or p[P_EDITED] > n.p[P_EDITED]:
        n.p = p


def _keys(items: list[_New]) -> dict[int, set[str]]:
    """source id -> external ids of `items` and of their parents."""
    keys: dict[int, set[str]] = {}
    for n in items:
        ids = keys.get(n.sid)
        if ids is None:
            ids = keys[n.sid] = set()
        ids.add(n.ext)
        if n.reply_to:
            ids.add(n.reply_to)
    return keys


def _unique_convs(fresh: list[_New]) -> list[_Conv]:
    """The conversations of `fresh`, in first-mention order (a `_Conv` hashes by identity)."""
    convs: dict[_Conv | None, None] = dict.fromkeys(n.conv for n in fresh)
    assert None not in convs
    return list(convs)  # type: ignore[arg-type]


def _summarise(conv: _Conv) -> None:
    """Fold the batch's mentions into the conversation's summary columns."""
    added = conv.added
    if len(added) == 1:
        first = newest = added[0]
    else:
        first, newest = min(added, key=_ORDER), max(added, key=_ORDER)
    if conv.created_at is None or first.at < conv.created_at:
        conv.created_at = first.at
    if conv.last_activity_at is None or newest.at >= conv.last_activity_at:
        conv.last_activity_at = newest.at
        conv.excerpt = one_line(newest.p[P_TEXT])
    conv.mention_count += len(added)
    if conv.root is not None:
        conv.author_id = conv.root.author_id
        conv.title = conv.root.p[P_TITLE] or conv.title
    elif conv.is_new:
        conv.author_id = first.author_id
        conv.title = first.p[P_TITLE]


def _redepth(conn: Connection, conversation_id: int) -> None:
    """Recompute depths from parent links after a re-keyed conversation adopted replies."""
    rows = conn.execute(
        select(MENTION.c.id, MENTION.c.parent_id, MENTION.c.depth).where(
            MENTION.c.conversation_id == conversation_id
        )
    ).all()
    children: dict[int | None, list[int]] = {}
    stored = {}
    for mid, parent_id, depth in rows:
        children.setdefault(parent_id, []).append(mid)
        stored[mid] = (parent_id, depth)
    depth_of: dict[int, int] = {}
    # tops: no parent, or a parent outside this conversation
    queue = [mid for mid, (parent_id, _) in stored.items() if parent_id not in stored]
    for mid in queue:
        depth_of[mid] = stored[mid][1]
    while queue:
        nxt = []
        for mid in queue:
            for child in children.get(mid, ()):
                if child not in depth_of:
                    depth_of[child] = depth_of[mid] + 1
                    nxt.append(child)
        queue = nxt
    changes = [
        {"b_id": mid, "b_depth": depth}
        for mid, depth in depth_of.items()
        if depth != stored[mid][1]
    ]
    if changes:
        conn.execute(
            update(MENTION)
            .where(MENTION.c.id == bindparam("b_id"))
            .values(depth=bindparam("b_depth")),
            changes,
        )


def _parents_first(items: list[_New]) -> list[_New]:
    """Input order, except that a parent in the same batch comes before its replies."""
    index = {(n.sid, n.ext): i for i, n in enumerate(items)}
    for i, n in enumerate(items):
        if n.reply_to and index.get((n.sid, n.reply_to), -1) > i:
            break
    else:
        return items  # the usual case: every parent in the batch comes first already
    done = [False] * len(items)
    out: list[_New] = []
    for start in range(len(items)):
        chain: list[int] = []
        on_chain: set[int] = set()
        j: int | None = start
        while j is not None and not done[j] and j not in on_chain:
            chain.append(j)
            on_chain.add(j)
            reply_to = items[j].reply_to
            j = index.get((items[j].sid, reply_to)) if reply_to else None
        for k in reversed(chain):
            done[k] = True
            out.append(items[k])
    return out
