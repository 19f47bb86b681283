"""Notice, within a second, that another process changed the shared database.

Two probes, one question ("has anything changed since I last asked?"):
- SQLite: `PRAGMA data_version` on a dedicated connection. It moves whenever
  any *other* connection commits (other processes, and our own pool), and
  costs one page-cache lookup, so polling every 250 ms is free.
- PostgreSQL: a probe of O(1) index lookups (newest event id, newest mention
  id, newest conversation id, sources' last poll). Every service call writes
  an audit event and every ingest writes mentions, so those maxima move with
  every change that matters to the queue. (LISTEN/NOTIFY would need triggers
  or NOTIFY calls in the services; the probe needs neither and costs ~1 ms.)

`Watcher` runs the probe on a daemon thread and calls `on_change` (from that
thread) when it fires; tests call `check()` directly instead of waiting.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import make_url

from inboxtui.db import Database

SQLITE_INTERVAL = 0.25
POSTGRES_INTERVAL = 1.0


class Probe(Protocol):
    def token(self) -> object:
        """A value that differs after another connection commits a change."""

    def close(self) -> None: ...


class SqliteProbe:
    """`PRAGMA data_version` on a connection of our own (never shared with the pool)."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()

    def token(self) -> object:
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_PG_PROBE = text(
    "SELECT (SELECT max(id) FROM event), (SELECT max(id) FROM mention),"
    " (SELECT max(id) FROM conversation), (SELECT max(last_polled_at) FROM source),"
    " (SELECT count(*) FROM source WHERE last_error IS NOT NULL)"
)


class PostgresProbe:
    """Maxima of append-only ids: index-only lookups, cheap at any size."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def token(self) -> object:
        with self._db.engine.connect() as conn:
            return tuple(conn.execute(_PG_PROBE).one())

    def close(self) -> None:
        pass


def probe_for(db: Database) -> tuple[Probe, float]:
    """The right probe for this database and how often to ask it (seconds)."""
    if db.dialect == "sqlite":
        path = make_url(db.url).database
        if path and path != ":memory:":
            return SqliteProbe(path), SQLITE_INTERVAL
    return PostgresProbe(db), POSTGRES_INTERVAL


class Watcher:
    """Polls a probe on a daemon thread; `on_change()` runs on that thread."""

    def __init__(
        self,
        db: Database,
        on_change: Callable[[], None],
        *,
        interval: float | None = None,
    ) -> None:
        self._probe, default_interval = probe_for(db)
        self.interval = interval or default_interval
        self._on_change = on_change
        self._last: object = self._safe_token()
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _safe_token(self) -> object:
        try:
            return self._probe.token()
        except Exception:  # a transient error (server restart) must not kill the TUI
            return None

    def check(self) -> bool:
        """Ask the probe once; True (and `on_change` called) when something changed."""
        with self._check_lock:
            token = self._safe_token()
            if token is None or token == self._last:
                return False
            self._last = token
        self._on_change()
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inboxtui-live", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._probe.close()
