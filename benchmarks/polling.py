"""Polling benchmark: what an idle poll costs, and how fast new mentions flow in.

    .venv/bin/python benchmarks/polling.py                 # SQLite file in a temp dir
    .venv/bin/python benchmarks/polling.py --db postgresql+psycopg://postgres@127.0.0.1/test

1. 300 RSS sources on a local server that answers 304 Not Modified (after one
   warm-up poll that stores their ETags): CPU milliseconds per poll in this
   process (`time.process_time`: claim the lease, conditional GET, commit the
   health and release). Target (issue #4): <= 2 ms.
2. 200 RSS sources returning 50 new entries each: mentions per second through
   the whole path (fetch, feedparser, validate, ingest with dedup, threading
   and full-text index, cursor and health in the same transaction).

The server runs in another process so its CPU is not counted. Figures are
printed, never asserted: machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from inboxtui import sources_admin
from inboxtui.db import Database, open_database
from inboxtui.polling import Poller

BASE = datetime(2026, 11, 1, tzinfo=UTC)


def _feed(prefix: str, count: int) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">{prefix}-{i}</guid><title>{prefix} post {i}</title>'
        f"<link>http://example.test/{prefix}/{i}</link>"
        f"<description>Entry {i} says something about Acme and its new release</description>"
        f"<author>w{i % 13}@example.test (Writer {i % 13})</author>"
        f"<pubDate>{format_datetime(BASE + timedelta(minutes=i))}</pubDate></item>"
        for i in range(count, 0, -1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{prefix}</title><link>http://example.test/</link><description>b</description>"
        f"{items}</channel></rss>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        name = self.path.strip("/").removesuffix(".xml")  # idle17 | busy42
        etag = f'"{name}-v1"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = _feed(name, 50 if name.startswith("busy") else 1)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(port_queue: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _add(db: Database, base_url: str, prefix: str, count: int) -> list[str]:
    names = [f"{prefix}{i}" for i in range(count)]
    for name in names:
        sources_admin.add_source(
            db, "rss", name, {"url": f"{base_url}/{name}.xml"}, actor="bench", interval=300
        )
    return names


async def _round(poller: Poller, names: list[str]) -> tuple[list[Any], float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    outcomes = await poller.poll_once(names, force=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        print(f"  {len(failed)} poll(s) did not succeed, e.g. {failed[0].summary()}")
    return outcomes, cpu, wall


async def _run(db: Database, base_url: str, idle: int, busy: int, concurrency: int) -> None:
    # one poller for the whole run, as a daemon keeps one (and its connections)
    poller = Poller(db, concurrency=concurrency)
    try:
        idle_names = _add(db, base_url, "idle", idle)
        await _round(poller, idle_names)  # warm-up: stores the ETags
        for attempt in (1, 2, 3):
            outcomes, cpu, wall = await _round(poller, idle_names)
            unchanged = sum(o.ok and o.fetched == 0 for o in outcomes)
            print(
                f"304 round {attempt}: {idle} sources ({unchanged} unchanged) in "
                f"{wall * 1000:.0f} ms wall, CPU {cpu * 1000 / idle:.2f} ms per poll "
                "(target <= 2 ms)"
            )

        busy_names = _add(db, base_url, "busy", busy)
        outcomes, cpu, wall = await _round(poller, busy_names)
        inserted = sum(o.inserted for o in outcomes)
        print(
            f"new entries: {busy} sources x 50 = {inserted} mentions in {wall:.2f} s wall: "
            f"{inserted / wall:,.0f} mentions/s "
            f"(CPU {cpu / max(inserted, 1) * 1e6:.0f} us per mention)"
        )
    finally:
        await poller.aclose()


def run(db: Database, base_url: str, idle: int, busy: int, concurrency: int) -> None:
    asyncio.run(_run(db, base_url, idle, busy, concurrency))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--busy", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)

    queue: Any = multiprocessing.get_context("fork").Queue()
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{queue.get(timeout=30)}"
    try:
        if args.db:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.db, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                db = open_database(f"{args.db}?options=-csearch_path%3D{schema}")
                print(f"PostgreSQL ({schema}), {os.cpu_count()} CPUs")
                run(db, base_url, args.idle, args.busy, args.concurrency)
                db.dispose()
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                db = open_database(str(Path(tmp) / "bench.db"))
                print(f"SQLite {db.display_name}, {os.cpu_count()} CPUs")
                run(db, base_url, args.idle, args.busy, args.concurrency)
                db.dispose()
    finally:
        server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
