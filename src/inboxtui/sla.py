"""SLA clocks: first-response and resolution deadlines per priority, with pauses.

A policy (team file `[[sla]]`, see `inboxtui.team`) gives per priority a
first-response and a resolution target, optionally counted in business hours
(days and hours in the team's time zone, `zoneinfo`; durations are then
business time: `8h` is one working day of 09:00-17:00). A role names its
policy; a conversation routed to the role gets its deadlines.

Deadlines are stored on the conversation (`first_response_due_at`,
`resolution_due_at`), so `is:breached` and `is:due:<1h` are index ranges.
They are always recomputable from: created_at + target + credit, where the
credit (`sla_paused_seconds`) is the business time the clock spent paused.
Pending and snoozed pause the clock (`sla_paused_at`); leaving them adds the
paused span to the credit and moves the deadlines. A paused conversation is
breached only if its deadline passed before the pause.

`refresh` recomputes the columns for some conversations inside the caller's
transaction; triage (status, priority, role) and routing call it after each
change, so the columns never disagree with the state they derive from.

Ingest calls it too, for the conversations a new mention reopens or wakes:
a woken conversation's snoozed time is credited as when an agent wakes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select, update

from inboxtui.models import PRIORITY_NAME, Conversation, Role, SlaPolicy, Status
from inboxtui.timeutil import parse_duration, to_utc, utcnow

PAUSED = frozenset({Status.PENDING.value, Status.SNOOZED.value})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CONV = Conversation.__table__  # type: ignore[attr-defined]
_ROLE = Role.__table__  # type: ignore[attr-defined]
_POLICY = SlaPolicy.__table__  # type: ignore[attr-defined]
_KEYS = ("b_paused", "b_credit", "b_fr", "b_res")


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Policy:
    name: str
    # priority name -> (first response, resolution); None: no target
    targets: dict[str, tuple[timedelta | None, timedelta | None]]
    timezone: str | None = None
    days: frozenset[int] = frozenset()  # ISO weekdays 1-7; empty: round the clock
    start: time = time(0)
    end: time = time(0)

    @property
    def business(self) -> bool:
        return bool(self.days)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    # -- business time

    def _windows(self, moment: datetime) -> Iterable[tuple[datetime, datetime]]:
        """Business windows (UTC) from the local day of `moment` on."""
        local_day = to_utc(moment).astimezone(self.zone).date()
        for offset in range(0, 3700):  # ten years of days: a safe bound for any target
            day = local_day + timedelta(days=offset)
            if day.isoweekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start, self.zone).astimezone(UTC)
            closes = datetime.combine(day, self.end, self.zone).astimezone(UTC)
            if closes > opens:
                yield opens, closes

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """`start` + `amount` of this policy's time (business time when it has hours)."""
        start = to_utc(start)
        if not self.business:
            return start + amount
        left = amount
        for opens, closes in self._windows(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise PolicyError(f"policy {self.name}: no business hours to count {amount} in")

    def between(self, a: datetime, b: datetime) -> timedelta:
        """This policy's time from `a` to `b` (zero when b <= a)."""
        a, b = to_utc(a), to_utc(b)
        if b <= a:
            return timedelta(0)
        if not self.business:
            return b - a
        total = timedelta(0)
        for opens, closes in self._windows(a):
            if opens >= b:
                break
            begin, finish = max(opens, a), min(closes, b)
            if finish > begin:
                total += finish - begin
        return total

    def dues(
        self, created_at: datetime, priority: str, credit: timedelta = timedelta(0)
    ) -> tuple[datetime | None, datetime | None]:
        first, resolution = self.targets.get(priority, (None, None))
        return (
            None if first is None else self.add(created_at, first + credit),
            None if resolution is None else self.add(created_at, resolution + credit),
        )


# ---------------------------------------------------------------- policies as data


def _clock(value: Any, where: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise PolicyError(f'{where}: not a time of day like "09:00": {value!r}') from None


def parse_policy(name: str, entry: dict[str, Any], where: str) -> Policy:
    """A policy from its team-file table (durations like `30m`, `4h`, `2d`)."""
    targets: dict[str, tuple[timedelta | None, timedelta | None]] = {}
    for priority in PRIORITY_NAME.values():
        spec = entry.get(priority)
        if spec is None:
            continue
        if not isinstance(spec, dict) or set(spec) - {"first_response", "resolution"}:
            raise PolicyError(
                f"{where}: field '{priority}' must be like "
                '{ first_response = "1h", resolution = "1d" }'
            )
        pair: list[timedelta | None] = []
        for key in ("first_response", "resolution"):
            try:
                pair.append(parse_duration(spec[key]) if key in spec else None)
            except (ValueError, AttributeError):
                raise PolicyError(
                    f"{where}: field '{priority}.{key}': not a duration: {spec[key]!r} "
                    "(use e.g. 30m, 4h, 2d)"
                ) from None
        targets[priority] = (pair[0], pair[1])
    zone = entry.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise PolicyError(f"{where}: field 'timezone': unknown time zone {zone!r}") from None
    hours = entry.get("business_hours")
    if hours is None:
        return Policy(name, targets, zone)
    if not isinstance(hours, dict):
        raise PolicyError(f"{where}: field 'business_hours' must be a table")
    days = hours.get("days", list(DAYS[:5]))
    if not isinstance(days, list) or any(str(d).lower()[:3] not in DAYS for d in days):
        raise PolicyError(f"{where}: field 'business_hours.days': use mon, tue, ... sun")
    start = _clock(hours.get("start", "09:00"), f"{where}: field 'business_hours.start'")
    end = _clock(hours.get("end", "17:00"), f"{where}: field 'business_hours.end'")
    if end <= start:
        raise PolicyError(f"{where}: field 'business_hours': end must be after start")
    numbers = frozenset(DAYS.index(str(d).lower()[:3]) + 1 for d in days)
    return Policy(name, targets, zone, numbers, start, end)


def to_row(policy: Policy) -> dict[str, Any]:
    """Column values for `sla_policy`."""
    targets = {
        p: {
            k: int(v.total_seconds())
            for k, v in zip(("first_response", "resolution"), pair, strict=True)
            if v is not None
        }
        for p, pair in policy.targets.items()
    }
    hours = None
    if policy.business:
        hours = json.dumps(
            {
                "days": sorted(policy.days),
                "start": policy.start.strftime("%H:%M"),
                "end": policy.end.strftime("%H:%M"),
            }
        )
    return {
        "name": policy.name,
        "timezone": policy.timezone,
        "business_hours": hours,
        "targets": json.dumps(targets, sort_keys=True),
    }


def from_row(row: Any) -> Policy:
    targets = {
        p: tuple(
            timedelta(seconds=v[k]) if k in v else None for k in ("first_response", "resolution")
        )
        for p, v in json.loads(row.targets or "{}").items()
    }
    if not row.business_hours:
        return Policy(row.name, targets, row.timezone)  # type: ignore[arg-type]
    hours = json.loads(row.business_hours)
    return Policy(
        row.name,
        targets,  # type: ignore[arg-type]
        row.timezone,
        frozenset(hours["days"]),
        _clock(hours["start"], "stored policy"),
        _clock(hours["end"], "stored policy"),
    )


def to_toml_entry(policy: Policy) -> dict[str, Any]:
    """The team-file table for `policy` (what `parse_policy` reads back)."""
    entry: dict[str, Any] = {"name": policy.name}
    if policy.timezone:
        entry["timezone"] = policy.timezone
    if policy.business:
        entry["business_hours"] = {
            "days": [DAYS[d - 1] for d in sorted(policy.days)],
            "start": policy.start.strftime("%H:%M"),
            "end": policy.end.strftime("%H:%M"),
        }
    for priority, pair in policy.targets.items():
        entry[priority] = {
            k: _duration(v)
            for k, v in zip(("first_response", "resolution"), pair, strict=True)
            if v is not None
        }
    return entry


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------- the clocks


def refresh(conn: Any, conversation_ids: Sequence[int], now: datetime | None = None) -> None:
    """Recompute SLA columns of these conversations (pause/resume by status) in the caller's
    transaction (a Connection or a Session)."""
    if not conversation_ids:
        return
    now = now or utcnow()
    c = _CONV.c
    stmt = (
        select(
            c.id,
            c.created_at,
            c.priority,
            c.status,
            c.sla_paused_at,
            c.sla_paused_seconds,
            c.first_response_due_at,
            c.resolution_due_at,
            _POLICY.c.name,
            _POLICY.c.timezone,
            _POLICY.c.business_hours,
            _POLICY.c.targets,
        )
        .select_from(
            _CONV.outerjoin(_ROLE, _ROLE.c.id == c.role_id).outerjoin(
                _POLICY, _POLICY.c.id == _ROLE.c.sla_policy_id
            )
        )
        .where(c.id.in_(list(conversation_ids)))
    )
    policies: dict[str, Policy] = {}
    rows = []
    for r in conn.execute(stmt):
        paused_at, credit = r.sla_paused_at, int(r.sla_paused_seconds or 0)
        policy = None
        if r.name is not None:
            policy = policies.get(r.name) or policies.setdefault(r.name, from_row(r))
        if r.status in PAUSED and paused_at is None:
            paused_at = now
        elif r.status not in PAUSED and paused_at is not None:
            if policy is not None:
                credit += int(policy.between(paused_at, now).total_seconds())
            paused_at = None
        first = resolution = None
        if policy is not None:
            priority = PRIORITY_NAME.get(r.priority, "normal")
            first, resolution = policy.dues(r.created_at, priority, timedelta(seconds=credit))
        new = (paused_at, credit, first, resolution)
        old = (r.sla_paused_at, r.sla_paused_seconds, r.first_response_due_at, r.resolution_due_at)
        if new != old:
            values = (paused_at, credit, first, resolution)
            rows.append({"b_id": r.id, **dict(zip(_KEYS, values, strict=True))})
    if rows:
        conn.execute(
            update(_CONV)
            .where(c.id == bindparam("b_id"))
            .values(
                sla_paused_at=bindparam("b_paused", type_=c.sla_paused_at.type),
                sla_paused_seconds=bindparam("b_credit"),
                first_response_due_at=bindparam("b_fr", type_=c.first_response_due_at.type),
                resolution_due_at=bindparam("b_res", type_=c.resolution_due_at.type),
            ),
            rows,
        )


@dataclass(frozen=True)
class Clock:
    """What the queue shows: the running deadline, and how much of its span is left."""

    due: datetime
    left: timedelta
    fraction: float  # of the whole span; <= 0: breached
    paused: bool


def clock(
    created_at: datetime,
    due: datetime | None,
    paused_at: datetime | None,
    now: datetime | None = None,
) -> Clock | None:
    """The running clock for a queue row (wall time: an approximation under business hours)."""
    if due is None:
        return None
    at = paused_at or now or utcnow()
    left = due - at
    span = (due - created_at).total_seconds()
    fraction = left.total_seconds() / span if span > 0 else 0.0
    return Clock(due, left, fraction, paused_at is not None)


__all__ = [
    "PAUSED",
    "Clock",
    "Policy",
    "PolicyError",
    "clock",
    "from_row",
    "parse_policy",
    "refresh",
    "to_row",
    "to_toml_entry",
]
