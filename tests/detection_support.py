"""Records with explicit sentiment for detection tests (the scorer's quality is not under test)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from inboxtui.db import Database
from inboxtui.detection.topics import TopicSpec, add_topic
from inboxtui.ingest import ingest, parse_record
from inboxtui.timeutil import iso

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SCORES = {"negative": -0.7, "positive": 0.7, "neutral": 0.0}
_SERIAL = itertools.count(1)  # external ids unique across the streams of a test


class Stream:
    """Builds interchange records at chosen times; `store` ingests them."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(
        self,
        at: datetime,
        label: str = "neutral",
        *,
        text: str = "acme laptop",
        reply_to: str | None = None,
        followers: int | None = 100,
        handle: str | None = None,
        kind: str = "mastodon",
        engagement: Any = None,
        score: float | None = None,
        stored_label: str | None = None,
        source: str | None = None,
    ) -> str:
        serial = next(_SERIAL)
        external_id = f"x{serial}"
        record: dict[str, Any] = {
            "kind": kind,
            "source": source or f"{kind}-feed",
            "external_id": external_id,
            "created_at": iso(at),
            "text": text,
            "author": {"handle": handle or f"@u{serial}", "followers": followers},
            "sentiment": SCORES[label] if score is None else score,
        }
        if stored_label is not None:
            record["sentiment_label"] = stored_label
        if reply_to:
            record["in_reply_to"] = reply_to
        if engagement is not None:
            record["engagement"] = engagement
        self.records.append(record)
        return external_id

    def steady(self, minutes: int, per_minute: int = 1, end: datetime = NOW, **kw: Any) -> None:
        """`per_minute` neutral mentions in each of the `minutes` minutes before the last one."""
        for minute in range(2, minutes + 2):
            for k in range(per_minute):
                self.add(end - timedelta(minutes=minute, seconds=-k), **kw)

    def store(self, db: Database) -> None:
        ingest(db, [parse_record(r) for r in self.records])
        self.records = []


def minute_topic(
    db: Database, name: str = "acme", query: str = "acme", **settings: Any
) -> TopicSpec:
    """A topic on one-minute windows over a day, so tests need few mentions."""
    values: dict[str, Any] = {
        "window_seconds": 60,
        "baseline_days": 1,
        "min_count": 10,
        "min_share_volume": 10,
        "cooldown_seconds": 600,
    }
    values.update(settings)
    return add_topic(db, name, query, actor="tester", **values)
