"""Bluesky adapter against a stateful fake PDS/AppView on 127.0.0.1 (lexicon-shaped payloads)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inboxtui.sources.base import ConfigError, ReplyRequest, SourceError
from inboxtui.sources.bluesky import BlueskyAdapter, jwt_expiry, make_tid, reply_rkey
from inboxtui.sources.registry import adapter_class

from ._servers_social import API_FIXTURES, TID, FakeBluesky

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ALICE = "did:plc:alice"
SEARCH = "app.bsky.feed.searchPosts"


@pytest.fixture
def fake(http_server) -> FakeBluesky:
    fake = FakeBluesky()
    fake.actor(ALICE, "alice.bsky.social", "Alice", 1200)
    fake.mount(http_server)
    return fake


def adapter(server, client, fake: FakeBluesky | None = None, **options: str) -> BlueskyAdapter:
    opts = {"url": server.url, **options}
    secret = None
    if fake is not None:
        opts.setdefault("handle", fake.handle)
        secret = fake.password
    return BlueskyAdapter("acme-bsky", opts, client, secret)


def uris(result) -> list[str]:
    return [m["external_id"] for m in result.mentions]


def texts(result) -> list[str]:
    return [m["text"] for m in result.mentions]


def test_registry_and_option_errors(source_client) -> None:
    assert adapter_class("bluesky") is BlueskyAdapter
    with pytest.raises(ConfigError, match="handle="):
        BlueskyAdapter("b", {}, source_client)  # notifications by default: needs a login
    with pytest.raises(ConfigError, match="listen="):
        BlueskyAdapter("b", {"listen": "firehose"}, source_client)
    with pytest.raises(ConfigError, match="overlap"):
        BlueskyAdapter("b", {"listen": "search:x", "overlap": "soon"}, source_client)
    public = BlueskyAdapter("b", {"listen": "search:acme"}, source_client)
    assert public.read_url == "https://public.api.bsky.app"
    assert BlueskyAdapter.default_url == "https://bsky.social"


def test_tid_encoding_matches_the_spec() -> None:
    assert make_tid(0, 0) == "2222222222222"
    # the worked example of @atcute/tid: TID.create(1724171495793000, 512)
    assert make_tid(1724171495793000, 512) == "3l25zusnsfck2"
    key = reply_rkey("outbox-7", T0)
    assert TID.match(key) and key == reply_rkey("outbox-7", T0)
    assert key != reply_rkey("outbox-8", T0)


def test_lexicon_fixtures_are_what_the_fake_follows() -> None:
    lexicons = API_FIXTURES / "bluesky/lexicons"
    search = json.loads((lexicons / "app/bsky/feed/searchPosts.json").read_text())
    params = search["defs"]["main"]["parameters"]["properties"]
    assert {"q", "sort", "since", "until", "limit", "cursor"} <= set(params)
    profiles = json.loads((lexicons / "app/bsky/actor/getProfiles.json").read_text())
    assert profiles["defs"]["main"]["parameters"]["properties"]["actors"]["maxLength"] == 25


async def test_search_first_poll_then_only_new_posts(http_server, source_client, fake) -> None:
    for n in range(3):
        fake.add_post(f"acme post {n}", by=ALICE, created=T0 + timedelta(minutes=n))
    fake.add_post("unrelated", by=ALICE, created=T0)
    source = adapter(http_server, source_client, listen="search:acme")

    first = await source.fetch(None)
    assert texts(first) == ["acme post 0", "acme post 1", "acme post 2"]  # oldest first
    mention = first.mentions[0]
    assert mention["kind"] == "bluesky" and mention["source"] == "acme-bsky"
    assert mention["external_id"].startswith("at://did:plc:alice/app.bsky.feed.post/")
    assert mention["created_at"] == "2026-11-20T10:00:00Z"
    assert mention["url"].startswith("https://bsky.app/profile/did:plc:alice/post/")
    assert mention["author"] == {"handle": "@alice.bsky.social", "name": "Alice", "followers": 1200}
    assert mention["lang"] == "en" and mention["in_reply_to"] is None
    assert mention["engagement"]["likes"] == 2 and mention["engagement"]["boosts"] == 1
    assert mention["raw"]["cid"] and mention["raw"]["record"]["text"] == "acme post 0"
    assert first.rate_remaining is not None and 0 < first.rate_reset_after <= 300
    # unauthenticated: no session, no Authorization header, sort=latest
    assert fake.calls["com.atproto.server.createSession"] == 0
    request = http_server.requests_to(f"/xrpc/{SEARCH}")[0]
    assert "authorization" not in request.headers and request.arg("sort") == "latest"

    fake.add_post("acme post 3", by=ALICE, created=T0 + timedelta(minutes=5))
    fake.add_post("acme post 4", by=ALICE, created=T0 + timedelta(minutes=6))
    second = await source.fetch(first.cursor)
    assert texts(second) == ["acme post 3", "acme post 4"]
    assert http_server.requests_to(f"/xrpc/{SEARCH}")[-1].arg("since") == "2026-11-20T09:52:00Z"
    assert (await source.fetch(second.cursor)).mentions == []
    json.dumps(second.cursor)  # cursors are stored as JSON


async def test_first_poll_finding_nothing_still_pages_later(
    http_server, source_client, fake
) -> None:
    source = adapter(http_server, source_client, listen="search:acme", max_pages="5")
    empty = await source.fetch(None)
    assert empty.mentions == [] and empty.cursor["streams"]["search:acme"]["since"]
    now = datetime.now(UTC)
    for n in range(150):
        fake.add_post(f"acme burst {n}", by=ALICE, created=now + timedelta(seconds=n))
    assert len((await source.fetch(empty.cursor)).mentions) == 150


async def test_late_indexed_post_is_caught_by_the_overlap(http_server, source_client, fake):
    fake.add_post("acme early", by=ALICE, created=T0)
    source = adapter(http_server, source_client, listen="search:acme")
    first = await source.fetch(None)
    # indexed only now, but claims a creation time 3 minutes before the watermark
    fake.add_post("acme late", by=ALICE, created=T0 - timedelta(minutes=3))
    second = await source.fetch(first.cursor)
    assert texts(second) == ["acme late"]  # the early post is not returned twice


async def test_burst_longer_than_the_page_budget_leaves_no_gap(
    http_server, source_client, fake
) -> None:
    fake.add_post("acme start", by=ALICE, created=T0)
    source = adapter(http_server, source_client, listen="search:acme", max_pages="1")
    cursor = (await source.fetch(None)).cursor
    burst = {
        fake.add_post(f"acme {n}", by=ALICE, created=T0 + timedelta(seconds=n + 1))["uri"]
        for n in range(250)
    }
    got: list[str] = []
    for _ in range(6):
        result = await source.fetch(cursor)
        times = [m["created_at"] for m in result.mentions]
        assert times == sorted(times)
        got.extend(uris(result))
        cursor = result.cursor
    assert len(got) == len(set(got)) == 250 and set(got) == burst
    assert cursor["streams"]["search:acme"]["gaps"] == []


async def test_notifications_mentions_replies_quotes_only(http_server, source_client, fake) -> None:
    root = fake.add_post("brand announcement", by=fake.did, created=T0)
    fake.notify("mention", fake.add_post("hey @brand", by=ALICE, created=T0 + timedelta(1)))
    reply = fake.add_post("a reply", by=ALICE, created=T0 + timedelta(2), reply_to=root)
    fake.notify("reply", reply)
    fake.notify("quote", fake.add_post("quoting you", by=ALICE, created=T0 + timedelta(3)))
    fake.notify("like", root)
    source = adapter(http_server, source_client, fake)

    first = await source.fetch(None)
    assert texts(first) == ["hey @brand", "a reply", "quoting you"]
    assert first.mentions[1]["in_reply_to"] == root["uri"]
    assert first.mentions[0]["author"]["followers"] == 1200
    request = http_server.requests_to("/xrpc/app.bsky.notification.listNotifications")[0]
    assert sorted(request.query["reasons"]) == ["mention", "quote", "reply"]
    assert request.headers["authorization"].startswith("Bearer ")

    fake.notify("mention", fake.add_post("again @brand", by=ALICE, created=T0 + timedelta(4)))
    second = await source.fetch(first.cursor)
    assert texts(second) == ["again @brand"]
    assert fake.calls["com.atproto.server.createSession"] == 1  # one login for both polls


async def test_expired_access_token_is_refreshed_not_recreated(
    http_server, source_client, fake
) -> None:
    source = adapter(http_server, source_client, fake)
    cursor = (await source.fetch(None)).cursor
    fake.expire_access_tokens()
    later = datetime.now(UTC)
    fake.notify("mention", fake.add_post("after expiry", by=ALICE, created=later))
    result = await source.fetch(cursor)
    assert texts(result) == ["after expiry"]
    assert fake.calls["com.atproto.server.refreshSession"] == 1
    assert fake.calls["com.atproto.server.createSession"] == 1


async def test_concurrent_calls_share_one_login_and_one_refresh(
    http_server, source_client, fake
) -> None:
    source = adapter(http_server, source_client, fake)
    first, _ = await asyncio.gather(source.fetch(None), source.fetch(None))
    assert fake.calls["com.atproto.server.createSession"] == 1
    fake.expire_access_tokens()
    await asyncio.gather(source.fetch(first.cursor), source.fetch(first.cursor))
    assert fake.calls["com.atproto.server.refreshSession"] == 1
    assert fake.calls["com.atproto.server.createSession"] == 1


async def test_token_near_its_exp_is_refreshed_before_use(http_server, source_client, fake) -> None:
    fake.token_ttl = 30  # inside the adapter's refresh margin
    source = adapter(http_server, source_client, fake)
    cursor = (await source.fetch(None)).cursor
    await source.fetch(cursor)
    assert fake.calls["com.atproto.server.refreshSession"] >= 1
    assert fake.calls["com.atproto.server.createSession"] == 1
    # no call was refused first: every listNotifications was answered with data
    statuses = [r for r in http_server.requests if r.path.endswith("listNotifications")]
    assert len(statuses) == 2


async def test_dead_refresh_token_logs_in_again(http_server, source_client, fake) -> None:
    source = adapter(http_server, source_client, fake)
    cursor = (await source.fetch(None)).cursor
    fake.expire_all_tokens()
    await source.fetch(cursor)
    assert fake.calls["com.atproto.server.createSession"] == 2


async def test_wrong_app_password_is_a_config_error(http_server, source_client, fake) -> None:
    source = BlueskyAdapter(
        "acme-bsky", {"url": http_server.url, "handle": fake.handle}, source_client, "wrong-pw"
    )
    with pytest.raises(ConfigError) as info:
        await source.fetch(None)
    assert info.value.transient is False
    assert "wrong-pw" not in str(info.value) and "AuthenticationRequired" in str(info.value)


def test_jwt_expiry_reads_exp_and_ignores_junk() -> None:
    fake = FakeBluesky()
    session = fake._new_session()
    assert jwt_expiry(session["accessJwt"]) is not None
    assert jwt_expiry("opaque-token") is None and jwt_expiry("a.!!!.c") is None


async def test_followers_fetched_in_batches_of_25_and_cached(
    http_server, source_client, fake
) -> None:
    for n in range(30):
        did = f"did:plc:user{n:02d}"
        fake.actor(did, f"user{n}.test", f"User {n}", n * 10)
        fake.add_post(f"acme from {n}", by=did, created=T0 + timedelta(seconds=n))
    source = adapter(http_server, source_client, listen="search:acme")
    first = await source.fetch(None)
    assert sorted(len(batch) for batch in fake.profile_batches) == [5, 25]
    assert {m["author"]["followers"] for m in first.mentions} == {n * 10 for n in range(30)}

    fake.add_post("acme again", by="did:plc:user03", created=T0 + timedelta(minutes=5))
    second = await source.fetch(first.cursor)
    assert second.mentions[0]["author"]["followers"] == 30
    assert len(fake.profile_batches) == 2  # served from the cache


async def test_profile_failure_keeps_the_mentions(http_server, source_client, fake) -> None:
    fake.add_post("acme", by=ALICE, created=T0)
    fake.fail("app.bsky.actor.getProfiles", status=503, body="busy")
    result = await adapter(http_server, source_client, listen="search:acme").fetch(None)
    assert texts(result) == ["acme"] and result.mentions[0]["author"]["followers"] is None
    assert any("follower counts unavailable" in note for note in result.notes)


async def test_malformed_items_are_skipped_not_fatal(http_server, source_client, fake) -> None:
    good = fake.add_post("acme good", by=ALICE, created=T0)
    hostile = fake.add_post("acme \x1b[31m[bold]x[/] <b>y</b>", by=ALICE, created=T0)
    hostile["author"]["handle"] = "handle.invalid"
    bad_dates = {**good, "uri": good["uri"] + "x", "indexedAt": "soon"}
    bad_dates["record"] = {**good["record"], "createdAt": "yesterday"}
    junk = [5, {"uri": 5}, {"uri": "at://x", "record": "text"}, bad_dates, {}]
    fake.fail(SEARCH, json={"posts": [good, *junk, hostile], "cursor": "9"})
    result = await adapter(http_server, source_client, listen="search:acme").fetch(None)
    assert sorted(texts(result)) == ["acme \x1b[31m[bold]x[/] <b>y</b>", "acme good"]
    handles = {m["author"]["handle"] for m in result.mentions}
    assert handles == {"@alice.bsky.social", "@did:plc:alice"}


async def test_transport_faults_then_recovery(
    http_server, source_client, impatient_client, fake, transport_fault
) -> None:
    client = impatient_client if transport_fault.name == "timeout" else source_client
    fake.add_post("acme one", by=ALICE, created=T0)
    source = adapter(http_server, client, listen="search:acme")
    fake.fail(SEARCH, **transport_fault.reply)
    with pytest.raises(SourceError) as info:
        await source.fetch(None)
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "acme-bsky" in str(error) and "Traceback" not in str(error)
    assert texts(await source.fetch(None)) == ["acme one"]


async def test_body_faults(http_server, source_client, fake, body_fault) -> None:
    fake.fail(SEARCH, **body_fault.reply)
    with pytest.raises(SourceError):
        await adapter(http_server, source_client, listen="search:acme").fetch(None)


async def test_xrpc_error_name_is_in_the_message(http_server, source_client, fake) -> None:
    fake.fail(SEARCH, status=400, json={"error": "BadQueryString", "message": "<b>no</b>"})
    with pytest.raises(SourceError) as info:
        await adapter(http_server, source_client, listen="search:acme").fetch(None)
    assert info.value.transient is False and "[BadQueryString]" in str(info.value)
    assert "<b>" not in str(info.value)


def reply_request(parent: dict[str, Any], key: str = "outbox-1", **context: Any) -> ReplyRequest:
    return ReplyRequest(
        in_reply_to_external_id=parent["uri"],
        in_reply_to_url=None,
        body="Thanks, we are on it!",
        idempotency_key=key,
        context={"created_at": "2026-11-20T10:05:00Z", **context},
    )


async def test_reply_has_root_and_parent_strong_refs(http_server, source_client, fake) -> None:
    root = fake.add_post("original", by=ALICE, created=T0)
    parent = fake.add_post("follow-up", by=ALICE, created=T0, reply_to=root)
    source = adapter(http_server, source_client, fake)
    assert source.can_reply

    result = await source.send_reply(reply_request(parent, lang="en"))
    ((rkey, stored),) = fake.records.items()
    assert TID.match(rkey) and result.remote_id == f"at://{fake.did}/app.bsky.feed.post/{rkey}"
    assert result.remote_url == f"https://bsky.app/profile/{fake.handle}/post/{rkey}"
    reply = stored["value"]["reply"]
    assert reply["parent"] == {"uri": parent["uri"], "cid": parent["cid"]}
    assert reply["root"] == {"uri": root["uri"], "cid": root["cid"]}
    assert stored["value"]["text"] == "Thanks, we are on it!"
    assert stored["value"]["langs"] == ["en"]


async def test_reply_retried_after_a_lost_answer_posts_once(
    http_server, source_client, fake
) -> None:
    parent = fake.add_post("help!", by=ALICE, created=T0)
    source = adapter(http_server, source_client, fake)
    fake.lose_create_response = True  # committed, then the gateway answers 502
    first = await source.send_reply(reply_request(parent))
    # the outbox retries (say after a crash): a new adapter, the same key and queue time
    again = await adapter(http_server, source_client, fake).send_reply(reply_request(parent))
    assert first == again and len(fake.records) == 1
    assert fake.calls["com.atproto.repo.createRecord"] == 2
    assert fake.calls["com.atproto.repo.getRecord"] == 2

    other = await source.send_reply(reply_request(parent, key="outbox-2"))
    assert other.remote_id != first.remote_id and len(fake.records) == 2


async def test_reply_to_a_deleted_post_fails_permanently(http_server, source_client, fake) -> None:
    gone = {"uri": "at://did:plc:alice/app.bsky.feed.post/3kgone0000000"}
    with pytest.raises(SourceError, match="gone") as info:
        await adapter(http_server, source_client, fake).send_reply(reply_request(gone))
    assert info.value.transient is False and fake.records == {}


async def test_reply_failure_that_did_not_land_is_reported(
    http_server, source_client, fake
) -> None:
    parent = fake.add_post("help!", by=ALICE, created=T0)
    fake.fail("com.atproto.repo.createRecord", status=503, headers={"Retry-After": "12"})
    with pytest.raises(SourceError) as info:
        await adapter(http_server, source_client, fake).send_reply(reply_request(parent))
    assert info.value.transient and info.value.retry_after == 12.0
    assert fake.records == {}


async def test_reply_needs_a_login(http_server, source_client, fake) -> None:
    parent = fake.add_post("x", by=ALICE, created=T0)
    source = adapter(http_server, source_client, listen="search:acme")
    with pytest.raises(ConfigError, match="app password"):
        await source.send_reply(reply_request(parent))


def test_rkey_without_a_queue_time_is_stable_per_adapter(source_client) -> None:
    source = BlueskyAdapter("b", {"listen": "search:x"}, source_client)
    request = ReplyRequest("at://x/app.bsky.feed.post/1", None, "hi", "key-1")
    first = source._rkey_for(request)
    assert re.fullmatch(TID.pattern, first) and source._rkey_for(request) == first
