"""The global audit log for the Activity screen: a small filter language and paged reads.

Filter terms (space separated, all must hold)::

    actor:alice        events by this actor (system:routing too)
    action:assign      this action; `action:agent` also matches agent.create/agent.update
    since:1d           newer than a duration ago (30m, 3h, 2d, 1w) or an ISO time
    #42                events of conversation 42

Pages are keyset reads newest first (`before_id`), so the screen holds only
the pages the user scrolled through, never the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from inboxtui.db import Database
from inboxtui.models import Event
from inboxtui.services.audit import EventRow, _row
from inboxtui.timeutil import parse_when

PAGE_SIZE = 200
TERMS = "actor:NAME, action:NAME, since:1d, #ID"


class ActivityFilterError(ValueError):
    """A filter term that cannot be used; `start`/`end` locate it in the text."""

    def __init__(self, reason: str, text: str, start: int, end: int) -> None:
        super().__init__(f"{reason} (at column {start + 1})")
        self.reason = reason
        self.text = text
        self.start = start
        self.end = end


@dataclass(frozen=True)
class ActivityFilter:
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    conversation_id: int | None = None


def _terms(text: str) -> list[tuple[str, int]]:
    """Whitespace-separated terms with their start offsets."""
    out: list[tuple[str, int]] = []
    pos = 0
    for word in text.split():
        pos = text.index(word, pos)
        out.append((word, pos))
        pos += len(word)
    return out


def parse_filter(text: str, *, now: datetime) -> ActivityFilter:
    """Read the filter typed after `/`; errors point at the offending term."""
    values: dict[str, object] = {}
    for word, start in _terms(text):
        end = start + len(word)

        def fail(reason: str, start: int = start, end: int = end) -> ActivityFilterError:
            return ActivityFilterError(reason, text, start, end)

        key, sep, value = word.partition(":")
        if word.startswith("#"):
            key, value = "#", word[1:]
            if not value.isdigit():
                raise fail(f"'{word}': a conversation is #ID, e.g. #42")
            values["conversation_id"] = int(value)
        elif sep and key.lower() in ("actor", "action", "since"):
            key = key.lower()
            if not value:
                raise fail(f"'{word}': {key}: needs a value")
            if key == "since":
                try:
                    values["since"] = parse_when(value, now=now)
                except ValueError as exc:
                    raise fail(f"since: {exc}") from None
            else:
                values[key] = value
        else:
            raise fail(f"unknown term '{word}' (terms: {TERMS})")
    return ActivityFilter(**values)  # type: ignore[arg-type]


def read_page(
    db: Database,
    where: ActivityFilter,
    *,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[EventRow]:
    """Up to `limit` events matching `where`, newest first, older than `before_id` if given."""
    stmt = select(Event).order_by(Event.id.desc()).limit(limit)  # type: ignore[union-attr]
    if before_id is not None:
        stmt = stmt.where(Event.id < before_id)  # type: ignore[arg-type]
    if where.actor is not None:
        stmt = stmt.where(Event.actor == where.actor)  # type: ignore[arg-type]
    if where.action is not None:
        stmt = stmt.where(
            or_(
                Event.action == where.action,
                Event.action.startswith(f"{where.action}.", autoescape=True),
            )  # type: ignore[union-attr]
        )
    if where.since is not None:
        stmt = stmt.where(Event.created_at >= where.since)  # type: ignore[arg-type]
    if where.conversation_id is not None:
        stmt = stmt.where(Event.conversation_id == where.conversation_id)  # type: ignore[arg-type]
    with db.read() as session:
        return [_row(e) for e in session.execute(stmt).scalars()]


def change_summary(event: EventRow) -> str:
    """`role support -> pr, agent none -> alice`: the event's before -> after on one line."""
    text = event.describe()
    return text[len(event.action) :].strip() if text.startswith(event.action) else text


__all__ = [
    "PAGE_SIZE",
    "ActivityFilter",
    "ActivityFilterError",
    "change_summary",
    "parse_filter",
    "read_page",
]
