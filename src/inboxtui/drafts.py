"""The composer's drafts: one per agent and conversation, kept in the database.

A draft is the agent's own unsent work, not a change to the conversation, so
it is not audited and does not bump the conversation's version. Saving is an
upsert on (conversation, agent): two composers of one agent simply keep the
last text; an empty draft is deleted rather than stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from inboxtui.db import Database
from inboxtui.models import Draft
from inboxtui.services.triage import agent_id_for, ensure_agent
from inboxtui.timeutil import utcnow

_DRAFT = Draft.__table__  # type: ignore[attr-defined]


@dataclass
class DraftState:
    body: str = ""
    note: bool = False
    templates: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.body.strip()


def load_draft(db: Database, conversation_id: int, agent: str) -> DraftState | None:
    with db.read() as session:
        agent_id = agent_id_for(session, agent)
        if agent_id is None:
            return None
        row = session.execute(
            select(Draft).where(
                Draft.conversation_id == conversation_id, Draft.agent_id == agent_id
            )
        ).scalar_one_or_none()
    if row is None:
        return None
    try:
        templates = [str(t) for t in json.loads(row.templates or "[]")]
        fields = {str(k): str(v) for k, v in json.loads(row.fields or "{}").items()}
    except (ValueError, AttributeError, TypeError):
        templates, fields = [], {}
    return DraftState(row.body, bool(row.note), templates, fields)


def save_draft(db: Database, conversation_id: int, agent: str, draft: DraftState) -> None:
    """Store the draft (an empty one is deleted)."""
    with db.write() as session:
        agent_id = ensure_agent(session, agent).id
        if draft.empty:
            session.execute(
                delete(_DRAFT).where(
                    _DRAFT.c.conversation_id == conversation_id, _DRAFT.c.agent_id == agent_id
                )
            )
            return
        values = {
            "body": draft.body,
            "note": draft.note,
            "templates": json.dumps(draft.templates, ensure_ascii=False),
            "fields": json.dumps(draft.fields, ensure_ascii=False),
            "updated_at": utcnow(),
        }
        dialect = session.get_bind().dialect.name
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(_DRAFT)
        session.execute(
            insert.values(
                conversation_id=conversation_id, agent_id=agent_id, **values
            ).on_conflict_do_update(index_elements=["conversation_id", "agent_id"], set_=values)
        )


def delete_draft(db: Database, conversation_id: int, agent: str) -> None:
    save_draft(db, conversation_id, agent, DraftState())


__all__ = ["DraftState", "delete_draft", "load_draft", "save_draft"]
