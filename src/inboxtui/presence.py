"""Who is replying where: presence with expiry, and replies sent while you were writing.

The composer `touch`es its conversation every `HEARTBEAT` seconds; a row
lives `PRESENCE_SECONDS`, so a closed or crashed composer disappears on its
own. `replying` answers "who else is writing here" for the composer, and
`replying_on` the same for many conversations at once (queue rows).
`replies_since` finds replies others queued or sent to a conversation after
a moment, so a second reply is never sent without a confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from inboxtui.db import Database
from inboxtui.models import Agent, OutboxReply, OutboxState, Presence
from inboxtui.services.triage import agent_id_for, ensure_agent
from inboxtui.timeutil import utcnow

PRESENCE_SECONDS = 30.0
HEARTBEAT = 10.0
_PRESENCE = Presence.__table__  # type: ignore[attr-defined]
_NOT_REPLIES = (OutboxState.CANCELLED.value, OutboxState.REJECTED.value)


def touch(db: Database, conversation_id: int, agent: str, now: datetime | None = None) -> None:
    """`agent` is writing on `conversation_id` for the next `PRESENCE_SECONDS`."""
    expires = (now or utcnow()) + timedelta(seconds=PRESENCE_SECONDS)
    with db.write() as session:
        agent_id = ensure_agent(session, agent).id
        dialect = session.get_bind().dialect.name
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(_PRESENCE)
        session.execute(
            insert.values(
                conversation_id=conversation_id, agent_id=agent_id, expires_at=expires
            ).on_conflict_do_update(
                index_elements=["conversation_id", "agent_id"], set_={"expires_at": expires}
            )
        )


def leave(db: Database, conversation_id: int, agent: str) -> None:
    with db.write() as session:
        agent_id = agent_id_for(session, agent)
        if agent_id is not None:
            session.execute(
                delete(_PRESENCE).where(
                    _PRESENCE.c.conversation_id == conversation_id,
                    _PRESENCE.c.agent_id == agent_id,
                )
            )


def _name(handle: str, display: str | None) -> str:
    return display or handle


def replying_on(
    db: Database, conversation_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, list[str]]:
    """Agents (display names) with a live composer, per conversation."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    with db.read() as session:
        rows = session.execute(
            select(Presence.conversation_id, Agent.handle, Agent.display_name)
            .join(Agent, Agent.id == Presence.agent_id)
            .where(Presence.conversation_id.in_(ids), Presence.expires_at > (now or utcnow()))
            .order_by(Presence.conversation_id, Agent.handle)
        ).all()
    found: dict[int, list[str]] = {}
    for conversation_id, handle, display in rows:
        found.setdefault(conversation_id, []).append(_name(handle, display))
    return found


def replying(
    db: Database, conversation_id: int, agent: str, *, now: datetime | None = None
) -> list[str]:
    """Other agents writing on this conversation right now."""
    with db.read() as session:
        me = agent_id_for(session, agent)
        rows = session.execute(
            select(Agent.handle, Agent.display_name)
            .join(Presence, Presence.agent_id == Agent.id)
            .where(
                Presence.conversation_id == conversation_id,
                Presence.expires_at > (now or utcnow()),
                Presence.agent_id != (me if me is not None else -1),
            )
            .order_by(Agent.handle)
        ).all()
    return [_name(handle, display) for handle, display in rows]


def replies_since(db: Database, conversation_id: int, agent: str, since: datetime) -> list[str]:
    """Who else queued or sent a reply to this conversation after `since` (not cancelled)."""
    with db.read() as session:
        me = agent_id_for(session, agent)
        rows = session.execute(
            select(Agent.handle, Agent.display_name)
            .select_from(OutboxReply)
            .join(Agent, Agent.id == OutboxReply.agent_id)
            .where(
                OutboxReply.conversation_id == conversation_id,
                OutboxReply.created_at > since,
                OutboxReply.state.not_in(_NOT_REPLIES),
                OutboxReply.agent_id != (me if me is not None else -1),
            )
            .distinct()
            .order_by(Agent.handle)
        ).all()
    return [_name(handle, display) for handle, display in rows]


def describe(names: list[str]) -> str:
    """`Lin is replying` / `Lin and Pat are replying`."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is replying"
    return f"{', '.join(names[:-1])} and {names[-1]} are replying"


__all__ = [
    "HEARTBEAT",
    "PRESENCE_SECONDS",
    "describe",
    "leave",
    "replies_since",
    "replying",
    "replying_on",
    "touch",
]
