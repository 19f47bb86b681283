"""Store benchmark: import rate, first page of `list`, full-text search.

    .venv/bin/python benchmarks/store.py          # 1,000,000 on SQLite, 100,000 on PostgreSQL
    .venv/bin/python benchmarks/store.py --sqlite 200000 --pg 0

Targets (issue #2): import >= 20,000 mentions/s including FTS and dedup;
first page of common filters <= 20 ms; full-text substring search including
CJK <= 50 ms. Figures are printed, never asserted: machines are noisy.

The JSONL file is generated first (not timed), then imported through the same
path as `inboxtui import`. Query timings are warm: median and p95 of repeated
runs in one process, like a TUI that keeps its connection open.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_db import scratch_schema
from rich.cells import cell_len
from sqlalchemy import text

from inboxtui.db import Database, open_database
from inboxtui.interchange import import_jsonl
from inboxtui.query import fetch_page
from inboxtui.seed import _generate, work_the_queue
from inboxtui.services import agent_id_for

FILTERS = [
    "",
    "is:open",
    "is:new",
    "assignee:me",
    "role:support",
    "is:escalated",
    "is:unassigned",
    "source:r/acme",
    "kind:mastodon",
    "tag:billing",
    "sentiment:negative",
    "followers:>10000",
    "sort:priority is:open",
    "since:1d",
    "-is:resolved lang:zh",
]
SEARCHES = [
    "battery",
    "refund",
    "退款",
    "營銷",
    "营销",
    "客服",
    "退",
    '"refund never arrived"',
    "x2 電池",
    "acme",
]
REPEAT = 15


def _jsonl(path: Path, n: int) -> set[tuple[str, str]]:
    """Write the demo data set; returns the spike's thread roots (to escalate later)."""
    spike_roots = set()
    with path.open("w", encoding="utf-8") as out:
        for record, is_spike in _generate(n):
            if is_spike and "in_reply_to" not in record:
                spike_roots.add((record["source"], record["external_id"]))
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return spike_roots


def _pad(label: str, width: int = 26) -> str:
    """Pad by terminal cells, so CJK labels line up."""
    return label + " " * max(0, width - cell_len(label))


def _time_queries(
    database: Database, queries: list[str], me_id: int | None
) -> list[tuple[str, float, float, int]]:
    results = []
    with database.read() as session:
        for query in queries:
            timings = []
            rows = 0
            for _ in range(REPEAT):
                start = time.perf_counter()
                page = fetch_page(session, query, me_id=me_id, limit=50)
                timings.append((time.perf_counter() - start) * 1000)
                rows = len(page.rows)
            timings.sort()
            p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
            results.append((query, statistics.median(timings), p95, rows))
    return results


def run(label: str, target: str, n: int, workdir: Path) -> None:
    print(f"\n== {label}: {n:,} mentions ==")
    source = workdir / f"demo-{n}.jsonl"
    start = time.perf_counter()
    spike_roots = _jsonl(source, n)
    print(f"generated {source.name} in {time.perf_counter() - start:.1f} s (not timed)")
    database = open_database(target)
    with source.open(encoding="utf-8") as stream:
        start = time.perf_counter()
        report = import_jsonl(database, stream)
        elapsed = time.perf_counter() - start
    print(
        f"import: {report.inserted:,} mentions in {elapsed:.1f} s = "
        f"{report.inserted / elapsed:,.0f} mentions/s (target >= 20,000; "
        f"{len(report.errors)} rejected)"
    )
    with source.open(encoding="utf-8") as stream:
        start = time.perf_counter()
        again = import_jsonl(database, stream)
        elapsed = time.perf_counter() - start
    print(
        f"re-import (all duplicates): {again.duplicates:,} in {elapsed:.1f} s, "
        f"{again.inserted} inserted"
    )
    start = time.perf_counter()
    work_the_queue(database, spike_roots=spike_roots)
    print(
        f"gave the queue a team's state (assigned, tagged, resolved, escalated) "
        f"in {time.perf_counter() - start:.1f} s (not timed)"
    )
    with database.read() as session:
        me_id = agent_id_for(session, "alice")
        conversations = session.execute(text("SELECT count(*) FROM conversation")).scalar_one()
    print(f"{conversations:,} conversations; `assignee:me` = alice")
    print(f"{'first page of list':<28} {'median':>8} {'p95':>8} rows   (target <= 20 ms)")
    for query, median, p95, rows in _time_queries(database, FILTERS, me_id):
        print(f"  {_pad(query or '(inbox, no filter)')} {median:7.1f}ms {p95:7.1f}ms {rows:4}")
    print(f"{'full-text search':<28} {'median':>8} {'p95':>8} rows   (target <= 50 ms)")
    for query, median, p95, rows in _time_queries(database, SEARCHES, me_id):
        print(f"  {_pad(query)} {median:7.1f}ms {p95:7.1f}ms {rows:4}")
    database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sqlite", type=int, default=1_000_000, help="mentions on SQLite (0 skips)"
    )
    parser.add_argument("--pg", type=int, default=100_000, help="mentions on PostgreSQL (0 skips)")
    parser.add_argument(
        "--pg-server",
        default=os.environ.get(
            "INBOXTUI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--workdir", default=None, help="keep generated files here")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="inboxtui-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.sqlite:
        db_path = workdir / f"bench-{args.sqlite}-{uuid.uuid4().hex[:6]}.db"
        run("SQLite", str(db_path), args.sqlite, workdir)
        print(f"database file: {db_path} ({db_path.stat().st_size / 1e6:,.0f} MB)")
    if args.pg:
        with scratch_schema(args.pg_server) as url:
            run("PostgreSQL", url, args.pg, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
