"""Routing rules and fair auto-assignment: new conversations land with the right role.

Rules file (`inboxtui rules import rules.toml`)::

    [[rule]]
    name = "refunds to support"
    when = 'refund OR 退款 OR "money back" -tag:spam'
    then = { role = "support", priority = "high", tags = ["billing"] }

    [[rule]]
    name = "competitor watch"
    when = "source:rss-competitors"
    then = { role = "community", tags = ["competitor"] }
    continue = true               # later rules may match too

`when` is the filter language; a rule that does not parse is refused when it
is saved, with the caret message. Rules run in file order: the first match
wins unless it says `continue = true`; later matches then apply on top (role,
agent and priority overwrite, tags add up).

Evaluation is set-based: one SQL query per rule over the batch's ids (bound as
one value: a JSON array on SQLite, an array on PostgreSQL), never a query per
conversation. New conversations are routed inside the ingest transaction that
creates them (`route_new`), so none is ever visible unrouted.

Auto-assignment: a conversation a rule sends to a role, with no agent, goes to
the role's on-duty agent with spare capacity (`capacity` = open conversations;
none = no limit) and the fewest open conversations, the least recently
auto-assigned first among equals (round-robin). Nobody with capacity: it waits
in the role's queue. The pick runs in the write transaction, serialised
(SQLite's write lock; a transaction-scoped advisory lock on PostgreSQL), so two
processes routing at once cannot exceed a capacity. Capacity and duty changes
move nothing by themselves; `rebalance` does, when a lead asks.

Each routing writes one audit event per rule applied (`action` "route", the
rule's name in `detail`), in the audit log's vocabulary, so the log replays.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from inboxtui import sla
from inboxtui.db import Database
from inboxtui.models import (
    PRIORITY_NAME,
    PRIORITY_RANK,
    Agent,
    AgentRole,
    Conversation,
    ConversationTag,
    Event,
    Role,
    RoutingRule,
    Status,
    Tag,
)
from inboxtui.query import (
    Query,
    QueryError,
    bounded_filter,
    conversation_filter,
    json_ids,
    matching_ids,
    parse,
)
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, PermissionDenied, ServiceError
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow

ROUTING_ACTOR = "system:routing"
CHUNK_SIZE = 2000  # conversations per transaction when routing on demand
_LOCK_KEY = 0x1B0C7A55  # PostgreSQL advisory lock: one assignment pick at a time
_CONV = Conversation.__table__  # type: ignore[attr-defined]
_RULE = RoutingRule.__table__  # type: ignore[attr-defined]
_AGENT = Agent.__table__  # type: ignore[attr-defined]
_ROLE = Role.__table__  # type: ignore[attr-defined]
_AGENT_ROLE = AgentRole.__table__  # type: ignore[attr-defined]
_TAG = Tag.__table__  # type: ignore[attr-defined]
_CONV_TAG = ConversationTag.__table__  # type: ignore[attr-defined]
_EVENT = Event.__table__  # type: ignore[attr-defined]
_RULE_KEYS = {"name", "when", "then", "continue", "enabled"}
_THEN_KEYS = {"role", "priority", "tags", "agent"}


class RuleError(ServiceError):
    """A rule that cannot be saved; names the file, the rule and the field."""


@dataclass(frozen=True)
class RuleSpec:
    name: str
    when: str
    role: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    agent: str | None = None
    continue_after: bool = False
    enabled: bool = True


# ---------------------------------------------------------------- parsing and saving


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{where}: must be a non-empty text")
    return sanitize(value).strip()


def _word(value: Any, where: str) -> str:
    name = _name(value, where).lower()
    if any(ch.isspace() for ch in name):
        raise RuleError(f"{where}: names cannot contain spaces: {value!r}")
    return name


def check_when(when: str, where: str) -> Query:
    """The parsed query, or a `RuleError` carrying the filter language's caret message."""
    try:
        query = parse(when)
    except QueryError as exc:
        raise RuleError(f"{where}: {exc}") from None
    if query.root is None:
        raise RuleError(f"{where}: an empty query would match every conversation; write one")
    return query


