"""JSONL/CSV import and export: bad lines, re-import, lossless round trips, streaming."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from inboxtui import jsonl
from inboxtui.db import Database
from inboxtui.interchange import CSV_COLUMNS, export, import_csv, import_jsonl
from inboxtui.seed import demo_records


def line(external_id: str, **overrides: Any) -> str:
    record: dict[str, Any] = {
        "kind": "mastodon",
        "source": "acme-social",
        "external_id": external_id,
        "created_at": "2026-11-20T10:00:00Z",
        "text": f"post {external_id}",
        "author": {"handle": "@jeff@mastodon.social", "name": "Jeff", "followers": 12000},
    }
    record.update(overrides)
    return json.dumps(record, ensure_ascii=False)


def count(db: Database, table: str) -> int:
    with db.read() as session:
        return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def empty(db: Database) -> None:
    """A fresh database for the second half of a round trip (same backend)."""
    with db.write() as session:
        for table in ("mention_search", "event", "mention", "conversation", "author", "source"):
            session.execute(text(f"DELETE FROM {table}"))


def exported(db: Database, fmt: str = "jsonl", ids: Any = None) -> str:
    out = io.StringIO(newline="") if fmt == "csv" else io.StringIO()
    export(db, out, fmt=fmt, conversation_ids=ids)
    return out.getvalue()


# ---------------------------------------------------------------- bad lines


def test_bad_lines_are_reported_and_good_lines_kept(db: Database) -> None:
    import_jsonl(db, io.StringIO(line("0", kind="bluesky", source="acme-bsky") + "\n"))
    good = [line("1"), line("2", in_reply_to="1"), line("3", text="中文\n第二行")]
    lines = [
        good[0],
        "{not json at all",  # 2
        good[1],
        line("4")[:-25],  # 4: truncated write
        json.dumps({"kind": "mastodon", "source": "acme-social", "text": "x"}),  # 5
        line("6", created_at="20 Nov 2026"),  # 6
        line("7", author={"handle": "@a@b", "followers": "12k"}),  # 7
        "",  # 8: blank lines are skipped, not errors
        line("9", kind="mastodon", source="acme-bsky"),  # 9: that source is bluesky
        good[2],
        "[1, 2]",  # 11
    ]
    report = import_jsonl(db, io.StringIO("\n".join(lines) + "\n"), batch_size=3)
    assert (report.lines, report.inserted, report.duplicates) == (10, 3, 0)
    errors = dict(report.errors)
    assert sorted(errors) == [2, 4, 5, 6, 7, 9, 11]
    assert errors[2].startswith("invalid JSON")
    assert "truncated" in errors[4]
    assert errors[5].startswith("external_id: required")
    assert errors[6].startswith("created_at: not an ISO 8601 time")
    assert errors[7].startswith("author.followers: must be a whole number")
    assert errors[9] == "kind: source 'acme-bsky' is a bluesky source, not mastodon"
    assert "JSON object" in errors[11]
    assert report.inserted + report.duplicates + len(report.errors) == report.lines
    assert count(db, "mention") == 4


def test_invalid_utf8_line_is_reported_from_a_byte_stream(db: Database) -> None:
    data = (line("1") + "\n").encode() + b'{"text": "\xff\xfe"}\n' + (line("2") + "\n").encode()
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    report = import_jsonl(db, stream)
    assert report.inserted == 2
    assert report.errors == [(2, "not valid UTF-8 text")]


def test_reimport_changes_nothing(db: Database) -> None:
    source = "\n".join(
        [line("1"), line("2", in_reply_to="1", created_at="2026-11-20T10:05:00Z"), line("3")]
    )
    first = import_jsonl(db, io.StringIO(source))
    assert (first.inserted, first.duplicates, first.conversations_created) == (3, 0, 2)
    with db.read() as session:
        before = session.execute(text("SELECT id, version FROM conversation ORDER BY id")).all()
    again = import_jsonl(db, io.StringIO(source))
    assert (again.lines, again.inserted, again.duplicates, again.errors) == (3, 0, 3, [])
    with db.read() as session:
        after = session.execute(text("SELECT id, version FROM conversation ORDER BY id")).all()
    assert after == before
    assert (count(db, "mention"), count(db, "event"), count(db, "author")) == (3, 0, 1)


def test_raw_keeps_the_line_byte_exact(db: Database) -> None:
    original = '{"kind":"rss", "source":"feed","external_id":"u1" ,"created_at":"2026-11-20T10:00:00Z","text":"a\\u001b[31mb","author":{"handle":"site"},"x":[1,2.50]}'  # noqa: E501
    import_jsonl(db, io.StringIO("\ufeff" + original + "\r\n"))
    with db.read() as session:
        raw, body = session.execute(text("SELECT raw, text FROM mention")).one()
    assert raw == original
    assert body == "ab"


# ---------------------------------------------------------------- round trips

TRICKY = [
    line(
        "1",
        text="退款還沒到 😡\n第二行 — émoji 👩\u200d💻 and [bold]markup[/bold]",
        title="標題",
        url="https://mastodon.social/@jeff/1",
        lang="zh-Hant",
        sentiment=-0.75,
        sentiment_label="negative",
        engagement={"likes": 3, "reposts": 1},
    ),
    line("2", text="no optionals at all", author={"handle": "@min@x"}),
    line(
        "3",
        in_reply_to="1",
        created_at="2026-11-20T11:00:00.123456+01:00",
        text='reply\twith tab, "quotes", commas\r\nand CRLF \x1b[31mred',
        author={"handle": "@jeff@mastodon.social", "name": "Jeff", "followers": 15000, "v": 1},
    ),
    line("4", kind="rss", source="news", text="", title="Only a title", sentiment=0),
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_round_trip_is_lossless(db: Database, fmt: str) -> None:
    import_jsonl(db, io.StringIO("\n".join(TRICKY) + "\n"))
    b = exported(db, fmt)
    empty(db)
    stream = io.StringIO(b, newline="") if fmt == "csv" else io.StringIO(b)
    report = (import_csv if fmt == "csv" else import_jsonl)(db, stream)
    assert (report.inserted, report.errors) == (4, [])
    c = exported(db, fmt)
    assert c == b
    # B carries every value of A (sanitised text, UTC times)
    records = _records(b, fmt)
    originals = [json.loads(x) for x in TRICKY]
    first = records[0]
    for key in ("text", "title", "url", "lang", "sentiment", "sentiment_label", "engagement"):
        assert first[key] == originals[0][key]
    assert records[1] == {
        "kind": "mastodon",
        "source": "acme-social",
        "external_id": "2",
        "created_at": "2026-11-20T10:00:00Z",
        "text": "no optionals at all",
        "author": {"handle": "@min@x"},
        # scored at ingest (issue #7), so the export carries it
        "sentiment": 0.0,
        "sentiment_label": "neutral",
    }
    third = records[2]
    assert third["created_at"] == "2026-11-20T10:00:00.123456Z"
    assert third["text"] == 'reply\twith tab, "quotes", commas\nand CRLF red'
    assert third["in_reply_to"] == "1"
    # the author snapshot at each mention, not only the newest profile
    assert first["author"]["followers"] == 12000 and third["author"]["followers"] == 15000
    assert third["author"]["v"] == 1
    assert records[3]["text"] == "" and records[3]["sentiment"] == 0.0


def _records(data: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [json.loads(x) for x in data.splitlines()]
    out = []
    for row in csv.DictReader(io.StringIO(data, newline="")):
        record: dict[str, Any] = {}
        author: dict[str, Any] = {}
        for key, value in row.items():
            if value == "" and key != "text":
                continue
            if key.startswith("author."):
                author[key[7:]] = int(value) if key == "author.followers" else value
            elif key == "extra":
                extra = json.loads(value)
                author.update(extra.pop("author", {}))
                record.update(extra)
            else:
                record[key] = float(value) if key == "sentiment" else value
        record["author"] = author
        out.append(record)
    return out


def test_csv_has_the_flattened_columns(db: Database) -> None:
    import_jsonl(db, io.StringIO(TRICKY[0]))
    rows = list(csv.reader(io.StringIO(exported(db, "csv"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["author.handle"] == "@jeff@mastodon.social"
    assert cells["author.followers"] == "12000"
    assert json.loads(cells["extra"]) == {"engagement": {"likes": 3, "reposts": 1}}
    assert "\n" in cells["text"]


def test_csv_import_reports_bad_rows(db: Database) -> None:
    data = (
        "kind,source,external_id,created_at,text,author.handle,author.followers\n"
        "rss,news,1,2026-11-20T10:00:00Z,ok,site,\n"
        "rss,news,2,not a time,bad,site,\n"
        'rss,news,3,2026-11-20T10:00:00Z,"two\nlines",site,many\n'
        "rss,news,4,2026-11-20T10:00:00Z,ok,site,7\n"
    )
    report = import_csv(db, io.StringIO(data, newline=""))
    assert report.inserted == 2
    assert [n for n, _ in report.errors] == [3, 4]
    assert report.errors[0][1].startswith("created_at:")
    assert report.errors[1][1].startswith("author.followers:")
    missing = import_csv(db, io.StringIO("kind,text\nrss,x\n", newline=""))
    assert missing.errors == [
        (1, "CSV header lacks column(s): source, external_id, created_at, author.handle")
    ]


def test_round_trip_of_demo_data(db: Database) -> None:
    source = "\n".join(json.dumps(r, ensure_ascii=False) for r in demo_records(300, seed=11))
    import_jsonl(db, io.StringIO(source), batch_size=64)
    b = exported(db)
    empty(db)
    import_jsonl(db, io.StringIO(b), batch_size=100)
    assert exported(db) == b
    assert len(b.splitlines()) == 300


# ---------------------------------------------------------------- export selection, streaming


def test_export_only_the_given_conversations_in_id_order(db: Database) -> None:
    import_jsonl(
        db,
        io.StringIO(
            "\n".join([line("1"), line("2"), line("3", in_reply_to="1"), line("4")]) + "\n"
        ),
    )
    with db.read() as session:
        conv = dict(
            session.execute(
                text("SELECT external_id, conversation_id FROM mention ORDER BY id")
            ).all()
        )
    out = exported(db, ids=[conv["1"], conv["4"], 999])
    assert [json.loads(x)["external_id"] for x in out.splitlines()] == ["1", "3", "4"]
    assert exported(db, ids=[]) == ""
    with pytest.raises(ValueError, match="unknown export format"):
        export(db, io.StringIO(), fmt="xml")


def test_import_streams_from_a_pipe(db: Database) -> None:
    """Like stdin: not seekable, arriving in pieces; each batch commits as it fills."""
    read_fd, write_fd = os.pipe()

    def writer() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            for i in range(25):
                pipe.write((line(str(i), text=f"第{i}則 ✓") + "\n").encode())
                pipe.flush()

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, encoding="utf-8") as stream:
        report = import_jsonl(db, stream, batch_size=4)
    thread.join()
    assert (report.lines, report.inserted, report.errors) == (25, 25, [])
    assert count(db, "mention") == 25


# ---------------------------------------------------------------- parsing in a second process

MIXED = (
    "\ufeff".encode()
    + "\r\n".join(
        [
            line("1", text="第一則 ✓"),
            line("2", in_reply_to="1", created_at="2026-11-20T10:05:00Z"),
            "{not json at all",  # 3
            "",  # 4: blank
            line("5", in_reply_to="7", created_at="2026-11-20T10:09:00Z"),  # reply first
            line("6", created_at="20 Nov 2026"),  # 6
            line("7", text="parent after its reply"),
            line("1", text="a duplicate"),  # 8
            line("9", kind="rss"),  # 9: the source is a mastodon one
        ]
    ).encode()
    + b"\r\n"
    + b'{"text": "\xff\xfe"}\n'  # 10: not UTF-8
    + "\n".join(
        line(str(i), text=f"第{i}則 x{i}", created_at=f"2026-11-20T11:{i % 60:02}:00Z")
        for i in range(11, 80)
    ).encode()
    + ("\n" + line("80")[:-9]).encode()  # 80: truncated, no final newline
)


def _import_bytes(db: Database, data: bytes, parallel: bool | None) -> Any:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    return import_jsonl(db, stream, batch_size=7, parallel=parallel)


def test_a_second_process_parses_exactly_like_this_one(db: Database) -> None:
    alone = _import_bytes(db, MIXED, parallel=False)
    assert (alone.lines, alone.inserted, alone.duplicates) == (79, 73, 1)
    assert [n for n, _ in alone.errors] == [3, 6, 9, 10, 80]
    expected = exported(db)
    empty(db)
    both = _import_bytes(db, MIXED, parallel=True)
    assert both == alone
    assert exported(db) == expected


def _ready_workers_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workers start ready (no race with the hand-over); each take-over appends to the list."""
    start = jsonl._Worker.start

    def started_and_ready(dialect: str) -> Any:
        worker = start(dialect)
        assert worker is not None and worker.wait_ready()
        return worker

    taken: list[int] = []
    take_over = jsonl._Worker.take_over

    def counting(self: Any, blocks: Any) -> Any:
        taken.append(1)
        return take_over(self, blocks)

    monkeypatch.setattr(jsonl._Worker, "start", staticmethod(started_and_ready))
    monkeypatch.setattr(jsonl._Worker, "take_over", counting)
    return taken


