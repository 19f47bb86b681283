"""JSONL and CSV interchange: import through `ingest`, export the same shape back.

One mention per JSONL line:
    {"kind": "mastodon", "source": "acme-social", "external_id": "109...",
     "created_at": "2026-11-20T10:00:00Z", "text": "...", "url": "https://...",
     "author": {"handle": "@jeff@mastodon.social", "name": "Jeff", "followers": 12000},
     "lang": "en", "in_reply_to": "...", "title": "...",
     "sentiment": -0.6, "sentiment_label": "negative"}
Required: kind, source, external_id, created_at, text, author.handle. Other keys
(e.g. "engagement") are kept verbatim in `mention.raw` and exported again.

Import streams line by line and never holds more than one batch. A bad line
is reported with its number and the field at fault, and skipped; good lines
are kept. Re-importing a file changes nothing (duplicates by constraint).

Export regenerates each record from the columns. When `raw` is itself an
interchange record of the same mention (it was imported), its extra keys and
its author snapshot (name and followers *at the time of that mention*; the
author row only keeps the newest) are carried over, so that
import A -> export B -> import B -> export C gives C == B, with B holding every
value of A (sanitised text, times in `...Z` form, empty optionals omitted).

CSV: one row per mention, the JSONL keys flattened (`author.handle`, ...), plus
an `extra` column holding the other keys as JSON; UTF-8, `csv` module quoting.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TextIO

import orjson
from sqlalchemy import select

from inboxtui import pg_stats
from inboxtui.db import Database
from inboxtui.ingest import AUTHOR, MENTION, SOURCE, BulkWrites
from inboxtui.jsonl import Parsed, parsed_blocks
from inboxtui.records import (
    AUTHOR_KEYS,
    RECORD_KEYS,
    Prepared,
    RecordError,
    clean_text,
    dumps_json,
    parse_author,
    parse_record,
    prepare,
)
from inboxtui.timeutil import iso

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "kind",
    "source",
    "external_id",
    "created_at",
    "text",
    "url",
    "author.handle",
    "author.name",
    "author.followers",
    "lang",
    "in_reply_to",
    "title",
    "sentiment",
    "sentiment_label",
    "extra",
)
_EXPORT_BATCH = 1000
_BATCH = 5000  # mentions per import transaction
_BIG_BATCH = 20_000  # ... when the input is big enough to be parsed in a second process


@dataclass
class ImportReport:
    lines: int = 0  # non-blank lines (CSV: records) read
    inserted: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    conversations_created: int = 0
    reopened: int = 0


# ---------------------------------------------------------------- import


def import_jsonl(
    db: Database,
    stream: TextIO,
    *,
    actor: str = "system:import",
    batch_size: int | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import JSONL from `stream` (a file or stdin), streaming, one transaction per batch.

    A big input is parsed in a second process while this one writes
    (`inboxtui.jsonl`); `parallel` forces that on (True) or off (False).
    `batch_size` None: 5,000 mentions a transaction, and 20,000 for what the
    second process parsed (a big input): measured, a third less work per
    mention in a big inbox, for a write lock held about a second at a time.
    """
    report = ImportReport()
    _import(db, parsed_blocks(stream, db.dialect, parallel=parallel), report, actor, batch_size)
    return report


def import_csv(
    db: Database, stream: TextIO, *, actor: str = "system:import", batch_size: int | None = None
) -> ImportReport:
    """Import the CSV form written by `export(fmt="csv")`; open files with newline=""."""
    report = ImportReport()
    records = _csv_records(stream, report, db.dialect)
    blocks = (
        Parsed(0, [number for number, _ in block], [p for _, p in block], [])
        for block in iter(lambda: list(islice(records, 512)), [])
    )
    _import(db, blocks, report, actor, batch_size)
    return report


def _import(
    db: Database,
    blocks: Iterator[Parsed],
    report: ImportReport,
    actor: str,
    batch_size: int | None,
) -> None:
    """Batches of `batch_size` records from `blocks`, each ingested in its own transaction."""
    numbers: list[int] = []
    records: list[Prepared] = []
    with BulkWrites(db) as bulk:
        for block in blocks:
            report.lines += block.lines
            report.errors.extend(block.errors)
            numbers += block.numbers
            records += block.records
            size = _BIG_BATCH if block.parallel else _BATCH
            size = max(1, size if batch_size is None else batch_size)
            while len(records) >= size:
                _flush(bulk, numbers[:size], records[:size], report, actor)
                del numbers[:size], records[:size]
        if records:
            _flush(bulk, numbers, records, report, actor)
    pg_stats.after_import(db, report.inserted)  # PostgreSQL: plan from fresh statistics
    report.errors.sort()


