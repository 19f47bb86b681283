"""Alembic environment: runs on the connection `inboxtui.db.upgrade` hands over.

From the command line (`alembic -c alembic.ini revision --autogenerate`) it
opens `$INBOXTUI_DB` (or the default database) itself.
"""

from alembic import context
from sqlmodel import SQLModel

import inboxtui.models  # noqa: F401  (registers the tables)
from inboxtui.search import UNMODELLED_INDEXES, UNMODELLED_TABLES

target_metadata = SQLModel.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """The full-text index and one backend's indexes are created by hand, not models."""
    if type_ == "table" and name in UNMODELLED_TABLES:
        return False
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from inboxtui.db import open_database

        database = open_database(migrate=False)
        with database.engine.connect() as connection, connection.begin():
            _configure_and_run(connection)
        return
    _configure_and_run(connection)


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()


run()
