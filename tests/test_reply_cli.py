"""`inboxtui template|reply|outbox`: as scripts use them, against a real local HTTP server."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxtui import cli, services
from inboxtui.db import open_database
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import Note, Source

TEMPLATES = """
[[template]]
name = "refund"
shortcut = "rf"
tags = ["refund"]
status = "pending"
body = "Hi {author.name}, about {topic}: we are on it."

[template.variants]
zh-Hant = "{author.name} 您好，關於{topic}：處理中。"
"""




@pytest.fixture
def dbfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("INBOXTUI_DB", str(path))
    monkeypatch.setenv("INBOXTUI_SECRET_ACME_MASTO", "token-1")
    return path


def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        code = cli.main(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def add_conversation(
    dbfile: Path, *, kind: str = "mastodon", source: str = "acme-masto", url: str | None = None
) -> int:
    database = open_database(str(dbfile))
    record = {
        "kind": kind,
        "source": source,
        "external_id": "1001",
        "created_at": "2026-11-20T10:00:00Z",
        "text": "my order never arrived",
        "author": {"handle": "@grace", "name": "Grace"},
        "lang": "zh-TW",
    }
    ingest(database, [parse_record(record)])
    with database.write() as session:
        row = session.execute(select(Source).where(Source.name == source)).scalar_one()
        row.url = url
    database.dispose()
    return 1


def test_template_import_list_export_render(dbfile: Path, tmp_path: Path) -> None:
    conv = add_conversation(dbfile)
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATES, encoding="utf-8")
    assert run("template", "import", str(path)) == (0, "1 created, 0 updated, 0 unchanged\n", "")
    code, out, _ = run("template", "import", "-", stdin=TEMPLATES)
    assert (code, out) == (0, "0 created, 0 updated, 1 unchanged\n")

    code, out, _ = run("template", "list")
    assert code == 0 and "refund" in out and "default,zh-Hant" in out and "pending,refund" in out
    code, out, _ = run("template", "list", "--json")
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert listed["fields"] == ["topic"] and listed["usage_count"] == 0

    exported = tmp_path / "out.toml"
    assert run("template", "export", "--out", str(exported))[0] == 0
    assert "[template.variants]" in exported.read_text(encoding="utf-8")

    code, out, err = run("template", "render", "rf", "-c", str(conv), "--field", "topic=退款")
    assert code == 0 and out == "Grace 您好，關於退款：處理中。\n"
    assert "variant zh-Hant" in err and "/500 characters on mastodon" in err
    code, _, err = run("template", "render", "refund", "-c", str(conv))
    assert code == 2 and "needs field(s) topic: pass --field topic=..." in err


def test_template_import_errors_name_file_entry_and_position(dbfile: Path, tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[template]]\nname = 'x'\nbody = 'Hi {author.mail}'\n", encoding="utf-8")
    code, _, err = run("template", "import", str(path))
    assert code == 2
    assert f"{path}: [[template]] #1 ('x'): template 'x', variant default, line 1 column 4" in err
    assert run("template", "list")[1].startswith("no templates yet")


def test_reply_queue_send_list(dbfile: Path, tmp_path: Path, http_server) -> None:
    http_server.add(
        "/api/v1/statuses", method="POST", json={"id": "9", "url": "https://x.social/@acme/9"}
    )
    conv = add_conversation(dbfile, url=http_server.url)
    run("template", "import", "-", stdin=TEMPLATES)
    code, out, err = run(
        "reply", str(conv), "--template", "refund", "--field", "topic=orders", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == {"outbox_id": 1, "conversation": conv, "state": "queued"}
    assert http_server.requests == []  # queued only

    code, out, _ = run("outbox", "list", "--json")
    (item,) = [json.loads(line) for line in out.splitlines()]
    assert item["state"] == "queued" and item["body"].startswith("Grace 您好")

    code, out, _ = run("outbox", "send")
    assert code == 0 and "outbox 1: sent https://x.social/@acme/9" in out
    assert run("outbox", "send") == (0, "nothing to send\n", "")
    code, out, _ = run("outbox", "list")
    assert "sent" in out and "https://x.social/@acme/9" in out
    code, out, _ = run("show", str(conv), "--json")
    assert code == 0 and json.loads(out)["status"] == "pending"


def test_failed_send_exit_code_then_retry_and_cancel(dbfile: Path, http_server) -> None:
    http_server.add("/api/v1/statuses", method="POST", status=422, json={"error": "no"})
    conv = add_conversation(dbfile, url=http_server.url)
    code, out, err = run("reply", str(conv), "--text", "hello", "--send")
    assert code == 1 and "queued" in out and "outbox 1: failed:" in err and "422" in err
    code, out, _ = run("outbox", "list", "--state", "failed", "--json")
    assert json.loads(out)["last_error"].endswith("request refused (422)")
    assert run("outbox", "retry", "1") == (0, "outbox reply 1 queued again\n", "")
    assert run("outbox", "cancel", "1") == (0, "outbox reply 1 cancelled\n", "")
    code, _, err = run("outbox", "cancel", "1")
    assert code == 2 and "is cancelled: only failed or queued" in err
    code, _, err = run("outbox", "retry", "42")
    assert code == 2 and "no outbox reply 42" in err


def test_notes_external_replies_and_mistakes(dbfile: Path) -> None:
    conv = add_conversation(dbfile, kind="rss", source="news")
    code, _, err = run("reply", str(conv), "--text", "hello")
    assert code == 2 and "has no reply API" in err and "--external" in err
    code, out, _ = run("reply", str(conv), "--text", "answered in the comments", "--external")
    assert (code, out) == (0, f"#{conv} replied externally\n")
    code, out, _ = run("reply", str(conv), "--text", "VIP", "--note")
    assert code == 0 and "note added" in out
    database = open_database(str(dbfile))
    with database.read() as session:
        assert session.execute(select(Note.body)).scalar_one() == "VIP"
    database.dispose()
    code, _, err = run("reply", str(conv), "--text", "x", "--field", "oops")
    assert code == 2 and "--field 'oops': write NAME=VALUE" in err
    code, _, err = run("reply", str(conv), "--text", "x", "--note", "--external")
    assert code == 2 and "exclude each other" in err
    code, _, err = run("reply", "999", "--text", "x")
    assert code == 2 and "no conversation #999" in err


def test_the_installed_command_has_the_subcommands(dbfile: Path) -> None:
    exe = Path(sys.executable).with_name("inboxtui")
    result = subprocess.run(
        [str(exe), "outbox", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "INBOXTUI_DB": str(dbfile)},
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout == "the outbox is empty\n", result.stderr


def test_approve_and_reject_from_the_command_line(dbfile: Path) -> None:
    conv = add_conversation(dbfile)
    assert run("role", "add", "pr")[0] == 0
    run("template", "import", "-", stdin=TEMPLATES.replace('status = "pending"',
        'status = "pending"\nrequires_approval = true'))  # fmt: skip
    code, out, _ = run("reply", str(conv), "-t", "refund", "--field", "topic=x")
    assert code == 0 and "submitted for approval (outbox 1)" in out
    code, out, _ = run("outbox", "list", "--state", "awaiting_approval", "--json")
    assert json.loads(out)["id"] == 1
    code, out, _ = run("list", "--query", "is:awaiting-approval", "--json")
    assert json.loads(out)["id"] == conv
    code, _, err = run("outbox", "approve", "1")
    assert code == 2 and "tester cannot review replies" in err
    database = open_database(str(dbfile))
    services.create_agent(database, "pat", roles=["pr"], actor="admin")
    database.dispose()
    assert run("--as", "pat", "outbox", "approve", "1", "--text", "edited") == (
        0,
        "outbox reply 1 approved and queued\n",
        "",
    )
    run("reply", str(conv), "-t", "refund", "--field", "topic=y")
    code, out, _ = run("--as", "pat", "outbox", "reject", "2", "-m", "not now")
    assert (code, out) == (0, "outbox reply 2 rejected\n")
    code, out, _ = run("outbox", "list", "--json")
    states = {item["id"]: item["state"] for item in map(json.loads, out.splitlines())}
    assert states == {1: "queued", 2: "rejected"}


def test_the_state_choices_are_the_models() -> None:
    from inboxtui.cli_reply import OUTBOX_STATES
    from inboxtui.models import OutboxState

    assert tuple(state.value for state in OutboxState) == OUTBOX_STATES


def test_outbox_send_every_runs_until_terminated(dbfile: Path, http_server) -> None:
    http_server.add(
        "/api/v1/statuses", method="POST", json={"id": "9", "url": "https://x.social/@acme/9"}
    )
    conv = add_conversation(dbfile, url=http_server.url)
    exe = Path(sys.executable).with_name("inboxtui")
    daemon = subprocess.Popen(
        [str(exe), "outbox", "send", "--every", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "INBOXTUI_DB": str(dbfile)},
    )
    try:
        assert run("reply", str(conv), "--text", "queued while the daemon runs")[0] == 0
        deadline = time.monotonic() + 60
        while not http_server.requests_to("/api/v1/statuses"):
            assert daemon.poll() is None and time.monotonic() < deadline, daemon.stderr
            time.sleep(0.1)
        deadline = time.monotonic() + 60
        while json.loads(run("outbox", "list", "--json")[1])["state"] != "sent":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    assert out == "outbox 1: sent https://x.social/@acme/9\n"
    assert run("outbox", "send", "--every", "0")[0] == 2
