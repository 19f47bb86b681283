"""Figures computed side by side (`reports.parallel`) equal those computed in order.

And a caller's own connection is respected: a report run inside an open
transaction sees that transaction's rows, so its figures must not move to
other connections.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlmodel import Session

from inboxtui.db import Database, open_database
from inboxtui.reports import compute_report, make_period
from inboxtui.reports.parallel import Figures, shareable_engine
from inboxtui.seed import seed_demo
from inboxtui.timeutil import utcnow

TOPICS = [("battery", "battery OR 電池 OR 电池"), ("refund", "refund OR 退款")]


@pytest.mark.parametrize("query", ["", "refund", "role:support"])
def test_parallel_and_in_order_reports_are_equal(db: Database, query: str) -> None:
    seed_demo(db, 400, seed=5)
    now = utcnow()
    period = make_period("7d", now=now)
    reports = []
    for threads in (1, 4):
        with db.read() as session:
            reports.append(
                compute_report(
                    session, period, query=query, topics=TOPICS, now=now, threads=threads
                )
            )
    in_order, parallel = reports
    assert in_order.total > 0
    assert parallel == in_order


def test_figures_run_on_other_threads_and_connections(sqlite_db: Database) -> None:
    seen: set[tuple[int, int]] = set()

    def where(session: Session) -> None:
        raw = session.connection().connection.driver_connection
        seen.add((threading.get_ident(), id(raw)))
        threading.Event().wait(0.05)  # hold the thread so the next figure takes another

    with sqlite_db.read() as session, Figures(session, {}, threads=2) as figures:
        futures = [figures.submit("x", where) for _ in range(4)]
    for future in futures:
        future.result()
    assert len({thread for thread, _ in seen}) == 2
    assert threading.get_ident() not in {thread for thread, _ in seen}
    assert len({conn for _, conn in seen}) >= 2


def test_a_report_inside_a_transaction_counts_its_uncommitted_rows(sqlite_db: Database) -> None:
    seed_demo(sqlite_db, 100, seed=5)
    now = utcnow()
    period = make_period("30d", now=now)
    with sqlite_db.read() as session:
        before = compute_report(session, period, topics=[], now=now).total
    with sqlite_db.engine.connect() as conn:
        transaction = conn.begin()
        # ten mentions moved out of the period, visible to this transaction only
        conn.execute(
            text(
                "UPDATE mention SET created_at = '2000-01-01 00:00:00.000000'"
                " WHERE id IN (SELECT id FROM mention ORDER BY id LIMIT 10)"
            )
        )
        session = Session(bind=conn)
        assert shareable_engine(session) is None
        during = compute_report(session, period, topics=[], now=now, threads=4).total
        transaction.rollback()
    assert during == before - 10


def test_an_in_memory_database_is_never_shared_out() -> None:
    database = open_database("sqlite://")
    try:
        with database.read() as session:
            assert shareable_engine(session) is None
    finally:
        database.dispose()


def test_a_failing_figure_raises_from_the_report(sqlite_db: Database) -> None:
    def broken(session: Session) -> None:
        raise LookupError("no such figure")

    with sqlite_db.read() as session, Figures(session, {}, threads=2) as figures:
        future = figures.submit("broken", broken)
    with pytest.raises(LookupError, match="no such figure"):
        future.result()


def test_timings_add_up_per_figure(sqlite_db: Database) -> None:
    spent: dict[str, float] = {}
    with sqlite_db.read() as session, Figures(session, spent, threads=2) as figures:
        for _ in range(3):
            figures.submit("pause", lambda s: threading.Event().wait(0.02))
    assert spent["pause"] >= 3 * 0.02 - 0.005
