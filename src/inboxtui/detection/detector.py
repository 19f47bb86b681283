"""Detection: per watched topic, evaluate the triggers and act on them.

Triggers (thresholds are the topic's settings, see `topics.SETTINGS`):
- volume: mentions in the current window >= `min_count`, above the baseline
  mean + `spike_k` sigma (the same-length windows over `baseline_days`, counting
  only windows the store has data for; it needs `MIN_HISTORY` of them) and at
  least `MIN_RATIO` times the mean;
- negative_share: negative / (negative + positive) at or above `negative_share`,
  with at least `min_share_volume` polar mentions, and the share's Wilson lower
  bound (`SHARE_Z` = 1.5 sigma) at or above it too: 11 negative of 26 polar
  mentions (42%) is chance at a 20% baseline, 30 of 50 (60%) is not. Judged
  over the window, and when that is not conclusive over `LONG_WINDOWS` windows
  (a slow burn has too few polar mentions an hour to be sure of). Measured on
  the synthetic streams: without the bound an hourly window on a 20%-negative
  topic alarmed on noise within the first day;
- influencer: a negative mention whose reach (`reach.py`) is at or above the
  topic's threshold for its source kind.

Acting on triggers: the topic's incident is opened or extended (`incidents`),
then the conversations involved that are not escalated yet are escalated
through the audited triage services (severity, a reason in words naming the
incident) and routed to the `pr` role (created on first need), and linked to
the incident. Conversations already escalated are left alone, so the next run
does not rewrite their reason or undo a person's re-routing. (One that a person
de-escalated is escalated again if it is still part of a trigger: the alarm is
still true.)

Reads happen in one read session per topic; writes in short transactions of
their own, never inside an ingest transaction.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from inboxtui import services
from inboxtui.db import Database
from inboxtui.detection import incidents
from inboxtui.detection.incidents import DETECTOR, Outcome, Trigger
from inboxtui.detection.reach import reach
from inboxtui.detection.topics import TopicSpec, list_topics, mark_checked
from inboxtui.detection.windows import (
    Bucket,
    WindowStats,
    busiest_conversations,
    current_bucket,
    negative_mentions,
    window_stats,
)
from inboxtui.models import Conversation, Role
from inboxtui.services.errors import ServiceError
from inboxtui.timeutil import utcnow

log = logging.getLogger(__name__)

PR_ROLE = "pr"
ESCALATE_MAX = 100  # conversations one trigger escalates per run (the busiest first)
VOLUME_CONVERSATIONS = 20
MIN_HISTORY = 24  # baseline windows of data the volume trigger needs (a day of 1 h windows)
# A spike is also at least twice the usual volume: on a busy topic k sigma alone is
# ~1.5x (Poisson noise at 30 an hour), which fired on noise in the slow-burn replay.
MIN_RATIO = 2.0


def window_words(seconds: int) -> str:
    """3600 -> 'last hour', 1800 -> 'last 30m', 7200 -> 'last 2h'."""
    if seconds == 3600:
        return "last hour"
    if seconds % 3600 == 0:
        return f"last {seconds // 3600}h"
    if seconds % 60 == 0:
        return f"last {seconds // 60}m"
    return f"last {seconds}s"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 100)}%"


def _compact(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}m"
    if n >= 10_000:
        return f"{round(n / 1000)}k"
    return str(int(n))


def volume_trigger(topic: TopicSpec, stats: WindowStats) -> Trigger | None:
    if len(stats.baseline) < min(MIN_HISTORY, stats.baseline_windows):
        return None  # a new store or topic: no baseline to compare with yet
    count, mean, sigma = stats.current.count, stats.mean, stats.sigma
    threshold = max(mean + topic.spike_k * sigma, MIN_RATIO * mean)
    if count < topic.min_count or count <= threshold:
        return None
    ratio = count / mean if mean else None
    times = f" ({ratio:.1f}x)" if ratio else ""
    reason = (
        f"volume spike: {count} mentions in {window_words(topic.window_seconds)}{times} vs "
        f"baseline {mean:.1f} ± {sigma:.1f} over {len(stats.baseline)} windows"
    )
    severity = 2 if ratio is None or ratio >= 10 else 1
    metrics = {"count": count, "mean": round(mean, 2), "sigma": round(sigma, 2)}
    return Trigger("volume", severity, reason, metrics)


SHARE_Z = 1.5  # sigmas of doubt a window's negative share must clear (see share_trigger)
LONG_WINDOWS = 6  # the negative share is also judged over 6 windows (6 h for 1 h windows)


def wilson_lower(successes: int, n: int, z: float = SHARE_Z) -> float:
    """The Wilson score interval's lower bound for a proportion (0 for n = 0)."""
    if n <= 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


