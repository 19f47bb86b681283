"""Reddit adapter against a stateful fake of reddit.com on 127.0.0.1 (PRAW-recorded shapes)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest

from inboxtui.sources.base import ConfigError, ReplyRequest, SourceError
from inboxtui.sources.reddit import RedditAdapter
from inboxtui.sources.registry import adapter_class

from ._servers_social import FakeReddit, reddit_listing_children

NEW = "/r/acme/new"
TOKEN = "/api/v1/access_token"


@pytest.fixture
def fake(http_server) -> FakeReddit:
    fake = FakeReddit()
    fake.mount(http_server)
    return fake


def adapter(server, client, fake: FakeReddit, secret: str | None = None, **options: str):
    opts = {
        "url": server.url,
        "auth_url": server.url + TOKEN,
        "subreddit": fake.subreddit,
        "client_id": fake.client_id,
        **options,
    }
    return RedditAdapter("acme-reddit", opts, client, secret or fake.client_secret)


def user_secret(fake: FakeReddit) -> str:
    return json.dumps({"client_secret": fake.client_secret, "password": fake.password})


def names(result) -> list[str]:
    return [m["external_id"] for m in result.mentions]


def test_registry_and_option_errors(source_client) -> None:
    assert adapter_class("reddit") is RedditAdapter
    with pytest.raises(ConfigError, match="subreddit="):
        RedditAdapter("r", {}, source_client, "s")
    with pytest.raises(ConfigError, match="listen="):
        RedditAdapter("r", {"subreddit": "acme", "listen": "hot"}, source_client, "s")
    with pytest.raises(ConfigError, match="max_pages"):
        RedditAdapter("r", {"subreddit": "acme", "max_pages": "0"}, source_client, "s")
    assert RedditAdapter.default_url == "https://oauth.reddit.com"


def test_recorded_listing_is_what_the_fake_serves() -> None:
    children = reddit_listing_children()
    assert len(children) == 100 and all(c["name"].startswith("t3_") for c in children)
    assert {"created_utc", "permalink", "selftext", "title", "num_comments"} <= set(children[0])


async def test_first_poll_then_new_posts_with_before(http_server, source_client, fake) -> None:
    for n in range(3):
        fake.post(f"Acme question {n}", f"body {n}")
    source = adapter(http_server, source_client, fake)

    first = await source.fetch(None)
    assert [m["title"] for m in first.mentions] == [f"Acme question {n}" for n in range(3)]
    mention = first.mentions[0]
    assert mention["kind"] == "reddit" and mention["source"] == "acme-reddit"
    assert (
        mention["external_id"].startswith("t3_") and mention["text"] == "Acme question 0\n\nbody 0"
    )
    assert mention["url"].startswith("https://www.reddit.com/r/acme/comments/")
    assert mention["author"]["handle"].startswith("u/") and mention["author"]["followers"] is None
    assert mention["created_at"].endswith("Z") and mention["in_reply_to"] is None
    assert mention["raw"]["subreddit_id"] == "t5_2qh1i"  # the recorded object, kept whole
    assert first.rate_remaining == 599 and first.rate_reset_after == 369.0
    request = http_server.requests_to(NEW)[0]
    assert request.arg("raw_json") == "1" and request.arg("limit") == "100"
    assert request.headers["authorization"].startswith("bearer app-token-")

    newer = [fake.post(f"Later {n}")["name"] for n in range(2)]
    second = await source.fetch(first.cursor)
    assert names(second) == newer
    assert http_server.requests_to(NEW)[-2].arg("before") == first.mentions[-1]["external_id"]
    assert (await source.fetch(second.cursor)).mentions == []
    json.dumps(second.cursor)


async def test_token_fetched_once_and_reused(http_server, source_client, fake) -> None:
    source = adapter(http_server, source_client, fake)
    cursor = (await source.fetch(None)).cursor
    await source.fetch(cursor)
    (token_request,) = http_server.requests_to(TOKEN)
    expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert parse_qs(token_request.body.decode()) == {"grant_type": ["client_credentials"]}
    assert "authorization" not in {k for k in http_server.requests_to(NEW)[0].query}


async def test_revoked_token_is_replaced_once(http_server, source_client, fake) -> None:
    source = adapter(http_server, source_client, fake)
    cursor = (await source.fetch(None)).cursor
    fake.expire_tokens()
    fake.post("after revocation")
    result = await source.fetch(cursor)
    assert [m["title"] for m in result.mentions] == ["after revocation"]
    assert len(http_server.requests_to(TOKEN)) == 2


async def test_wrong_client_secret_is_a_config_error(http_server, source_client, fake) -> None:
    source = adapter(http_server, source_client, fake, secret="not-the-secret")
    with pytest.raises(ConfigError) as info:
        await source.fetch(None)
    assert info.value.transient is False and "not-the-secret" not in str(info.value)


async def test_burst_pages_forward_without_gaps(http_server, source_client, fake) -> None:
    fake.post("anchor")
    source = adapter(http_server, source_client, fake, max_pages="2")
    cursor = (await source.fetch(None)).cursor
    burst = [fake.post(f"burst {n}")["name"] for n in range(250)]
    got: list[str] = []
    for _ in range(3):
        result = await source.fetch(cursor)
        got.extend(names(result))
        cursor = result.cursor
    assert got == burst  # oldest first, each exactly once, across polls


async def test_first_poll_on_an_empty_subreddit_then_a_burst(
    http_server, source_client, fake
) -> None:
    source = adapter(http_server, source_client, fake)
    empty = await source.fetch(None)
    assert empty.mentions == []
    burst = [fake.post(f"new {n}")["name"] for n in range(150)]
    assert names(await source.fetch(empty.cursor)) == burst


async def test_deleted_anchor_is_detected_and_skipped(http_server, source_client, fake) -> None:
    fake.post("one")
    anchor = fake.post("two")["name"]
    source = adapter(http_server, source_client, fake, recheck="0")
    cursor = (await source.fetch(None)).cursor
    fake.deleted.add(anchor)  # removed by a moderator: before=<anchor> now answers nothing
    fresh = [fake.post(f"after {n}")["name"] for n in range(2)]
    result = await source.fetch(cursor)
    assert names(result) == fresh
    assert result.cursor["streams"]["new"]["before"] == fresh[-1]
    fake.post("three")
    assert [m["title"] for m in (await source.fetch(result.cursor)).mentions] == ["three"]


async def test_search_and_comments_streams(http_server, source_client, fake) -> None:
    post = fake.post("Acme refund please", "my order")
    fake.post("something else")
    source = adapter(http_server, source_client, fake, listen="search:refund,comments")
    cursor = (await source.fetch(None)).cursor
    comment = fake.comment(post["name"], "same problem with my refund")
    later = fake.post("Another refund story")
    result = await source.fetch(cursor)
    assert names(result) == [comment["name"], later["name"]]
    reply = result.mentions[0]
    assert reply["in_reply_to"] == post["name"] and reply["title"] == "A thread"
    assert reply["text"] == "same problem with my refund"
    search = http_server.requests_to("/r/acme/search")[-1]
    assert search.arg("sort") == "new" and search.arg("restrict_sr") == "1"
    assert search.arg("q") == "refund"


async def test_transport_faults_then_recovery(
    http_server, source_client, impatient_client, fake, transport_fault
) -> None:
    client = impatient_client if transport_fault.name == "timeout" else source_client
    fake.post("survivor")
    source = adapter(http_server, client, fake)
    fake.fail(NEW, **transport_fault.reply)
    with pytest.raises(SourceError) as info:
        await source.fetch(None)
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "acme-reddit" in str(error) and "Traceback" not in str(error)
    assert [m["title"] for m in (await source.fetch(None)).mentions] == ["survivor"]


async def test_token_endpoint_faults(http_server, source_client, fake) -> None:
    fake.fail(TOKEN, status=503, headers={"Retry-After": "4"})
    with pytest.raises(SourceError) as info:
        await adapter(http_server, source_client, fake).fetch(None)
    assert info.value.transient and info.value.retry_after == 4.0


async def test_body_faults(http_server, source_client, fake, body_fault) -> None:
    fake.fail(NEW, **body_fault.reply)
    with pytest.raises(SourceError):
        await adapter(http_server, source_client, fake).fetch(None)


async def test_unknown_shapes_are_refused_or_skipped(http_server, source_client, fake) -> None:
    fake.fail(NEW, json=["not", "a", "listing"])
    source = adapter(http_server, source_client, fake)
    with pytest.raises(SourceError, match="listing"):
        await source.fetch(None)
    good = fake.post("fine")
    junk = [{"kind": "t3", "data": {"name": "t3_x"}}, {"kind": "t3", "data": {"name": "bad"}}, 7]
    fake.fail(NEW, json={"kind": "Listing", "data": {"children": [*junk, {"data": good}]}})
    assert [m["title"] for m in (await source.fetch(None)).mentions] == ["fine"]


def reply_request(parent: str, key: str = "outbox-1") -> ReplyRequest:
    return ReplyRequest(parent, None, "Sorry about that, DM us your order number.", key)


async def test_reply_posts_a_comment_as_the_user(http_server, source_client, fake) -> None:
    post = fake.post("Acme broke my thing")
    source = adapter(http_server, source_client, fake, user_secret(fake), username="brandbot")
    result = await source.send_reply(reply_request(post["name"]))
    assert result.remote_id.startswith("t1_")
    assert result.remote_url.startswith("https://www.reddit.com/r/acme/comments/")
    (comment,) = [t for t in fake.things if t["name"] == result.remote_id]
    assert comment["parent_id"] == post["name"] and comment["author"] == "brandbot"
    (grant,) = http_server.requests_to(TOKEN)
    assert parse_qs(grant.body.decode())["grant_type"] == ["password"]
    form = parse_qs(http_server.requests_to("/api/comment")[0].body.decode())
    assert form == {
        "api_type": ["json"],
        "thing_id": [post["name"]],
        "text": ["Sorry about that, DM us your order number."],
    }


async def test_reply_retried_after_a_lost_answer_posts_once(
    http_server, source_client, fake
) -> None:
    post = fake.post("Acme broke my thing")
    source = adapter(http_server, source_client, fake, user_secret(fake), username="brandbot")
    fake.lose_comment_response = True  # saved, then the gateway times out
    with pytest.raises(SourceError) as info:
        await source.send_reply(reply_request(post["name"]))
    assert info.value.transient
    again = await source.send_reply(reply_request(post["name"]))
    mine = [t for t in fake.things if t["name"].startswith("t1_")]
    assert [t["name"] for t in mine] == [again.remote_id]
    assert len(http_server.requests_to("/api/comment")) == 1


async def test_reply_errors(http_server, source_client, fake) -> None:
    post = fake.post("x")
    reader = adapter(http_server, source_client, fake)
    with pytest.raises(ConfigError, match="username="):
        await reader.send_reply(reply_request(post["name"]))
    writer = adapter(http_server, source_client, fake, user_secret(fake), username="brandbot")
    with pytest.raises(SourceError, match="fullname"):
        await writer.send_reply(reply_request("https://reddit.com/x"))
    with pytest.raises(SourceError, match="DELETED_COMMENT") as info:
        await writer.send_reply(reply_request("t1_gone"))
    assert info.value.transient is False
    fake.fail(
        "/api/comment",
        json={"json": {"errors": [["RATELIMIT", "try again in 5 minutes.", "ratelimit"]]}},
    )
    with pytest.raises(SourceError) as info:
        await writer.send_reply(reply_request(post["name"]))
    assert info.value.transient and info.value.retry_after == 300.0
    wrong = json.dumps({"client_secret": fake.client_secret, "password": "nope"})
    stranger = adapter(http_server, source_client, fake, wrong, username="brandbot")
    with pytest.raises(ConfigError, match="invalid_grant") as info:
        await stranger.send_reply(reply_request(post["name"]))
    assert "nope" not in str(info.value)
