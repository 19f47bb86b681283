"""Everything about one conversation, read in one session: thread, author, notes, audit.

Shared by `inboxtui show` and the TUI's detail pane so both tell the same story.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from inboxtui.models import Agent, Author, Conversation, Event, Mention, Note, Source
from inboxtui.query import ConversationRow, fetch_rows


@dataclass(frozen=True)
class MentionView:
    id: int
    external_id: str
    depth: int
    created_at: datetime
    author_handle: str
    author_name: str | None
    text: str
    title: str | None
    url: str | None
    lang: str | None
    sentiment: float | None
    sentiment_label: str | None


@dataclass(frozen=True)
class AuthorCard:
    handle: str
    name: str | None
    followers: int | None
    url: str | None
    conversations: int
    # the person this account is linked to or tagged as (author profiles), if any
    person: str | None = None
    person_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteView:
    agent: str | None
    body: str
    created_at: datetime


@dataclass(frozen=True)
class EventView:
    actor: str
    action: str
    before: dict | None
    after: dict | None
    detail: str | None
    version: int | None
    created_at: datetime


@dataclass(frozen=True)
class ConversationDetail:
    row: ConversationRow
    source_url: str | None
    mentions: list[MentionView]
    author: AuthorCard | None
    notes: list[NoteView]
    events: list[EventView]
    # replies between the first mention and the newest ones, left out of `mentions`
    hidden: int = 0


def _json_or_none(value: str | None) -> dict | None:
    return json.loads(value) if value else None


def _thread(
    session: Session, conversation_id: int, newest: int | None
) -> tuple[list[tuple[Mention, Author]], int]:
    """The thread in time order: all of it, or the first mention and the `newest` replies.

    A storm thread has thousands of replies; the post that started it and the
    latest ones are what an agent reads, and rendering all would stall the pane.
    Returns the mentions and how many were left out between them.
    """
    base = (
        select(Mention, Author)
        .join(Author, Author.id == Mention.author_id)
        .where(Mention.conversation_id == conversation_id)
    )
    if newest is None:
        return list(session.execute(base.order_by(Mention.created_at, Mention.id)).all()), 0
    first = session.execute(base.order_by(Mention.created_at, Mention.id).limit(1)).all()
    if not first:
        return [], 0
    latest = session.execute(
        base.where(Mention.id != first[0][0].id)
        .order_by(Mention.created_at.desc(), Mention.id.desc())
        .limit(newest)
    ).all()
    total = session.execute(
        select(func.count()).select_from(Mention).where(Mention.conversation_id == conversation_id)
    ).scalar_one()
    return [*first, *reversed(latest)], max(0, total - 1 - len(latest))


def load(
    session: Session, conversation_id: int, *, newest: int | None = None
) -> ConversationDetail | None:
    """None when the conversation does not exist; `newest` caps the replies loaded."""
    rows = fetch_rows(session, [conversation_id])
    if not rows:
        return None
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    source = session.get(Source, conversation.source_id)
    mention_rows, hidden = _thread(session, conversation_id, newest)
    mentions = [
        MentionView(
            id=m.id,
            external_id=m.external_id,
            depth=m.depth,
            created_at=m.created_at,
            author_handle=a.handle,
            author_name=a.name,
            text=m.text,
            title=m.title,
            url=m.url,
            lang=m.lang,
            sentiment=m.sentiment,
            sentiment_label=m.sentiment_label,
        )
        for m, a in mention_rows
    ]
    card = None
    if conversation.author_id is not None:
        author = session.get(Author, conversation.author_id)
        if author is not None:
            past = session.execute(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.author_id == author.id)
            ).one()
            card = AuthorCard(author.handle, author.name, author.followers, author.url, past[0])
            from inboxtui.person_filters import person_of_author

            person = person_of_author(session, author.id)  # type: ignore[arg-type]
            if person is not None:
                card = replace(card, person=person[0], person_tags=person[1])
    notes = [
        NoteView(agent, note.body, note.created_at)
        for note, agent in session.execute(
            select(Note, Agent.handle)
            .outerjoin(Agent, Agent.id == Note.agent_id)
            .where(Note.conversation_id == conversation_id)
            .order_by(Note.id)
        ).all()
    ]
    events = [
        EventView(
            e.actor,
            e.action,
            _json_or_none(e.before),
            _json_or_none(e.after),
            e.detail,
            e.version,
            e.created_at,
        )
        for e in session.execute(
            select(Event).where(Event.conversation_id == conversation_id).order_by(Event.id)
        ).scalars()
    ]
    return ConversationDetail(
        row=rows[0],
        source_url=source.url if source else None,
        mentions=mentions,
        author=card,
        notes=notes,
        events=events,
        hidden=hidden,
    )
