"""Author profiles (social CRM): persons, their linked accounts, tags and notes.

A *person* is the human behind one or more platform `author` rows. An author
that nobody linked is its own *implicit* person: its profile, `person:HANDLE`
and the rest work without a `person` row. The first write about an implicit
person (tag, note, rename, link) creates the row, named after the account.

Every change is one transaction with one audit event (`person.*`, no
conversation), like the triage services, so the Activity screen shows it and
`action:person` filters it.

Linking an author that belongs to another person moves it; when that leaves
the other person without accounts, its tags and notes move too and it is
removed (linking is how two persons are merged). Unlinking the only account of
a person is refused: there is nothing to separate it from.

Profile reads go through indexes only (`person_author`, `ix_mention_author`,
`ix_conversation_author`, `ix_outbox_reply_conversation_id`, `ix_note_conversation_id`),
so a profile costs the same in a store of 1,000,000 mentions as in the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case, delete, func, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from inboxtui.db import Database
from inboxtui.models import (
    Agent,
    Author,
    Conversation,
    Mention,
    Note,
    OutboxReply,
    OutboxState,
    Person,
    PersonAuthor,
    PersonNote,
    PersonTag,
    Role,
    Source,
)
from inboxtui.person_filters import handle_is
from inboxtui.person_names import MAX_NAME, clean_person_name, person_key, person_tag
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.services.triage import ensure_agent
from inboxtui.text import sanitize
from inboxtui.timeutil import to_utc, utcnow

MAX_NOTE = 5000
CONVERSATIONS_SHOWN = 200
TREND_WEEKS = 12
T = TypeVar("T")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class PersonRef:
    """Who a profile is about: a person row, or one unlinked author (`person_id` None)."""

    person_id: int | None
    author_ids: tuple[int, ...]
    name: str

    @property
    def implicit(self) -> bool:
        return self.person_id is None


@dataclass(frozen=True)
class ByAuthor:
    """Target the person of this author (linked or implicit): what the TUI passes."""

    author_id: int


@dataclass(frozen=True)
class ByPerson:
    person_id: int


Target = str | ByAuthor | ByPerson


@dataclass(frozen=True)
class Identity:
    author_id: int
    kind: str
    handle: str
    name: str | None
    followers: int | None
    url: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    mentions: int

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.handle}"


@dataclass(frozen=True)
class ConversationOutcome:
    """One conversation the person started or took part in, and how it stands."""

    id: int
    kind: str
    source: str
    title: str | None
    excerpt: str
    status: str
    created_at: datetime
    last_activity_at: datetime
    resolved_at: datetime | None
    agent: str | None
    role: str | None
    started: bool  # the person wrote its root (else: replied in it)


@dataclass(frozen=True)
class WeekSentiment:
    week: datetime  # Monday 00:00 UTC
    mentions: int
    negative: int
    neutral: int
    positive: int
    net: float | None  # (positive - negative) / labelled mentions, -1..1; None: none labelled


@dataclass(frozen=True)
class NoteRow:
    id: int
    agent: str | None
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Contact:
    """The latest time someone on the team dealt with the person."""

    agent: str | None
    at: datetime
    via: str  # "reply" | "person note" | "conversation note"
    conversation_id: int | None


@dataclass(frozen=True)
class Profile:
    ref: PersonRef
    identities: list[Identity]
    conversations: list[ConversationOutcome]
    conversations_total: int
    outcomes: dict[str, int]
    trend: list[WeekSentiment]
    tags: list[str]
    notes: list[NoteRow]
    last_contact: Contact | None
    last_reply: Contact | None

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def reach(self) -> int:
        """Followers summed over the accounts (unknown counts as 0)."""
        return sum(i.followers or 0 for i in self.identities)

    @property
    def first_seen_at(self) -> datetime | None:
        return min((i.first_seen_at for i in self.identities), default=None)

    @property
    def mentions(self) -> int:
        return sum(i.mentions for i in self.identities)


@dataclass(frozen=True)
class PersonSummary:
    id: int
    name: str
    accounts: list[str]
    tags: list[str]
    reach: int
    notes: int


@dataclass(frozen=True)
class AuthorChoice:
    """An account for the link picker."""

    id: int
    kind: str
    handle: str
    name: str | None
    followers: int | None
    person: str | None  # the person it is linked to, if any


@dataclass(frozen=True)
class Result:
    """What a change did: a sentence for a notification or the CLI, and the person now."""

    summary: str
    ref: PersonRef
    changed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- resolving


def _author_label(author: Author) -> str:
    return f"{author.kind}:{author.handle}"


def _handle_matches(session: Session, handle: str, kind: str | None = None) -> list[Author]:
    h = handle.strip().removeprefix("@").lower()
    if not h:
        return []
    stmt = select(Author).where(handle_is(h))
    if kind is not None:
        stmt = stmt.where(func.lower(Author.kind) == kind.lower())
    return list(session.execute(stmt.order_by(Author.id).limit(20)).scalars())


def find_author(session: Session, ref: str) -> Author:
    """An author by `KIND:HANDLE` or a handle that only one platform has (`@` optional)."""
    text = (ref or "").strip()
    if not text:
        raise ServiceError("name an account: KIND:HANDLE or HANDLE, e.g. mastodon:@ada")
    kind, sep, handle = text.partition(":")
    if sep and kind and handle and not kind.startswith("@"):
        # as stored (`uq_author_kind_handle`: one index probe), then in any case
        exact = session.execute(
            select(Author).where(Author.kind == kind, Author.handle == handle)
        ).scalar_one_or_none()
        if exact is not None:
            return exact
        found = _handle_matches(session, handle, kind)
        if found:
            return found[0]
    found = _handle_matches(session, text)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        options = ", ".join(_author_label(a) for a in found)
        raise ServiceError(f"'{text}' is on several platforms: say which ({options})")
    raise NotFound(f"no account '{text}' (give KIND:HANDLE or HANDLE as `inboxtui show` prints)")


def _account(session: Session, account: str | int) -> Author:
    """An author by id (pickers) or by reference (`find_author`)."""
    if not isinstance(account, int):
        return find_author(session, account)
    author = session.get(Author, account)
    if author is None:
        raise NotFound(f"no account #{account}")
    return author


def _members(session: Session, person_id: int) -> tuple[int, ...]:
    rows = session.execute(
        select(PersonAuthor.author_id)
        .where(PersonAuthor.person_id == person_id)
        .order_by(PersonAuthor.author_id)
    ).scalars()
    return tuple(int(r) for r in rows)


def _ref_of_person(session: Session, person: Person) -> PersonRef:
    assert person.id is not None
    return PersonRef(person.id, _members(session, person.id), person.name)


def _ref_of_author(session: Session, author: Author) -> PersonRef:
    assert author.id is not None
    person = session.execute(
        select(Person)
        .join(PersonAuthor, PersonAuthor.person_id == Person.id)
        .where(PersonAuthor.author_id == author.id)
    ).scalar_one_or_none()
    if person is not None:
        return _ref_of_person(session, person)
    return PersonRef(None, (author.id,), author.name or author.handle)


def resolve(session: Session, target: Target) -> PersonRef:
    """The person a target names: a person's name first, else an account (its person)."""
    if isinstance(target, ByPerson):
        person = session.get(Person, target.person_id)
        if person is None:
            raise NotFound(f"no person #{target.person_id} (removed by someone else?)")
        return _ref_of_person(session, person)
    if isinstance(target, ByAuthor):
        author = session.get(Author, target.author_id)
        if author is None:
            raise NotFound(f"no account #{target.author_id}")
        return _ref_of_author(session, author)
    text = (target or "").strip()
    key = person_key(text)
    if key:
        person = session.execute(select(Person).where(Person.name_key == key)).scalar_one_or_none()
        if person is not None:
            return _ref_of_person(session, person)
    try:
        return _ref_of_author(session, find_author(session, text))
    except NotFound:
        raise NotFound(
            f"no person or account '{text}' (persons: `inboxtui person list`;"
            " accounts: KIND:HANDLE or HANDLE)"
        ) from None


