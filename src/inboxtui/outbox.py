"""The outbox: every reply is stored before any network call, then sent exactly once.

Queueing (`queue_reply`) is one audited write transaction: the reply's row
(state `queued`, a fresh idempotency key), the templates' usage counts and a
conversation version bump. Nothing has touched the network yet; a crash
afterwards loses nothing, since the worker will find the row.

The worker (`OutboxWorker`) claims due rows by moving them `queued -> sending`
with a lease (owner, expiry) in one write transaction: a conditional UPDATE
per row that only one process can win (SQLite serialises writers, PostgreSQL
re-checks the WHERE after the row lock). It then sends through the source's
adapter: Mastodon dedupes by `Idempotency-Key`, Bluesky by a record key
derived from the same key, Reddit looks for its own comment before posting;
for GitHub and Discourse, after an attempt that may have reached the server
(a timeout, a cut connection, a 5xx, a worker that died while sending) the
worker first looks for our reply (`inboxtui.reply_lookup`) and records it
instead of posting again. Transient failures go back to `queued` with
exponential back-off; permanent ones, or too many attempts, end `failed` with
the reason. Nothing is dropped silently: `inboxtui outbox list` shows all.

The first successful public reply sets `conversation.first_response_at`; a
template's status and tags are applied after the send, through the triage
services (so they are audited). Sources without a reply API record a reply
made by hand on the site as `sent` with `external` set and no remote URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session

from inboxtui import services
from inboxtui.db import Database
from inboxtui.models import (
    Agent,
    AgentRole,
    Author,
    Conversation,
    Incident,
    Mention,
    OutboxReply,
    OutboxState,
    Role,
    Source,
    Template,
)
from inboxtui.polling import backoff_seconds, source_secret
from inboxtui.reply_limits import Length, measure
from inboxtui.reply_lookup import find_existing_reply
from inboxtui.secrets import SecretError, env_secret, redact
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, PermissionDenied, ServiceError
from inboxtui.services.triage import ensure_agent
from inboxtui.sources.base import ReplyRequest, ReplyResult, SourceError, make_client
from inboxtui.sources.registry import adapter_class
from inboxtui.templates import TemplateSpec, find_template, render_body
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import iso, utcnow

log = logging.getLogger(__name__)

OUTBOX_ACTOR = "system:outbox"
LEASE_SECONDS = 120.0  # a sender holds a reply this long; a dead sender's reply is retaken
MAX_ATTEMPTS = 8
RETRY_BASE = 15.0  # seconds before the first retry; doubles per attempt (with jitter)
RETRY_CAP = 1800.0
ERROR_CHARS = 500
APPROVER_ROLES = ("pr", "lead")
_OUT = OutboxReply.__table__  # type: ignore[attr-defined]
_CONV = Conversation.__table__  # type: ignore[attr-defined]
_TEMPLATE = Template.__table__  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the reply target


@dataclass
class ReplyTarget:
    """What a reply to one conversation needs: the mention answered, its source, names."""

    conversation_id: int
    version: int
    root_key: str
    source_name: str
    kind: str
    options: dict[str, str]
    secret_ref: str | None
    can_reply: bool
    mention_id: int | None
    external_id: str | None
    url: str | None
    lang: str | None
    author_name: str
    author_handle: str
    agent_name: str

    def values(self) -> dict[str, str]:
        """The built-in placeholders' values."""
        return {
            "author.name": self.author_name,
            "author.handle": self.author_handle,
            "agent.name": self.agent_name,
            "source.name": self.source_name,
            "conversation.id": str(self.conversation_id),
        }

    def measure(self, body: str) -> Length:
        return measure(self.kind, body, self.options)


def _options(source: Source) -> dict[str, str]:
    try:
        options = json.loads(source.config or "{}")
    except ValueError:
        options = {}
    options = {str(k): str(v) for k, v in options.items()} if isinstance(options, dict) else {}
    if source.url and "url" not in options:
        options["url"] = source.url
    return options


def _not_ours(query: Any, source: Source, conversation_id: int) -> Any:
    """`query` without the mentions our account wrote or our outbox sent."""
    sent = select(OutboxReply.remote_id).where(
        OutboxReply.conversation_id == conversation_id, OutboxReply.remote_id.is_not(None)
    )
    query = query.where(Mention.external_id.not_in(sent))
    account = _options(source).get("account", "").strip()
    if account:
        ours = select(Author.id).where(
            Author.kind == source.kind, func.lower(Author.handle) == account.lower()
        )
        query = query.where(Mention.author_id.not_in(ours))
    return query


