"""The real `inboxtui` executable, as scripts use it: exit codes, stdout JSON, stderr errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("inboxtui")


def run(
    *args: str, db: Path, stdin: str | None = None, agent: str = "tester"
) -> subprocess.CompletedProcess:
    env = {**os.environ, "INBOXTUI_DB": str(db), "INBOXTUI_AGENT": agent}
    return subprocess.run(
        [str(EXE), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
    )


def _line(external_id: str, text: str, **extra: object) -> str:
    record = {
        "kind": "reddit",
        "source": "r/acme",
        "external_id": external_id,
        "created_at": "2026-11-20T10:00:00Z",
        "text": text,
        "author": {"handle": "u/jeff", "name": "Jeff", "followers": 120},
        **extra,
    }
    return json.dumps(record, ensure_ascii=False)


@pytest.fixture
def dbfile(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def seeded(dbfile: Path) -> Path:
    lines = [
        _line("t1", "I want a refund, this is a scam"),
        _line("t2", "我要退款，客服不回覆"),
        _line("t3", "Love the new release", lang="en"),
        _line("t3r", "Agreed, great work", in_reply_to="t3"),
    ]
    result = run("import", "-", db=dbfile, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert "4 imported" in result.stdout
    return dbfile


def _list(db: Path, query: str = "") -> list[dict]:
    result = run("list", "--json", "--query", query, db=db)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _id_of(db: Path, query: str) -> int:
    rows = _list(db, query)
    assert len(rows) == 1, rows
    return rows[0]["id"]


def test_import_is_idempotent_and_reports_bad_lines(seeded: Path) -> None:
    again = run(
        "import", "-", db=seeded, stdin=_line("t1", "I want a refund, this is a scam") + "\n"
    )
    assert again.returncode == 0
    assert "0 imported, 1 already known" in again.stdout
    bad = "\n".join([_line("t9", "fine"), '{"kind": "reddit", "source": "r/acme"', "{}"]) + "\n"
    result = run("import", "-", db=seeded, stdin=bad)
    assert result.returncode == 1
    assert "1 imported" in result.stdout
    assert "-:2:" in result.stderr and "-:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_json_has_script_fields(seeded: Path) -> None:
    rows = _list(seeded)
    assert len(rows) == 3  # t3 and its reply are one conversation
    for key in (
        "id",
        "status",
        "priority",
        "role",
        "assignee",
        "escalated",
        "source",
        "author",
        "latest_text",
        "mention_count",
        "version",
    ):
        assert any(key in row or key == "author" for row in rows), key
    thread = next(r for r in rows if r["mention_count"] == 2)
    assert thread["latest_text"] == "Agreed, great work"


def test_full_text_in_chinese_and_english(seeded: Path) -> None:
    assert _list(seeded, "退款")[0]["latest_text"].startswith("我要退款")
    assert len(_list(seeded, "refund")) == 1
    assert len(_list(seeded, "refund OR 退款")) == 2


def test_triage_commands_are_audited(seeded: Path) -> None:
    cid = _id_of(seeded, "refund")
    refused = run("assign", str(cid), "--role", "support", db=seeded)
    assert refused.returncode == 2  # no such role yet
    assert "support" in refused.stderr and "Traceback" not in refused.stderr
    assert run("role", "add", "support", db=seeded).returncode == 0
    assert "support" in run("role", "list", db=seeded).stdout
    assert run("assign", str(cid), "--role", "support", db=seeded).returncode == 0
    escalated = run("escalate", str(cid), "--severity", "2", "--reason", "scam claim", db=seeded)
    assert escalated.returncode == 0, escalated.stderr
    assert run("tag", str(cid), "billing", db=seeded).returncode == 0
    assert run("note", str(cid), "called the customer", db=seeded).returncode == 0
    assert run("status", str(cid), "snoozed", "--until", "3h", db=seeded).returncode == 0
    shown = json.loads(run("show", str(cid), "--json", db=seeded).stdout)
    assert shown["escalated"] is True and shown["severity"] == 2
    assert shown["tags"] == ["billing"]
    assert shown["status"] == "snoozed"
    assert shown["role"] == "support"
    assert [n["body"] for n in shown["notes"]] == ["called the customer"]
    actions = [e["action"] for e in shown["events"]]
    assert len(actions) == 5
    assert all(e["actor"] == "tester" for e in shown["events"])
    assert len(_list(seeded, "is:escalated tag:billing")) == 1


def test_stale_version_is_refused(seeded: Path) -> None:
    cid = _id_of(seeded, "refund")
    version = _list(seeded, "refund")[0]["version"]
    assert run("priority", str(cid), "high", db=seeded, agent="alice").returncode == 0
    stale = run("priority", str(cid), "urgent", "--expect-version", str(version), db=seeded)
    assert stale.returncode == 2
    assert "alice" in stale.stderr
    assert _list(seeded, "refund")[0]["priority"] == "high"


def test_bulk_by_query(seeded: Path) -> None:
    result = run("tag", "urgent-review", "--query", "refund OR 退款", db=seeded)
    assert result.returncode == 0, result.stderr
    assert "2 matched, 2 changed" in result.stdout
    assert len(_list(seeded, "tag:urgent-review")) == 2


def test_bad_query_points_at_the_token(seeded: Path) -> None:
    result = run("list", "--query", "is:open stauts:x", db=seeded)
    assert result.returncode == 2
    assert "^" in result.stderr and "stauts" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_conversation(seeded: Path) -> None:
    result = run("show", "999", db=seeded)
    assert result.returncode == 2
    assert "999" in result.stderr


def test_export_round_trip(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert run("export", "--out", str(out), db=seeded).returncode == 0
    other = tmp_path / "other.db"
    assert run("import", str(out), db=other).returncode == 0
    out2 = tmp_path / "out2.jsonl"
    assert run("export", "--out", str(out2), db=other).returncode == 0
    assert out.read_text(encoding="utf-8") == out2.read_text(encoding="utf-8")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    csv_out = run("export", "--format", "csv", "--query", "退款", db=seeded)
    assert csv_out.returncode == 0
    assert "我要退款" in csv_out.stdout


def test_seed_and_db_upgrade(dbfile: Path) -> None:
    result = run("seed", "--demo", "300", db=dbfile)
    assert result.returncode == 0, result.stderr
    assert "seeded 300" in result.stdout
    assert run("db", "upgrade", db=dbfile).returncode == 0
    rows = _list(dbfile, "lang:zh")
    assert rows


def test_database_that_cannot_open(tmp_path: Path) -> None:
    result = run("list", db=tmp_path / "no-such-dir-file" / "x" / ".." / "..")
    assert result.returncode == 2
    assert "cannot open database" in result.stderr
