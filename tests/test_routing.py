"""Routing rules, fair auto-assignment, rebalance and two-process safety; both backends.

The big test routes mixed English/Chinese mentions through the real ingest path
and compares every conversation with an independent Python evaluation of the
same rules (words by prefix, phrases by adjacency, Chinese by substring with
Traditional and Simplified spellings equal).
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from inboxtui import routing, services, team
from inboxtui.cli import main
from inboxtui.db import Database, open_database
from inboxtui.ingest import ingest, parse_record
from inboxtui.services import STATE_FIELDS

TEAM = """
lead_role = "lead"
[[role]]
name = "support"
[[role]]
name = "community"
[[role]]
name = "sales"
[[agent]]
handle = "lena"
roles = ["lead"]
[[agent]]
handle = "lola"
roles = ["lead"]
"""

RULES = """
[[rule]]
name = "refunds to support"
when = 'refund OR 退款 OR "money back"'
then = { role = "support", priority = "high", tags = ["billing"] }

[[rule]]
name = "crashes"
when = "crash OR 崩溃"
then = { role = "support", tags = ["bug"] }
continue = true

[[rule]]
name = "rival watch"
when = "source:rival"
then = { role = "community", tags = ["competitor"] }

[[rule]]
name = "prices"
when = "price -source:rival"
then = { role = "sales", priority = "low" }

