"""Saved views: a name for a query, the agent's own or shared with the team.

A view is saved from whatever the filter bar holds (`V` in the inbox) or by
`inboxtui view save`; the query is checked when it is saved, so a view in the
sidebar always runs. Saving under an existing name replaces that view's query
(what people expect of "save"); every change is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlmodel import Session

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import SavedView
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.services.triage import agent_id_for, ensure_agent
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow

MAX_NAME = 40


@dataclass(frozen=True)
class ViewRow:
    id: int
    name: str
    query: str
    shared: bool


def _clean_name(name: str) -> str:
    cleaned = " ".join(sanitize(name).split())
    if not cleaned:
        raise ServiceError("a view needs a name")
    if len(cleaned) > MAX_NAME:
        raise ServiceError(f"a view name has at most {MAX_NAME} characters")
    return cleaned


def _owner_clause(owner_id: int | None):  # type: ignore[no-untyped-def]
    column = SavedView.agent_id
    return column.is_(None) if owner_id is None else column == owner_id


def _find(session: Session, name: str, owner_id: int | None) -> SavedView | None:
    return session.execute(
        select(SavedView).where(
            _owner_clause(owner_id), func.lower(SavedView.name) == name.lower()
        )
    ).scalar_one_or_none()


def list_views(session: Session, agent: str) -> list[ViewRow]:
    """The agent's own views and the team's, in sidebar order."""
    me = agent_id_for(session, agent)
    rows = session.execute(
        select(SavedView)
        .where(or_(SavedView.agent_id.is_(None), SavedView.agent_id == me))
        .order_by(SavedView.position, SavedView.name)
    ).scalars()
    return [ViewRow(v.id or 0, v.name, v.query, v.agent_id is None) for v in rows]


def save_view(db: Database, name: str, query: str, *, actor: str, shared: bool = False) -> ViewRow:
    """Create or replace a view; raises `QueryError` (with the caret) for a bad query."""
    name = _clean_name(name)
    query = query.strip()
    if not query:
        raise ServiceError("a view needs a query (an empty filter is the Inbox)")
    q.parse(query)
    with db.write() as session:
        me = ensure_agent(session, actor).id
        owner = None if shared else me
        view = _find(session, name, owner)
        before = {"name": view.name, "query": view.query} if view else None
        if view is None:
            position = session.execute(
                select(func.coalesce(func.max(SavedView.position), 0) + 1)
            ).scalar_one()
            view = SavedView(
                agent_id=owner, name=name, query=query, position=position, created_at=utcnow()
            )
            session.add(view)
        else:
            view.name, view.query = name, query
        session.flush()
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="view.save",
            before=before,
            after={"name": name, "query": query, "shared": shared},
            version=None,
        )
        return ViewRow(view.id or 0, name, query, shared)


def remove_view(db: Database, name: str, *, actor: str, shared: bool = False) -> None:
    name = _clean_name(name)
    with db.write() as session:
        owner = None if shared else ensure_agent(session, actor).id
        view = _find(session, name, owner)
        if view is None:
            where = "the team's views" if shared else "your views"
            raise NotFound(f"no view '{name}' in {where}")
        session.execute(delete(SavedView).where(SavedView.id == view.id))
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="view.remove",
            before={"name": view.name, "query": view.query, "shared": shared},
            after=None,
            version=None,
        )
