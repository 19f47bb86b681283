"""`inboxtui sentiment`: scoring text and files for scripts, re-scoring and counting corrections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from inboxtui.cli import main
from inboxtui.db import open_database
from inboxtui.ingest import ingest, parse_record
from inboxtui.services.sentiment_labels import correct_label

EXE = Path(sys.executable).with_name("inboxtui")


def test_text_scores_with_the_real_executable(tmp_path: Path) -> None:
    env = {**os.environ, "INBOXTUI_DB": str(tmp_path / "unused.db")}
    done = subprocess.run(
        [str(EXE), "sentiment", "--json", "我要退款，根本是詐騙"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["label"] == "negative" and result["language"] == "zh-Hant"
    assert -1.0 <= result["score"] < -0.5
    assert not (tmp_path / "unused.db").exists()  # scoring text needs no database


def test_text_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sentiment", "Great,", "another", "outage"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("negative") and out.rstrip().endswith("en")


def test_file_json_one_object_per_line_bad_lines_named_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"text": "Thank you, problem solved!"}),
                "{not json",
                json.dumps("服務很差，要投訴"),
                "",
                json.dumps({"text": 42}),
                json.dumps({"text": "很好", "lang": "zh-TW"}),
                json.dumps([1, 2]),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["sentiment", "--file", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    results = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["line"], r["label"], r["language"]) for r in results] == [
        (1, "positive", "en"),
        (3, "negative", "zh-Hant"),
        (6, "positive", "zh-Hant"),
    ]
    assert all(set(r) == {"score", "label", "language", "line"} for r in results)
    assert f"{path}:2: not JSON" in captured.err
    assert f"{path}:5: field 'text' must be a string" in captured.err
    assert f"{path}:7: expected an object with 'text'" in captured.err
    assert "3 bad line(s) skipped" in captured.err


def test_file_errors_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sentiment", "--file", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    binary = tmp_path / "latin1.jsonl"
    binary.write_bytes(b'{"text": "caf\xe9"}\n')
    assert main(["sentiment", "--file", str(binary)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["sentiment"]) == 2
    assert "give TEXT" in capsys.readouterr().err
    assert main(["sentiment", "hello", "--all"]) == 2


def test_rescore_and_corrections_on_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dbfile = tmp_path / "store.db"
    database = open_database(str(dbfile))
    record = {
        "kind": "reddit",
        "source": "r/acme",
        "created_at": "2026-11-20T10:00:00Z",
        "author": {"handle": "u/jeff"},
    }
    ingest(
        database,
        [
            parse_record({**record, "external_id": "a", "text": "worst support ever"}),
            parse_record({**record, "external_id": "b", "text": "thanks, all fixed"}),
        ],
    )
    with database.read() as session:
        conversation = session.execute(
            text("SELECT conversation_id FROM mention WHERE external_id = 'a'")
        ).scalar_one()
    correct_label(database, conversation, "neutral", actor="alice")
    with database.write() as session:
        session.execute(text("UPDATE mention SET sentiment = NULL"))

    assert main(["--db", str(dbfile), "sentiment", "--rescore"]) == 0
    assert "scored 2 unscored mentions" in capsys.readouterr().out
    with database.read() as session:
        labels = dict(
            session.execute(text("SELECT external_id, sentiment_label FROM mention")).all()
        )
    assert labels == {"a": "neutral", "b": "positive"}

    assert main(["--db", str(dbfile), "sentiment", "--corrections", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {
        "total": 1,
        "by_change": [{"from": "negative", "to": "neutral", "count": 1}],
        "by_agent": {"alice": 1},
    }
    assert main(["--db", str(dbfile), "sentiment", "--corrections", "--since", "1h"]) == 0
    assert "1 label correction(s)" in capsys.readouterr().out
    assert main(["--db", str(dbfile), "sentiment", "--corrections", "--since", "soon"]) == 2
    database.dispose()