def _parse_rule(entry: Any, where: str) -> RuleSpec:
    if not isinstance(entry, dict):
        raise RuleError(f"{where}: must be a table ([[rule]])")
    extra = sorted(set(entry) - _RULE_KEYS)
    if extra:
        raise RuleError(
            f"{where}: unknown field '{extra[0]}' (fields: {', '.join(sorted(_RULE_KEYS))})"
        )
    if "name" not in entry:
        raise RuleError(f"{where}: field 'name' is required")
    name = _name(entry["name"], f"{where}: field 'name'")
    where = f"{where} ({name})"
    if not isinstance(entry.get("when"), str):
        raise RuleError(f"{where}: field 'when' is required (a filter-language query)")
    when = entry["when"]
    check_when(when, f"{where}: field 'when'")
    then = entry.get("then", {})
    if not isinstance(then, dict):
        raise RuleError(f"{where}: field 'then' must be a table like {{ role = \"support\" }}")
    extra = sorted(set(then) - _THEN_KEYS)
    if extra:
        raise RuleError(
            f"{where}: unknown field 'then.{extra[0]}' (fields: {', '.join(sorted(_THEN_KEYS))})"
        )
    role = _word(then["role"], f"{where}: field 'then.role'") if "role" in then else None
    agent = _name(then["agent"], f"{where}: field 'then.agent'") if "agent" in then else None
    priority = None
    if "priority" in then:
        priority = _word(then["priority"], f"{where}: field 'then.priority'")
        if priority not in PRIORITY_RANK:
            raise RuleError(
                f"{where}: field 'then.priority': no priority '{priority}' "
                f"(priorities: {', '.join(PRIORITY_RANK)})"
            )
    tags = then.get("tags", [])
    if not isinstance(tags, list):
        raise RuleError(f"{where}: field 'then.tags' must be a list of tag names")
    tag_names = tuple(
        dict.fromkeys(
            _word(t, f"{where}: field 'then.tags' item {i + 1}") for i, t in enumerate(tags)
        )
    )
    if not (role or agent or priority or tag_names):
        raise RuleError(f"{where}: field 'then' does nothing: give a role, agent, priority or tags")
    flags = {}
    for key in ("continue", "enabled"):
        value = entry.get(key, key == "enabled")
        if not isinstance(value, bool):
            raise RuleError(f"{where}: field '{key}' must be true or false, not {value!r}")
        flags[key] = value
    return RuleSpec(
        name, when, role, priority, tag_names, agent, flags["continue"], flags["enabled"]
    )


def parse_rules(text_: str, source: str = "<rules>") -> list[RuleSpec]:
    """Parse and check a rules file (syntax of every `when` included); no database."""
    try:
        data = tomllib.loads(text_)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"rule"})
    if extra:
        raise RuleError(f"{source}: unknown key '{extra[0]}' (write rules as [[rule]])")
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise RuleError(f"{source}: write rules as [[rule]]")
    rules = [_parse_rule(e, f"{source}: [[rule]] #{i + 1}") for i, e in enumerate(entries)]
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise RuleError(f"{source}: [[rule]] #{i + 1}: rule '{rule.name}' is listed twice")
        seen.add(rule.name)
    return rules


def load_rules(path: str | Path) -> list[RuleSpec]:
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_rules(content, str(path))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def dump_rules(rules: Iterable[RuleSpec]) -> str:
    """TOML that `parse_rules` reads back to the same rules."""
    blocks = []
    for rule in rules:
        then = [
            f"{key} = {_toml(value)}"
            for key, value in (
                ("role", rule.role),
                ("agent", rule.agent),
                ("priority", rule.priority),
                ("tags", list(rule.tags)),
            )
            if value
        ]
        lines = [
            "[[rule]]",
            f"name = {_toml(rule.name)}",
            f"when = {_toml(rule.when)}",
            "then = { " + ", ".join(then) + " }",
        ]
        if rule.continue_after:
            lines.append("continue = true")
        if not rule.enabled:
            lines.append("enabled = false")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _spec(row: Any) -> RuleSpec:
    return RuleSpec(
        row.name,
        row.query,
        row.role,
        row.priority,
        tuple(json.loads(row.tags or "[]")),
        row.agent,
        bool(row.continue_after),
        bool(row.enabled),
    )


def list_rules(conn: Any) -> list[RuleSpec]:
    """The stored rules in order (a Connection or a Session)."""
    return [_spec(r) for r in conn.execute(select(_RULE).order_by(_RULE.c.position))]


