"""Crisis detection benchmark: delay and false alarms on streams with known truth, and speed.

    .venv/bin/python benchmarks/detection.py                  # 8-day streams, 200k store
    .venv/bin/python benchmarks/detection.py --store 0 --step 15m

1. Replays the four synthetic streams (`inboxtui.detection.synthetic`) through
   `inboxtui.detection.replay` with the default topic settings (1 h windows
   vs a 7-day baseline, k = 3, negative share 40%, reach 10k), detecting after
   every step that stored mentions, like the poller's hook. Per stream: the
   incidents opened, false alarms (incidents before the event, or any on the
   steady week), detection delay (first incident after the onset) and each
   expected trigger kind's delay, trigger kinds that must not fire but did.
   The slow burn also shows the delay from the moment its true negative share
   crossed 40% (negative: the alarm came before the crossing).
2. Speed: one `detect` run per topic on a demo store of `--store` mentions
   (`inboxtui.seed`), median of repeated runs.

Figures are printed, never asserted: machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from inboxtui.db import open_database
from inboxtui.detection import synthetic
from inboxtui.detection.detector import detect
from inboxtui.detection.replay import records_to_mentions, replay
from inboxtui.detection.topics import add_topic, list_topics
from inboxtui.seed import seed_demo
from inboxtui.timeutil import parse_duration, utcnow


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{sign}{seconds / 60:.0f}m"
    return f"{sign}{seconds / 3600:.1f}h"


def quality(days: int, step: timedelta) -> None:
    print(f"replay: {days}-day streams, step {step}, default topic settings")
    header = (
        "stream",
        "mentions",
        "incidents",
        "false alarms",
        "delay",
        "per kind",
        "wrong kinds",
        "time",
    )
    print("  " + " | ".join(header))
    for name, make in synthetic.STREAMS.items():
        stream = make(days=days)
        mentions = records_to_mentions(stream.records)
        started = time.perf_counter()
        report = replay(mentions, [{"name": "acme", "query": synthetic.TOPIC_QUERY}], step=step)
        elapsed = time.perf_counter() - started
        result = synthetic.score(stream, report.incidents)
        per_run = 1000 * elapsed / max(1, report.detections)
        kinds = ", ".join(f"{k} {_hours(v)}" for k, v in result.kind_delays.items()) or "-"
        if result.missing:
            kinds += f" (never: {', '.join(result.missing)})"
        delay = _hours(result.delay)
        if result.crossing_delay is not None:
            delay += f" (vs 40% crossing: {_hours(result.crossing_delay)})"
        row = (
            name,
            str(len(mentions)),
            str(result.incidents),
            str(result.false_alarms),
            delay,
            kinds,
            ", ".join(result.forbidden) or "none",
            f"{elapsed:.1f}s ({report.detections} runs, {per_run:.1f} ms/run)",
        )
        print("  " + " | ".join(row))


def speed(size: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db = open_database(str(Path(scratch) / "bench.db"))
        started = time.perf_counter()
        seed_demo(db, size)
        seeded = time.perf_counter() - started
        print(f"\nspeed: demo store of {size} mentions (seeded in {seeded:.0f}s)")
        for name, query in (
            ("acme", "acme"),
            ("battery", "battery OR 電池"),
            ("negative", "sentiment:negative"),
            ("escalated-pr", "is:escalated role:pr"),
        ):
            add_topic(db, name, query, actor="bench")
        now = utcnow()
        for spec in list_topics(db):
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                detect(db, now=now, topics=[spec])
                timings.append(time.perf_counter() - started)
            median = 1000 * statistics.median(timings)
            print(
                f"  topic {spec.name!r} ({spec.query}): median {median:.0f} ms, "
                f"max {1000 * max(timings):.0f} ms per detect run"
            )
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--step", default="5m")
    parser.add_argument("--store", type=int, default=200_000, help="demo store size (0: skip)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    quality(args.days, parse_duration(args.step))
    if args.store:
        speed(args.store, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