def load_target(
    session: Session, conversation_id: int, actor: str, mention_id: int | None = None
) -> ReplyTarget:
    """The mention to answer (or `mention_id`), its author, source and our name.

    The newest mention not written by us: a thread often ends with our own
    earlier answer, and "Hi {author.name}" must greet the customer, not the
    brand. Ours are the posts by the source's `account` option (our handle
    there) and the posts our outbox sent; when every mention is ours, the
    newest one.
    """
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation #{conversation_id}")
    source = session.get(Source, conversation.source_id)
    assert source is not None
    query = select(Mention).where(Mention.conversation_id == conversation_id)
    newest = (Mention.created_at.desc(), Mention.id.desc())
    if mention_id is not None:
        query = query.where(Mention.id == mention_id)
    mention = None
    if mention_id is None:
        mention = session.execute(
            _not_ours(query, source, conversation_id).order_by(*newest).limit(1)
        ).scalar_one_or_none()
    if mention is None:
        mention = session.execute(query.order_by(*newest).limit(1)).scalar_one_or_none()
    if mention is None and mention_id is not None:
        raise NotFound(f"conversation #{conversation_id} has no mention #{mention_id}")
    author = session.get(Author, mention.author_id) if mention else None
    agent = session.execute(select(Agent).where(Agent.handle == actor.strip())).scalar_one_or_none()
    try:
        can_reply = adapter_class(source.kind).can_reply
    except SourceError:
        can_reply = False
    return ReplyTarget(
        conversation_id=conversation_id,
        version=conversation.version,
        root_key=conversation.root_key,
        source_name=source.name,
        kind=source.kind,
        options=_options(source),
        secret_ref=source.secret_ref,
        can_reply=can_reply,
        mention_id=mention.id if mention else None,
        external_id=mention.external_id if mention else None,
        url=mention.url if mention else None,
        lang=mention.lang if mention else None,
        author_name=(author.name or author.handle) if author else "",
        author_handle=author.handle if author else "",
        agent_name=(agent.display_name or agent.handle) if agent else actor.strip(),
    )


def reply_target(db: Database, conversation_id: int, actor: str) -> ReplyTarget:
    with db.read() as session:
        return load_target(session, conversation_id, actor)


# ---------------------------------------------------------------- rendering


@dataclass
class Rendered:
    """A reply's text made of templates (in order) and free text, with what sending does."""

    body: str
    templates: list[TemplateSpec] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    requires_approval: bool = False

    def add(self, spec: TemplateSpec) -> None:
        """Count `spec` in: the last status wins, tags add up, approval is contagious."""
        self.templates.append(spec)
        self.status = spec.status or self.status
        self.tags = sorted({*self.tags, *spec.tags})
        self.requires_approval = self.requires_approval or spec.requires_approval


def render_templates(
    target: ReplyTarget,
    specs: Sequence[TemplateSpec],
    fields: Mapping[str, str] | None = None,
    text: str | None = None,
) -> Rendered:
    """Each template's variant for the mention's language, filled; then `text`, blank-line apart.

    The last template that sets a status wins; tags are the union.
    """
    parts: list[str] = []
    rendered = Rendered(body="")
    for spec in specs:
        variant, body = spec.variant_for(target.lang)
        parts.append(
            render_body(body, target.values(), fields, template=spec.name, variant=variant).strip()
        )
        rendered.variants.append(variant)
        rendered.add(spec)
    if text and text.strip():
        parts.append(text.strip())
    rendered.body = "\n\n".join(parts)
    return rendered


def render_for(
    db: Database,
    conversation_id: int,
    names: Sequence[str],
    *,
    actor: str,
    fields: Mapping[str, str] | None = None,
    text: str | None = None,
) -> tuple[ReplyTarget, Rendered]:
    with db.read() as session:
        target = load_target(session, conversation_id, actor)
        specs = [find_template(session, name) for name in names]
    return target, render_templates(target, specs, fields, text)


# ---------------------------------------------------------------- queueing


@dataclass(frozen=True)
class Queued:
    outbox_id: int | None  # None: an internal note, which never enters the outbox
    conversation_id: int
    state: str
    summary: str


def _agent_roles(session: Session, handle: str) -> set[str]:
    rows = session.execute(
        select(Role.name)
        .join(AgentRole, AgentRole.role_id == Role.id)
        .join(Agent, Agent.id == AgentRole.agent_id)
        .where(Agent.handle == handle)
    ).scalars()
    return set(rows)


