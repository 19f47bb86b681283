"""Shared fixtures: real databases on disk and on the real PostgreSQL server.

`db` runs a test once on a SQLite file and once on PostgreSQL (a schema of its
own in database `test`, so parallel runs and other users are left alone).
Migrations run once per session per backend; each test then starts empty.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# the scripted local HTTP server of the adapter tests, for every test that talks HTTP
from sources.conftest import http_server  # noqa: F401
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from inboxtui.db import Database, open_database

PG_SERVER = os.environ.get("INBOXTUI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test out of the real data/config directories and agent identity."""
    monkeypatch.setenv("INBOXTUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INBOXTUI_DB", raising=False)
    monkeypatch.setenv("INBOXTUI_AGENT", "tester")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = open_database(str(path))
    database.dispose()
    return path


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "inbox.db"
    shutil.copy(sqlite_template, path)
    database = open_database(str(path))
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    schema = f"inboxtui_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - environment problem, said loudly
        pytest.fail(f"PostgreSQL at {PG_SERVER} is not reachable: {exc}")
    url = f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    open_database(url).dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    database = open_database(pg_url)
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables}, mention_search RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test against both backends."""
    return request.getfixturevalue(f"{request.param}_db")
