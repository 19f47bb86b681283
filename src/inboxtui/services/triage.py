"""Triage operations: the only code that changes a conversation's queue state.

The CLI and the TUI call these same functions, so every action is scriptable
and audited. Each operation is one transaction that:

1. reads the conversation (role name, agent handle, tags) inside the transaction;
2. when the caller passes `expected_version` and it differs, raises
   `ConflictError` naming who changed what since (read from the audit log);
3. computes the change; a no-op writes nothing and returns `changed=False`;
4. writes it with `UPDATE ... SET version = version + 1 WHERE id = :id AND
   version = :read`, and raises `ConflictError` when no row matched. On SQLite
   the write transaction already holds the lock (BEGIN IMMEDIATE); on
   PostgreSQL (READ COMMITTED) a concurrent writer blocks on the row lock and
   then sees the bumped version, so it can never silently overwrite — even
   when the caller passed no `expected_version`;
5. records one audit `Event` with the changed fields only, before and after.

Assign and unassign check the team's permissions (`inboxtui.team.Permissions`:
nothing is refused until the team has a lead); a refusal is `PermissionDenied`
before anything is written. A change of status, role or priority recomputes
the SLA deadlines (`inboxtui.sla.refresh`) in the same transaction.

Shared rows created on demand (the acting agent, a new tag) are inserted at
the start of the transaction, before any conversation row is locked, and bulk
operations lock conversations in ascending id order: together these keep two
PostgreSQL writers from deadlocking.

Notes bump the version too: the version is what open TUIs watch to refresh a
conversation, and a new note is news. A TUI adding a note should pass
`expected_version=None` (a note overwrites nothing, so a concurrent assign
should not reject it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from inboxtui import sla
from inboxtui.db import Database
from inboxtui.identity import is_system
from inboxtui.models import (
    PRIORITY_NAME,
    PRIORITY_RANK,
    Agent,
    AgentRole,
    Conversation,
    ConversationTag,
    Note,
    Role,
    Status,
    Tag,
)
from inboxtui.services import audit
from inboxtui.services.errors import ConflictError, NotFound, PermissionDenied, ServiceError
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import iso, parse_when, to_utc, utcnow

CHUNK_SIZE = 500
# The conversation state the audit log describes (and replays onto), in event vocabulary.
STATE_FIELDS = (
    "status",
    "snooze_until",
    "resolved_at",
    "priority",
    "role",
    "agent",
    "escalated",
    "severity",
    "escalation_reason",
    "tags",
)
_CONV = Conversation.__table__  # type: ignore[attr-defined]
_ROLE = Role.__table__  # type: ignore[attr-defined]
_AGENT = Agent.__table__  # type: ignore[attr-defined]
_TAG = Tag.__table__  # type: ignore[attr-defined]
_CONV_TAG = ConversationTag.__table__  # type: ignore[attr-defined]
_LISTED = 20
_SLA_INPUTS = frozenset({"status", "role", "priority"})


@dataclass(frozen=True)
class Change:
    """What one operation did; `summary` is a sentence for a notification or the CLI."""

    conversation_id: int
    version: int
    changed: bool
    summary: str


@dataclass(frozen=True)
class BulkResult:
    matched: int
    changed: int
    unchanged: int
    conflicts: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- agents, roles


def _actor(actor: str) -> str:
    handle = (actor or "").strip()
    if not handle:
        raise ServiceError("no acting agent: pass --as NAME or set INBOXTUI_AGENT")
    return handle


def _insert(session: Session, table: Any) -> Any:
    """A dialect INSERT that supports ON CONFLICT DO NOTHING (both backends have it)."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def agent_id_for(session: Session, handle: str) -> int | None:
    """The id of the agent with this handle, if it exists (for `assignee:me`)."""
    return session.execute(
        select(_AGENT.c.id).where(_AGENT.c.handle == handle.strip())
    ).scalar_one_or_none()


