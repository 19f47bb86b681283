"""Sentiment benchmark: accuracy and macro-F1 per language, and scoring speed.

    .venv/bin/python benchmarks/sentiment.py            # the shipped evaluation set
    .venv/bin/python benchmarks/sentiment.py --errors   # also list the misses
    .venv/bin/python benchmarks/sentiment.py --file other.jsonl
    .venv/bin/python benchmarks/sentiment.py --import 100000   # cost of scoring at import

The evaluation set (tests/data/sentiment_eval.jsonl: text, label, language)
was written before the lexicons were tuned. Target (issue #7): macro-F1 >= 0.75
per language and >= 5,000 mentions/s (on one core: the CPU-time figure). Figures
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from inboxtui.sentiment import LABELS, default_scorer

EVAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "sentiment_eval.jsonl"


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Mean over the three labels of F1 (a label never predicted nor expected is skipped)."""
    scores = []
    for label in LABELS:
        tp = sum(1 for want, got in pairs if want == label and got == label)
        fp = sum(1 for want, got in pairs if want != label and got == label)
        fn = sum(1 for want, got in pairs if want == label and got != label)
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the import's parse worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def import_cost(n: int) -> None:
    """Import `n` seeded mentions into a new SQLite file, with and without their scores.

    With scores, ingest keeps them (no scoring: the cost before issue #7); without,
    the parse worker scores every mention. CPU seconds are printed besides wall
    time because wall time on a shared machine says more about the neighbours.
    """
    from inboxtui.db import open_database
    from inboxtui.interchange import import_jsonl
    from inboxtui.seed import demo_records

    with tempfile.TemporaryDirectory() as work:
        for scored in (True, False):
            path = Path(work) / f"in-{scored}.jsonl"
            with path.open("w", encoding="utf-8") as out:
                for record in demo_records(n):
                    if not scored:
                        record.pop("sentiment", None)
                        record.pop("sentiment_label", None)
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
            database = open_database(str(Path(work) / f"db-{scored}.sqlite"))
            with path.open(encoding="utf-8") as stream:
                (own, children), wall = _cpu(), time.perf_counter()
                import_jsonl(database, stream)
                wall = time.perf_counter() - wall
                own, children = _cpu()[0] - own, _cpu()[1] - children
            database.dispose()
            what = "records carry a score (no scoring)" if scored else "every record scored"
            print(
                f"import {n:,}, {what}: {n / wall:,.0f}/s wall ({wall:.1f} s);"
                f" CPU main {own:.1f} s, parse worker {children:.1f} s"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=EVAL)
    parser.add_argument("--errors", action="store_true", help="list misclassified texts")
    parser.add_argument("--repeat", type=int, default=100, help="passes for the speed figure")
    parser.add_argument(
        "--import", dest="import_n", type=int, metavar="N", help="also time importing N mentions"
    )
    args = parser.parse_args(argv)

    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line]
    scorer = default_scorer()
    by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
    detected = Counter()
    for row in rows:
        result = scorer.score(row["text"])
        by_language[row["language"]].append((row["label"], result.label))
        detected[result.language == row["language"]] += 1
        if args.errors and result.label != row["label"]:
            print(
                f"  {row['language']:8} want {row['label']:8} got {result.label:8}"
                f" {result.score:+.2f}  {row['text']}"
            )

    print(f"{'language':10}{'n':>5}{'accuracy':>10}{'macro-F1':>10}")
    for language, pairs in sorted(by_language.items()):
        accuracy = sum(1 for want, got in pairs if want == got) / len(pairs)
        print(f"{language:10}{len(pairs):5}{accuracy:10.3f}{macro_f1(pairs):10.3f}")
    everything = [pair for pairs in by_language.values() for pair in pairs]
    accuracy = sum(1 for want, got in everything if want == got) / len(everything)
    print(f"{'all':10}{len(everything):5}{accuracy:10.3f}{macro_f1(everything):10.3f}")
    print(f"language detected correctly: {detected[True]}/{len(rows)}")

    texts = [row["text"] for row in rows]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        scorer.score_many(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scored = len(texts) * args.repeat
    # CPU time is the honest figure on a shared machine; wall time is what a user waits.
    print(
        f"speed: {scored / cpu:,.0f} mentions per CPU-second, {scored / wall:,.0f}/s wall"
        f" ({scored:,} scored, one process)"
    )
    if args.import_n:
        import_cost(args.import_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