# --------------------------------------------------------------------------- writing


def _actor(actor: str) -> str:
    handle = (actor or "").strip()
    if not handle:
        raise ServiceError("no acting agent: pass --as NAME or set INBOXTUI_AGENT")
    return handle


def _free_name(session: Session, wanted: str, fallbacks: Sequence[str] = ()) -> str:
    """`wanted`, or the first fallback, or `wanted (2)`...: a name no person has yet."""
    for candidate in (wanted, *fallbacks):
        name = clean_person_name(candidate)
        if name and not _name_taken(session, name):
            return name
    base = clean_person_name(wanted)[: MAX_NAME - 6] or "person"
    n = 2
    while _name_taken(session, f"{base} ({n})"):
        n += 1
    return f"{base} ({n})"


def _name_taken(session: Session, name: str, other_than: int | None = None) -> bool:
    stmt = select(Person.id).where(Person.name_key == person_key(name))
    if other_than is not None:
        stmt = stmt.where(Person.id != other_than)
    return session.execute(stmt).first() is not None


def _materialise(session: Session, ref: PersonRef, actor: str) -> PersonRef:
    """A person row for an implicit person (named after its account); else `ref` as is."""
    if ref.person_id is not None:
        return ref
    author = session.get(Author, ref.author_ids[0])
    assert author is not None
    now = utcnow()
    name = _free_name(
        session, author.name or author.handle, (f"{author.name or author.handle} ({author.kind})",)
    )
    person = Person(name=name, name_key=person_key(name), created_at=now, updated_at=now)
    session.add(person)
    session.flush()
    assert person.id is not None
    session.add(
        PersonAuthor(author_id=author.id, person_id=person.id, linked_at=now, linked_by=actor)
    )
    session.flush()
    audit.record_setting(
        session,
        actor,
        "person.create",
        None,
        {"person": name, "accounts": [_author_label(author)]},
        detail=name,
    )
    return PersonRef(person.id, (author.id,), name)  # type: ignore[arg-type]