def ensure_agent(session: Session, handle: str) -> Agent:
    """The agent with this handle, created on first use (a fresh database works with $USER).

    ON CONFLICT DO NOTHING makes two processes' first actions safe at once.
    """
    handle = _actor(handle)
    agent = session.execute(select(Agent).where(Agent.handle == handle)).scalar_one_or_none()
    if agent is not None:
        return agent
    stmt = _insert(session, _AGENT).values(
        handle=handle, display_name=None, capacity=None, on_duty=True, created_at=utcnow()
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["handle"]))
    return session.execute(select(Agent).where(Agent.handle == handle)).scalar_one()


def _ensure_actor(session: Session, actor: str) -> int | None:
    return None if is_system(actor) else ensure_agent(session, actor).id


def _names(session: Session, column: Any) -> str:
    names = list(session.execute(select(column).order_by(column).limit(_LISTED + 1)).scalars())
    if not names:
        return "none yet"
    shown = ", ".join(names[:_LISTED])
    return shown + ", …" if len(names) > _LISTED else shown


def _role_id(session: Session, name: str) -> int:
    role_id = session.execute(select(_ROLE.c.id).where(_ROLE.c.name == name)).scalar_one_or_none()
    if role_id is None:
        raise NotFound(f"no role '{name}' (roles: {_names(session, _ROLE.c.name)})")
    return role_id


def _agent_id(session: Session, handle: str) -> int:
    agent_id = agent_id_for(session, handle)
    if agent_id is None:
        raise NotFound(f"no agent '{handle}' (agents: {_names(session, _AGENT.c.handle)})")
    return agent_id


def _normal_name(kind: str, value: str) -> str:
    """Role and tag names: trimmed, lower case, one word (they appear in `tag:x` filters)."""
    name = sanitize(value or "").strip().lower()
    if not name:
        raise ServiceError(f"a {kind} needs a name")
    if any(ch.isspace() for ch in name):
        raise ServiceError(f"{kind} names cannot contain spaces: '{name}'")
    return name


def normalize_tag(name: str) -> str:
    return _normal_name("tag", name)


def create_role(db: Database, name: str, description: str | None = None, *, actor: str) -> Role:
    """A new role conversations can be routed to."""
    name = _normal_name("role", name)
    actor = _actor(actor)
    try:
        with db.write() as session:
            _ensure_actor(session, actor)
            if session.execute(select(_ROLE.c.id).where(_ROLE.c.name == name)).first():
                raise ServiceError(f"role '{name}' already exists")
            role = Role(name=name, description=description)
            session.add(role)
            session.flush()
            audit.record(
                session,
                conversation_id=None,
                actor=actor,
                action="role.create",
                before=None,
                after={"role": name, "description": description},
                version=None,
            )
            return role
    except IntegrityError:  # created by another process between our check and insert
        raise ServiceError(f"role '{name}' already exists") from None


def create_agent(
    db: Database,
    handle: str,
    display_name: str | None = None,
    roles: Iterable[str] = (),
    *,
    actor: str,
) -> Agent:
    """A new team member, optionally in some roles (team management proper comes later)."""
    handle = _actor(handle)
    actor = _actor(actor)
    role_names = [_normal_name("role", r) for r in roles]
    try:
        with db.write() as session:
            if agent_id_for(session, handle) is not None:
                raise ServiceError(f"agent '{handle}' already exists")
            role_ids = [_role_id(session, r) for r in role_names]
            agent = Agent(handle=handle, display_name=display_name, created_at=utcnow())
            session.add(agent)
            session.flush()
            assert agent.id is not None
            for role_id in dict.fromkeys(role_ids):
                session.add(AgentRole(agent_id=agent.id, role_id=role_id))
            if actor != handle:
                _ensure_actor(session, actor)
            audit.record(
                session,
                conversation_id=None,
                actor=actor,
                action="agent.create",
                before=None,
                after={"agent": handle, "display_name": display_name, "roles": role_names},
                version=None,
            )
            session.flush()
            return agent
    except IntegrityError:
        raise ServiceError(f"agent '{handle}' already exists") from None


# ---------------------------------------------------------------- state and the write path


