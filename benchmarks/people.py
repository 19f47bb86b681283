"""Author profiles benchmark: profile reads, `person:` / `author-tag:` filters and the
report's advocates and detractors on the seeded 1,000,000-mention SQLite database.

    INBOXTUI_BENCH_SQLITE_1000000=/tmp/my-copy.db .venv/bin/python benchmarks/people.py

It WRITES persons and tags into that database (a copy: never the shared cache).
Set-up (once per copy): the busiest authors of each kind are linked as persons and
tagged; the set-up's full scans are not timed. Timings are warm: median and worst
of `--repeat` runs in one process. Printed, never asserted (machines are noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from bench_db import seeded_sqlite
from sqlalchemy import func, select

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import Author, Mention, PersonAuthor
from inboxtui.reports import compute_report, make_period
from inboxtui.reports.figures import _scope
from inboxtui.reports.people import people_figures
from inboxtui.services import people

ACTOR = "bench"
TAGGED = 200  # persons tagged advocate / detractor (half each)


def load() -> str:
    return os.getloadavg().__repr__()


def set_up(db: Database) -> tuple[str, str]:
    """Link the busiest account of each kind as one person; tag `TAGGED` persons.

    Returns (the busy person's name, a typical author's KIND:HANDLE).
    """
    with db.read() as session:
        if session.execute(select(PersonAuthor.author_id).limit(1)).first() is None:
            busiest = session.execute(
                select(Mention.author_id, func.count().label("n"))
                .group_by(Mention.author_id)
                .order_by(func.count().desc())
                .limit(TAGGED + 50)
            ).all()
        else:
            busiest = []
        typical = session.execute(
            select(Author.kind, Author.handle).order_by(Author.id).offset(500).limit(1)
        ).one()
    if busiest:
        print(f"set-up: linking and tagging {TAGGED} of the busiest authors ...", flush=True)
        first = busiest[0][0]
        kinds_seen: set[str] = set()
        with db.read() as session:
            kinds = dict(
                session.execute(
                    select(Author.id, Author.kind).where(Author.id.in_([a for a, _ in busiest]))
                ).all()
            )
        for author_id, _ in busiest[1:]:
            kind = kinds[author_id]
            if kind != kinds[first] and kind not in kinds_seen and len(kinds_seen) < 3:
                kinds_seen.add(kind)
                people.link(db, people.ByAuthor(first), author_id, actor=ACTOR)
        people.rename(db, people.ByAuthor(first), "Bench Busy", actor=ACTOR)
        for n, (author_id, _) in enumerate(busiest[:TAGGED]):
            tag = "advocate" if n % 2 == 0 else "detractor"
            people.tag(db, people.ByAuthor(author_id), [tag], actor=ACTOR)
    return "Bench Busy", f"{typical[0]}:{typical[1]}"


def timed(label: str, repeat: int, run: Callable[[], object]) -> None:
    times = []
    result: object = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    shown = f"{result}" if isinstance(result, int) else ""
    print(
        f"{label:<44} median {statistics.median(times) * 1000:8.1f} ms"
        f"  worst {max(times) * 1000:8.1f} ms  {shown}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("INBOXTUI_BENCH_SQLITE_1000000"):
        raise SystemExit("set INBOXTUI_BENCH_SQLITE_1000000 to a copy: this benchmark writes")
    db = seeded_sqlite(1_000_000)
    busy, typical = set_up(db)
    with db.read() as session:
        mentions = session.execute(select(func.max(Mention.id))).scalar_one()
        ref = people.resolve(session, busy)
        busy_mentions = session.execute(
            select(func.count()).where(Mention.author_id.in_(ref.author_ids))
        ).scalar_one()
    print(f"\n== {mentions:,} mentions · load {load()} ==")
    print(f"busy person: {len(ref.author_ids)} accounts, {busy_mentions:,} mentions")

    def profile(target: str) -> Callable[[], int]:
        def run() -> int:
            with db.read() as session:
                return people.profile(session, target).conversations_total

        return run

    timed("profile: busy person (conversations)", args.repeat, profile(busy))
    timed(f"profile: typical author {typical[:20]}", args.repeat, profile(typical))

    def page(text: str) -> Callable[[], int]:
        def run() -> int:
            with db.read() as session:
                return len(q.fetch_page(session, text, limit=50).rows)

        return run

    def count(text: str) -> Callable[[], int]:
        def run() -> int:
            with db.read() as session:
                return q.count(session, text)

        return run

    for text in (
        "author-tag:advocate",
        "author-tag:advocate is:open",
        f'person:"{busy}"',
        f"person:{typical.partition(':')[2]}",
        "-author-tag:detractor sort:priority",
    ):
        timed(f"page 50: {text}"[:44], args.repeat, page(text))
        timed(f"count: {text}"[:44], args.repeat, count(text))

    for since in ("7d", "30d"):

        def figures(since: str = since) -> int:
            with db.read() as session:
                scope = _scope(session, None, None)
                return len(people_figures(session, scope, make_period(since)))

        timed(f"report advocates/detractors {since}", args.repeat, figures)

    def whole_report() -> int:
        timings: dict[str, float] = {}
        with db.read() as session:
            compute_report(session, make_period("7d"), timings=timings)
        return int(timings.get("people", 0) * 1000)

    timed("whole report 7d (people figure ms)", max(1, args.repeat // 2), whole_report)
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
