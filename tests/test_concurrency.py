"""Two real OS processes change one conversation at the same moment.

Each round, both workers wait at a barrier and then apply a change from the
same `expected_version`: exactly one may win, the other must get a
ConflictError naming the winner. Afterwards the audit log, replayed onto the
initial state, must give exactly the row that is stored — no silent overwrite,
no event without its change, no change without its event. Both backends.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from inboxtui import services
from inboxtui.db import Database, open_database
from inboxtui.models import Conversation, Source
from inboxtui.services import STATE_FIELDS, ConflictError
from inboxtui.timeutil import utcnow

ACTORS = ("alice", "bob")
ROLES = ("support", "pr", "community")
KINDS = ("assign_role", "priority", "escalate", "tag", "status", "assign_agent", "note")


def _two_other(current: Any, options: tuple) -> tuple[Any, Any]:
    first, second = [option for option in options if option != current][:2]
    return first, second


def _round(kind: str, state: dict[str, Any], n: int) -> tuple[str, dict, dict]:
    """One operation and two arguments that both differ from `state`, so each would change it."""
    if kind == "assign_role":
        a, b = _two_other(state["role"], ROLES)
        return "assign", {"role": a}, {"role": b}
    if kind == "priority":
        a, b = _two_other(state["priority"], ("low", "normal", "high", "urgent"))
        return "set_priority", {"priority": a}, {"priority": b}
    if kind == "escalate":
        a, b = _two_other(state["severity"], (1, 2, 3))
        return "escalate", {"severity": a, "reason": f"a{n}"}, {"severity": b, "reason": f"b{n}"}
    if kind == "tag":
        return "tag", {"name": f"alpha{n}"}, {"name": f"beta{n}"}
    if kind == "status":
        a, b = _two_other(state["status"], ("open", "pending", "resolved"))
        return "set_status", {"status": a}, {"status": b}
    if kind == "assign_agent":
        a, b = _two_other(state["agent"], (*ACTORS, "carol"))
        return "assign", {"agent": a}, {"agent": b}
    return "add_note", {"body": f"mine {n}"}, {"body": f"no, mine {n}"}


def _worker(
    url: str, actor: str, tasks: Any, results: Any, barrier: Any
) -> None:  # pragma: no cover - runs in the child process
    """Apply each task after the barrier; report ("ok", version) or ("conflict", message)."""
    db = open_database(url)
    try:
        while (task := tasks.get()) is not None:
            operation, conversation_id, expected, kwargs = task
            function = getattr(services, operation)
            barrier.wait()
            try:
                change = function(
                    db, conversation_id, actor=actor, expected_version=expected, **kwargs
                )
                results.put((actor, "ok", change.version))
            except ConflictError as exc:
                results.put((actor, "conflict", str(exc)))
            except Exception as exc:
                results.put((actor, "error", repr(exc)))
    finally:
        db.dispose()


def _conversation(db: Database) -> int:
    for role in ROLES:
        services.create_role(db, role, actor="admin")
    for handle in (*ACTORS, "carol"):
        services.create_agent(db, handle, actor="admin")
    with db.write() as session:
        source = Source(kind="rss", name="feed", created_at=utcnow())
        session.add(source)
        session.flush()
        now = utcnow()
        conversation = Conversation(
            source_id=source.id,
            root_key="root",
            kind="rss",
            created_at=now,
            last_activity_at=now,
            updated_at=now,
        )
        session.add(conversation)
        session.flush()
        assert conversation.id is not None
        return conversation.id


def _state(db: Database, conversation_id: int) -> tuple[dict[str, Any], int]:
    with db.read() as session:
        version = session.get(Conversation, conversation_id).version
        return services.conversation_state(session, conversation_id), version


class Workers:
    """Two long-lived spawned processes, released together by a barrier each round."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(len(ACTORS))
        self.results = context.Queue()
        self.tasks = {actor: context.Queue() for actor in ACTORS}
        self.processes = [
            context.Process(
                target=_worker,
                args=(url, actor, self.tasks[actor], self.results, self.barrier),
                daemon=True,
            )
            for actor in ACTORS
        ]
        for process in self.processes:
            process.start()

    def run(self, tasks: dict[str, tuple]) -> dict[str, tuple[str, Any]]:
        for actor, task in tasks.items():
            self.tasks[actor].put(task)
        outcomes: dict[str, tuple[str, Any]] = {}
        while len(outcomes) < len(tasks):
            try:
                actor, kind, value = self.results.get(timeout=5)
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if not p.is_alive()]
                assert not dead, f"a worker died (exit codes {dead})"
                continue
            outcomes[actor] = (kind, value)
        return outcomes

    def close(self) -> None:
        for actor in ACTORS:
            self.tasks[actor].put(None)
        for process in self.processes:
            process.join(timeout=60)
            if process.is_alive():  # pragma: no cover - only on a hang
                process.kill()


@pytest.fixture
def workers(db: Database) -> Any:
    pool = Workers(db.url)
    yield pool
    pool.close()