def test_the_worker_takes_over_midway(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines before the hand-over parsed here, the rest there: one seamless result."""
    alone = _import_bytes(db, MIXED, parallel=False)
    expected = exported(db)
    empty(db)
    taken = _ready_workers_counted(monkeypatch)
    monkeypatch.setattr(jsonl, "_BLOCK_BYTES", 400)
    monkeypatch.setattr(jsonl, "WORKER_MIN_LINES", 10)
    both = _import_bytes(db, MIXED, parallel=None)
    assert taken == [1]
    assert both == alone
    assert exported(db) == expected


def test_two_parsing_processes_keep_the_input_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks dealt to two workers in turn come back merged in input order."""
    alone = _import_bytes(db, MIXED, parallel=False)
    expected = exported(db)
    empty(db)
    taken = _ready_workers_counted(monkeypatch)
    monkeypatch.setattr(jsonl, "WORKERS", 2)
    monkeypatch.setattr(jsonl, "_BLOCK_BYTES", 400)  # a dozen blocks, dealt in turn
    both = _import_bytes(db, MIXED, parallel=True)
    assert taken == [1, 1]
    assert both == alone
    assert exported(db) == expected


_READY_THEN_EXIT = "import sys; sys.stdout.buffer.write(b'R' + bytes(8)); sys.stdout.flush()"


def test_a_worker_that_dies_is_an_error_not_a_hang(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl, "_WORKER_CODE", _READY_THEN_EXIT)
    with pytest.raises(jsonl.WorkerError, match="stopped unexpectedly"):
        _import_bytes(db, MIXED, parallel=True)


def test_a_worker_that_cannot_start_leaves_the_import_in_one_process(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    monkeypatch.setattr(jsonl, "_WORKER_CODE", "raise SystemExit(3)")
    monkeypatch.setattr(jsonl, "WORKER_MIN_BYTES", 0)  # big enough for a worker
    with path.open(encoding="utf-8") as stream:
        report = import_jsonl(db, stream)
    assert (report.lines, report.inserted, len(report.errors)) == (79, 73, 5)
    with pytest.raises(jsonl.WorkerError, match="cannot start"):
        _import_bytes(db, MIXED, parallel=True)
