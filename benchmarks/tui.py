"""TUI benchmark: the inbox on a big seeded database, driven headless with `run_test`.

    .venv/bin/python benchmarks/tui.py                     # 1,000,000 mentions
    .venv/bin/python benchmarks/tui.py --mentions 100000

Prints (never asserts: machines are noisy):
- launch: from creating the app to the first queue rows painted;
- `j` and page down: key arrives -> frame with real rows written (p50/p99),
  each key arriving the moment the last frame is written (the worst case:
  work the app does after a frame delays the next key); page down again at
  key-repeat pace (30 per second, a held key, keys arriving on schedule),
  where work deferred until after a frame has the gap between keys to run in;
  and bursts of ten page downs posted at once (keys faster than the reads);
- filter and full-text search: submit (once the app is idle; `--back-to-back`:
  as soon as the last count shows) -> visible rows painted, and -> count shown;
- resident memory (VmRSS now, and the peak).
Targets (issue #3): launch <= 1.5 s, j p99 <= 16 ms, page down p99 <= 30 ms,
filter/search <= 150 ms, RSS <= 250 MB and flat from 100k to 1M.

The seeded database is cached in /tmp (see `bench_db.py`; delete it to re-seed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

from bench_db import seeded_sqlite
from textual import events

from inboxtui.app import InboxApp
from inboxtui.db import Database

SIZE = (160, 48)
REPEAT_INTERVAL = 1 / 30  # a held key: typical keyboard auto-repeat
FILTERS = ["is:open", "role:support", "tag:billing", "is:escalated", "sort:priority is:open"]
SEARCHES = ["battery", "refund", "退款", "营销", '"money back"']


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


class Frames:
    """When the app last handed a frame that the queue drew into to the terminal driver.

    A press's latency ends when its frame is written, not when this coroutine
    notices: work the app runs after writing a frame (a read-ahead, a
    prerender) does not delay that frame, and is charged to the next key
    instead, which arrives while it runs (`press(arrive=...)`). Each frame
    records whether the visible rows were real (not placeholders) and whether
    the match count was known.
    """

    def __init__(self, app: InboxApp) -> None:
        self.last = (0.0, False, False)  # (written at, rows real, count known)
        queue = app.inbox.queue
        drew = [False]
        draw = queue.render_line
        display = app._display

        def render_line(y: int):
            drew[0] = True
            return draw(y)

        def written(screen, renderable) -> None:
            display(screen, renderable)
            if drew[0] and renderable is not None:
                drew[0] = False
                self.last = (time.perf_counter(), queue.screen_filled, queue.total is not None)

        queue.render_line = render_line  # type: ignore[method-assign]
        app._display = written  # type: ignore[method-assign]


async def painted(app: InboxApp, frames: Frames, since: float, *, counted: bool = True) -> float:
    """Until a frame written after `since` shows real rows on every visible line; its time.

    `counted`: also wait for the match count (the status line and scrollbar).
    """
    deadline = time.perf_counter() + 60
    while True:
        if time.perf_counter() > deadline:
            raise RuntimeError("the queue never finished loading")
        app.screen._on_timer_update()  # the frame the update timer would paint
        at, filled, has_count = frames.last
        if at >= since and filled and (has_count or not counted):
            return at
        # Idle like the real event loop would (a busy loop here would starve the
        # worker threads of the GIL and measure that instead).
        await asyncio.sleep(0.0005)


async def press(
    app: InboxApp,
    frames: Frames,
    key: str,
    target: int,
    times: int = 1,
    arrive: float | None = None,
) -> tuple[float, float]:
    """Key arrives -> cursor on `target` -> frame with real rows written: (wall, cpu) seconds.

    `arrive`: when the key reached the app (default: now). Keys sent back to
    back arrive as the last frame is written; if the app is still busy with
    work it scheduled after that frame, the key waits, and the wait counts.
    At a paced rate the key arrives on schedule. `times`: that many key
    events at once (key repeat outrunning the reads).

    The key goes through the app's own dispatch (bindings, focus), not the
    test pilot, whose per-key bookkeeping would dominate the figure. CPU time
    (all threads of this process, from the key sent to its frame noticed) is
    printed too: on a busy machine the wall clock mostly measures the other
    processes.
    """
    queue = app.inbox.queue
    now = time.perf_counter()
    if arrive is not None and arrive > now:
        await asyncio.sleep(arrive - now)
    started = time.perf_counter() if arrive is None else arrive
    sent, cpu = time.perf_counter(), time.process_time()
    for _ in range(times):
        app.post_message(events.Key(key, key if len(key) == 1 else None))
    while queue.cursor != target:
        await asyncio.sleep(0.0005)
        if time.perf_counter() - sent > 30:
            raise RuntimeError(f"{key}: the cursor never reached {target} (at {queue.cursor})")
    written = await painted(app, frames, sent)
    return written - started, time.process_time() - cpu


async def keys(
    app: InboxApp, frames: Frames, key: str, step: int, n: int, interval: float | None = None
) -> list[tuple[float, float]]:
    """`n` presses of `key` (each moving the cursor `step` rows): back to back, or one per
    `interval` seconds (a held key: its repeats arrive on schedule whatever the app does)."""
    queue = app.inbox.queue
    out = []
    arrive = frames.last[0]
    for _ in range(n):
        wall, cpu = await press(app, frames, key, queue.cursor + step, arrive=arrive)
        out.append((wall, cpu))
        arrive += interval if interval else wall  # back to back: as its frame is written
    return out


def report(label: str, samples: list[tuple[float, float]], target: str) -> None:
    wall = [w for w, _ in samples]
    cpu = [c for _, c in samples]
    print(
        f"{label:<19} wall p50 {ms(pct(wall, 50))} p99 {ms(pct(wall, 99))}"
        f" | cpu p50 {ms(pct(cpu, 50))} p99 {ms(pct(cpu, 99))}   ({target})"
    )


async def idle(app: InboxApp) -> None:
    """Until nothing loads or waits (queue, views, the detail pane and its debounce)."""
    waited = time.perf_counter()
    while app.inbox.is_busy and time.perf_counter() - waited < 30:
        await asyncio.sleep(0.005)


async def apply(
    app: InboxApp, frames: Frames, text: str, *, settle: bool = True
) -> tuple[tuple[float, float], float]:
    """Filter submitted -> ((wall, cpu) to rows painted, wall to the count shown).

    `settle`: submitted once the app is idle, as a person types a filter after
    the last one's results (its detail pane reading a 500-mention thread, say)
    are in; else the moment the last count is shown.
    """
    if settle:
        await idle(app)
    started, cpu = time.perf_counter(), time.process_time()
    app.inbox.apply_filter(text)
    while app.inbox.queue.query_obj.text != text:
        await asyncio.sleep(0.0005)
    shown = await painted(app, frames, started, counted=False)
    rows = (shown - started, time.process_time() - cpu)
    counted = await painted(app, frames, started)
    return rows, counted - started


async def bench(db: Database, n: int, presses: int, settle: bool) -> None:
    rss_before = rss_mb()
    started = time.perf_counter()
    app = InboxApp(db, "alice", live=True, user_keymap={})
    async with app.run_test(size=SIZE):
        queue = app.inbox.queue
        while queue.first_paint is None:
            await asyncio.sleep(0.001)
        launch = queue.first_paint - started
        frames = Frames(app)
        await painted(app, frames, 0.0)
        await idle(app)  # the sidebar's counts finish before keys are timed
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"machine             load average {load} on {os.cpu_count()} CPUs")
        print(f"mentions            {n:>10,}")
        print(f"queue total         {queue.total:>10,} conversations (Inbox view)")
        print(f"launch -> painted   {ms(launch)}   (target <= 1500 ms)")

        page = queue.scrollable_content_region.height
        report("j", await keys(app, frames, "j", 1, presses), "target p99 <= 16 ms")
        pages = max(20, presses // 5)
        down = await keys(app, frames, "pagedown", page, pages)
        report("page down", down, "target p99 <= 30 ms")
        paced = await keys(app, frames, "pagedown", page, pages, REPEAT_INTERVAL)
        report("page down @30/s", paced, "held key: key repeat, 30 per second")
        await idle(app)
        burst = [
            await press(app, frames, "pagedown", queue.cursor + 10 * page, times=10)
            for _ in range(5)
        ]
        report("page down x10", burst, "10 keys at once, to the 10th page painted")
        end, end_cpu = await press(app, frames, "G", queue.total - 1)
        print(f"G (last row)        wall {ms(end)} | cpu {ms(end_cpu)}")
        top, top_cpu = await press(app, frames, "g", 0)
        print(f"g (first row)       wall {ms(top)} | cpu {ms(top_cpu)}")

        for label, texts in (("filter", FILTERS), ("search", SEARCHES)):
            for text in texts:
                (took, took_cpu), counted = await apply(app, frames, text, settle=settle)
                print(
                    f"{label:<8} {text!r:<24} rows painted wall {ms(took)} | cpu {ms(took_cpu)}"
                    f" | count shown {ms(counted)} {queue.total:>9,} matches"
                )
            warm = [(await apply(app, frames, t, settle=settle))[0] for t in texts]
            report(f"{label} (warm)", warm, "rows painted; target <= 150 ms")
        await apply(app, frames, "-is:resolved")
        print(f"rows in memory      {len(queue._rows):>10,}  (text cache {len(queue._texts)})")
    print(
        f"RSS                 {rss_mb():7.0f} MB now, {peak_mb():.0f} MB peak"
        f" (before the app {rss_before:.0f} MB)   (target <= 250 MB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--presses", type=int, default=300)
    parser.add_argument(
        "--back-to-back",
        action="store_true",
        help="submit each filter as soon as the last count shows (not once the app is idle)",
    )
    args = parser.parse_args()
    os.environ.setdefault("INBOXTUI_HOME", "/tmp/inboxtui-bench-home")
    db = seeded_sqlite(args.mentions)
    try:
        asyncio.run(bench(db, args.mentions, args.presses, not args.back_to_back))
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
