"""A report's figures computed side by side, each on a read connection of its own.

A report is a dozen independent statements; one connection runs them one
after another, and on a 1,000,000-mention store the sum is what a lead waits
for. The database does the work (SQLite and the PostgreSQL driver release
Python's GIL while a statement runs), so threads with a connection each run
them in parallel, up to the machine's cores.

The price: each connection reads its own snapshot. A report taken while an
import commits may count a few mentions in one figure and not in another,
exactly as two reports a second apart would differ; every figure on its own
stays exact. Only a session bound to an engine shares out: a caller's own
connection (a test's open transaction) or an in-memory SQLite database (one
database per connection) runs every figure in order on that session.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

T = TypeVar("T")
# more threads than cores only queue up; past four, a report's longest figure dominates
MAX_WORKERS = 4


def workers() -> int:
    """Threads a report uses: the cores, at most `MAX_WORKERS` (1: in order, no threads)."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def shareable_engine(session: Session) -> Engine | None:
    """The engine whose other connections see what `session` sees, or None."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return None
    if bind.dialect.name == "sqlite" and bind.url.database in (None, "", ":memory:"):
        return None
    return bind


class Figures:
    """Submit figure computations; each gets a session and returns its figure.

    In parallel, a computation runs on a fresh session from the engine's
    pool; in order, on the caller's session at once (so a computation may
    wait on an earlier one's future either way). Seconds spent per name are
    added to `timings`.
    """

    def __init__(self, session: Session, timings: dict[str, float], threads: int) -> None:
        self._session = session
        self._timings = timings
        self._lock = threading.Lock()
        self._engine = shareable_engine(session) if threads > 1 else None
        self._pool = ThreadPoolExecutor(threads, "report") if self._engine else None

    def __enter__(self) -> Figures:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=error is not None)

    def submit(self, name: str, compute: Callable[[Session], T]) -> Future[T]:
        if self._pool is None:
            future: Future[T] = Future()
            try:
                future.set_result(self._timed(name, compute, self._session))
            except Exception as exc:  # raised by .result(), as from a thread
                future.set_exception(exc)
            return future
        return self._pool.submit(self._own_session, name, compute)

    def _own_session(self, name: str, compute: Callable[[Session], T]) -> T:
        with Session(self._engine, expire_on_commit=False) as session:
            return self._timed(name, compute, session)

    def _timed(self, name: str, compute: Callable[[Session], T], session: Session) -> T:
        started = time.perf_counter()
        try:
            return compute(session)
        finally:
            spent = time.perf_counter() - started
            with self._lock:
                self._timings[name] = self._timings.get(name, 0.0) + spent


__all__ = ["MAX_WORKERS", "Figures", "shareable_engine", "workers"]
