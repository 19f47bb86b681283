"""Engine, pragmas, sessions and migrations: where processes meet.

One `Database` per process. SQLite runs in WAL mode with a busy timeout and
foreign keys on; write transactions start with `BEGIN IMMEDIATE` so that two
writers queue on the lock instead of failing mid-transaction with "database is
locked". PostgreSQL needs nothing special: optimistic concurrency (the
`version` column) is enforced by the services with a conditional UPDATE.

Migrations run on open. A SQLite file whose schema is about to change is first
copied (SQLite backup API, consistent even while others write) next to itself.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from inboxtui import paths
from inboxtui.timeutil import utcnow

BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """A database that cannot be opened or migrated; the message says which and why."""


def resolve_url(target: str | None = None) -> str:
    """`--db` value, else `$INBOXTUI_DB`, else the default file in the data directory.

    A value containing `://` is a SQLAlchemy URL; anything else is a file path.
    """
    target = target or os.environ.get("INBOXTUI_DB") or str(paths.default_database())
    if "://" in target:
        url = make_url(target)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    path = Path(target).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy (not pysqlite) decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@dataclass
class Database:
    url: str
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_name(self) -> str:
        """Where the data is, without a password, for headers and messages."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            return url.database or ":memory:"
        return url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (a consistent snapshot on both backends)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits on success, rolls back on any exception."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise

    def data_version(self, conn: Connection) -> int:
        """SQLite's per-connection change counter: moves when another connection commits."""
        return int(conn.exec_driver_sql("PRAGMA data_version").scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config() -> Config:
    config = Config()
    location = resources.files("inboxtui.migrations")
    config.set_main_option("script_location", str(location))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _backup_sqlite(engine: Engine, revision: str | None) -> Path | None:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:" or revision is None:
        return None
    path = Path(database)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    backup = path.with_name(f"{path.name}.backup-{revision}-{stamp}")
    source = sqlite3.connect(path)
    target = sqlite3.connect(backup)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return backup


def upgrade(engine: Engine) -> Path | None:
    """Bring the schema to head. Returns the backup path when one was made."""
    current = current_revision(engine)
    if current == head_revision():
        return None
    backup = _backup_sqlite(engine, current) if engine.dialect.name == "sqlite" else None
    config = _alembic_config()
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations recreate tables; cascades must not fire meanwhile.
            # A pragma only takes effect outside a transaction, so use the driver.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    return backup


def open_database(target: str | None = None, *, migrate: bool = True) -> Database:
    """Open (and by default migrate) the database named by `target`, `$INBOXTUI_DB` or default."""
    url = resolve_url(target)
    try:
        if url.startswith("sqlite"):
            engine = _sqlite_engine(url)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        database = Database(url=url, engine=engine)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if migrate:
            upgrade(engine)
    except DatabaseError:
        raise
    except Exception as exc:  # driver errors: bad path, server down, auth...
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseError(f"cannot open database {shown}: {exc}") from exc
    return database