def _check_templates(
    session: Session, target: ReplyTarget, rendered: Rendered, actor: str
) -> set[str]:
    """Refuse templates not for the actor's roles or this source; returns the actor's roles."""
    roles = _agent_roles(session, actor)
    for spec in rendered.templates:
        if spec.roles and not roles & set(spec.roles):
            raise PermissionDenied(
                f"template '{spec.name}' is for role(s) {', '.join(spec.roles)}; "
                f"{actor} has {', '.join(sorted(roles)) or 'no role'}"
            )
        if not spec.fits(target.kind):
            raise ServiceError(
                f"template '{spec.name}' is for {', '.join(spec.kinds)}, "
                f"not {target.kind} ({target.source_name})"
            )
    return roles


def is_approver(session: Session, handle: str) -> bool:
    """PR and leads approve: an agent in the `pr` or `lead` role, or in a lead role."""
    query = (
        select(Role.id)
        .join(AgentRole, AgentRole.role_id == Role.id)
        .join(Agent, Agent.id == AgentRole.agent_id)
        .where(
            Agent.handle == handle,
            or_(Role.name.in_(APPROVER_ROLES), Role.is_lead.is_(True)),
        )
        .limit(1)
    )
    return session.execute(query).first() is not None


def approval_reasons(
    session: Session, conversation_id: int, rendered: Rendered, actor: str
) -> list[str]:
    """Why a reply needs an approver's yes (empty: it does not).

    A template that says so; a role whose agents' replies need approval (new
    or outsourced agents); an escalated conversation while an incident is open.
    """
    reasons = [f"template '{s.name}' requires approval" for s in rendered.templates
               if s.requires_approval]  # fmt: skip
    roles = session.execute(
        select(Role.name)
        .join(AgentRole, AgentRole.role_id == Role.id)
        .join(Agent, Agent.id == AgentRole.agent_id)
        .where(Agent.handle == actor, Role.requires_approval.is_(True))
        .order_by(Role.name)
    ).scalars()
    reasons.extend(f"replies by role '{name}' need approval" for name in roles)
    escalated = session.execute(
        select(_CONV.c.escalated).where(_CONV.c.id == conversation_id)
    ).scalar_one_or_none()
    if escalated:
        incident = session.execute(
            select(Incident.id)
            .where(Incident.status != "resolved", Incident.closed_at.is_(None))
            .order_by(Incident.id)
            .limit(1)
        ).scalar_one_or_none()
        if incident is not None:
            reasons.append(f"escalated while incident #{incident} is open")
    return reasons


def _bump(session: Session, conversation_id: int, **values: Any) -> int:
    """Bump the conversation's version (open TUIs refresh on it); returns the new version."""
    session.execute(
        update(_CONV)
        .where(_CONV.c.id == conversation_id)
        .values(version=_CONV.c.version + 1, updated_at=utcnow(), **values)
    )
    return int(
        session.execute(select(_CONV.c.version).where(_CONV.c.id == conversation_id)).scalar_one()
    )


