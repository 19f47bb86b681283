"""Routing throughput with 50 rules: conversations routed per second.

    .venv/bin/python benchmarks/routing.py                    # 20k conversations, SQLite
    .venv/bin/python benchmarks/routing.py --n 5000 --db postgresql+psycopg://...

A store of `--store` mentions without rules first (so the rules' words have
many matches elsewhere, as in a real inbox), then:

1. ingest: `--n` new mentions (mixed English/Chinese, one conversation each) in
   batches of `--batch`, routed in the ingest transaction as they land;
   compared with the same ingest with no rules, the difference is routing;
2. on demand: `routing.run` over all of them again (`rules run --query`).

50 rules: words and phrases in both languages, sources, languages, negations;
ten of them `continue = true`; five roles with agents and capacities, so
auto-assignment runs too. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from inboxtui import routing, team
from inboxtui.db import open_database
from inboxtui.ingest import ingest, parse_record

ROLES = ["support", "community", "sales", "pr", "billing"]
WORDS = [
    "refund", "crash", "price", "login", "password", "shipping", "battery", "screen",
    "update", "invoice", "broken", "slow", "love", "hate", "cancel", "order", "delivery",
    "warranty", "discount", "bug",
]  # fmt: skip
ZH = ["退款", "崩溃", "价格", "登录", "密码", "快递", "电池", "屏幕", "更新", "发票"]
SOURCES = ["blog", "forum", "rival", "social", "news"]


def _team() -> str:
    lines = ['lead_role = "lead"', '[[role]]\nname = "lead"']
    lines += [f'[[role]]\nname = "{r}"' for r in ROLES]
    lines.append('[[agent]]\nhandle = "bench"\nroles = ["lead"]')
    for i in range(20):
        role = ROLES[i % len(ROLES)]
        lines.append(f'[[agent]]\nhandle = "a{i}"\nroles = ["{role}"]\ncapacity = {50 + 10 * i}')
    return "\n".join(lines) + "\n"


def _rules(rng: random.Random) -> str:
    blocks = []
    for i in range(50):
        kind = i % 5
        if kind == 0:
            when = f"{rng.choice(WORDS)} OR {rng.choice(ZH)}"
        elif kind == 1:
            when = f'"{rng.choice(WORDS)} {rng.choice(WORDS)}" OR {rng.choice(WORDS)}'
        elif kind == 2:
            when = f"source:{rng.choice(SOURCES)} {rng.choice(WORDS)}"
        elif kind == 3:
            when = f"lang:zh {rng.choice(ZH)} -source:{rng.choice(SOURCES)}"
        else:
            when = f"({rng.choice(WORDS)} OR {rng.choice(WORDS)}) -{rng.choice(WORDS)}"
        then = f'role = "{rng.choice(ROLES)}", tags = ["r{i}"]'
        if i % 3 == 0:
            then += ', priority = "high"'
        block = f"[[rule]]\nname = \"rule {i}\"\nwhen = '{when}'\nthen = {{ {then} }}"
        if i % 5 == 4:
            block += "\ncontinue = true"
        blocks.append(block)
    return "\n\n".join(blocks) + "\n"


def _records(n: int, prefix: str, rng: random.Random) -> list:
    out = []
    for i in range(n):
        zh = rng.random() < 0.4
        words = rng.sample(ZH, 2) if zh else rng.sample(WORDS, 3)
        body = ("我的" + "，".join(words) + "有问题") if zh else "my " + " and ".join(words)
        out.append(
            parse_record(
                {
                    "kind": "rss",
                    "source": rng.choice(SOURCES),
                    "external_id": f"{prefix}{i}",
                    "created_at": "2026-11-20T10:00:00Z",
                    "text": body,
                    "lang": "zh" if zh else "en",
                    "author": {"handle": f"u{rng.randrange(5000)}"},
                }
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="conversations to route")
    parser.add_argument("--store", type=int, default=50_000, help="mentions stored first")
    parser.add_argument("--batch", type=int, default=1000, help="ingest batch size")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    rng = random.Random(50)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(args.db or str(Path(tmp) / "bench.db"))
        team.import_team(db, team.parse_team(_team()), actor="bench")
        ingest(db, _records(args.store, "s", rng), batch_size=5000)
        plain = _records(args.n, "p", rng)
        routed = _records(args.n, "r", rng)

        started = time.perf_counter()
        ingest(db, plain, batch_size=args.batch)
        without = time.perf_counter() - started

        rules = routing.parse_rules(_rules(rng), "bench-rules.toml")
        routing.save_rules(db, rules, actor="bench")
        started = time.perf_counter()
        stats = ingest(db, routed, batch_size=args.batch)
        with_rules = time.perf_counter() - started
        ids = stats.conversation_ids
        routing_only = max(with_rules - without, 1e-9)

        with db.read() as session:
            changed = session.execute(
                text("SELECT count(*) FROM event WHERE action = 'route'")
            ).scalar_one()
            assigned = session.execute(
                text("SELECT count(*) FROM conversation WHERE agent_id IS NOT NULL AND id >= :lo"),
                {"lo": min(ids)},
            ).scalar_one()
        print(f"{db.dialect}: store {args.store:,} mentions, 50 rules, batches of {args.batch}")
        print(
            f"ingest {args.n:,}: {args.n / without:,.0f}/s without rules, "
            f"{args.n / with_rules:,.0f}/s with rules"
        )
        print(
            f"routing inside ingest: {args.n / routing_only:,.0f} conversations/s "
            f"({changed:,} rule applications, {assigned:,} auto-assigned)"
        )

        started = time.perf_counter()
        report = routing.run(db, f"source:{SOURCES[0]} OR -source:{SOURCES[0]}", actor="bench")
        elapsed = time.perf_counter() - started
        total = args.store + 2 * args.n
        print(
            f"on demand (rules run) over all {total:,} conversations: "
            f"{total / elapsed:,.0f} conversations/s ({report.routed:,} changed)"
        )
        db.dispose()


if __name__ == "__main__":
    main()