@dataclass
class _State:
    id: int
    version: int
    status: str
    snooze_until: datetime | None
    resolved_at: datetime | None
    priority: int
    role_id: int | None
    role: str | None
    agent_id: int | None
    agent: str | None
    escalated: bool
    severity: int | None
    escalation_reason: str | None
    tags: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """One change: column values for the UPDATE, and the event's before/after."""

    before: dict[str, Any]
    after: dict[str, Any]
    values: dict[str, Any]
    summary: str
    detail: str | None = None

    def set(
        self, key: str, old: Any, new: Any, column: str | None = None, value: Any = None
    ) -> None:
        self.before[key] = old
        self.after[key] = new
        if column is not None:
            self.values[column] = value


def _plan(summary: str = "") -> _Plan:
    return _Plan(before={}, after={}, values={}, summary=summary)


def _tags(session: Session, conversation_id: int) -> list[str]:
    stmt = (
        select(_TAG.c.name)
        .join(_CONV_TAG, _CONV_TAG.c.tag_id == _TAG.c.id)
        .where(_CONV_TAG.c.conversation_id == conversation_id)
        .order_by(_TAG.c.name)
    )
    return list(session.execute(stmt).scalars())


def _load(session: Session, conversation_id: int, *, tags: bool = True) -> _State | None:
    c = _CONV.c
    stmt = (
        select(
            c.id,
            c.version,
            c.status,
            c.snooze_until,
            c.resolved_at,
            c.priority,
            c.role_id,
            _ROLE.c.name.label("role"),
            c.agent_id,
            _AGENT.c.handle.label("agent"),
            c.escalated,
            c.severity,
            c.escalation_reason,
        )
        .select_from(
            _CONV.outerjoin(_ROLE, _ROLE.c.id == c.role_id).outerjoin(
                _AGENT, _AGENT.c.id == c.agent_id
            )
        )
        .where(c.id == conversation_id)
    )
    row = session.execute(stmt).mappings().first()
    if row is None:
        return None
    state = _State(**row)
    state.escalated = bool(state.escalated)
    if tags:
        state.tags = _tags(session, conversation_id)
    return state


def conversation_state(session: Session, conversation_id: int) -> dict[str, Any]:
    """The conversation's `STATE_FIELDS` as the audit log writes them (names, ISO times)."""
    state = _load(session, conversation_id)
    if state is None:
        raise NotFound(f"no conversation #{conversation_id}")
    return {
        "status": state.status,
        "snooze_until": iso(state.snooze_until),
        "resolved_at": iso(state.resolved_at),
        "priority": PRIORITY_NAME.get(state.priority, str(state.priority)),
        "role": state.role,
        "agent": state.agent,
        "escalated": state.escalated,
        "severity": state.severity,
        "escalation_reason": state.escalation_reason,
        "tags": state.tags,
    }


def _conflict(session: Session, conversation_id: int, since: int, *, loaded: bool) -> ServiceError:
    """The error for a lost race: who changed what after version `since`."""
    current = session.execute(
        select(_CONV.c.version).where(_CONV.c.id == conversation_id)
    ).scalar_one_or_none()
    if current is None:
        return NotFound(f"no conversation #{conversation_id} (it was deleted)")
    events = audit.since_version(session, conversation_id, since)
    actors = list(dict.fromkeys(e.actor for e in events))
    when = "since you loaded it" if loaded else "while this change was being made"
    advice = "reload" if loaded else "try again"
    if events:
        shown = "; ".join(f"{e.describe()} (v{e.version})" for e in events[-3:])
        if len(events) > 3:
            shown = f"{len(events) - 3} earlier change(s); " + shown
        message = (
            f"conversation #{conversation_id} changed by {', '.join(actors)} {when}: "
            f"{shown}; {advice}"
        )
    else:
        message = (
            f"conversation #{conversation_id} changed {when} "
            f"(now v{current}, you had v{since}); {advice}"
        )
    return ConflictError(
        message, conversation_id=conversation_id, changed_by=actors, current_version=current
    )


class _Op:
    """One kind of change. `prepare` runs once per transaction before any row is locked."""

    action = ""
    needs_tags = False

    def prepare(self, session: Session, actor: str) -> None:
        """Resolve names and create shared rows (tags); raise ServiceError for bad input."""

    def plan(self, state: _State) -> _Plan | None:
        """The change against `state`, or None when it would change nothing."""
        raise NotImplementedError

    def unchanged(self, state: _State) -> str:
        return f"#{state.id} unchanged"

    def write_more(
        self, session: Session, state: _State, plan: _Plan, actor_id: int | None
    ) -> None:
        """Writes besides the conversation row (tag links, notes), after the version check."""

    def action_for(self, state: _State) -> str:
        return self.action


