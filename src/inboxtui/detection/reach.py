"""Reach: how many people a mention can reach, for the influencer alarm.

reach = the author's followers (0 when unknown) + the mention's engagement.
Engagement is what the API reported when it was fetched: the adapters put
`{"replies", "likes", "boosts", "points"}` under `engagement` in the record
(kept byte-exact in `Mention.raw`); an imported record may carry the same
object or a plain number. Engagement counts people who already reacted, so a
low-follower post that went viral still alarms; it is a snapshot at fetch time,
so a post's reach is not refreshed as it spreads (its replies are, as mentions).
Thresholds are per source kind (`Topic.influencer_reach`): 10k followers on
Mastodon and 10k points on Hacker News are different audiences.
"""

from __future__ import annotations

from typing import Any

import orjson

ENGAGEMENT_KEYS = ("replies", "likes", "boosts", "reposts", "points", "quotes")


def engagement(raw: str | None) -> int:
    """The engagement recorded in a mention's raw record (0 when absent or unreadable)."""
    if not raw or "engagement" not in raw:
        return 0
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return 0
    if not isinstance(record, dict):
        return 0
    return _count(record.get("engagement"))


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)) and value > 0:
        return int(value)
    if isinstance(value, dict):
        return sum(_count(value.get(key)) for key in ENGAGEMENT_KEYS)
    return 0


def reach(followers: int | None, raw: str | None) -> tuple[int, int, int]:
    """(reach, followers, engagement)."""
    known = max(0, followers or 0)
    engaged = engagement(raw)
    return known + engaged, known, engaged


__all__ = ["ENGAGEMENT_KEYS", "engagement", "reach"]