def queue_reply(
    db: Database,
    conversation_id: int,
    *,
    actor: str,
    templates: Sequence[str] = (),
    fields: Mapping[str, str] | None = None,
    text: str | None = None,
    note: bool = False,
    external: bool = False,
    expected_version: int | None = None,
    body: str | None = None,
) -> Queued:
    """Write a reply to the outbox (or an internal note with `note=True`) before any sending.

    Either the templates are rendered (then `text` appended), or `body` is the
    final text as the composer edited it, `templates` naming those inserted
    into it (checked, counted, and their status and tags applied on send).

    `external` records a reply the agent made on the site by hand (the only way
    for sources without a reply API). Raises `ServiceError`s with the reason:
    over the platform's limit, a template not for this role or source, a
    source that cannot reply, a conversation changed since `expected_version`.
    """
    if body is None:
        target, rendered = render_for(
            db, conversation_id, templates, actor=actor, fields=fields, text=text
        )
    else:
        with db.read() as session:
            target = load_target(session, conversation_id, actor)
            rendered = Rendered(body=body)
            for name in templates:
                rendered.add(find_template(session, name))
    body = sanitize(rendered.body).strip()
    if not body:
        raise ServiceError("a reply needs some text: --text or --template")
    if note:
        change = services.add_note(
            db, conversation_id, body, actor=actor, expected_version=expected_version
        )
        return Queued(None, conversation_id, "note", change.summary)
    if not external and not target.can_reply:
        raise ServiceError(
            f"{target.kind} ({target.source_name}) has no reply API: reply on the site "
            f"({target.url or 'no link'}), then record it with --external"
        )
    if target.external_id is None:
        raise ServiceError(f"conversation #{conversation_id} has no mention to reply to")
    length = target.measure(body)
    if length.over and not external:
        raise ServiceError(
            f"the reply is too long for {target.kind}: {length.describe()} "
            f"({length.used - (length.limit or 0)} over)"
        )
    now = utcnow()
    with db.write() as session:
        ensure_agent(session, actor)
        _check_templates(session, target, rendered, actor)
        reasons = approval_reasons(session, conversation_id, rendered, actor)
        self_approved = bool(reasons) and is_approver(session, actor)
        waits = bool(reasons) and not self_approved
        if waits and external:
            raise PermissionDenied(
                f"this reply needs approval ({'; '.join(reasons)}): submit it from a source "
                "that can reply, or ask an approver (pr, lead) to reply"
            )
        current = session.execute(
            select(_CONV.c.version).where(_CONV.c.id == conversation_id)
        ).scalar_one_or_none()
        if current is None:
            raise NotFound(f"no conversation #{conversation_id}")
        if expected_version is not None and current != expected_version:
            raise services.ConflictError(
                f"#{conversation_id} changed since version {expected_version} "
                f"(now {current}): reload before replying",
                conversation_id=conversation_id,
                current_version=current,
            )
        agent_id = ensure_agent(session, actor).id
        row = OutboxReply(
            conversation_id=conversation_id,
            agent_id=agent_id,
            in_reply_to_mention_id=target.mention_id,
            body=body,
            idempotency_key=f"inboxtui-{uuid.uuid4().hex}",
            state=(
                OutboxState.SENT.value
                if external
                else OutboxState.AWAITING_APPROVAL.value
                if waits
                else OutboxState.QUEUED.value
            ),
            external=external,
            approval_reason="; ".join(reasons) if reasons else None,
            reviewer_id=agent_id if self_approved else None,
            template_name=", ".join(s.name for s in rendered.templates) or None,
            on_send=json.dumps({"status": rendered.status, "tags": rendered.tags}),
            created_at=now,
            updated_at=now,
            sent_at=now if external else None,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        for spec in rendered.templates:
            session.execute(
                update(_TEMPLATE)
                .where(_TEMPLATE.c.name == spec.name)
                .values(usage_count=_TEMPLATE.c.usage_count + 1)
            )
        first = {"first_response_at": now} if external else {}
        if external:
            first_known = session.execute(
                select(_CONV.c.first_response_at).where(_CONV.c.id == conversation_id)
            ).scalar_one()
            first = {} if first_known is not None else first
        version = _bump(session, conversation_id, **first)
        action = "reply.external" if external else "reply.submit" if waits else "reply.queue"
        after: dict[str, Any] = {"outbox_id": row.id}
        if reasons:
            after["approval"] = "self-approved" if self_approved else "awaiting"
        if rendered.templates:
            after["templates"] = [s.name for s in rendered.templates]
        after.update(first)
        audit.record(
            session,
            conversation_id=conversation_id,
            actor=actor,
            action=action,
            before=None,
            after=after,
            version=version,
            detail=one_line(body),
        )
        outbox_id = row.id
    if external:
        _apply_on_send(db, conversation_id, rendered.status, rendered.tags, actor)
        return Queued(outbox_id, conversation_id, "sent", f"#{conversation_id} replied externally")
    if waits:
        return Queued(
            outbox_id,
            conversation_id,
            OutboxState.AWAITING_APPROVAL.value,
            f"#{conversation_id} reply submitted for approval (outbox {outbox_id}): "
            + "; ".join(reasons),
        )
    return Queued(
        outbox_id,
        conversation_id,
        "queued",
        f"#{conversation_id} reply queued (outbox {outbox_id})",
    )


def _apply_on_send(
    db: Database, conversation_id: int, status: str | None, tags: Sequence[str], actor: str
) -> None:
    """A template's status and tags, through the audited services (never fatal after a send)."""
    try:
        if status:
            services.set_status(db, conversation_id, status, actor=actor)
        for name in tags:
            services.tag(db, conversation_id, name, actor=actor)
    except ServiceError as exc:
        log.warning("reply to #%s sent, but applying its template failed: %s", conversation_id, exc)


# ---------------------------------------------------------------- listing, retry, cancel


@dataclass(frozen=True)
class OutboxItem:
    id: int
    conversation_id: int
    agent: str | None
    state: str
    external: bool
    attempts: int
    body: str
    template: str | None
    approval_reason: str | None
    last_error: str | None
    remote_id: str | None
    remote_url: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation": self.conversation_id,
            "agent": self.agent,
            "state": self.state,
            "external": self.external,
            "attempts": self.attempts,
            "template": self.template,
            "approval_reason": self.approval_reason,
            "body": self.body,
            "last_error": self.last_error,
            "remote_id": self.remote_id,
            "remote_url": self.remote_url,
            "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "sent_at": iso(self.sent_at),
        }


