"""PostgreSQL statistics refreshed right after a bulk import.

The planner picks its plans (walk the queue's index in order, or collect the
matches and sort them) from statistics, and a table without any, or with
statistics from before a big import, gets guesses: measured at 100,000 mentions,
`followers:>10000` took 80 ms instead of 5 and `sentiment:negative` 200 ms
instead of 20 ms until the tables were analyzed. Autovacuum analyzes a table
once about a tenth of it changed, but up to a minute later, and not at all
where it is switched off; PostgreSQL's documentation advises ANALYZE after a
bulk load. `after_import` does what autovacuum would, at once. SQLite's plans
here do not use statistics (`query._SqlitePlanner` measures instead).
"""

from __future__ import annotations

from sqlalchemy import text

from inboxtui.db import Database

# Tables an import writes: mentions, their search documents, threads, authors.
TABLES = ("mention", "mention_search", "conversation", "author")
# autovacuum's defaults: analyze after 50 + 10% of a table's rows changed
BASE_THRESHOLD = 50
SCALE_FACTOR = 0.1


def due(changed: int, analyzed_rows: float) -> bool:
    """Whether `changed` rows since the last ANALYZE are enough for a table that had
    `analyzed_rows` then (negative: never analyzed) to be analyzed again, by autovacuum's rule."""
    return changed > BASE_THRESHOLD + SCALE_FACTOR * max(analyzed_rows, 0.0)


def after_import(db: Database, inserted: int) -> bool:
    """ANALYZE the imported tables when mentions changed enough since their last ANALYZE.

    `inserted`: mentions this import added (the server's own count of changes
    may lag behind by a second). Returns whether it ran. A table the user does
    not own is skipped by the server with a warning, not an error.
    """
    if db.dialect != "postgresql" or inserted <= BASE_THRESHOLD:
        return False
    with db.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class AS c"
                " LEFT JOIN pg_stat_user_tables AS s ON s.relid = c.oid"
                " WHERE c.oid = to_regclass('mention')"
            )
        ).one_or_none()
        if found is None:
            return False
        analyzed_rows, changed = float(found[0]), int(found[1])
        if not due(max(inserted, changed), analyzed_rows):
            return False
        for table in TABLES:
            conn.execute(text(f"ANALYZE {table}"))
        conn.commit()
    return True
