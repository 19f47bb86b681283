"""Managing sources and secrets, as services and through the CLI; no secret ever leaks."""

from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from polling_support import FeedServer, FileKeyring, Reply, Request, installed_keyring
from polling_support import headless_keyring as _headless
from sqlalchemy import func, select, text

from inboxtui import cli, cli_sources, secrets, sources_admin
from inboxtui.db import Database
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import Event, Mention, Source
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.sources.base import make_client

# ---------------------------------------------------------------- fixtures


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[FileKeyring]:
    with installed_keyring(FileKeyring(tmp_path / "keyring.json")) as backend:
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with installed_keyring(_headless()):
        yield


@pytest.fixture
def run_cli(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> object:
    """`inboxtui --db <db> ARGS...` in-process -> (exit code, stdout, stderr).

    Registers this module's subcommands if `cli.build_parser` does not yet.
    """
    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "source" not in sub.choices:
            cli_sources.register(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["--db", db.url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def events(db: Database, prefix: str = "source.") -> list[Event]:
    with db.read() as session:
        return list(
            session.execute(
                select(Event).where(Event.action.startswith(prefix)).order_by(Event.id)
            ).scalars()
        )


def count_mentions(db: Database) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(Mention)).scalar_one()


def row(db: Database, name: str) -> Source:
    with db.read() as session:
        return session.execute(select(Source).where(Source.name == name)).scalar_one()


# ---------------------------------------------------------------- validation


def test_add_validates_kind_name_options_and_interval(db: Database) -> None:
    add = sources_admin.add_source
    with pytest.raises(ServiceError, match=r"unknown source kind 'gopher'.*rss"):
        add(db, "gopher", "x", {}, actor="tester")
    with pytest.raises(ServiceError, match="bad source name"):
        add(db, "rss", "has space", {"url": "http://x.test/f"}, actor="tester")
    with pytest.raises(ServiceError, match=r"rss has no option 'colour'.*url"):
        add(db, "rss", "blog", {"url": "http://x.test/f", "colour": "red"}, actor="tester")
    with pytest.raises(ServiceError, match=r"looks like a secret.*--secret"):
        add(db, "rss", "blog", {"url": "http://x.test/f", "token": "abc"}, actor="tester")
    with pytest.raises(ServiceError, match="url"):
        add(db, "rss", "blog", {}, actor="tester")  # the adapter's own check: url is required
    with pytest.raises(ServiceError, match="not a duration"):
        add(db, "rss", "blog", {"url": "http://x.test/f"}, actor="tester", interval="soon")
    with pytest.raises(ServiceError, match="minimum is 30s"):
        add(db, "rss", "blog", {"url": "http://x.test/f"}, actor="tester", interval="5s")
    with pytest.raises(ServiceError, match="key=value"):
        sources_admin.parse_options(["novalue"])
    with pytest.raises(ServiceError, match="twice"):
        sources_admin.parse_options(["a=1", "a=2"])
    assert sources_admin.parse_options(["url=http://x.test/?a=b", "k= v "]) == {
        "url": "http://x.test/?a=b",
        "k": "v",
    }
    assert sources_admin.parse_interval("2h") == 7200
    assert sources_admin.parse_interval("90") == 90
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Source)).scalar_one() == 0


def test_add_stores_options_and_an_audit_event(db: Database) -> None:
    info = sources_admin.add_source(
        db, "rss", "acme-blog", {"url": "http://x.test/feed"}, actor="alice", interval="10m"
    )
    assert (info.kind, info.interval_seconds, info.health) == ("rss", 600, "new")
    assert info.secret_ref is None and info.enabled
    stored = row(db, "acme-blog")
    assert json.loads(stored.config) == {"url": "http://x.test/feed"}
    assert stored.url == "http://x.test/feed" and stored.next_poll_at is None
    [event] = events(db)
    assert (event.actor, event.action, event.conversation_id) == ("alice", "source.add", None)
    assert json.loads(event.after)["options"] == {"url": "http://x.test/feed"}
    with pytest.raises(ServiceError, match="already exists"):
        sources_admin.add_source(db, "rss", "acme-blog", {"url": "http://y.test"}, actor="a")


