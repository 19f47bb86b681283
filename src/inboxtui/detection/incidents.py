"""Incidents: the service that opens, extends, acknowledges, owns and resolves them.

Every change is one transaction that bumps `incident.version` (open TUIs watch
it) and writes one `incident_event` line: the timeline the Incidents screen
shows. Detection calls `record_triggers`; people call `acknowledge`, `own`,
`resolve` and `note` (from the CLI or the TUI) with their agent handle.

One storm is one incident. A trigger on a topic:
- extends the topic's unresolved incident (open or acknowledged), if any;
- else, when the topic's last incident was resolved but its cool-down has not
  passed (`cooldown_until` = last trigger + the topic's cool-down), is noted on
  it and pushes the cool-down on: the storm someone already handled goes on.
  A trigger *kind* that incident never saw reopens it instead (it got worse);
- else opens a new incident.
Writers of one topic are serialised by a row lock on the topic (PostgreSQL;
SQLite's write transactions are serial already), so two processes detecting
at once cannot open two incidents for one storm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from inboxtui.db import Database
from inboxtui.models import Agent, Conversation, Incident, IncidentEvent, Topic
from inboxtui.services import audit
from inboxtui.services.errors import ConflictError, NotFound, ServiceError
from inboxtui.services.triage import ensure_agent
from inboxtui.text import sanitize
from inboxtui.timeutil import iso, utcnow

OPEN_STATES = ("open", "acknowledged")
# timeline lines the outbound webhook announces (`linked` and repeats after a resolve stay in)
NOTIFY_ACTIONS = frozenset(
    {"opened", "reopened", "trigger", "acknowledged", "owner", "note", "resolved"}
)
DETECTOR = "system:detector"


@dataclass(frozen=True)
class Trigger:
    """One alarm of one topic: what fired, how bad, why (in words), and which conversations."""

    kind: str  # "volume" | "negative_share" | "influencer"
    severity: int  # 1-3
    reason: str
    metrics: dict[str, Any]
    conversation_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What `record_triggers` did to the topic's incident."""

    incident_id: int
    action: str  # "opened" | "extended" | "reopened" | "suppressed"
    title: str
    severity: int


@dataclass
class IncidentView:
    id: int
    title: str
    topic: str | None
    topic_id: int | None
    severity: int
    status: str
    reason: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    last_triggered_at: datetime | None
    cooldown_until: datetime | None
    owner: str | None
    postmortem: str | None
    triggers: list[str]
    metrics: dict[str, Any]
    version: int
    conversations: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = iso(value)
        return data


@dataclass
class TimelineEntry:
    id: int
    created_at: datetime
    actor: str
    action: str
    detail: str | None
    data: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- reading


def _views(session: Session, stmt: Any) -> list[IncidentView]:
    rows = session.execute(stmt).all()
    ids = [r[0].id for r in rows]
    counts: dict[int, int] = {}
    if ids:
        counted = (
            select(Conversation.incident_id, func.count())
            .where(Conversation.incident_id.in_(ids))
            .group_by(Conversation.incident_id)
        )
        counts = {int(i): int(n) for i, n in session.execute(counted)}
    views = []
    for incident, owner in rows:
        views.append(
            IncidentView(
                id=incident.id,
                title=incident.title,
                topic=incident.topic,
                topic_id=incident.topic_id,
                severity=incident.severity,
                status=incident.status,
                reason=incident.reason,
                opened_at=incident.opened_at,
                acknowledged_at=incident.acknowledged_at,
                closed_at=incident.closed_at,
                last_triggered_at=incident.last_triggered_at,
                cooldown_until=incident.cooldown_until,
                owner=owner,
                postmortem=incident.postmortem,
                triggers=json.loads(incident.triggers or "[]"),
                metrics=json.loads(incident.metrics or "{}"),
                version=incident.version,
                conversations=counts.get(incident.id, 0),
            )
        )
    return views


def _select() -> Any:
    return select(Incident, Agent.handle).outerjoin(Agent, Agent.id == Incident.owner_agent_id)