def _apply(
    session: Session,
    conversation_id: int,
    op: _Op,
    *,
    actor: str,
    actor_id: int | None,
    expected_version: int | None,
) -> Change:
    state = _load(session, conversation_id, tags=op.needs_tags)
    if state is None:
        raise NotFound(f"no conversation #{conversation_id}")
    if expected_version is not None and state.version != expected_version:
        raise _conflict(session, conversation_id, expected_version, loaded=True)
    plan = op.plan(state)
    if plan is None:
        return Change(conversation_id, state.version, False, op.unchanged(state))
    result = session.execute(
        update(_CONV)
        .where(_CONV.c.id == conversation_id, _CONV.c.version == state.version)
        .values(**plan.values, updated_at=utcnow(), version=_CONV.c.version + 1)
    )
    if result.rowcount != 1:
        raise _conflict(
            session, conversation_id, state.version, loaded=expected_version is not None
        )
    version = state.version + 1
    op.write_more(session, state, plan, actor_id)
    if _SLA_INPUTS.intersection(plan.after):  # deadlines derive from these: keep them true
        sla.refresh(session, [conversation_id])
    audit.record(
        session,
        conversation_id=conversation_id,
        actor=actor,
        action=op.action_for(state),
        before=plan.before,
        after=plan.after,
        version=version,
        detail=plan.detail,
    )
    return Change(conversation_id, version, True, plan.summary)


def _run(
    db: Database, conversation_id: int, op: _Op, actor: str, expected_version: int | None
) -> Change:
    actor = _actor(actor)
    with db.write() as session:
        actor_id = _ensure_actor(session, actor)
        op.prepare(session, actor)
        return _apply(
            session,
            conversation_id,
            op,
            actor=actor,
            actor_id=actor_id,
            expected_version=expected_version,
        )


# ---------------------------------------------------------------- the operations


def _permissions(session: Session, actor: str) -> Any:
    """Who may move what (`inboxtui.team.Permissions`); imported late (team imports services)."""
    from inboxtui.team import Permissions

    return Permissions.for_actor(session, actor)


def _who(role: str | None, agent: str | None) -> str:
    return " / ".join(x for x in (role, agent) if x) or "nobody"


class _Assign(_Op):
    action = "assign"

    def __init__(self, role: str | None = None, agent: str | None = None) -> None:
        self.role = _normal_name("role", role) if role is not None else None
        self.agent = _actor(agent) if agent is not None else None
        if self.role is None and self.agent is None:
            raise ServiceError("assign needs a role or an agent")
        self.role_id: int | None = None
        self.agent_id: int | None = None
        self.guard: Any = None

    def prepare(self, session: Session, actor: str) -> None:
        self.guard = _permissions(session, actor)
        if self.role is not None:
            self.role_id = _role_id(session, self.role)
        if self.agent is not None:
            # Assigning to yourself always works, even before anyone created you.
            if self.agent == actor and not is_system(actor):
                self.agent_id = ensure_agent(session, actor).id
            else:
                self.agent_id = _agent_id(session, self.agent)

    def plan(self, state: _State) -> _Plan | None:
        plan = _plan()
        if self.role is not None and state.role_id != self.role_id:
            plan.set("role", state.role, self.role, "role_id", self.role_id)
        if self.agent is not None and state.agent_id != self.agent_id:
            plan.set("agent", state.agent, self.agent, "agent_id", self.agent_id)
        if not plan.after:
            return None
        if self.guard is not None:
            self.guard.check_assign(
                state.id,
                current_role=(state.role_id, state.role),
                current_agent=state.agent,
                new_role=(self.role_id, self.role) if "role" in plan.after else None,
                new_agent=self.agent if "agent" in plan.after else None,
            )
        if state.status == Status.NEW:
            plan.set("status", state.status, Status.OPEN.value, "status", Status.OPEN.value)
        role = plan.after.get("role", state.role)
        agent = plan.after.get("agent", state.agent)
        plan.summary = f"#{state.id} assigned to {_who(role, agent)}"
        return plan

    def unchanged(self, state: _State) -> str:
        return f"#{state.id} already assigned to {_who(state.role, state.agent)}"