def _require_lead(conn: Any, actor: str, what: str) -> None:
    from sqlmodel import Session

    from inboxtui.team import Permissions

    session = conn if isinstance(conn, Session) else Session(bind=conn)
    if not Permissions.for_actor(session, actor).unrestricted:
        raise PermissionDenied(f"only a lead may {what}")


def save_rules(
    db: Database, rules: Sequence[RuleSpec], *, actor: str, source: str = "<rules>"
) -> None:
    """Replace the stored rules with `rules`, in order, after checking names exist (audited)."""
    from inboxtui.services.triage import _ensure_actor

    with db.write() as session:
        _ensure_actor(session, actor)
        _require_lead(session, actor, "change routing rules")
        roles = set(session.execute(select(_ROLE.c.name)).scalars())
        agents = set(session.execute(select(_AGENT.c.handle)).scalars())
        for i, rule in enumerate(rules):
            where = f"{source}: [[rule]] #{i + 1} ({rule.name})"
            check_when(rule.when, f"{where}: field 'when'")
            if rule.role is not None and rule.role not in roles:
                known = ", ".join(sorted(roles)) or "none yet"
                raise RuleError(
                    f"{where}: field 'then.role': no role '{rule.role}' (roles: {known})"
                )
            if rule.agent is not None and rule.agent not in agents:
                raise RuleError(f"{where}: field 'then.agent': no agent '{rule.agent}'")
        before = [r.name for r in list_rules(session)]
        session.execute(delete(_RULE))
        now = utcnow()
        for position, rule in enumerate(rules):
            session.add(
                RoutingRule(
                    position=position,
                    name=rule.name,
                    query=rule.when,
                    role=rule.role,
                    agent=rule.agent,
                    priority=rule.priority,
                    tags=json.dumps(list(rule.tags), ensure_ascii=False),
                    continue_after=rule.continue_after,
                    enabled=rule.enabled,
                    created_at=now,
                    updated_at=now,
                )
            )
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="rules.import",
            before={"rules": before},
            after={"rules": [r.name for r in rules]},
            version=None,
        )


# ---------------------------------------------------------------- evaluation


def _ids_condition(dialect: str, ids: Sequence[int]) -> Any:
    """`conversation.id IN <ids>` with the ids bound as ONE value (any number of them)."""
    if dialect == "postgresql":
        values = bindparam("route_ids", list(ids), type_=ARRAY(Integer), unique=True)
        return _CONV.c.id.in_(select(func.unnest(values)))
    return _CONV.c.id.in_(json_ids(ids))


@dataclass(frozen=True)
class _Compiled:
    spec: RuleSpec
    query: Query


def _compile(rules: Iterable[RuleSpec]) -> list[_Compiled]:
    return [_Compiled(r, parse(r.when)) for r in rules if r.enabled]


def _rule_condition(session: Session, dialect: str, query: Query) -> Any:
    """A rule's WHERE condition, shaped for testing a batch of candidates.

    SQLite: planned for few candidates (`bounded_filter`): search words are checked
    on the candidates' own indexed mentions instead of collecting every match in the
    store, whose cost grows with the store (measured: 2x at 50k mentions). PostgreSQL
    plans the plain condition better itself (measured: the planned one is 2.6x slower).
    """
    if dialect == "sqlite":
        return bounded_filter(session, query, me_id=None)
    return conversation_filter(query, dialect=dialect, me_id=None)


def evaluate(conn: Any, ids: Sequence[int], rules: Sequence[RuleSpec]) -> dict[int, list[RuleSpec]]:
    """conversation id -> the rules that route it, in order (first match, then `continue`s).

    One query per rule, restricted to the ids still open to later rules.
    """
    session = conn if isinstance(conn, Session) else Session(bind=conn)
    dialect = session.get_bind().dialect.name
    pending = sorted(set(ids))
    matched: dict[int, list[RuleSpec]] = {}
    for rule in _compile(rules):
        if not pending:
            break
        condition = _rule_condition(session, dialect, rule.query)
        stmt = select(_CONV.c.id).where(_ids_condition(dialect, pending), condition)
        hits = {row[0] for row in conn.execute(stmt)}
        if not hits:
            continue
        for conversation_id in hits:
            matched.setdefault(conversation_id, []).append(rule.spec)
        if not rule.spec.continue_after:
            pending = [i for i in pending if i not in hits]
    return matched


