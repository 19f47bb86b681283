"""A report filter's conversations, collected once (SQLite) instead of matched by every figure.

A report runs a dozen statements under the same filter; a filter that looks
into mentions (search words such as `refund`) costs a full-text lookup and a
read of each match's mention each time it is evaluated. Collected once into a list of ids (one
bound JSON array, read back by `json_each`), every figure tests a cheap
membership instead. Past `IDS_MAX` conversations the list costs more than it
saves, and the condition is kept as it is. PostgreSQL plans the original
condition well and keeps it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Integer, Table, TextClause, bindparam, column, select, text
from sqlalchemy.sql import visitors
from sqlmodel import Session

from inboxtui.models import Conversation

IDS_MAX = 200_000


def _reads_mentions(condition: ColumnElement[bool]) -> bool:
    """Whether the condition looks into mentions (search words, `lang:`, `sentiment:`)."""
    for element in visitors.iterate(condition):
        if isinstance(element, Table) and element.name == "mention":
            return True
        if isinstance(element, TextClause) and "mention_search" in element.text:
            return True
    return False


def collected(session: Session, condition: ColumnElement[bool]) -> Any | None:
    """`condition`'s conversation ids, collected now, as a one-column subquery; None: keep it.

    Tests use `conversation.id IN (<it>)`; a figure over mentions tests
    `mention.conversation_id IN (<it>)` directly, with no lookup of each
    conversation's row.
    """
    if session.get_bind().dialect.name != "sqlite" or not _reads_mentions(condition):
        return None  # a test on conversation's own (indexed) columns is cheap as it is
    statement = select(Conversation.id).where(condition).limit(IDS_MAX + 1)
    ids = [int(i) for i in session.connection().execute(statement).scalars()]
    return None if len(ids) > IDS_MAX else listed(ids)


def listed(ids: list[int]) -> Any:
    """SQLite: `ids` as a one-column subquery (one bound JSON array, any length)."""
    return (
        text("SELECT value FROM json_each(:scope_ids)")
        .bindparams(bindparam("scope_ids", json.dumps(ids), unique=True))
        .columns(column("value", Integer))
    )


__all__ = ["IDS_MAX", "collected", "listed"]
