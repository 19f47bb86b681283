"""PostgreSQL's side of `query.fetch_page` planning: probe, walk, budget.

PostgreSQL's planner chooses well between walking the queue's activity index
in order (testing each conversation) and collecting every match first, but
only from statistics, and a full-text match has none it can trust: a prefix
or a phrase is guessed, and a table loaded a minute ago (autovacuum off, or
not yet run) has none at all. Measured at 100,000 mentions, a wrong guess
costs 300-400 ms (`acme`, two thirds of all mentions, collected and sorted)
against 1 ms walked. So `_PostgresPlanner` decides from the data instead:

- `recent_hits`: how densely the newest mentions match; dense: walk at once;
- `probe`: a bounded count of the index's matches; when few, their
  conversations, handed to the page's query as one array value;
- many: `walk_exists`, a per-conversation test the planner cannot turn back
  into "collect first", run under `budget` (a statement timeout in a
  savepoint) in case the matches are rare among the conversations walked;
  when the budget runs out the page is planned again without it.

Every shape returns the same rows; only the time differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Integer, any_, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

# The bitmap of matches is built in a CTE planned for all its rows (so a common
# word cannot talk the planner into a sequential scan that reads the table to
# find the first few thousand) and read lazily up to the cap. The mapping to
# conversations is a primary-key lookup per mention, done only when few.
_PROBE = text(
    "WITH hits AS MATERIALIZED ("
    " SELECT mention_id FROM mention_search WHERE doc @@ CAST(:q AS tsquery)),"
    " first AS MATERIALIZED (SELECT mention_id FROM hits LIMIT :cap)"
    " SELECT (SELECT count(*) FROM first),"
    " CASE WHEN (SELECT count(*) FROM first) <= :few THEN"
    "  (SELECT coalesce(array_agg(DISTINCT (SELECT m.conversation_id FROM mention AS m"
    "   WHERE m.id = first.mention_id)), '{}') FROM first) END"
)

# How many of the newest indexed mentions match: a walk in the queue's default
# order meets matches about that densely. A fixed cost (one index range).
_RECENT = text(
    "SELECT count(*) FROM (SELECT doc FROM mention_search"
    " ORDER BY mention_id DESC LIMIT :n) AS recent WHERE doc @@ CAST(:q AS tsquery)"
)

_SAVEPOINT = "inboxtui_walk"
QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout


def probe(session: Session, expression: str, few: int) -> tuple[int, list[int] | None]:
    """Mentions matching the tsquery `expression`, counted up to `few` + 1, and,
    when at most `few`, the ids of their conversations (else None)."""
    found, conversations = (
        session.connection().execute(_PROBE, {"q": expression, "cap": few + 1, "few": few}).one()
    )
    return int(found), None if conversations is None else [int(i) for i in conversations]


def recent_hits(session: Session, expression: str, sample: int) -> int:
    """How many of the newest `sample` mentions match the tsquery `expression`."""
    found = session.connection().execute(_RECENT, {"q": expression, "n": sample}).scalar_one()
    return int(found)


def in_conversations(column: Any, ids: Sequence[int], name: str = "conversation_ids") -> Any:
    """`column = ANY(:ids)`: one array value, however many ids (the planner sees its length)."""
    values = bindparam(name, list(ids), type_=ARRAY(Integer), unique=True)
    return column == any_(values)


def walk_exists(expression: str) -> Any:
    """Whether the current `conversation` row has a mention matching `expression`.

    `OFFSET 0` keeps the EXISTS a per-row test: without it the planner may pull
    it up into a semi-join or a hashed subplan, which collects every match. The
    document is read by a scalar subquery (a primary-key lookup per mention of
    the conversation): as a join, a planner without statistics searched the
    whole index once per conversation.
    """
    return text(
        "EXISTS (SELECT 1 FROM mention WHERE mention.conversation_id = conversation.id"
        " AND (SELECT doc FROM mention_search WHERE mention_search.mention_id = mention.id)"
        " @@ CAST(:walk_q AS tsquery) OFFSET 0)"
    ).bindparams(bindparam("walk_q", expression, unique=True))


@contextmanager
def budget(session: Session, milliseconds: int) -> Iterator[None]:
    """Run the statements inside with a statement timeout of `milliseconds`, no
    parallel workers and no JIT (both cost more to start than a walk of one page
    takes: measured 15 ms of worker start-up on a busy machine, for a 1 ms walk).

    In a savepoint that is rolled back afterwards, whatever happened: that puts
    the settings back, and leaves the transaction usable after a statement the
    timeout stopped. Two round trips: a page's statements are read-only.
    """
    conn = session.connection()
    conn.exec_driver_sql(
        f"SAVEPOINT {_SAVEPOINT}; SET LOCAL statement_timeout = {max(1, int(milliseconds))};"
        " SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
    )
    try:
        yield
    finally:
        conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")


def canceled(exc: OperationalError) -> bool:
    """Whether `exc` is a statement stopped by its timeout (the budget ran out)."""
    return getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED
