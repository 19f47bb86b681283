"""PostgreSQL planning pieces (`inboxtui.pg_plan`) on the real server."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy.exc import OperationalError

from inboxtui import pg_plan
from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.interchange import import_jsonl


def _import(db: Database, texts: list[str]) -> None:
    lines = [
        json.dumps(
            {
                "kind": "mastodon",
                "source": "acme-social",
                "external_id": f"m{i}",
                "created_at": f"2026-11-20T10:{i:02d}:00Z",
                "text": body,
                "author": {"handle": f"@user{i}@mastodon.social"},
            }
        )
        for i, body in enumerate(texts)
    ]
    assert import_jsonl(db, io.StringIO("\n".join(lines) + "\n"), parallel=False).inserted


def _settings(session) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    row = (
        session.connection()
        .exec_driver_sql(
            "SELECT current_setting('statement_timeout'),"
            " current_setting('max_parallel_workers_per_gather'), current_setting('jit')"
        )
        .one()
    )
    return tuple(row)


def test_budget_stops_a_statement_and_keeps_the_transaction(pg_db: Database) -> None:
    with pg_db.read() as session:
        before = _settings(session)
        with pytest.raises(OperationalError) as info, pg_plan.budget(session, 1):
            assert _settings(session) == ("1ms", "0", "off")
            session.connection().exec_driver_sql("SELECT pg_sleep(0.2)")
        assert pg_plan.canceled(info.value)
        assert q._interrupted(info.value)
        assert _settings(session) == before  # put back, and the transaction still works
        with pg_plan.budget(session, 5000):
            session.connection().exec_driver_sql("SELECT pg_sleep(0.01)")
        assert _settings(session) == before


def test_probe_hands_over_few_conversations(pg_db: Database) -> None:
    _import(pg_db, ["申请退款 please", "退款 again", "nothing here", "refund"])
    with pg_db.read() as session:
        found, conversations = pg_plan.probe(session, "'退款'", few=5)
        assert found == 2 and conversations is not None and len(conversations) == 2
        found, conversations = pg_plan.probe(session, "'退款'", few=1)
        assert found == 2 and conversations is None  # counted up to few + 1, no ids
        assert pg_plan.recent_hits(session, "'退款'", 3) == 1  # the newest three mentions


def test_every_plan_finds_the_same_page(pg_db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _import(pg_db, [f"battery {i}" if i % 3 else f"refund {i} 退款" for i in range(40)])

    def page(text: str) -> list[int]:
        with pg_db.read() as session:
            return [r.id for r in q.fetch_page(session, text, limit=5).rows]

    planned = {text: page(text) for text in ("退款", "battery", "-battery", "refund OR 退款")}
    monkeypatch.setattr(q._PostgresPlanner, "IDS_MAX", -1)  # many: walk
    assert {text: page(text) for text in planned} == planned
    monkeypatch.setattr(q._PostgresPlanner, "DENSE", 0.0)  # dense at once: walk
    assert {text: page(text) for text in planned} == planned
    monkeypatch.setattr(q._PostgresPlanner, "SCAN_FIRST", False)  # collect
    assert {text: page(text) for text in planned} == planned