# ---------------------------------------------------------------- applying


@dataclass
class RoutingReport:
    routed: int = 0  # conversations changed
    assigned: int = 0  # of which given an agent automatically
    queued: int = 0  # sent to a role whose agents had no spare capacity
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, other: RoutingReport) -> None:
        self.routed += other.routed
        self.assigned += other.assigned
        self.queued += other.queued
        for name, n in other.by_rule.items():
            self.by_rule[name] = self.by_rule.get(name, 0) + n


@dataclass
class _Conv:
    id: int
    version: int
    status: str
    priority: int
    role_id: int | None
    agent_id: int | None
    tags: list[str]


class _Pool:
    """The on-duty agents of each role, their open counts and capacities (in this transaction)."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.loads: dict[int, int] = {}
        self.capacity: dict[int, int | None] = {}
        self.members: dict[int, list[int]] = {}
        self.order: dict[int, tuple[Any, ...]] = {}  # agent -> round-robin key
        self.sequence = 0
        self.picked: dict[int, int] = {}  # agent -> sequence of its last pick here

    def load_role(self, role_id: int) -> None:
        if role_id in self.members:
            return
        stmt = (
            select(_AGENT.c.id, _AGENT.c.capacity, _AGENT.c.last_assigned_at)
            .join(_AGENT_ROLE, _AGENT_ROLE.c.agent_id == _AGENT.c.id)
            .where(_AGENT_ROLE.c.role_id == role_id, _AGENT.c.on_duty.is_(True))
            .order_by(_AGENT.c.id)
        )
        rows = list(self.conn.execute(stmt))
        self.members[role_id] = [r.id for r in rows]
        fresh = [r.id for r in rows if r.id not in self.loads]
        for r in rows:
            self.capacity[r.id] = r.capacity
            # never picked sorts first; then the longest ago
            self.order.setdefault(r.id, (r.last_assigned_at is not None, r.last_assigned_at or 0))
        if fresh:
            self.loads.update(open_counts(self.conn, fresh))

    def pick(self, role_id: int) -> int | None:
        self.load_role(role_id)
        best: tuple[Any, ...] | None = None
        chosen = None
        for agent_id in self.members[role_id]:
            load = self.loads.get(agent_id, 0)
            capacity = self.capacity[agent_id]
            if capacity is not None and load >= capacity:
                continue
            picked = self.picked.get(agent_id)
            recency = (True, self.now, picked) if picked is not None else (*self.order[agent_id], 0)
            key = (load, recency, agent_id)
            if best is None or key < best:
                best, chosen = key, agent_id
        if chosen is not None:
            self.loads[chosen] = self.loads.get(chosen, 0) + 1
            self.sequence += 1
            self.picked[chosen] = self.sequence
        return chosen

    def release(self, agent_id: int) -> None:
        self.loads[agent_id] = max(0, self.loads.get(agent_id, 0) - 1)

    def save(self) -> None:
        """Record the picks' order in `last_assigned_at` (microseconds apart, in pick order)."""
        rows = [
            {"b_id": agent_id, "b_at": self.now + timedelta(microseconds=seq)}
            for agent_id, seq in sorted(self.picked.items(), key=lambda kv: kv[1])
        ]
        if rows:
            self.conn.execute(
                update(_AGENT)
                .where(_AGENT.c.id == bindparam("b_id"))
                .values(last_assigned_at=bindparam("b_at", type_=_AGENT.c.last_assigned_at.type)),
                rows,
            )


def open_counts(conn: Any, agent_ids: Sequence[int]) -> dict[int, int]:
    """Agent id -> conversations assigned to them that are not resolved."""
    stmt = (
        select(_CONV.c.agent_id, func.count())
        .where(_CONV.c.agent_id.in_(list(agent_ids)), _CONV.c.status != Status.RESOLVED.value)
        .group_by(_CONV.c.agent_id)
    )
    counts = {a: 0 for a in agent_ids}
    counts.update({row[0]: int(row[1]) for row in conn.execute(stmt)})
    return counts