[[rule]]
name = "chinese"
when = "lang:zh"
then = { role = "community", tags = ["zh"] }
"""

EN = [
    "I want a refund",
    "refunds please",
    "where is my money back",
    "money is tight, back later",
    "the app crashed again",
    "prices are too high",
    "great product",
    "hello team",
    "backing up my files",
]
ZH = [
    "我要退款",
    "申请退款三天了",
    "应用崩溃了",
    "應用崩潰了",
    "价格太贵",
    "今天天气很好",
    "谢谢团队",
]
SOURCES = ["blog", "rival", "forum"]


def _records(n: int, seed: int = 6, prefix: str = "m", sources: list[str] | None = None) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        chinese = rng.random() < 0.4
        pool = ZH if chinese else EN
        body = " ".join(rng.sample(pool, rng.choice((1, 2))))
        if rng.random() < 0.15:  # mixed language in one mention
            body += " " + rng.choice(EN if chinese else ZH)
        out.append(
            {
                "kind": "rss",
                "source": rng.choice(sources or SOURCES),
                "external_id": f"{prefix}{i}",
                "created_at": f"2026-11-20T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                "text": body,
                "lang": "zh" if chinese else "en",
                "author": {"handle": f"u{rng.randrange(300)}"},
            }
        )
    return out


# ---------------------------------------------------------------- the independent evaluation


def _words(body: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", body.lower())


def _word(body: str, word: str) -> bool:
    return any(w.startswith(word) for w in _words(body))


def _phrase(body: str, first: str, last: str) -> bool:
    ws = _words(body)
    return any(a == first and b.startswith(last) for a, b in itertools.pairwise(ws))


def _zh(body: str, *spellings: str) -> bool:
    return any(s in body for s in spellings)


PY_RULES = [
    (
        lambda r: (
            _word(r["text"], "refund")
            or _zh(r["text"], "退款")
            or _phrase(r["text"], "money", "back")
        ),
        "support",
        "high",
        ["billing"],
        False,
    ),
    (
        lambda r: _word(r["text"], "crash") or _zh(r["text"], "崩溃", "崩潰"),
        "support",
        None,
        ["bug"],
        True,
    ),
    (lambda r: r["source"] == "rival", "community", None, ["competitor"], False),
    (lambda r: _word(r["text"], "price") and r["source"] != "rival", "sales", "low", [], False),
    (lambda r: r["lang"] == "zh", "community", None, ["zh"], False),
]


def _expected(record: dict[str, Any]) -> tuple[tuple[str | None, str, tuple[str, ...]], int]:
    role, priority, tags, applied = None, "normal", set(), 0
    for matches, r_role, r_priority, r_tags, keep_going in PY_RULES:
        if not matches(record):
            continue
        applied += 1
        role = r_role
        priority = r_priority or priority
        tags |= set(r_tags)
        if not keep_going:
            break
    return (role, priority, tuple(sorted(tags))), applied


def _stored(db: Database) -> dict[str, tuple[str | None, str, tuple[str, ...]]]:
    """external id -> (role, priority name, tags) of its conversation."""
    sql = text(
        "SELECT m.external_id, r.name, c.priority, t.name FROM mention m"
        " JOIN conversation c ON c.id = m.conversation_id"
        " LEFT JOIN role r ON r.id = c.role_id"
        " LEFT JOIN conversation_tag ct ON ct.conversation_id = c.id"
        " LEFT JOIN tag t ON t.id = ct.tag_id"
    )
    names = {0: "low", 1: "normal", 2: "high", 3: "urgent"}
    found: dict[str, tuple[Any, str, set[str]]] = {}
    with db.read() as session:
        for ext, role, priority, tag in session.execute(sql):
            entry = found.setdefault(ext, (role, names[priority], set()))
            if tag:
                entry[2].add(tag)
    return {k: (r, p, tuple(sorted(t))) for k, (r, p, t) in found.items()}


def _setup(db: Database, rules: str = RULES, team_text: str = TEAM) -> None:
    team.import_team(db, team.parse_team(team_text), actor="lena")
    routing.save_rules(db, routing.parse_rules(rules, "rules.toml"), actor="lena")


def test_routing_mixed_mentions_matches_independent_evaluation(db: Database) -> None:
    n = 10_000 if db.dialect == "sqlite" else 2_000
    _setup(db)
    raw = _records(n)
    stats = ingest(db, [parse_record(r) for r in raw], batch_size=2500)
    assert stats.conversations_created == n
    stored = _stored(db)
    expected = {r["external_id"]: _expected(r) for r in raw}
    wrong = [k for k in expected if stored[k] != expected[k][0]]
    shown = [(raw_text(raw, k), stored[k], expected[k]) for k in wrong[:3]]
    assert wrong == [], f"{len(wrong)} differ, e.g. {shown}"
    # every rule matched something, and both languages were routed
    routed = Counter(v[0] for v in stored.values())
    assert routed["support"] and routed["community"] and routed["sales"] and routed[None]
    with db.read() as session:
        events = session.execute(
            text("SELECT detail, count(*) FROM event WHERE action = 'route' GROUP BY detail")
        ).all()
    assert sum(c for _, c in events) == sum(applied for _, applied in expected.values())
    assert {d for d, _ in events} == {
        "rule: refunds to support",
        "rule: crashes",
        "rule: rival watch",
        "rule: prices",
        "rule: chinese",
    }


def raw_text(raw: list[dict], ext: str) -> str:
    return next(r["text"] + f" [{r['source']}/{r['lang']}]" for r in raw if r["external_id"] == ext)


# ---------------------------------------------------------------- rules files and CLI


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "[[rule]]\nname='r'\nwhen='refund (tag:x'\nthen={role='support'}\n",
            "rules.toml: \\[\\[rule\\]\\] #1 \\(r\\): field 'when': unclosed '\\('\n"
            "  refund \\(tag:x\n         \\^",
        ),
        (
            "[[rule]]\nname='r'\nwhen='colour:red'\nthen={role='support'}\n",
            r"field 'when': unknown filter key 'colour'",
        ),
        ("[[rule]]\nname='r'\nwhen='x'\n", r"#1 \(r\): field 'then' does nothing"),
        (
            "[[rule]]\nname='r'\nwhen='x'\nthen={priority='asap'}\n",
            r"field 'then.priority': no priority 'asap'",
        ),
        ("[[rule]]\nname='r'\nwhen='x'\nthen={queue='a'}\n", r"unknown field 'then.queue'"),
        ("[[rule]]\nname='r'\nwhen=''\nthen={role='a'}\n", r"an empty query would match every"),
        ("[[rule]]\nwhen='x'\n", r"#1: field 'name' is required"),
        ("[[rule]]\nname='r'\nwhen='x'\nthen={role='a'}\ncontinue='yes'\n", "'continue' must"),
    ],
)
def test_bad_rules_are_refused_with_file_rule_and_field(body: str, message: str) -> None:
    with pytest.raises(routing.RuleError, match=message):
        routing.parse_rules(body, "rules.toml")


def test_save_checks_names_and_needs_a_lead(db: Database) -> None:
    team.import_team(db, team.parse_team(TEAM), actor="lena")
    unknown = routing.parse_rules("[[rule]]\nname='r'\nwhen='x'\nthen={role='legal'}\n")
    with pytest.raises(routing.RuleError, match=r"field 'then.role': no role 'legal' \(roles: "):
        routing.save_rules(db, unknown, actor="lena")
    with pytest.raises(services.PermissionDenied, match="only a lead may change routing rules"):
        routing.save_rules(db, routing.parse_rules(RULES), actor="nobody")


def test_export_reads_back_the_same_rules(db: Database) -> None:
    _setup(db)
    with db.read() as session:
        stored = routing.list_rules(session)
    assert stored == routing.parse_rules(RULES)
    assert routing.parse_rules(routing.dump_rules(stored)) == stored


def test_cli_rules_test_and_run(db: Database, tmp_path: Path, capsys) -> None:
    team.import_team(db, team.parse_team(TEAM), actor="lena")
    ingest(db, [parse_record(r) for r in _records(60)])  # before any rule: unrouted
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    url = db.url
    assert main(["--db", url, "--as", "lena", "rules", "import", str(rules)]) == 0
    assert main(["--db", url, "rules", "test", "rival watch", "--query", "is:new"]) == 0
    captured = capsys.readouterr()
    with db.read() as session:
        rival = session.execute(
            text(
                "SELECT count(*) FROM conversation c JOIN source s ON s.id = c.source_id"
                " WHERE s.name = 'rival'"
            )
        ).scalar_one()
    assert f"rule 'rival watch' matches {rival} conversation(s)" in captured.err
    assert main(["--db", url, "--as", "lena", "rules", "run", "--query", "role:none"]) == 0
    assert "routed " in capsys.readouterr().out
    stored = _stored(db)
    for r in _records(60):
        assert stored[r["external_id"]] == _expected(r)[0]
    assert main(["--db", url, "--as", "lena", "audit", "--since", "1h", "--json"]) == 0
    assert '"action": "route"' in capsys.readouterr().out
    assert main(["--db", url, "--as", "sam", "rules", "run", "--query", "role:none"]) == 2
    assert "only a lead may re-route conversations" in capsys.readouterr().err


# ---------------------------------------------------------------- auto-assignment


def _team(agents: list[tuple[str, int | None, bool]]) -> str:
    lines = [TEAM]
    for handle, capacity, on_duty in agents:
        lines.append(f'[[agent]]\nhandle = "{handle}"\nroles = ["support"]')
        if capacity is not None:
            lines.append(f"capacity = {capacity}")
        lines.append(f"on_duty = {'true' if on_duty else 'false'}")
    return "\n".join(lines) + "\n"


ALL_TO_SUPPORT = "[[rule]]\nname = 'all'\nwhen = 'kind:rss'\nthen = { role = 'support' }\n"


def _loads(db: Database) -> dict[str | None, int]:
    sql = text(
        "SELECT a.handle, count(*) FROM conversation c LEFT JOIN agent a ON a.id = c.agent_id"
        " WHERE c.status != 'resolved' GROUP BY a.handle"
    )
    with db.read() as session:
        return {handle: n for handle, n in session.execute(sql)}


def _assert_water_filled(loads: dict[str, int], capacity: dict[str, int]) -> None:
    """Nobody over capacity; an agent has more than another + 1 only if that one is full."""
    for a, load in loads.items():
        assert load <= capacity[a], (a, load)
        for b, other in loads.items():
            assert load <= other + 1 or other == capacity[b], (a, load, b, other)


def test_fairness_1000_over_5_agents_with_capacities(db: Database) -> None:
    capacity = {"a1": 50, "a2": 100, "a3": 200, "a4": 300, "a5": 400}
    _setup(db, ALL_TO_SUPPORT, _team([(h, c, True) for h, c in capacity.items()]))
    ingest(db, [parse_record(r) for r in _records(1000)], batch_size=250)
    loads = _loads(db)
    assert loads.get(None, 0) == 0  # capacity 1,050 >= 1,000: nobody waits
    agents = {h: loads.get(h, 0) for h in capacity}
    assert sum(agents.values()) == 1000
    _assert_water_filled(agents, capacity)
    assert (agents["a1"], agents["a2"]) == (50, 100)


def test_round_robin_among_equals_and_queue_when_full(db: Database) -> None:
    _setup(db, ALL_TO_SUPPORT, _team([("x", 2, True), ("y", 2, True), ("z", 2, True)]))
    ingest(db, [parse_record(r) for r in _records(3, prefix="a")])
    ingest(db, [parse_record(r) for r in _records(3, prefix="b")])
    ingest(db, [parse_record(r) for r in _records(4, prefix="c")])
    assert _loads(db) == {"x": 2, "y": 2, "z": 2, None: 4}
    with db.read() as session:
        queued = session.execute(
            text(
                "SELECT count(*) FROM conversation c JOIN role r ON r.id = c.role_id"
                " WHERE r.name = 'support' AND c.agent_id IS NULL"
            )
        ).scalar_one()
    assert queued == 4  # in the role's queue, not lost


def test_away_agents_get_nothing_and_capacity_changes_move_nothing(db: Database) -> None:
    _setup(db, ALL_TO_SUPPORT, _team([("x", 3, True), ("y", 3, False)]))
    ingest(db, [parse_record(r) for r in _records(5)])
    assert _loads(db) == {"x": 3, None: 2}
    team.set_agent(db, "y", actor="lena", on_duty=True)
    team.set_agent(db, "x", actor="lena", capacity=1)
    assert _loads(db) == {"x": 3, None: 2}  # nothing silent
    report = routing.rebalance(db, "support", actor="lena")
    assert _loads(db) == {"x": 1, "y": 3, None: 1}
    assert (report.assigned, report.queued) == (3, 1)
    with pytest.raises(services.PermissionDenied, match="only a lead may rebalance role support"):
        routing.rebalance(db, "support", actor="x")


# ---------------------------------------------------------------- two processes


def _replayed(db: Database, conversation_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state rebuilt from the conversation's audit events, stored state)."""
    state: dict[str, Any] = {
        "status": "new",
        "snooze_until": None,
        "resolved_at": None,
        "priority": "normal",
        "role": None,
        "agent": None,
        "escalated": False,
        "severity": None,
        "escalation_reason": None,
        "tags": [],
    }
    with db.read() as session:
        for event in services.history(session, conversation_id):
            state.update({k: v for k, v in event.after.items() if k in STATE_FIELDS})
        return state, services.conversation_state(session, conversation_id)