class _Unassign(_Op):
    action = "unassign"

    def __init__(self, role: bool = False) -> None:
        self.role = bool(role)
        self.guard: Any = None

    def prepare(self, session: Session, actor: str) -> None:
        self.guard = _permissions(session, actor)

    def plan(self, state: _State) -> _Plan | None:
        plan = _plan()
        if state.agent_id is not None:
            plan.set("agent", state.agent, None, "agent_id", None)
        if self.role and state.role_id is not None:
            plan.set("role", state.role, None, "role_id", None)
        if not plan.after:
            return None
        if self.guard is not None:
            self.guard.check_unassign(
                state.id, current_agent=state.agent, clear_role="role" in plan.after
            )
        kept = f" (still with {state.role})" if state.role and not self.role else ""
        plan.summary = f"#{state.id} unassigned{kept}"
        return plan

    def unchanged(self, state: _State) -> str:
        if state.role and not self.role:
            return f"#{state.id} has no agent (role {state.role} kept)"
        return f"#{state.id} was not assigned"


def _future(until: datetime | str | None) -> datetime:
    if isinstance(until, str):
        try:
            until = parse_when(until, future=True)
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
    if until is None or to_utc(until) <= utcnow():
        raise ServiceError("snooze needs a time in the future")
    return to_utc(until)


class _SetStatus(_Op):
    def __init__(self, status: str, until: datetime | str | None = None) -> None:
        name = str(status or "").strip().lower()
        if name not in {s.value for s in Status}:
            known = ", ".join(s.value for s in Status)
            raise ServiceError(f"no status '{name}' (statuses: {known})")
        self.status = name
        if name == Status.SNOOZED:
            self.until: datetime | None = _future(until)
        elif until is not None:
            raise ServiceError(f"only snoozing takes a time; status '{name}' does not")
        else:
            self.until = None

    def action_for(self, state: _State) -> str:
        if self.status == Status.RESOLVED:
            return "resolve"
        if self.status == Status.SNOOZED:
            return "snooze"
        if self.status == Status.OPEN and state.status in (Status.RESOLVED, Status.SNOOZED):
            return "reopen"
        return "status"

    def plan(self, state: _State) -> _Plan | None:
        plan = _plan()
        if state.status != self.status:
            plan.set("status", state.status, self.status, "status", self.status)
        if self.status == Status.SNOOZED:
            if state.snooze_until != self.until:
                plan.set("snooze_until", state.snooze_until, self.until, "snooze_until", self.until)
        elif state.snooze_until is not None:
            plan.set("snooze_until", state.snooze_until, None, "snooze_until", None)
        if self.status == Status.RESOLVED:
            if state.resolved_at is None:
                now = utcnow()
                plan.set("resolved_at", None, now, "resolved_at", now)
        elif state.resolved_at is not None:
            plan.set("resolved_at", state.resolved_at, None, "resolved_at", None)
        if not plan.after:
            return None
        plan.summary = {
            "resolve": f"#{state.id} resolved",
            "snooze": f"#{state.id} snoozed until {iso(self.until)}",
            "reopen": f"#{state.id} reopened",
        }.get(self.action_for(state), f"#{state.id} is now {self.status}")
        return plan

    def unchanged(self, state: _State) -> str:
        if self.status == Status.SNOOZED:
            return f"#{state.id} is already snoozed until {iso(state.snooze_until)}"
        return f"#{state.id} is already {self.status}"


class _SetPriority(_Op):
    action = "priority"

    def __init__(self, priority: str) -> None:
        name = str(priority or "").strip().lower()
        if name not in PRIORITY_RANK:
            raise ServiceError(f"no priority '{name}' (priorities: {', '.join(PRIORITY_RANK)})")
        self.name = name
        self.rank = PRIORITY_RANK[name]

    def plan(self, state: _State) -> _Plan | None:
        if state.priority == self.rank:
            return None
        plan = _plan(f"#{state.id} priority {self.name}")
        old = PRIORITY_NAME.get(state.priority, str(state.priority))
        plan.set("priority", old, self.name, "priority", self.rank)
        return plan

    def unchanged(self, state: _State) -> str:
        return f"#{state.id} already has priority {self.name}"