def list_incidents(
    session: Session, *, open_only: bool = False, limit: int = 200
) -> list[IncidentView]:
    """Open incidents first (most severe, newest), then the rest, newest first."""
    stmt = _select()
    if open_only:
        stmt = stmt.where(Incident.status.in_(OPEN_STATES))
    is_closed = func.coalesce(Incident.status == "resolved", False)
    stmt = stmt.order_by(is_closed, Incident.severity.desc(), Incident.id.desc()).limit(limit)
    return _views(session, stmt)


def open_incidents(session: Session) -> list[IncidentView]:
    """What the banner shows: unresolved incidents (an indexed read; cheap enough to poll)."""
    return list_incidents(session, open_only=True, limit=20)


def open_signature(session: Session) -> tuple[tuple[int, int], ...]:
    """(id, version) of each open incident: changes whenever the banner would."""
    stmt = (
        select(Incident.id, Incident.version)
        .where(Incident.status.in_(OPEN_STATES))
        .order_by(Incident.id)
    )
    return tuple((int(i), int(v)) for i, v in session.execute(stmt))


def get_incident(session: Session, incident_id: int) -> IncidentView:
    found = _views(session, _select().where(Incident.id == incident_id))
    if not found:
        raise NotFound(f"no incident #{incident_id} (see: inboxtui incidents)")
    return found[0]


def timeline(session: Session, incident_id: int) -> list[TimelineEntry]:
    stmt = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.id)
    )
    return [
        TimelineEntry(e.id, e.created_at, e.actor, e.action, e.detail, json.loads(e.data or "{}"))
        for e in session.execute(stmt).scalars()
    ]


def conversation_ids(session: Session, incident_id: int, limit: int = 500) -> list[int]:
    """The incident's conversations, most severe and most recently active first."""
    stmt = (
        select(Conversation.id)
        .where(Conversation.incident_id == incident_id)
        .order_by(
            func.coalesce(Conversation.severity, 0).desc(),
            Conversation.last_activity_at.desc(),
            Conversation.id.desc(),
        )
        .limit(limit)
    )
    return [int(i) for i in session.execute(stmt).scalars()]


# ---------------------------------------------------------------- writing


def _event(
    session: Session,
    incident_id: int,
    actor: str,
    action: str,
    detail: str | None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        IncidentEvent(
            incident_id=incident_id,
            actor=actor,
            action=action,
            detail=detail,
            data=audit.dumps(data or {}) or "{}",
            created_at=at or utcnow(),
            notify="pending" if action in NOTIFY_ACTIONS else "skip",
        )
    )
    session.flush()


