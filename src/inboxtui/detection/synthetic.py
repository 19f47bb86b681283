"""Synthetic mention streams with known ground truth, for replay tests and the benchmark.

Each generator returns a `Stream`: interchange records (the JSONL import shape,
with an explicit `sentiment` so detection is judged apart from the scorer) and
the truth: when the event starts, which trigger kinds should fire, and whether
any incident is expected at all. Same seed, same stream.

The background is the brand's normal chatter: roots that name the brand
("acme"), replies under recent roots, and unrelated posts the topic must
ignore; 10% negative, 40% positive, 50% neutral (a 20% negative share);
authors below 5,000 followers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from inboxtui.timeutil import iso

START = datetime(2026, 3, 2, tzinfo=UTC)
TOPIC_QUERY = "acme"
_NEG = [
    "acme refund never came, this is a scam",
    "acme support ignored me again",
    "worst acme laptop ever, returning it",
    "acme lawsuit incoming, never again",
]
_POS = [
    "love my new acme laptop",
    "acme support was great today",
    "acme keyboard is superb",
    "thanks acme for the quick fix",
]
_NEU = [
    "does acme ship to Canada?",
    "acme event tomorrow at 10",
    "new acme firmware is out",
    "anyone tried the acme dock?",
]
_OTHER = ["weather is nice", "lunch time", "watching the game", "new phone who dis"]
_REPLY = {"negative": "same here, terrible", "positive": "agreed, great", "neutral": "following"}
_SCORE = {"negative": -0.6, "positive": 0.6, "neutral": 0.0}


@dataclass
class Stream:
    name: str
    records: list[dict[str, Any]]
    onset: datetime | None  # when the event starts (None: nothing should open)
    expect_kinds: tuple[str, ...] = ()  # trigger kinds that should fire
    forbid_kinds: tuple[str, ...] = ()  # trigger kinds that must not fire
    crossing: datetime | None = None  # slow burn: when the true share crosses the threshold
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        return max(
            datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")) for r in self.records
        )


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.records: list[dict[str, Any]] = []
        self.roots: list[tuple[datetime, str]] = []
        self.serial = 0

    def _label(self, p_negative: float, p_positive: float) -> str:
        x = self.rng.random()
        return (
            "negative"
            if x < p_negative
            else "positive"
            if x < p_negative + p_positive
            else "neutral"
        )

    def add(
        self,
        at: datetime,
        label: str,
        *,
        text: str | None = None,
        reply_to: str | None = None,
        followers: int | None = None,
        handle: str | None = None,
        engagement: dict[str, int] | None = None,
    ) -> str:
        self.serial += 1
        external_id = f"m{self.serial}"
        if text is None:
            pool = {"negative": _NEG, "positive": _POS, "neutral": _NEU}[label]
            text = _REPLY[label] if reply_to else self.rng.choice(pool)
        record: dict[str, Any] = {
            "kind": "mastodon",
            "source": "acme-watch",
            "external_id": external_id,
            "created_at": iso(at),
            "text": text,
            "author": {
                "handle": handle or f"@user{self.rng.randrange(5000)}",
                "followers": self.rng.randrange(20, 5000) if followers is None else followers,
            },
            "sentiment": _SCORE[label],
        }
        if reply_to:
            record["in_reply_to"] = reply_to
        if engagement:
            record["engagement"] = engagement
        self.records.append(record)
        if reply_to is None and "acme" in text:
            self.roots.append((at, external_id))
        return external_id

    def background(self, start: datetime, hours: float, rate: float, mix: Any = None) -> None:
        """`rate` topic mentions an hour (Poisson), a third replies, plus unrelated posts."""
        t = start
        end = start + timedelta(hours=hours)
        while True:
            t += timedelta(hours=self.rng.expovariate(rate))
            if t >= end:
                break
            p_negative, p_positive = mix(t) if mix else (0.10, 0.40)
            label = self._label(p_negative, p_positive)
            recent = [r for at, r in self.roots[-20:] if (t - at) < timedelta(hours=12)]
            if recent and self.rng.random() < 0.33:
                self.add(t, label, reply_to=self.rng.choice(recent))
            else:
                self.add(t, label)
            if self.rng.random() < 0.3:
                self.add(t, "neutral", text=self.rng.choice(_OTHER))

    def burst(
        self,
        start: datetime,
        count: int,
        hours: float,
        p_negative: float,
        p_positive: float,
        reply_to: str | None,
    ) -> None:
        """`count` mentions front-loaded over `hours` (exponential decay), under one root."""
        for _ in range(count):
            offset = min(hours, self.rng.expovariate(3.0 / hours))
            label = self._label(p_negative, p_positive)
            self.add(start + timedelta(hours=offset), label, reply_to=reply_to)

    def stream(self, name: str, **truth: Any) -> Stream:
        self.records.sort(key=lambda r: (r["created_at"], r["external_id"]))
        return Stream(name, self.records, **truth)


def steady(days: int = 8, rate: float = 6.0, seed: int = 1) -> Stream:
    """A steady week: normal chatter only. No incident should open."""
    maker = _Maker(seed)
    maker.background(START, days * 24, rate)
    return maker.stream(
        "steady", onset=None, forbid_kinds=("volume", "negative_share", "influencer")
    )


def storm(days: int = 8, rate: float = 6.0, replies: int = 400, seed: int = 2) -> Stream:
    """Dell hell: one influential negative post, then hundreds of agreeing replies."""
    maker = _Maker(seed)
    maker.background(START, days * 24, rate)
    onset = START + timedelta(days=days - 1, hours=10)
    root = maker.add(
        onset,
        "negative",
        text="acme support lied to me for 3 weeks, refund refused. Never again. Scam.",
        followers=250_000,
        handle="@famousblogger",
        engagement={"boosts": 900, "likes": 2400, "replies": 300},
    )
    maker.burst(onset + timedelta(minutes=2), replies, 4.0, 0.85, 0.03, root)
    return maker.stream("storm", onset=onset, expect_kinds=("influencer", "negative_share"))


def viral(days: int = 8, rate: float = 6.0, posts: int = 300, seed: int = 3) -> Stream:
    """A positive viral spike: a happy post takes off. Volume alarm, no negative alarm."""
    maker = _Maker(seed)
    maker.background(START, days * 24, rate)
    onset = START + timedelta(days=days - 1, hours=15)
    root = maker.add(
        onset, "positive", text="acme fixed my laptop in one day, what a team!", followers=3000
    )
    maker.burst(onset + timedelta(minutes=2), posts, 3.0, 0.03, 0.80, root)
    return maker.stream(
        "viral",
        onset=onset,
        expect_kinds=("volume",),
        forbid_kinds=("negative_share", "influencer"),
    )


def slow_burn(
    days: int = 8,
    rate: float = 30.0,
    burn_from_day: float | None = None,
    seed: int = 4,
    threshold: float = 0.4,
) -> Stream:
    """Negative share rising over days (10% -> 45% of mentions negative, share 20% -> 90%)
    from `burn_from_day` (default: half way) to the end."""
    maker = _Maker(seed)
    burn_from_day = days / 2 if burn_from_day is None else burn_from_day
    burn_start = START + timedelta(days=burn_from_day)
    span = (days - burn_from_day) * 86400

    def mix(t: datetime) -> tuple[float, float]:
        progress = min(1.0, max(0.0, (t - burn_start).total_seconds() / span))
        p_negative = 0.10 + 0.35 * progress
        return p_negative, 0.5 - p_negative

    maker.background(START, days * 24, rate, mix)
    # share = p_negative / 0.5 crosses `threshold` where p_negative = threshold / 2
    progress = (threshold / 2 - 0.10) / 0.35
    crossing = burn_start + timedelta(seconds=progress * span)
    return maker.stream(
        "slow_burn",
        onset=burn_start,
        crossing=crossing,
        expect_kinds=("negative_share",),
        forbid_kinds=("influencer",),
    )


@dataclass
class Score:
    """How a replay did against a stream's truth (times in seconds, None: did not happen)."""

    stream: str
    incidents: int
    false_alarms: int  # incidents before the onset, or any on a stream with no event
    forbidden: list[str]  # trigger kinds that fired but must not have
    missing: list[str]  # expected trigger kinds that never fired
    delay: float | None  # first incident opened - onset
    kind_delays: dict[str, float]  # each expected kind's first firing - onset
    crossing_delay: float | None = None  # slow burn: first incident - true share crossing