def _serialise(conn: Connection) -> None:
    """One assignment pick at a time across processes (SQLite's write lock already does it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def _load(conn: Connection, ids: Sequence[int]) -> dict[int, _Conv]:
    """The conversations' state, rows locked on PostgreSQL (ascending ids: the lock order)."""
    dialect = conn.dialect.name
    stmt = (
        select(
            _CONV.c.id,
            _CONV.c.version,
            _CONV.c.status,
            _CONV.c.priority,
            _CONV.c.role_id,
            _CONV.c.agent_id,
        )
        .where(_ids_condition(dialect, ids))
        .order_by(_CONV.c.id)
    )
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    out = {
        r.id: _Conv(r.id, r.version, r.status, r.priority, r.role_id, r.agent_id, [])
        for r in conn.execute(stmt)
    }
    tags = (
        select(_CONV_TAG.c.conversation_id, _TAG.c.name)
        .join(_TAG, _TAG.c.id == _CONV_TAG.c.tag_id)
        .where(
            _CONV_TAG.c.conversation_id.in_(select(_CONV.c.id).where(_ids_condition(dialect, ids)))
        )
    )
    for conversation_id, name in conn.execute(tags):
        out[conversation_id].tags.append(name)
    for conv in out.values():
        conv.tags.sort()
    return out


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _tag_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    for name in wanted:
        conn.execute(
            _insert(conn, _TAG).values(name=name).on_conflict_do_nothing(index_elements=["name"])
        )
    rows = conn.execute(select(_TAG.c.name, _TAG.c.id).where(_TAG.c.name.in_(wanted)))
    return {name: tag_id for name, tag_id in rows}


class _Writer:
    """Collects changes (one event each) and writes them in a few statements."""

    def __init__(self, conn: Connection, actor: str, now: datetime) -> None:
        self.conn = conn
        self.actor = actor
        self.now = now
        self.start: dict[int, int] = {}  # conversation -> version read
        self.final: dict[int, _Conv] = {}
        self.events: list[dict[str, Any]] = []
        self.new_tags: list[tuple[int, str]] = []
        self.removed_tags: list[tuple[int, str]] = []

    def change(
        self, conv: _Conv, before: dict[str, Any], after: dict[str, Any], action: str, detail: str
    ) -> None:
        self.start.setdefault(conv.id, conv.version)
        conv.version += 1
        self.final[conv.id] = conv
        self.events.append(
            {
                "conversation_id": conv.id,
                "actor": self.actor,
                "action": action,
                "version": conv.version,
                "before": audit.dumps(before),
                "after": audit.dumps(after),
                "detail": detail,
                "created_at": self.now,
            }
        )

    def flush(self) -> None:
        if not self.final:
            return
        rows = [
            {
                "b_id": c.id,
                "b_read": self.start[c.id],
                "b_version": c.version,
                "b_role": c.role_id,
                "b_agent": c.agent_id,
                "b_priority": c.priority,
                "b_now": self.now,
            }
            for c in sorted(self.final.values(), key=lambda c: c.id)
        ]
        stmt = (
            update(_CONV)
            .where(_CONV.c.id == bindparam("b_id"), _CONV.c.version == bindparam("b_read"))
            .values(
                version=bindparam("b_version"),
                role_id=bindparam("b_role"),
                agent_id=bindparam("b_agent"),
                priority=bindparam("b_priority"),
                updated_at=bindparam("b_now", type_=_CONV.c.updated_at.type),
            )
        )
        self.conn.execute(stmt, rows)
        if self.new_tags:
            ids = _tag_ids(self.conn, (name for _, name in self.new_tags))
            self.conn.execute(
                _insert(self.conn, _CONV_TAG).on_conflict_do_nothing(),
                [{"conversation_id": c, "tag_id": ids[n]} for c, n in self.new_tags],
            )
        self.conn.execute(insert(_EVENT), self.events)
        sla.refresh(self.conn, sorted(self.final), self.now)  # the role's deadlines


def _names(conn: Connection, table: Any, name_col: Any) -> dict[int, str]:
    return {row[0]: row[1] for row in conn.execute(select(table.c.id, name_col))}