def list_outbox(
    db: Database,
    *,
    states: Sequence[str] | None = None,
    conversation_id: int | None = None,
    limit: int = 200,
) -> list[OutboxItem]:
    """Newest first; `states` filters (e.g. failed)."""
    query = select(OutboxReply, Agent.handle).outerjoin(Agent, Agent.id == OutboxReply.agent_id)
    if states:
        query = query.where(OutboxReply.state.in_(list(states)))
    if conversation_id is not None:
        query = query.where(OutboxReply.conversation_id == conversation_id)
    query = query.order_by(OutboxReply.id.desc()).limit(limit)
    with db.read() as session:
        return [
            OutboxItem(
                id=row.id,
                conversation_id=row.conversation_id,
                agent=handle,
                state=row.state,
                external=bool(row.external),
                attempts=row.attempts,
                body=row.body,
                template=row.template_name,
                approval_reason=row.approval_reason,
                last_error=row.last_error,
                remote_id=row.remote_id,
                remote_url=row.remote_url,
                created_at=row.created_at,
                next_attempt_at=row.next_attempt_at,
                sent_at=row.sent_at,
            )
            for row, handle in session.execute(query).all()
        ]


_VERBS = {
    "reply.retry": "queued again",
    "reply.cancel": "cancelled",
    "reply.approve": "approved and queued",
    "reply.reject": "rejected",
}


def _change_state(
    db: Database,
    outbox_id: int,
    *,
    actor: str,
    action: str,
    allowed: Sequence[str],
    values: dict[str, Any],
    approver: bool = False,
    detail: str | None = None,
) -> OutboxReply:
    """One audited state change of an outbox reply, only from `allowed` states."""
    with db.write() as session:
        actor_id = ensure_agent(session, actor).id
        row = session.get(OutboxReply, outbox_id)
        if row is None:
            raise NotFound(f"no outbox reply {outbox_id}")
        if approver and not is_approver(session, actor):
            raise PermissionDenied(
                f"{actor} cannot review replies: approvers are in the "
                f"{' or '.join(APPROVER_ROLES)} role, or a lead role"
            )
        if approver:
            values = {**values, "reviewer_id": actor_id}
        result = session.execute(
            update(_OUT)
            .where(_OUT.c.id == outbox_id, _OUT.c.state.in_(list(allowed)))
            .values(updated_at=utcnow(), **values)
        )
        if result.rowcount != 1:
            raise ServiceError(
                f"outbox reply {outbox_id} is {row.state}: only "
                f"{' or '.join(s.replace('_', ' ') for s in allowed)} replies can be "
                f"{_VERBS[action].split(' and ')[0]}"
            )
        version = _bump(session, row.conversation_id)
        audit.record(
            session,
            conversation_id=row.conversation_id,
            actor=actor,
            action=action,
            before={"outbox_state": row.state},
            after={"outbox_id": outbox_id, "outbox_state": values["state"]},
            version=version,
            detail=detail,
        )
        return row


def retry(db: Database, outbox_id: int, *, actor: str) -> str:
    """A failed (or waiting) reply goes back to the queue, due now, with a fresh attempt budget.

    The idempotency key is kept, so a reply that did reach the server is not doubled.
    """
    _change_state(
        db,
        outbox_id,
        actor=actor,
        action="reply.retry",
        allowed=(OutboxState.FAILED.value, OutboxState.QUEUED.value),
        values={"state": OutboxState.QUEUED.value, "next_attempt_at": None, "attempts": 0},
    )
    return f"outbox reply {outbox_id} queued again"


