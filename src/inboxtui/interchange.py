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

import codecs
import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson
from sqlalchemy import select

from inboxtui.db import Database
from inboxtui.ingest import (
    AUTHOR,
    AUTHOR_KEYS,
    MENTION,
    RECORD_KEYS,
    SOURCE,
    MentionIn,
    RecordError,
    clean_text,
    dumps_json,
    ingest,
    parse_author,
    parse_record,
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
    db: Database, stream: TextIO, *, actor: str = "system:import", batch_size: int = 5000
) -> ImportReport:
    """Import JSONL from `stream` (a file or stdin), streaming, one transaction per batch."""
    report = ImportReport()
    _import(db, _jsonl_records(_lines(stream), report), report, actor, batch_size)
    return report


def import_csv(
    db: Database, stream: TextIO, *, actor: str = "system:import", batch_size: int = 5000
) -> ImportReport:
    """Import the CSV form written by `export(fmt="csv")`; open files with newline=""."""
    report = ImportReport()
    _import(db, _csv_records(stream, report), report, actor, batch_size)
    return report


def _import(
    db: Database,
    records: Iterator[tuple[int, MentionIn]],
    report: ImportReport,
    actor: str,
    batch_size: int,
) -> None:
    batch: list[tuple[int, MentionIn]] = []
    for item in records:
        batch.append(item)
        if len(batch) >= batch_size:
            _flush(db, batch, report, actor, batch_size)
            batch = []
    if batch:
        _flush(db, batch, report, actor, batch_size)
    report.errors.sort()


def _flush(
    db: Database,
    batch: list[tuple[int, MentionIn]],
    report: ImportReport,
    actor: str,
    batch_size: int,
) -> None:
    stats = ingest(db, [m for _, m in batch], actor=actor, batch_size=batch_size)
    report.inserted += stats.inserted
    report.duplicates += stats.duplicates
    report.conversations_created += stats.conversations_created
    report.reopened += stats.reopened
    for position, reason in stats.rejected:
        report.errors.append((batch[position][0], reason))


def _lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    """(line number, line without its terminator). Reads bytes when it can.

    Reading the underlying bytes of a UTF-8 text stream lets one undecodable
    line be reported instead of a decoding error ending the import midway.
    """
    binary = getattr(stream, "buffer", None)
    encoding = getattr(stream, "encoding", None) or ""
    if binary is not None and _is_utf8(encoding):
        for number, data in enumerate(binary, start=1):
            line = data.decode("utf-8", "surrogateescape")
            yield number, line.removesuffix("\n").removesuffix("\r")
        return
    for number, line in enumerate(stream, start=1):
        yield number, line.removesuffix("\n").removesuffix("\r")


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


def _jsonl_records(
    lines: Iterable[tuple[int, str]], report: ImportReport
) -> Iterator[tuple[int, MentionIn]]:
    for number, line in lines:
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        report.lines += 1
        try:
            yield number, _parse_line(line)
        except RecordError as exc:
            report.errors.append((number, str(exc)))


def _parse_line(line: str) -> MentionIn:
    if not line.isascii() and not _valid_unicode(line):
        raise RecordError(None, "not valid UTF-8 text")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        obj = _loads_strictly(line)
    return parse_record(obj, raw=line)


def _loads_strictly(line: str) -> Any:
    """The standard parser: accepts what orjson refuses (lone surrogates, NaN), and says where."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        stripped = line.rstrip()
        if exc.pos >= len(stripped) or exc.msg.startswith("Unterminated string"):
            raise RecordError(
                None, "truncated line: the JSON object ends early (incomplete write?)"
            ) from None
        raise RecordError(None, f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RecordError(None, "invalid JSON: nested too deeply") from None


def _valid_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _csv_records(stream: TextIO, report: ImportReport) -> Iterator[tuple[int, MentionIn]]:
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
            yield number, parse_record(_unflatten(dict(zip(header, row, strict=True))))
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