def _flush(
    bulk: BulkWrites,
    numbers: list[int],
    records: list[Prepared],
    report: ImportReport,
    actor: str,
) -> None:
    stats = bulk.ingest(records, actor=actor)
    report.inserted += stats.inserted
    report.duplicates += stats.duplicates
    report.conversations_created += stats.conversations_created
    report.reopened += stats.reopened
    for position, reason in stats.rejected:
        report.errors.append((numbers[position], reason))


def _csv_records(
    stream: TextIO, report: ImportReport, dialect: str
) -> Iterator[tuple[int, Prepared]]:
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        report.errors.append((1, f"unreadable CSV header: {exc}"))
        return
    if header is None:
        return
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    absent = [c for c in ("kind", "source", "external_id", "created_at", "text") if c not in header]
    if "author.handle" not in header:
        absent.append("author.handle")
    if absent:
        report.errors.append((1, f"CSV header lacks column(s): {', '.join(absent)}"))
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.lines += 1
            report.errors.append((start, f"unreadable CSV (reading stopped): {exc}"))
            return
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        report.lines += 1
        try:
            if len(row) != len(header):
                raise RecordError(None, f"{len(row)} cells, the header has {len(header)}")
            mention = parse_record(_unflatten(dict(zip(header, row, strict=True))))
            yield number, prepare(mention, dialect, sanitised=True)
        except RecordError as exc:
            report.errors.append((number, str(exc)))