def cancel(db: Database, outbox_id: int, *, actor: str) -> str:
    """A reply not sent yet will never be (one being sent right now cannot be cancelled)."""
    _change_state(
        db,
        outbox_id,
        actor=actor,
        action="reply.cancel",
        allowed=(
            OutboxState.FAILED.value,
            OutboxState.QUEUED.value,
            OutboxState.AWAITING_APPROVAL.value,
        ),
        values={"state": OutboxState.CANCELLED.value, "next_attempt_at": None},
    )
    return f"outbox reply {outbox_id} cancelled"


def approve(db: Database, outbox_id: int, *, actor: str, body: str | None = None) -> str:
    """An approver lets a waiting reply go to the sender, as written or as they edited it.

    The only way out of `awaiting_approval` towards the network: the sender
    claims `queued` replies only.
    """
    values: dict[str, Any] = {"state": OutboxState.QUEUED.value, "next_attempt_at": None}
    if body is not None:
        text = sanitize(body).strip()
        if not text:
            raise ServiceError("an approved reply needs some text")
        with db.read() as session:
            row = session.get(OutboxReply, outbox_id)
            if row is None:
                raise NotFound(f"no outbox reply {outbox_id}")
            target = load_target(session, row.conversation_id, actor)
        length = target.measure(text)
        if length.over:
            raise ServiceError(f"the edited reply is too long for {target.kind}: "
                               f"{length.describe()}")  # fmt: skip
        values["body"] = text
    _change_state(
        db,
        outbox_id,
        actor=actor,
        action="reply.approve",
        allowed=(OutboxState.AWAITING_APPROVAL.value,),
        values=values,
        approver=True,
        detail="edited by the approver" if body is not None else None,
    )
    return f"outbox reply {outbox_id} approved and queued"


def reject(db: Database, outbox_id: int, *, actor: str, comment: str) -> str:
    """An approver turns a waiting reply down; the comment goes to its author as a note."""
    comment = sanitize(comment or "").strip()
    if not comment:
        raise ServiceError("a rejection needs a comment for the reply's author")
    row = _change_state(
        db,
        outbox_id,
        actor=actor,
        action="reply.reject",
        allowed=(OutboxState.AWAITING_APPROVAL.value,),
        values={"state": OutboxState.REJECTED.value, "last_error": f"rejected: {comment}"},
        approver=True,
        detail=comment,
    )
    with db.read() as session:
        author = session.get(Agent, row.agent_id) if row.agent_id else None
    to = f"@{author.handle} " if author else ""
    services.add_note(
        db,
        row.conversation_id,
        f"{to}reply {outbox_id} rejected by {actor}: {comment}",
        actor=actor,
    )
    return f"outbox reply {outbox_id} rejected"


# ---------------------------------------------------------------- the worker


@dataclass
class SendOutcome:
    outbox_id: int
    conversation_id: int
    state: str  # sent | queued (will retry) | failed | taken over (by another sender)
    remote_url: str | None = None
    error: str | None = None
    found_existing: bool = False

    def summary(self) -> str:
        if self.state == "sent":
            how = " (found our earlier reply)" if self.found_existing else ""
            return f"outbox {self.outbox_id}: sent {self.remote_url or ''}{how}".rstrip()
        if self.state == "queued":
            return f"outbox {self.outbox_id}: will retry: {self.error}"
        if self.state == "taken over":
            return f"outbox {self.outbox_id}: another sender took it over"
        return f"outbox {self.outbox_id}: failed: {self.error}"


@dataclass
class _Job:
    id: int
    conversation_id: int
    body: str
    key: str
    created_at: datetime
    attempts: int
    ambiguous: bool
    on_send: dict[str, Any]
    agent: str | None
    source_name: str
    kind: str
    options: dict[str, str]
    secret_ref: str | None
    root_key: str
    external_id: str
    url: str | None
    lang: str | None


def make_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _due(now: datetime) -> Any:
    queued = and_(
        _OUT.c.state == OutboxState.QUEUED.value,
        or_(_OUT.c.next_attempt_at.is_(None), _OUT.c.next_attempt_at <= now),
    )
    abandoned = and_(_OUT.c.state == OutboxState.SENDING.value, _OUT.c.lease_expires_at <= now)
    return or_(queued, abandoned)


