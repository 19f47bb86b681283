"""The audit log: writing one event per change, and reading it back.

`before` and `after` hold only the fields that changed, in the vocabulary users
see (role *names*, agent *handles*, priority *names*, ISO times), so the log
reads on its own and replays onto a conversation's state without joins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from inboxtui.models import Event
from inboxtui.timeutil import iso, utcnow


@dataclass
class EventRow:
    """One audit event with `before`/`after` parsed into dicts."""

    id: int
    conversation_id: int | None
    actor: str
    action: str
    version: int | None
    created_at: datetime
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None

    def describe(self) -> str:
        """`assign role support -> pr` — what changed, in one line."""
        keys = [k for k in (*self.before, *self.after) if k != "note_id"]
        keys = list(dict.fromkeys(keys))
        changes = ", ".join(
            f"{key} {_show(self.before.get(key))} -> {_show(self.after.get(key))}" for key in keys
        )
        if "note_id" in self.after:
            changes = f"#{self.after['note_id']}" + (f", {changes}" if changes else "")
        return f"{self.action} {changes}".rstrip()


def _show(value: Any) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot record {type(value).__name__} in an audit event")


def dumps(values: dict[str, Any] | None) -> str | None:
    """JSON for an event column; datetimes become ISO 8601 UTC text."""
    if values is None:
        return None
    return json.dumps(values, default=_json_default, ensure_ascii=False, sort_keys=True)


def record(
    session: Session,
    *,
    conversation_id: int | None,
    actor: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    version: int | None,
    detail: str | None = None,
) -> Event:
    """Add one event to the caller's transaction (it commits or rolls back with the change)."""
    event = Event(
        conversation_id=conversation_id,
        actor=actor,
        action=action,
        version=version,
        before=dumps(before),
        after=dumps(after),
        detail=detail,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def _row(event: Event) -> EventRow:
    assert event.id is not None
    return EventRow(
        id=event.id,
        conversation_id=event.conversation_id,
        actor=event.actor,
        action=event.action,
        version=event.version,
        created_at=event.created_at,
        before=json.loads(event.before) if event.before else {},
        after=json.loads(event.after) if event.after else {},
        detail=event.detail,
    )


def history(session: Session, conversation_id: int) -> list[EventRow]:
    """Every event of one conversation, oldest first."""
    stmt = select(Event).where(Event.conversation_id == conversation_id).order_by(Event.id)
    return [_row(e) for e in session.execute(stmt).scalars()]


def since_version(session: Session, conversation_id: int, version: int) -> list[EventRow]:
    """Events that produced versions after `version`, oldest first (conflict messages)."""
    stmt = (
        select(Event)
        .where(Event.conversation_id == conversation_id, Event.version > version)
        .order_by(Event.id)
    )
    return [_row(e) for e in session.execute(stmt).scalars()]


def recent(session: Session, since: datetime | None = None, limit: int = 100) -> list[EventRow]:
    """The newest events (all conversations), newest first; only those after `since` if given."""
    stmt = select(Event).order_by(Event.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(Event.created_at > since)
    return [_row(e) for e in session.execute(stmt).scalars()]


__all__ = ["EventRow", "dumps", "history", "recent", "record", "since_version"]


def record_setting(
    session: Session,
    actor: str,
    action: str,
    before: Any,
    after: Any,
    detail: str | None = None,
) -> Event:
    """An event about no conversation (the team, a person, a policy): no version to check."""
    return record(
        session,
        conversation_id=None,
        actor=actor,
        action=action,
        before=before,
        after=after,
        version=None,
        detail=detail,
    )