def route_ids(
    conn: Connection,
    ids: Sequence[int],
    *,
    actor: str = ROUTING_ACTOR,
    rules: Sequence[RuleSpec] | None = None,
) -> RoutingReport:
    """Route `ids` by the stored rules inside the caller's write transaction."""
    report = RoutingReport()
    if not ids:
        return report
    rules = list_rules(conn) if rules is None else list(rules)
    if not any(r.enabled for r in rules):
        return report
    matched = evaluate(conn, ids, rules)
    if not matched:
        return report
    _serialise(conn)
    role_ids = {name: i for i, name in _names(conn, _ROLE, _ROLE.c.name).items()}
    agent_ids = {name: i for i, name in _names(conn, _AGENT, _AGENT.c.handle).items()}
    role_names = {i: n for n, i in role_ids.items()}
    agent_names = {i: n for n, i in agent_ids.items()}
    now = utcnow()
    pool = _Pool(conn, now)
    writer = _Writer(conn, actor, now)
    states = _load(conn, sorted(matched))
    for conversation_id in sorted(states):
        conv = states[conversation_id]
        applied = matched[conversation_id]
        changed = False
        for index, rule in enumerate(applied):
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            new_role = role_ids.get(rule.role) if rule.role else None
            if new_role is not None and new_role != conv.role_id:
                before["role"], after["role"] = role_names.get(conv.role_id), rule.role
                conv.role_id = new_role
                if conv.agent_id is not None and rule.agent is None:
                    # the old role's agent does not follow the conversation to a new queue
                    before["agent"], after["agent"] = agent_names.get(conv.agent_id), None
                    pool.load_role(new_role)
                    if conv.status != Status.RESOLVED.value and conv.agent_id in pool.loads:
                        pool.release(conv.agent_id)
                    conv.agent_id = None
            new_agent = agent_ids.get(rule.agent) if rule.agent else None
            if new_agent is not None and new_agent != conv.agent_id:
                before.setdefault("agent", agent_names.get(conv.agent_id))
                after["agent"] = rule.agent
                conv.agent_id = new_agent
            if rule.priority is not None and PRIORITY_RANK[rule.priority] != conv.priority:
                before["priority"] = PRIORITY_NAME.get(conv.priority, str(conv.priority))
                after["priority"] = rule.priority
                conv.priority = PRIORITY_RANK[rule.priority]
            added = [t for t in rule.tags if t not in conv.tags]
            if added:
                before["tags"] = list(conv.tags)
                conv.tags = sorted([*conv.tags, *added])
                after["tags"] = list(conv.tags)
                writer.new_tags += [(conv.id, t) for t in added]
            detail = f"rule: {rule.name}"
            last = index == len(applied) - 1
            if (
                last
                and conv.agent_id is None
                and conv.role_id is not None
                and conv.status != Status.RESOLVED.value
            ):
                picked = pool.pick(conv.role_id)
                if picked is not None:
                    before.setdefault("agent", None)
                    after["agent"] = agent_names.get(picked)
                    conv.agent_id = picked
                    detail += f"; auto-assigned in role {role_names.get(conv.role_id)}"
                    report.assigned += 1
                elif "role" in after:
                    report.queued += 1
            if after:
                writer.change(conv, before, after, "route", detail)
                report.by_rule[rule.name] = report.by_rule.get(rule.name, 0) + 1
                changed = True
        report.routed += int(changed)
    writer.flush()
    pool.save()
    return report


def route_new(conn: Connection, conversation_ids: Sequence[int]) -> RoutingReport:
    """The ingest hook: route conversations the batch just created (same transaction)."""
    return route_ids(conn, conversation_ids)


def _write_conn(db: Database) -> Any:
    conn = db.engine.connect()
    if db.dialect == "sqlite":
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
    return conn


