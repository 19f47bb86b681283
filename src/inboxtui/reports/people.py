"""Advocates and detractors in a report: persons tagged so, and what they said in the period.

A person's figures sum over all its linked accounts (`person_author`); a person
tagged both ways is listed under both. Mentions are those the report counts
(created in the period, of conversations in the report's filter). Every tagged
person is listed, with zero mentions if quiet, most mentions first.

The SQL starts from the tag (`ix_person_tag_tag`), goes to the tagged persons'
accounts, and reads each account's mentions of the period as one range of
`ix_mention_author` (author, created_at, label: migration 0012), so its cost
follows the tagged persons' mentions in the period, not the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from inboxtui.models import Author, Mention, Person, PersonAuthor, PersonTag
from inboxtui.reports.figures import SentimentSplit, _Scope
from inboxtui.reports.period import Period
from inboxtui.reports.sql import labelled

PEOPLE_TAGS: tuple[str, ...] = ("advocate", "detractor")
SHOWN = 20  # per tag


@dataclass(frozen=True)
class PersonFigure:
    tag: str  # advocate | detractor
    name: str
    accounts: int
    reach: int  # followers summed over the accounts (unknown: 0)
    mentions: int
    sentiment: SentimentSplit


def people_figures(session: Session, scope: _Scope, period: Period) -> list[PersonFigure]:
    """Advocates first, then detractors; within each, most mentions first, then by name."""
    tagged = session.execute(
        select(PersonTag.tag, Person.id, Person.name)
        .join(Person, Person.id == PersonTag.person_id)
        .where(PersonTag.tag.in_(PEOPLE_TAGS))
    ).all()
    if not tagged:
        return []
    ids = sorted({pid for _, pid, _ in tagged})
    accounts: dict[int, tuple[int, int]] = {
        pid: (int(n), int(reach or 0))
        for pid, n, reach in session.execute(
            select(PersonAuthor.person_id, func.count(), func.sum(Author.followers))
            .join(Author, Author.id == PersonAuthor.author_id)
            .where(PersonAuthor.person_id.in_(ids))
            .group_by(PersonAuthor.person_id)
        )
    }
    created = Mention.created_at  # ix_mention_author (author_id, created_at, label): a range
    statement = (
        select(
            PersonAuthor.person_id,
            func.count(),
            labelled("negative"),
            labelled("neutral"),
            labelled("positive"),
        )
        .select_from(PersonAuthor)
        .join(Mention, Mention.author_id == PersonAuthor.author_id)
        .where(PersonAuthor.person_id.in_(ids), created >= period.since, created < period.until)
        .group_by(PersonAuthor.person_id)
    )
    if scope.condition is not None:
        statement = statement.where(Mention.conversation_id.in_(scope.conversation_ids()))
    counts = {
        pid: (int(n), int(neg or 0), int(neu or 0), int(pos or 0))
        for pid, n, neg, neu, pos in session.execute(statement)
    }
    out: list[PersonFigure] = []
    for tag in PEOPLE_TAGS:
        rows = []
        for t, pid, name in tagged:
            if t != tag:
                continue
            n, neg, neu, pos = counts.get(pid, (0, 0, 0, 0))
            n_accounts, reach = accounts.get(pid, (0, 0))
            split = SentimentSplit(neg, neu, pos, n - neg - neu - pos)
            rows.append(PersonFigure(tag, name, n_accounts, reach, n, split))
        rows.sort(key=lambda f: (-f.mentions, f.name.casefold()))
        out.extend(rows[:SHOWN])
    return out


__all__ = ["PEOPLE_TAGS", "PersonFigure", "people_figures"]
