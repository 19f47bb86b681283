"""A small world of authors, conversations and replies for the author-profile tests.

Ada writes on Mastodon and Bluesky (two accounts, one human, not linked yet);
Bob on Reddit, where Ada replied in his thread; Cy on Bluesky, never scored.
Times are fixed offsets from `NOW` so that weekly trends are predictable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from inboxtui.db import Database
from inboxtui.models import (
    Agent,
    Author,
    Conversation,
    Mention,
    Note,
    OutboxReply,
    Source,
)
from inboxtui.search import index_rows
from inboxtui.timeutil import utcnow

NOW = utcnow()


@dataclass
class PeopleWorld:
    authors: dict[str, int] = field(default_factory=dict)  # "kind:handle" -> id
    conversations: dict[str, int] = field(default_factory=dict)  # key -> id
    # every mention: (author label, conversation key, created_at, label, score)
    mentions: list[tuple[str, str, datetime, str | None, float | None]] = field(
        default_factory=list
    )
    now: datetime = NOW


def build_people_world(db: Database) -> PeopleWorld:
    world = PeopleWorld()
    with db.write() as session:
        _fill(session, world)
    return world


def _fill(session: Session, world: PeopleWorld) -> None:
    def add(obj):  # type: ignore[no-untyped-def]
        session.add(obj)
        session.flush()
        return obj

    sources = {
        kind: add(Source(kind=kind, name=f"Acme {kind}", created_at=NOW))
        for kind in ("mastodon", "bluesky", "reddit")
    }
    alice = add(Agent(handle="alice", created_at=NOW))
    add(Agent(handle="bob-agent", created_at=NOW))

    def author(kind: str, handle: str, name: str, followers: int | None, days: int) -> Author:
        a = add(
            Author(
                kind=kind,
                handle=handle,
                name=name,
                followers=followers,
                first_seen_at=NOW - timedelta(days=days),
                last_seen_at=NOW - timedelta(days=1),
            )
        )
        world.authors[f"{kind}:{handle}"] = a.id
        return a

    ada_m = author("mastodon", "@ada@hachyderm.io", "Ada L.", 1200, 40)
    ada_b = author("bluesky", "ada.bsky.social", "Ada Lovelace", 800, 20)
    bob = author("reddit", "u/bob", "bob", None, 10)
    cy = author("bluesky", "cy.bsky.social", "Cy", 50, 5)

    rows: list[tuple[int, str | None, str]] = []

    def conv(key: str, who: Author, status: str, texts: list[tuple[Author, int, str, str, float]]):  # type: ignore[no-untyped-def]
        first_days = max(t[1] for t in texts)
        last_days = min(t[1] for t in texts)
        c = add(
            Conversation(
                source_id=sources[who.kind].id,
                root_key=key,
                kind="post",
                author_id=who.id,
                excerpt=texts[0][2][:50],
                status=status,
                created_at=NOW - timedelta(days=first_days),
                last_activity_at=NOW - timedelta(days=last_days),
                updated_at=NOW,
                resolved_at=NOW - timedelta(days=last_days) if status == "resolved" else None,
                mention_count=len(texts),
            )
        )
        world.conversations[key] = c.id
        for n, (writer, days, body, label, score) in enumerate(texts):
            when = NOW - timedelta(days=days, minutes=n)
            m = add(
                Mention(
                    source_id=sources[who.kind].id,
                    external_id=f"{key}-{n}",
                    conversation_id=c.id,
                    author_id=writer.id,
                    created_at=when,
                    text=body,
                    sentiment_label=label,
                    sentiment=score,
                    fetched_at=NOW,
                )
            )
            rows.append((m.id, body, None))
            world.mentions.append((f"{writer.kind}:{writer.handle}", key, when, label, score))
        return c

    conv("m1", ada_m, "resolved", [(ada_m, 30, "love the new release", "positive", 0.8)])
    conv("m2", ada_m, "open", [(ada_m, 2, "export is broken again", "negative", -0.6)])
    conv("b1", ada_b, "new", [(ada_b, 9, "tried it today, fine", "neutral", 0.0)])
    r1 = conv(
        "r1",
        bob,
        "pending",
        [
            (bob, 8, "anyone else seeing refunds fail", "negative", -0.7),
            (ada_b, 8, "yes, support fixed mine", "positive", 0.5),
        ],
    )
    conv("c1", cy, "open", [(cy, 3, "hello", None, None)])
    add(
        OutboxReply(
            conversation_id=r1.id,
            agent_id=alice.id,
            body="we are on it",
            idempotency_key="k1",
            state="sent",
            created_at=NOW - timedelta(days=7),
            updated_at=NOW - timedelta(days=7),
            sent_at=NOW - timedelta(days=7),
        )
    )
    add(
        Note(
            conversation_id=world.conversations["m1"],
            agent_id=alice.id,
            body="thanked her",
            created_at=NOW - timedelta(days=29),
        )
    )
    index_rows(session.connection(), rows)