def run(
    db: Database,
    query: str,
    *,
    actor: str,
    me_id: int | None = None,
    only: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> RoutingReport:
    """Route every match of `query` by the stored rules (or only the rule named `only`)."""
    with db.read() as session:
        rules = list_rules(session)
        if only is not None:
            rules = [_rule_named(rules, only)]
        try:
            ids = sorted(matching_ids(session, query, me_id=me_id))
        except QueryError as exc:
            raise ServiceError(str(exc)) from None
    report = RoutingReport()
    with _write_conn(db) as conn:
        for start in range(0, len(ids), max(1, chunk_size)):
            with conn.begin():
                if start == 0:
                    _require_lead(conn, actor, "re-route conversations")
                report.add(
                    route_ids(conn, ids[start : start + chunk_size], actor=actor, rules=rules)
                )
    return report


def _rule_named(rules: Sequence[RuleSpec], name: str) -> RuleSpec:
    for rule in rules:
        if rule.name == name:
            return RuleSpec(**{**rule.__dict__, "enabled": True, "continue_after": False})
    known = ", ".join(r.name for r in rules) or "none yet"
    raise NotFound(f"no rule '{name}' (rules: {known})")


def test_rule(db: Database, name: str, query: str = "", *, me_id: int | None = None) -> list[int]:
    """Ids among `query`'s matches (all conversations by default) that rule `name` matches."""
    with db.read() as session:
        rule = _rule_named(list_rules(session), name)
        dialect = session.get_bind().dialect.name
        try:
            scope = parse(query)
        except QueryError as exc:
            raise ServiceError(str(exc)) from None
        condition = conversation_filter(parse(rule.when), dialect=dialect, me_id=None)
        within = conversation_filter(scope, dialect=dialect, me_id=me_id)
        stmt = select(_CONV.c.id).where(within, condition).order_by(_CONV.c.id)
        return [row[0] for row in session.execute(stmt)]


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def rebalance(db: Database, role: str, *, actor: str) -> RoutingReport:
    """A lead's explicit rebalance of one role: nothing else ever moves assigned work.

    Conversations of the role held by agents who are away, no longer in the
    role, or over capacity (the most recent first) go back to the queue; then
    the queue (oldest first) is handed out fairly, as routing would.
    """
    from inboxtui.services.triage import _ensure_actor

    report = RoutingReport()
    with _write_conn(db) as conn, conn.begin():
        from sqlmodel import Session

        session = Session(bind=conn)
        _ensure_actor(session, actor)
        session.flush()
        _require_lead(conn, actor, f"rebalance role {role}")
        role_id = conn.execute(select(_ROLE.c.id).where(_ROLE.c.name == role)).scalar_one_or_none()
        if role_id is None:
            raise NotFound(f"no role '{role}'")
        _serialise(conn)
        now = utcnow()
        pool = _Pool(conn, now)
        pool.load_role(role_id)
        members = set(pool.members[role_id])
        agent_names = _names(conn, _AGENT, _AGENT.c.handle)
        open_ = _CONV.c.status != Status.RESOLVED.value
        held = list(
            conn.execute(
                select(_CONV.c.id, _CONV.c.agent_id)
                .where(_CONV.c.role_id == role_id, open_, _CONV.c.agent_id.is_not(None))
                .order_by(_CONV.c.last_activity_at.desc(), _CONV.c.id.desc())
            )
        )
        unload: list[int] = []
        for conversation_id, agent_id in held:
            if agent_id not in members:
                unload.append(conversation_id)
                continue
            capacity = pool.capacity[agent_id]
            if capacity is not None and pool.loads.get(agent_id, 0) > capacity:
                pool.release(agent_id)
                unload.append(conversation_id)
        queue = [
            row[0]
            for row in conn.execute(
                select(_CONV.c.id)
                .where(_CONV.c.role_id == role_id, open_, _CONV.c.agent_id.is_(None))
                .order_by(_CONV.c.last_activity_at, _CONV.c.id)
            )
        ]
        targets = sorted(set(unload) | set(queue))
        states = _load(conn, targets) if targets else {}
        writer = _Writer(conn, actor, now)
        order = [*queue, *sorted(unload)]  # the queue first: it waited longest
        for conversation_id in order:
            conv = states.get(conversation_id)
            if conv is None:
                continue
            before = {"agent": agent_names.get(conv.agent_id) if conv.agent_id else None}
            picked = pool.pick(role_id)
            if picked == conv.agent_id:
                continue
            conv.agent_id = picked
            after = {"agent": agent_names.get(picked) if picked else None}
            if before == after:
                continue
            writer.change(conv, before, after, "rebalance", f"rebalance role {role}")
            report.routed += 1
            report.assigned += int(picked is not None)
            report.queued += int(picked is None)
        writer.flush()
        pool.save()
    return report


__all__ = [
    "ROUTING_ACTOR",
    "RoutingReport",
    "RuleError",
    "RuleSpec",
    "check_when",
    "dump_rules",
    "evaluate",
    "list_rules",
    "load_rules",
    "open_counts",
    "parse_rules",
    "rebalance",
    "route_ids",
    "route_new",
    "run",
    "save_rules",
    "test_rule",
]
