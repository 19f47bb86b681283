"""The models and the migrations describe the same schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Integer, column, text
from sqlmodel import SQLModel

from inboxtui import search
from inboxtui.db import Database, current_revision, head_revision, open_database, upgrade


def _include(obj, name, type_, reflected, compare_to) -> bool:
    if type_ == "table" and name in search.UNMODELLED_TABLES:
        return False
    return not (type_ == "index" and name in search.UNMODELLED_INDEXES)


def test_autogenerate_finds_no_difference(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": _include, "compare_type": True}
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_database_is_at_head_with_search_index(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mention_search")).scalar_one() == 0


def test_sqlite_maps_matches_to_conversations_from_its_narrow_index(sqlite_db: Database) -> None:
    """`search.conversations_of` names the index: a rebuild of `mention` must keep it."""
    with sqlite_db.engine.connect() as conn:
        found = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"),
            {"n": search.CONVERSATION_OF_INDEX},
        ).scalar_one()
        assert "WHERE id > 0" in found
        ids = text("SELECT 1").columns(column("value", Integer))
        statement = search.conversations_of("sqlite", ids)
        plan = " ".join(
            str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {statement}")).all()
        )
    assert search.CONVERSATION_OF_INDEX in plan


def test_sqlite_pragmas(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000


def test_old_schema_is_backed_up_before_upgrade(tmp_path) -> None:
    path = tmp_path / "old.db"
    database = open_database(str(path))
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    database.dispose()
    # A revision we don't know means "not at head": upgrade must refuse it loudly,
    # after making the backup, rather than guess.
    database = open_database(str(path), migrate=False)
    try:
        upgrade(database.engine)
    except Exception as exc:
        assert "older" in str(exc)
    backups = list(tmp_path.glob("old.db.backup-older-*"))
    assert len(backups) == 1
    assert backups[0].stat().st_size > 0