def _worker(url: str, prefix: str, actor: str, barrier: Any, tasks: Any, out: Any) -> None:
    """Two phases, each released by the barrier: ingest 120 new conversations (routed and
    auto-assigned as they land), then bulk-reassign the ids the parent sends."""
    db = open_database(url)  # pragma: no cover - child process
    try:
        records = [parse_record(r) for r in _records(120, seed=len(prefix), prefix=prefix)]
        barrier.wait()
        stats = ingest(db, records, batch_size=10)
        out.put((prefix, stats.conversations_created))
        ids, kwargs = tasks.get(timeout=120)
        barrier.wait()
        result = services.bulk_ids(db, ids, "assign", actor=actor, chunk_size=20, **kwargs)
        out.put((actor, result.changed))
    finally:
        db.dispose()


def test_two_processes_routing_then_bulk_reassigning_at_once(db: Database) -> None:
    """Routing at once never exceeds a capacity; two leads bulk-reassigning overlapping
    sets leave every conversation wholly one lead's, and the audit log replays."""
    capacity = {"x": 30, "y": 50, "z": 70}
    _setup(db, ALL_TO_SUPPORT, _team([(h, c, True) for h, c in capacity.items()]))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    out, tasks = context.Queue(), [context.Queue(), context.Queue()]
    processes = [
        context.Process(target=_worker, args=(db.url, prefix, actor, barrier, queue, out))
        for prefix, actor, queue in (("p", "lena", tasks[0]), ("qq", "lola", tasks[1]))
    ]
    for process in processes:
        process.start()
    try:
        assert sorted(out.get(timeout=120) for _ in processes) == [("p", 120), ("qq", 120)]
        loads = _loads(db)
        assert loads[None] == 240 - 150
        assert all(loads[h] == c for h, c in capacity.items())

        ids = list(range(1, 241))
        tasks[0].put((ids[:160], {"role": "community", "agent": "lena"}))
        tasks[1].put((ids[80:], {"role": "sales", "agent": "lola"}))
        assert {out.get(timeout=120)[0] for _ in processes} == {"lena", "lola"}
    finally:
        for process in processes:
            process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0]
    for conversation_id in ids:
        replayed, stored = _replayed(db, conversation_id)
        assert replayed == stored
        assert (stored["role"], stored["agent"]) in {("community", "lena"), ("sales", "lola")}
        if 80 < conversation_id <= 160:  # in both sets: whoever came last, wholly
            with db.read() as session:
                last = services.history(session, conversation_id)[-1]
            assert stored["agent"] == last.actor
