"""Watched topics: named filter-language queries and their detection settings.

A mention counts for a topic when its *conversation* matches the topic's query
(`inboxtui.query.conversation_filter`): replies in a thread about the brand count
even when they do not repeat its name, which is how a storm under one post looks.
Relative times in a topic query (`since:2d`) are taken at the wall clock, so
leave them out of topics (the windows already bound time).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from inboxtui.db import Database
from inboxtui.models import Incident, Topic
from inboxtui.query import QueryError, parse
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow

DEFAULT_REACH = 10_000
# Settings a user may change (`inboxtui topic add/set --window 1h ...`): name -> meaning.
SETTINGS: dict[str, str] = {
    "window_seconds": "length of a window in seconds (default 3600)",
    "baseline_days": "days of history the volume baseline covers (default 7)",
    "spike_k": "sigmas over the baseline mean that make a spike (default 3)",
    "min_count": "mentions a window needs before it can spike (default 20)",
    "negative_share": "negative / (negative + positive) that alarms (default 0.4)",
    "min_share_volume": "polar mentions a window needs for the share alarm (default 10)",
    "cooldown_seconds": "quiet time after the last trigger that ends a storm (default 7200)",
}


@dataclass(frozen=True)
class TopicSpec:
    """A topic as detection reads it (a plain value, safe to pass between threads)."""

    id: int
    name: str
    query: str
    enabled: bool = True
    window_seconds: int = 3600
    baseline_days: int = 7
    spike_k: float = 3.0
    min_count: int = 20
    negative_share: float = 0.4
    min_share_volume: int = 10
    influencer_reach: dict[str, int] = field(default_factory=lambda: {"default": DEFAULT_REACH})
    cooldown_seconds: int = 7200

    def reach_threshold(self, kind: str) -> int:
        """The influencer threshold for a source kind (`default` for kinds not listed)."""
        return int(
            self.influencer_reach.get(kind, self.influencer_reach.get("default", DEFAULT_REACH))
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "query": self.query,
            "enabled": self.enabled,
            **{key: getattr(self, key) for key in SETTINGS},
            "influencer_reach": dict(self.influencer_reach),
        }


def spec_of(topic: Topic) -> TopicSpec:
    assert topic.id is not None
    return TopicSpec(
        id=topic.id,
        name=topic.name,
        query=topic.query,
        enabled=bool(topic.enabled),
        window_seconds=topic.window_seconds,
        baseline_days=topic.baseline_days,
        spike_k=topic.spike_k,
        min_count=topic.min_count,
        negative_share=topic.negative_share,
        min_share_volume=topic.min_share_volume,
        influencer_reach=parse_reach(topic.influencer_reach),
        cooldown_seconds=topic.cooldown_seconds,
    )


def parse_reach(value: str | dict[str, Any]) -> dict[str, int]:
    """`{"default": 10000, "hackernews": 300}` (JSON or dict) -> validated thresholds."""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ServiceError(f"influencer reach: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ServiceError("influencer reach must be an object: kind -> threshold")
    out: dict[str, int] = {}
    for kind, threshold in data.items():
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise ServiceError(
                f"influencer reach for {kind!r} must be a whole number >= 0, not {threshold!r}"
            )
        out[str(kind)] = threshold
    out.setdefault("default", DEFAULT_REACH)
    return out


def reach_option(items: list[str]) -> dict[str, int]:
    """`["default=10000", "hackernews=300"]` (CLI `--reach`) -> thresholds."""
    found: dict[str, Any] = {}
    for item in items:
        kind, sep, amount = item.partition("=")
        if not sep or not kind.strip():
            raise ServiceError(f"--reach takes KIND=NUMBER (e.g. hackernews=300), not {item!r}")
        try:
            found[kind.strip()] = int(amount.replace("_", ""))
        except ValueError:
            raise ServiceError(f"--reach {item!r}: {amount!r} is not a whole number") from None
    return parse_reach(found)


def _check_settings(values: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in SETTINGS:
            raise ServiceError(f"no topic setting {key!r} (settings: {', '.join(SETTINGS)})")
        if value is None:
            continue
        if key in ("spike_k", "negative_share"):
            number = float(value)
            if not math.isfinite(number) or number <= 0 or (key == "negative_share" and number > 1):
                limit = "in (0, 1]" if key == "negative_share" else "> 0"
                raise ServiceError(f"{key} must be {limit}, not {value!r}")
            checked[key] = number
        else:
            whole = int(value)
            if whole < (1 if key != "cooldown_seconds" else 0):
                raise ServiceError(f"{key} must be a positive whole number, not {value!r}")
            checked[key] = whole
    if "window_seconds" in checked and checked["window_seconds"] < 60:
        raise ServiceError("window_seconds must be at least 60")
    return checked


def _check_query(query: str) -> str:
    query = sanitize(query).strip()
    if not query:
        raise ServiceError("a topic needs a query (e.g. 'dell OR @dell')")
    try:
        parsed = parse(query)
    except QueryError as exc:
        raise ServiceError(f"topic query: {exc}") from None
    if parsed.root is None:
        raise ServiceError(f"topic query {query!r} matches everything; name what to watch")
    return query


def _name(name: str) -> str:
    name = sanitize(name).strip()
    if not name or any(ch.isspace() for ch in name):
        raise ServiceError(f"a topic name is one word (got {name!r})")
    return name


def add_topic(
    db: Database,
    name: str,
    query: str,
    *,
    actor: str,
    influencer_reach: dict[str, int] | None = None,
    **settings: Any,
) -> TopicSpec:
    """Watch a new topic (audited as `topic.add`)."""
    name, query = _name(name), _check_query(query)
    checked = _check_settings(settings)
    reach = parse_reach(influencer_reach or {})
    with db.write() as session:
        if session.execute(select(Topic.id).where(Topic.name == name)).first():
            raise ServiceError(f"topic '{name}' already exists (remove it first)")
        topic = Topic(
            name=name,
            query=query,
            influencer_reach=json.dumps(reach, sort_keys=True),
            created_at=utcnow(),
            **checked,
        )
        session.add(topic)
        session.flush()
        spec = spec_of(topic)
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="topic.add",
            before=None,
            after=spec.as_dict(),
            version=None,
        )
        return spec


def set_topic(
    db: Database,
    name: str,
    *,
    actor: str,
    query: str | None = None,
    enabled: bool | None = None,
    influencer_reach: dict[str, int] | None = None,
    **settings: Any,
) -> TopicSpec:
    """Change a topic's query, settings or enabled flag (audited as `topic.set`)."""
    values: dict[str, Any] = _check_settings(settings)
    if query is not None:
        values["query"] = _check_query(query)
    if enabled is not None:
        values["enabled"] = enabled
    if influencer_reach is not None:
        values["influencer_reach"] = json.dumps(parse_reach(influencer_reach), sort_keys=True)
    with db.write() as session:
        topic = session.execute(select(Topic).where(Topic.name == name)).scalar_one_or_none()
        if topic is None:
            raise NotFound(f"no topic '{name}' (see: inboxtui topic list)")
        before = spec_of(topic).as_dict()
        if values:
            session.execute(update(Topic).where(Topic.id == topic.id).values(**values))
            session.refresh(topic)
        spec = spec_of(topic)
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="topic.set",
            before=before,
            after=spec.as_dict(),
            version=None,
        )
        return spec