def claim(
    db: Database,
    owner: str,
    now: datetime,
    *,
    lease_seconds: float = LEASE_SECONDS,
    limit: int = 20,
) -> list[int]:
    """Move due replies to `sending` under our lease; returns the ids now ours.

    A `sending` reply whose lease ran out belonged to a sender that died
    mid-send: it is taken over and marked ambiguous (it may have been posted).
    """
    with db.write() as session:
        candidates = list(
            session.execute(
                select(_OUT.c.id).where(_due(now)).order_by(_OUT.c.id).limit(limit)
            ).scalars()
        )
        claimed: list[int] = []
        for outbox_id in candidates:
            result = session.execute(
                update(_OUT)
                .where(_OUT.c.id == outbox_id, _due(now))
                .values(
                    state=OutboxState.SENDING.value,
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=_OUT.c.attempts + 1,
                    ambiguous=or_(_OUT.c.ambiguous, _OUT.c.state == OutboxState.SENDING.value),
                    updated_at=now,
                )
            )
            if result.rowcount == 1:
                claimed.append(outbox_id)
        return claimed


def _load_job(session: Session, outbox_id: int) -> _Job:
    row = session.get(OutboxReply, outbox_id)
    assert row is not None
    conversation = session.get(Conversation, row.conversation_id)
    assert conversation is not None
    source = session.get(Source, conversation.source_id)
    assert source is not None
    mention = (
        session.get(Mention, row.in_reply_to_mention_id) if row.in_reply_to_mention_id else None
    )
    agent = session.get(Agent, row.agent_id) if row.agent_id else None
    try:
        on_send = json.loads(row.on_send or "{}")
    except ValueError:
        on_send = {}
    return _Job(
        id=outbox_id,
        conversation_id=row.conversation_id,
        body=row.body,
        key=row.idempotency_key,
        created_at=row.created_at,
        attempts=row.attempts,
        ambiguous=bool(row.ambiguous),
        on_send=on_send if isinstance(on_send, dict) else {},
        agent=agent.handle if agent else None,
        source_name=source.name,
        kind=source.kind,
        options=_options(source),
        secret_ref=source.secret_ref,
        root_key=conversation.root_key,
        external_id=mention.external_id if mention else conversation.root_key,
        url=mention.url if mention else None,
        lang=mention.lang if mention else None,
    )


def may_have_reached_server(exc: BaseException) -> bool:
    """Whether a failed attempt could still have created the reply (then we look before resending).

    A refused connection or a 4xx answer never did; a timeout, a cut
    connection or a 5xx might have, after the server had stored it.
    """
    if isinstance(exc, SourceError) and exc.status is not None:
        return exc.status >= 500
    cause = exc.__cause__
    if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
        return False
    return isinstance(exc, SourceError) and exc.transient


