"""WAL checkpoints of a bulk write run (SQLite), off the writing thread.

Why: SQLite checkpoints at commit once the WAL is big enough (`wal_autocheckpoint`):
the committing writer copies the WAL into the database file and syncs both
before it returns, and an import's writer spent a good part of its time
waiting on the disk there. Here a thread with its own connection runs a
PASSIVE checkpoint (it never blocks the writer or readers; the sqlite3 module
lets go of the GIL meanwhile) after each commit, while the writer goes on
with the next batch.

The WAL restarts from its beginning only when a write transaction starts
with every frame copied. A checkpoint overlapping the writer never gets
there, so once the WAL holds `limit_pages` the writer waits (`before_write`)
for one checkpoint of everything committed, and the next transaction starts
the WAL afresh: the WAL stays bounded, as with automatic checkpoints. At the
end (`close`) one last checkpoint runs, so the run leaves no big WAL for the
next writer's commit to copy.
"""

from __future__ import annotations

import sqlite3
import threading

LIMIT_PAGES = 65_536  # WAL frames (256 MB of 4 KiB pages) before the writer waits for a restart


class Checkpoints:
    """A checkpointing thread for one database file; `close()` it (it joins the thread)."""

    def __init__(self, path: str, *, limit_pages: int = LIMIT_PAGES) -> None:
        self.path = path
        self.limit_pages = limit_pages
        self.frames = 0  # frames in the WAL at the end of the last checkpoint
        self.error: BaseException | None = None
        self._wanted = 0  # checkpoints asked for (a counter: `wait` knows which one it waits for)
        self._done = 0
        self._closing = False
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def after_commit(self) -> None:
        """Ask for a checkpoint of what was just committed (does not wait)."""
        with self._lock:
            self._wanted += 1
            self._lock.notify_all()

    def before_write(self) -> None:
        """Before a write transaction: the checkpoints keep up, and a big WAL restarts.

        The writer runs at most one checkpoint ahead (so `frames` is recent, and a
        slow disk slows the writer rather than growing the WAL); once the WAL holds
        `limit_pages`, it waits for a checkpoint of everything committed, so that
        this transaction starts the WAL afresh.
        """
        if self.error is not None:
            return
        with self._lock:
            self._wait_until(self._wanted - 1)
        if self.frames >= self.limit_pages:
            self.after_commit()
            self.wait()
            self.frames = 0  # the coming transaction starts the WAL afresh

    def wait(self) -> None:
        """Until every checkpoint asked for so far has run."""
        with self._lock:
            self._wait_until(self._wanted)

    def _wait_until(self, count: int) -> None:
        while self._done < count and self._thread.is_alive():
            self._lock.wait(0.5)

    def close(self) -> None:
        """One last checkpoint, then stop the thread."""
        self.after_commit()
        self.wait()
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self._thread.join()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self.error = exc
            return
        try:
            while True:
                with self._lock:
                    while self._done >= self._wanted and not self._closing:
                        self._lock.wait()
                    if self._done >= self._wanted:
                        return
                    target = self._wanted
                try:
                    _busy, log, _copied = connection.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                    self.frames = max(log, 0)
                except sqlite3.Error as exc:  # e.g. the file went away: the writer's own
                    self.error = exc  # checkpoints are off, so say so; nothing is lost
                    self.frames = 0
                with self._lock:
                    self._done = target
                    self._lock.notify_all()
        finally:
            connection.close()
            with self._lock:
                self._done = self._wanted
                self._lock.notify_all()