def test_add_with_a_secret_keeps_only_a_reference(db: Database, file_keyring: FileKeyring) -> None:
    token = "tok-ADD-0123456789"
    info = sources_admin.add_source(
        db,
        "mastodon",
        "acme-social",
        {"url": "https://social.test", "listen": "mentions"},
        actor="alice",
        secret=token,
    )
    assert info.secret_ref == "acme-social"
    assert secrets.get_secret("acme-social") == token
    assert token in file_keyring.path.read_text()
    assert token not in json.dumps([e.after for e in events(db)])
    assert token not in row(db, "acme-social").config


def test_add_with_a_secret_on_a_headless_host_fails_before_writing(
    db: Database, no_keyring: None
) -> None:
    with pytest.raises(secrets.SecretError) as caught:
        sources_admin.add_source(
            db, "mastodon", "acme-social", {"url": "https://social.test"}, actor="a", secret="t0k3n"
        )
    assert "INBOXTUI_SECRET_ACME_SOCIAL" in str(caught.value)
    assert "t0k3n" not in str(caught.value)
    with pytest.raises(NotFound):
        sources_admin.get_source(db, "acme-social")


def test_a_source_known_from_imports_is_taken_over(db: Database) -> None:
    record = {
        "kind": "rss",
        "source": "news",
        "external_id": "urn:1",
        "created_at": "2026-11-20T10:00:00Z",
        "text": "Acme in the news",
        "author": {"handle": "reporter"},
    }
    ingest(db, [parse_record(record)])
    assert sources_admin.get_source(db, "news").health == "imported"
    with pytest.raises(ServiceError, match="imported mentions only"):
        sources_admin.set_enabled(db, "news", True, actor="a")
    with pytest.raises(ServiceError, match="already exists"):  # another kind: no
        sources_admin.add_source(db, "hackernews", "news", {"query": "acme"}, actor="a")
    info = sources_admin.add_source(db, "rss", "news", {"url": "http://x.test/f"}, actor="a")
    assert info.polled and info.mentions == 1 and info.health == "new"


# ---------------------------------------------------------------- listing and state


def test_list_shows_health_counts_and_state_changes_are_audited(db: Database) -> None:
    for name in ("a-ok", "b-failing", "c-off"):
        sources_admin.add_source(db, "rss", name, {"url": f"http://x.test/{name}"}, actor="al")
    with db.write() as session:
        session.execute(text("UPDATE source SET last_success_at = created_at WHERE name = 'a-ok'"))
        session.execute(
            text(
                "UPDATE source SET consecutive_failures = 2, last_error = 'boom' "
                "WHERE name = 'b-failing'"
            )
        )
    assert sources_admin.set_enabled(db, "c-off", False, actor="bo") is True
    assert sources_admin.set_enabled(db, "c-off", False, actor="bo") is False
    infos = {i.name: i for i in sources_admin.list_sources(db)}
    assert [i for i in infos] == ["a-ok", "b-failing", "c-off"]
    assert [i.health for i in infos.values()] == ["ok", "failing", "disabled"]
    assert infos["b-failing"].last_error == "boom"

    with db.write() as session:
        session.execute(text("UPDATE source SET next_poll_at = created_at WHERE name = 'c-off'"))
    assert sources_admin.set_enabled(db, "c-off", True, actor="bo") is True
    assert row(db, "c-off").next_poll_at is None  # enabling makes it due at once
    assert sources_admin.set_interval(db, "c-off", "1h", actor="bo") is True
    assert row(db, "c-off").interval_seconds == 3600
    actions = [(e.actor, e.action) for e in events(db)][-3:]
    assert actions == [("bo", "source.disable"), ("bo", "source.enable"), ("bo", "source.interval")]
    with pytest.raises(NotFound, match="nosuch"):
        sources_admin.set_enabled(db, "nosuch", True, actor="bo")