class OutboxWorker:
    """Sends due replies. `run_once` drains what is due now; `clock` lets tests move time."""

    def __init__(
        self,
        db: Database,
        *,
        owner: str | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = LEASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.db = db
        self.owner = owner or make_owner()
        self.client = client
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    async def run_once(self) -> list[SendOutcome]:
        """Claim and send until nothing is due (replies waiting for a retry stay queued)."""
        outcomes: list[SendOutcome] = []
        own_client = self.client is None
        client = self.client or make_client()
        try:
            while True:
                ids = await asyncio.to_thread(
                    claim, self.db, self.owner, self.clock(), lease_seconds=self.lease_seconds
                )
                if not ids:
                    break
                for outbox_id in ids:
                    outcomes.append(await self.send(outbox_id, client))
        finally:
            if own_client:
                await client.aclose()
        return outcomes

    async def send(self, outbox_id: int, client: httpx.AsyncClient) -> SendOutcome:
        """Send one reply we hold the lease of, and record what happened."""
        job = await asyncio.to_thread(self._job, outbox_id)
        secret: str | None = None
        try:
            if job.secret_ref is None:
                secret = env_secret(job.source_name)
            else:
                secret = await asyncio.to_thread(source_secret, job.source_name, job.secret_ref)
            adapter = adapter_class(job.kind)(job.source_name, job.options, client, secret)
            request = ReplyRequest(
                in_reply_to_external_id=job.external_id,
                in_reply_to_url=job.url,
                body=job.body,
                idempotency_key=job.key,
                context={"thread": job.root_key, "created_at": job.created_at},
            )
            existing: ReplyResult | None = None
            if job.ambiguous:
                existing = await find_existing_reply(adapter, request, since=job.created_at)
            result = existing or await adapter.send_reply(request)
        except (SourceError, SecretError) as exc:
            return await asyncio.to_thread(self._failed, job, exc, secret)
        except Exception as exc:  # an adapter bug: recorded, never a silent loss
            log.exception("outbox %s: internal error", outbox_id)
            error = SourceError(f"internal error ({type(exc).__name__}: {exc})", transient=False)
            return await asyncio.to_thread(self._failed, job, error, secret)
        await asyncio.to_thread(self._sent, job, result)
        return SendOutcome(
            job.id,
            job.conversation_id,
            "sent",
            remote_url=result.remote_url,
            found_existing=existing is not None,
        )

    def _job(self, outbox_id: int) -> _Job:
        with self.db.read() as session:
            return _load_job(session, outbox_id)

    def _sent(self, job: _Job, result: ReplyResult) -> None:
        now = self.clock()
        with self.db.write() as session:
            session.execute(
                update(_OUT)
                .where(_OUT.c.id == job.id)
                .values(
                    state=OutboxState.SENT.value,
                    remote_id=result.remote_id,
                    remote_url=result.remote_url,
                    sent_at=now,
                    last_error=None,
                    ambiguous=False,
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=None,
                    updated_at=now,
                )
            )
            first_known = session.execute(
                select(_CONV.c.first_response_at).where(_CONV.c.id == job.conversation_id)
            ).scalar_one()
            first = {} if first_known is not None else {"first_response_at": now}
            version = _bump(session, job.conversation_id, **first)
            audit.record(
                session,
                conversation_id=job.conversation_id,
                actor=job.agent or OUTBOX_ACTOR,
                action="reply.sent",
                before=None,
                after={
                    "outbox_id": job.id,
                    "remote_url": result.remote_url,
                    "attempts": job.attempts,
                    **first,
                },
                version=version,
            )
        tags = [str(t) for t in job.on_send.get("tags") or []]
        status = job.on_send.get("status")
        _apply_on_send(
            self.db,
            job.conversation_id,
            str(status) if status else None,
            tags,
            job.agent or OUTBOX_ACTOR,
        )

    def _failed(self, job: _Job, exc: BaseException, secret: str | None) -> SendOutcome:
        now = self.clock()
        message = redact(str(exc), [secret])[:ERROR_CHARS]
        transient = isinstance(exc, SourceError) and exc.transient
        retry_after = exc.retry_after if isinstance(exc, SourceError) else None
        again = transient and job.attempts < self.max_attempts
        ambiguous = job.ambiguous or may_have_reached_server(exc)
        values: dict[str, Any] = {
            "last_error": message,
            "ambiguous": ambiguous,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if again:
            wait = backoff_seconds(job.attempts, RETRY_BASE, retry_after=retry_after, cap=RETRY_CAP)
            values.update(
                state=OutboxState.QUEUED.value, next_attempt_at=now + timedelta(seconds=wait)
            )
        else:
            if transient:
                message = f"gave up after {job.attempts} attempts: {message}"
                values["last_error"] = message
            values.update(state=OutboxState.FAILED.value, next_attempt_at=None)
        with self.db.write() as session:
            mine = session.execute(
                update(_OUT)
                .where(
                    _OUT.c.id == job.id,
                    _OUT.c.state == OutboxState.SENDING.value,
                    _OUT.c.lease_owner == self.owner,
                )
                .values(**values)
            )
            if mine.rowcount != 1:  # our lease ran out and another sender took it over
                return SendOutcome(job.id, job.conversation_id, "taken over", error=message)
            if not again:
                version = _bump(session, job.conversation_id)
                audit.record(
                    session,
                    conversation_id=job.conversation_id,
                    actor=job.agent or OUTBOX_ACTOR,
                    action="reply.failed",
                    before=None,
                    after={"outbox_id": job.id, "attempts": job.attempts},
                    version=version,
                    detail=message,
                )
        return SendOutcome(job.id, job.conversation_id, values["state"], error=message)


def send_due(db: Database, **worker_options: Any) -> list[SendOutcome]:
    """Run the worker once, synchronously (for the CLI and scripts)."""
    return asyncio.run(OutboxWorker(db, **worker_options).run_once())


__all__ = [
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "OutboxItem",
    "OutboxWorker",
    "Queued",
    "Rendered",
    "ReplyTarget",
    "SendOutcome",
    "approval_reasons",
    "approve",
    "cancel",
    "claim",
    "is_approver",
    "list_outbox",
    "load_target",
    "may_have_reached_server",
    "queue_reply",
    "reject",
    "render_for",
    "render_templates",
    "reply_target",
    "retry",
    "send_due",
]