def score(stream: Stream, incidents: list[Any]) -> Score:
    """Compare replayed incidents (`replay.ReplayedIncident`) with the stream's truth."""
    onset = stream.onset
    before = [i for i in incidents if onset is None or i.opened_at < onset]
    after = [i for i in incidents if onset is not None and i.opened_at >= onset]
    fired: dict[str, datetime] = {}
    for incident in after:
        for kind, at in incident.first_trigger.items():
            if kind not in fired or at < fired[kind]:
                fired[kind] = at
    first = min((i.opened_at for i in after), default=None)
    return Score(
        stream=stream.name,
        incidents=len(incidents),
        false_alarms=len(before),
        forbidden=sorted(k for k in fired if k in stream.forbid_kinds),
        missing=sorted(k for k in stream.expect_kinds if k not in fired),
        delay=None if first is None or onset is None else (first - onset).total_seconds(),
        kind_delays={
            k: (fired[k] - onset).total_seconds()
            for k in stream.expect_kinds
            if k in fired and onset is not None
        },
        crossing_delay=(
            None
            if first is None or stream.crossing is None
            else (first - stream.crossing).total_seconds()
        ),
    )


STREAMS = {"steady": steady, "storm": storm, "viral": viral, "slow_burn": slow_burn}

__all__ = [
    "START",
    "STREAMS",
    "TOPIC_QUERY",
    "Score",
    "Stream",
    "score",
    "slow_burn",
    "steady",
    "storm",
    "viral",
]