def _severity(value: Any) -> int:
    try:
        severity = int(value) if not isinstance(value, bool) else 0
    except (TypeError, ValueError):
        severity = 0
    if severity not in (1, 2, 3) or (isinstance(value, float) and not value.is_integer()):
        raise ServiceError(f"severity must be 1, 2 or 3 (got {value!r})")
    return severity


class _Escalate(_Op):
    action = "escalate"

    def __init__(self, severity: int, reason: str) -> None:
        self.severity = _severity(severity)
        self.reason = sanitize(reason or "").strip()
        if not self.reason:
            raise ServiceError("an escalation needs a reason")

    def plan(self, state: _State) -> _Plan | None:
        reason = one_line(self.reason, 80)
        plan = _plan(f"#{state.id} escalated (severity {self.severity}): {reason}")
        if not state.escalated:
            plan.set("escalated", False, True, "escalated", True)
        if state.severity != self.severity:
            plan.set("severity", state.severity, self.severity, "severity", self.severity)
        if state.escalation_reason != self.reason:
            plan.set(
                "escalation_reason",
                state.escalation_reason,
                self.reason,
                "escalation_reason",
                self.reason,
            )
        return plan if plan.after else None

    def unchanged(self, state: _State) -> str:
        return f"#{state.id} is already escalated with severity {self.severity} for that reason"


class _Deescalate(_Op):
    action = "deescalate"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = sanitize(reason or "").strip() or None

    def plan(self, state: _State) -> _Plan | None:
        plan = _plan(f"#{state.id} de-escalated")
        plan.detail = self.reason
        if state.escalated:
            plan.set("escalated", True, False, "escalated", False)
        if state.severity is not None:
            plan.set("severity", state.severity, None, "severity", None)
        if state.escalation_reason is not None:
            plan.set("escalation_reason", state.escalation_reason, None, "escalation_reason", None)
        return plan if plan.after else None

    def unchanged(self, state: _State) -> str:
        return f"#{state.id} is not escalated"


class _Tag(_Op):
    needs_tags = True

    def __init__(self, name: str, *, add: bool = True) -> None:
        self.name = normalize_tag(name)
        self.add = add
        self.action = "tag" if add else "untag"
        self.tag_id: int | None = None

    def prepare(self, session: Session, actor: str) -> None:
        find = select(_TAG.c.id).where(_TAG.c.name == self.name)
        if self.add:
            stmt = _insert(session, _TAG).values(name=self.name)
            session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            self.tag_id = session.execute(find).scalar_one()
        else:
            self.tag_id = session.execute(find).scalar_one_or_none()

    def plan(self, state: _State) -> _Plan | None:
        present = self.name in state.tags
        if present == self.add:
            return None
        if self.add:
            after = sorted([*state.tags, self.name])
            summary = f"#{state.id} tagged {self.name}"
        else:
            after = [t for t in state.tags if t != self.name]
            summary = f"#{state.id} untagged {self.name}"
        plan = _plan(summary)
        plan.set("tags", list(state.tags), after)
        return plan

    def write_more(
        self, session: Session, state: _State, plan: _Plan, actor_id: int | None
    ) -> None:
        if self.add:
            session.execute(_CONV_TAG.insert().values(conversation_id=state.id, tag_id=self.tag_id))
        else:
            session.execute(
                delete(_CONV_TAG).where(
                    _CONV_TAG.c.conversation_id == state.id, _CONV_TAG.c.tag_id == self.tag_id
                )
            )

    def unchanged(self, state: _State) -> str:
        if self.add:
            return f"#{state.id} is already tagged {self.name}"
        return f"#{state.id} is not tagged {self.name}"