def share_trigger(
    topic: TopicSpec, window: Bucket, baseline: float | None, seconds: int
) -> Trigger | None:
    """The negative-share alarm for one window's counts (see the module doc)."""
    share = window.share
    if window.polar < topic.min_share_volume or share is None:
        return None
    low = wilson_lower(window.negative, window.polar)
    if share < topic.negative_share or low < topic.negative_share:
        return None
    reason = (
        f"negative share {_percent(share)} in {window_words(seconds)} vs "
        f"{_percent(baseline)} baseline ({window.negative} negative, {window.positive} positive)"
    )
    severity = 3 if share >= 0.75 else 2
    metrics = {
        "share": round(share, 4),
        "lower_bound": round(low, 4),
        "baseline_share": None if baseline is None else round(baseline, 4),
        "negative": window.negative,
        "positive": window.positive,
        "window_seconds": seconds,
    }
    return Trigger("negative_share", severity, reason, metrics)


def influencer_triggers(topic: TopicSpec, session: Session, now: datetime) -> Trigger | None:
    """One trigger for every negative mention in the window above its kind's reach threshold."""
    hits = []
    for candidate in negative_mentions(session, topic, now):
        total, followers, engaged = reach(candidate.followers, candidate.raw)
        threshold = topic.reach_threshold(candidate.kind)
        if total >= threshold:
            hits.append((total, followers, engaged, threshold, candidate))
    if not hits:
        return None
    hits.sort(key=lambda h: (-h[0], h[4].mention_id))
    total, followers, engaged, threshold, top = hits[0]
    more = f" and {len(hits) - 1} more" if len(hits) > 1 else ""
    reason = (
        f"influencer alarm: negative {top.kind} post by {top.handle} "
        f"(reach {_compact(total)}: {_compact(followers)} followers + {_compact(engaged)} "
        f"engagement, threshold {_compact(threshold)}){more}"
    )
    severity = 3 if total >= 10 * threshold else 2
    metrics = {
        "mention_id": top.mention_id,
        "author": top.handle,
        "reach": total,
        "threshold": threshold,
        "mentions": len(hits),
    }
    ids = tuple(dict.fromkeys(h[4].conversation_id for h in hits))
    return Trigger("influencer", severity, reason, metrics, ids[:ESCALATE_MAX])


@dataclass
class TopicResult:
    """What detection found and did for one topic in one run."""

    topic: str
    triggers: list[Trigger] = field(default_factory=list)
    outcome: Outcome | None = None
    escalated: int = 0
    stats: WindowStats | None = None


