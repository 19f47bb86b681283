"""Databases for the benchmarks: a seeded SQLite file cached in /tmp, a scratch PostgreSQL schema.

Seeding a million mentions takes minutes, so the file is kept between runs,
keyed by a hash of the migrations (a changed schema seeds afresh) and written
under a temporary name, renamed when complete.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from inboxtui.db import Database, open_database
from inboxtui.seed import seed_demo

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"


def schema_key() -> str:
    """A short hash of the migration files."""
    digest = hashlib.sha1()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def seeded_sqlite(n: int) -> Database:
    """`n` demo mentions in `/tmp/inboxtui-bench-<n>-<schema>.db`, seeded on first use.

    `INBOXTUI_BENCH_SQLITE_<n>` names an existing copy to use instead (opening
    it migrates it in place): reseeding a million after each new migration
    costs minutes.
    """
    override = os.environ.get(f"INBOXTUI_BENCH_SQLITE_{n}")
    if override:
        return open_database(override)
    path = Path(f"/tmp/inboxtui-bench-{n}-{schema_key()}.db")
    if not path.exists():
        for stale in Path("/tmp").glob(f"inboxtui-bench-{n}-*"):
            stale.unlink()  # an older schema's copy, or a partial one
        partial = path.with_suffix(".partial")
        print(f"seeding {n:,} mentions into {path} (cached for next runs) ...", flush=True)
        started = time.perf_counter()
        db = open_database(str(partial))
        seed_demo(db, n)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        partial.rename(path)
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
    return open_database(str(path))


@contextmanager
def scratch_schema(server: str, prefix: str = "inboxtui_bench") -> Iterator[str]:
    """A fresh schema on the PostgreSQL `server`, dropped afterwards; yields its URL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