def _age(now: datetime, stamp: str) -> float:
    return (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()


def _lock_topic(session: Session, topic_id: int) -> None:
    stmt = select(Topic.id).where(Topic.id == topic_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    session.execute(stmt)


def _latest(session: Session, topic_id: int) -> Incident | None:
    stmt = (
        select(Incident).where(Incident.topic_id == topic_id).order_by(Incident.id.desc()).limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def record_triggers(
    db: Database,
    topic_id: int,
    topic_name: str,
    cooldown_seconds: int,
    triggers: list[Trigger],
    now: datetime,
    *,
    actor: str = DETECTOR,
    quiet_seconds: int = 3600,
) -> Outcome:
    """Open, extend, reopen or note (see the module doc) the topic's incident for `triggers`.

    A trigger kind is written to the timeline when it is new to the incident, or
    when its last line is older than `quiet_seconds` (a storm that goes on for
    hours shows once per window, not once per detection run).
    """
    if not triggers:
        raise ValueError("record_triggers needs at least one trigger")
    severity = max(t.severity for t in triggers)
    cooldown = now + timedelta(seconds=cooldown_seconds)
    kinds = [t.kind for t in triggers]
    with db.write() as session:
        _lock_topic(session, topic_id)
        incident = _latest(session, topic_id)
        action = "opened"
        if incident is not None and incident.status in OPEN_STATES:
            action = "extended"
        elif (
            incident is not None
            and incident.cooldown_until is not None
            and now < incident.cooldown_until
        ):
            seen = set(json.loads(incident.triggers or "[]"))
            action = "reopened" if set(kinds) - seen else "suppressed"
        if action == "opened" or incident is None:
            first = max(triggers, key=lambda t: t.severity)
            incident = Incident(
                title=f"{topic_name}: {first.reason}"[:200],
                topic=topic_name,
                topic_id=topic_id,
                severity=severity,
                status="open",
                reason=first.reason,
                opened_at=now,
                last_triggered_at=now,
                cooldown_until=cooldown,
                triggers=json.dumps(sorted(set(kinds))),
                metrics="{}",
                updated_at=utcnow(),
                version=1,
            )
            session.add(incident)
            session.flush()
            action = "opened"
        assert incident.id is not None
        fresh = action in ("opened", "reopened")
        if action == "opened":
            _event(
                session, incident.id, actor, "opened", incident.title, {"severity": severity}, now
            )
        elif action == "reopened":
            detail = "; ".join(t.reason for t in triggers)
            _event(session, incident.id, actor, "reopened", detail, {"kinds": kinds}, now)
        metrics = json.loads(incident.metrics or "{}")
        for trigger in triggers:
            last_logged = metrics.get(trigger.kind, {}).get("logged_at")
            log_it = fresh or last_logged is None or _age(now, last_logged) >= quiet_seconds
            metrics[trigger.kind] = {
                **trigger.metrics,
                "reason": trigger.reason,
                "at": iso(now),
                "logged_at": iso(now) if log_it else last_logged,
            }
            if log_it:
                data = {"kind": trigger.kind, "severity": trigger.severity, **trigger.metrics}
                name = "trigger-after-resolve" if action == "suppressed" else "trigger"
                _event(session, incident.id, actor, name, trigger.reason, data, now)
        values: dict[str, Any] = {
            "last_triggered_at": now,
            "cooldown_until": cooldown,
            "metrics": json.dumps(metrics, sort_keys=True),
            "triggers": json.dumps(sorted(set(json.loads(incident.triggers or "[]")) | set(kinds))),
            "severity": severity if action == "opened" else max(severity, incident.severity),
            "updated_at": utcnow(),
            "version": 1 if action == "opened" else Incident.version + 1,
        }
        if action == "reopened":
            values.update(status="open", closed_at=None)
        session.execute(update(Incident).where(Incident.id == incident.id).values(**values))
        return Outcome(incident.id, action, incident.title, int(values["severity"]))


def link_conversations(
    db: Database, incident_id: int, ids: list[int], now: datetime | None = None
) -> list[int]:
    """Attach conversations to the incident unless already in another open one.

    Returns the ids newly linked; the timeline gets one line for them.
    """
    if not ids:
        return []
    with db.write() as session:
        taken = select(Incident.id).where(Incident.status.in_(OPEN_STATES))
        free = (Conversation.incident_id.is_(None)) | Conversation.incident_id.not_in(taken)
        linked = sorted(
            session.execute(
                select(Conversation.id).where(
                    Conversation.id.in_(sorted(set(ids))),
                    free,
                    func.coalesce(Conversation.incident_id, 0) != incident_id,
                )
            ).scalars()
        )
        if not linked:
            return []
        session.execute(
            update(Conversation).where(Conversation.id.in_(linked)).values(incident_id=incident_id)
        )
        _event(
            session,
            incident_id,
            DETECTOR,
            "linked",
            f"{len(linked)} conversation(s) escalated into this incident",
            {"conversations": linked[:50]},
            now,
        )
        session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(version=Incident.version + 1, updated_at=utcnow())
        )
        return linked


def _change(
    db: Database,
    incident_id: int,
    actor: str,
    expected_version: int | None,
    apply: Any,
) -> IncidentView:
    """Run `apply(session, incident, actor) -> (values, action, detail)` as one audited change."""
    actor = (actor or "").strip()
    if not actor:
        raise ServiceError("no acting agent: pass --as NAME or set INBOXTUI_AGENT")
    with db.write() as session:
        agent = ensure_agent(session, actor) if not actor.startswith("system:") else None
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"no incident #{incident_id} (see: inboxtui incidents)")
        if expected_version is not None and incident.version != expected_version:
            raise ConflictError(
                f"incident #{incident_id} changed since you loaded it "
                f"(now v{incident.version}, you had v{expected_version}); reload",
                conversation_id=0,
                current_version=incident.version,
            )
        values, action, detail = apply(session, incident, agent)
        if values is None:
            raise ServiceError(detail)
        result = session.execute(
            update(Incident)
            .where(Incident.id == incident_id, Incident.version == incident.version)
            .values(**values, updated_at=utcnow(), version=incident.version + 1)
        )
        if result.rowcount != 1:
            raise ConflictError(
                f"incident #{incident_id} changed while this change was being made; try again",
                conversation_id=0,
            )
        _event(session, incident_id, actor, action, detail)
        session.expire_all()
        return get_incident(session, incident_id)


def acknowledge(
    db: Database, incident_id: int, *, actor: str, expected_version: int | None = None
) -> IncidentView:
    """Someone has seen it: open -> acknowledged (the banner stops ringing, stays shown)."""

    def apply(session: Session, incident: Incident, agent: Agent | None) -> Any:
        if incident.status != "open":
            return None, "", f"incident #{incident.id} is {incident.status}, not open"
        return {"status": "acknowledged", "acknowledged_at": utcnow()}, "acknowledged", None

    return _change(db, incident_id, actor, expected_version, apply)


def own(
    db: Database,
    incident_id: int,
    *,
    actor: str,
    agent: str | None = None,
    expected_version: int | None = None,
) -> IncidentView:
    """Make `agent` (default: the actor) the owner; an open incident is acknowledged too."""

    def apply(session: Session, incident: Incident, me: Agent | None) -> Any:
        if agent is None or agent == actor:
            owner = me
        else:
            owner = session.execute(
                select(Agent).where(Agent.handle == agent.strip())
            ).scalar_one_or_none()
            if owner is None:
                return None, "", f"no agent '{agent}'"
        if owner is None:
            return None, "", "a system actor cannot own an incident; name an agent"
        if incident.owner_agent_id == owner.id:
            return None, "", f"incident #{incident.id} is already owned by {owner.handle}"
        values: dict[str, Any] = {"owner_agent_id": owner.id}
        if incident.status == "open":
            values.update(status="acknowledged", acknowledged_at=utcnow())
        return values, "owner", f"owner {owner.handle}"

    return _change(db, incident_id, actor, expected_version, apply)


def resolve(
    db: Database,
    incident_id: int,
    *,
    actor: str,
    note: str,
    expected_version: int | None = None,
) -> IncidentView:
    """Close it with a post-mortem note (required: what happened, what was done)."""
    text = sanitize(note or "").strip()
    if not text:
        raise ServiceError("resolving an incident needs a post-mortem note")

    def apply(session: Session, incident: Incident, agent: Agent | None) -> Any:
        if incident.status == "resolved":
            return None, "", f"incident #{incident.id} is already resolved"
        return {"status": "resolved", "closed_at": utcnow(), "postmortem": text}, "resolved", text

    return _change(db, incident_id, actor, expected_version, apply)


def note(db: Database, incident_id: int, *, actor: str, text: str) -> IncidentView:
    """A line on the timeline (what PR did, who was called)."""
    body = sanitize(text or "").strip()
    if not body:
        raise ServiceError("a note needs text")

    def apply(session: Session, incident: Incident, agent: Agent | None) -> Any:
        return {}, "note", body

    return _change(db, incident_id, actor, None, apply)


__all__ = [
    "DETECTOR",
    "OPEN_STATES",
    "IncidentView",
    "Outcome",
    "TimelineEntry",
    "Trigger",
    "acknowledge",
    "conversation_ids",
    "get_incident",
    "link_conversations",
    "list_incidents",
    "note",
    "open_incidents",
    "open_signature",
    "own",
    "record_triggers",
    "resolve",
    "timeline",
]
