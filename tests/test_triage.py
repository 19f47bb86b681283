"""Triage services on both backends: each change is one row update plus one audit event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from inboxtui import services
from inboxtui.db import Database
from inboxtui.models import (
    AgentRole,
    Conversation,
    ConversationTag,
    Event,
    Note,
    Source,
    Tag,
)
from inboxtui.services import (
    STATE_FIELDS,
    ConflictError,
    NotFound,
    ServiceError,
    triage,
)
from inboxtui.timeutil import iso, utcnow


def new_conversation(db: Database, root_key: str = "root-1") -> int:
    with db.write() as session:
        source = session.execute(select(Source).where(Source.name == "feed")).scalar_one_or_none()
        if source is None:
            source = Source(kind="rss", name="feed", created_at=utcnow())
            session.add(source)
            session.flush()
        now = utcnow()
        conversation = Conversation(
            source_id=source.id,
            root_key=root_key,
            kind="rss",
            created_at=now,
            last_activity_at=now,
            updated_at=now,
        )
        session.add(conversation)
        session.flush()
        assert conversation.id is not None
        return conversation.id


@pytest.fixture
def conv(db: Database) -> int:
    """One `new` conversation, roles community/pr/support, agents alice and bob."""
    for role in ("support", "pr", "community"):
        services.create_role(db, role, actor="admin")
    services.create_agent(db, "alice", "Alice", roles=["support"], actor="admin")
    services.create_agent(db, "bob", roles=["pr"], actor="admin")
    return new_conversation(db)


def state(db: Database, conversation_id: int) -> dict[str, Any]:
    with db.read() as session:
        return services.conversation_state(session, conversation_id)


def version(db: Database, conversation_id: int) -> int:
    with db.read() as session:
        return session.get(Conversation, conversation_id).version


def history(db: Database, conversation_id: int) -> list[services.EventRow]:
    with db.read() as session:
        return services.history(session, conversation_id)


def only_new_event(db: Database, conversation_id: int, before_count: int) -> services.EventRow:
    events = history(db, conversation_id)
    assert len(events) == before_count + 1
    return events[-1]


def assert_nothing_written(db: Database, conversation_id: int, change: services.Change) -> None:
    assert not change.changed
    assert change.version == version(db, conversation_id)


# ------------------------------------------------------------------ assign


def test_assign_role_opens_a_new_conversation_and_audits(db: Database, conv: int) -> None:
    change = services.assign(db, conv, actor="alice", role="support")
    assert change == services.Change(conv, 2, True, f"#{conv} assigned to support")
    assert state(db, conv)["role"] == "support"
    assert state(db, conv)["status"] == "open"
    [event] = history(db, conv)
    assert (event.actor, event.action, event.version) == ("alice", "assign", 2)
    assert event.before == {"role": None, "status": "new"}
    assert event.after == {"role": "support", "status": "open"}


def test_assign_agent_keeps_role(db: Database, conv: int) -> None:
    services.assign(db, conv, actor="alice", role="support")
    change = services.assign(db, conv, actor="alice", agent="bob", expected_version=2)
    assert change.summary == f"#{conv} assigned to support / bob"
    assert (state(db, conv)["role"], state(db, conv)["agent"]) == ("support", "bob")
    event = history(db, conv)[-1]
    assert (event.before, event.after, event.version) == ({"agent": None}, {"agent": "bob"}, 3)


def test_assign_to_current_assignee_writes_nothing(db: Database, conv: int) -> None:
    services.assign(db, conv, actor="alice", role="support", agent="alice")
    change = services.assign(db, conv, actor="bob", role="Support ", agent="alice")
    assert_nothing_written(db, conv, change)
    assert "already assigned to support / alice" in change.summary
    assert len(history(db, conv)) == 1


def test_assign_unknown_role_or_agent_names_the_known_ones(db: Database, conv: int) -> None:
    with pytest.raises(NotFound, match=r"no role 'legal' \(roles: community, pr, support\)"):
        services.assign(db, conv, actor="alice", role="legal")
    with pytest.raises(NotFound, match=r"no agent 'zed' \(agents: admin, alice, bob\)"):
        services.assign(db, conv, actor="alice", agent="zed")
    with pytest.raises(ServiceError, match="needs a role or an agent"):
        services.assign(db, conv, actor="alice")
    assert version(db, conv) == 1
    assert history(db, conv) == []


def test_assign_to_yourself_on_a_fresh_database(db: Database) -> None:
    conversation_id = new_conversation(db)
    change = services.assign(db, conversation_id, actor="carol", agent="carol")
    assert change.changed
    with db.read() as session:
        assert services.agent_id_for(session, "carol") is not None
    assert state(db, conversation_id)["agent"] == "carol"


def test_unknown_conversation(db: Database, conv: int) -> None:
    with pytest.raises(NotFound, match="no conversation #9999"):
        services.set_priority(db, 9999, "high", actor="alice")


def test_empty_actor_is_refused(db: Database, conv: int) -> None:
    with pytest.raises(ServiceError, match="no acting agent"):
        services.set_priority(db, conv, "high", actor="  ")


# ------------------------------------------------------------------ unassign


def test_unassign_clears_agent_and_optionally_role(db: Database, conv: int) -> None:
    services.assign(db, conv, actor="alice", role="support", agent="alice")
    change = services.unassign(db, conv, actor="alice")
    assert change.changed and "still with support" in change.summary
    assert (state(db, conv)["role"], state(db, conv)["agent"]) == ("support", None)
    assert history(db, conv)[-1].after == {"agent": None}

    assert_nothing_written(db, conv, services.unassign(db, conv, actor="alice"))
    change = services.unassign(db, conv, actor="alice", role=True)
    assert change.changed
    event = history(db, conv)[-1]
    assert (event.before, event.after) == ({"role": "support"}, {"role": None})
    assert_nothing_written(db, conv, services.unassign(db, conv, actor="alice", role=True))
    assert len(history(db, conv)) == 3


# ------------------------------------------------------------------ status


def test_resolve_and_reopen(db: Database, conv: int) -> None:
    change = services.resolve(db, conv, actor="alice")
    assert change.summary == f"#{conv} resolved"
    resolved = state(db, conv)
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    event = history(db, conv)[-1]
    assert event.action == "resolve"
    assert event.after == {"status": "resolved", "resolved_at": resolved["resolved_at"]}
    assert_nothing_written(db, conv, services.resolve(db, conv, actor="alice"))

    change = services.reopen(db, conv, actor="bob", expected_version=2)
    assert change.summary == f"#{conv} reopened"
    assert state(db, conv)["status"] == "open" and state(db, conv)["resolved_at"] is None
    event = history(db, conv)[-1]
    assert (event.action, event.version) == ("reopen", 3)
    assert event.before == {"status": "resolved", "resolved_at": resolved["resolved_at"]}


def test_snooze_needs_a_future_time(db: Database, conv: int) -> None:
    for until in (None, utcnow() - timedelta(minutes=1)):
        with pytest.raises(ServiceError, match="snooze needs a time in the future"):
            services.set_status(db, conv, "snoozed", actor="alice", until=until)
    with pytest.raises(ServiceError, match="not a time"):
        services.snooze(db, conv, "tomorrowish", actor="alice")
    with pytest.raises(ServiceError, match="only snoozing takes a time"):
        services.set_status(db, conv, "open", actor="alice", until=utcnow() + timedelta(hours=1))
    with pytest.raises(ServiceError, match=r"no status 'done' \(statuses: new, open, pending"):
        services.set_status(db, conv, "done", actor="alice")
    assert version(db, conv) == 1 and history(db, conv) == []


def test_snooze_then_leave_snoozed_clears_the_time(db: Database, conv: int) -> None:
    until = utcnow() + timedelta(hours=3)
    change = services.snooze(db, conv, until, actor="alice")
    assert change.summary == f"#{conv} snoozed until {iso(until)}"
    assert state(db, conv)["snooze_until"] == iso(until)
    assert history(db, conv)[-1].after == {"status": "snoozed", "snooze_until": iso(until)}
    assert_nothing_written(db, conv, services.snooze(db, conv, until, actor="alice"))

    later = services.snooze(db, conv, "2d", actor="alice")  # a new time is a change
    assert later.changed and list(history(db, conv)[-1].after) == ["snooze_until"]

    services.set_status(db, conv, "pending", actor="alice")
    assert state(db, conv)["snooze_until"] is None
    event = history(db, conv)[-1]
    assert (event.action, event.after) == ("status", {"status": "pending", "snooze_until": None})


# ------------------------------------------------------------------ priority, escalation


def test_set_priority(db: Database, conv: int) -> None:
    change = services.set_priority(db, conv, "HIGH", actor="alice")
    assert change.summary == f"#{conv} priority high"
    assert state(db, conv)["priority"] == "high"
    with db.read() as session:
        assert session.get(Conversation, conv).priority == 2
    event = history(db, conv)[-1]
    assert (event.before, event.after) == ({"priority": "normal"}, {"priority": "high"})
    assert_nothing_written(db, conv, services.set_priority(db, conv, "high", actor="alice"))
    with pytest.raises(ServiceError, match=r"no priority 'asap' \(priorities: low, normal"):
        services.set_priority(db, conv, "asap", actor="alice")


@pytest.mark.parametrize("severity", [0, 4, -1, "x", None, True, 2.5])
def test_escalate_rejects_bad_severity(db: Database, conv: int, severity: Any) -> None:
    with pytest.raises(ServiceError, match="severity must be 1, 2 or 3"):
        services.escalate(db, conv, severity=severity, reason="boycott", actor="alice")
    assert history(db, conv) == []


def test_escalate_needs_a_reason(db: Database, conv: int) -> None:
    for reason in ("", "   ", "\x1b[0m"):
        with pytest.raises(ServiceError, match="an escalation needs a reason"):
            services.escalate(db, conv, severity=2, reason=reason, actor="alice")


def test_escalate_reescalate_deescalate(db: Database, conv: int) -> None:
    change = services.escalate(db, conv, severity=2, reason="viral complaint", actor="alice")
    assert change.summary == f"#{conv} escalated (severity 2): viral complaint"
    event = history(db, conv)[-1]
    assert event.before == {"escalated": False, "severity": None, "escalation_reason": None}
    assert event.after == {"escalated": True, "severity": 2, "escalation_reason": "viral complaint"}
    same = services.escalate(db, conv, severity=2, reason="viral complaint", actor="bob")
    assert_nothing_written(db, conv, same)

    services.escalate(db, conv, severity=3, reason="viral complaint", actor="bob")
    event = history(db, conv)[-1]
    assert (event.before, event.after) == ({"severity": 2}, {"severity": 3})

    change = services.deescalate(db, conv, actor="alice", reason="calmed down")
    assert change.summary == f"#{conv} de-escalated"
    event = history(db, conv)[-1]
    assert event.detail == "calmed down"
    assert event.after == {"escalated": False, "severity": None, "escalation_reason": None}
    assert state(db, conv)["escalated"] is False
    assert_nothing_written(db, conv, services.deescalate(db, conv, actor="alice"))
    assert len(history(db, conv)) == 3


# ------------------------------------------------------------------ tags


def test_tag_and_untag_record_lists(db: Database, conv: int) -> None:
    assert services.tag(db, conv, " Refund ", actor="alice").summary == f"#{conv} tagged refund"
    services.tag(db, conv, "angry", actor="alice")
    assert state(db, conv)["tags"] == ["angry", "refund"]
    event = history(db, conv)[-1]
    assert (event.before, event.after) == ({"tags": ["refund"]}, {"tags": ["angry", "refund"]})
    assert_nothing_written(db, conv, services.tag(db, conv, "REFUND", actor="bob"))

    services.untag(db, conv, "refund", actor="bob")
    assert state(db, conv)["tags"] == ["angry"]
    event = history(db, conv)[-1]
    assert (event.action, event.after) == ("untag", {"tags": ["angry"]})
    assert_nothing_written(db, conv, services.untag(db, conv, "refund", actor="bob"))
    assert_nothing_written(db, conv, services.untag(db, conv, "never-seen", actor="bob"))
    assert len(history(db, conv)) == 3


def test_tag_rows_are_shared(db: Database, conv: int) -> None:
    other = new_conversation(db, "root-2")
    services.tag(db, conv, "vip", actor="alice")
    services.tag(db, other, "VIP", actor="alice")
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Tag)).scalar_one() == 1
        links = session.execute(select(func.count()).select_from(ConversationTag)).scalar_one()
        assert links == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [("two words", "tag names cannot contain spaces"), ("  ", "a tag needs a name")],
)
def test_bad_tag_names(db: Database, conv: int, name: str, message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        services.tag(db, conv, name, actor="alice")
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Tag)).scalar_one() == 0


# ------------------------------------------------------------------ notes


def test_note_is_sanitised_and_bumps_version(db: Database, conv: int) -> None:
    change = services.add_note(
        db, conv, "\x1b[31mcall\x1b[0m them\u202e back\x07\nlater", actor="alice"
    )
    assert change.changed and change.version == 2
    with db.read() as session:
        [note] = session.execute(select(Note)).scalars().all()
        assert note.body == "call them back\nlater"
        assert note.agent_id == services.agent_id_for(session, "alice")
    event = history(db, conv)[-1]
    assert (event.action, event.before, event.after) == ("note", {}, {"note_id": note.id})
    assert event.detail == "call them back later"
    with pytest.raises(ServiceError, match="a note needs some text"):
        services.add_note(db, conv, "\x1b[2J \u200b", actor="alice")


# ------------------------------------------------------------------ every operation, generically

OPERATIONS = [
    ("assign", lambda db, c, **kw: services.assign(db, c, role="pr", agent="bob", **kw)),
    ("unassign", lambda db, c, **kw: services.unassign(db, c, role=True, **kw)),
    ("pending", lambda db, c, **kw: services.set_status(db, c, "pending", **kw)),
    ("snooze", lambda db, c, **kw: services.snooze(db, c, "1w", **kw)),
    ("resolve", lambda db, c, **kw: services.resolve(db, c, **kw)),
    ("reopen", lambda db, c, **kw: services.reopen(db, c, **kw)),
    ("priority", lambda db, c, **kw: services.set_priority(db, c, "urgent", **kw)),
    ("escalate", lambda db, c, **kw: services.escalate(db, c, severity=1, reason="r", **kw)),
    ("deescalate", lambda db, c, **kw: services.deescalate(db, c, reason="ok", **kw)),
    ("tag", lambda db, c, **kw: services.tag(db, c, "t1", **kw)),
    ("untag", lambda db, c, **kw: services.untag(db, c, "t1", **kw)),
    ("note", lambda db, c, **kw: services.add_note(db, c, "hello", **kw)),
]


def test_each_operation_writes_one_event_that_replays(db: Database, conv: int) -> None:
    """Run every operation in turn: one event each, whose after-values give the new state."""
    for label, operation in OPERATIONS:
        before_state = state(db, conv)
        before_version = version(db, conv)
        count = len(history(db, conv))
        change = operation(db, conv, actor="alice", expected_version=before_version)
        assert change.changed, label
        assert change.version == before_version + 1 == version(db, conv), label
        event = only_new_event(db, conv, count)
        assert (event.actor, event.version) == ("alice", change.version), label
        assert {k: before_state[k] for k in event.before if k in STATE_FIELDS} == {
            k: v for k, v in event.before.items() if k in STATE_FIELDS
        }, label
        replayed = before_state | {k: v for k, v in event.after.items() if k in STATE_FIELDS}
        assert replayed == state(db, conv), label


# ------------------------------------------------------------------ conflicts


def test_stale_version_is_a_conflict_naming_who_and_what(db: Database, conv: int) -> None:
    services.assign(db, conv, actor="alice", role="support", expected_version=1)
    with pytest.raises(ConflictError) as caught:
        services.assign(db, conv, actor="bob", role="pr", expected_version=1)
    error = caught.value
    assert str(error) == (
        f"conversation #{conv} changed by alice since you loaded it: "
        "assign role none -> support, status new -> open (v2); reload"
    )
    assert (error.conversation_id, error.changed_by, error.current_version) == (conv, ["alice"], 2)
    assert state(db, conv)["role"] == "support"
    assert version(db, conv) == 2
    assert len(history(db, conv)) == 1


def test_conflict_lists_several_actors(db: Database, conv: int) -> None:
    services.set_priority(db, conv, "high", actor="alice")
    services.tag(db, conv, "x", actor="bob")
    with pytest.raises(ConflictError) as caught:
        services.add_note(db, conv, "hi", actor="carol", expected_version=1)
    assert caught.value.changed_by == ["alice", "bob"]
    assert "changed by alice, bob since you loaded it" in str(caught.value)
    assert "priority normal -> high (v2); tag tags none -> x (v3)" in str(caught.value)
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Note)).scalar_one() == 0


def test_conflict_without_events_still_says_reload(db: Database, conv: int) -> None:
    with pytest.raises(ConflictError, match=r"now v1, you had v7\); reload"):
        services.resolve(db, conv, actor="alice", expected_version=7)


def test_even_a_noop_checks_the_version(db: Database, conv: int) -> None:
    services.set_priority(db, conv, "high", actor="alice")
    with pytest.raises(ConflictError):
        services.set_priority(db, conv, "high", actor="bob", expected_version=1)


# ------------------------------------------------------------------ agents, roles, audit


def test_create_role_and_agent(db: Database, conv: int) -> None:
    with pytest.raises(ServiceError, match="role 'pr' already exists"):
        services.create_role(db, " PR", actor="admin")
    with pytest.raises(ServiceError, match="role names cannot contain spaces"):
        services.create_role(db, "big boss", actor="admin")
    with pytest.raises(ServiceError, match="agent 'alice' already exists"):
        services.create_agent(db, "alice", actor="admin")
    with pytest.raises(NotFound, match="no role 'legal'"):
        services.create_agent(db, "dave", roles=["legal"], actor="admin")
    agent = services.create_agent(db, "erin", roles=["pr", "support"], actor="admin")
    with db.read() as session:
        links = session.execute(select(AgentRole).where(AgentRole.agent_id == agent.id)).all()
        assert len(links) == 2
        assert services.agent_id_for(session, "dave") is None
        actions = [e.action for e in services.recent(session, None, 100)]
    assert actions.count("role.create") == 3 and actions.count("agent.create") == 3


def test_ensure_agent_is_idempotent(db: Database) -> None:
    with db.write() as session:
        first = services.ensure_agent(session, "zoe")
        again = services.ensure_agent(session, " zoe ")
        assert first.id == again.id
    with db.read() as session:
        assert services.agent_id_for(session, "zoe") == first.id


def test_system_actors_are_not_agents(db: Database, conv: int) -> None:
    services.assign(db, conv, actor="system:routing", role="support")
    with db.read() as session:
        assert services.agent_id_for(session, "system:routing") is None
    assert history(db, conv)[-1].actor == "system:routing"


def test_recent_and_history(db: Database, conv: int) -> None:
    services.set_priority(db, conv, "low", actor="alice")
    with db.read() as session:
        mark = session.execute(select(func.max(Event.created_at))).scalar_one()
    services.set_priority(db, conv, "high", actor="bob")
    services.tag(db, conv, "x", actor="bob")
    with db.read() as session:
        newest = services.recent(session, None, 2)
        assert [e.action for e in newest] == ["tag", "priority"]
        since = services.recent(session, mark, 100)
        assert [e.version for e in since] == [4, 3]
    assert [e.describe() for e in history(db, conv)] == [
        "priority priority normal -> low",
        "priority priority low -> high",
        "tag tags none -> x",
    ]


# ------------------------------------------------------------------ bulk


def test_bulk_ids_in_chunks_audits_each(db: Database, conv: int) -> None:
    ids = [conv] + [new_conversation(db, f"root-{n}") for n in range(2, 7)]
    services.tag(db, ids[1], "refund", actor="alice")
    result = services.bulk_ids(
        db, [*ids, ids[0], 424242], "tag", actor="bob", chunk_size=2, name="Refund"
    )
    assert (result.matched, result.changed, result.unchanged) == (7, 5, 1)
    assert result.conflicts == ["conversation #424242 no longer exists"]
    for conversation_id in ids:
        assert state(db, conversation_id)["tags"] == ["refund"]
        assert len(history(db, conversation_id)) == 1


def test_bulk_ids_validates_before_writing(db: Database, conv: int) -> None:
    with pytest.raises(ServiceError, match="no operation 'explode'"):
        services.bulk_ids(db, [conv], "explode", actor="alice")
    with pytest.raises(ServiceError, match="assign: got an unexpected keyword argument 'team'"):
        services.bulk_ids(db, [conv], "assign", actor="alice", team="pr")
    with pytest.raises(ServiceError, match="missing a required argument: 'name'"):
        services.bulk_ids(db, [conv], "tag", actor="alice")
    with pytest.raises(NotFound, match="no role 'legal'"):
        services.bulk_ids(db, [conv], "assign", actor="alice", role="legal")
    assert history(db, conv) == []


def test_bulk_ids_every_operation_name(db: Database, conv: int) -> None:
    arguments: dict[str, dict[str, Any]] = {
        "assign": {"role": "pr"},
        "unassign": {"role": True},
        "status": {"status": "pending"},
        "snooze": {"until": "3h"},
        "resolve": {},
        "reopen": {},
        "priority": {"priority": "low"},
        "escalate": {"severity": 3, "reason": "storm"},
        "deescalate": {"reason": "calm"},
        "tag": {"name": "a"},
        "untag": {"name": "a"},
        "note": {"body": "n"},
    }
    assert set(arguments) == set(services.BULK_OPS)
    for op, kwargs in arguments.items():
        result = services.bulk_ids(db, [conv], op, actor="alice", **kwargs)
        assert (result.matched, result.changed, result.conflicts) == (1, 1, []), op
    assert len(history(db, conv)) == len(arguments)
    for alias, kwargs in [
        ("set_status", {"status": "pending"}),
        ("set_priority", {"priority": "high"}),
    ]:
        assert services.bulk_ids(db, [conv], alias, actor="alice", **kwargs).changed == 1
    assert services.bulk_ids(db, [conv], "add_note", actor="alice", body="x").changed == 1


def test_bulk_query_applies_to_every_match(db: Database, conv: int) -> None:
    """Needs `inboxtui.query.matching_ids` (the filter language)."""
    opened = [new_conversation(db, f"root-{n}") for n in range(2, 5)]
    for conversation_id in opened:
        services.set_status(db, conversation_id, "open", actor="alice")
    result = services.bulk(db, "is:open", "assign", actor="bob", role="support", chunk_size=2)
    assert (result.matched, result.changed, result.unchanged, result.conflicts) == (3, 3, 0, [])
    for conversation_id in opened:
        assert state(db, conversation_id)["role"] == "support"
    assert state(db, conv)["role"] is None  # `new`, not matched

    again = services.bulk(db, "is:open", "assign", actor="bob", role="support")
    assert (again.matched, again.changed, again.unchanged) == (3, 0, 3)


def test_bulk_query_errors_are_service_errors(db: Database, conv: int) -> None:
    with pytest.raises(ServiceError, match="colour"):
        services.bulk(db, "colour:red", "tag", actor="bob", name="x")
    with pytest.raises(ServiceError, match="no operation 'paint'"):
        services.bulk(db, "is:open", "paint", actor="bob")


def test_triage_module_names_match_services() -> None:
    assert set(triage.__all__) <= set(services.__all__) | {"CHUNK_SIZE"}