def test_remove_refuses_a_source_with_mentions_and_deletes_its_secret(
    db: Database, file_keyring: FileKeyring
) -> None:
    sources_admin.add_source(
        db, "mastodon", "empty", {"url": "https://s.test"}, actor="a", secret="tok-rm-123"
    )
    sources_admin.remove_source(db, "empty", actor="a")
    assert secrets.get_secret("empty") is None
    assert events(db)[-1].action == "source.remove"

    sources_admin.add_source(db, "rss", "full", {"url": "http://x.test/f"}, actor="a")
    record = {
        "kind": "rss",
        "source": "full",
        "external_id": "urn:1",
        "created_at": "2026-11-20T10:00:00Z",
        "text": "kept",
        "author": {"handle": "w"},
    }
    ingest(db, [parse_record(record)])
    with pytest.raises(ServiceError, match=r"1 mention.*source disable full"):
        sources_admin.remove_source(db, "full", actor="a")
    assert count_mentions(db) == 1


async def test_dry_run_reports_new_and_known_and_stores_nothing(
    db: Database, server: FeedServer
) -> None:
    from inboxtui.polling import poll_source

    feed, url = server.feed("dry", 3)
    sources_admin.add_source(db, "rss", "dry", {"url": url}, actor="a")
    async with make_client(timeout=httpx.Timeout(10.0)) as client:
        report = await sources_admin.dry_run(db, "dry", client=client)
        assert (len(report.records), len(report.new_ids), report.known_ids) == (3, 3, [])
        assert count_mentions(db) == 0 and row(db, "dry").cursor is None
        await poll_source(db, "dry", client=client, owner="t")
        feed.add(1)
        report = await sources_admin.dry_run(db, "dry", client=client)
        assert report.new_ids == [feed.item_id(4)] and report.known_ids == []
        report = await sources_admin.dry_run(db, "dry", client=client, from_start=True)
        assert len(report.new_ids) == 1 and len(report.known_ids) == 3
    assert count_mentions(db) == 3


# ---------------------------------------------------------------- the CLI


