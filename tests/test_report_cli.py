"""`inboxtui report`: the same figures as Markdown, JSON and CSV, errors in one line."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxtui.cli import main
from inboxtui.db import Database
from inboxtui.models import Mention, Source
from inboxtui.seed import seed_demo
from inboxtui.timeutil import iso, utcnow


@pytest.fixture
def seeded(db: Database) -> Database:
    seed_demo(db, 150, seed=5)
    return db


def _window() -> tuple[str, str]:
    until = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    return iso(until - timedelta(days=5)) or "", iso(until) or ""


def _run(capsys: pytest.CaptureFixture[str], db: Database, *args: str) -> tuple[int, str, str]:
    code = main(["--db", db.url, "report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _expected_by_kind(db: Database, since: str, until: str) -> Counter[str]:
    with db.read() as session:
        rows = session.connection().execute(
            select(Mention.created_at, Source.kind).join(Source, Source.id == Mention.source_id)
        )
        return Counter(kind for created, kind in rows if since <= (iso(created) or "") < until)


def test_json_counts_match_the_rows(seeded: Database, capsys: pytest.CaptureFixture[str]) -> None:
    since, until = _window()
    code, out, _ = _run(
        capsys,
        seeded,
        "--since",
        since,
        "--until",
        until,
        "--format",
        "json",
        "--topic",
        "refund=refund OR 退款",
        "--target",
        "25%",
    )
    assert code == 0
    data = json.loads(out)
    expected = _expected_by_kind(seeded, since, until)
    assert data["volume"]["by_kind"] == dict(expected) and sum(expected.values()) > 50
    assert data["bucket"] == "day" and len(data["volume"]["buckets"]) == 5
    assert data["sentiment"]["target"] == 0.25
    assert [t["topic"] for t in data["share_of_voice"]] == ["refund"]


def test_markdown_and_csv_to_files(
    seeded: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    since, until = _window()
    md_file, csv_file = tmp_path / "r.md", tmp_path / "r.csv"
    code, out, err = _run(capsys, seeded, "--since", since, "--until", until, "-o", str(md_file))
    assert code == 0 and out == "" and "wrote" in err
    total = sum(_expected_by_kind(seeded, since, until).values())
    markdown = md_file.read_text(encoding="utf-8")
    assert markdown.startswith("# Inbox report:")
    assert f"**{total:,} mentions**" in markdown
    code, _, _ = _run(
        capsys, seeded, "--since", since, "--until", until, "-f", "csv", "--out", str(csv_file)
    )
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8"))))
    kind_rows = [r for r in rows if r["section"] == "volume" and r["group"] == "kind"]
    assert sum(int(r["value"]) for r in kind_rows if r["metric"] == "mentions") == total


def test_query_narrows_the_report(seeded: Database, capsys: pytest.CaptureFixture[str]) -> None:
    since, until = _window()
    code, out, _ = _run(
        capsys, seeded, "--since", since, "--until", until, "-q", "kind:github", "-f", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert list(data["volume"]["by_kind"]) == ["github"]
    assert data["query"] == "kind:github"


def test_mistakes_are_one_clear_line(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, sqlite_db, "--since", "yesterday")
    assert code == 2 and "not a time: 'yesterday'" in err
    code, _, err = _run(capsys, sqlite_db, "-q", "kind:")
    assert code == 2 and "missing value after 'kind:'" in err
    code, _, err = _run(capsys, sqlite_db, "--since", "2026-11-02", "--until", "2026-11-01")
    assert code == 2 and "is not before" in err
    code, _, err = _run(capsys, sqlite_db, "-o", "/nonexistent/dir/r.md")
    assert code == 2 and "cannot write /nonexistent/dir/r.md" in err
    with pytest.raises(SystemExit) as exc:
        main(["--db", sqlite_db.url, "report", "--topic", "no-equals-sign"])
    assert exc.value.code == 2
    assert "not a topic: 'no-equals-sign'" in capsys.readouterr().err
