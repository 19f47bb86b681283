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

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    TextClause,
    intersect,
    select,
    union,
)
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList, Grouping
from sqlalchemy.sql.operators import and_, in_op, or_
from sqlalchemy.sql.selectable import CompoundSelect, ScalarSelect
from sqlmodel import Session

from inboxtui.models import Conversation
from inboxtui.query import json_ids

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
    sets = _id_sets(condition)
    statement = (
        select(Conversation.id).where(condition) if sets is None else select(sets.subquery())
    ).limit(IDS_MAX + 1)
    ids = [int(i) for i in session.connection().execute(statement).scalars()]
    return None if len(ids) > IDS_MAX else json_ids(ids)


def _id_sets(condition: ColumnElement[bool]) -> Any | None:
    """`conversation.id IN (a) OR/AND ...` as `a UNION/INTERSECT ...`, else None.

    A search word compiles to `conversation.id IN (<its matches' conversations>)`:
    selecting those ids straight from the sets spares a lookup of every
    matching conversation's row (a third of the collecting, for `refund OR 退款`).
    """
    if isinstance(condition, Grouping):  # parentheses
        return _id_sets(condition.element)
    if isinstance(condition, BinaryExpression):
        left, right = condition.left, condition.right
        if (
            condition.operator is in_op
            and isinstance(left, ColumnElement)
            and getattr(left, "table", None) is Conversation.__table__  # type: ignore[attr-defined]
            and getattr(left, "name", None) == "id"
            and isinstance(right, ScalarSelect)
        ):
            return right.element
        return None
    if isinstance(condition, BooleanClauseList) and condition.operator in (or_, and_):
        parts = [_id_sets(clause) for clause in condition.clauses]
        if not parts or any(part is None for part in parts):
            return None
        # SQLite takes no parenthesised compound: a nested one is read as a subquery
        plain = [select(*p.subquery().c) if isinstance(p, CompoundSelect) else p for p in parts]
        return (union if condition.operator is or_ else intersect)(*plain)
    return None


__all__ = ["IDS_MAX", "collected"]