def remove_topic(db: Database, name: str, *, actor: str) -> None:
    """Stop watching a topic; its incidents stay (they keep the topic's name)."""
    with db.write() as session:
        topic = session.execute(select(Topic).where(Topic.name == name)).scalar_one_or_none()
        if topic is None:
            raise NotFound(f"no topic '{name}' (see: inboxtui topic list)")
        before = spec_of(topic).as_dict()
        session.execute(update(Incident).where(Incident.topic_id == topic.id).values(topic_id=None))
        session.execute(delete(Topic).where(Topic.id == topic.id))
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="topic.remove",
            before=before,
            after=None,
            version=None,
        )


def list_topics(db: Database, *, enabled_only: bool = False) -> list[TopicSpec]:
    with db.read() as session:
        stmt = select(Topic).order_by(Topic.name)
        if enabled_only:
            stmt = stmt.where(Topic.enabled.is_(True))
        return [spec_of(t) for t in session.execute(stmt).scalars()]


def mark_checked(db: Database, topic_ids: list[int], when: datetime) -> None:
    if topic_ids:
        with db.write() as session:
            session.execute(
                update(Topic).where(Topic.id.in_(topic_ids)).values(last_checked_at=when)
            )


__all__ = [
    "SETTINGS",
    "TopicSpec",
    "add_topic",
    "list_topics",
    "mark_checked",
    "parse_reach",
    "reach_option",
    "remove_topic",
    "set_topic",
    "spec_of",
]
