"""The outbox: stored before sending, sent once, retried, failed loudly; against real servers.

Adapters talk to real local HTTP servers: the scripted server of the source
tests, and mastodon-mock (stateful, with its own SQLite file so that it can be
stopped mid-send and restarted with its data) for the end-to-end run.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from inboxtui import outbox, services
from inboxtui.db import Database
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import (
    Conversation,
    Event,
    Incident,
    Note,
    OutboxReply,
    Role,
    Source,
    Template,
)
from inboxtui.outbox import OutboxWorker, claim, queue_reply
from inboxtui.query import matching_ids
from inboxtui.reply_limits import measure
from inboxtui.services.errors import NotFound, PermissionDenied, ServiceError
from inboxtui.sources.base import make_client
from inboxtui.templates import MissingFields, TemplateSpec, save_template
from inboxtui.timeutil import utcnow

BRAND = "ada_token"  # mastodon-mock's demo @ada plays the brand account
FAN = "grace_token"




@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """Patient: on a busy machine a failure here comes from the script, not from time."""
    client = make_client(timeout=httpx.Timeout(10.0))
    yield client
    await client.aclose()


@pytest.fixture
async def impatient_client() -> AsyncIterator[httpx.AsyncClient]:
    """Gives up after 0.5 s: a reply `delay` longer than that is a timeout."""
    client = make_client(timeout=httpx.Timeout(0.5))
    yield client
    await client.aclose()


def conversation(
    db: Database,
    *,
    kind: str = "mastodon",
    source: str = "acme-masto",
    url: str | None = None,
    external_id: str = "1001",
    lang: str | None = "en",
    options: dict[str, str] | None = None,
    root: str | None = None,
) -> int:
    record: dict[str, Any] = {
        "kind": kind,
        "source": source,
        "external_id": external_id,
        "created_at": "2026-11-20T10:00:00Z",
        "text": "@acme my order never arrived",
        "author": {"handle": "@grace", "name": "Grace"},
        "url": f"https://example.social/@grace/{external_id}",
        "lang": lang,
    }
    if root:
        record["in_reply_to"] = root
    ingest(db, [parse_record(record)])
    with db.write() as session:
        row = session.execute(select(Source).where(Source.name == source)).scalar_one()
        row.url = url
        row.config = json.dumps(options or {})
        return session.execute(
            select(Conversation.id).where(
                Conversation.source_id == row.id, Conversation.root_key == (root or external_id)
            )
        ).scalar_one()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ACME_MASTO", "ACME_GH", "ACME_FORUM"):
        monkeypatch.setenv(f"INBOXTUI_SECRET_{name}", BRAND)


def refund_template(db: Database, **extra: Any) -> None:
    spec = TemplateSpec(
        name="refund",
        body="Hi {author.name}, about {topic}: {agent.name} will DM you.",
        variants={"zh-Hant": "{author.name} 您好，關於{topic}：我們會私訊您。"},
        tags=["refund"],
        status="pending",
        **extra,
    )
    save_template(db, spec, actor="admin")


def row(db: Database, outbox_id: int) -> OutboxReply:
    with db.read() as session:
        found = session.get(OutboxReply, outbox_id)
        assert found is not None
        return found


def actions(db: Database, conversation_id: int) -> list[str]:
    with db.read() as session:
        return list(
            session.execute(
                select(Event.action)
                .where(Event.conversation_id == conversation_id)
                .order_by(Event.id)
            ).scalars()
        )


def later(minutes: float) -> datetime:
    return utcnow() + timedelta(minutes=minutes)


STATUS_JSON = {"id": "9001", "url": "https://example.social/@acme/9001"}


# -- queueing -------------------------------------------------------------------------------


async def test_queueing_stores_before_any_network_call(db: Database, http_server) -> None:
    conv = conversation(db, url=http_server.url)
    refund_template(db)
    queued = queue_reply(db, conv, actor="lin", templates=["refund"], fields={"topic": "refunds"})
    stored = row(db, queued.outbox_id)
    assert stored.state == "queued" and stored.body == "Hi Grace, about refunds: lin will DM you."
    assert stored.idempotency_key.startswith("inboxtui-") and stored.attempts == 0
    assert http_server.requests == []  # nothing sent yet
    with db.read() as session:
        assert session.execute(select(Template.usage_count)).scalar_one() == 1
    assert actions(db, conv)[-1] == "reply.queue"
    other = queue_reply(db, conv, actor="lin", text="and one more thing")
    assert row(db, other.outbox_id).idempotency_key != stored.idempotency_key


async def test_sent_once_sets_first_response_status_and_tags(
    db: Database, http_server, client
) -> None:
    http_server.add("/api/v1/statuses", method="POST", json=STATUS_JSON)
    conv = conversation(db, url=http_server.url)
    refund_template(db)
    queued = queue_reply(db, conv, actor="lin", templates=["refund"], fields={"topic": "x"})

    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "sent" and outcome.remote_url == STATUS_JSON["url"]
    assert await OutboxWorker(db, client=client).run_once() == []  # nothing left to send
    (request,) = http_server.requests_to("/api/v1/statuses")
    stored = row(db, queued.outbox_id)
    assert request.headers["idempotency-key"] == stored.idempotency_key
    assert request.headers["authorization"] == f"Bearer {BRAND}"
    assert b"in_reply_to_id=1001" in request.body
    assert (stored.state, stored.remote_id, stored.sent_at is not None) == ("sent", "9001", True)
    with db.read() as session:
        conversation_row = session.get(Conversation, conv)
        assert conversation_row is not None
        first = conversation_row.first_response_at
        assert first is not None and conversation_row.status == "pending"
    with db.read() as session:
        assert services.conversation_state(session, conv)["tags"] == ["refund"]
    assert actions(db, conv)[-3:] == ["reply.sent", "status", "tag"]

    queue_reply(db, conv, actor="lin", text="a second reply")
    await OutboxWorker(db, client=client).run_once()
    with db.read() as session:
        assert session.get(Conversation, conv).first_response_at == first  # the FIRST response


async def test_transient_failures_back_off_then_succeed_with_the_same_key(
    db: Database, http_server, client
) -> None:
    http_server.add("/api/v1/statuses", method="POST", status=503, headers={"Retry-After": "60"})
    http_server.add("/api/v1/statuses", method="POST", json=STATUS_JSON)
    conv = conversation(db, url=http_server.url)
    queued = queue_reply(db, conv, actor="lin", text="sorry!")

    (outcome,) = await OutboxWorker(db, client=client).run_once()
    stored = row(db, queued.outbox_id)
    assert outcome.state == "queued" and "server error 503" in (stored.last_error or "")
    assert stored.next_attempt_at is not None and stored.next_attempt_at >= later(0.9)
    assert stored.ambiguous  # a 5xx may come after the server stored the post
    assert await OutboxWorker(db, client=client).run_once() == []  # not due yet

    (outcome,) = await OutboxWorker(db, client=client, clock=lambda: later(2)).run_once()
    assert outcome.state == "sent"
    first, second = http_server.requests_to("/api/v1/statuses")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert row(db, queued.outbox_id).attempts == 2


async def test_permanent_failure_is_recorded_then_retry_and_cancel(
    db: Database, http_server, client
) -> None:
    http_server.add(
        "/api/v1/statuses", method="POST", status=422, json={"error": "Validation failed"}
    )
    conv = conversation(db, url=http_server.url)
    queued = queue_reply(db, conv, actor="lin", text="hello")
    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "failed" and "refused (422)" in (outcome.error or "")
    assert actions(db, conv)[-1] == "reply.failed"
    (listed,) = outbox.list_outbox(db, states=["failed"])
    assert listed.id == queued.outbox_id and "422" in (listed.last_error or "")
    with db.read() as session:  # the TUI and `list` find it with the filter language
        assert matching_ids(session, "is:reply-failed") == [conv]

    assert "queued again" in outbox.retry(db, queued.outbox_id, actor="lin")
    assert row(db, queued.outbox_id).state == "queued"
    with db.read() as session:
        assert matching_ids(session, "is:reply-failed") == []
    assert "cancelled" in outbox.cancel(db, queued.outbox_id, actor="lin")
    assert await OutboxWorker(db, client=client).run_once() == []
    with pytest.raises(ServiceError, match="is cancelled: only failed or queued"):
        outbox.retry(db, queued.outbox_id, actor="lin")
    with pytest.raises(NotFound):
        outbox.cancel(db, 999, actor="lin")
    assert actions(db, conv)[-2:] == ["reply.retry", "reply.cancel"]


async def test_gives_up_after_the_attempt_budget(db: Database, http_server, client) -> None:
    http_server.add("/api/v1/statuses", method="POST", status=500)
    conv = conversation(db, url=http_server.url)
    queued = queue_reply(db, conv, actor="lin", text="hello")
    outcomes = await OutboxWorker(db, client=client, max_attempts=2).run_once()
    worker = OutboxWorker(db, client=client, max_attempts=2, clock=lambda: later(100))
    outcomes += await worker.run_once()
    assert [o.state for o in outcomes] == ["queued", "failed"]
    assert "gave up after 2 attempts" in (row(db, queued.outbox_id).last_error or "")


async def test_a_missing_secret_fails_clearly(db: Database, http_server, client, monkeypatch):
    monkeypatch.delenv("INBOXTUI_SECRET_ACME_MASTO")
    conv = conversation(db, url=http_server.url)
    queue_reply(db, conv, actor="lin", text="hello")
    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "failed" and "inboxtui secret set acme-masto" in (outcome.error or "")


# -- claiming: two senders never send one reply --------------------------------------------


def test_claims_are_exclusive_and_dead_senders_leases_expire(db: Database) -> None:
    conv = conversation(db, url="http://127.0.0.1:9")
    ids = [queue_reply(db, conv, actor="lin", text=f"r{n}").outbox_id for n in range(3)]
    now = utcnow()
    first = claim(db, "a", now, limit=2)
    second = claim(db, "b", now)
    assert first == ids[:2] and second == ids[2:]
    assert claim(db, "c", now) == []
    # "a" died while sending: after its lease, "c" takes over, and knows it may be posted
    taken = claim(db, "c", now + timedelta(seconds=outbox.LEASE_SECONDS + 1))
    assert sorted(taken) == sorted(ids)
    assert all(row(db, i).ambiguous and row(db, i).attempts == 2 for i in ids)


async def test_a_sender_whose_lease_was_taken_over_records_nothing(
    db: Database, http_server, client
) -> None:
    http_server.add("/api/v1/statuses", method="POST", status=422)
    conv = conversation(db, url=http_server.url)
    outbox_id = queue_reply(db, conv, actor="lin", text="hello").outbox_id
    now = utcnow()
    assert claim(db, "slow", now) == [outbox_id]
    assert claim(db, "fast", now + timedelta(seconds=outbox.LEASE_SECONDS + 1)) == [outbox_id]
    outcome = await OutboxWorker(db, owner="slow").send(outbox_id, client)
    assert outcome.state == "taken over"
    stored = row(db, outbox_id)
    assert (stored.state, stored.lease_owner, stored.last_error) == ("sending", "fast", None)


async def test_two_workers_at_once_send_each_reply_once(db: Database, http_server) -> None:
    counter = iter(range(1000))

    def created(request) -> dict[str, Any]:
        time.sleep(0.05)
        n = next(counter)
        return {"json": {"id": str(n), "url": f"https://example.social/{n}"}}

    http_server.add("/api/v1/statuses", method="POST", handler=created)
    conv = conversation(db, url=http_server.url)
    for n in range(4):
        queue_reply(db, conv, actor="lin", text=f"reply {n}")
    clients = [make_client(timeout=httpx.Timeout(5.0)) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(OutboxWorker(db, client=c, owner=f"w{i}").run_once() for i, c in enumerate(clients))
        )
    finally:
        for c in clients:
            await c.aclose()
    sent = [o.outbox_id for outcomes in results for o in outcomes]
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 4
    assert len(http_server.requests_to("/api/v1/statuses")) == 4


# -- APIs without idempotency: look before resending -----------------------------------------


async def test_github_timeout_then_finds_our_comment_instead_of_posting_again(
    db: Database, http_server, client, impatient_client
) -> None:
    comments = "/repos/acme/app/issues/7/comments"
    http_server.add(comments, method="POST", delay=2.0, json={})  # reaches GitHub, answer lost
    http_server.add("/user", json={"login": "acme-bot"})
    conv = conversation(
        db,
        kind="github",
        source="acme-gh",
        url=http_server.url,
        external_id="555",
        options={"repos": "acme/app"},
        root="acme/app#7",
    )
    queued = queue_reply(db, conv, actor="lin", text="Fixed in 1.2, thanks!")
    (outcome,) = await OutboxWorker(db, client=impatient_client).run_once()
    assert outcome.state == "queued" and "timed out" in (outcome.error or "")
    assert row(db, queued.outbox_id).ambiguous

    ours = {
        "id": 77,
        "html_url": "https://github.com/acme/app/issues/7#issuecomment-77",
        "user": {"login": "acme-bot"},
        "body": "Fixed in 1.2, thanks!",
    }
    theirs = {**ours, "id": 78, "user": {"login": "grace"}}
    http_server.add(comments, method="GET", json=[theirs, ours])
    (outcome,) = await OutboxWorker(db, client=client, clock=lambda: later(60)).run_once()
    assert outcome.state == "sent" and outcome.found_existing
    assert row(db, queued.outbox_id).remote_id == "77"
    assert len(http_server.requests_to(comments, "POST")) == 1  # never posted twice
    (lookup,) = http_server.requests_to(comments, "GET")
    assert lookup.arg("since") is not None


async def test_github_connection_refused_is_not_ambiguous(db: Database, client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conv = conversation(
        db,
        kind="github",
        source="acme-gh",
        url=f"http://127.0.0.1:{port}",
        external_id="555",
        options={"repos": "acme/app"},
        root="acme/app#7",
    )
    queued = queue_reply(db, conv, actor="lin", text="hello")
    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "queued" and not row(db, queued.outbox_id).ambiguous


async def test_discourse_502_then_finds_our_post(db: Database, http_server, client) -> None:
    http_server.add("/posts.json", method="POST", status=502)
    conv = conversation(
        db,
        kind="discourse",
        source="acme-forum",
        url=http_server.url,
        external_id="12/3",
        options={"api_username": "acme"},
    )
    queued = queue_reply(db, conv, actor="lin", text="Try clearing the cache.")
    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "queued"
    stamp = utcnow().isoformat().replace("+00:00", "Z")
    http_server.add(
        "/t/12.json",
        json={
            "slug": "cache-woes",
            "post_stream": {
                "posts": [
                    {"username": "grace", "post_number": 3, "created_at": stamp},
                    {
                        "username": "acme",
                        "post_number": 4,
                        "reply_to_post_number": 3,
                        "created_at": stamp,
                    },
                ]
            },
        },
    )
    (outcome,) = await OutboxWorker(db, client=client, clock=lambda: later(60)).run_once()
    assert outcome.found_existing and row(db, queued.outbox_id).remote_id == "12/4"
    assert outcome.remote_url == f"{http_server.url}/t/cache-woes/12/4"
    assert len(http_server.requests_to("/posts.json", "POST")) == 1


# -- what can be queued ---------------------------------------------------------------------


def test_sources_without_a_reply_api_record_external_replies(db: Database) -> None:
    conv = conversation(db, kind="rss", source="news", external_id="entry-1")
    refund_template(db)
    with pytest.raises(ServiceError, match=r"rss \(news\) has no reply API.*--external"):
        queue_reply(db, conv, actor="lin", text="hello")
    done = queue_reply(
        db, conv, actor="lin", templates=["refund"], fields={"topic": "x"}, external=True
    )
    stored = row(db, done.outbox_id)
    assert (stored.state, stored.external, stored.remote_url) == ("sent", True, None)
    with db.read() as session:
        replied = session.get(Conversation, conv)
        assert replied.first_response_at is not None and replied.status == "pending"
    assert actions(db, conv)[-3:] == ["reply.external", "status", "tag"]
    assert outbox.list_outbox(db)[0].external


def test_internal_note_goes_to_notes_not_the_outbox(db: Database) -> None:
    conv = conversation(db)
    queued = queue_reply(db, conv, actor="lin", text="VIP customer, be nice", note=True)
    assert queued.outbox_id is None and queued.state == "note"
    with db.read() as session:
        assert session.execute(select(Note.body)).scalar_one() == "VIP customer, be nice"
        assert session.execute(select(OutboxReply)).first() is None


def test_language_variant_follows_the_mention(db: Database) -> None:
    conv = conversation(db, lang="zh-TW")
    refund_template(db)
    queued = queue_reply(db, conv, actor="lin", templates=["refund"], fields={"topic": "退款"})
    assert row(db, queued.outbox_id).body == "Grace 您好，關於退款：我們會私訊您。"


def test_refusals_queue_nothing(db: Database) -> None:
    conv = conversation(db, options={"max_characters": "60"})
    refund_template(db, roles=["support"])
    save_template(db, TemplateSpec(name="gh-only", body="hi", kinds=["github"]), actor="admin")
    with pytest.raises(ServiceError, match=r"too long for mastodon: 65/60 characters \(5 over\)"):
        queue_reply(db, conv, actor="lin", text="x" * 65)
    with pytest.raises(PermissionDenied, match="template 'refund' is for role\\(s\\) support"):
        queue_reply(db, conv, actor="lin", templates=["refund"], fields={"topic": "x"})
    with pytest.raises(ServiceError, match="'gh-only' is for github, not mastodon"):
        queue_reply(db, conv, actor="lin", templates=["gh-only"])
    with pytest.raises(MissingFields, match="needs field\\(s\\) topic"):
        queue_reply(db, conv, actor="admin", templates=["refund"])
    with pytest.raises(ServiceError, match="needs some text"):
        queue_reply(db, conv, actor="lin", text="   ")
    with pytest.raises(NotFound, match="no template 'nope'"):
        queue_reply(db, conv, actor="lin", templates=["nope"])
    with pytest.raises(services.ConflictError, match="reload"):
        queue_reply(db, conv, actor="lin", text="hi", expected_version=99)
    with db.read() as session:
        assert session.execute(select(OutboxReply)).first() is None


def test_a_long_url_counts_23_on_mastodon(db: Database) -> None:
    conv = conversation(db, options={"max_characters": "30"})
    url = "https://example.com/" + "a" * 200
    assert queue_reply(db, conv, actor="lin", text=f"see {url}").state == "queued"


# -- end to end against mastodon-mock: stop it mid-send, restart, exactly one status ------


class PersistentMock:
    """mastodon-mock on a SQLite file and a fixed port: stop and start keep its data."""

    def __init__(self, folder: Path) -> None:
        executable = Path(sys.executable).parent / "mastodon_mock"
        if not executable.exists():
            pytest.fail("mastodon-mock is not installed: pip install -e '.[test]'")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "mock.toml"
        self.config.write_text(f'[database]\npath = "{(folder / "mock.db").as_posix()}"\n')
        self.command = [
            str(executable), "serve", "--config", str(self.config), "--demo",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, "mastodon_mock exited"
            try:
                if httpx.get(f"{self.url}/api/v1/instance", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mastodon_mock did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def call(self, method: str, path: str, token: str | None = BRAND, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()


class LossyProxy:
    """A TCP proxy in front of the server; `lose_answers` forwards requests but drops the
    answers and cuts the connection: the network dying after the server acted."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lose_answers = False
        self.lost = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, answers: bool):
            try:
                while data := await src.read(65536):
                    if answers and self.lose_answers:
                        self.lost += 1
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[PersistentMock]:
    server = PersistentMock(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_mastodon_mock_stop_mid_send_restart_exactly_one_status(
    sqlite_db: Database, mock: PersistentMock, client
) -> None:
    db = sqlite_db
    proxy = LossyProxy(mock.port)
    await proxy.start()
    parent = mock.call("POST", "/api/v1/statuses", FAN, data={"status": "@ada where is my order?"})
    conv = conversation(db, url=proxy.url, external_id=parent["id"])
    refund_template(db)
    queued = queue_reply(db, conv, actor="lin", templates=["refund"], fields={"topic": "orders"})
    descendants = f"/api/v1/statuses/{parent['id']}/context"

    # mid-send the network dies: the server posts the reply, its answer never arrives
    proxy.lose_answers = True
    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "queued" and "network error" in (outcome.error or "")
    assert proxy.lost == 1 and row(db, queued.outbox_id).ambiguous
    (posted,) = mock.call("GET", descendants)["descendants"]  # it did reach the server

    proxy.lose_answers = False
    mock.stop()  # and then the server is gone altogether
    (outcome,) = await OutboxWorker(db, client=client, clock=lambda: later(5)).run_once()
    assert outcome.state == "queued" and row(db, queued.outbox_id).state == "queued"

    mock.start()  # back, with its data
    (outcome,) = await OutboxWorker(db, client=client, clock=lambda: later(60)).run_once()
    assert outcome.state == "sent", outcome.error
    await proxy.close()

    (status,) = mock.call("GET", descendants)["descendants"]  # exactly one reply
    assert status["id"] == posted["id"]
    assert status["in_reply_to_id"] == parent["id"] and status["account"]["username"] == "ada"
    assert "Hi Grace, about orders: lin will DM you." in status["content"]
    stored = row(db, queued.outbox_id)
    assert (stored.state, stored.remote_id, stored.attempts) == ("sent", status["id"], 3)
    with db.read() as session:
        assert session.get(Conversation, conv).first_response_at is not None


def test_outbox_state_values_are_the_models(db: Database) -> None:
    conv = conversation(db)
    queued = queue_reply(db, conv, actor="lin", text="x")
    with db.write() as session:
        session.execute(
            update(OutboxReply).where(OutboxReply.id == queued.outbox_id).values(state="sending")
        )
    assert outbox.list_outbox(db, states=["sending"])[0].id == queued.outbox_id


# -- approval ---------------------------------------------------------------------------------


def approval_team(db: Database) -> None:
    for role in ("pr", "support", "trainee"):
        services.create_role(db, role, actor="admin")
    with db.write() as session:
        session.execute(update(Role).where(Role.name == "trainee").values(requires_approval=True))
    services.create_agent(db, "lin", "Lin", roles=["support"], actor="admin")
    services.create_agent(db, "newbie", roles=["trainee"], actor="admin")
    services.create_agent(db, "pat", "Pat", roles=["pr"], actor="admin")


async def test_approval_holds_the_reply_until_an_approver_says_yes(
    db: Database, http_server, client
) -> None:
    http_server.add("/api/v1/statuses", method="POST", json=STATUS_JSON)
    approval_team(db)
    conv = conversation(db, url=http_server.url)
    save_template(db, TemplateSpec(name="apology", body="We are sorry, {author.name}.",
                                   requires_approval=True), actor="admin")  # fmt: skip
    queued = queue_reply(db, conv, actor="lin", templates=["apology"])
    assert queued.state == "awaiting_approval"
    assert "template 'apology' requires approval" in queued.summary
    assert row(db, queued.outbox_id).approval_reason == "template 'apology' requires approval"
    assert await OutboxWorker(db, client=client).run_once() == []  # never claimed
    assert http_server.requests == []
    with pytest.raises(ServiceError, match="only failed or queued replies can be"):
        outbox.retry(db, queued.outbox_id, actor="lin")  # no way around the approver
    with pytest.raises(PermissionDenied, match="lin cannot review replies"):
        outbox.approve(db, queued.outbox_id, actor="lin")

    assert "approved" in outbox.approve(
        db, queued.outbox_id, actor="pat", body="We are so sorry, Grace. DM us?"
    )
    (outcome,) = await OutboxWorker(db, client=client).run_once()
    assert outcome.state == "sent"
    (request,) = http_server.requests_to("/api/v1/statuses")
    assert b"We+are+so+sorry" in request.body
    replies = [a for a in actions(db, conv) if a.startswith("reply.")]
    assert replies == ["reply.submit", "reply.approve", "reply.sent"]
    with pytest.raises(ServiceError, match="is sent: only awaiting approval replies"):
        outbox.approve(db, queued.outbox_id, actor="pat")


def test_role_and_incident_rules_rejection_and_self_approval(db: Database) -> None:
    approval_team(db)
    conv = conversation(db)
    queued = queue_reply(db, conv, actor="newbie", text="lol sure")
    assert queued.state == "awaiting_approval"
    assert row(db, queued.outbox_id).approval_reason == "replies by role 'trainee' need approval"
    with pytest.raises(ServiceError, match="needs a comment"):
        outbox.reject(db, queued.outbox_id, actor="pat", comment=" ")
    assert "rejected" in outbox.reject(db, queued.outbox_id, actor="pat", comment="too flippant")
    stored = row(db, queued.outbox_id)
    assert (stored.state, stored.last_error) == ("rejected", "rejected: too flippant")
    with db.read() as session:
        note = session.execute(select(Note.body)).scalar_one()
    assert note == f"@newbie reply {queued.outbox_id} rejected by pat: too flippant"

    services.escalate(db, conv, severity=2, reason="viral", actor="pat")
    assert queue_reply(db, conv, actor="lin", text="ok").state == "queued"  # no incident yet
    with db.write() as session:
        session.add(Incident(title="outage", status="open", opened_at=utcnow()))
    held = queue_reply(db, conv, actor="lin", text="we are looking")
    assert held.state == "awaiting_approval"
    assert row(db, held.outbox_id).approval_reason.startswith("escalated while incident #")
    other = conversation(db, external_id="2002")
    with db.read() as session:
        assert matching_ids(session, "is:awaiting-approval") == [conv]
        assert matching_ids(session, "-is:awaiting-approval") == [other]
    with pytest.raises(PermissionDenied, match="needs approval"):
        queue_reply(db, conv, actor="lin", text="replied by hand", external=True)
    mine = queue_reply(db, conv, actor="pat", text="official statement")
    assert mine.state == "queued" and row(db, mine.outbox_id).reviewer_id is not None
    assert "cancelled" in outbox.cancel(db, held.outbox_id, actor="lin")


# -- platform limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("e\u0301", 1),  # e + combining acute
        ("👨\u200d👩\u200d👧\u200d👦", 1),  # a ZWJ family
        ("🇹🇼🇯🇵", 2),  # two flags
        ("👍🏽", 1),  # a skin tone
        ("❤\ufe0f", 1),  # a variation selector
        ("你好", 2),
        ("a\r\nb", 3),
    ],
)
def test_bluesky_counts_graphemes(text: str, count: int) -> None:
    assert measure("bluesky", text).used == count