def _unflatten(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row -> the JSONL record it was flattened from (empty cell = absent)."""
    record: dict[str, Any] = {}
    author: dict[str, Any] = {}
    extra_text = row.pop("extra", "")
    for key, value in row.items():
        if value == "" and key not in ("text",):
            continue
        if key.startswith("author."):
            author[key.removeprefix("author.")] = value
        else:
            record[key] = value
    if "followers" in author:
        author["followers"] = _number(author["followers"], "author.followers", int)
    if "sentiment" in record:
        record["sentiment"] = _number(record["sentiment"], "sentiment", float)
    if author:
        record["author"] = author
    if extra_text:
        try:
            extra = json.loads(extra_text)
        except json.JSONDecodeError as exc:
            raise RecordError("extra", f"invalid JSON: {exc.msg}") from None
        if not isinstance(extra, dict):
            raise RecordError("extra", "must be a JSON object")
        extra_author = extra.pop("author", None)
        if isinstance(extra_author, dict):
            record.setdefault("author", {}).update(extra_author)
        for key, value in extra.items():
            record.setdefault(key, value)
    return record


def _number(value: str, name: str, kind: type) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise RecordError(
            name, f"must be a {'whole ' if kind is int else ''}number, not {value!r}"
        ) from None
    if kind is float and not math.isfinite(number):
        raise RecordError(name, f"must be a finite number, not {value!r}")
    return number


# ---------------------------------------------------------------- export


def mention_to_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """An interchange record from a mention row joined with its source and author.

    `row` keys: kind, source, external_id, created_at (datetime), text, url,
    author_handle, author_name, author_followers, lang, in_reply_to, title,
    sentiment, sentiment_label, raw. None values are left out.
    """
    extra, author_extra, snapshot = _from_raw(row)
    author: dict[str, Any] = {"handle": row["author_handle"]}
    name, followers = snapshot if snapshot else (row["author_name"], row["author_followers"])
    if name is not None:
        author["name"] = name
    if followers is not None:
        author["followers"] = followers
    author.update(author_extra)
    record: dict[str, Any] = {
        "kind": row["kind"],
        "source": row["source"],
        "external_id": row["external_id"],
        "created_at": iso(row["created_at"]),
        "text": row["text"],
    }
    optional = {
        "url": row["url"],
        "author": author,
        "lang": row["lang"],
        "in_reply_to": row["in_reply_to"],
        "title": row["title"],
        "sentiment": row["sentiment"],
        "sentiment_label": row["sentiment_label"],
    }
    record.update((k, v) for k, v in optional.items() if v is not None)
    record.update(extra)
    return record


def _from_raw(
    row: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], tuple[str | None, int | None] | None]:
    """(extra keys, extra author keys, author snapshot) when raw is this mention's record."""
    raw = row.get("raw") or ""
    if not raw.startswith("{"):
        return {}, {}, None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return {}, {}, None
    if not (
        isinstance(obj, dict)
        and obj.get("external_id") == row["external_id"]
        and isinstance(obj.get("source"), str)
        and clean_text(obj["source"]).strip() == row["source"]
    ):
        return {}, {}, None
    extra = {k: v for k, v in obj.items() if k not in RECORD_KEYS}
    raw_author = obj.get("author")
    author_extra: dict[str, Any] = {}
    snapshot = None
    if isinstance(raw_author, dict):
        author_extra = {k: v for k, v in raw_author.items() if k not in AUTHOR_KEYS}
        try:
            handle, name, followers = parse_author(raw_author)
        except RecordError:
            pass
        else:
            if handle == row["author_handle"]:
                snapshot = (name, followers)
    return extra, author_extra, snapshot


def export(
    db: Database,
    out: TextIO,
    *,
    fmt: str = "jsonl",
    conversation_ids: Iterable[int] | None = None,
) -> int:
    """Write mentions (all, or those of `conversation_ids`) ordered by id; returns the count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use jsonl or csv)")
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for row in _export_rows(db, conversation_ids):
        record = mention_to_record(row)
        if writer is not None:
            writer.writerow(_flatten(record))
        else:
            out.write(dumps_json(record) + "\n")
        count += 1
    return count


def _flatten(record: dict[str, Any]) -> list[str]:
    author = dict(record.get("author") or {})
    cells = {key: record.get(key) for key in RECORD_KEYS if key != "author"}
    cells["author.handle"] = author.pop("handle", None)
    cells["author.name"] = author.pop("name", None)
    cells["author.followers"] = author.pop("followers", None)
    extra = {k: v for k, v in record.items() if k not in RECORD_KEYS}
    if author:
        extra["author"] = author
    cells["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
    return ["" if cells[c] is None else _cell(cells[c]) for c in CSV_COLUMNS]


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


_EXPORT_COLUMNS = (
    MENTION.c.id,
    SOURCE.c.kind,
    SOURCE.c.name.label("source"),
    MENTION.c.external_id,
    MENTION.c.created_at,
    MENTION.c.text,
    MENTION.c.url,
    AUTHOR.c.handle.label("author_handle"),
    AUTHOR.c.name.label("author_name"),
    AUTHOR.c.followers.label("author_followers"),
    MENTION.c.lang,
    MENTION.c.in_reply_to,
    MENTION.c.title,
    MENTION.c.sentiment,
    MENTION.c.sentiment_label,
    MENTION.c.raw,
)


def _export_rows(
    db: Database, conversation_ids: Iterable[int] | None
) -> Iterator[Mapping[str, Any]]:
    base = (
        select(*_EXPORT_COLUMNS)
        .join(SOURCE, SOURCE.c.id == MENTION.c.source_id)
        .join(AUTHOR, AUTHOR.c.id == MENTION.c.author_id)
        .order_by(MENTION.c.id)
    )
    with db.read() as session:
        conn = session.connection()
        if conversation_ids is None:
            last = 0
            while True:
                rows = (
                    conn.execute(base.where(MENTION.c.id > last).limit(_EXPORT_BATCH))
                    .mappings()
                    .all()
                )
                if not rows:
                    return
                yield from rows
                last = rows[-1]["id"]
        # A filter: collect the mention ids (index on conversation_id), then fetch by id.
        wanted = sorted(set(conversation_ids))
        ids: list[int] = []
        for start in range(0, len(wanted), _EXPORT_BATCH):
            chunk = wanted[start : start + _EXPORT_BATCH]
            ids.extend(
                conn.execute(
                    select(MENTION.c.id).where(MENTION.c.conversation_id.in_(chunk))
                ).scalars()
            )
        ids.sort()
        for start in range(0, len(ids), _EXPORT_BATCH):
            chunk = ids[start : start + _EXPORT_BATCH]
            yield from conn.execute(base.where(MENTION.c.id.in_(chunk))).mappings().all()
