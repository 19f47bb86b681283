"""SQL for "the accounts of a person", shared by the filter language and reports.

Kept apart from `services.people` so that `query` can use it without importing
the services (which import `query` themselves, through routing and SLA).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from inboxtui.models import Author, Person, PersonAuthor, PersonTag
from inboxtui.person_names import person_key


def handle_is(handle: str) -> Any:
    """An author's handle is `handle` (given without its `@`), with or without the `@`, any case."""
    h = handle.lower()
    return func.lower(Author.handle).in_([h, "@" + h])


def tagged_person_authors(tag_name: str) -> Any:
    """Author ids whose person has this (normalised) tag: `ix_person_tag_tag`, then the link."""
    return (
        select(PersonAuthor.author_id)
        .join(PersonTag, PersonTag.person_id == PersonAuthor.person_id)
        .where(PersonTag.tag == tag_name)
    )


def person_authors(name: str) -> Any:
    """Author ids that `person:NAME` means: the accounts of the person with that name, or the
    account with that handle (`@` optional, any case) and every account linked to it."""
    handle = name.strip().removeprefix("@").lower()
    by_handle = select(Author.id).where(handle_is(handle))
    persons = union(
        select(Person.id).where(Person.name_key == person_key(name)),
        select(PersonAuthor.person_id).where(PersonAuthor.author_id.in_(by_handle)),
    )
    return union(
        select(PersonAuthor.author_id).where(PersonAuthor.person_id.in_(persons)),
        by_handle,
    )


def person_of_author(session: Session, author_id: int) -> tuple[str, tuple[str, ...]] | None:
    """(name, tags) of the person an account is linked to, or None (two index lookups)."""
    row = session.execute(
        select(Person.id, Person.name)
        .join(PersonAuthor, PersonAuthor.person_id == Person.id)
        .where(PersonAuthor.author_id == author_id)
    ).first()
    if row is None:
        return None
    tags = session.execute(
        select(PersonTag.tag).where(PersonTag.person_id == row[0]).order_by(PersonTag.tag)
    ).scalars()
    return str(row[1]), tuple(tags)


__all__ = ["handle_is", "person_authors", "person_of_author", "tagged_person_authors"]
