"""SLA policies and clocks: business hours in a time zone, pauses, filters, queue rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from inboxtui import routing, services, team
from inboxtui.db import Database
from inboxtui.ingest import ingest, parse_record
from inboxtui.query import count, fetch_rows, matching_ids, parse
from inboxtui.sla import Policy, parse_policy
from inboxtui.timeutil import iso, utcnow
from inboxtui.widgets.queue_list import sla_left
from inboxtui.widgets.sidebar import builtin_views

TEAM = """
lead_role = "lead"

[[sla]]
name = "standard"
urgent = { first_response = "30m", resolution = "4h" }
normal = { first_response = "1h", resolution = "1d" }

[[sla]]
name = "office"
timezone = "Asia/Shanghai"
business_hours = { days = ["mon", "tue", "wed", "thu", "fri"], start = "09:00", end = "17:00" }
normal = { first_response = "2h", resolution = "8h" }

[[role]]
name = "support"
sla = "standard"

[[role]]
name = "lead"

[[agent]]
handle = "lena"
roles = ["lead"]
"""
TO_SUPPORT = "[[rule]]\nname = 's'\nwhen = 'kind:rss'\nthen = { role = 'support' }\n"
SHANGHAI = parse_policy(
    "office",
    {
        "timezone": "Asia/Shanghai",
        "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"]},
        "normal": {"first_response": "2h", "resolution": "8h"},
    },
    "t",
)


def _at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).astimezone(UTC)


def test_business_hours_skip_nights_and_weekends_in_the_team_zone() -> None:
    # Friday 16:00 in Shanghai (08:00 UTC): one business hour left that day
    friday = _at("2026-11-20T16:00:00+08:00")
    assert SHANGHAI.add(friday, timedelta(hours=2)) == _at("2026-11-23T10:00:00+08:00")
    assert SHANGHAI.dues(friday, "normal") == (
        _at("2026-11-23T10:00:00+08:00"),
        _at("2026-11-23T16:00:00+08:00"),
    )
    # a Saturday start counts from Monday 09:00
    assert SHANGHAI.add(_at("2026-11-21T12:00:00+08:00"), timedelta(minutes=30)) == _at(
        "2026-11-23T09:30:00+08:00"
    )
    assert SHANGHAI.between(friday, _at("2026-11-23T10:00:00+08:00")) == timedelta(hours=2)
    plain = Policy("p", {"normal": (timedelta(hours=1), None)})
    assert plain.dues(friday, "normal") == (friday + timedelta(hours=1), None)
    assert plain.dues(friday, "low") == (None, None)


def test_business_hours_across_a_dst_change() -> None:
    berlin = parse_policy(
        "b",
        {"timezone": "Europe/Berlin", "business_hours": {"start": "09:00", "end": "17:00"}},
        "t",
    )
    # Friday 2026-10-23 16:00 CEST (UTC+2); clocks go back on Sunday; Monday is CET (UTC+1)
    start = _at("2026-10-23T16:00:00+02:00")
    assert berlin.add(start, timedelta(hours=3)) == _at("2026-10-26T11:00:00+01:00")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[sla]]\nname = "x"\nurgent = { first_response = "soon" }\n',
            r"\[\[sla\]\] #3 \(x\): field 'urgent.first_response': not a duration: 'soon'",
        ),
        ('[[sla]]\nname = "x"\ntimezone = "Mars/Base"\n', r"field 'timezone': unknown time zone"),
        (
            '[[sla]]\nname = "x"\nbusiness_hours = { start = "18:00", end = "09:00" }\n',
            r"field 'business_hours': end must be after start",
        ),
        ('[[sla]]\nname = "x"\nasap = {}\n', r"\[\[sla\]\] #3: unknown field 'asap'"),
        ('[[role]]\nname = "pr"\nsla = "gold"\n', r"\(pr\): field 'sla': no \[\[sla\]\] named"),
    ],
)
def test_bad_policies_name_entry_and_field(extra: str, message: str) -> None:
    with pytest.raises(team.TeamError, match=message):
        team.parse_team(TEAM + extra, "team.toml")


def test_policies_export_and_import_back(db: Database) -> None:
    team.import_team(db, team.parse_team(TEAM), actor="lena")
    exported = team.export_team(db)
    config = team.parse_team(exported, "exported.toml")
    assert {p.name for p in config.policies} == {"standard", "office"}
    assert next(r for r in config.roles if r.name == "support").sla == "standard"
    assert team.import_team(db, config, actor="lena").updated == []


# ---------------------------------------------------------------- clocks in the database


def _conversation(db: Database, created: datetime, priority: str = "normal") -> int:
    record: dict[str, Any] = {
        "kind": "rss",
        "source": "blog",
        "external_id": f"e{created.timestamp()}-{priority}",
        "created_at": iso(created),
        "text": "hello",
        "author": {"handle": "u"},
    }
    (cid,) = ingest(db, [parse_record(record)]).conversation_ids
    if priority != "normal":
        services.set_priority(db, cid, priority, actor="lena")
    return cid


def _clock(db: Database, cid: int) -> tuple[Any, ...]:
    with db.read() as session:
        row = session.execute(
            text(
                "SELECT first_response_due_at, resolution_due_at, sla_paused_at,"
                " sla_paused_seconds FROM conversation WHERE id = :id"
            ),
            {"id": cid},
        ).one()
    return tuple(row)


def _same(a: Any, b: datetime) -> bool:
    value = a if isinstance(a, datetime) else datetime.fromisoformat(str(a))
    return abs(value.replace(tzinfo=value.tzinfo or UTC) - b) < timedelta(seconds=1)


@pytest.fixture
def sladb(db: Database) -> Database:
    team.import_team(db, team.parse_team(TEAM), actor="lena")
    routing.save_rules(db, routing.parse_rules(TO_SUPPORT), actor="lena")
    return db


def test_routing_sets_deadlines_and_priority_moves_them(sladb: Database) -> None:
    created = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    cid = _conversation(sladb, created)
    first, resolution, paused, credit = _clock(sladb, cid)
    assert _same(first, created + timedelta(hours=1))
    assert _same(resolution, created + timedelta(days=1))
    assert (paused, credit) == (None, 0)
    services.set_priority(sladb, cid, "urgent", actor="lena")
    first, resolution, _, _ = _clock(sladb, cid)
    assert _same(first, created + timedelta(minutes=30))
    assert _same(resolution, created + timedelta(hours=4))
    services.set_priority(sladb, cid, "low", actor="lena")  # no target for low
    assert _clock(sladb, cid)[:2] == (None, None)


def test_pending_pauses_and_resuming_credits_the_paused_time(sladb: Database) -> None:
    created = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    cid = _conversation(sladb, created)
    services.set_status(sladb, cid, "pending", actor="lena")
    paused_at = _clock(sladb, cid)[2]
    assert paused_at is not None
    # the pause began two hours ago (as if the customer took that long to answer)
    two_hours_ago = utcnow() - timedelta(hours=2)
    with sladb.write() as session:
        session.execute(
            text("UPDATE conversation SET sla_paused_at = :at WHERE id = :id"),
            {
                "at": two_hours_ago if sladb.dialect == "postgresql" else iso(two_hours_ago),
                "id": cid,
            },
        )
    services.reopen(sladb, cid, actor="lena")
    first, resolution, paused, credit = _clock(sladb, cid)
    assert paused is None
    assert 7195 <= credit <= 7300
    assert _same(first, created + timedelta(hours=1, seconds=credit))
    assert _same(resolution, created + timedelta(days=1, seconds=credit))
    # snoozed pauses too
    services.snooze(sladb, cid, "1h", actor="lena")
    assert _clock(sladb, cid)[2] is not None


def test_a_new_mention_that_wakes_a_snoozed_conversation_restarts_its_clock(
    sladb: Database,
) -> None:
    """Ingest's wake credits the snoozed time as triage's does, in the same transaction."""
    created = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    cid = _conversation(sladb, created)
    services.snooze(sladb, cid, "1d", actor="lena")
    two_hours_ago = utcnow() - timedelta(hours=2)
    with sladb.write() as session:
        session.execute(
            text("UPDATE conversation SET sla_paused_at = :at WHERE id = :id"),
            {
                "at": two_hours_ago if sladb.dialect == "postgresql" else iso(two_hours_ago),
                "id": cid,
            },
        )
    reply: dict[str, Any] = {
        "kind": "rss",
        "source": "blog",
        "external_id": "wake-up",
        "created_at": iso(utcnow()),
        "text": "any news?",
        "author": {"handle": "u"},
        "in_reply_to": f"e{created.timestamp()}-normal",
    }
    assert ingest(sladb, [parse_record(reply)]).reopened == 1
    first, resolution, paused, credit = _clock(sladb, cid)
    assert paused is None
    assert 7195 <= credit <= 7300
    assert _same(first, created + timedelta(hours=1, seconds=credit))
    assert _same(resolution, created + timedelta(days=1, seconds=credit))


def test_breached_and_due_filters(sladb: Database) -> None:
    now = utcnow().replace(microsecond=0)
    late = _conversation(sladb, now - timedelta(hours=3))  # first response due 2 h ago
    soon = _conversation(sladb, now - timedelta(minutes=30))  # due in 30 min
    fresh = _conversation(sladb, now - timedelta(minutes=1), "low")  # no target
    paused_late = _conversation(sladb, now - timedelta(hours=5))
    paused_in_time = _conversation(sladb, now - timedelta(minutes=20))
    services.set_status(sladb, paused_late, "pending", actor="lena")  # breached before pausing
    services.set_status(sladb, paused_in_time, "pending", actor="lena")
    resolved = _conversation(sladb, now - timedelta(hours=6))
    services.resolve(sladb, resolved, actor="lena")

    with sladb.read() as session:
        assert set(matching_ids(session, "is:breached")) == {late, paused_late}
        assert set(matching_ids(session, "is:due:<1h")) == {soon}
        assert set(matching_ids(session, "is:due:<=2h")) == {soon}
        assert set(matching_ids(session, "-is:breached")) == {soon, fresh, paused_in_time, resolved}
        assert count(session, "is:breached OR is:due:<1h") == 3
        rows = {r.id: r for r in fetch_rows(session, [late, soon, fresh, paused_in_time])}
    assert sla_left(rows[late], now) == ("-2h", "late")
    assert sla_left(rows[soon], now)[1] == "quiet"  # half the hour left
    assert sla_left(rows[fresh], now) is None
    assert sla_left(rows[paused_in_time], now)[0].startswith("‖")
    near = replace(rows[soon], sla_due_at=now + timedelta(minutes=5))
    assert sla_left(near, now) == ("5m", "warn")


def test_bad_due_value_is_a_caret_error() -> None:
    with pytest.raises(ValueError, match=r"bad duration in 'due:<soon'"):
        parse("is:due:<soon")


def test_breaching_view_only_with_an_sla() -> None:
    assert "breaching" not in {v.id for v in builtin_views(["support"])}
    views = [v.id for v in builtin_views(["support"], sla=True)]
    assert views.index("breaching") == views.index("escalated") + 1