def _tags_of(session: Session, person_id: int | None) -> list[str]:
    if person_id is None:
        return []
    return list(
        session.execute(
            select(PersonTag.tag).where(PersonTag.person_id == person_id).order_by(PersonTag.tag)
        ).scalars()
    )


def _write(db: Database, actor: str, work: Callable[[Session, str], T]) -> T:
    """One transaction; retried once when a concurrent writer created the same row first."""
    actor = _actor(actor)
    for attempt in (1, 2):
        try:
            with db.write() as session:
                ensure_agent(session, actor)
                return work(session, actor)
        except IntegrityError:
            if attempt == 2:
                raise ServiceError(
                    "someone changed this person at the same moment; try again"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def link(db: Database, target: Target, account: str | int, *, actor: str) -> Result:
    """Link `account` (KIND:HANDLE, HANDLE or an author id) to the person `target` names."""

    def work(session: Session, actor: str) -> Result:
        ref = _materialise(session, resolve(session, target), actor)
        assert ref.person_id is not None
        author = _account(session, account)
        assert author.id is not None
        label = _author_label(author)
        if author.id in ref.author_ids:
            return Result(f"{label} is already linked to '{ref.name}'", ref, changed=False)
        old = session.execute(
            select(Person)
            .join(PersonAuthor, PersonAuthor.person_id == Person.id)
            .where(PersonAuthor.author_id == author.id)
        ).scalar_one_or_none()
        now = utcnow()
        before: dict[str, Any] = {"person": old.name if old else None}
        after: dict[str, Any] = {"person": ref.name}
        merged = None
        if old is not None:
            assert old.id is not None
            session.execute(delete(PersonAuthor).where(PersonAuthor.author_id == author.id))
            if not _members(session, old.id):
                merged = _merge_into(session, old, ref.person_id)
                after["merged"] = merged
        session.add(
            PersonAuthor(
                author_id=author.id, person_id=ref.person_id, linked_at=now, linked_by=actor
            )
        )
        session.execute(update(Person).where(Person.id == ref.person_id).values(updated_at=now))
        session.flush()
        audit.record_setting(session, actor, "person.link", before, after, detail=label)
        summary = f"linked {label} to '{ref.name}'"
        if old is not None:
            summary += f" (from '{old.name}'" + (", merged its tags and notes)" if merged else ")")
        return Result(summary, _ref_of_person(session, session.get(Person, ref.person_id)))  # type: ignore[arg-type]

    return _write(db, actor, work)


def _merge_into(session: Session, old: Person, person_id: int) -> str:
    """Move an emptied person's tags and notes to `person_id`, then remove it."""
    assert old.id is not None
    for tag in _tags_of(session, old.id):
        exists_ = session.execute(
            select(PersonTag.tag).where(PersonTag.person_id == person_id, PersonTag.tag == tag)
        ).first()
        if exists_ is None:
            session.execute(
                update(PersonTag)
                .where(PersonTag.person_id == old.id, PersonTag.tag == tag)
                .values(person_id=person_id)
            )
    session.execute(
        update(PersonNote).where(PersonNote.person_id == old.id).values(person_id=person_id)
    )
    session.execute(delete(PersonTag).where(PersonTag.person_id == old.id))
    session.execute(delete(Person).where(Person.id == old.id))
    return old.name


def unlink(db: Database, account: str | int, *, actor: str) -> Result:
    """Separate an account from its person: it becomes its own (implicit) person again."""

    def work(session: Session, actor: str) -> Result:
        author = _account(session, account)
        label = _author_label(author)
        ref = _ref_of_author(session, author)
        if ref.person_id is None:
            return Result(f"{label} is not linked to anyone", ref, changed=False)
        if len(ref.author_ids) == 1:
            raise ServiceError(
                f"{label} is the only account of '{ref.name}': nothing to unlink it from"
            )
        session.execute(delete(PersonAuthor).where(PersonAuthor.author_id == author.id))
        session.execute(
            update(Person).where(Person.id == ref.person_id).values(updated_at=utcnow())
        )
        audit.record_setting(
            session,
            actor,
            "person.unlink",
            {"person": ref.name},
            {"person": None},
            detail=label,
        )
        return Result(f"unlinked {label} from '{ref.name}'", _ref_of_author(session, author))

    return _write(db, actor, work)


def tag(db: Database, target: Target, tags: Iterable[str], *, actor: str) -> Result:
    """Add tags (normalised: lower case, one word); tags already there are no change."""
    return _set_tags(db, target, tags, add=True, actor=actor)


def untag(db: Database, target: Target, tags: Iterable[str], *, actor: str) -> Result:
    return _set_tags(db, target, tags, add=False, actor=actor)


def _clean_tags(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        for part in (p for p in str(raw).split(",") if p.strip()):
            try:
                name = person_tag(part)
            except ValueError as exc:
                raise ServiceError(str(exc)) from None
            if name not in out:
                out.append(name)
    if not out:
        raise ServiceError("name a tag (e.g. advocate, vip, influencer, detractor)")
    return out


def _set_tags(
    db: Database, target: Target, tags: Iterable[str], *, add: bool, actor: str
) -> Result:
    names = _clean_tags(tags)

    def work(session: Session, actor: str) -> Result:
        ref = resolve(session, target)
        if not add and ref.person_id is None:
            return Result(f"'{ref.name}' has no tags", ref, changed=False)
        current = _tags_of(session, ref.person_id)
        wanted = (
            sorted(set(current) | set(names)) if add else [t for t in current if t not in names]
        )
        if wanted == current:
            what = "already has" if add else "has none of"
            return Result(f"'{ref.name}' {what} {', '.join(names)}", ref, changed=False)
        ref = _materialise(session, ref, actor)
        assert ref.person_id is not None
        now = utcnow()
        if add:
            for name in sorted(set(names) - set(current)):
                session.add(
                    PersonTag(person_id=ref.person_id, tag=name, created_at=now, created_by=actor)
                )
        else:
            session.execute(
                delete(PersonTag).where(
                    PersonTag.person_id == ref.person_id, PersonTag.tag.in_(names)
                )
            )
        session.execute(update(Person).where(Person.id == ref.person_id).values(updated_at=now))
        session.flush()
        audit.record_setting(
            session,
            actor,
            "person.tag" if add else "person.untag",
            {"tags": current},
            {"tags": wanted},
            detail=ref.name,
        )
        verb = "tagged" if add else "untagged"
        return Result(f"{verb} '{ref.name}': {', '.join(wanted) or 'no tags'}", ref)

    return _write(db, actor, work)


def add_note(db: Database, target: Target, body: str, *, actor: str) -> Result:
    """A free-text note about the person (sanitised), by the acting agent, now."""
    text = sanitize(body or "").strip()
    if not text:
        raise ServiceError("a note needs some text")
    if len(text) > MAX_NOTE:
        raise ServiceError(f"a note has at most {MAX_NOTE} characters ({len(text)} given)")

    def work(session: Session, actor: str) -> Result:
        ref = _materialise(session, resolve(session, target), actor)
        agent = ensure_agent(session, actor)
        now = utcnow()
        note = PersonNote(person_id=ref.person_id, agent_id=agent.id, body=text, created_at=now)  # type: ignore[arg-type]
        session.add(note)
        session.execute(update(Person).where(Person.id == ref.person_id).values(updated_at=now))
        session.flush()
        audit.record_setting(
            session, actor, "person.note", None, {"note_id": note.id}, detail=ref.name
        )
        return Result(f"noted on '{ref.name}'", ref, extra={"note_id": note.id})

    return _write(db, actor, work)


def rename(db: Database, target: Target, new_name: str, *, actor: str) -> Result:
    """Give the person a name (unique, any case); `person:NAME` then finds it."""
    name = clean_person_name(new_name)
    if not name:
        raise ServiceError("a person needs a name")

    def work(session: Session, actor: str) -> Result:
        ref = resolve(session, target)
        if ref.person_id is not None and ref.name == name:
            return Result(f"'{name}' is already called that", ref, changed=False)
        if _name_taken(session, name, other_than=ref.person_id):
            raise ServiceError(f"a person named '{name}' exists: link the accounts to it instead")
        ref = _materialise(session, ref, actor)
        old = session.get(Person, ref.person_id)
        assert old is not None
        before = old.name
        session.execute(
            update(Person)
            .where(Person.id == ref.person_id)
            .values(name=name, name_key=person_key(name), updated_at=utcnow())
        )
        audit.record_setting(
            session, actor, "person.rename", {"person": before}, {"person": name}, detail=name
        )
        return Result(
            f"renamed '{before}' to '{name}'", PersonRef(ref.person_id, ref.author_ids, name)
        )

    return _write(db, actor, work)


# --------------------------------------------------------------------------- reading


def list_people(session: Session, *, tag_name: str | None = None) -> list[PersonSummary]:
    """Every person row (implicit persons are not listed), by name; `tag_name` narrows."""
    stmt = select(Person).order_by(Person.name_key)
    if tag_name:
        tagged = select(PersonTag.person_id).where(PersonTag.tag == person_tag(tag_name))
        stmt = stmt.where(Person.id.in_(tagged))
    persons = list(session.execute(stmt).scalars())
    ids = [p.id for p in persons]
    accounts: dict[int, list[str]] = {}
    reach: dict[int, int] = {}
    tags: dict[int, list[str]] = {}
    notes: dict[int, int] = {}
    if ids:
        for pid, kind, handle, followers in session.execute(
            select(PersonAuthor.person_id, Author.kind, Author.handle, Author.followers)
            .join(Author, Author.id == PersonAuthor.author_id)
            .where(PersonAuthor.person_id.in_(ids))
            .order_by(Author.kind, Author.handle)
        ):
            accounts.setdefault(pid, []).append(f"{kind}:{handle}")
            reach[pid] = reach.get(pid, 0) + (followers or 0)
        for pid, name in session.execute(
            select(PersonTag.person_id, PersonTag.tag)
            .where(PersonTag.person_id.in_(ids))
            .order_by(PersonTag.tag)
        ):
            tags.setdefault(pid, []).append(name)
        for pid, n in session.execute(
            select(PersonNote.person_id, func.count())
            .where(PersonNote.person_id.in_(ids))
            .group_by(PersonNote.person_id)
        ):
            notes[pid] = int(n)
    return [
        PersonSummary(
            p.id,  # type: ignore[arg-type]
            p.name,
            accounts.get(p.id, []),  # type: ignore[arg-type]
            tags.get(p.id, []),  # type: ignore[arg-type]
            reach.get(p.id, 0),  # type: ignore[arg-type]
            notes.get(p.id, 0),  # type: ignore[arg-type]
        )
        for p in persons
    ]


def author_choices(
    session: Session, *, limit: int = 2000, exclude: Sequence[int] = ()
) -> list[AuthorChoice]:
    """Accounts for the link picker: the most recently seen first, without `exclude`."""
    stmt = (
        select(Author, Person.name)
        .outerjoin(PersonAuthor, PersonAuthor.author_id == Author.id)
        .outerjoin(Person, Person.id == PersonAuthor.person_id)
        .order_by(Author.last_seen_at.desc(), Author.id.desc())
        .limit(limit)
    )
    if exclude:
        stmt = stmt.where(Author.id.notin_(list(exclude)))
    return [
        AuthorChoice(a.id, a.kind, a.handle, a.name, a.followers, pname)  # type: ignore[arg-type]
        for a, pname in session.execute(stmt)
    ]


def conversation_ids(author_ids: Sequence[int]) -> Any:
    """A subquery: the conversations these authors started or wrote in (both indexed)."""
    ids = list(author_ids)
    return union(
        select(Conversation.id).where(Conversation.author_id.in_(ids)),
        select(Mention.conversation_id).where(Mention.author_id.in_(ids)),
    )


def week_start(when: datetime) -> datetime:
    """Monday 00:00 UTC of the week `when` falls in."""
    day = to_utc(when).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def profile(
    session: Session,
    target: Target | PersonRef,
    *,
    weeks: int = TREND_WEEKS,
    limit: int = CONVERSATIONS_SHOWN,
    now: datetime | None = None,
) -> Profile:
    """Everything about one person; `limit` conversations (newest activity first) are listed."""
    ref = target if isinstance(target, PersonRef) else resolve(session, target)
    ids = list(ref.author_ids)
    now = now or utcnow()
    identities = _identities(session, ids)
    in_person = conversation_ids(ids).subquery("in_person")
    c = Conversation
    outcomes = {
        str(status): int(n)
        for status, n in session.execute(
            select(c.status, func.count())
            .where(c.id.in_(select(in_person.c.id)))
            .group_by(c.status)
        )
    }
    total = sum(outcomes.values())  # every conversation once, by its status
    rows = session.execute(
        select(
            c.id,
            c.kind,
            Source.name,
            c.title,
            c.excerpt,
            c.status,
            c.created_at,
            c.last_activity_at,
            c.resolved_at,
            Agent.handle,
            Role.name,
            c.author_id,
        )
        .join(Source, Source.id == c.source_id)
        .outerjoin(Agent, Agent.id == c.agent_id)
        .outerjoin(Role, Role.id == c.role_id)
        .where(c.id.in_(select(in_person.c.id)))
        .order_by(c.last_activity_at.desc(), c.id.desc())
        .limit(limit)
    ).all()
    conversations = [
        ConversationOutcome(
            id=r[0],
            kind=r[1],
            source=r[2],
            title=r[3],
            excerpt=r[4] or "",
            status=r[5],
            created_at=r[6],
            last_activity_at=r[7],
            resolved_at=r[8],
            agent=r[9],
            role=r[10],
            started=r[11] in ids,
        )
        for r in rows
    ]
    last_reply = _last_reply(session, in_person)
    candidates = [
        x
        for x in (
            last_reply,
            _last_person_note(session, ref),
            _last_conversation_note(session, in_person),
        )
        if x is not None
    ]
    return Profile(
        ref=ref,
        identities=identities,
        conversations=conversations,
        conversations_total=total,
        outcomes=outcomes,
        trend=_trend(session, ids, weeks, now),
        tags=_tags_of(session, ref.person_id),
        notes=_notes(session, ref.person_id),
        last_contact=max(candidates, key=lambda x: to_utc(x.at), default=None),
        last_reply=last_reply,
    )


def _identities(session: Session, ids: list[int]) -> list[Identity]:
    counts = dict(
        session.execute(
            select(Mention.author_id, func.count())
            .where(Mention.author_id.in_(ids))
            .group_by(Mention.author_id)
        ).all()
    )
    authors = session.execute(
        select(Author).where(Author.id.in_(ids)).order_by(Author.followers.desc(), Author.id)
    ).scalars()
    return [
        Identity(
            a.id,  # type: ignore[arg-type]
            a.kind,
            a.handle,
            a.name,
            a.followers,
            a.url,
            a.first_seen_at,
            a.last_seen_at,
            int(counts.get(a.id, 0)),
        )
        for a in authors
    ]


def _week(dialect: str) -> Any:
    """The Monday (UTC) of a mention's week, computed by the database."""
    if dialect == "postgresql":
        return func.date_trunc("week", func.timezone("UTC", Mention.created_at))
    return func.date(Mention.created_at, "weekday 0", "-6 days")  # next Sunday, back to Monday


def _label_count(label: str) -> Any:
    return func.sum(case((Mention.sentiment_label == label, 1), else_=0))


def _trend(session: Session, ids: list[int], weeks: int, now: datetime) -> list[WeekSentiment]:
    """Mentions and sentiment labels per week for the last `weeks` weeks (this week last).

    Grouped in SQL over `ix_mention_author` (author, created_at, label): index only.
    """
    first = week_start(now) - timedelta(weeks=max(1, weeks) - 1)
    buckets: dict[datetime, tuple[int, int, int, int]] = {
        first + timedelta(weeks=i): (0, 0, 0, 0) for i in range(max(1, weeks))
    }
    week = _week(session.get_bind().dialect.name).label("week")
    rows = session.execute(
        select(
            week,
            func.count(),
            _label_count("negative"),
            _label_count("neutral"),
            _label_count("positive"),
        )
        .where(Mention.author_id.in_(ids), Mention.created_at >= first)
        .group_by(week)
    )
    for start, n, neg, neu, pos in rows:
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        key = to_utc(start)
        if key in buckets:  # a later week (clock skew) is not a past week
            buckets[key] = (int(n), int(neg or 0), int(neu or 0), int(pos or 0))
    out = []
    for start, (n, neg, neu, pos) in sorted(buckets.items()):
        labelled = neg + neu + pos
        out.append(
            WeekSentiment(start, n, neg, neu, pos, (pos - neg) / labelled if labelled else None)
        )
    return out


def _notes(session: Session, person_id: int | None) -> list[NoteRow]:
    if person_id is None:
        return []
    rows = session.execute(
        select(PersonNote.id, Agent.handle, PersonNote.body, PersonNote.created_at)
        .outerjoin(Agent, Agent.id == PersonNote.agent_id)
        .where(PersonNote.person_id == person_id)
        .order_by(PersonNote.id.desc())
    )
    return [NoteRow(*r) for r in rows]


def _last_reply(session: Session, in_person: Any) -> Contact | None:
    sent = OutboxReply.sent_at
    row = session.execute(
        select(Agent.handle, sent, OutboxReply.conversation_id)
        .outerjoin(Agent, Agent.id == OutboxReply.agent_id)
        .where(
            OutboxReply.conversation_id.in_(select(in_person.c.id)),
            OutboxReply.state == OutboxState.SENT.value,
            sent.is_not(None),
        )
        .order_by(sent.desc(), OutboxReply.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Contact(row[0], row[1], "reply", row[2])


def _last_person_note(session: Session, ref: PersonRef) -> Contact | None:
    if ref.person_id is None:
        return None
    row = session.execute(
        select(Agent.handle, PersonNote.created_at)
        .outerjoin(Agent, Agent.id == PersonNote.agent_id)
        .where(PersonNote.person_id == ref.person_id)
        .order_by(PersonNote.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Contact(row[0], row[1], "person note", None)


def _last_conversation_note(session: Session, in_person: Any) -> Contact | None:
    row = session.execute(
        select(Agent.handle, Note.created_at, Note.conversation_id)
        .outerjoin(Agent, Agent.id == Note.agent_id)
        .where(Note.conversation_id.in_(select(in_person.c.id)))
        .order_by(Note.created_at.desc(), Note.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Contact(row[0], row[1], "conversation note", row[2])


def author_of_conversation(session: Session, conversation_id: int) -> int | None:
    """The root author of a conversation (what `P` in the inbox opens)."""
    return session.execute(
        select(Conversation.author_id).where(Conversation.id == conversation_id)
    ).scalar_one_or_none()


__all__ = [
    "AuthorChoice",
    "ByAuthor",
    "ByPerson",
    "Contact",
    "ConversationOutcome",
    "Identity",
    "NoteRow",
    "PersonRef",
    "PersonSummary",
    "Profile",
    "Result",
    "WeekSentiment",
    "add_note",
    "author_choices",
    "author_of_conversation",
    "conversation_ids",
    "find_author",
    "link",
    "list_people",
    "profile",
    "rename",
    "resolve",
    "tag",
    "unlink",
    "untag",
    "week_start",
]
