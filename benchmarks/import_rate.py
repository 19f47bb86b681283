"""Import rate only (issue #2): `inboxtui import` of demo JSONL, with the machine's load.

    .venv/bin/python benchmarks/import_rate.py --n 100000                 # fresh SQLite file
    .venv/bin/python benchmarks/import_rate.py --n 100000 --into BIG.db  # a copy of BIG.db
    .venv/bin/python benchmarks/import_rate.py --n 100000 --pg           # scratch PG schema

Why a separate script: `store.py` also seeds, works the queue and times queries,
which takes minutes; this one measures just the import (and a re-import, all
duplicates), so a change to the ingest path can be checked quickly. The JSONL
file is generated once per size and kept in /tmp (not timed). `--into` copies
an existing database first (never modifies it): importing into a big inbox
(1M mentions) costs more per mention than into an empty one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_db import scratch_schema

from inboxtui.db import open_database
from inboxtui.interchange import import_jsonl
from inboxtui.seed import _generate


def _jsonl(n: int, seed: int, suffix: str, scored: bool) -> Path:
    """The demo data set as JSONL; `suffix` renames the sources (new mentions in any inbox).

    Unless `scored`, records carry no sentiment (as from a poller), so the import scores them.
    """
    name = f"inboxtui-import-{n}-{seed}{suffix}{'-scored' if scored else ''}.jsonl"
    path = Path(tempfile.gettempdir()) / name
    if not path.exists():
        partial = path.with_suffix(f".{uuid.uuid4().hex[:6]}.partial")
        with partial.open("w", encoding="utf-8") as out:
            for record, _ in _generate(n, seed):
                record["source"] += suffix
                if not scored:
                    record.pop("sentiment", None)
                    record.pop("sentiment_label", None)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        partial.rename(path)
    return path


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def _timed_import(target: str, source: Path, label: str, parallel: bool | None) -> None:
    database = open_database(target)
    try:
        for attempt in ("import", "re-import"):
            before = _load()
            with source.open(encoding="utf-8") as stream:
                start = time.perf_counter()
                report = import_jsonl(database, stream, parallel=parallel)
                elapsed = time.perf_counter() - start
            count = report.inserted if attempt == "import" else report.duplicates
            print(
                f"{label} {attempt}: {count:,} in {elapsed:.2f} s = {count / elapsed:,.0f}/s"
                f" ({len(report.errors)} rejected; {before} -> {_load()})",
                flush=True,
            )
    finally:
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--into", help="import into a copy of this SQLite file (sources renamed: all new)"
    )
    parser.add_argument("--pg", action="store_true", help="a scratch schema on PostgreSQL")
    parser.add_argument(
        "--pg-server",
        default=os.environ.get(
            "INBOXTUI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--scored", action="store_true", help="records carry their sentiment (not scored)"
    )
    parser.add_argument("--parallel", choices=("auto", "yes", "no"), default="auto")
    args = parser.parse_args()
    parallel = {"auto": None, "yes": True, "no": False}[args.parallel]
    source = _jsonl(args.n, args.seed, "-bench" if args.into else "", args.scored)
    if args.pg:
        with scratch_schema(args.pg_server) as url:
            _timed_import(url, source, f"PostgreSQL {args.n:,}", parallel)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="inboxtui-import-"))
    target = workdir / "bench.db"
    label = f"SQLite {args.n:,}"
    try:
        if args.into:
            shutil.copyfile(args.into, target)
            label += f" into a copy of {Path(args.into).name}"
        _timed_import(str(target), source, label, parallel)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