class _AddNote(_Op):
    action = "note"

    def __init__(self, body: str) -> None:
        self.body = sanitize(body or "").strip()
        if not self.body:
            raise ServiceError("a note needs some text")

    def plan(self, state: _State) -> _Plan | None:
        plan = _plan(f"#{state.id} note added")
        plan.detail = one_line(self.body)
        return plan

    def write_more(
        self, session: Session, state: _State, plan: _Plan, actor_id: int | None
    ) -> None:
        note = Note(
            conversation_id=state.id, agent_id=actor_id, body=self.body, created_at=utcnow()
        )
        session.add(note)
        session.flush()
        plan.after["note_id"] = note.id


# ---------------------------------------------------------------- public API


def assign(
    db: Database,
    conversation_id: int,
    *,
    actor: str,
    role: str | None = None,
    agent: str | None = None,
    expected_version: int | None = None,
) -> Change:
    """Route to a role and/or an agent (by name); a `new` conversation becomes `open`."""
    return _run(db, conversation_id, _Assign(role, agent), actor, expected_version)


def unassign(
    db: Database,
    conversation_id: int,
    *,
    actor: str,
    role: bool = False,
    expected_version: int | None = None,
) -> Change:
    """Clear the agent; with `role=True` the role too."""
    return _run(db, conversation_id, _Unassign(role), actor, expected_version)


def set_status(
    db: Database,
    conversation_id: int,
    status: str,
    *,
    actor: str,
    until: datetime | str | None = None,
    expected_version: int | None = None,
) -> Change:
    """Move to new/open/pending/snoozed/resolved (`snoozed` needs a future `until`)."""
    return _run(db, conversation_id, _SetStatus(status, until), actor, expected_version)


def snooze(
    db: Database,
    conversation_id: int,
    until: datetime | str,
    *,
    actor: str,
    expected_version: int | None = None,
) -> Change:
    return set_status(
        db, conversation_id, "snoozed", actor=actor, until=until, expected_version=expected_version
    )


def resolve(
    db: Database, conversation_id: int, *, actor: str, expected_version: int | None = None
) -> Change:
    return set_status(
        db, conversation_id, "resolved", actor=actor, expected_version=expected_version
    )


def reopen(
    db: Database, conversation_id: int, *, actor: str, expected_version: int | None = None
) -> Change:
    return set_status(db, conversation_id, "open", actor=actor, expected_version=expected_version)


def set_priority(
    db: Database,
    conversation_id: int,
    priority: str,
    *,
    actor: str,
    expected_version: int | None = None,
) -> Change:
    """low | normal | high | urgent."""
    return _run(db, conversation_id, _SetPriority(priority), actor, expected_version)


