"""Replay a historical stream through detection, in time order, in a scratch database.

`inboxtui detect --replay FILE.jsonl` answers "when would we have heard?":
the records are sorted by time and ingested step by step (default: 5 minutes
of stream time per step); after each step that stored mentions, detection runs
with the clock at the end of that step, exactly as the poller's hook does after
an ingest batch. The scratch database is a temporary SQLite file (or the one
given), so the real store is never touched.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from inboxtui.db import Database, open_database
from inboxtui.detection import incidents
from inboxtui.detection.detector import detect
from inboxtui.detection.topics import TopicSpec, add_topic, list_topics
from inboxtui.ingest import MentionIn, RecordError, ingest, parse_record
from inboxtui.models import IncidentEvent

REPLAY_ACTOR = "system:replay"


class ReplayError(ValueError):
    """A stream that cannot be replayed; the message names the file and line."""


@dataclass
class ReplayedIncident:
    """One incident as the replay saw it open, with each trigger kind's first firing."""

    id: int
    topic: str | None
    opened_at: datetime
    title: str
    severity: int
    first_trigger: dict[str, datetime] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "incident": self.id,
            "topic": self.topic,
            "opened_at": self.opened_at.isoformat(),
            "title": self.title,
            "severity": self.severity,
            "first_trigger": {k: v.isoformat() for k, v in self.first_trigger.items()},
        }


@dataclass
class ReplayReport:
    mentions: int
    steps: int
    detections: int
    start: datetime | None
    end: datetime | None
    incidents: list[ReplayedIncident] = field(default_factory=list)


def load_stream(path: Path) -> list[MentionIn]:
    """Parse a JSONL stream; a bad line raises `ReplayError` naming file, line and field."""
    mentions = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReplayError(f"{path}:{number}: not JSON ({exc.msg})") from None
            try:
                mentions.append(parse_record(obj, line.rstrip("\n")))
            except RecordError as exc:
                raise ReplayError(f"{path}:{number}: {exc}") from None
    return mentions


def records_to_mentions(records: Iterable[dict[str, Any]]) -> list[MentionIn]:
    return [parse_record(r) for r in records]


def replay(
    mentions: list[MentionIn],
    topics: list[TopicSpec] | list[dict[str, Any]],
    *,
    step: timedelta = timedelta(minutes=5),
    db: Database | None = None,
) -> ReplayReport:
    """Ingest `mentions` in time order, `step` at a time, detecting after each stored step.

    `topics` are specs (from the real store) or dicts of `add_topic` arguments
    (name, query and settings). With no `db`, a temporary SQLite file is used.
    """
    if not topics:
        raise ReplayError("no topics to detect: add one (inboxtui topic add) or pass --topic")
    if step.total_seconds() < 1:
        raise ReplayError("the replay step must be at least one second")
    if db is None:
        with tempfile.TemporaryDirectory(prefix="inboxtui-replay-") as scratch:
            database = open_database(str(Path(scratch) / "replay.db"))
            try:
                return replay(mentions, topics, step=step, db=database)
            finally:
                database.dispose()
    for topic in topics:
        spec = topic.as_dict() if isinstance(topic, TopicSpec) else dict(topic)
        spec.pop("id", None)
        spec.pop("enabled", None)
        add_topic(db, spec.pop("name"), spec.pop("query"), actor=REPLAY_ACTOR, **spec)
    specs = list_topics(db, enabled_only=True)
    ordered = sorted(mentions, key=lambda m: m.created_at)
    report = ReplayReport(len(ordered), 0, 0, None, None)
    if not ordered:
        return report
    report.start, report.end = ordered[0].created_at, ordered[-1].created_at
    # steps on round times of the step length (a 5-minute step detects at :05, :10, ...)
    seconds = step.total_seconds()
    first = ordered[0].created_at.timestamp()
    clock = datetime.fromtimestamp(first - first % seconds, tz=ordered[0].created_at.tzinfo)
    index = 0
    while index < len(ordered):
        clock += step
        batch = []
        while index < len(ordered) and ordered[index].created_at < clock:
            batch.append(ordered[index])
            index += 1
        report.steps += 1
        if batch:
            ingest(db, batch, actor=REPLAY_ACTOR)
            detect(db, now=clock, topics=specs)
            report.detections += 1
    report.incidents = _incidents(db)
    return report


def _incidents(db: Database) -> list[ReplayedIncident]:
    found = []
    with db.read() as session:
        views = sorted(incidents.list_incidents(session, limit=10_000), key=lambda v: v.id)
        for view in views:
            events = session.execute(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == view.id)
                .order_by(IncidentEvent.id)
            ).scalars()
            first: dict[str, datetime] = {}
            for event in events:
                kind = json.loads(event.data or "{}").get("kind")
                if event.action.startswith("trigger") and kind and kind not in first:
                    first[kind] = event.created_at
            found.append(
                ReplayedIncident(
                    view.id, view.topic, view.opened_at, view.title, view.severity, first
                )
            )
    return found


__all__ = [
    "ReplayError",
    "ReplayReport",
    "ReplayedIncident",
    "load_stream",
    "records_to_mentions",
    "replay",
]