def _replay(initial: dict[str, Any], events: list[services.EventRow]) -> dict[str, Any]:
    state = dict(initial)
    for event in events:
        state.update({k: v for k, v in event.after.items() if k in STATE_FIELDS})
    return state


def test_same_expected_version_exactly_one_wins(db: Database, workers: Workers) -> None:
    conversation_id = _conversation(db)
    initial, start = _state(db, conversation_id)
    for n, kind in enumerate(KINDS * 2):
        current, expected = _state(db, conversation_id)
        operation, alice_args, bob_args = _round(kind, current, n)
        outcomes = workers.run(
            {
                "alice": (operation, conversation_id, expected, alice_args),
                "bob": (operation, conversation_id, expected, bob_args),
            }
        )
        kinds = sorted(kind for kind, _ in outcomes.values())
        assert kinds == ["conflict", "ok"], (operation, outcomes)
        [winner] = [a for a, (kind, _) in outcomes.items() if kind == "ok"]
        [loser] = [a for a, (kind, _) in outcomes.items() if kind == "conflict"]
        assert outcomes[winner][1] == expected + 1
        message = outcomes[loser][1]
        assert f"conversation #{conversation_id} changed by {winner} since you loaded it" in message
        assert message.endswith(f"(v{expected + 1}); reload")
        _, now = _state(db, conversation_id)
        assert now == expected + 1

    final, final_version = _state(db, conversation_id)
    with db.read() as session:
        events = services.history(session, conversation_id)
    assert [e.version for e in events] == list(range(start + 1, final_version + 1))
    assert _replay(initial, events) == final


def test_without_expected_version_nothing_is_lost(db: Database, workers: Workers) -> None:
    """No expected version: both may apply in turn, or one conflicts; never a silent loss."""
    conversation_id = _conversation(db)
    initial, start = _state(db, conversation_id)
    successes = 0
    for round_number in range(4):
        outcomes = workers.run(
            {
                "alice": ("tag", conversation_id, None, {"name": f"a{round_number}"}),
                "bob": ("tag", conversation_id, None, {"name": f"b{round_number}"}),
            }
        )
        kinds = [kind for kind, _ in outcomes.values()]
        assert "error" not in kinds, outcomes
        assert "ok" in kinds, outcomes
        if db.dialect == "sqlite":  # BEGIN IMMEDIATE queues the writers: both apply
            assert kinds == ["ok", "ok"], outcomes
        successes += kinds.count("ok")
        for actor, (kind, value) in outcomes.items():
            if kind == "conflict":
                assert "while this change was being made" in value, (actor, value)

    final, final_version = _state(db, conversation_id)
    assert final_version == start + successes
    with db.read() as session:
        events = services.history(session, conversation_id)
    assert len(events) == successes
    assert [e.version for e in events] == list(range(start + 1, final_version + 1))
    assert _replay(initial, events) == final
    assert len(final["tags"]) == successes


def test_postgres_conditional_update_catches_a_writer_that_read_nothing_yet(
    pg_db: Database,
) -> None:
    """READ COMMITTED: alice reads v1 while mallory's uncommitted change holds the row.

    Alice's UPDATE waits on the row lock, then finds version 2: no row matches,
    so she gets a conflict naming mallory instead of overwriting his change.
    Deterministic: we release mallory's transaction only once PostgreSQL
    reports alice's connection blocked by it.
    """
    db = pg_db
    conversation_id = _conversation(db)
    outcome: dict[str, Any] = {}

    def alice() -> None:
        try:
            outcome["change"] = services.set_priority(db, conversation_id, "high", actor="alice")
        except Exception as exc:
            outcome["error"] = exc

    with db.engine.connect() as mallory, db.engine.connect() as observer:
        transaction = mallory.begin()
        holder = mallory.execute(text("SELECT pg_backend_pid()")).scalar_one()
        mallory.execute(
            text("UPDATE conversation SET priority = 3, version = version + 1 WHERE id = :id"),
            {"id": conversation_id},
        )
        with Session(bind=mallory) as session:
            services.audit.record(
                session,
                conversation_id=conversation_id,
                actor="mallory",
                action="priority",
                before={"priority": "normal"},
                after={"priority": "urgent"},
                version=2,
            )
        thread = threading.Thread(target=alice)
        thread.start()
        blocked = text(
            "SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"
        )
        while thread.is_alive() and not observer.execute(blocked, {"holder": holder}).scalar():
            observer.rollback()
            time.sleep(0.01)
        assert thread.is_alive(), f"alice was not blocked by the row lock: {outcome}"
        transaction.commit()
    thread.join()

    error = outcome.get("error")
    assert isinstance(error, ConflictError), outcome
    assert str(error) == (
        f"conversation #{conversation_id} changed by mallory while this change was being made: "
        "priority priority normal -> urgent (v2); try again"
    )
    assert (error.changed_by, error.current_version) == (["mallory"], 2)
    state, version = _state(db, conversation_id)
    assert (state["priority"], version) == ("urgent", 2)
    with db.read() as session:
        assert [e.actor for e in services.history(session, conversation_id)] == ["mallory"]