def escalate(
    db: Database,
    conversation_id: int,
    *,
    severity: int,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> Change:
    """Flag a PR crisis: severity 1-3 and a reason (a new severity or reason is a change)."""
    return _run(db, conversation_id, _Escalate(severity, reason), actor, expected_version)


def deescalate(
    db: Database,
    conversation_id: int,
    *,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Change:
    """Clear the escalation; `reason` goes into the event's detail."""
    return _run(db, conversation_id, _Deescalate(reason), actor, expected_version)


def tag(
    db: Database,
    conversation_id: int,
    name: str,
    *,
    actor: str,
    expected_version: int | None = None,
) -> Change:
    """Add a tag (created on first use); names are trimmed, lower case, without spaces."""
    return _run(db, conversation_id, _Tag(name, add=True), actor, expected_version)


def untag(
    db: Database,
    conversation_id: int,
    name: str,
    *,
    actor: str,
    expected_version: int | None = None,
) -> Change:
    return _run(db, conversation_id, _Tag(name, add=False), actor, expected_version)


def add_note(
    db: Database,
    conversation_id: int,
    body: str,
    *,
    actor: str,
    expected_version: int | None = None,
) -> Change:
    """An internal note (sanitised); bumps the version so open TUIs refresh."""
    return _run(db, conversation_id, _AddNote(body), actor, expected_version)


# ---------------------------------------------------------------- bulk


def _op_status(status: str, until: datetime | str | None = None) -> _Op:
    return _SetStatus(status, until)


def _op_snooze(until: datetime | str) -> _Op:
    return _SetStatus("snoozed", until)


def _op_resolve() -> _Op:
    return _SetStatus("resolved")


def _op_reopen() -> _Op:
    return _SetStatus("open")


def _op_priority(priority: str) -> _Op:
    return _SetPriority(priority)


def _op_escalate(severity: int, reason: str) -> _Op:
    return _Escalate(severity, reason)


def _op_tag(name: str) -> _Op:
    return _Tag(name, add=True)


def _op_untag(name: str) -> _Op:
    return _Tag(name, add=False)


def _op_note(body: str) -> _Op:
    return _AddNote(body)


BULK_OPS: dict[str, Callable[..., _Op]] = {
    "assign": _Assign,
    "unassign": _Unassign,
    "status": _op_status,
    "snooze": _op_snooze,
    "resolve": _op_resolve,
    "reopen": _op_reopen,
    "priority": _op_priority,
    "escalate": _op_escalate,
    "deescalate": _Deescalate,
    "tag": _op_tag,
    "untag": _op_untag,
    "note": _op_note,
}


# The public functions' names work as operation names too (`bulk(..., "set_status", ...)`).
BULK_ALIASES = {"set_status": "status", "set_priority": "priority", "add_note": "note"}


def _bulk_op(op: str, kwargs: dict[str, Any]) -> _Op:
    builder = BULK_OPS.get(BULK_ALIASES.get(op, op))
    if builder is None:
        raise ServiceError(f"no operation '{op}' (operations: {', '.join(BULK_OPS)})")
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as exc:
        raise ServiceError(f"{op}: {exc}") from None
    return builder(**kwargs)


def bulk_ids(
    db: Database,
    ids: Iterable[int],
    op: str,
    *,
    actor: str,
    chunk_size: int = CHUNK_SIZE,
    **kwargs: Any,
) -> BulkResult:
    """Apply one operation to every conversation in `ids` (the TUI's marked set).

    Chunks of `chunk_size` conversations per transaction, ascending ids (lock
    order); each conversation is audited on its own. A conversation someone
    else is changing at the same moment is a conflict, collected, not fatal.
    """
    operation = _bulk_op(op, kwargs)
    actor = _actor(actor)
    ordered = sorted(set(ids))
    changed = unchanged = 0
    conflicts: list[str] = []
    for start in range(0, len(ordered), max(1, chunk_size)):
        with db.write() as session:
            actor_id = _ensure_actor(session, actor)
            operation.prepare(session, actor)
            for conversation_id in ordered[start : start + chunk_size]:
                try:
                    change = _apply(
                        session,
                        conversation_id,
                        operation,
                        actor=actor,
                        actor_id=actor_id,
                        expected_version=None,
                    )
                except ConflictError as exc:
                    conflicts.append(str(exc))
                    continue
                except NotFound:
                    conflicts.append(f"conversation #{conversation_id} no longer exists")
                    continue
                except PermissionDenied as exc:  # refused for this one; the others go on
                    conflicts.append(f"refused: {exc}")
                    continue
                if change.changed:
                    changed += 1
                else:
                    unchanged += 1
    return BulkResult(
        matched=len(ordered), changed=changed, unchanged=unchanged, conflicts=conflicts
    )


def bulk(
    db: Database,
    query: str,
    op: str,
    *,
    actor: str,
    me_id: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    **kwargs: Any,
) -> BulkResult:
    """Apply one operation to EVERY match of a filter query, not just the visible page."""
    _bulk_op(op, kwargs)  # bad input fails before the query runs
    # Imported here: the filter language is a heavier module the other operations don't need.
    from inboxtui.query import QueryError, matching_ids

    try:
        with db.read() as session:
            ids = matching_ids(session, query, me_id=me_id)
    except QueryError as exc:
        raise ServiceError(str(exc)) from None
    return bulk_ids(db, ids, op, actor=actor, chunk_size=chunk_size, **kwargs)


__all__ = [
    "BULK_OPS",
    "CHUNK_SIZE",
    "STATE_FIELDS",
    "BulkResult",
    "Change",
    "add_note",
    "agent_id_for",
    "assign",
    "bulk",
    "bulk_ids",
    "conversation_state",
    "create_agent",
    "create_role",
    "deescalate",
    "ensure_agent",
    "escalate",
    "normalize_tag",
    "reopen",
    "resolve",
    "set_priority",
    "set_status",
    "snooze",
    "tag",
    "unassign",
    "untag",
]
