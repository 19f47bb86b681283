"""Reports benchmark: every figure of a KPI report on a big seeded database.

    .venv/bin/python benchmarks/reports.py                   # 1,000,000 mentions, SQLite
    .venv/bin/python benchmarks/reports.py --mentions 100000 --pg 100000

Target (issue #8): a report <= 1 s at 1,000,000 mentions. Printed, never
asserted (machines are noisy). Timings are warm (a TUI keeps its connection):
median and worst of repeated runs in one process, per period and filter,
with the figures that took longest (`compute_report(timings=...)`).

The demo data spans 14 days, so `7d` reads the whole data set (this week and
the previous one) and `30d` reads it all as "this period".

Seeding a million mentions takes minutes: the SQLite database is cached as
/tmp/inboxtui-bench-<N>-<schema>.db (`bench_db.seeded_sqlite`; complete files
only), where <schema> hashes the migration files, so a schema change seeds
afresh (and removes the stale copy) instead of timing an old schema. To time
a copy instead (opening migrates it in place), name it:
INBOXTUI_BENCH_SQLITE_1000000=/tmp/copy.db.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench_db import scratch_schema, seeded_sqlite
from sqlalchemy import text

from inboxtui.db import Database, open_database
from inboxtui.reports import compute_report, make_period
from inboxtui.seed import seed_demo

CASES = [
    ("today", ""),
    ("7d", ""),
    ("30d", ""),
    ("7d", "role:support"),
    ("7d", "is:escalated"),
    ("7d", "tag:billing"),
    ("7d", "refund"),
]
TOPICS = [("battery", "battery OR 電池 OR 电池"), ("refund", "refund OR 退款"), ("X2", "x2")]


def measure(database: Database, label: str, repeat: int) -> None:
    with database.read() as session:
        mentions = session.execute(text("SELECT count(*) FROM mention")).scalar_one()
    print(f"\n== {label}: {mentions:,} mentions ==")
    print(
        f"{'period':<6} {'filter':<14} {'median':>8} {'worst':>8} {'in period':>10}"
        "  slowest figures"
    )
    for since, query in CASES:
        timings = []
        parts: dict[str, float] = {}
        total = 0
        with database.read() as session:
            for _ in range(repeat):
                started = time.perf_counter()
                report = compute_report(
                    session, make_period(since), query=query, topics=TOPICS, timings=parts
                )
                timings.append(time.perf_counter() - started)
                total = report.total
        slowest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
        shown = ", ".join(f"{name} {seconds / repeat * 1000:.0f}" for name, seconds in slowest)
        print(
            f"{since:<6} {query or '(none)':<14} {statistics.median(timings) * 1000:6.0f}ms "
            f"{max(timings) * 1000:6.0f}ms {total:>10,}  {shown} (ms)",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=1_000_000, help="SQLite (0 skips)")
    parser.add_argument("--pg", type=int, default=0, help="mentions on PostgreSQL (0 skips)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument(
        "--pg-server",
        default=os.environ.get(
            "INBOXTUI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    if args.mentions:
        database = seeded_sqlite(args.mentions)
        measure(database, "SQLite", args.repeat)
        database.dispose()
    if args.pg:
        with scratch_schema(args.pg_server, "inboxtui_reports_bench") as url:
            database = open_database(url)
            print(f"\nseeding {args.pg:,} mentions into PostgreSQL (not timed) ...", flush=True)
            seed_demo(database, args.pg)
            with database.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
            measure(database, "PostgreSQL", args.repeat)
            database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
