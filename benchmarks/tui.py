"""TUI benchmark: the inbox on a big seeded database, driven headless with `run_test`.

    .venv/bin/python benchmarks/tui.py                     # 1,000,000 mentions
    .venv/bin/python benchmarks/tui.py --mentions 100000

Prints (never asserts: machines are noisy):
- launch: from creating the app to the first queue rows painted;
- `j` and page down: key press -> frame painted with real rows (p50/p99),
  each key sent the moment the last frame is painted (the worst case); page
  down again at key-repeat pace (30 per second, a held key), where work
  deferred until after a frame has the gap between keys to run in;
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


def watch_paints(app: InboxApp) -> list[float]:
    """Record when the queue last drew a line (so a frame is known to include it)."""
    queue = app.inbox.queue
    last = [0.0]
    draw = queue.render_line

    def render_line(y: int):
        last[0] = time.perf_counter()
        return draw(y)

    queue.render_line = render_line  # type: ignore[method-assign]
    return last


async def painted(
    app: InboxApp, last_paint: list[float], since: float, *, counted: bool = True
) -> None:
    """Until a frame drawn after `since` shows real rows on every visible line.

    `counted`: also wait for the match count (the status line and scrollbar).
    """
    queue = app.inbox.queue
    deadline = time.perf_counter() + 60
    while True:
        if time.perf_counter() > deadline:
            raise RuntimeError("the queue never finished loading")
        app.screen._on_timer_update()  # the frame the update timer would paint
        if (
            last_paint[0] >= since
            and queue.screen_filled
            and (queue.total is not None or not counted)
        ):
            return
        # Idle like the real event loop would (a busy loop here would starve the
        # worker threads of the GIL and measure that instead).
        await asyncio.sleep(0.0005)


async def press(
    app: InboxApp, paints: list[float], key: str, target: int, times: int = 1
) -> tuple[float, float]:
    """Key event in -> cursor on `target` -> frame with real rows painted: (wall, cpu) seconds.

    `times`: that many key events at once (key repeat outrunning the reads).

    The key goes through the app's own dispatch (bindings, focus), not the
    test pilot, whose per-key bookkeeping would dominate the figure. CPU time
    (all threads of this process) is printed too: on a busy machine the wall
    clock mostly measures the other processes.
    """
    queue = app.inbox.queue
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(times):
        app.post_message(events.Key(key, key if len(key) == 1 else None))
    while queue.cursor != target:
        await asyncio.sleep(0.0005)
        if time.perf_counter() - started > 30:
            raise RuntimeError(f"{key}: the cursor never reached {target} (at {queue.cursor})")
    await painted(app, paints, started)
    return time.perf_counter() - started, time.process_time() - cpu


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
    app: InboxApp, paints: list[float], text: str, *, settle: bool = True
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
    await painted(app, paints, started, counted=False)
    rows = (time.perf_counter() - started, time.process_time() - cpu)
    await painted(app, paints, started)
    return rows, time.perf_counter() - started


async def bench(db: Database, n: int, presses: int, settle: bool) -> None:
    rss_before = rss_mb()
    started = time.perf_counter()
    app = InboxApp(db, "alice", live=True, user_keymap={})
    async with app.run_test(size=SIZE):
        queue = app.inbox.queue
        while queue.first_paint is None:
            await asyncio.sleep(0.001)
        launch = queue.first_paint - started
        paints = watch_paints(app)
        await painted(app, paints, 0.0)
        await idle(app)  # the sidebar's counts finish before keys are timed
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"machine             load average {load} on {os.cpu_count()} CPUs")
        print(f"mentions            {n:>10,}")
        print(f"queue total         {queue.total:>10,} conversations (Inbox view)")
        print(f"launch -> painted   {ms(launch)}   (target <= 1500 ms)")

        page = queue.scrollable_content_region.height
        j_times = [await press(app, paints, "j", queue.cursor + 1) for _ in range(presses)]
        report("j", j_times, "target p99 <= 16 ms")
        down = [
            await press(app, paints, "pagedown", queue.cursor + page)
            for _ in range(max(20, presses // 5))
        ]
        report("page down", down, "target p99 <= 30 ms")
        paced = []
        for _ in range(max(20, presses // 5)):
            paced.append(await press(app, paints, "pagedown", queue.cursor + page))
            await asyncio.sleep(max(0.0, REPEAT_INTERVAL - paced[-1][0]))
        report("page down @30/s", paced, "held key: key repeat, 30 per second")
        burst = [
            await press(app, paints, "pagedown", queue.cursor + 10 * page, times=10)
            for _ in range(5)
        ]
        report("page down x10", burst, "10 keys at once, to the 10th page painted")
        end, end_cpu = await press(app, paints, "G", queue.total - 1)
        print(f"G (last row)        wall {ms(end)} | cpu {ms(end_cpu)}")
        top, top_cpu = await press(app, paints, "g", 0)
        print(f"g (first row)       wall {ms(top)} | cpu {ms(top_cpu)}")

        for label, texts in (("filter", FILTERS), ("search", SEARCHES)):
            for text in texts:
                (took, took_cpu), counted = await apply(app, paints, text, settle=settle)
                print(
                    f"{label:<8} {text!r:<24} rows painted wall {ms(took)} | cpu {ms(took_cpu)}"
                    f" | count shown {ms(counted)} {queue.total:>9,} matches"
                )
            warm = [(await apply(app, paints, t, settle=settle))[0] for t in texts]
            report(f"{label} (warm)", warm, "rows painted; target <= 150 ms")
        await apply(app, paints, "-is:resolved")
        print(f"rows in memory      {len(queue._rows):>10,}  (strip cache {len(queue._strips)})")
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