def test_cli_source_lifecycle_and_poll_once(run_cli, db: Database, server: FeedServer) -> None:
    feed, url = server.feed("blog", 3)
    code, out, err = run_cli(
        "source", "add", "rss", "blog", "-o", f"url={url}", "--interval", "10m"
    )
    assert code == 0, err
    assert "source blog added: rss" in out and "every 10m" in out

    code, out, _ = run_cli("source", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (listed["name"], listed["health"], listed["interval_seconds"]) == ("blog", "new", 600)

    code, out, _ = run_cli("source", "test", "blog")
    assert code == 0 and "3 fetched, 3 new, 0 already stored" in out
    assert "new   2026-11-01T00:03:00Z" in out and count_mentions(db) == 0

    code, out, _ = run_cli("source", "test", "blog", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["new"] for r in records] == [True] * 3 and "raw" not in records[0]

    code, out, err = run_cli("poll", "--once")
    assert (code, out.strip()) == (0, "blog: 3 new, 0 already known"), err
    code, out, err = run_cli("poll", "--once")
    assert code == 0 and out == "" and "no source is due" in err
    feed.add(2)
    code, out, _ = run_cli("poll", "--once", "--source", "blog")
    assert out.strip() == "blog: 2 new, 0 already known"

    code, out, _ = run_cli("source", "list")
    assert "blog" in out and "ok" in out and "10m" in out
    code, out, _ = run_cli("source", "disable", "blog")
    assert out.strip() == "source blog disabled"
    code, out, _ = run_cli("source", "enable", "blog")
    assert out.strip() == "source blog enabled"
    code, out, err = run_cli("source", "remove", "blog")
    assert code == cli.EXIT_USAGE and "Disable it instead" in err
    code, _, err = run_cli("source", "add", "gopher", "x")
    assert code == cli.EXIT_USAGE and "unknown source kind" in err
    code, _, err = run_cli("poll", "--once", "--source", "nosuch")
    assert code == cli.EXIT_USAGE and "no source 'nosuch'" in err
    assert count_mentions(db) == 5


def test_cli_poll_once_exits_non_zero_when_a_source_fails(
    run_cli, db: Database, server: FeedServer
) -> None:
    feed, url = server.feed("down", 1)
    feed.fail_with = Reply(503, {}, b"maintenance")
    run_cli("source", "add", "rss", "down", "-o", f"url={url}")
    code, out, _ = run_cli("poll", "--once")
    assert code == cli.EXIT_FAILURE and "down: failed" in out and "503" in out
    code, out, _ = run_cli("source", "list", "--json")
    listed = json.loads(out)
    assert listed["health"] == "failing" and listed["consecutive_failures"] == 1


def test_cli_secret_set_prompts_and_delete(
    run_cli, db: Database, file_keyring: FileKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return "tok-prompted-123"

    monkeypatch.setattr(cli_sources.getpass, "getpass", fake_getpass)
    run_cli("source", "add", "rss", "feedy", "-o", "url=http://x.test/f")
    code, out, err = run_cli("secret", "set", "feedy")
    assert code == 0, err
    assert prompts == ["secret for feedy (not echoed): "]
    assert "stored in the keyring" in out and "source feedy now uses it" in out
    assert secrets.get_secret("feedy") == "tok-prompted-123"
    assert row(db, "feedy").secret_ref == "feedy"
    assert "tok-prompted-123" not in out + err

    code, out, _ = run_cli("secret", "set", "other", "--stdin", stdin="tok-piped-456\n")
    assert code == 0 and secrets.get_secret("other") == "tok-piped-456"
    code, _, err = run_cli("secret", "set", "empty", "--stdin", stdin="\n")
    assert code == cli.EXIT_USAGE and "empty secret" in err

    code, out, _ = run_cli("secret", "delete", "feedy")
    assert "deleted" in out and "1 source(s) no longer refer to it" in out
    assert secrets.get_secret("feedy") is None and row(db, "feedy").secret_ref is None


def test_cli_secret_set_on_a_headless_host_names_the_variable(run_cli, no_keyring: None) -> None:
    code, _, err = run_cli("secret", "set", "acme-social", "--stdin", stdin="tok-hl-789\n")
    assert code == cli.EXIT_USAGE
    assert "no keyring backend" in err and "INBOXTUI_SECRET_ACME_SOCIAL" in err
    assert "tok-hl-789" not in err


# ---------------------------------------------------------------- no secret anywhere

TOKEN = "tok-LEAK-5f3a9c0e1d7b"


def _echoing_mastodon(mode: list[str]):
    """A Mastodon that reflects the bearer token back: in a 401, an error page, a post."""

    def handle(request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        if mode[0] == "401":
            return Reply(
                401,
                {"Content-Type": "application/json"},
                json.dumps({"error": f"The access token is invalid: {auth}"}).encode(),
            )
        if mode[0] == "html":
            return Reply(200, {"Content-Type": "text/html"}, f"<p>{auth}</p>".encode())
        status = {
            "id": "1001",
            "created_at": "2026-11-20T10:00:00.000Z",
            "url": "https://social.test/@eve/1001",
            "content": f"<p>I found a token: {auth}</p>",
            "account": {"acct": "eve", "display_name": "Eve", "followers_count": 3},
            "language": "en",
            "in_reply_to_id": None,
        }
        notification = {"id": "9001", "type": "mention", "status": status}
        return Reply(200, {"Content-Type": "application/json"}, json.dumps([notification]).encode())

    return handle


def test_no_secret_in_database_output_logs_or_exports(
    run_cli,
    db: Database,
    server: FeedServer,
    file_keyring: FileKeyring,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    mode = ["401"]
    server.route("/api/v1/notifications", _echoing_mastodon(mode))
    monkeypatch.setattr(cli_sources.getpass, "getpass", lambda prompt: TOKEN)
    seen = []
    code, out, err = run_cli(
        "source", "add", "mastodon", "acme-social", "-o", f"url={server.url}", "--secret"
    )
    seen.append(out + err)
    assert code == 0, err
    for current in ("401", "html", "post"):
        mode[0] = current
        seen.append("".join(run_cli("poll", "--once", "--source", "acme-social")[1:]))
        seen.append("".join(run_cli("source", "test", "acme-social", "--from-start")[1:]))
        seen.append("".join(run_cli("source", "list", "--json")[1:]))
        seen.append("".join(run_cli("source", "list")[1:]))
    assert "not authorised (401)" in seen[1]
    assert "not JSON" in seen[5] and secrets.MASK in seen[5]
    assert "1 new" in seen[9]  # the post was stored, with the token masked
    export = tmp_path / "export.jsonl"
    seen.append("".join(run_cli("export", "--out", str(export))[1:]))
    seen.append(export.read_text())
    seen.append(caplog.text)
    for text_seen in seen:
        assert TOKEN not in text_seen
    assert TOKEN in file_keyring.path.read_text()  # it is where it belongs

    # the database itself: every byte of the SQLite files, or every row on PostgreSQL
    if db.dialect == "sqlite":
        db.dispose()
        path = Path(db.engine.url.database)
        for candidate in (path, path.with_name(path.name + "-wal")):
            if candidate.exists():
                assert TOKEN.encode() not in candidate.read_bytes()
    else:
        with db.read() as session:
            for table in ("source", "mention", "event", "author", "conversation"):
                dump = session.execute(text(f"SELECT CAST(t.* AS text) FROM {table} t")).all()
                assert TOKEN not in repr(dump)
    with db.read() as session:
        [stored] = session.execute(select(Mention.text)).scalars().all()
    assert secrets.MASK in stored


def test_add_uses_a_secret_stored_beforehand(
    run_cli, db: Database, file_keyring: FileKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_cli("secret", "set", "first", "--stdin", stdin="tok-first-123\n")
    assert code == 0, err
    code, _, err = run_cli("source", "add", "mastodon", "first", "-o", "url=https://s.test")
    assert code == 0, err
    assert row(db, "first").secret_ref == "first"
    # from the environment: no reference is stored, the variable is read at each poll
    monkeypatch.setenv("INBOXTUI_SECRET_FROM_ENV", "tok-env-456")
    code, _, err = run_cli("source", "add", "mastodon", "from-env", "-o", "url=https://s.test")
    assert code == 0, err
    assert row(db, "from-env").secret_ref is None


DAEMON = """
import argparse, sys
from inboxtui import cli, cli_sources

original = cli.build_parser

def build():
    parser = original()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "source" not in sub.choices:
        cli_sources.register(sub)
    return parser

cli.build_parser = build
sys.exit(cli.main(sys.argv[1:]))
"""


def test_poll_daemon_polls_and_stops_cleanly_on_sigterm(
    db: Database, server: FeedServer, tmp_path: Path
) -> None:
    _feed, url = server.feed("daemon", 4)
    sources_admin.add_source(db, "rss", "daemon", {"url": url}, actor="a")
    script = tmp_path / "inboxtui_cli.py"
    script.write_text(DAEMON)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--db", db.url, "poll", "--tick", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):  # wait (up to a minute) for the first poll to land
            if count_mentions(db) == 4 or proc.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert count_mentions(db) == 4
    assert "polling" in err and "daemon: 4 new" in err
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM source_lease")).scalar_one() == 0