def test_platform_limits() -> None:
    text = "hi @grace@example.social see https://example.com/" + "x" * 100
    assert measure("mastodon", text).used == len("hi @grace see ") + 23
    assert measure("mastodon", "x", {"max_characters": "5000"}).limit == 5000
    assert (measure("reddit", "x" * 10_001).over, measure("github", "x").limit) == (True, 65_536)
    assert measure("discourse", "x").limit == 32_000 and measure("rss", "x").limit is None
    assert measure("bluesky", "x" * 301).describe() == "301/300 graphemes"


async def test_a_running_poller_sends_the_due_replies(db: Database, http_server) -> None:
    """Nobody runs `outbox send`: the poller (daemon or TUI) retries and sends by itself."""
    from inboxtui.polling import Poller

    http_server.add("/api/v1/statuses", method="POST", json=STATUS_JSON)
    conv = conversation(db, url=http_server.url)
    queued = queue_reply(db, conv, actor="lin", text="On it, DM us your order number.")
    poller = Poller(db)
    try:
        poller.start()
        assert poller.scheduler.get_job("inboxtui-outbox") is not None
        for _ in range(400):  # bounded: the first round runs as the poller starts
            if row(db, queued.outbox_id).state == "sent":
                break
            await asyncio.sleep(0.025)
    finally:
        await poller.aclose()
    assert row(db, queued.outbox_id).state == "sent"
    assert len(http_server.requests_to("/api/v1/statuses")) == 1
