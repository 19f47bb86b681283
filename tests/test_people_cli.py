"""`inboxtui person ...`: every subcommand, JSON output, and errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from people_support import build_people_world

from inboxtui import cli
from inboxtui.db import Database

ADA_M = "mastodon:@ada@hachyderm.io"
ADA_B = "bluesky:ada.bsky.social"


def test_person_commands(sqlite_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_people_world(sqlite_db)
    base = ["--db", sqlite_db.display_name, "--as", "alice", "person"]
    assert cli.main([*base, "link", ADA_M, ADA_B]) == 0
    assert cli.main([*base, "rename", ADA_B, "Ada Lovelace"]) == 0
    assert cli.main([*base, "tag", "ada lovelace", "Advocate", "vip"]) == 0
    assert cli.main([*base, "untag", "ada lovelace", "vip"]) == 0
    assert cli.main([*base, "note", "Ada Lovelace", "prefers DMs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"linked {ADA_B} to 'Ada L.'",
        "renamed 'Ada L.' to 'Ada Lovelace'",
        "tagged 'Ada Lovelace': advocate, vip",
        "untagged 'Ada Lovelace': advocate",
        "noted on 'Ada Lovelace'",
    ]
    assert cli.main([*base, "show", "@ada@hachyderm.io", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "Ada Lovelace" and shown["tags"] == ["advocate"]
    assert shown["reach"] == 2000 and shown["conversations_total"] == 4
    assert {i["author_id"] for i in shown["identities"]} == {
        world.authors[ADA_M],
        world.authors[ADA_B],
    }
    assert shown["notes"][0]["agent"] == "alice" and shown["notes"][0]["body"] == "prefers DMs"
    assert shown["last_contact"]["via"] == "person note"
    assert cli.main([*base, "show", "Ada Lovelace"]) == 0
    text = capsys.readouterr().out
    assert "Ada Lovelace" in text and "reach 2,000" in text and "prefers DMs" in text
    assert "(replied)" in text  # her reply in Bob's thread
    conversation = ["--db", sqlite_db.display_name, "show", str(world.conversations["b1"])]
    assert cli.main(conversation) == 0
    assert "person Ada Lovelace [advocate]" in capsys.readouterr().out
    assert cli.main([*base, "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["name"], p["tags"], p["accounts"]) for p in listed] == [
        ("Ada Lovelace", ["advocate"], [ADA_B, ADA_M])
    ]
    assert cli.main([*base, "list", "--tag", "detractor"]) == 0
    assert "no persons tagged 'detractor'" in capsys.readouterr().out
    assert cli.main([*base, "unlink", ADA_B]) == 0
    assert capsys.readouterr().out.strip() == f"unlinked {ADA_B} from 'Ada Lovelace'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nobody"], "no person or account 'nobody'"),
        (["tag", "u/bob", "big fan"], "a person tag is one word"),
        (["link", "u/bob", "ghost"], "no account 'ghost'"),
        (["unlink", "u/bob"], "is not linked"),
        (["note", "u/bob", "  "], "a note needs some text"),
    ],
)
def test_errors_are_one_line_without_traceback(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    build_people_world(sqlite_db)
    code = cli.main(["--db", sqlite_db.display_name, "--as", "alice", "person", *args])
    captured = capsys.readouterr()
    if message == "is not linked":  # a no-op is not an error
        assert code == 0 and message in captured.out
        return
    assert code == cli.EXIT_USAGE
    assert message in captured.err and "Traceback" not in captured.err


def test_hostile_names_print_inert(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    build_people_world(sqlite_db)
    base = ["--db", sqlite_db.display_name, "--as", "alice", "person"]
    assert cli.main([*base, "rename", "u/bob", "[bold]Bob\x1b[2J[/bold]"]) == 0
    assert cli.main([*base, "show", "[bold]bob[/bold]"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "[bold]Bob[/bold]" in out
