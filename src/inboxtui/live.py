"""Notice, within a second, that another process changed the shared database.

Two probes, one question ("has anything changed since I last asked?"):
- SQLite: `PRAGMA data_version` on a dedicated connection. It moves whenever
  any *other* connection commits (other processes, and our own pool), and
  costs one page-cache lookup, so polling every 250 ms is free.
- PostgreSQL: LISTEN on a dedicated connection. Statement-level triggers on the
  tables the queue shows (migration 0009) `pg_notify` a channel named after the
  schema at every commit that touched them, whoever the writer is (another
  inboxtui, an older version's poller, a script in psql). The listener wakes
  as the notification arrives, so a change shows at once and an idle inbox
  costs the server nothing. A lost connection is retried, and counts as a
  change once it is back (notifications sent meanwhile are gone).

`Watcher` runs the probe on a daemon thread and calls `on_change` (from that
thread) when it fires; tests call `check()` directly instead of waiting.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import make_url

from inboxtui.db import Database

if TYPE_CHECKING:
    import psycopg

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


def channel_for(schema: str) -> str:
    """The NOTIFY channel of one schema: teams sharing a server stay apart (as the triggers)."""
    return f"inboxtui_{schema}"[:63]


class PostgresListener:
    """LISTEN on the schema's channel; the token counts notifications received.

    One autocommit psycopg connection of its own (a pooled connection would be
    handed to other work between reads). `wait` blocks until a notification
    arrives or the timeout passes, which is what makes the watcher instant.
    """

    GRACE = 0.05  # seconds `token` waits for a notification still on its way

    def __init__(self, db: Database) -> None:
        url = make_url(db.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._generation = 0  # bumped by every (re)connection: a gap counts as a change
        self._received = 0
        self._connect()

    def _connect(self) -> bool:
        import psycopg  # here, not at the top: SQLite users never pay for importing it
        from psycopg import sql

        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            schema = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel_for(schema))))
        except psycopg.Error:
            return False
        self._conn = conn
        self._generation += 1
        return True

    def _drain(self, timeout: float) -> bool:
        """Read notifications (waiting up to `timeout` for the first); False: no connection."""
        if self._conn is None and not self._connect():
            return False
        conn = self._conn
        assert conn is not None
        import psycopg

        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                self._received += 1
            for _ in conn.notifies(timeout=0):
                self._received += 1
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            self._conn = None
            return False
        return True

    def token(self) -> object:
        with self._lock:
            if not self._drain(self.GRACE):
                return None
            return (self._generation, self._received)

    def wait(self, timeout: float) -> None:
        with self._lock:
            if not self._drain(timeout):
                time.sleep(timeout)  # the server is away: try again after a pause

    def close(self) -> None:
        import psycopg

        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None


def probe_for(db: Database) -> tuple[Probe, float]:
    """The right probe for this database and how often to ask it (seconds)."""
    if db.dialect == "sqlite":
        path = make_url(db.url).database
        if path and path != ":memory:":
            return SqliteProbe(path), SQLITE_INTERVAL
    return PostgresListener(db), POSTGRES_INTERVAL


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
        wait = getattr(self._probe, "wait", None)
        while not self._stop.is_set():
            if wait is not None:
                wait(self.interval)  # returns as soon as a notification arrives
            elif self._stop.wait(self.interval):
                break
            if not self._stop.is_set():
                self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._probe.close()
