"""Persons for the demo inbox, so author profiles, `author-tag:` and the report's
advocates and detractors show something on first run.

Chosen by queries with total orders over the seeded data, so the same seed
gives the same persons: the seed's influencers are tagged `influencer` (the
storm's starter also `detractor`); the most active display names that appear on
two or more platforms become persons with those accounts linked, tagged
`advocate` or `detractor` by their mentions' average sentiment, with a note.
Everything goes through `services.people`, so the audit log shows it too.
"""

from __future__ import annotations

from sqlalchemy import func, select

from inboxtui.db import Database
from inboxtui.models import Author, Mention
from inboxtui.services import people

ACTOR = "system:demo"
LINKED = 4  # persons made of accounts sharing a display name
INFLUENCERS = (
    ("mastodon", "@techtrace@mastodon.social", ["influencer", "detractor"], "started the X2 storm"),
    ("bluesky", "gadgetgabe.bsky.social", ["influencer", "vip"], None),
    ("bluesky", "shumaxiaowang.bsky.social", ["influencer"], None),
)


def _shared_names(db: Database) -> list[tuple[str, list[int], float | None]]:
    """(name, author ids, mean sentiment): display names on 2+ platforms, most active first."""
    with db.read() as session:
        names = session.execute(
            select(Author.name, func.count(Mention.id).label("n"))
            .join(Mention, Mention.author_id == Author.id)
            .where(Author.name.is_not(None))
            .group_by(Author.name)
            .having(func.count(func.distinct(Author.kind)) >= 2)
            .order_by(func.count(Mention.id).desc(), Author.name)
            .limit(LINKED)
        ).all()
        out = []
        for name, _ in names:
            per_kind: dict[str, int] = {}  # one account per platform: its most active
            for author_id, kind in session.execute(
                select(Author.id, Author.kind)
                .join(Mention, Mention.author_id == Author.id)
                .where(Author.name == name)
                .group_by(Author.id, Author.kind)
                .order_by(Author.kind, func.count(Mention.id).desc(), Author.id)
            ):
                per_kind.setdefault(kind, author_id)
            ids = list(per_kind.values())
            mean = session.execute(
                select(func.avg(Mention.sentiment)).where(Mention.author_id.in_(ids))
            ).scalar_one()
            out.append((name, ids, None if mean is None else float(mean)))
    return out


def furnish_people(db: Database) -> None:
    """Tag the influencers, link the cross-platform regulars; a no-op on data without them."""
    with db.read() as session:
        present = {
            (kind, handle)
            for kind, handle in session.execute(
                select(Author.kind, Author.handle).where(
                    Author.handle.in_([h for _, h, _, _ in INFLUENCERS])
                )
            )
        }
    for kind, handle, tags, note in INFLUENCERS:
        if (kind, handle) not in present:
            continue
        people.tag(db, f"{kind}:{handle}", tags, actor=ACTOR)
        if note:
            people.add_note(db, f"{kind}:{handle}", note, actor=ACTOR)
    for name, ids, mean in _shared_names(db):
        first, *others = ids
        for other in others:
            people.link(db, people.ByAuthor(first), other, actor=ACTOR)
        tag = "advocate" if (mean or 0.0) >= 0 else "detractor"
        people.tag(db, people.ByAuthor(first), [tag], actor=ACTOR)
        people.add_note(
            db,
            people.ByAuthor(first),
            f"Same name on {len(ids)} platforms: linked by the demo as one person ({name}).",
            actor=ACTOR,
        )


__all__ = ["furnish_people"]
