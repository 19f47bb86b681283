"""Reply benchmark: keypresses and milliseconds from opening a conversation to a sent reply.

    .venv/bin/python benchmarks/reply.py                  # 2,000 seeded mentions, 10 runs
    .venv/bin/python benchmarks/reply.py --mentions 20000 --runs 20

The real app, headless (`run_test`), on a seeded SQLite inbox whose newest
conversation is on a Mastodon source pointing at a local HTTP server (a real
socket that answers like POST /api/v1/statuses). Each run presses, as an agent
would: `enter` (open the conversation), `r` (composer), `ctrl+t` (templates),
`r` `f` (the template's shortcut), `enter`, the custom field's value, `enter`,
`ctrl+s` (send); then waits until the outbox row is `sent`.

Prints (never asserts: machines are noisy) the keypresses and, per run, the
milliseconds until the composer showed the thread, until the reply was in the
outbox, and until it was sent (p50 and max over the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from inboxtui.app import InboxApp
from inboxtui.db import Database, open_database
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import OutboxReply, Source
from inboxtui.screens.composer import ComposerScreen
from inboxtui.seed import seed_demo
from inboxtui.templates import TemplateSpec, save_template
from inboxtui.timeutil import iso, utcnow

SIZE = (160, 48)
TOPIC = "x"
KEYS = ["enter", "r", "ctrl+t", "r", "f", "enter", *TOPIC, "enter", "ctrl+s"]


class _Statuses(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Statuses.count += 1
        payload = json.dumps(
            {"id": str(_Statuses.count), "url": f"https://example.social/@acme/{_Statuses.count}"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def prepare(folder: Path, mentions: int, url: str) -> Database:
    db = open_database(str(folder / "bench.db"))
    seed_demo(db, mentions)
    record = {
        "kind": "mastodon",
        "source": "bench-masto",
        "external_id": "1001",
        "created_at": iso(utcnow()),  # the newest: the first row of the queue
        "text": "@acme my order never arrived",
        "author": {"handle": "@grace", "name": "Grace"},
        "lang": "en",
    }
    ingest(db, [parse_record(record)])
    with db.write() as session:
        source = session.execute(select(Source).where(Source.name == "bench-masto")).scalar_one()
        source.url = url
    save_template(
        db,
        TemplateSpec(
            name="refund",
            shortcut="rf",
            body="Hi {author.name}, thanks for asking about {topic}: here is the quick fix.",
        ),
        actor="bench",
    )
    return db


def sent_count(db: Database) -> int:
    with db.read() as session:
        return session.execute(
            select(func.count()).select_from(OutboxReply).where(OutboxReply.state == "sent")
        ).scalar_one()


def queued_count(db: Database) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(OutboxReply)).scalar_one()


async def idle(app: InboxApp, pilot: Any) -> None:
    quiet = 0
    while quiet < 3:
        await pilot.pause()
        busy = any(w.is_running for w in app.workers)
        quiet = 0 if busy else quiet + 1
        if busy:
            await asyncio.sleep(0.002)


async def one_run(app: InboxApp, pilot: Any, db: Database, run: int) -> tuple[float, ...]:
    await pilot.press("escape", "escape", "g")  # back to the queue, first row
    await idle(app, pilot)
    started = time.perf_counter()
    await pilot.press(*KEYS[:2])  # open, composer
    while not (isinstance(app.screen, ComposerScreen) and app.screen.loaded):
        await pilot.pause()
    loaded = time.perf_counter()
    await pilot.press(*KEYS[2:])
    while queued_count(db) < run:
        await pilot.pause()
    queued = time.perf_counter()
    while sent_count(db) < run:
        await pilot.pause()
        await asyncio.sleep(0.001)
    sent = time.perf_counter()
    return loaded - started, queued - started, sent - started


async def bench(db: Database, runs: int) -> list[tuple[float, ...]]:
    app = InboxApp(db, "bench", live=False, db_label="bench.db", user_keymap={})
    results = []
    async with app.run_test(size=SIZE) as pilot:
        await idle(app, pilot)
        for run in range(1, runs + 1):
            results.append(await one_run(app, pilot, db, run))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Statuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ["INBOXTUI_SECRET_BENCH_MASTO"] = "bench-token"
    with tempfile.TemporaryDirectory() as folder:
        os.environ["INBOXTUI_HOME"] = folder
        db = prepare(Path(folder), args.mentions, url)
        results = asyncio.run(bench(db, args.runs))
        db.dispose()
    server.shutdown()

    def row(name: str, values: list[float]) -> str:
        p50 = statistics.median(values) * 1000
        return f"{name:<28} p50 {p50:7.1f} ms   max {max(values) * 1000:7.1f} ms"

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine                      load average {load} on {os.cpu_count()} CPUs")
    print(f"mentions                     {args.mentions:,}   runs {args.runs}")
    print(f"keypresses                   {len(KEYS)}  ({' '.join(KEYS)})")
    print(row("open -> composer loaded", [r[0] for r in results]))
    print(row("open -> reply in outbox", [r[1] for r in results]))
    print(row("open -> reply sent", [r[2] for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