def evaluate(db: Database, topic: TopicSpec, now: datetime) -> tuple[WindowStats, list[Trigger]]:
    """The triggers that fire for `topic` at `now`, with the conversations each involves."""
    with db.read() as session:
        stats = window_stats(session, topic, now)
        found: list[Trigger] = []
        volume = volume_trigger(topic, stats)
        if volume is not None:
            ids = busiest_conversations(
                session, topic, now, negative_only=False, limit=VOLUME_CONVERSATIONS
            )
            found.append(replace(volume, conversation_ids=tuple(ids)))
        seconds = topic.window_seconds
        share = share_trigger(topic, stats.current, stats.baseline_share, seconds)
        if share is None:  # a slow burn: too few polar mentions an hour to be sure of it
            seconds = topic.window_seconds * LONG_WINDOWS
            longer = current_bucket(session, topic, now, seconds=seconds)
            share = share_trigger(topic, longer, stats.baseline_share, seconds)
        if share is not None:
            ids = busiest_conversations(
                session, topic, now, negative_only=True, limit=ESCALATE_MAX, seconds=seconds
            )
            found.append(replace(share, conversation_ids=tuple(ids)))
        influencer = influencer_triggers(topic, session, now)
        if influencer is not None:  # first: the cause, and the incident's title on a tie
            found.insert(0, influencer)
    return stats, found


def ensure_pr_role(db: Database) -> None:
    with db.read() as session:
        if session.execute(select(Role.id).where(Role.name == PR_ROLE)).first():
            return
    with contextlib.suppress(ServiceError):  # created by another process meanwhile
        services.create_role(db, PR_ROLE, "PR and crisis response", actor=DETECTOR)


def escalate_involved(
    db: Database, topic: TopicSpec, outcome: Outcome, triggers: list[Trigger], now: datetime
) -> int:
    """Escalate (and route to PR) the not-yet-escalated conversations of each trigger."""
    wanted: dict[int, Trigger] = {}
    for trigger in sorted(triggers, key=lambda t: -t.severity):
        for conversation_id in trigger.conversation_ids:
            wanted.setdefault(conversation_id, trigger)
    if not wanted:
        return 0
    with db.read() as session:
        fresh = set(
            session.execute(
                select(Conversation.id).where(
                    Conversation.id.in_(list(wanted)), Conversation.escalated.is_(False)
                )
            ).scalars()
        )
    escalated = 0
    if fresh:
        ensure_pr_role(db)
    by_trigger: dict[str, list[int]] = {}
    for conversation_id in sorted(fresh):
        by_trigger.setdefault(wanted[conversation_id].kind, []).append(conversation_id)
    for trigger in triggers:
        ids = by_trigger.get(trigger.kind)
        if not ids:
            continue
        reason = f"{trigger.reason} (topic {topic.name}, incident #{outcome.incident_id})"
        result = services.bulk_ids(
            db, ids, "escalate", actor=DETECTOR, severity=trigger.severity, reason=reason
        )
        escalated += result.changed
        services.bulk_ids(db, ids, "assign", actor=DETECTOR, role=PR_ROLE)
    incidents.link_conversations(db, outcome.incident_id, list(wanted), now)
    return escalated


def detect_topic(db: Database, topic: TopicSpec, now: datetime) -> TopicResult:
    stats, triggers = evaluate(db, topic, now)
    result = TopicResult(topic.name, triggers, stats=stats)
    if not triggers:
        return result
    result.outcome = incidents.record_triggers(
        db,
        topic.id,
        topic.name,
        topic.cooldown_seconds,
        triggers,
        now,
        quiet_seconds=topic.window_seconds,
    )
    result.escalated = escalate_involved(db, topic, result.outcome, triggers, now)
    return result


def detect(
    db: Database, *, now: datetime | None = None, topics: list[TopicSpec] | None = None
) -> list[TopicResult]:
    """Run detection once for every enabled topic (or the given ones) at `now`."""
    now = now or utcnow()
    specs = topics if topics is not None else list_topics(db, enabled_only=True)
    results = [detect_topic(db, topic, now) for topic in specs if topic.enabled]
    if topics is None:
        mark_checked(db, [t.id for t in specs], now)
    return results


__all__ = [
    "PR_ROLE",
    "TopicResult",
    "detect",
    "detect_topic",
    "evaluate",
    "influencer_triggers",
    "share_trigger",
    "volume_trigger",
    "window_words",
]
