"""WAL checkpoints off the writer (`inboxtui.wal_checkpoints`, used by `BulkWrites`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inboxtui.db import open_database
from inboxtui.ingest import BulkWrites, MentionIn, prepare
from inboxtui.wal_checkpoints import Checkpoints

PAGE = 4096


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the bulk writer runs: checkpoints are ours
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    return conn


def _commit_rows(conn: sqlite3.Connection, start: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO t (id, v) VALUES (?, ?)", [(i, "x" * 500) for i in range(start, start + 400)]
    )
    conn.execute("COMMIT")


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // PAGE if wal.exists() else 0


def test_the_wal_stays_bounded_and_ends_copied(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = _writer(path)
    checkpoints = Checkpoints(str(path), limit_pages=200)
    for batch in range(40):  # ~60 pages a commit: 2,400 pages without checkpoints
        checkpoints.before_write()
        _commit_rows(conn, batch * 400)
        checkpoints.after_commit()
    checkpoints.close()
    assert checkpoints.error is None
    # bounded: the limit plus what was written while the last checkpoints ran
    assert _wal_pages(path) < 600
    busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, log) == (0, copied)  # close() left nothing to copy
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 16_000
    conn.close()


def test_without_checkpoints_the_same_writes_grow_the_wal(tmp_path: Path) -> None:
    """The control for the bound above: the writer's own checkpoints are off."""
    path = tmp_path / "t.db"
    conn = _writer(path)
    for batch in range(40):
        _commit_rows(conn, batch * 400)
    assert _wal_pages(path) > 2000
    conn.close()


def test_bulk_writes_checkpoint_in_a_thread_and_restore_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "bulk.db"
    db = open_database(str(path))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    mentions = [
        MentionIn(
            kind="mastodon",
            source="acme",
            external_id=str(i),
            created_at=start + timedelta(seconds=i),
            text=f"mention {i}",
            author_handle=f"@a{i % 50}",
        )
        for i in range(5000)
    ]
    try:
        with BulkWrites(db) as bulk:
            for first in (0, 2500):
                batch = [prepare(m, "sqlite") for m in mentions[first : first + 2500]]
                bulk.ingest(batch, offset=first)
                assert bulk.checkpoints is not None  # big batches: a thread checkpoints
                autocheckpoint = bulk.conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_autocheckpoint"
                ).fetchone()[0]
                assert autocheckpoint == 0
            pool_connection = bulk.conn.connection.driver_connection  # type: ignore[union-attr]
        assert bulk.checkpoints is None
        assert pool_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0
        check = sqlite3.connect(path)
        busy, log, copied = check.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, log) == (0, copied)
        assert check.execute("SELECT count(*) FROM mention").fetchone()[0] == 5000
        check.close()
    finally:
        db.dispose()
